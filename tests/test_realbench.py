"Loaders and official scoring on records in each real benchmark's format (hand-written fixtures)."

import json
import pandas as pd
import pytest
from pathlib import Path
from mmsearch.realbench import load_real, detect_format, score_real, FORMATS, BenchJudge
from mmsearch.client import fake_openai_app
from mmsearch.search import serve_app

BCVL = Path(__file__).parent / 'fixtures' / 'bcvl' / 'browsecomp-vl'


def write(tmp_path, name, rows):
    p = tmp_path / name
    if name.endswith('.parquet'):
        pd.DataFrame(rows).to_parquet(p)
    elif name.endswith('.jsonl'):
        p.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    else:
        p.write_text(json.dumps(rows))
    return p


FVQA = dict(
    data_id='fvqa_test_0',
    prompt=[dict(role='user', content='Who designed it?')],
    images=[dict(bytes=b'\x89PNG')],
    reward_model=dict(ground_truth='Gustave Eiffel', candidate_answers=json.dumps(['Eiffel', 3, None]), style='rule'),
    data_source='mmsearch_r1/fvqa_test',
    image_urls=None,
    category='search_required',
)
MMS = [
    dict(
        sample_id='1',
        query='When did it open?',
        query_image=None,
        area='news',
        subfield='x',
        timestamp='2024',
        gt_requery='q',
        gt_answer='2024-09-29',
        alternative_gt_answers=['September 29, 2024'],
    )
]
SVQA = dict(
    data_id=1012,
    image='imgs/1.jpg',
    image_description='',
    language='EN',
    question='What bird?',
    answer='Kestrel',
    original_category='',
    source='',
    atomic_question='',
    atomic_fact='',
    vqa_category='animal',
)


def test_formats_are_detected():
    assert detect_format(FVQA) == 'fvqa' and detect_format(MMS[0]) == 'mmsearch' and detect_format(SVQA) == 'simplevqa'
    assert detect_format(dict(question='q', answer='a', images=['x.png'])) == 'vdr'
    with pytest.raises(ValueError, match='cannot tell'):
        detect_format(dict(q=1))


def test_fvqa_drops_non_string_candidates_and_keeps_image_bytes(tmp_path):
    it = load_real(write(tmp_path, 'fvqa_test.parquet', [FVQA]))[0]
    assert (
        it['answers'] == ['Gustave Eiffel', 'Eiffel']
        and it['image'] == b'\x89PNG'
        and it['meta']['category'] == 'search_required'
    )
    assert score_real({'fvqa_test_0': '<answer>eiffel</answer>'}, [it], 'fvqa')['accuracy'] == 1.0
    assert score_real({}, [it], 'fvqa')['accuracy'] == 0.0  # a missing prediction is wrong


def test_mmsearch_f1_on_hyphenated_dates(tmp_path):
    items = load_real(write(tmp_path, 'end2end.parquet', MMS))
    assert items[0]['image'] is None
    assert score_real({'1': '2024-09-29'}, items, 'mmsearch')['end2end_f1'] == 1.0
    assert score_real({'1': '29 Sept 2024'}, items, 'mmsearch')['end2end_f1'] == pytest.approx(
        2 / 3
    )  # only the alternative overlaps
    only_gold = [dict(items[0], meta=dict(items[0]['meta'], alternative_gt_answers=[]))]
    assert (
        score_real({'1': '29 Sept 2024'}, only_gold, 'mmsearch')['end2end_f1'] == 0.0
    )  # the hyphenated gold is one token
    assert score_real({}, items, 'mmsearch')['end2end_f1'] == 0.0


def test_simplevqa_needs_a_judge_and_resolves_images(tmp_path):
    items = load_real(write(tmp_path, 'simplevqa.jsonl', [SVQA]))
    assert items[0]['image'] == str(tmp_path / 'imgs' / '1.jpg') and items[0]['answers'] == ['Kestrel']
    with pytest.raises(ValueError, match='judged by an LLM'):
        score_real({}, items, 'simplevqa')


def test_vdr_without_judge_falls_back_to_em(tmp_path):
    items = load_real(
        write(tmp_path, 'vdr.parquet', [dict(id='a', question='q', answer='Blue Gate', images=['s.png'])])
    )
    r = score_real({'a': '<think>x</think><answer>blue gate.</answer>'}, items, 'vdr')
    assert r['accuracy'] == 1.0 and r['scorer'] == 'vdr_em_fallback'


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_real(tmp_path / 'none.jsonl')
    with pytest.raises(ValueError, match='unknown format'):
        load_real(write(tmp_path, 'x.jsonl', [MMS[0]]), fmt='okvqa')
    assert set(FORMATS) == {'infoseek', 'fvqa', 'mmsearch', 'simplevqa', 'livevqa', 'vdr', 'bcvl'}


def test_mmsearch_keeps_golds_that_normalise_to_nothing(tmp_path):
    rows = [
        dict(MMS[0], sample_id='e', gt_answer='', alternative_gt_answers=[]),
        dict(MMS[0], sample_id='t', gt_answer='The', alternative_gt_answers=['Paris']),
    ]
    items = load_real(write(tmp_path, 'end2end.parquet', rows))
    assert items[0]['answers'] == []  # the agent-facing list drops the blank gold ...
    assert score_real({'e': ''}, items[:1], 'mmsearch')['end2end_f1'] == 1.0  # ... the scorer keeps it (no IndexError)
    assert score_real({'e': 'Paris'}, items[:1], 'mmsearch')['end2end_f1'] == 0.0
    assert score_real({'t': 'a'}, items[1:], 'mmsearch')['end2end_f1'] == 1.0  # 'a' and 'The' both normalise to ''


def test_fvqa_is_mmsearch_r1_em_on_the_last_answer(tmp_path):
    rows = [
        dict(
            FVQA,
            data_id='l',
            reward_model=dict(ground_truth=['Paris', 'Lutetia'], candidate_answers='[]', style='rule'),
        ),
        dict(FVQA, data_id='s', reward_model=dict(ground_truth='Paris', candidate_answers='"xy"', style='rule')),
    ]
    items = load_real(write(tmp_path, 'fvqa_l.parquet', rows[:1])) + load_real(
        write(tmp_path, 'fvqa_s.parquet', rows[1:])
    )
    assert score_real({'l': '<answer>lutetia</answer>'}, items[:1], 'fvqa')['accuracy'] == 1.0  # list ground truth
    assert score_real({'s': '<answer>x</answer>'}, items[1:], 'fvqa')['accuracy'] == 1.0  # '"xy"' adds x and y
    for text in ('Paris', 'Paris.', '\\boxed{Paris}', '<answer>Paris</answer><answer>London</answer>'):
        assert score_real({'s': text}, items[1:], 'fvqa')['accuracy'] == 0.0, text
    assert (
        score_real({'s': '<answer>London</answer><answer>Paris</answer>'}, items[1:], 'fvqa')['scorer']
        == 'mmsearch_r1_em'
    )


def test_bcvl_released_files_load():
    one, two = load_real(BCVL / 'bc_vl_level1.jsonl'), load_real(BCVL / 'bc_vl_level2.jsonl')
    assert detect_format(json.loads((BCVL / 'bc_vl_level1.jsonl').read_text().splitlines()[0])) == 'bcvl'
    assert [it['id'] for it in one] == ['bc_vl_level1_0', 'bc_vl_level1_1', 'bc_vl_level1_2']
    assert {it['meta']['level'] for it in one} == {1} and {it['meta']['level'] for it in two} == {2}
    assert one[0]['image'] == str(BCVL.parent / 'browsecomp-vl' / 'images' / 'level1' / 'level1_1.jpg')
    assert two[0]['answers'] == ['Jane Doe.'] and two[1]['meta']['domain'] == 'History'
    assert (
        load_real(BCVL / 'bc_vl_level1.jsonl', images_root='/imgs')[0]['image']
        == '/imgs/browsecomp-vl/images/level1/level1_1.jpg'
    )


def _judge_app(body):
    "A fake judge: BC-VL JSON verdicts, SimpleVQA JSON words, or a SimpleQA letter, by the prompt it receives."
    t = body['messages'][-1]['content']
    if '[correct_answer]:' in t:
        gold, resp = t.split('[correct_answer]: ')[1].split('\n')[0], t.split('[response]: ')[1].split('\n')[0]
        if 'garble' in resp:
            return {'content': 'I think it is right'}
        return {
            'content': '```json\n'
            + json.dumps(
                dict(
                    extracted_final_answer=resp,
                    reasoning='-',
                    correct='yes' if gold.lower() in resp.lower() else 'no',
                    confidence=100,
                    strict=True,
                )
            )
            + '\n```'
        }
    if '预测答案0' in t and '正确答案:' in t:
        gold, pred = t.split('正确答案: ')[1].split(' \n')[0], t.split('[预测答案0]：')[1].split('\n')[0].strip()
        if 'garble' in pred:
            return {'content': 'A'}
        word = '正确' if gold.lower() in pred.lower() else ('未尝试' if pred in ('', 'None') else '错误')
        return {'content': json.dumps({'预测答案0': word}, ensure_ascii=False)}
    gold, pred = t.split('Gold answer(s): "')[1].split('"')[0], t.split('Predicted answer: ')[1].split('\n')[0]
    return {'content': 'A' if gold.lower() in pred.lower() else 'B'}


def test_bcvl_scores_with_webwatchers_judge():
    items = load_real(BCVL / 'bc_vl_level1.jsonl')
    with serve_app(fake_openai_app(_judge_app)) as url:
        judge = BenchJudge(url, 'fake-judge')
        r = score_real(
            {'bc_vl_level1_0': 'It is Barcelona.', 'bc_vl_level1_1': '1981', 'bc_vl_level1_2': 'garble'},
            items,
            'bcvl',
            judge,
        )
        ours = score_real({'bc_vl_level1_0': 'It is Barcelona.'}, items, 'bcvl', judge, prompt='ours')
    assert (r['n'], r['n_judged'], r['unreadable'], r['accuracy']) == (3, 2, 1, 0.5)  # unreadable: dropped
    assert r['scorer'] == 'bcvl_webwatcher' and r['judge'] == 'fake-judge (bcvl-webwatcher, T=default)'
    assert ours['scorer'] == 'bcvl_ours_simpleqa' and ours['is_correct'] == pytest.approx(1 / 3)


def test_simplevqa_scores_with_its_own_grader(tmp_path):
    rows = [dict(SVQA, data_id=i, answer=a) for i, a in enumerate(['Kestrel', 'Oak', 'Nile'])]
    items = load_real(write(tmp_path, 'simplevqa.jsonl', rows))
    with serve_app(fake_openai_app(_judge_app)) as url:
        judge = BenchJudge(url, 'fake-judge')
        r = score_real({'0': 'a kestrel', '1': 'a pine'}, items, 'simplevqa', judge)
        with pytest.raises(ValueError, match='cannot read'):
            score_real({'0': 'garble'}, items, 'simplevqa', judge)
    assert (r['CO'], r['IN'], r['NA']) == (0.3333, 0.3333, 0.3333) and r['scorer'] == 'simplevqa'
    assert r['CGA'] == pytest.approx(0.5)


def test_bad_prompt_choice_is_refused(tmp_path):
    items = load_real(BCVL / 'bc_vl_level1.jsonl')
    with pytest.raises(ValueError, match='prompt must be'):
        score_real({}, items, 'bcvl', prompt='mine')
