"""Floor experiment: λ/p chosen on held-out items only, every method × benchmark × category cell, verdicts, direct
answers, real OBM merges."""

import json, os
from pathlib import Path
import numpy as np
import pytest, torch
import mmsearch.floor as floor
import mmsearch.merge as merge
from mmsearch.evaluate import EvalResult, select_items, evaluate
from mmsearch.floor import (
    FloorConfig,
    FLOOR_METHODS,
    BASELINES,
    CATEGORIES,
    run_floor,
    floor_verdicts,
    heldout_split,
    DirectAnswerPolicy,
    baseline_policy,
    merge_config,
    calibration_items,
    calibration_stats,
    ensure_merge,
    setting_name,
)
from mmsearch.rollout import Trajectory, RolloutConfig

torch.set_num_threads(2)
os.environ.setdefault('HF_HUB_OFFLINE', '1')


class _Stub:
    def __init__(self, name):
        self.name = name


def _fake_eval(calls, good_heldout: str, good_test: str):
    "An `evaluate` stand-in: items are the real seeded selection; a policy named with 'good' answers right, searches."

    def fake(
        policy, world_dir, bench, split, *, n=None, seed=0, exclude_tools=(), cfg=None, out=None, exclude_ids=(), **kw
    ):
        items = select_items(world_dir, bench, split, n, seed, exclude_ids)
        calls.append(
            dict(
                policy=policy.name,
                bench=bench,
                split=split,
                ids=[str(it['id']) for it in items],
                exclude=tuple(exclude_tools or ()),
            )
        )
        good = (good_heldout if split == 'train' else good_test) in policy.name
        trajs = [
            Trajectory(
                item_id=str(it['id']),
                question=it['question'],
                meta=it['meta'],
                correct=float(good),
                tool_calls=[{'name': 'text_search', 'arguments': {}}] if good else [],
            )
            for it in items
        ]
        from mmsearch.evaluate import summarise

        return EvalResult(trajs, None, dict(summarise(trajs), tools=['x']))

    return fake


@pytest.fixture
def spied(world_dir, tmp_path, monkeypatch):
    "run_floor with evaluation, policies, merges and OBM statistics as recorders; real world, real item selection."
    calls, merges = [], []
    monkeypatch.setattr(floor, 'evaluate', _fake_eval(calls, good_heldout='-l0.5', good_test='-l1'))
    monkeypatch.setattr(floor, 'load_policy', lambda path, **kw: _Stub(Path(path).name))
    excluded = []

    def fake_stats(zoo, w, k, seed=0, root=None, base_url=None, gram=False):
        excluded.append(k)
        g = 'g' if gram else ''
        return {'vlm': Path(f'sv{k}{g}'), 'agent': Path(f'sa{k}{g}')}

    monkeypatch.setattr(floor, 'calibration_stats', fake_stats)

    def fake_merge(cfg, out, **kw):
        merges.append(cfg)
        Path(out).mkdir(parents=True, exist_ok=True)
        for f in ('config.json', 'merge_manifest.json'):
            (Path(out) / f).write_text('{}')
        return Path(out)

    monkeypatch.setattr(floor, 'run_merge', fake_merge)
    monkeypatch.setattr(floor, 'weights_hash', lambda path: f'hash of {path}')
    zoo = {'base': 'B', 'vlm': str(tmp_path / 'vlm-model'), 'agent': 'S', 'root': tmp_path / 'zoo'}
    fc = FloorConfig(
        n=6,
        n_heldout=6,
        lams=(0.5, 1.0),
        ps=(0.3, 0.7),
        calib_n=4,
        calib_sizes=(2,),
        saliencies=('diag', 'obs'),
        max_turns=1,
        max_new_tokens=4,
        sweep_methods=tuple(FLOOR_METHODS),
    )
    m = run_floor(
        zoo,
        world_dir,
        tmp_path / 'work',
        fc,
        base_url='http://127.0.0.1:9',
        log=lambda s: None,
        merge_root=tmp_path / 'merges',
    )
    return m, calls, merges, fc, excluded


def test_lambda_p_chosen_on_heldout_items_only(spied, world_dir):
    m, calls, merges, fc, excluded = spied
    # held-out accuracy is best at λ = 0.5 and test accuracy at λ = 1: a selection that peeked would pick λ = 1
    assert {k: v['lam'] for k, v in m['chosen'].items()} == {k: 0.5 for k in FLOOR_METHODS}
    sweep_calls = [c for c in calls if c['split'] == 'train']
    assert len(sweep_calls) == len(m['sweep']) == 2 + 3 * 2 * 2
    assert all(c['bench'] == 'fvqa' for c in sweep_calls)
    first_test = next(i for i, c in enumerate(calls) if c['split'] != 'train')
    assert all(c['split'] == 'train' for c in calls[:first_test]) and all(
        c['split'] != 'train' for c in calls[first_test:]
    )
    test_ids = {str(it['id']) for it in select_items(world_dir, 'fvqa', 'test')}  # the whole reported split
    assert not {i for c in sweep_calls for i in c['ids']} & test_ids
    assert m['config']['heldout'] == 'fvqa/train'
    heldout = {i for c in sweep_calls for i in c['ids']}
    calib = {str(it['id']) for it in calibration_items(world_dir, max(fc.calib_n, *fc.calib_sizes), fc.seed)}
    assert set(excluded) == {2, 4} and calib and not heldout & calib  # OBM calibration never uses the held-out items


def test_table_has_every_method_benchmark_category_cell(spied):
    m, calls, merges, fc, excluded = spied
    cells = {(r['method'], r['bench'], r['category']) for r in m['table']}
    assert cells == {(a, b, c) for a in [*FLOOR_METHODS, *BASELINES] for b, _ in fc.benches for c in CATEGORIES}
    assert len(m['table']) == len(cells)
    empty = [r for r in m['table'] if r['n'] == 0]
    assert empty and all(r['accuracy'] is None for r in empty)  # a category absent from the sample keeps its cell
    json.dumps(m, allow_nan=False)  # valid JSON: no NaN anywhere


def test_direct_answers_get_no_tools_and_merges_use_chosen_setting(spied):
    m, calls, merges, fc, excluded = spied
    da = [c for c in calls if c['policy'].endswith('-direct')]
    assert len(da) == len(fc.benches) and all(
        set(c['exclude']) == {'image_search', 'crop_and_search', 'text_search', 'visit'} for c in da
    )
    test_policies = {
        c['policy'].rsplit('-', 1)[0]
        for c in calls
        if c['split'] != 'train' and not c['policy'].startswith('vlm-model')
    }
    want = {setting_name(k, 0.5, None if k == 'TA' else 0.7, fc.calib_n) for k in FLOOR_METHODS} | {
        setting_name('OBM', 0.5, 0.7, 2),
        setting_name('OBM', 0.5, 0.7, 4, saliency='obs'),
    }
    assert test_policies == want, test_policies  # merge directories: setting name, then input hash
    obm = [c for c in merges if c['merge_method'] == 'obm']
    assert {c['models'][0]['parameters']['stats'] for c in obm} == {'sv4', 'sv2', 'sv4g'}
    obs = [c for c in obm if c['models'][0]['parameters']['stats'] == 'sv4g']
    assert [c.get('parameters') for c in obs] == [{'saliency': 'obs'}]  # the Gram statistics go with the obs form
    assert [(a['calib_n'], a['saliency']) for a in m['ablation']] == [(2, 'diag'), (4, 'diag'), (4, 'obs')]
    assert all(c['models'][0]['parameters']['weight'] == 1.0 for c in merges)


def test_verdicts_follow_the_intervals():
    "A clear gap on 120 items is reproduced, the same gap reversed is not, a small gap on few items is inconclusive."
    rng = np.random.default_rng(0)

    def outcomes(rates, n):
        return {
            m: {
                b: [
                    dict(
                        id=f'{b}{i}',
                        category='search_required',
                        correct=float(rng.random() < acc),
                        searched=float(rng.random() < sr),
                    )
                    for i in range(n)
                ]
                for b in ('fvqa', 'vdr')
            }
            for m, (sr, acc) in rates.items()
        }

    v = floor_verdicts(
        outcomes({'OBM': (0.9, 0.5), 'TA': (0.4, 0.1), 'VLM-agent': (0.1, 0.0), 'VLM-DA': (0.0, 0.1)}, 60)
    )
    assert (v['search_rate']['verdict'], v['floor']['verdict'], v['floor']['beats']) == (
        'reproduced',
        'reproduced',
        ['OBM'],
    )
    assert all(c['lo'] > 0 for c in v['search_rate']['comparisons'])
    v = floor_verdicts(outcomes({'OBM': (0.1, 0.0), 'TA': (0.9, 0.5), 'VLM-DA': (0.0, 0.4)}, 60))
    assert (v['search_rate']['verdict'], v['floor']['verdict']) == ('not reproduced', 'not reproduced')
    assert 'OBM 0.00 [' in v['floor']['sentence'] and '(n=120) vs VLM-DA' in v['floor']['sentence']
    v = floor_verdicts(outcomes({'OBM': (0.5, 0.3), 'TA': (0.45, 0.3), 'VLM-DA': (0.0, 0.25)}, 8))
    assert v['search_rate']['verdict'] == 'inconclusive'
    assert v['dare']['verdict'] == 'not tested'


def test_heldout_split_refuses_benchmarks_without_train():
    assert heldout_split('vdr', 'testmini') == 'train'
    with pytest.raises(ValueError, match='no train split'):
        heldout_split('mmsearch', 'end2end')
    with pytest.raises(ValueError, match="agent_tools must be"):
        FloorConfig(agent_tools='some').excluded()
    with pytest.raises(ValueError, match="sweep_methods must name"):
        run_floor({}, '.', '.', FloorConfig(sweep_methods=('SLERP',)))


def test_direct_answer_baseline_through_the_live_service(zoo, world_dir):
    pol, excl, system = baseline_policy('VLM-DA', zoo['vlm'])
    assert isinstance(pol, DirectAnswerPolicy) and not system
    r = evaluate(
        pol,
        world_dir,
        'infoseek',
        'val',
        n=3,
        exclude_tools=excl,
        cfg=RolloutConfig(max_turns=1, max_new_tokens=8, system=None),
        progress=False,
    )
    assert r.summary['tools'] == [] and r.summary['calls'] == 0 and r.summary['answered'] == 1.0
    assert all(t.messages[0]['role'] == 'user' for t in r.trajs)  # no system prompt


def test_real_obm_and_dare_merges_from_calibration(zoo, world_dir, tmp_path):
    from mmsearch.search import serve
    from mmsearch.merge import run_merge, Checkpoint, load_stats

    with serve(world_dir) as url:
        st = calibration_stats(zoo, world_dir, 2, root=tmp_path, base_url=url)
    sv, sa = load_stats(st['vlm']), load_stats(st['agent'])
    assert (
        sv['__meta__']['samples'] == 2
        and 'VQA' in sv['__meta__']['description']
        and 'trajectories' in sa['__meta__']['description']
    )
    assert sv['__meta__']['model'].startswith('Qwen2_5_VL') and sa['__meta__']['model'] == 'Qwen2ForCausalLM'
    vl = Checkpoint(zoo['vlm'])
    for mth in ('OBM', 'DARE'):
        out = run_merge(merge_config(mth, zoo, 0.8, 0.4, st), tmp_path / mth, progress=False, hashes='header')
        mo = Checkpoint(out)
        assert mo.layout == vl.layout and all(
            np.array_equal(mo.array(k), vl.array(k)) for k in vl.vision
        )  # vision tower from θ_V
        assert json.loads((out / 'merge_manifest.json').read_text())['method'] == FLOOR_METHODS[mth]
    assert stored_same(
        st, calibration_stats(zoo, world_dir, 2, root=tmp_path, base_url='http://127.0.0.1:9')
    )  # cached: no service


def stored_same(a, b):
    return {k: str(v) for k, v in a.items()} == {k: str(v) for k, v in b.items()}


def _max_diff(a, b) -> float:
    ca, cb = merge.Checkpoint(a), merge.Checkpoint(b)
    assert sorted(ca.tensors) == sorted(cb.tensors)
    return max(float(np.abs(ca.array(k) - cb.array(k)).max()) for k in ca.tensors)


def test_grpo_obm_start_is_the_floor_merge(zoo, world_dir, tmp_path, monkeypatch):
    from mmsearch.grpo import resolve_init, MERGE_DEFAULTS

    monkeypatch.setattr(floor, 'merges_dir', lambda: tmp_path / 'merges')
    o = MERGE_DEFAULTS['obm']
    start = resolve_init('obm', zoo, world_dir)
    assert start.parent == tmp_path / 'merges' and start == ensure_merge(
        zoo, 'OBM', o['lam'], o['p'], o['calib_n'], world_dir=world_dir
    )
    stats = calibration_stats(zoo, world_dir, o['calib_n'])
    by_hand = merge.run_merge(merge_config('OBM', zoo, o['lam'], o['p'], stats), tmp_path / 'by_hand', progress=False)
    assert _max_diff(start, by_hand) == 0.0
    assert resolve_init('ta', zoo, world_dir) == ensure_merge(zoo, 'TA', 1.0)
    assert (
        ensure_merge(zoo, 'OBM', o['lam'], o['p'], 2, world_dir=world_dir) != start
    )  # another calibration set, another merge


def test_sft_merged_start_is_the_floor_ta_merge(zoo, world_dir, tmp_path, monkeypatch):
    import mmsearch.sft as sft, mmsearch.synth as synth

    monkeypatch.setattr(floor, 'merges_dir', lambda: tmp_path / 'merges')
    monkeypatch.setattr(sft, 'sft_dir_for', lambda z: tmp_path / 'sft')
    monkeypatch.setattr(synth, 'synth_dir_for', lambda z: tmp_path / 'synth')
    (tmp_path / 'synth' / 'sft').mkdir(parents=True)
    monkeypatch.setattr(synth, 'load_sft', lambda d: [])
    starts = []
    monkeypatch.setattr(sft, 'sft_model', lambda start, rows, out, **kw: starts.append(Path(start)))
    sft.ensure_sft(zoo, world_dir, which='merged')
    assert starts == [ensure_merge(zoo, 'TA', 1.0)]


def test_merge_errors_are_raised(zoo, world_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match='no safetensors weights'):
        ensure_merge(dict(zoo, agent=tmp_path / 'missing'), 'TA', root=tmp_path)
    with pytest.raises(ValueError, match='needs world_dir'):
        ensure_merge(zoo, 'OBM', root=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing was written
