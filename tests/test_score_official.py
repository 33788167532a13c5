"""Hand-worked tricky cases per benchmark: for each (prediction, gold) or (prediction, gold, verdict), the result the
benchmark's own scoring code gives, worked out by hand from its rules (read at the commits listed in nbs/01b_score).

Each table row is (inputs..., expected, why). Rows marked `CRASH:` are inputs on which the official code raises;
there the expected value is what our scorer documents it returns instead.
"""

import json
import pytest
from mmsearch.score import (
    bcvl_aggregate,
    bcvl_verdict,
    infoseek_eval,
    infoseek_score_item,
    livevqa_aggregate,
    livevqa_grade,
    mmsearch_end2end,
    mmsearch_f1,
    mmsearch_final,
    mmsearch_r1_em,
    mmsearch_r1_reward,
    r1_golds,
    r1_is_correct,
    search_r1_score,
    simpleqa_aggregate,
    simpleqa_grade,
    simplevqa_aggregate,
    simplevqa_reply_verdict,
    vdr_score,
    UNGRADED,
)


def rows(table):
    return [pytest.param(*r, id=f'{i:03d}') for i, r in enumerate(table)]


# ============================================================================================================
# InfoSeek (edchengg/infoseek_eval, infoseek_eval.py): SQuAD v1.1 EM for String/Time; the range rule for Numerical
# ============================================================================================================


def NUM(lo, hi):
    return [{'wikidata': (lo + hi) / 2, 'range': [lo, hi]}]


INFOSEEK = [
    # --- String: SQuAD v1.1 normalize_answer (lower, drop string.punctuation, drop a/an/the, collapse spaces)
    ('Paris', ['Paris'], 'String', 1.0, 'identical'),
    ('PARIS', ['Paris'], 'String', 1.0, 'lower-cased'),
    ('The Paris', ['Paris'], 'String', 1.0, 'leading article dropped'),
    ('Paris.', ['Paris'], 'String', 1.0, 'ASCII full stop deleted'),
    ('"Paris"', ['Paris'], 'String', 1.0, 'ASCII double quotes deleted'),
    ('“Paris”', ['Paris'], 'String', 0.0, 'curly quotes are not in string.punctuation'),
    ('«Paris»', ['Paris'], 'String', 0.0, 'guillemets survive'),
    ('Paris。', ['Paris'], 'String', 0.0, 'ideographic full stop survives'),
    ('**Paris**', ['Paris'], 'String', 1.0, 'asterisks are ASCII punctuation'),
    ('U.S.A.', ['USA'], 'String', 1.0, 'dots deleted'),
    ('the-end', ['theend'], 'String', 1.0, 'hyphen deleted first, so "the" is fused and kept'),
    ('the end', ['end'], 'String', 1.0, 'whole-word article dropped'),
    ('Theory', ['ory'], 'String', 0.0, '"The" inside a word is no article'),
    ('an apple', ['Apple'], 'String', 1.0, '"an" dropped'),
    ('A', [''], 'String', 1.0, 'both normalise to the empty string'),
    ('The The', ['the'], 'String', 1.0, 'all articles: empty on both sides'),
    ('', ['Paris'], 'String', 0.0, 'empty prediction'),
    ('', [''], 'String', 1.0, 'empty equals empty'),
    ('United Kingdom', ['UK', 'United Kingdom'], 'String', 1.0, 'any alias'),
    ('U.K.', ['UK', 'United Kingdom'], 'String', 1.0, 'alias after deleting dots'),
    ('England', ['UK', 'United Kingdom'], 'String', 0.0, 'no alias matches'),
    ('Paris, France', ['Paris'], 'String', 0.0, 'EM, not containment'),
    ('Saint-Étienne', ['Saint Étienne'], 'String', 0.0, 'hyphen deleted: one word vs two'),
    ('SAINT ÉTIENNE', ['saint étienne'], 'String', 1.0, 'Unicode lower-casing'),
    ('naïve', ['naive'], 'String', 0.0, 'accents kept'),
    ('Paris\n', ['Paris'], 'String', 1.0, 'trailing newline collapsed'),
    ('  New   York  ', ['New York'], 'String', 1.0, 'runs of spaces collapsed'),
    ('New\u00a0York', ['New York'], 'String', 1.0, 'NBSP is whitespace for str.split'),
    ('New\u200bYork', ['New York'], 'String', 0.0, 'zero-width space is not whitespace'),
    ('l’amour', ["l'amour"], 'String', 0.0, 'curly apostrophe kept, ASCII one deleted'),
    ("l'amour", ['lamour'], 'String', 1.0, 'ASCII apostrophe deleted'),
    ('1,000', ['1000'], 'String', 1.0, 'comma deleted'),
    ('1 000', ['1000'], 'String', 0.0, 'space splits the number'),
    ('$100', ['100'], 'String', 1.0, '$ is ASCII punctuation'),
    ('100%', ['100'], 'String', 1.0, '% is ASCII punctuation'),
    ('€100', ['100'], 'String', 0.0, '€ is not'),
    ('<answer>Paris</answer>', ['Paris'], 'String', 0.0, 'tags are not stripped: "answerparisanswer"'),
    ('\\boxed{Paris}', ['Paris'], 'String', 0.0, 'boxed is not unwrapped: "boxedparis"'),
    ('Paris (France)', ['Paris'], 'String', 0.0, 'parentheses deleted, words stay'),
    ('A Tale of Two Cities', ['Tale of Two Cities'], 'String', 1.0, 'leading "a" dropped'),
    ('Paris ' * 500, ['Paris'], 'String', 0.0, 'very long prediction'),
    ('🇬🇧', ['UK', '🇬🇧'], 'String', 1.0, 'emoji alias compared as is'),
    (None, ['Paris'], 'String', 0.0, 'CRASH: normalize_answer(None); a missing prediction scores 0'),
    # --- Time: the same EM (the docstring's +/- one year is not implemented)
    ('1850', ['1850'], 'Time', 1.0, 'identical year'),
    ('1851', ['1850'], 'Time', 0.0, 'one year off: plain EM'),
    ('in 1850', ['1850'], 'Time', 0.0, 'extra word'),
    ('1850.', ['1850'], 'Time', 1.0, 'full stop deleted'),
    ('March 3, 1850', ['3 March 1850', 'March 3, 1850'], 'Time', 1.0, 'second alias'),
    ('١٨٥٠', ['1850'], 'Time', 0.0, 'Arabic-Indic digits are other characters for EM'),
    ('1850-03-03', ['18500303'], 'Time', 1.0, 'hyphens deleted'),
    # --- Numerical: process_numerical_answer + metric_numerical_range against [lo, hi]
    ('100', NUM(90, 110), 'Numerical', 1.0, 'scalar inside'),
    ('89.9', NUM(90, 110), 'Numerical', 0.0, 'scalar below'),
    ('90', NUM(90, 110), 'Numerical', 1.0, 'lower bound inclusive'),
    ('110', NUM(90, 110), 'Numerical', 1.0, 'upper bound inclusive'),
    ('about 100 km', NUM(90, 110), 'Numerical', 1.0, 'words and units ignored'),
    ('1,000', NUM(900, 1100), 'Numerical', 1.0, 'thousands comma dropped'),
    ('1,00', NUM(90, 110), 'Numerical', 0.0, '",00" is no thousands group: 1 and 0, scalar 1'),
    ('1,000,000', NUM(9e5, 1.1e6), 'Numerical', 1.0, 'two thousands groups'),
    ('1.000.000', NUM(9e5, 1.1e6), 'Numerical', 0.0, 'European grouping: "1.000" and ".000" -> 1 and 0, scalar 1'),
    ('5 000', NUM(4000, 6000), 'Numerical', 0.0, 'space grouping: 5 and 0, scalar 5'),
    ('12,34,567', NUM(1.2e6, 1.3e6), 'Numerical', 0.0, 'Indian grouping: 12 and 34567, a range far below'),
    ('95-105', NUM(90, 110), 'Numerical', 1.0, 'dash after a digit: the range [95, 105], inside'),
    ('80-120', NUM(90, 110), 'Numerical', 1.0, 'range around the reference: IoU 20/40 = 0.5'),
    ('50-100', NUM(90, 110), 'Numerical', 0.0, 'IoU 10/60'),
    ('105-95', NUM(100, 110), 'Numerical', 1.0, 'descending: the scalar 105 is kept'),
    ('95-105', NUM(100, 110), 'Numerical', 0.0, 'ascending: range [95, 105], IoU 5/15'),
    ('1990 - 2000', NUM(1990, 2000), 'Numerical', 1.0, 'spaced dash: range equal to the reference'),
    ('-5', NUM(-6, -4), 'Numerical', 1.0, 'leading minus is a sign'),
    ('5-6', NUM(-7, -5), 'Numerical', 0.0, 'dash after a digit is no sign: range [5, 6]'),
    ('5--6', NUM(4, 6), 'Numerical', 1.0, '"5 - -6": 5 and -6, scalar 5'),
    ('+5', NUM(4, 6), 'Numerical', 1.0, 'plus sign'),
    ('−5', NUM(-6, -4), 'Numerical', 0.0, 'U+2212 minus is no sign: 5'),
    ('5–7', NUM(4.5, 7.5), 'Numerical', 1.0, 'en dash is no separator, but 5 and 7 still make a range'),
    ('1e3', NUM(900, 1100), 'Numerical', 1.0, 'exponent'),
    ('1E3', NUM(900, 1100), 'Numerical', 1.0, 'capital exponent'),
    ('3e-2', NUM(0.02, 0.04), 'Numerical', 1.0, 'dash after "e" is kept: 0.03'),
    ('1e3-2e3', NUM(900, 2100), 'Numerical', 1.0, 'dash after "3": range [1000, 2000]'),
    ('.5', NUM(4.5, 5.5), 'Numerical', 1.0, 'leading dot stripped: ".5" reads 5'),
    ('0.5', NUM(0.45, 0.55), 'Numerical', 1.0, 'decimal'),
    ('5.', NUM(4.5, 5.5), 'Numerical', 1.0, 'trailing dot stripped'),
    ('1.2.3', NUM(1.1, 1.3), 'Numerical', 0.0, '"1.2" and ".3" -> 1.2 and 3: range [1.2, 3]'),
    ('1..5', NUM(0.5, 1.5), 'Numerical', 0.0, '"1." and ".5" -> 1 and 5'),
    ('no idea', NUM(-1, 1), 'Numerical', 1.0, 'no number reads as the range [0, 0]'),
    ('', NUM(-1, 1), 'Numerical', 1.0, 'empty prediction is [0, 0] too'),
    ('no idea', NUM(90, 110), 'Numerical', 0.0, '[0, 0] outside'),
    ('3 to 5', NUM(2, 6), 'Numerical', 1.0, 'first two numbers make a range inside'),
    ('between 3 and 5', NUM(4, 4.4), 'Numerical', 0.0, 'range [3, 5] around a narrow reference: IoU 0.2'),
    ('1 2 3', NUM(0.5, 2.5), 'Numerical', 1.0, 'only the first two numbers'),
    ('9 2 30', NUM(8, 10), 'Numerical', 1.0, '9 > 2 keeps the scalar 9'),
    ('1.5 million', NUM(1.4e6, 1.6e6), 'Numerical', 0.0, 'magnitude words ignored: 1.5'),
    ('٣', NUM(2.5, 3.5), 'Numerical', 1.0, 'regex \\d and float() read Arabic-Indic digits'),
    ('１００', NUM(90, 110), 'Numerical', 1.0, 'fullwidth digits are decimal digits'),
    ('²', NUM(1.5, 2.5), 'Numerical', 0.0, 'a superscript is no decimal digit: no number, [0, 0]'),
    ('1²-3', NUM(1.5, 3.5), 'Numerical', 1.0, '"²".isdigit(): the dash separates, [1, 3] has IoU 0.6'),
    ('1a-3', NUM(1.5, 3.5), 'Numerical', 0.0, '"a" is no digit: 1 and -3, scalar 1'),
    ('①-3', NUM(2.5, 3.5), 'Numerical', 1.0, '"①".isdigit(): the dash separates, the only number is 3'),
    ('1-2-3', NUM(0.5, 2.5), 'Numerical', 1.0, 'two dashes: 1, 2, 3, first two'),
    ('-1-2', NUM(-1, 2), 'Numerical', 1.0, 'sign then separator: [-1, 2]'),
    ('100 ' * 300, NUM(90, 110), 'Numerical', 1.0, 'very long: [100, 100] inside'),
    ('-.1.5', NUM(-1, 1), 'Numerical', 1.0, 'CRASH: float("-"); we skip the token, no number -> [0, 0]'),
    (None, NUM(90, 110), 'Numerical', 0.0, 'CRASH: clean_str_range(None); a missing prediction scores 0'),
]


@pytest.mark.parametrize('pred,answer_eval,qtype,expected,why', rows(INFOSEEK))
def test_infoseek_item(pred, answer_eval, qtype, expected, why):
    assert infoseek_score_item(pred, dict(answer_eval=answer_eval), qtype) == expected, why


def _infoseek_refs(n_uq, n_ue):
    refs = [dict(data_id=f'q{k}', answer_eval=['Paris'], data_split='val_unseen_question') for k in range(n_uq)]
    return refs + [dict(data_id=f'e{k}', answer_eval=['Paris'], data_split='val_unseen_entity') for k in range(n_ue)]


INFOSEEK_AGG = [  # (n UQ refs, UQ right, n UE refs, UE right, (UQ, UE, final), why)
    (160, 23, 160, 160, (14.37, 100.0, 25.13), 'score is round((23/160)*100, 2) = 14.37 (not 14.38)'),
    (4, 2, 4, 4, (50.0, 100.0, 66.67), 'harmonic mean of 50 and 100'),
    (3, 1, 3, 2, (33.33, 66.67, 44.44), 'thirds'),
    (2, 2, 0, 0, (100.0, 0.0, 0.0), 'an empty split scores 0 and sinks the final score'),
    (2, 0, 2, 2, (0.0, 100.0, 0.0), 'a zero split: 1e-12 in the harmonic mean'),
]


@pytest.mark.parametrize('n_uq,uq,n_ue,ue,expected,why', rows(INFOSEEK_AGG))
def test_infoseek_aggregate(n_uq, uq, n_ue, ue, expected, why):
    preds = {f'q{k}': 'Paris' if k < uq else 'Rome' for k in range(n_uq)}
    preds |= {f'e{k}': 'Paris' if k < ue else 'Rome' for k in range(n_ue)}
    r = infoseek_eval(preds, _infoseek_refs(n_uq, n_ue), {i: 'String' for i in preds})
    assert (r['UQ'], r['UE'], r['final']) == expected, why


def test_infoseek_official_loop_runs_over_predictions():
    refs = _infoseek_refs(2, 2)
    r = infoseek_eval({'q0': 'Paris', 'e0': 'Rome', 'zz': 'Paris'}, refs, {i['data_id']: 'String' for i in refs})
    assert (r['UQ'], r['UE'], r['n_UQ'], r['n_UE']) == (100.0, 0.0, 1, 1)  # q1, e1 unanswered: not counted; zz dropped


# ============================================================================================================
# MMSearch (CaraJ7/MMSearch, score/f1_score.py get_f1_score; max over gt_answer and alternative_gt_answers)
# ============================================================================================================

MMSEARCH = [
    ('Paris', 'Paris', [], 1.0, 'identical'),
    ('paris.', 'Paris', [], 1.0, 'case and full stop'),
    ('The Paris', 'Paris', [], 1.0, 'article dropped'),
    ('Paris France', 'Paris', [], 2 / 3, 'P 1/2, R 1'),
    ('Paris', 'Paris France', [], 2 / 3, 'P 1, R 1/2'),
    ('2024-09-29', '2024-09-29', [], 1.0, 'hyphenated date is one token'),
    ('29 September 2024', '2024-09-29', [], 0.0, 'another date format: no shared token'),
    ('2024/09/29', '2024-09-29', [], 1.0, 'slashes deleted too: "20240929" on both sides'),
    ('2024.09.29', '2024-09-29', [], 1.0, 'dots deleted: same token'),
    ('2024-9-29', '2024-09-29', [], 0.0, '"2024929" vs "20240929"'),
    ('September 29, 2024', '2024-09-29', ['September 29, 2024'], 1.0, 'the alternative matches'),
    ('29 Sept 2024', '2024-09-29', ['September 29, 2024'], 2 / 3, '29 and 2024 shared with the alternative'),
    ('', 'Paris', [], 0.0, 'empty prediction'),
    ('', '', [], 1.0, 'both empty'),
    ('The', '', [], 1.0, 'prediction normalises to nothing, like the gold'),
    ('Paris', '', [], 0.0, 'gold empty, prediction not'),
    ('Paris', 'The', ['Paris'], 1.0, 'a gold that normalises to nothing is kept; the alternative matches'),
    ('a', 'The', [], 1.0, 'both normalise to nothing'),
    (None, 'Paris', [], 0.0, 'None prediction has no tokens'),
    (None, '', [], 1.0, 'no tokens on either side'),
    ('red red cat', 'red cat', [], 0.8, 'multiset overlap 2: P 2/3, R 1'),
    ('cat red', 'red cat', [], 1.0, 'order free'),
    ('red cat', 'red red cat', [], 0.8, 'P 1, R 2/3'),
    ('“Paris”', 'Paris', [], 0.0, 'curly quotes stick to the token'),
    ('Paris”', 'Paris', [], 0.0, 'one curly quote is enough'),
    ('São Paulo', 'Sao Paulo', [], 0.5, 'accent kept: one of two tokens'),
    ('1,000', '1000', [], 1.0, 'comma deleted'),
    ('1 000', '1000', [], 0.0, 'two tokens, neither is 1000'),
    ('$1.5 billion', '1.5 billion', [], 1.0, '"$" and "." deleted: "15 billion" both'),
    ('1.5 billion', '1,500,000,000', [], 0.0, 'different tokens'),
    ('Barack Obama', 'Obama', [], 2 / 3, 'P 1/2, R 1'),
    ('Obama, Barack', 'Barack Obama', [], 1.0, 'comma deleted, order free'),
    ('New York City', 'New York', ['NYC'], 0.8, 'best over golds: P 2/3, R 1'),
    ('an apple a day', 'apple day', [], 1.0, 'articles dropped on the prediction side'),
    ('Thea', 'The a', [], 0.0, 'gold normalises to nothing, prediction does not'),
    ('Mr. Smith', 'Mr Smith', [], 1.0, 'dot deleted'),
    ('e-mail', 'email', [], 1.0, 'hyphen deleted'),
    ('e–mail', 'email', [], 0.0, 'en dash kept'),
    ('Paris ' * 100, 'Paris', [], 2 * (1 / 100) / (1 + 1 / 100), 'very long: P 1/100, R 1'),
    ('<answer>Paris</answer>', 'Paris', [], 0.0, 'tags fuse into "answerparisanswer"'),
    ('**Paris**', 'Paris', [], 1.0, 'asterisks deleted'),
    ('Paris\nFrance', 'Paris', [], 2 / 3, 'newline splits tokens'),
    ('Paris', 'paris', ['Paris, France'], 1.0, 'gold matches; the alternative is worse'),
    ('Paris, France', 'Paris', ['France'], 2 / 3, 'both golds give 2/3'),
    ('The answer is Paris', 'Paris', [], 0.5, 'P 1/3, R 1'),
    ('1990s', '1990', [], 0.0, 'different token'),
    ('10%', '10', [], 1.0, 'percent sign deleted'),
    ('10 %', '10', [], 1.0, 'a lone "%" disappears'),
    ('北京', '北京', [], 1.0, 'CJK token'),
    ('北京。', '北京', [], 0.0, 'ideographic full stop kept'),
    ('北京 上海', '北京', [], 2 / 3, 'two CJK tokens'),
    ('ＰＡＲＩＳ', 'Paris', [], 0.0, 'fullwidth letters are other characters'),
    ('A.', 'a', [], 1.0, 'both normalise to nothing'),
    ('Paris', None, [], 0.0, 'a None gold has no tokens'),
    ('', None, [], 1.0, 'no tokens on either side'),
    ('Paris', 'London', ['Paris'], 1.0, 'the alternative matches'),
    ('Paris', 'London', [], 0.0, 'no match'),
    ('the the the', '', [], 1.0, 'nothing left on either side'),
    ('Washington D.C.', 'Washington, D.C.', [], 1.0, '"washington dc" both'),
    ('D. C.', 'D.C.', [], 0.0, '"d c" vs "dc"'),
    ("Rock 'n' roll", 'Rock n roll', [], 1.0, 'apostrophes deleted'),
    ('N/A', 'NA', [], 1.0, 'slash deleted'),
    ('Python3', 'Python 3', [], 0.0, 'one token vs two'),
    ('3.14', '314', [], 1.0, 'the decimal point is deleted'),
    ('Paris', 'Paris', None, 1.0, 'CRASH: eval_end2end iterates None; missing alternatives read as none'),
]


@pytest.mark.parametrize('pred,gt,alts,expected,why', rows(MMSEARCH))
def test_mmsearch_f1(pred, gt, alts, expected, why):
    assert mmsearch_f1(pred, gt, alts) == pytest.approx(expected), why


def test_mmsearch_end2end_and_final():
    recs = [
        dict(sample_id='a', gt_answer='Paris', alternative_gt_answers=[]),
        dict(sample_id='b', gt_answer='red cat', alternative_gt_answers=[]),
        dict(sample_id='c', gt_answer='Oslo', alternative_gt_answers=[]),
    ]
    assert mmsearch_end2end({'a': 'paris', 'b': 'red red cat'}, recs) == pytest.approx(
        (1 + 0.8 + 0) / 3
    )  # c missing: 0
    assert mmsearch_final(0.5, 1.0, 0.0, 1.0) == pytest.approx(0.75 * 0.5 + 0.05 + 0.1)


# ============================================================================================================
# MMSearch-R1 / FVQA (EvolvingLMMs-Lab/multimodal-search-r1, mmsearch_r1_score.py compute_score and the reward
# manager's gold list): 0.9*EM(last <answer> of the last turn)*(0.9 if searched) + 0.1*format
# ============================================================================================================


def A(x, reason='r'):
    return f'<reason>{reason}</reason><answer>{x}</answer>'


IMG = '<reason>r</reason><search><img></search>'
TXT = '<reason>r</reason><text_search>q</text_search>'

R1 = [  # (turns, golds, kwargs, expected reward, why)
    ([A('Paris')], 'Paris', {}, 1.0, 'direct, right, well formed'),
    ([A('paris')], 'Paris', {}, 1.0, 'case folded'),
    ([A('The Paris.')], 'Paris', {}, 1.0, 'article and full stop'),
    ([A('Paris, France')], 'Paris', {}, 0.1, 'wrong: the format share only'),
    (['Paris'], 'Paris', {}, 0.0, 'no answer tag: score 0, format 0'),
    (['<answer>Paris</answer>'], 'Paris', {}, 0.9, 'right but no reason block'),
    (['\\boxed{Paris}'], 'Paris', {}, 0.0, 'boxed is no answer tag'),
    (['<answer>London</answer><answer>Paris</answer>'], 'Paris', {}, 0.9, 'last answer counts; two answers: format 0'),
    (['<answer>Paris</answer><answer>London</answer>'], 'Paris', {}, 0.0, 'last answer is wrong'),
    ([' ' + A('Paris') + '\n'], 'Paris', {}, 1.0, 'turn is stripped before the format check'),
    ([A('Paris') + ' thanks'], 'Paris', {}, 0.9, 'text after </answer>: format 0'),
    (['<reason>r</reason>\n<answer>Paris</answer>'], 'Paris', {}, 1.0, 'newline between blocks is allowed'),
    (['<reason>a</reason><reason>b</reason><answer>Paris</answer>'], 'Paris', {}, 0.9, 'two reason blocks'),
    (['<answer>Paris</answer><reason>r</reason>'], 'Paris', {}, 0.9, 'answer before reason'),
    ([A('')], 'Paris', {}, 0.1, 'empty answer'),
    ([A(' ')], '', {}, 1.0, 'blank answer equals an empty gold'),
    ([A('the')], 'a', {}, 1.0, 'both normalise to nothing'),
    ([A('Paris')], ['London', 'Paris'], {}, 1.0, 'list ground truth'),
    ([A('Paris')], r1_golds('London', '["Paris"]'), {}, 1.0, 'JSON-string candidate list'),
    ([A('Paris')], r1_golds('London', '"Paris"'), {}, 0.1, 'JSON string decodes to "Paris": list += adds its letters'),
    ([A('p')], r1_golds('London', '"Paris"'), {}, 1.0, 'the letter "P" is now a gold'),
    ([A('Paris')], r1_golds('London', '{"Paris": 1}'), {}, 1.0, 'a JSON object adds its keys'),
    ([A('Paris')], r1_golds('London', '[]'), {}, 0.1, 'no candidates'),
    ([A('Paris')], r1_golds(['Paris', 7]), {}, 1.0, 'non-string golds dropped'),
    ([A('lutetia')], r1_golds('Paris', ['Lutetia', None, 3]), {}, 1.0, 'list candidates, non-strings dropped'),
    ([IMG, A('Paris')], 'Paris', {}, 0.9 * 0.9 + 0.1, 'image search then answer: search discount'),
    ([TXT, A('Paris')], 'Paris', {}, 0.9 * 0.9 + 0.1, 'text search then answer'),
    ([IMG, TXT, A('Paris')], 'Paris', {}, 0.9 * 0.9 + 0.1, 'two searches: one discount by default'),
    ([IMG, TXT, A('Paris')], 'Paris', dict(use_search_count_penalty=True), 0.9 * 0.81 + 0.1, 'one discount per search'),
    ([TXT, IMG, A('Paris')], 'Paris', {}, 0.9 * 0.9, 'text before image: format 0'),
    ([IMG, IMG, A('Paris')], 'Paris', {}, 0.9 * 0.9, 'two image searches: format 0'),
    ([IMG, A('London')], 'Paris', {}, 0.1, 'wrong answers are not discounted'),
    ([A('Paris'), TXT], 'Paris', {}, 0.0, 'the last turn has no answer'),
    ([TXT], 'Paris', {}, 0.0, 'a search alone'),
    (
        ['<reason>r</reason><text_search>q</text_search><answer>Paris</answer>'],
        'Paris',
        {},
        0.9 * 0.9,
        'one turn that searches and answers: counted as a search, format 0',
    ),
    (
        ['<reason>r</reason><search><img></search><answer>Paris</answer>'],
        'Paris',
        {},
        0.9 * 0.9,
        'the same with an image search',
    ),
    (['<reason>r</reason><text_search>q', A('Paris')], 'Paris', {}, 0.9, 'unclosed text search: no search, format 0'),
    ([IMG + ' more', A('Paris')], 'Paris', {}, 0.9 * 0.9, 'text after the image call: format 0, still a search'),
    (
        ['<reason>r</reason><search><img></search><search><img></search>', A('Paris')],
        'Paris',
        {},
        0.9 * 0.9,
        'two image calls in one turn: format 0, one search',
    ),
    ([A('It is Paris')], 'Paris', dict(reward_mode='SubEM'), 1.0, 'SubEM: gold inside the answer'),
    ([A('Parisian')], 'Paris', dict(reward_mode='SubEM'), 1.0, 'SubEM is a substring test, not a word test'),
    ([A('Paris')], 'Paris France', dict(reward_mode='SubEM'), 0.1, 'SubEM: gold longer than the answer'),
    ([A('London')], 'the', dict(reward_mode='SubEM'), 1.0, 'SubEM: a gold normalising to "" is in everything'),
    ([A('London')], 'the', {}, 0.1, 'EM: "london" is not ""'),
    ([TXT, A('Paris')], 'Paris', dict(search_penalty=0.5), 0.9 * 0.5 + 0.1, 'search penalty 0.5'),
    ([A('Paris') + 'x'], 'Paris', dict(format_penalty=0.0), 1.0, 'no format weight'),
    ([A('London')], 'Paris', dict(format_penalty=0.5), 0.5, 'format weight 0.5'),
    ([A('Paris\nFrance')], 'Paris', {}, 0.1, 'newline inside the answer: two words'),
    ([A('  Paris  ')], 'Paris', {}, 1.0, 'answer stripped'),
    ([A('“Paris”')], 'Paris', {}, 0.1, 'curly quotes survive'),
    ([A('PARIS')], 'Paris', {}, 1.0, 'upper case'),
    (
        ['<reason>r</reason><answer><answer>Paris</answer>'],
        'Paris',
        {},
        0.0,
        'nested tag: the answer is "<answer>Paris"',
    ),
    (
        ['<reason><answer>Rome</answer></reason><answer>Paris</answer>'],
        'Paris',
        {},
        0.9,
        'answer inside reason: two answers',
    ),
    (['<reason>r</reason><ANSWER>Paris</ANSWER>'], 'Paris', {}, 0.0, 'tags are case-sensitive'),
    ([A('Paris', reason='x' * 5000)], 'Paris', {}, 1.0, 'very long reason'),
    ([A('١٨٥٠')], '1850', {}, 0.1, 'Arabic-Indic digits'),
    ([A('1,000')], '1000', {}, 1.0, 'comma deleted'),
    ([A('1 000')], '1000', {}, 0.1, 'space kept'),
    ([A("O'Neil")], 'ONeil', {}, 1.0, 'ASCII apostrophe deleted'),
    ([A('Paris')], 'Paris.', {}, 1.0, 'gold normalised too'),
    (
        [IMG, TXT, TXT, A('Paris')],
        'Paris',
        {},
        0.9 * 0.9,
        'CRASH: 4 turns raise ValueError; format 0, searches counted',
    ),
    ([], 'Paris', {}, 0.0, 'CRASH: an empty rollout fails an assert; reward 0'),
]


@pytest.mark.parametrize('turns,golds,kw,expected,why', rows(R1))
def test_mmsearch_r1_reward(turns, golds, kw, expected, why):
    assert mmsearch_r1_reward(turns, golds, **kw) == pytest.approx(expected), why


FVQA_EM = [  # FVQA accuracy: the validation `score` counts reward > format penalty + 1e-4, i.e. EM of the last answer
    ('Paris', 'Paris', 0.0, 'no answer tag'),
    ('Paris.', 'Paris', 0.0, 'no answer tag'),
    ('\\boxed{Paris}', 'Paris', 0.0, 'boxed is no answer tag'),
    ('<answer>Paris</answer>', 'Paris', 1.0, 'one answer'),
    ('<answer>London</answer><answer>Paris</answer>', 'Paris', 1.0, 'the last answer'),
    ('<answer>Paris</answer><answer>London</answer>', 'Paris', 0.0, 'the last answer is wrong'),
    ([A('Rome'), A('Paris')], 'Paris', 1.0, 'only the last turn is read'),
    ([A('Paris'), TXT], 'Paris', 0.0, 'the last turn has no answer'),
    (None, 'Paris', 0.0, 'CRASH: extract_solution(None); no prediction is wrong'),
]


@pytest.mark.parametrize('pred,golds,expected,why', rows(FVQA_EM))
def test_fvqa_accuracy(pred, golds, expected, why):
    assert mmsearch_r1_em(pred, golds) == expected, why
    turns = [pred] if isinstance(pred, str) else pred
    if turns:
        assert r1_is_correct(mmsearch_r1_reward(turns, golds)) == bool(expected), why


# ============================================================================================================
# Search-R1 (PeterGriffinJin/Search-R1, verl/utils/reward_score/qa_em.py): the solution string is prompt + response;
# the last <answer> block counts only if there are at least two, and the official template already holds two
# ============================================================================================================

P = (
    'If you find no further external knowledge needed, you can directly provide the answer inside '
    '<answer> and </answer>, '
    'without detailed illustrations. For example, <answer> Beijing </answer>. Question: where?\n'
)  # nq_search.py

SEARCH_R1 = [  # (solution_str, golds, sub_em, expected, why)
    (P + '<answer>Paris</answer>', 'Paris', False, 1.0, 'prompt block + answer block'),
    ('<answer>Paris</answer>', 'Paris', False, 0.0, 'a response alone has one block: at least two are needed'),
    (P + 'Paris', 'Paris', False, 0.0, 'no answer block: the template\'s "Beijing" is read'),
    (P, 'Beijing', False, 1.0, 'no response at all: the template\'s example matches a gold "Beijing"'),
    (P + 'I do not know.', 'beijing', False, 1.0, 'an unanswered item whose gold is Beijing is right'),
    (P + '<answer>Paris</answer>', 'Beijing', False, 0.0, 'the response\'s block comes last'),
    (P + '<answer>Beijing</answer>', 'Beijing', False, 1.0, 'two blocks'),
    (P + '<answer>Rome</answer><answer>Paris</answer>', 'Paris', False, 1.0, 'the last block'),
    (P + '<answer>Paris</answer><answer>Rome</answer>', 'Paris', False, 0.0, 'the last block is wrong'),
    (P + '<answer> the Paris. </answer>', 'Paris', False, 1.0, 'stripped and normalised'),
    (P + '<answer>Paris, France</answer>', 'Paris', False, 0.0, 'EM'),
    (P + '<answer>Paris, France</answer>', 'Paris', True, 1.0, 'SubEM'),
    (P + '<answer>Parisian</answer>', 'Paris', True, 1.0, 'SubEM: substring'),
    (P + '<answer>London</answer>', '', True, 1.0, 'SubEM: an empty gold is in everything'),
    (P + '<answer>London</answer>', '', False, 0.0, 'EM: not empty'),
    (P + '<answer></answer>', '', False, 1.0, 'EM: empty equals empty'),
    (P + '<answer>London</answer>', 'the', True, 1.0, 'SubEM: "the" normalises to ""'),
    (P + '<answer>Paris', 'Paris', False, 0.0, 'unclosed block: the last complete one is "Beijing"'),
    (P + '<Answer>Paris</Answer>', 'Paris', False, 0.0, 'tags are case-sensitive'),
    (P + '<answer>\nParis\n</answer>', 'Paris', False, 1.0, 'multi-line block'),
    (P + '<answer>paname</answer>', ['Paris', 'Paname'], False, 1.0, 'any gold'),
    (P + '<answer><answer>Paris</answer></answer>', 'Paris', False, 0.0, 'nested: the block reads "<answer>Paris"'),
    (P + '<answer><answer>Paris</answer></answer>', 'Paris', True, 1.0, 'SubEM: "answerparis" contains "paris"'),
    (P + '< answer>Paris</answer>', 'Paris', False, 0.0, 'a spaced tag is no tag'),
    (P + '<answer>Paris</answer>', ('Paris',), False, 1.0, 'golds as a tuple'),
    (P + '<answer>Pärïs</answer>', 'Paris', False, 0.0, 'diacritics kept'),
    (P + '<answer>1,000</answer>', '1000', False, 1.0, 'comma deleted'),
    (
        P + '<information>doc <answer>x</answer> doc</information><answer>Paris</answer>',
        'Paris',
        False,
        1.0,
        'blocks inside retrieved text count too; the last one wins',
    ),
    (
        P + '<information>doc <answer>Paris</answer></information>',
        'Paris',
        False,
        1.0,
        'a block in retrieved text alone counts',
    ),
    (P + '<answer>Paris</answer> and more text', 'Paris', False, 1.0, 'text after the block is fine'),
    (None, 'Paris', False, 0.0, 'CRASH: re.finditer on None; no solution is wrong'),
    (P + '<answer>Paris</answer>', 'paris ', False, 1.0, 'gold normalised'),
    (P + '<answer>Paris</answer>', 'Paris France', True, 0.0, 'SubEM: gold longer than the answer'),
    (P + '<answer>Paris!</answer>', ['London', 'Paris'], True, 1.0, 'SubEM over golds'),
    (P + '<answer>U.S.</answer>', 'US', False, 1.0, 'dots deleted'),
    (P + '<answer>the united states</answer>', 'United States', False, 1.0, 'article dropped'),
    (P + '<answer>theory</answer>', 'the', True, 1.0, 'SubEM: empty gold'),
    (P + '<answer>the</answer>', 'the', True, 1.0, 'SubEM: "" in ""'),
    (P + '<answer>Cairo</answer>', 'air', True, 1.0, 'SubEM ignores word boundaries'),
    (P + '<answer>Cairo</answer>', 'air', False, 0.0, 'EM'),
    (P + '<answer>Paris</answer></answer>', 'Paris', False, 1.0, 'a stray closing tag'),
    (P + '<answer>A</answer><answer>B</answer><answer>C</answer>', 'C', False, 1.0, 'last of many'),
    (P + '<answer>\n</answer>', 'x', False, 0.0, 'blank block'),
    (P + '<answer>' + 'x ' * 2000 + 'Paris</answer>', 'Paris', False, 0.0, 'very long answer: EM'),
    (P + '<answer>' + 'x ' * 2000 + 'Paris</answer>', 'Paris', True, 1.0, 'very long answer: SubEM'),
    (P + '<answer>Paris</answer>', 'Paris.', False, 1.0, 'gold full stop'),
    (P + '<answer>“Paris”</answer>', 'Paris', False, 0.0, 'curly quotes kept'),
    (P + '<answer>“Paris”</answer>', 'Paris', True, 1.0, 'SubEM sees "paris" inside'),
    (P + '<answer>an apple</answer>', 'apple', False, 1.0, 'article dropped'),
    (P + '<answer>Saint-Louis</answer>', 'Saint Louis', False, 0.0, 'hyphen deleted: "saintlouis"'),
    (P + '<answer>Saint-Louis</answer>', 'Saint Louis', True, 0.0, 'SubEM: "saint louis" not in "saintlouis"'),
    (P + '<answer>１２</answer>', '12', False, 0.0, 'fullwidth digits'),
    (P + '<answer>12</answer>', '12.0', False, 0.0, '"120" after the dot is deleted'),
    (P + '<answer>$12</answer>', '12', False, 1.0, 'dollar sign deleted'),
    (P + '<answer>1990-2000</answer>', '1990 - 2000', False, 0.0, '"19902000" vs "1990 2000"'),
    (P + '<answer>1990 - 2000</answer>', '1990-2000', True, 0.0, 'SubEM: "19902000" not in "1990 2000"'),
    (P + '<answer>New\u00a0York</answer>', 'New York', False, 1.0, 'NBSP is whitespace'),
    (P + '<answer>New York</answer>', ['', 'Paris'], False, 0.0, 'EM: neither gold'),
    (P + '<answer>New York</answer>', ['', 'Paris'], True, 1.0, 'SubEM: the empty gold'),
    (P + '<answer>Paris</answer>', [], False, 0.0, 'no golds'),
    (P + '<answer>Paris</answer>', [None, 'Paris'], False, 1.0, 'CRASH: normalize_answer(None); non-strings skipped'),
    (
        'Question: where?\n<answer>Paris</answer>',
        'Paris',
        False,
        0.0,
        'a prompt without blocks: one block is not enough',
    ),
    ('<answer>Rome</answer><answer>Paris</answer>', 'Paris', False, 1.0, 'a bare response with two blocks'),
]


@pytest.mark.parametrize('text,golds,sub_em,expected,why', rows(SEARCH_R1))
def test_search_r1(text, golds, sub_em, expected, why):
    assert search_r1_score(text, golds, sub_em=sub_em) == expected, why


# ============================================================================================================
# VDR-Bench (Osilly/Vision-DeepResearch, rllm/rllm/rewards/deepresearch_reward.py and rllm/eval/
# deepresearch_workflow.py): empty predictions are wrong; else the judge's first `correct:` line, else EM with VDR's
# normaliser on the extracted answer
# ============================================================================================================

VDR = [  # (prediction, answer, judge verdict, expected, why)
    ('Paris', 'Paris', None, 1.0, 'no judge: EM'),
    ('paris', 'Paris', None, 1.0, 'lower-cased'),
    ('<answer>Paris</answer>', 'Paris', None, 1.0, 'answer tag'),
    ('<ANSWER>Paris</ANSWER>', 'Paris', None, 1.0, 'tags in any case'),
    ('<think>Rome?</think><answer>Paris</answer>', 'Paris', None, 1.0, 'think removed'),
    (
        '<think><answer>Rome</answer></think><answer>Paris</answer>',
        'Paris',
        None,
        1.0,
        'answers inside think are removed',
    ),
    ('<answer>Paris</answer><answer>Rome</answer>', 'Paris', None, 1.0, 'the first answer counts'),
    ('<answer>Rome</answer><answer>Paris</answer>', 'Paris', None, 0.0, 'the first answer is wrong'),
    ('\\boxed{Paris}', 'Paris', None, 1.0, 'boxed'),
    ('\\boxed{\\text{Paris}}', 'Paris', None, 0.0, 'boxed content is "\\text{Paris}": edges trimmed to "text{paris"'),
    ('boxed{Paris}', 'Paris', None, 1.0, '"boxed{" without a backslash'),
    ('\\boxed{1} and \\boxed{2}', '1', None, 1.0, 'the first boxed counts'),
    ('\\boxed{Paris', 'Paris', None, 0.0, 'unbalanced: the whole text, "boxed{paris"'),
    ('<answer>Paris', 'Paris', None, 0.0, 'unclosed tag: the whole text, "answer>paris"'),
    ('(Paris)', 'Paris', None, 1.0, 'non-word edges stripped'),
    ('«Paris»', 'Paris', None, 1.0, 'guillemets stripped'),
    ('**Paris**', 'Paris', None, 1.0, 'asterisks stripped'),
    ('“Paris”', 'Paris', None, 1.0, 'curly quotes stripped'),
    ('Paris.', 'Paris', None, 1.0, 'full stop stripped'),
    ('Paris!!!', 'Paris', None, 1.0, 'a run of marks'),
    ('-Paris-', 'Paris', None, 0.0, 'hyphens are kept at the edges'),
    ('_Paris_', 'Paris', None, 0.0, 'underscores are word characters'),
    ('$100', '100', None, 1.0, 'dollar stripped'),
    ('100%', '100', None, 1.0, 'percent stripped'),
    ('北京。', '北京', None, 1.0, 'CJK are word characters; the full stop is not'),
    ('Paris, France', 'Paris', None, 0.0, 'inner punctuation stays'),
    ('New  York', 'New York', None, 1.0, 'whitespace collapsed'),
    ('new york', 'New-York', None, 0.0, 'inner hyphen kept'),
    ('U.S.A.', 'USA', None, 0.0, 'only the last dot goes: "u.s.a"'),
    ('U.S.A.', 'U.S.A', None, 1.0, 'gold without the last dot'),
    ('The Paris', 'Paris', None, 0.0, 'articles are kept'),
    ('', 'Paris', None, 0.0, 'empty prediction: not scored, wrong'),
    ('', '', None, 0.0, 'empty prediction even against an empty gold'),
    ('   ', '', None, 1.0, 'a blank (non-empty) prediction is scored: "" equals ""'),
    ('...', '?', None, 1.0, 'both normalise to ""'),
    ('Paris', None, None, 0.0, 'no gold'),
    ('Paris', ['Rome', 'Paris'], None, 1.0, 'CRASH (workflow pre-check .strip()); the reward reads a list'),
    ('Paris', ('Rome', 'paris.'), None, 1.0, 'CRASH (workflow pre-check); the reward reads a tuple'),
    ('42', 42, None, 1.0, 'CRASH (workflow pre-check); the reward str()-s golds'),
    ('42.0', 42, None, 0.0, 'CRASH (workflow pre-check); "42.0" is not "42"'),
    ('True', True, None, 1.0, 'CRASH (workflow pre-check); str(True)'),
    ("['a', 'b']", ['a', 'b'], None, 0.0, 'CRASH (workflow pre-check); a list is matched item by item'),
    ('<think>unclosed Paris', 'Paris', None, 0.0, 'unclosed think stays'),
    ('<think>x</think>', 'x', None, 0.0, 'nothing left after think'),
    ('<think>x</think>\\boxed{Paris}', 'Paris', None, 1.0, 'boxed after think'),
    ('<answer>\\boxed{Paris}</answer>', 'Paris', None, 0.0, 'the answer tag wins; its boxed is not unwrapped'),
    ('<answer> Paris </answer>', 'Paris', None, 1.0, 'answer stripped'),
    ('<answer>\nParis\n</answer>', 'Paris', None, 1.0, 'newlines collapsed'),
    ('Final answer: Paris', 'Paris', None, 0.0, 'no extraction from prose'),
    ('Ｐａｒｉｓ', 'Paris', None, 0.0, 'fullwidth letters'),
    ('İstanbul', 'istanbul', None, 0.0, '"İ".lower() is "i" + a combining dot'),
    ('Paris ' * 1000, 'Paris', None, 0.0, 'very long prediction'),
    ('Paris\u00a0', 'Paris', None, 1.0, 'NBSP stripped'),
    ('Paris\u200b', 'Paris', None, 1.0, 'zero-width space is a non-word edge'),
    # --- with a judge verdict
    ('Rome', 'Paris', 'correct: yes', 1.0, 'the judge decides'),
    ('Paris', 'Paris', 'correct: no', 0.0, 'the judge overrides EM'),
    ('Paris', 'Paris', 'Correct: NO', 0.0, 'case-insensitive'),
    ('Rome', 'Paris', 'CORRECT: Yes', 1.0, 'case-insensitive'),
    ('Rome', 'Paris', 'correct: no, not yes', 1.0, '"yes" anywhere on the line'),
    ('Rome', 'Paris', 'incorrect: yes', 1.0, '"incorrect:" contains "correct:"'),
    ('Paris', 'Paris', 'correct: [no]', 0.0, 'brackets'),
    ('Rome', 'Paris', 'correct: yes\ncorrect: no', 1.0, 'the first correct: line'),
    ('Paris', 'Paris', 'reasoning: yes it matches\ncorrect: no', 0.0, '"yes" on another line does not count'),
    ('Rome', 'Paris', 'correct:\nyes', 0.0, 'decided no: the verdict is on the next line'),
    ('Paris', 'Paris', 'correct yes', 1.0, 'no "correct:": undecided, EM decides'),
    ('Rome', 'Paris', 'correct yes', 0.0, 'undecided, EM'),
    ('Paris', 'Paris', '', 1.0, 'empty reply: EM'),
    ('Rome', 'Paris', '**correct:** yes', 1.0, 'markdown around the key'),
    ('Rome', 'Paris', 'correct: yesterday', 1.0, '"yes" inside a word'),
    ('Paris', 'Paris', 'correct: eyes closed, no', 1.0, '"yes" inside "eyes"'),
    ('Rome', 'Paris', 'Correct：yes', 0.0, 'fullwidth colon: undecided, EM'),
    ('Rome', 'Paris', 'correct : yes', 0.0, 'space before the colon: undecided, EM'),
    ('', 'Paris', 'correct: yes', 0.0, 'an empty prediction is never judged'),
    ('Rome', 'Paris', 'correct: yes\r\nreasoning: -', 1.0, 'CRLF: the line keeps its \\r'),
    ('Rome', 'Paris', 'The answer is correct: y', 0.0, '"y" is not "yes"'),
    ('Paris', 'Paris', 'not sure', 1.0, 'undecided, EM'),
    ('Rome', None, 'correct: yes', 0.0, 'no gold: wrong before judging'),
]


@pytest.mark.parametrize('pred,answer,verdict,expected,why', rows(VDR))
def test_vdr(pred, answer, verdict, expected, why):
    assert vdr_score(pred, answer, verdict) == expected, why


# ============================================================================================================
# SimpleQA (openai/simple-evals, simpleqa_eval.py grade_sample): the first capital A, B or C anywhere, else C
# ============================================================================================================

C_, I_, N_ = 'CORRECT', 'INCORRECT', 'NOT_ATTEMPTED'
SIMPLEQA = [
    ('A', C_, 'the letter'),
    ('B', I_, 'the letter'),
    ('C', N_, 'the letter'),
    ('a', N_, 'lower case is no match: default C'),
    ('b', N_, 'lower case'),
    ('', N_, 'empty reply'),
    ('CORRECT', N_, 'its first A/B/C is the C'),
    ('INCORRECT', N_, 'first A/B/C is the C'),
    ('NOT_ATTEMPTED', C_, 'first A/B/C is the A of ATTEMPTED'),
    ('The answer is B', I_, 'no earlier capital A/B/C'),
    ('Grade: A', C_, 'G is no grade'),
    ('B: INCORRECT', I_, 'leading B'),
    ('A: CORRECT', C_, 'leading A'),
    ('C: NOT_ATTEMPTED', N_, 'leading C'),
    ('Answer: B', C_, 'the A of Answer'),
    ('Based on the question, C', I_, 'the B of Based'),
    (' A ', C_, 'spaces'),
    ('A.', C_, 'full stop'),
    ('(B)', I_, 'parentheses'),
    ('**C**', N_, 'markdown'),
    ('D', N_, 'no A/B/C'),
    ('E', N_, 'no A/B/C'),
    ('I cannot grade this', N_, 'no capital A/B/C'),
    ('CBA', N_, 'first is C'),
    ('BAC', I_, 'first is B'),
    ('Ａ', N_, 'fullwidth A'),
    ('А', N_, 'Cyrillic A'),
    ('α', N_, 'Greek alpha'),
    ('\nA', C_, 'newline first'),
    ('The grade is: A', C_, 'T is no grade'),
    ('Correct', N_, 'capital C'),
    ('Incorrect', N_, 'no capital A/B/C'),
    ('Both A and B', I_, 'the B of Both'),
    ('ABC', C_, 'first is A'),
    ('a: CORRECT', N_, 'lower a, then the C'),
    ('b) INCORRECT', N_, 'the C in INCORRECT'),
    ('My verdict: B', I_, 'M is no grade'),
    ('OK, A', C_, 'O and K are no grades'),
    ('Arguably B', C_, 'the A of Arguably'),
    ('Certainly A', N_, 'the C of Certainly'),
    ('A' * 1000, C_, 'very long'),
    ('x' * 5000 + 'B', I_, 'very long, letter last'),
    ('1. B', I_, 'numbered'),
    ('Grade B.', I_, 'G is no grade'),
    ('GRADE: B', C_, 'the A of GRADE'),
    ('VERDICT: B', N_, 'the C of VERDICT'),
    ('HONEST ANSWER: B', C_, 'the A of ANSWER'),
    ('"B"', I_, 'quoted'),
    ('<B>', I_, 'angle brackets'),
    ('🅰', N_, 'emoji'),
    ('ⓑ', N_, 'circled letter'),
    ('bA', C_, 'capital A'),
    ('IN', N_, 'no A/B/C'),
    ('NOT ATTEMPTED', C_, 'the A of ATTEMPTED'),
    ('WRONG', N_, 'no A/B/C'),
    ('RIGHT', N_, 'no A/B/C'),
    ('YES', N_, 'no A/B/C'),
    ('NO', N_, 'no A/B/C'),
    ('FALSE', C_, 'the A of FALSE'),
    ('TRUE', N_, 'no A/B/C'),
    (None, N_, 'CRASH: re.search on None; we read no letter, C'),
]


@pytest.mark.parametrize('reply,expected,why', rows(SIMPLEQA))
def test_simpleqa_grade(reply, expected, why):
    assert simpleqa_grade(reply) == expected, why


@pytest.mark.parametrize(
    'grades,expected,why',
    rows(
        [
            ([C_, C_, I_, N_], (0.5, 0.25, 0.25, 0.75, 2 / 3, 4 / 7), 'mixed'),
            ([N_, N_], (0.0, 0.0, 1.0, 0.0, 0.0, 0.0), 'nothing attempted: accuracy given attempted 0, f1 0'),
            ([C_], (1.0, 0.0, 0.0, 1.0, 1.0, 1.0), 'all right'),
            ([I_], (0.0, 1.0, 0.0, 1.0, 0.0, 0.0), 'all wrong: f1 0'),
        ]
    ),
)
def test_simpleqa_aggregate(grades, expected, why):
    m = simpleqa_aggregate(grades)
    keys = ('is_correct', 'is_incorrect', 'is_not_attempted', 'is_given_attempted', 'accuracy_given_attempted', 'f1')
    got = tuple(m[k] for k in keys)
    assert got == pytest.approx(expected), why


# ============================================================================================================
# SimpleVQA (SimpleVQA/SimpleVQA, llm_as_a_vqa_judger.py reads the reply, simpleVQA_eval.py reads the verdict):
# None is a verdict on which the official aggregate raises (KeyError or AttributeError); UNGRADED an empty object
# ============================================================================================================

K = '"预测答案0"'
SIMPLEVQA = [
    ('{%s: "正确"}' % K, C_, 'correct'),
    ('{%s: "错误"}' % K, I_, 'incorrect'),
    ('{%s: "未尝试"}' % K, N_, 'not attempted'),
    ('```json\n{%s: "正确"}\n```' % K, C_, 'json fence removed'),
    ('```python\n{%s: "错误"}\n```' % K, I_, 'python fence removed'),
    ('{%s: "正确"' % K, C_, 'missing closing brace appended'),
    ('{%s: "**正确**"}' % K, C_, 'asterisks removed'),
    ('{%s: "正确。"}' % K, None, '3 characters, no verdict word: KeyError'),
    ('{%s: "回答正确"}' % K, N_, 'longer than 3 characters: not attempted'),
    ('{%s: "CORRECT"}' % K, N_, 'English word, 7 characters: not attempted'),
    ('{%s: "A"}' % K, None, 'a letter: KeyError'),
    ('{%s: "对"}' % K, None, 'an unknown short word'),
    ('{%s: ""}' % K, None, 'empty verdict'),
    ('{%s: {"conclusion": "正确"}}' % K, C_, 'conclusion object'),
    ('{%s: {"conclusion": "**错误**"}}' % K, I_, 'conclusion with asterisks'),
    ('{%s: {"conclusion": "回答正确"}}' % K, None, 'no length rule for a conclusion: KeyError'),
    ('{%s: {"verdict": "正确"}}' % K, None, 'no conclusion key'),
    ('{%s: {"conclusion": 1}}' % K, None, 'conclusion not a string'),
    ('{%s: 1}' % K, None, 'a number'),
    ('{%s: null}' % K, None, 'null'),
    ('{%s: ["正确"]}' % K, None, 'a list'),
    ('{}', UNGRADED, 'no verdict: counted in N, in no grade'),
    ('', None, 'empty reply: parse failure'),
    ('not json', None, 'not JSON'),
    ('正确', None, 'a bare word is not JSON'),
    ('{"a": "正确", "b": "错误"}', C_, 'the first key, whatever its name'),
    ('{"预测答案1": "错误", %s: "正确"}' % K, I_, 'the first key in order, not by name'),
    ('  {%s: "正确"}  ' % K, C_, 'stripped'),
    ('Here: {%s: "正确"}' % K, None, 'prose before the object'),
    ('{%s: "正确"}\n' % K, C_, 'trailing newline stripped'),
    ('{%s: "正确"}}' % K, None, 'extra brace'),
    ('{%s: "正确",}' % K, None, 'trailing comma'),
    ("{'预测答案0': '正确'}", None, 'single quotes'),
    ('```{%s: "错误"}```' % K, I_, 'inline fences'),
    ('```json{%s:"未尝试"}' % K, N_, 'unclosed fence, compact JSON'),
    ('{%s: "未尝试。"}' % K, N_, '4 characters: not attempted by length'),
    ('{%s: "错误。"}' % K, None, '3 characters'),
    ('{%s: "**未尝试**"}' % K, N_, 'asterisks removed'),
    ('{%s: "** 正确 **"}' % K, N_, 'spaces left: " 正确 " is 4 characters'),
    ('{%s: " 正确"}' % K, None, '" 正确" is 3 characters'),
    ('{%s: "正确", %s: "错误"}' % (K, K), I_, 'duplicate key: the last value'),
    ('{%s: "\\u6b63\\u786e"}' % K, C_, 'escaped 正确'),
    ('{%s: true}' % K, None, 'a boolean'),
    ('{%s: "Correct answer"}' % K, N_, 'long English text'),
    ('{%s: "No"}' % K, None, 'short English word'),
    ('{%s: "N/A"}' % K, None, '3 characters'),
    ('{%s: "不正确"}' % K, None, '"not correct", 3 characters: KeyError'),
    ('{%s: "不正确的"}' % K, N_, '4 characters: not attempted'),
    ('{%s: {"conclusion": "未尝试", "reason": "x"}}' % K, N_, 'extra fields ignored'),
    ('{%s: {}}' % K, None, 'empty conclusion object'),
    ('[{%s: "正确"}]' % K, None, 'a list: "}" appended, invalid'),
    ('{%s: "错误"} ```' % K, I_, 'fence after'),
    ('json\n{%s: "正确"}' % K, None, 'a bare "json" label'),
    ('{%s:"正确"}' % K, C_, 'compact'),
    ('{"x": {"conclusion": "**正确**"}}', C_, 'any key, conclusion object'),
    (None, None, 'no reply: parse failure'),
    ('{%s: "正确"} extra' % K, None, 'text after the object'),
    ('{%s: "正确\n"}' % K, None, 'raw newline inside a JSON string'),
    ('{%s: "正确\\n"}' % K, None, '"正确\\n" is 3 characters'),
    ('{%s: "錯誤"}' % K, None, 'traditional characters are other words'),
]


@pytest.mark.parametrize('reply,expected,why', rows(SIMPLEVQA))
def test_simplevqa_reply(reply, expected, why):
    assert simplevqa_reply_verdict(reply) == expected, why


@pytest.mark.parametrize(
    'grades,expected,why',
    rows(
        [
            (
                [C_] * 3 + [I_] * 3 + [N_],
                (0.4286, 0.4286, 0.1429, 0.5, 0.4286 / 0.9286),
                'shares rounded to 4 places first',
            ),
            ([C_, UNGRADED], (0.5, 0.0, 0.0, 1.0, 2 * 0.5 / 1.5), 'an empty verdict counts in N only'),
            (
                [C_, I_, I_],
                (0.3333, 0.6667, 0.0, 0.3333, 2 * 0.3333 * 0.3333 / 0.6666),
                'attempted share round(1.0, 4)',
            ),
            ([N_, N_], (0.0, 0.0, 1.0, 0.0, 0.0), 'nothing attempted: CGA 0, F 0'),
        ]
    ),
)
def test_simplevqa_aggregate(grades, expected, why):
    m = simplevqa_aggregate(grades)
    assert (m['CO'], m['IN'], m['NA'], m['CGA'], m['F']) == pytest.approx(expected), why


def test_simplevqa_aggregate_stops_on_an_unreadable_verdict():
    with pytest.raises(ValueError):
        simplevqa_aggregate([C_, None])


# ============================================================================================================
# LiveVQA (fumingyang2004/LIVEVQA, liveVQA_benchmarks/unified_benchmark.py): no gold is an error; a blank answer is
# C without judging; otherwise the stripped, upper-cased reply must be exactly A, B or C (None is an error)
# ============================================================================================================

G = ['Paris']
LIVEVQA = [  # (answer, judge reply, golds, expected, why)
    ('Paris', 'A', G, C_, 'A'),
    ('Paris', 'B', G, I_, 'B'),
    ('Paris', 'C', G, N_, 'C'),
    ('Paris', 'a', G, C_, 'upper-cased'),
    ('Paris', ' b \n', G, I_, 'stripped'),
    ('Paris', 'c\n', G, N_, 'stripped'),
    ('Paris', '\tA\t', G, C_, 'tabs stripped'),
    ('Paris', 'A\u00a0', G, C_, 'NBSP stripped'),
    ('Paris', 'A.', G, None, 'full stop: not exactly a letter'),
    ('Paris', 'Grade: A', G, None, 'prose'),
    ('Paris', 'CORRECT', G, None, 'the word, not the letter'),
    ('Paris', 'INCORRECT', G, None, 'the word'),
    ('Paris', 'NOT_ATTEMPTED', G, None, 'the word'),
    ('Paris', '', G, None, 'empty reply'),
    ('Paris', '  ', G, None, 'blank reply'),
    ('Paris', None, G, None, 'the call failed'),
    ('Paris', 'AB', G, None, 'two letters'),
    ('Paris', 'A B', G, None, 'two letters'),
    ('Paris', 'AA', G, None, 'repeated'),
    ('Paris', '"A"', G, None, 'quoted'),
    ('Paris', '(A)', G, None, 'parenthesised'),
    ('Paris', 'A)', G, None, 'bracket'),
    ('Paris', 'A:', G, None, 'colon'),
    ('Paris', 'Ａ', G, None, 'fullwidth A'),
    ('Paris', 'ａ', G, None, 'fullwidth a upper-cases to Ａ'),
    ('Paris', 'ä', G, None, 'Ä is no grade'),
    ('Paris', 'ß', G, None, 'upper-cases to SS'),
    ('Paris', 'b.', G, None, 'full stop'),
    ('Paris', 'A\nB', G, None, 'two lines'),
    ('Paris', 'C: NOT_ATTEMPTED', G, None, 'letter and word'),
    ('Paris', 'D', G, None, 'not a grade'),
    ('Paris', '1', G, None, 'not a grade'),
    ('Paris', 'A\u200b', G, None, 'zero-width space kept'),
    ('Paris', 'Answer A', G, None, 'prose'),
    ('Paris', '\nB\n', G, I_, 'newlines stripped'),
    ('Paris', 'B\r\n', G, I_, 'CRLF stripped'),
    ('Paris', ' C ', G, N_, 'spaces stripped'),
    ('Paris', 'a\n', G, C_, 'lower case and newline'),
    ('', 'A', G, N_, 'empty answer: C without judging'),
    ('   ', 'B', G, N_, 'blank answer'),
    (None, 'A', G, N_, 'no answer'),
    ('\n\t', None, G, N_, 'blank answer: the judge is never asked'),
    ('\u3000', 'A', G, N_, 'ideographic space is whitespace'),
    ('\u00a0', 'B', G, N_, 'NBSP is whitespace'),
    ('\u2003', 'A', G, N_, 'em space is whitespace'),
    ('\u200b', 'A', G, C_, 'zero-width space is not whitespace: judged'),
    ('0', 'A', G, C_, 'the answer "0" is not blank'),
    ('None', 'C', G, N_, 'the string "None" is an answer'),
    ('x' * 10000, 'B', G, I_, 'very long answer'),
    ('Paris', 'A', [], None, 'no gold: an error'),
    ('', 'A', [], None, 'no gold: an error even for a blank answer'),
    ('Paris', 'A', ['Paris', 'Paname'], C_, 'several golds'),
    ('Paris', 'B', None, I_, 'golds not given: judged'),
    ('Paris', 'b', G, I_, 'lower b'),
    ('Paris', 'c', G, N_, 'lower c'),
    ('Paris', '\x0bA', G, C_, 'vertical tab stripped'),
    ('Paris', 'A ', G, C_, 'trailing space'),
    ('Paris', 'B\t', G, I_, 'trailing tab'),
    ('Paris', 'Ｃ', G, None, 'fullwidth C'),
    ('Paris', 'CC', G, None, 'repeated'),
    ('Paris', 'ABC', G, None, 'all letters'),
]


@pytest.mark.parametrize('answer,reply,golds,expected,why', rows(LIVEVQA))
def test_livevqa_grade(answer, reply, golds, expected, why):
    assert livevqa_grade(answer, reply, golds) == expected, why


@pytest.mark.parametrize(
    'grades,expected,why',
    rows(
        [
            ([C_, C_, I_, N_, None], (2, 1, 1, 1, 2 / 3 * 100, 2 / 4 * 100), 'errors left out of both accuracies'),
            ([N_, N_], (0, 0, 2, 0, 0.0, 0.0), 'no A or B: A/(A+B) is 0'),
            ([None, None], (0, 0, 0, 2, 0.0, 0.0), 'only errors'),
            ([C_], (1, 0, 0, 0, 100.0, 100.0), 'one right'),
            ([C_, I_, I_], (1, 2, 0, 0, 1 / 3 * 100, 1 / 3 * 100), '(A/n)*100 as the official code computes it'),
            ([C_, N_], (1, 0, 1, 0, 100.0, 50.0), 'C counts only in A/(A+B+C)'),
        ]
    ),
)
def test_livevqa_aggregate(grades, expected, why):
    m = livevqa_aggregate(grades)
    assert (m['A'], m['B'], m['C'], m['errors'], m['acc_AB'], m['acc_ABC']) == expected, why


def test_livevqa_harness_checks_the_item_before_the_answer(tmp_path):
    "An item without gold (or image) is an error even when the answer is blank; a blank answer is C unjudged."
    from mmsearch.realbench import load_real, score_real

    rows_ = [
        dict(
            id=1,
            img_path='a.jpg',
            level1_qa=dict(question='Who?', Ground_Truth_List=[]),
            level2_qa=dict(question='Where?', Ground_Truth_List=['Paris'], img_path=''),
        ),
        dict(id=2, img_path='b.jpg', level1_qa=dict(question='Who?', Ground_Truth_List=['X'])),
    ]
    (tmp_path / 'benchmark.json').write_text(json.dumps(rows_))
    items = load_real(tmp_path / 'benchmark.json')
    assert [it['image'] for it in items] == [str(tmp_path / 'a.jpg'), None, str(tmp_path / 'b.jpg')]  # '' is no image
    assert items[0]['meta']['question_type'] == 'unknown_type'

    class NoJudge:
        def ask(self, *a):
            raise AssertionError('a blank answer or a broken item is never judged')

        def name(self, spec):
            return 'none'

    r = score_real({'1_level1': '', '1_level2': '', '2_level1': ' '}, items, 'livevqa', NoJudge())
    assert (r['errors'], r['C'], r['acc_ABC']) == (2, 1, 0.0)


# ============================================================================================================
# BrowseComp-VL (Alibaba-NLP/DeepResearch, WebAgent/WebWatcher/infer/evaluation/evaluate_hle_official.py): the
# judge's reply must fit the ExtractedAnswer schema (pydantic, lax); right iff correct == "yes"; None is dropped
# ============================================================================================================


def J(correct='"yes"', **kw):
    f = dict(extracted_final_answer='"Paris"', reasoning='"same city"', correct=correct, confidence='90', strict='true')
    f.update(kw)
    return '{' + ', '.join(f'"{k}": {v}' for k, v in f.items() if v is not None) + '}'


BCVL = [  # (judge reply, expected, why)
    (J(), True, 'yes'),
    (J('"no"'), False, 'no'),
    (J('"Yes"'), None, 'the schema allows only "yes" and "no"'),
    (J('"YES"'), None, 'upper case'),
    (J('"y"'), None, '"y" is outside the schema (the acc check would accept it)'),
    (J('"true"'), None, 'outside the schema'),
    (J('true'), None, 'a boolean'),
    (J('"yes "'), None, 'trailing space'),
    (J('" yes"'), None, 'leading space'),
    (J('"positive"'), None, 'outside the schema'),
    (J('"maybe"'), None, 'outside the schema'),
    (J('null'), None, 'null'),
    (J(correct=None), None, 'correct missing'),
    (J('"no"', confidence='"90"'), False, 'lax: "90" is an int'),
    (J(confidence='90.0'), True, 'lax: 90.0 is an int'),
    (J(confidence='90.5'), None, '90.5 is not'),
    (J(confidence='"abc"'), None, 'not a number'),
    (J(confidence='-5'), True, 'any int'),
    (J(confidence='true'), True, 'lax: true is 1'),
    (J(confidence=None), None, 'confidence missing'),
    (J(strict='1'), True, 'lax literal: 1 == True'),
    (J(strict='false'), None, 'strict must be true'),
    (J(strict='"true"'), None, 'a string is not true'),
    (J(strict=None), None, 'strict missing'),
    (J(extracted_final_answer='5'), None, 'answer must be a string'),
    (J(extracted_final_answer='null'), None, 'null answer'),
    (J(extracted_final_answer=None), None, 'answer missing'),
    (J(reasoning='null'), None, 'reasoning null'),
    (J(reasoning=None), None, 'reasoning missing'),
    (J(extracted_final_answer='"None"'), True, 'the answer "None" is a string'),
    (J(extra='1'), True, 'extra fields ignored'),
    (J(reasoning='"' + 'x' * 20000 + '"'), True, 'very long reasoning'),
    (J(extracted_final_answer='""'), True, 'empty answer string'),
    ('```json\n' + J() + '\n```', True, 'DEVIATION: fenced JSON is read (structured output never fences)'),
    ('Verdict: ' + J('"no"') + ' done', False, 'DEVIATION: prose around the object is read'),
    ('correct: yes', None, 'no JSON object'),
    ('', None, 'empty reply'),
    (None, None, 'the call failed'),
    ('{"correct": "yes"}', None, 'only one field of the schema'),
    ('{', None, 'broken JSON'),
    ('{}', None, 'empty object'),
    ('[' + J() + ']', True, 'DEVIATION: the object inside a list is read'),
    (J() + J('"no"'), None, 'two objects: not one JSON value'),
    (J().replace('"yes"', "'yes'"), None, 'single quotes are not JSON'),
    (J().replace('}', ',}'), None, 'trailing comma'),
    (J('"\\u0079es"'), True, 'escaped y'),
    (J('"yes"', confidence='1e2'), True, 'lax: 1e2 = 100.0 is an int'),
    (J('"no"', strict='1.0'), False, 'lax literal: 1.0 == True'),
    (J(confidence='"90.0"'), True, 'lax: "90.0" is an int'),
    (J(confidence='"90.5"'), None, 'not an integer'),
    (J(confidence='9999999999999'), True, 'large int'),
    (J('"no"', extracted_final_answer='"1200 people"'), False, 'no'),
    (J('"yes"', reasoning='""'), True, 'empty reasoning'),
    (J('"yes"', confidence='"  90  "'), True, 'lax: spaces around a numeric string'),
    (J('"no"', strict='0'), None, '0 is not true'),
    (J('"yes"', strict='2'), None, '2 is not true'),
    (J('"no"').replace(', ', ',\n  '), False, 'multi-line JSON'),
    ('\ufeff' + J(), True, 'DEVIATION: a BOM before the object is skipped'),
    (J('"yes"', confidence='[]'), None, 'a list is not an int'),
    (J('"no"', reasoning='["a"]'), None, 'a list is not a string'),
    (J('"yes"', extracted_final_answer='{"a": 1}'), None, 'an object is not a string'),
]


@pytest.mark.parametrize('reply,expected,why', rows(BCVL))
def test_bcvl_verdict(reply, expected, why):
    assert bcvl_verdict(reply) == expected, why


@pytest.mark.parametrize(
    'verdicts,expected,why',
    rows(
        [
            ([True, False, None, True], (4, 3, 1, 2 / 3), 'unreadable verdicts are dropped'),
            ([None, None], (2, 0, 2, 0.0), 'no verdict at all: 0'),
            ([True], (1, 1, 0, 1.0), 'one right'),
            ([False, False, True], (3, 3, 0, 1 / 3), 'a third'),
        ]
    ),
)
def test_bcvl_aggregate(verdicts, expected, why):
    m = bcvl_aggregate(verdicts)
    assert (m['n'], m['n_judged'], m['unreadable'], m['accuracy']) == pytest.approx(expected), why


def test_every_benchmark_has_at_least_60_cases():
    counts = dict(
        infoseek=len(INFOSEEK) + len(INFOSEEK_AGG),
        mmsearch=len(MMSEARCH),
        mmsearch_r1_fvqa=len(R1) + len(FVQA_EM),
        search_r1=len(SEARCH_R1),
        vdr=len(VDR),
        simpleqa=len(SIMPLEQA),
        simplevqa=len(SIMPLEVQA),
        livevqa=len(LIVEVQA),
        bcvl=len(BCVL),
    )
    assert min(counts.values()) >= 60, counts
