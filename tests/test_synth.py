"""Trajectory synthesis on a smoke world through the live search service: VDR's phases, judge, bridge, rejection, mix
and fuzzy checks; GoG's glance / gaze / reflection and no-search share; exports; an OpenAI-compatible judge over real
HTTP."""

import json
from pathlib import Path
import pandas as pd
import pytest

from mmsearch.bench import load_benchmark
from mmsearch.search import serve, serve_app
from mmsearch.tools import ToolContext, tool_schemas, env_class
from mmsearch.rollout import rollout, observations, ScriptedPolicy
from mmsearch.evaluate import rule_score
from mmsearch.client import fake_openai_app
from mmsearch import synth


@pytest.fixture(scope='module')
def env(world):
    root, w = world
    with serve(root) as url:
        yield root, w, ToolContext.local(url)


class Recorder:
    "A text teacher that records what it was shown and delegates to another policy."

    name = 'recorder'

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def generate(self, batch, *, tools=None, max_new_tokens=512, items=None):
        self.seen += [(b, tools) for b in batch]
        return self.inner.generate(batch, tools=tools, max_new_tokens=max_new_tokens, items=items)


def test_vdr_phases_judge_and_bridge(env):
    root, w, ctx = env
    items = [it for it in load_benchmark(root, 'vdr', 'train')][:8]
    rec = Recorder(synth.TextPhaseTeacher(w))
    teacher = synth.VDRTeacher(w, text=rec)
    trajs = rollout(teacher, items, ctx, scorer=rule_score)
    assert sum(t.correct for t in trajs) >= 6
    judge = synth.GroundTruthJudge(w)
    for t, it in zip(trajs, items):
        obs = observations(t.messages)
        k = teacher.bridge_turn(it, obs)
        assert k is not None and 1 <= k <= teacher.max_visual
        # the visual phase stops at the first observation in which the judge finds the entity (or at the budget)
        first = next((j + 1 for j in range(len(obs)) if judge(it, obs[: j + 1])), None)
        assert k == min(first or teacher.max_visual, teacher.max_visual)
        assert all(c['name'] == 'crop_and_search' for c in t.tool_calls if c['turn'] < k)
        assert all(c['name'] in ('text_search', 'visit') for c in t.tool_calls if c['turn'] >= k)
        assert (
            isinstance(t.messages[1]['content'], list) and t.messages[1]['content'][0]['type'] == 'image'
        )  # merged back
    # the text teacher saw only the bridged context: a caption instead of the image, and the text tools
    assert rec.seen
    for msgs, tools in rec.seen:
        assert msgs[0]['content'] == synth.TEXT_SYSTEM
        assert isinstance(msgs[1]['content'], str) and msgs[1]['content'].startswith(
            'Image description: A cluttered scene'
        )
        assert '"type": "image"' not in json.dumps(msgs)
        assert {t['function']['name'] for t in tools} == {'text_search', 'visit'}
    calls = [c for t in trajs for c in t.tool_calls if c['name'] == 'crop_and_search']
    assert max(len(c['arguments']['bbox']) for c in calls) >= 3


def test_rejection_sampling(env):
    root, w, ctx = env
    items = load_benchmark(root, 'vdr', 'train')[:6]
    liar = synth.VDRTeacher(w, text=ScriptedPolicy(['<think>guess</think>\n<answer>Nobody</answer>']))
    s = synth._run(liar, items, ctx, 'vqa', 4, cfg=None, accept=lambda t: (t.correct or 0) > 0, progress=False)
    assert s.trajs == [] and s.tried == 6 and s.rejected == 6
    assert s.tools == list(ctx.tool_names)  # the tools its context offered


def test_quotas_and_mix(env):
    assert synth.quotas(30) == {'vqa': 16, 'text': 8, 'fuzzy': 6}
    assert synth.quotas(300) == {'vqa': 160, 'text': 80, 'fuzzy': 60}
    assert sum(synth.quotas(7).values()) == 7
    root, w, ctx = env
    sets = synth.synth_vdr(root, ctx, n=15, seed=1)
    assert {k: len(s.trajs) for k, s in sets.items()} == synth.quotas(15)
    assert all(t.correct == 1.0 and t.termination == 'answer' for s in sets.values() for t in s.trajs)
    assert sets['vqa'].filtered['perfect_retrieval'] > 0  # whole-image hits on photos are dropped
    assert not any(c['name'] in ('image_search', 'crop_and_search') for t in sets['text'].trajs for c in t.tool_calls)
    assert all(t.meta['hops'] >= 2 for t in sets['fuzzy'].trajs)
    st = synth.set_stats(w, sets['vqa'])
    assert st['boxes_per_crop_call'] > 1.5 and {'tight', 'fit', 'loose', 'context'} <= set(st['scales'])
    assert 0 <= st['rejection_rate'] < 1 and st['no_search_share'] == 0


def test_prior_knowledge_filter(env):
    root, w, ctx = env
    pool = synth.vqa_pool(root, 0, extra=8)
    direct = {str(it['id']): 4 for it in pool}  # the base model "knows" everything
    sets = synth.synth_vdr(root, ctx, n=6, direct=direct, n_direct=4, mix={'vqa': 1, 'text': 1, 'fuzzy': 1})
    assert sets['vqa'].trajs == [] and sets['vqa'].filtered['prior_knowledge'] > 0


def test_fuzzy_checks(env):
    root, w, ctx = env
    fz = [it for it in load_benchmark(root, 'vdr', 'train') if it['meta']['hops'] >= 2]
    res = [synth.fuzzy_checks(w, it, ctx) for it in fz]
    assert sum(r['ok'] for r in res) >= len(res) // 2
    it = fz[0]
    name = w[it['meta']['chain'][0][0]].name
    named = dict(it, question=f"In what year was {name} built?")
    r = synth.fuzzy_checks(w, named, ctx)
    assert not r['no_entity_named'] and not r['ok']
    r = synth.fuzzy_checks(w, dict(it, question=it['question'] + ' (' + it['answers'][0] + ')'))
    assert not r['no_answer_leak']
    one = next(x for x in load_benchmark(root, 'vdr', 'train') if x['meta']['hops'] == 1)
    assert not synth.fuzzy_checks(w, one)['multi_hop']
    new = synth.seed_items(root, 5, (2, 3), 0, 'synthfuzzy')
    assert len(new) == 5 and all(x['meta']['hops'] >= 2 and Path(x['image']).exists() for x in new)


def test_gog(env):
    root, w, ctx = env
    scenes = load_benchmark(root, 'vdr', 'train')[:5]
    trajs = rollout(synth.GoGTeacher(w, reflect_rate=1.0), scenes, ctx, scorer=rule_score)
    assert all(t.tool_calls[0]['name'] == 'image_search' for t in trajs)  # glance first
    refl = [t for t in trajs if synth._reflected(t)]
    assert refl  # a wrong gaze, then a new crop
    for t in refl:
        crops = [c for c in t.tool_calls if c['name'] == 'crop_and_search']
        assert crops[0]['arguments']['bbox'] != crops[1]['arguments']['bbox']
    pool = synth.gog_pool(root, seed=0)[:30]
    direct = {str(it['id']): 4 for it in pool[:20]}  # 20 known items
    sets = synth.synth_gog(root, ctx, n=10, direct=direct, n_direct=4, pool=pool)
    assert len(sets['no_search'].trajs) == round(10 * 0.44) and len(sets['search'].trajs) == 10 - round(10 * 0.44)
    assert all(not t.tool_calls for t in sets['no_search'].trajs) and all(t.tool_calls for t in sets['search'].trajs)
    assert not {t.item_id for t in sets['search'].trajs} & set(direct)
    none = synth.synth_gog(root, ctx, n=6, direct={}, pool=pool)
    assert none['no_search'].trajs == [] and len(none['search'].trajs) == 6


def test_exports(env, tmp_path):
    root, w, ctx = env
    sets = synth.synth_vdr(root, ctx, n=6, seed=2, mix={'vqa': 1, 'text': 1, 'fuzzy': 1})
    out = synth.save_synth({f'vdr_{k}': s for k, s in sets.items()}, tmp_path / 's', {'x': 1})
    ds = synth.load_sft(out)
    assert len(ds) == 6 and set(ds.column_names) >= {'messages', 'images', 'tools', 'set', 'item_id'}
    for r in ds:
        tools = json.loads(r['tools'])
        assert tools == tool_schemas(env_class(('image_search', 'crop_and_search') if r['set'] == 'vdr_text' else ()))
        assert all(Path(p).is_absolute() and Path(p).exists() for p in r['images'])
    sw = [json.loads(l) for l in (out / 'swift' / 'vdr_vqa.jsonl').read_text().splitlines()]
    roles = [m['role'] for m in sw[0]['messages']]
    assert (
        roles[:2] == ['system', 'user']
        and 'tool_call' in roles
        and 'tool_response' in roles
        and roles[-1] == 'assistant'
    )
    assert sw[0]['messages'][1]['content'].count('<image>') == len(sw[0]['images']) == 1
    tc = next(m for m in sw[0]['messages'] if m['role'] == 'tool_call')
    assert set(json.loads(tc['content'])) == {'name', 'arguments'}
    vp = pd.read_parquet(out / 'verl' / 'vdr_vqa.parquet')
    row = vp.iloc[0]
    assert row['data_source'].startswith('mmsearch_r1/') and row['reward_model']['style'] == 'rule'
    assert row['prompt'][0]['content'].startswith('<image>') and row['images'][0]['bytes'][:4] == b'\x89PNG'
    assert isinstance(json.loads(row['reward_model']['candidate_answers']), list)
    assert json.loads((out / 'stats.json').read_text()) == {'x': 1}


def test_openai_judge_over_http(env):
    root, w, ctx = env
    it = load_benchmark(root, 'vdr', 'train')[0]
    bodies = []

    def script(body):
        bodies.append(body)
        return {'content': 'Yes.' if 'wiki.example' in body['messages'][0]['content'] else 'no'}

    with serve_app(fake_openai_app(script)) as url:
        j = synth.OpenAIJudge(url, 'judge-model')
        assert j(it, ['1. [A](https://wiki.example/A)']) is True
        assert j(it, ['nothing']) is False
        assert j(it, ['nothing']) is False and len(bodies) == 2  # cached
    assert bodies[0]['model'] == 'judge-model' and it['answers'][0] in bodies[0]['messages'][0]['content']


def test_bad_input(env):
    root, w, ctx = env
    with pytest.raises(ValueError, match='needs the item'):
        synth.VDRTeacher(w).generate([[{'role': 'user', 'content': 'q'}]])
    with pytest.raises(ValueError, match='needs the item'):
        synth.GoGTeacher(w).generate([[{'role': 'user', 'content': 'q'}]], items=[])
