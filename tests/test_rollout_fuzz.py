"""Fuzzed model outputs never crash the rollout loop: each gets a clear error observation, and episodes continue or stop
by the 3-error rule."""

import json, random, string
import pytest
from mmsearch.world import World
from mmsearch.bench import load_benchmark
from mmsearch.search import serve
from mmsearch.tools import ToolContext, is_error
from mmsearch.rollout import rollout, RolloutConfig, ScriptedPolicy, FORMAT_ERROR

STOPS = {'answer', 'errors', 'max_turns', 'repetition', 'context'}


@pytest.fixture(scope='module')
def env(smoke_world):
    root = smoke_world(3)
    with serve(root) as url:
        yield dict(
            root=root,
            world=World.load(root),
            ctx=ToolContext.local(url, budget=40),
            item=load_benchmark(root, 'vdr', 'testmini')[0],
            text_item=load_benchmark(root, 'textqa', 'test')[0],
        )


def call(name, **args):
    return '<tool_call>\n' + json.dumps({'name': name, 'arguments': args}) + '\n</tool_call>'


def run(env, outputs, item=None, **cfg):
    return rollout(
        ScriptedPolicy(outputs), [item or env['item']], env['ctx'], cfg=RolloutConfig(**{'max_turns': 8, **cfg})
    )[0]


def observations(t):
    "The observation the model saw after each step."
    return [(s['error'] or '\n'.join(c['observation'] for c in s['calls'])) for s in t.steps]


CASES = {  # fuzzed output -> what its observation must say
    'random text': (lambda r: ''.join(r.choice(string.printable) for _ in range(300)), 'Invalid content format'),
    'broken json': (
        lambda r: '<tool_call>{"name": "text_search", "arguments": {"query": ["x"]</tool_call>',
        'Json Parse Error',
    ),
    'unclosed call': (lambda r: '<think>x</think><tool_call>{"name": "visit"', 'never closed'),
    'not an object': (lambda r: '<tool_call>["text_search"]</tool_call>', 'must be a JSON object'),
    'unknown tool': (lambda r: call('python', code='print(1)'), "unknown tool 'python'"),
    'wrong arguments': (lambda r: call('visit', link='https://wiki.example/x'), 'unexpected arguments'),
    'missing arguments': (lambda r: call('text_search'), 'missing required arguments'),
    'args not object': (
        lambda r: '<tool_call>{"name": "visit", "arguments": [1, 2]}</tool_call>',
        'must be a JSON object',
    ),
    'out of range box': (lambda r: call('crop_and_search', bbox=[[0, 0, 1500, 900]], goal='g'), 'out of range'),
    'negative box': (lambda r: call('crop_and_search', bbox=[[-10, 0, 100, 900]], goal='g'), 'out of range'),
    'inverted box': (lambda r: call('crop_and_search', bbox=[[800, 100, 200, 900]], goal='g'), 'inverted'),
    'degenerate box': (lambda r: call('crop_and_search', bbox=[[100, 100, 100, 900]], goal='g'), 'inverted'),
    'tiny box': (lambda r: call('crop_and_search', bbox=[[100, 100, 105, 900]], goal='g'), 'too small'),
    'three numbers': (lambda r: call('crop_and_search', bbox=[[1, 2, 3]], goal='g'), 'four numbers'),
    'box of strings': (lambda r: call('crop_and_search', bbox=[['a', 'b', 'c', 'd']], goal='g'), 'four numbers'),
    'box is a string': (lambda r: call('crop_and_search', bbox='the top left', goal='g'), 'list of boxes'),
    'too many boxes': (
        lambda r: call('crop_and_search', bbox=[[0, 0, 500, 500]] * 50, goal='g'),
        '50 boxes in one call',
    ),
    'empty boxes': (lambda r: call('crop_and_search', bbox=[], goal='g'), 'non-empty list'),
    'too many queries': (lambda r: call('text_search', query=[f'q{i}' for i in range(40)]), '40 queries in one call'),
    'empty query': (lambda r: call('text_search', query=['']), 'non-empty string'),
    'query not list': (lambda r: call('text_search', query={'a': 1}), 'non-empty list of strings'),
    'unknown url': (lambda r: call('visit', url='https://wiki.example/Nowhere_At_All', goal='g'), 'could not open'),
    'file url': (lambda r: call('visit', url='file:///etc/passwd', goal='g'), 'only http(s)'),
    'url not string': (lambda r: call('visit', url=12, goal='g'), 'non-empty string'),
    '1000 calls in one turn': (
        lambda r: ''.join(call('text_search', query=[f'q{i}']) for i in range(1000)),
        '1000 tool calls in one turn',
    ),
    'huge argument': (lambda r: call('text_search', query=['x' * 50000]), 'too long'),
    'huge many queries': (lambda r: call('text_search', query=['word ' * 2000] * 5), 'too long'),
    'deep nesting': (lambda r: '<tool_call>' + '[' * 5000 + ']' * 5000 + '</tool_call>', 'Json Parse Error'),
    'null bytes': (lambda r: '<tool_call>\x00\x01{"name"}</tool_call>', 'Json Parse Error'),
    'empty output': (lambda r: '', 'Invalid content format'),
}


@pytest.mark.parametrize('case', list(CASES))
def test_each_fuzz_case_gets_a_clear_error_and_three_stop(env, case):
    make, expect = CASES[case]
    r = random.Random(case)
    t = run(env, [make(r)] * 3)
    assert t.termination == 'errors', (case, t.termination)
    assert len(t.steps) == 3
    obs = observations(t)
    assert all(expect in o for o in obs), (case, obs[0][:300])
    assert all(o.startswith(('Error', '[Json Parse Error]', 'Bbox')) or 'Error:' in o for o in obs)
    assert t.answer is None


def test_an_error_then_a_good_call_continues(env):
    good = call('text_search', query=['tower'])
    outs = [
        CASES['broken json'][0](None),
        CASES['out of range box'][0](None),
        good,
        CASES['unknown tool'][0](None),
        CASES['random text'][0](random.Random(0)),
        '<answer>Kelbra</answer>',
    ]
    t = run(env, outs)
    assert t.termination == 'answer' and t.answer == 'Kelbra'
    assert [s['kind'] for s in t.steps] == ['tool_error', 'tool', 'tool', 'tool', 'format_error', 'answer']
    assert [c['ok'] for c in t.tool_calls] == [False, True, False]


def test_mixed_good_and_bad_boxes_is_not_an_error(env):
    t = run(
        env,
        [
            call('crop_and_search', bbox=[[0, 0, 500, 500], [0, 0, 5000, 5], [900, 100, 100, 200]], goal='g'),
            '<answer>a</answer>',
        ],
    )
    obs = t.steps[0]['calls'][0]['observation']
    assert (
        not is_error(obs)
        and 'out of range' in obs
        and 'inverted' in obs
        and 'The search results for bbox [0, 0, 500, 500]' in obs
    )
    assert t.steps[0]['calls'][0]['boxes'] == [[0, 0, 500, 500]]
    assert t.termination == 'answer'


def test_image_tools_on_a_text_question(env):
    t = run(
        env,
        [call('image_search'), call('crop_and_search', bbox=[[0, 0, 500, 500]], goal='g'), call('image_search')],
        item=env['text_item'],
    )
    assert t.termination == 'errors' and all('has no image' in o for o in observations(t))


def test_per_episode_call_budget(env):
    t = run(env, [call('text_search', query=['tower'])] * 6, max_tool_calls=2, max_turns=10)
    oks = [c['ok'] for c in t.tool_calls]
    assert oks[:2] == [True, True] and t.termination == 'errors' and len(t.steps) == 5
    assert 'budget of 2 tool calls' in observations(t)[2]


def test_search_engine_budget(env):
    ctx = ToolContext.local(env['ctx'].backend.base_url, budget=1)
    t = rollout(
        ScriptedPolicy([call('text_search', query=['a', 'b'])] * 4), [env['item']], ctx, cfg=RolloutConfig(max_turns=8)
    )[0]
    assert 'budget exhausted' in observations(t)[0] and t.termination == 'errors'


def test_random_fuzz_batch_never_crashes(env):
    "Many episodes at once, each a random mix of all fuzz cases and good calls."
    good = [
        call('text_search', query=['tower']),
        call('image_search'),
        call('crop_and_search', bbox=[[100, 100, 600, 600]], goal='g'),
        '<answer>x</answer>',
    ]
    makers = [m for m, _ in CASES.values()]

    def pol(msgs, item):
        k = sum(m['role'] == 'assistant' for m in msgs)
        rr = random.Random(hash((item['_seed'], k)))
        return rr.choice(good) if rr.random() < 0.3 else rr.choice(makers)(rr)

    items = [dict(env['item'], id=f'fuzz{i}', _seed=i) for i in range(24)]
    ts = rollout(ScriptedPolicy(pol), items, env['ctx'], cfg=RolloutConfig(max_turns=10))
    assert len(ts) == 24 and all(t.termination in STOPS for t in ts)
    for t in ts:
        errs = 0
        for s in t.steps:  # the 3-error rule holds step by step
            bad = s['kind'] in ('format_error', 'tool_error') or (
                s['kind'] == 'tool' and not all(c['ok'] for c in s['calls'])
            )
            errs = errs + 1 if bad else 0
            assert errs <= 3
        if t.termination == 'errors':
            assert errs == 3


def test_a_raising_tool_is_an_error_observation_not_a_crash(env):
    "The loop catches nothing itself: call_tool turns any exception of a tool into an `Error:` observation."
    import functools
    from mmsearch.tools import SearchEnv

    class Raising(SearchEnv):
        @functools.wraps(SearchEnv.text_search)
        def text_search(self, query: list[str]) -> str:
            errors = {'value': ValueError('bad input'), 'key': KeyError('x'), 'recursion': RecursionError('deep')}
            raise errors[query[0]]

    ctx = ToolContext.local(env['ctx'].backend.base_url, budget=8, env_cls=Raising)
    outs = [call('text_search', query=[k]) for k in ('value', 'key', 'recursion')]
    t = rollout(ScriptedPolicy(outs), [env['item']], ctx, cfg=RolloutConfig(max_turns=8))[0]
    assert observations(t) == [
        'Error: the tool failed (ValueError: bad input)',
        "Error: the tool failed (KeyError: 'x')",
        'Error: the tool failed (RecursionError: deep)',
    ]
    assert t.termination == 'errors' and all(is_error(o) for o in observations(t))
    t = rollout(ScriptedPolicy([outs[0], '<answer>x</answer>']), [env['item']], ctx, cfg=RolloutConfig(max_turns=8))[0]
    assert t.termination == 'answer' and t.answer == 'x'


def test_repetition_stops(env):
    t = run(env, ['I will search now. ' * 40])
    assert t.termination == 'repetition' and len(t.steps) == 1
    t = run(env, ['hmm ' * 10])  # short babble is a format error, not repetition
    assert t.steps[0]['kind'] == 'format_error'


def test_hallucinated_tool_response_is_dropped(env):
    t = run(env, ['<tool_response>the answer is 42</tool_response><answer>42</answer>'] * 3)
    assert t.termination == 'errors' and FORMAT_ERROR in observations(t)[0]
