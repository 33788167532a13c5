"Edge cases of the benchmark scorers (nbs/01b_score), as plain pytest."

import pytest
from mmsearch.score import (
    calls_per_question,
    evaluate,
    exact_match,
    f1_squad2,
    golds_of,
    harmonic_mean,
    infoseek_eval,
    infoseek_parse_number,
    infoseek_range_match,
    infoseek_score_item,
    infoseek_split,
    judge_or_em,
    last_answer,
    mmsearch_end2end,
    mmsearch_f1,
    mmsearch_final,
    mmsearch_r1_reward,
    parse_judge_verdict,
    r1_format_reward,
    r1_golds,
    r1_is_correct,
    search_metrics,
    search_ratios,
    simpleqa_grade,
    simplevqa_aggregate,
    simplevqa_verdict,
    squad2_normalize,
    squad2_tokens,
    squad_normalize,
    sr_img,
    sr_txt,
    sub_exact_match,
    vdr_em,
    vdr_extract_answer,
    SCORERS,
    TrajRecord,
)


# --- normalisers and F1 (§9) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'raw,norm',
    [
        ('The Eiffel Tower', 'eiffel tower'),
        ('An apple a day', 'apple day'),
        ('U.S.A.', 'usa'),
        ('the-end', 'theend'),  # punctuation is removed before articles
        ('Theory of the Atom', 'theory of atom'),  # whole-word articles only
        ('  many   spaces\t', 'many spaces'),
    ],
)
def test_squad_normalize(raw, norm):
    assert squad_normalize(raw) == norm
    assert squad2_normalize(raw) == norm


@pytest.mark.parametrize(
    'raw,norm',
    [
        ('“Paris”', '“paris”'),  # curly quotes are not ASCII punctuation
        ('1990–2000', '1990–2000'),  # en dash survives
        ('war — peace', 'war — peace'),  # em dash survives
        ('l’amour', 'l’amour'),
        ('¿Qué?', '¿qué'),  # inverted question mark survives, ASCII '?' does not
    ],
)
def test_unicode_punctuation_survives(raw, norm):
    assert squad_normalize(raw) == norm
    assert squad2_normalize(raw) == norm


def test_unicode_punctuation_blocks_em():
    assert exact_match('“Paris”', 'Paris') == 0.0
    assert exact_match('"Paris"', 'Paris') == 1.0


def test_f1_empty_rules():
    assert f1_squad2('', '') == 1.0
    assert f1_squad2('a the an', '') == 1.0  # normalises to nothing on both sides
    assert f1_squad2('Paris', '') == 0.0
    assert f1_squad2('', 'Paris') == 0.0
    assert f1_squad2(None, None) == 1.0


def test_f1_values():
    assert f1_squad2('red cat', 'red dog') == pytest.approx(0.5)
    assert f1_squad2('red red cat', 'red cat') == pytest.approx(0.8)
    assert f1_squad2('blue', 'red') == 0.0


# --- EM over aliases ------------------------------------------------------------------------------------------


def test_em_aliases():
    golds = ['United Kingdom', 'UK', 'Britain']
    assert exact_match('britain', golds) == 1.0
    assert exact_match('the U.K.', golds) == 1.0
    assert exact_match('England', golds) == 0.0
    assert exact_match('Paris', []) == 0.0
    assert exact_match(None, golds) == 0.0


def test_subem():
    assert sub_exact_match('I think it is the Eiffel Tower', ['Eiffel Tower']) == 1.0
    assert sub_exact_match('Eiffel', ['Eiffel Tower']) == 0.0
    assert sub_exact_match('anything', ['the']) == 1.0  # a gold normalising to '' is in everything (official)


# --- MMSearch-R1 reward (§3) ----------------------------------------------------------------------------------


def test_r1_last_answer_and_golds():
    assert last_answer('<answer>Rome</answer> no: <answer>Paris</answer>') == 'Paris'
    assert last_answer('no tags') is None
    assert r1_golds('Paris', '["Lutetia", 7, null, {"x": 1}]') == ['Paris', 'Lutetia']
    assert r1_golds(42, ['Paris']) == ['Paris']


ANS, IMG = '<reason>r</reason><answer>Paris</answer>', '<reason>r</reason><search><img></search>'
TXT, WRONG = '<reason>r</reason><text_search>q</text_search>', '<reason>r</reason><answer>Rome</answer>'


@pytest.mark.parametrize(
    'turns,fmt',
    [
        ([ANS], (1, 0)),
        ([IMG, ANS], (1, 1)),
        ([TXT, ANS], (1, 1)),
        ([IMG, TXT, ANS], (1, 2)),
        ([TXT, IMG, ANS], (0, 2)),
        ([IMG, IMG, ANS], (0, 2)),
        ([ANS, TXT], (0, 0)),
        ([], (0, 0)),
        ([TXT], (0, 1)),
    ],
)
def test_r1_format(turns, fmt):
    assert r1_format_reward(turns) == fmt


def test_r1_search_penalty_and_format_weight():
    assert mmsearch_r1_reward(ANS, 'Paris') == pytest.approx(1.0)
    assert mmsearch_r1_reward([TXT, ANS], 'Paris') == pytest.approx(0.9 * 0.9 + 0.1)
    assert mmsearch_r1_reward([IMG, TXT, ANS], 'Paris') == pytest.approx(0.9 * 0.9 + 0.1)
    assert mmsearch_r1_reward([IMG, TXT, ANS], 'Paris', use_search_count_penalty=True) == pytest.approx(
        0.9 * 0.81 + 0.1
    )
    assert mmsearch_r1_reward([IMG, TXT, WRONG], 'Paris') == pytest.approx(0.1)  # format only
    assert mmsearch_r1_reward([TXT], 'Paris') == 0.0
    assert mmsearch_r1_reward('Paris', 'Paris') == 0.0  # no <answer> tag
    assert mmsearch_r1_reward([IMG, IMG, ANS], 'Paris') == pytest.approx(0.81)
    assert mmsearch_r1_reward(ANS, 'Paris', format_penalty=0.5) == pytest.approx(1.0)
    assert mmsearch_r1_reward(WRONG, 'Paris', format_penalty=0.5) == pytest.approx(0.5)
    assert mmsearch_r1_reward('<answer>Lutetia</answer>', r1_golds('Paris', '["Lutetia"]')) == pytest.approx(0.9)
    assert mmsearch_r1_reward('<answer>Paris is it</answer>', 'Paris', 'SubEM') == pytest.approx(0.9)
    assert r1_is_correct(mmsearch_r1_reward([IMG, TXT, ANS], 'Paris', use_search_count_penalty=True))
    assert not r1_is_correct(mmsearch_r1_reward([IMG, TXT, WRONG], 'Paris'))


# --- InfoSeek (§1) --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'pred,parsed',
    [
        ('42', 42.0),
        ('1,234,567', 1234567.0),  # thousands commas
        ('about 3,500 m', 3500.0),
        ('1990-2000', [1990.0, 2000.0]),  # hyphen between digits: a range
        ('1990 - 2000', [1990.0, 2000.0]),
        ('2000-1990', 2000.0),  # a > b keeps a
        ('3 to 5', [3.0, 5.0]),
        ('1 2 3', [1.0, 2.0]),  # first two numbers only
        ('9 2 30', 9.0),
        ('no idea', [0.0, 0.0]),  # no number
        ('', [0.0, 0.0]),
        ('-5', -5.0),
        ('12.5.', 12.5),  # trailing dot stripped
    ],
)
def test_infoseek_parse(pred, parsed):
    assert infoseek_parse_number(pred) == parsed


@pytest.mark.parametrize(
    'pred,ref,hit',
    [
        (1.0, [0.9, 1.1], 1.0),  # scalar in
        (0.9, [0.9, 1.1], 1.0),  # inclusive
        (1.11, [0.9, 1.1], 0.0),  # scalar out
        ([95, 105], [90, 110], 1.0),  # range inside
        ([85, 105], [90, 110], 1.0),  # IoU 15/25 = 0.6
        ([80, 120], [90, 110], 1.0),  # IoU 20/40 = 0.5 exactly
        ([100, 125], [90, 110], 0.0),  # IoU 10/35 < 0.5
        ([95, 125], [90, 110], 0.0),  # IoU 15/35 < 0.5
        ([200, 300], [90, 110], 0.0),  # disjoint
        ([0.0, 0.0], [-1, 1], 1.0),  # "no number" hits a range containing 0
        ([0.0, 0.0], [1, 2], 0.0),
    ],
)
def test_infoseek_range(pred, ref, hit):
    assert infoseek_range_match(pred, ref) == hit


def _num(lo, hi, **kw):
    return dict(
        data_id='n',
        answer_eval=[{'wikidata': (lo + hi) / 2, 'range': [lo, hi]}],
        data_split='val_unseen_entity',
        question_type='Numerical',
        **kw,
    )


@pytest.mark.parametrize(
    'pred,hit',
    [
        ('1,050', 1.0),
        ('1000-1100', 1.0),
        ('1100-1000', 0.0),
        ('900-1100', 1.0),  # 1100>1000 keeps 1100: out
        ('2,000', 0.0),
        ('roughly a thousand', 0.0),
    ],
)
def test_infoseek_numeric_items(pred, hit):
    assert infoseek_score_item(pred, _num(990, 1090)) == hit


def test_infoseek_string_time_plain_em():
    rec = dict(data_id='t', answer_eval=['1889'], data_split='val_unseen_question', question_type='Time')
    assert infoseek_score_item('1889', rec) == 1.0
    assert infoseek_score_item('1890', rec) == 0.0  # no ±1 year leniency in the code
    assert infoseek_score_item('March 1889', rec) == 0.0  # no year-only leniency either
    s = dict(rec, answer_eval=['France', 'FR', 'French Republic'], question_type='String')
    assert infoseek_score_item('the French Republic', s) == 1.0


REFS = [
    dict(
        data_id='q1', answer=['Paris'], answer_eval=['Paris'], data_split='val_unseen_question', question_type='String'
    ),
    dict(data_id='q2', answer=['1850'], answer_eval=['1850'], data_split='val_unseen_question', question_type='Time'),
    dict(
        data_id='e1',
        answer=['100'],
        answer_eval=[{'wikidata': 100.0, 'range': [90.0, 110.0]}],
        data_split='val_unseen_entity',
        question_type='Numerical',
    ),
    dict(
        data_id='e2',
        answer=['Seine'],
        answer_eval=['Seine', 'La Seine'],
        data_split='val_unseen_entity',
        question_type='String',
    ),
]


def test_infoseek_missing_official_vs_strict():
    preds = [
        dict(data_id='q1', prediction='Paris'),
        dict(data_id='e1', prediction='95-105'),
        dict(data_id='e2', prediction='Loire'),
    ]
    off, st = infoseek_eval(preds, REFS), infoseek_eval(preds, REFS, strict=True)
    assert (off['UQ'], off['UE'], off['final']) == (100.0, 50.0, 66.67)
    assert (st['UQ'], st['UE'], st['final']) == (50.0, 50.0, 50.0)
    assert off['n_missing'] == st['n_missing'] == 1
    assert (off['scorer'], st['scorer']) == ('infoseek_official', 'infoseek_strict')


def test_infoseek_unknown_ids_dropped():
    preds = {'q1': 'Paris', 'q2': '1850', 'e1': '100', 'e2': 'la seine', 'bogus': 'x', 'bogus2': 'y'}
    for strict in (False, True):
        r = infoseek_eval(preds, REFS, strict=strict)
        assert (r['final'], r['n_unknown'], r['n_UQ'] + r['n_UE']) == (100.0, 2, 4)


def test_infoseek_harmonic_mean_zero():
    r = infoseek_eval({'q1': 'Paris', 'e1': 'nothing'}, REFS)
    assert (r['UQ'], r['UE'], r['final']) == (100.0, 0.0, 0.0)
    assert harmonic_mean(0, 0) == pytest.approx(1e-12)
    assert harmonic_mean(40, 60) == pytest.approx(48.0)


def test_infoseek_qtype_file():
    bare = [{k: v for k, v in r.items() if k != 'question_type'} for r in REFS]
    qts = [dict(data_id=r['data_id'], question_type=r['question_type']) for r in REFS]
    preds = {'e1': '101', 'e2': 'Seine'}
    assert infoseek_eval(preds, bare, qts)['UE'] == 100.0
    assert infoseek_eval(preds, bare)['UE'] == 50.0  # without qtypes the numeric item falls back to string EM


def test_infoseek_split_rule():
    assert infoseek_split('val_unseen_question') == 'UQ'
    assert infoseek_split('test_unseen_question') == 'UQ'
    assert infoseek_split('val_unseen_entity') == 'UE'
    assert infoseek_split('train') == 'UE'
    assert infoseek_split('val_unseen_question_v2') == 'UE'  # the rule is 'ends with', not 'contains'


# --- MMSearch (§2) --------------------------------------------------------------------------------------------


def test_mmsearch_hyphenated_dates():
    assert squad2_tokens('2024-09-29') == ['20240929']
    assert mmsearch_f1('29 Sept 2024', '2024-09-29') == 0.0
    assert mmsearch_f1('2024-09-29', '2024-09-29') == 1.0
    assert mmsearch_f1('29 Sept 2024', '2024-09-29', ['29 September 2024']) == pytest.approx(2 / 3)


def test_mmsearch_alternatives_and_empty_golds():
    assert mmsearch_f1('Lionel Messi', 'Messi', ['Lionel Andrés Messi']) == pytest.approx(0.8)
    assert mmsearch_f1('', 'the', []) == 1.0  # gold normalises to '' -> [''] -> both empty
    assert mmsearch_f1('Paris', '', ['']) == 0.0
    assert mmsearch_f1('', 'Paris') == 0.0


def test_mmsearch_final_weights_and_missing():
    assert mmsearch_final(1.0, 0.0, 0.0, 0.0) == pytest.approx(0.75)
    assert mmsearch_final(0.0, 1.0, 0.0, 0.0) == pytest.approx(0.05)
    assert mmsearch_final(0.0, 0.0, 1.0, 0.0) == pytest.approx(0.10)
    assert mmsearch_final(0.0, 0.0, 0.0, 1.0) == pytest.approx(0.10)
    assert mmsearch_final(0.8) == pytest.approx(0.6)  # missing tasks count 0
    recs = [dict(sample_id=f's{i}', gt_answer='Paris', alternative_gt_answers=[]) for i in range(4)]
    assert mmsearch_end2end({'s0': 'Paris', 's1': 'Paris'}, recs) == pytest.approx(0.5)  # missing samples count 0


# --- VDR extraction, fallback EM, judge verdicts (§7) ---------------------------------------------------------


@pytest.mark.parametrize(
    'text,ans',
    [
        ('<think>It is <answer>Rome</answer></think> <answer> Paris </answer>', 'Paris'),
        ('<answer>A</answer><answer>B</answer>', 'A'),  # first <answer>
        ('so \\boxed{42}', '42'),
        ('\\boxed{\\text{x}}', '\\text{x}'),
        ('<think>x</think>Plain text answer.', 'Plain text answer.'),
    ],
)
def test_extract_answer(text, ans):
    assert vdr_extract_answer(text) == ans


def test_vdr_em():
    assert vdr_em('  Paris. ', 'paris') == 1.0
    assert vdr_em('"Paris!"', 'Paris') == 1.0
    assert vdr_em('The Paris', 'Paris') == 0.0  # articles are kept
    assert vdr_em('Pa-ris', 'Paris') == 0.0  # inner punctuation is kept
    assert vdr_em('New   York', 'new york') == 1.0


@pytest.mark.parametrize(
    'text,v',
    [
        ('correct: yes', True),
        ('Correct: No', False),
        ('reasoning...\n**correct:** yes', True),
        ('correct: maybe\ncorrect: yes', False),  # only the first line containing correct: counts
        ('correct:', False),
        ('looks right to me', None),
        ('', None),
        (None, None),
        ('incorrect: yes', True),  # 'incorrect:' contains 'correct:' (official quirk)
    ],
)
def test_judge_verdicts(text, v):
    assert parse_judge_verdict(text) is v


def test_unparseable_verdict_falls_back_to_em():
    assert judge_or_em('no verdict line', 'Paris.', 'paris') == 1.0
    assert judge_or_em('no verdict line', 'Rome', 'paris') == 0.0
    assert judge_or_em('correct: perhaps', 'Paris.', 'paris') == 0.0  # decided: no 'yes' on the line
    assert judge_or_em(None, 'Paris', 'Paris') == 1.0
    assert judge_or_em('correct: no', 'Paris', 'Paris') == 0.0
    assert judge_or_em('correct: yes', 'Rome', 'Paris') == 1.0


# --- SimpleQA grades and SimpleVQA (§4, §5) -------------------------------------------------------------------


@pytest.mark.parametrize(
    'text,g',
    [
        ('A', 'CORRECT'),
        ('B', 'INCORRECT'),
        ('C', 'NOT_ATTEMPTED'),
        ('**A**', 'CORRECT'),
        ('CORRECT', 'NOT_ATTEMPTED'),
        ('incorrect', 'NOT_ATTEMPTED'),
        ('INCORRECT', 'NOT_ATTEMPTED'),
        ('I cannot decide', 'NOT_ATTEMPTED'),
        ('E', 'NOT_ATTEMPTED'),
        ('xyz', 'NOT_ATTEMPTED'),
        ('Bad', 'INCORRECT'),
    ],
)
def test_simpleqa_grade(text, g):
    assert simpleqa_grade(text) == g


@pytest.mark.parametrize(
    'text,g',
    [
        ('正确', 'CORRECT'),
        ('错误', 'INCORRECT'),
        ('未尝试', 'NOT_ATTEMPTED'),
        ('CORRECT', 'NOT_ATTEMPTED'),
        ('E', None),
        ('xyz', None),
        ('A', None),
    ],
)
def test_simplevqa_verdict(text, g):
    assert simplevqa_verdict(text) == g


def test_simplevqa_aggregate():
    m = simplevqa_aggregate(['CORRECT'] * 6 + ['INCORRECT'] * 2 + ['NOT_ATTEMPTED'] * 2)
    assert (m['CO'], m['IN'], m['NA']) == (0.6, 0.2, 0.2)
    assert m['CGA'] == pytest.approx(0.75)
    assert m['F'] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    z = simplevqa_aggregate(['NOT_ATTEMPTED', 'NOT_ATTEMPTED'])
    assert (z['CGA'], z['F']) == (0.0, 0.0)
    with pytest.raises(ValueError):
        simplevqa_aggregate(['CORRECT', simplevqa_verdict('E')])


# --- search rates ---------------------------------------------------------------------------------------------


def _t(*names, answer='a'):
    return dict(tool_calls=[dict(name=n, arguments={}) for n in names], answer=answer)


def test_search_rates():
    trajs = [
        _t(),
        _t('image_search'),
        _t('crop_and_search'),
        _t('text_search', 'visit'),
        _t('image_search', 'text_search', 'text_search'),
        _t('visit', answer=None),
    ]
    assert sr_img(trajs) == pytest.approx(3 / 6)
    assert sr_txt(trajs) == pytest.approx(2 / 6)
    r = search_ratios(trajs)
    assert r == pytest.approx(dict(text_only=1 / 6, image_only=2 / 6, mixed=1 / 6, none=2 / 6))
    assert sum(r.values()) == pytest.approx(1.0)
    assert calls_per_question(trajs) == pytest.approx(8 / 6)
    m = search_metrics(trajs)
    assert m['scorer'] == 'search_metrics' and m['n'] == 6
    assert m['search_ratio'] == pytest.approx(4 / 6)
    assert m['answer_rate'] == pytest.approx(5 / 6)
    assert m['calls_per_question_by_tool'] == pytest.approx(
        dict(crop_and_search=1 / 6, image_search=2 / 6, text_search=3 / 6, visit=2 / 6)
    )


def test_search_rates_accept_objects():
    class Call:
        def __init__(self, name):
            self.name, self.arguments = name, {}

    trajs = [
        TrajRecord([dict(name='crop_and_search', arguments={})], 'x'),
        type('T', (), dict(tool_calls=[Call('text_search')], answer=None))(),
    ]
    assert (sr_img(trajs), sr_txt(trajs)) == (0.5, 0.5)
    assert search_ratios(trajs)['mixed'] == 0.0


# --- evaluate: scores carry their scorer ----------------------------------------------------------------------


def test_evaluate_records_scorer_and_judge():
    refs = [dict(data_id='a', answer='Paris'), dict(data_id='b', answer='Rome')]
    r = evaluate({'a': 'paris', 'zz': 'x'}, refs, 'squad_em', benchmark='toy', seed=3)
    assert (r['scorer'], r['judge'], r['benchmark'], r['seed']) == ('squad_em', None, 'toy', 3)
    assert (r['score'], r['n'], r['n_missing'], r['n_unknown']) == (0.5, 2, 1, 1)
    assert evaluate({'a': 'paris'}, refs, strict=False)['score'] == 1.0

    def my_judge(pred, ref):
        return 1.0

    j = evaluate({'a': 'x'}, refs, my_judge, judge='gpt-4o')
    assert (j['scorer'], j['judge'], j['score']) == ('my_judge', 'gpt-4o', 1.0)
    with pytest.raises(KeyError, match='unknown scorer'):
        evaluate({}, refs, 'nope')
    fvqa = dict(data_id='f', reward_model=dict(ground_truth='Paris', candidate_answers='["Lutetia", 1]', style='rule'))
    assert golds_of(fvqa) == ['Paris', 'Lutetia']
    assert evaluate({'f': 'lutetia'}, [fvqa])['score'] == 1.0
    assert golds_of(dict(answer_eval=['UK', {'wikidata': 1.0, 'range': [0.9, 1.1]}])) == ['UK']
    with pytest.raises(KeyError, match='no gold'):
        golds_of(dict(question='?'))
    assert set(SCORERS) >= {'squad_em', 'vdr_em', 'mmsearch_f1', 'infoseek_item'}
