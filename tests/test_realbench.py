"Loaders and official scoring on records in each real benchmark's format (hand-written fixtures)."
import json
import pandas as pd
import pytest
from mmsearch.realbench import load_real, detect_format, score_real, FORMATS

def write(tmp_path, name, rows):
    p = tmp_path/name
    if name.endswith('.parquet'): pd.DataFrame(rows).to_parquet(p)
    elif name.endswith('.jsonl'): p.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    else: p.write_text(json.dumps(rows))
    return p

FVQA = dict(data_id='fvqa_test_0', prompt=[dict(role='user', content='Who designed it?')], images=[dict(bytes=b'\x89PNG')],
            reward_model=dict(ground_truth='Gustave Eiffel', candidate_answers=json.dumps(['Eiffel', 3, None]), style='rule'),
            data_source='mmsearch_r1/fvqa_test', image_urls=None, category='search_required')
MMS = [dict(sample_id='1', query='When did it open?', query_image=None, area='news', subfield='x', timestamp='2024', gt_requery='q',
            gt_answer='2024-09-29', alternative_gt_answers=['September 29, 2024'])]
SVQA = dict(data_id=1012, image='imgs/1.jpg', image_description='', language='EN', question='What bird?', answer='Kestrel',
            original_category='', source='', atomic_question='', atomic_fact='', vqa_category='animal')

def test_formats_are_detected():
    assert detect_format(FVQA) == 'fvqa' and detect_format(MMS[0]) == 'mmsearch' and detect_format(SVQA) == 'simplevqa'
    assert detect_format(dict(question='q', answer='a', images=['x.png'])) == 'vdr'
    with pytest.raises(ValueError, match='cannot tell'): detect_format(dict(q=1))

def test_fvqa_drops_non_string_candidates_and_keeps_image_bytes(tmp_path):
    it = load_real(write(tmp_path, 'fvqa_test.parquet', [FVQA]))[0]
    assert it['answers'] == ['Gustave Eiffel', 'Eiffel'] and it['image'] == b'\x89PNG' and it['meta']['category'] == 'search_required'
    assert score_real({'fvqa_test_0': '<answer>eiffel</answer>'}, [it], 'fvqa')['accuracy'] == 1.0
    assert score_real({}, [it], 'fvqa')['accuracy'] == 0.0          # a missing prediction is wrong

def test_mmsearch_f1_on_hyphenated_dates(tmp_path):
    items = load_real(write(tmp_path, 'end2end.parquet', MMS))
    assert items[0]['image'] is None
    assert score_real({'1': '2024-09-29'}, items, 'mmsearch')['end2end_f1'] == 1.0
    assert score_real({'1': '29 Sept 2024'}, items, 'mmsearch')['end2end_f1'] == pytest.approx(2 / 3)   # only the alternative overlaps
    only_gold = [dict(items[0], answers=['2024-09-29'])]
    assert score_real({'1': '29 Sept 2024'}, only_gold, 'mmsearch')['end2end_f1'] == 0.0   # the hyphenated gold is one token
    assert score_real({}, items, 'mmsearch')['end2end_f1'] == 0.0

def test_simplevqa_needs_a_judge_and_resolves_images(tmp_path):
    items = load_real(write(tmp_path, 'simplevqa.jsonl', [SVQA]))
    assert items[0]['image'] == str(tmp_path/'imgs'/'1.jpg') and items[0]['answers'] == ['Kestrel']
    with pytest.raises(ValueError, match='judged by an LLM'): score_real({}, items, 'simplevqa')

def test_vdr_without_judge_falls_back_to_em(tmp_path):
    items = load_real(write(tmp_path, 'vdr.parquet', [dict(id='a', question='q', answer='Blue Gate', images=['s.png'])]))
    r = score_real({'a': '<think>x</think><answer>blue gate.</answer>'}, items, 'vdr')
    assert r['accuracy'] == 1.0 and r['scorer'] == 'vdr_em_fallback'

def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError): load_real(tmp_path/'none.jsonl')
    with pytest.raises(ValueError, match='unknown format'): load_real(write(tmp_path, 'x.jsonl', [MMS[0]]), fmt='okvqa')
    assert set(FORMATS) == {'infoseek', 'fvqa', 'mmsearch', 'simplevqa', 'livevqa', 'vdr', 'bcvl'}
