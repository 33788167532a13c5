"Merging: methods against their reference definitions, cross-modal exactness, streaming, configs, bad input."

import json, hashlib
from pathlib import Path
import numpy as np
import pytest
import torch
import transformers as tf
from safetensors import safe_open
from mmsearch.merge import (
    Checkpoint,
    MergeConfigError,
    TensorSpec,
    collect_stats,
    lm_name,
    merge_arrays,
    merge_cli,
    plan_merge,
    round_to,
    run_merge,
    save_stats,
    tiny_trio,
)


# --- a direct transcription of mergekit 0.1.5 (generalized_task_arithmetic.py + sparsify.magnitude) ----------------
def mk_sparsify_magnitude(d, density):
    if density >= 1:
        return d
    k = max(1, int(density * d.numel()))
    mask = torch.zeros(d.numel(), dtype=d.dtype)
    mask[torch.argsort(d.abs().reshape(-1).float(), descending=True)[:k]] = 1
    return d * mask.reshape_as(d)


def mk_merge(base, xs, weights, densities=None, consensus=None, normalize=False, lam=1.0):
    deltas = base.new_empty((len(xs), *base.shape))
    for i, x in enumerate(xs):
        d = x - base
        if densities:
            d = mk_sparsify_magnitude(d, densities[i])
        deltas[i] = d
    w = torch.tensor(weights, dtype=deltas.dtype)
    while deltas.dim() > w.dim():
        w.unsqueeze_(-1)
    deltas.mul_(w)
    if consensus:
        majority = (deltas.sum(dim=0) >= 0).to(base.dtype) * 2 - 1
        mask = deltas.sign() == majority
        mixed = (deltas * mask).sum(dim=0)
        div = (w * mask).sum(dim=0)
        div[div == 0] = 1
    else:
        mixed = deltas.sum(dim=0)
        div = w.sum(dim=0)
        div[div.abs() < 1e-8] = 1
    if normalize:
        mixed /= div
    if lam != 1:
        mixed *= lam
    return (base + mixed).to(base.dtype)


def mk_ram(base, xs, eps):
    tv = torch.stack([x - base for x in xs])
    nz = tv.abs() > eps
    cnt = nz.sum(0, keepdim=True)
    tvz = tv * nz
    return base + ((tvz * (cnt == 1)) + (tvz * (cnt > 1) / cnt.clamp(min=1))).sum(0)


def inputs(shape, dt, n=3, seed=0, noise=0.01):
    g = torch.Generator().manual_seed(seed)
    b = torch.randn(shape, generator=g) * 0.02
    return b.to(dt), [(b + noise * torch.randn(shape, generator=g)).to(dt) for _ in range(n)]


f32 = lambda t: t.float().numpy()
DT = {torch.float32: 'float32', torch.bfloat16: 'bfloat16', torch.float16: 'float16'}


@pytest.mark.parametrize('dt', [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    'ws,norm,lam',
    [([1.0, 1.0], False, 1.0), ([0.3, 0.7], False, 1.0), ([0.5, 1.3, 0.2], True, 0.8), ([1.0, -1.0], True, 1.0)],
)
def test_task_arithmetic_equals_mergekit(dt, ws, norm, lam):
    b, xs = inputs((96, 40), dt)
    spec = TensorSpec('t', None, None, ws, [1.0] * len(ws), normalize=norm, lam=lam, dtype=DT[dt])
    ours = merge_arrays(spec, f32(b), [f32(x) for x in xs[: len(ws)]])
    ref = f32(mk_merge(b, xs[: len(ws)], ws, normalize=norm, lam=lam))
    if dt == torch.float16 and norm and sum(ws) == 0:
        # mergekit's `div.abs() < 1e-8` guard compares in fp16, where 1e-8 underflows to 0: it divides by 0. We do not.
        assert np.isinf(ref).all() and np.isfinite(ours).all()
        return
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize(
    'ws,dens,norm,lam',
    [
        ([1.0, 1.0], [0.2, 0.2], True, 1.0),
        ([0.7, 1.2, 1.0], [0.1, 0.5, 0.9], True, 0.9),
        ([1.0, 1.0], [0.3, 1.0], False, 1.0),
    ],
)
def test_ties_equals_mergekit_without_ties(ws, dens, norm, lam):
    "float32 magnitudes do not tie at the threshold, so argsort top-k and our k-th-value rule agree bit for bit."
    b, xs = inputs((128, 48), torch.float32)
    spec = TensorSpec('t', 'magnitude', 'sum', ws, dens, normalize=norm, lam=lam)
    ours = merge_arrays(spec, f32(b), [f32(x) for x in xs[: len(ws)]])
    assert np.array_equal(ours, f32(mk_merge(b, xs[: len(ws)], ws, dens, 'sum', norm, lam)))


def test_ties_bf16_differs_only_at_threshold_ties():
    "In bf16 magnitudes tie; we keep every entry >= the k-th largest, mergekit keeps k of them in argsort order."
    b, xs = inputs((256, 64), torch.bfloat16, n=2)
    spec = TensorSpec('t', 'magnitude', 'sum', [1.0, 1.0], [0.2, 0.2], normalize=True, dtype='bfloat16')
    ours = merge_arrays(spec, f32(b), [f32(x) for x in xs])
    ref = f32(mk_merge(b, xs, [1.0, 1.0], [0.2, 0.2], 'sum', True))
    diff = ours != ref
    assert 0 < diff.mean() < 0.05
    # every differing element has, in some model, a delta whose magnitude equals that model's threshold
    at_thr = np.zeros_like(diff)
    for x in xs:
        d = (x - b).float().numpy()
        k = int(0.2 * d.size)
        thr = np.sort(np.abs(d).ravel())[::-1][k - 1]
        at_thr |= np.abs(d) == thr
    assert at_thr[diff].all()


def test_ram_equals_mergekit_formula():
    b, xs = inputs((64, 32), torch.float32, noise=0.001)
    xs[1][:, :10] = b[:, :10]  # model 1 leaves some entries unchanged
    spec = TensorSpec('t', 'epsilon', 'count', [1.0, 1.0], [1.0, 1.0], normalize=True, epsilon=1e-3)
    ours = merge_arrays(spec, f32(b), [f32(x) for x in xs[:2]])
    np.testing.assert_allclose(ours, f32(mk_ram(b, xs[:2], 1e-3)), rtol=0, atol=1e-8)


def test_dare_unbiased_and_seeded():
    rng = np.random.default_rng(0)
    base, x = rng.normal(0, 0.02, (32, 64)).astype(np.float32), rng.normal(0, 0.02, (32, 64)).astype(np.float32)
    d, p, n = x - base, 0.25, 400
    outs = np.stack(
        [
            merge_arrays(TensorSpec('t', 'random', None, [1.0], [p], rescale=True, seed=s), base, [x]) - base
            for s in range(n)
        ]
    )
    z = (outs.mean(0) - d) / (np.abs(d) * np.sqrt((1 / p - 1) / n))
    assert 0.85 < (z**2).mean() < 1.15 and np.abs(z).max() < 5.5
    assert abs((outs != 0).mean() - p) < 0.01
    kept = outs[0] != 0
    np.testing.assert_allclose(outs[0][kept], (d / p)[kept], rtol=1e-6)  # survivors rescaled by 1/density
    one = TensorSpec('t', 'random', None, [1.0], [p], rescale=True, seed=5)
    assert np.array_equal(merge_arrays(one, base, [x]), merge_arrays(one, base, [x]))
    # the mask of one model does not depend on the other models or the chunk layout of a bigger call
    two = TensorSpec('t', 'random', None, [1.0, 1.0], [p, p], rescale=True, seed=5)
    both = merge_arrays(two, base, [x, base.copy()])
    assert np.array_equal(both, merge_arrays(one, base, [x]))


# --- OBM, by hand ------------------------------------------------------------------------------------------------
def test_obm_mask_is_top_p_saliency_per_tensor():
    base = np.zeros((4, 3), np.float32)
    d = np.float32([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]) * 0.01
    energy = np.float32([100, 1, 0.01])  # column energies flip the magnitude order
    spec = TensorSpec('w', 'saliency', 'saliency', [1.0], [0.25], normalize=True, cols=[energy])
    out = merge_arrays(spec, base, [d.copy()])
    # saliency = d^2 * energy; the top 3 of 12 are column 0's three largest:
    # rows 1-3 (0.16, 0.49, 1.0 vs col 1 max 0.0144)
    expect = np.zeros_like(d)
    expect[1:, 0] = d[1:, 0]
    assert np.array_equal(out, expect)


def test_obm_sign_vote_weighted_by_saliency():
    base = np.zeros((1, 2), np.float32)
    dv, ds = np.float32([[0.3, 0.3]]), np.float32([[-0.5, -0.5]])
    # column 0: V's input energy 10 vs S's 1 -> V: 0.9, S: 0.25 -> V wins; column 1: equal energies -> S (0.25 > 0.09)
    spec = TensorSpec(
        'w',
        'saliency',
        'saliency',
        [1.0, 1.0],
        [1.0, 1.0],
        normalize=True,
        cols=[np.float32([10, 1]), np.float32([1, 1])],
    )
    out = merge_arrays(spec, base, [dv.copy(), ds.copy()])
    assert np.array_equal(out, np.float32([[0.3, -0.5]]))
    # TIES's mass vote would pick S's sign in both columns
    assert np.array_equal(
        merge_arrays(TensorSpec('w', 'magnitude', 'sum', [1.0, 1.0], [1.0, 1.0]), base, [dv.copy(), ds.copy()]),
        np.float32([[-0.5, -0.5]]),
    )


def test_obm_agreeing_entries_average_and_pruned_do_not_vote():
    base = np.zeros(4, np.float32)
    a = np.float32([0.4, 0.1, -0.2, 0.0])
    b = np.float32([0.2, -0.9, -0.4, 0.3])
    # biases: saliency d^2; p = 0.5 keeps two entries each: a {0.4, -0.2}, b {-0.9, -0.4}
    spec = TensorSpec('b', 'saliency', 'saliency', [1.0, 1.0], [0.5, 0.5], normalize=True, cols=None)
    out = merge_arrays(spec, base, [a.copy(), b.copy()])
    # entry 0: only a kept (+); entry 1: only b (-0.9; a's +0.1 was pruned and cannot vote); entry 2: mean(-0.2, -0.4)
    np.testing.assert_allclose(out, np.float32([0.4, -0.9, -0.3, 0.0]), atol=1e-7)
    spec_sum = TensorSpec('b', 'saliency', 'saliency', [1.0, 1.0], [0.5, 0.5], normalize=False, cols=None)
    np.testing.assert_allclose(
        merge_arrays(spec_sum, base, [a.copy(), b.copy()]), np.float32([0.4, -0.9, -0.6, 0.0]), atol=1e-7
    )


# --- whole checkpoints ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def trio(tmp_path_factory):
    return tiny_trio(tmp_path_factory.mktemp('trio'))


def cfg_of(method, trio, params=None, glob=None, **kw):
    params = params or [{'weight': 1.0}, {'weight': 1.0}]
    return dict(
        merge_method=method,
        base_model=str(trio['base']),
        models=[
            {'model': str(trio['vlm']), 'parameters': params[0]},
            {'model': str(trio['agent']), 'parameters': params[1]},
        ],
        parameters=glob or {},
        **kw,
    )


@pytest.mark.parametrize(
    'family,tie',
    [('qwen2_5_vl', True), ('qwen2_5_vl', False), ('qwen3_vl', True), ('idefics3', True), ('idefics3', False)],
)
def test_delta_v_zero_reproduces_text_agent(tmp_path, family, tie):
    t = tiny_trio(tmp_path / 'm', family=family, noise_v=0.0, tie=tie, seed=1)
    for method, p in [('task_arithmetic', {}), ('ties', {'density': 1.0}), ('obm', {'density': 1.0})]:
        cfg = cfg_of(method, t, [dict(weight=1.0, **p), dict(weight=1.0, **p)], dtype='float32', out_dtype='bfloat16')
        stats = None
        if method == 'obm':
            ids = [torch.randint(0, 250, (1, 10))]
            V = tf.AutoModelForImageTextToText.from_pretrained(t['vlm']).eval()
            S = tf.AutoModelForCausalLM.from_pretrained(t['agent']).eval()
            stats = {0: collect_stats(V, ids), 1: collect_stats(S, ids)}
        out = run_merge(cfg, tmp_path / f'out_{method}', stats=stats, progress=False)
        merged = tf.AutoModelForImageTextToText.from_pretrained(out, dtype=torch.float32).eval()
        agent = tf.AutoModelForCausalLM.from_pretrained(t['agent'], dtype=torch.float32).eval()
        ids = torch.randint(0, 250, (2, 9))
        with torch.no_grad():
            assert torch.equal(merged(input_ids=ids).logits, agent(input_ids=ids).logits), method
        assert Checkpoint(out).layout == Checkpoint(t['vlm']).layout


def test_vlm_layouts_map_to_text_names(tmp_path):
    for fam, layout in [('qwen2_5_vl', 'vl-legacy'), ('qwen3_vl', 'vl-nested'), ('idefics3', 'vl-idefics')]:
        t = tiny_trio(tmp_path / fam, family=fam)
        v, b = Checkpoint(t['vlm']), Checkpoint(t['base'])
        assert v.layout == layout and b.layout == 'text'
        assert sorted(v.lm) == sorted(b.lm)
        for n in b.lm:
            assert np.array_equal(v.array(v.lm[n]).shape, b.array(n).shape)
        assert v.vision and all(lm_name(k) is None for k in v.vision)


@pytest.mark.parametrize('threads,shard', [(1, '5GB'), (2, 30_000), (3, 200_000)])
def test_streaming_equals_in_memory(trio, tmp_path, threads, shard):
    ids = [torch.randint(0, 250, (1, 12)), torch.randint(0, 250, (1, 7))]
    stats = {
        0: collect_stats(tf.AutoModelForImageTextToText.from_pretrained(trio['vlm']).eval(), ids, gram=True),
        1: collect_stats(tf.AutoModelForCausalLM.from_pretrained(trio['agent']).eval(), ids, gram=True),
    }
    for method, p, g in [
        ('task_arithmetic', {}, {'lambda': 0.8}),
        ('ties', {'density': 0.25}, {}),
        ('dare_ties', {'density': 0.5}, {'seed': 9}),
        ('obm', {'density': 0.3}, {'saliency': 'obs', 'nonlinear': 'magnitude'}),
        ('ram', None, {'epsilon': 0.005}),
    ]:
        params = [dict(weight=1.0, **p), dict(weight=[0.2, 1.0], **p)] if p is not None else [{}, {}]
        cfg = cfg_of(method, trio, params, g, dtype='bfloat16')
        out = run_merge(
            cfg,
            tmp_path / f'{method}',
            stats=stats if method == 'obm' else None,
            threads=threads,
            shard_size=shard,
            progress=False,
        )
        got = Checkpoint(out)
        plan = plan_merge(cfg, stats if method == 'obm' else None)
        for j in plan.jobs:
            arrs = []
            for t in j.srcs:
                with safe_open(t.file.path, framework='pt') as f:
                    arrs.append(f.get_tensor(t.name).float().numpy())
            want = arrs[0] if j.spec is None else round_to(merge_arrays(j.spec, arrs[0], arrs[1:]), j.dtype)
            assert np.array_equal(got.array(j.out), want), (method, j.out)
        plan.close()
        if isinstance(shard, int):
            idx = json.loads((out / 'model.safetensors.index.json').read_text())
            assert set(idx['weight_map']) == set(got.tensors) and len(got.files) > 1


def test_layer_gradient_and_filters(trio, tmp_path):
    "weight: [0, 1] over depth (2 layers: layer 0 gets 0, layer 1 gets 1); a filter overrides mlp tensors."
    glob = {}
    params = [{'weight': 0.0}, {'weight': [{'filter': 'mlp', 'value': 0.5}, {'value': [0.0, 1.0]}]}]
    out = run_merge(cfg_of('task_arithmetic', trio, params, glob, dtype='float32'), tmp_path / 'g', progress=False)
    o, b, s = Checkpoint(out), Checkpoint(trio['base']), Checkpoint(trio['agent'])
    k0, k1, km = (
        'model.layers.0.self_attn.q_proj.weight',
        'model.layers.1.self_attn.q_proj.weight',
        'model.layers.1.mlp.up_proj.weight',
    )
    assert np.array_equal(o.array(k0), b.array(k0))
    assert np.array_equal(o.array(k1), b.array(k1) + (s.array(k1) - b.array(k1)))
    assert np.array_equal(o.array(km), b.array(km) + (s.array(km) - b.array(km)) * np.float32(0.5))
    assert np.array_equal(o.array('model.norm.weight'), b.array('model.norm.weight'))  # t = 0 outside the layers


def test_output_is_loadable_and_has_provenance(trio, tmp_path):
    ids = [torch.randint(0, 250, (1, 8))]
    pv = save_stats(
        collect_stats(
            tf.AutoModelForImageTextToText.from_pretrained(trio['vlm']).eval(), ids, description='8 VQA tokens'
        ),
        tmp_path / 'v.safetensors',
    )
    ps = save_stats(
        collect_stats(
            tf.AutoModelForCausalLM.from_pretrained(trio['agent']).eval(), ids, description='8 trajectory tokens'
        ),
        tmp_path / 's.safetensors',
    )
    assert (pv, ps) == (tmp_path / 'v.safetensors', tmp_path / 's.safetensors') and pv.is_file() and ps.is_file()
    cfg = tmp_path / 'obm.yaml'
    cfg.write_text(
        f"merge_method: obm\nbase_model: {trio['base']}\nvision_model: {trio['vlm']}\nmodels:\n"
        f"  - model: {trio['vlm']}\n    parameters: {{weight: 1.0, density: 0.3, stats: v.safetensors}}\n"
        f"  - model: {trio['agent']}\n    parameters: {{weight: 1.0, density: 0.3, stats: s.safetensors}}\n"
        "out_dtype: bfloat16\n"
    )
    assert merge_cli([str(cfg), '--out', str(tmp_path / 'o'), '--quiet']) == 0
    out = tmp_path / 'o'
    m = tf.AutoModelForImageTextToText.from_pretrained(out)
    assert type(m).__name__ == 'Qwen2_5_VLForConditionalGeneration'
    assert (out / 'tokenizer_config.json').exists() and (out / 'chat_template.jinja').exists()
    man = json.loads((out / 'merge_manifest.json').read_text())
    assert man['method'] == 'obm' and [c['description'] for c in man['calibration']] == [
        '8 VQA tokens',
        '8 trajectory tokens',
    ]
    base_in = next(i for i in man['inputs'] if i['role'] == 'base_model')
    assert (
        base_in['files']['model.safetensors']['sha256']
        == hashlib.sha256((Path(trio['base']) / 'model.safetensors').read_bytes()).hexdigest()
    )
    assert man['tensors']['copied'] == len(Checkpoint(trio['vlm']).vision)
    assert 'saliency/saliency' in man['tensors'] and 'all/sum' in man['tensors']  # Linear weights by OBM, norms by TA


@pytest.mark.parametrize(
    'change,msg',
    [
        (dict(base_model='/nonexistent/model'), 'model path not found'),
        (dict(merge_method='frankenmerge'), 'unknown merge_method'),
        (dict(merge_method='ties', parameters={'density': 0}), 'density must be in (0, 1]'),
        (dict(merge_method='ties', parameters={'density': 1.01}), 'density must be in (0, 1]'),
        (dict(merge_method='dare_ties', parameters={'density': [0.5, -0.1]}), 'density must be in (0, 1]'),
        (dict(merge_method='obm'), 'needs calibration `stats`'),
        (dict(merge_method='obm', parameters={'stats': '/nonexistent/stats.safetensors'}), 'statistics file not found'),
        (dict(parameters={'lamda': 1}), 'unknown parameters'),
        (dict(slices=[]), 'only the `models:` form'),
        (dict(dtype='int8'), 'unsupported dtype'),
    ],
)
def test_bad_configs_write_nothing(trio, tmp_path, change, msg):
    cfg = {**cfg_of('task_arithmetic', trio), **change}
    with pytest.raises(Exception, match=None) as e:
        run_merge(cfg, tmp_path / 'out', progress=False)
    assert msg in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_mismatched_models_write_nothing(trio, tmp_path):
    for kw, msg in [
        (dict(hidden=32), 'shape mismatch'),
        (dict(vocab=300), 'vocabulary size differs'),
        (dict(tie=False), 'tied on one side only'),
    ]:
        other = tiny_trio(tmp_path / 'other', seed=2, **kw)
        cfg = dict(
            merge_method='task_arithmetic',
            base_model=str(trio['base']),
            models=[{'model': str(other['agent']), 'parameters': {'weight': 1.0}}],
        )
        with pytest.raises(MergeConfigError, match=None) as e:
            run_merge(cfg, tmp_path / 'out', progress=False)
        assert msg in str(e.value) and not (tmp_path / 'out').exists()
        import shutil

        shutil.rmtree(tmp_path / 'other')


def test_cli_errors_are_one_line(trio, tmp_path, capsys):
    cfg = tmp_path / 'c.yaml'
    cfg.write_text(
        f"merge_method: ties\nbase_model: {trio['base']}\nmodels:\n"
        f"  - model: {tmp_path / 'missing'}\n    parameters: {{weight: 1}}\n"
    )
    assert merge_cli([str(cfg), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('mmsearch merge: error:') and 'model path not found' in err and not (tmp_path / 'o').exists()


@pytest.mark.parametrize('family', ['qwen2_5_vl', 'qwen3_vl', 'idefics3'])
def test_vlm_with_vlm_base_keeps_keys(tmp_path, family):
    "All inputs VLMs of one layout: every tensor (vision included) is merged under its own key."
    t = tiny_trio(tmp_path / 'm', family=family)
    cfg = dict(
        merge_method='task_arithmetic',
        base_model=str(t['vlm']),
        dtype='float32',
        out_dtype='bfloat16',
        models=[{'model': str(t['vlm']), 'parameters': {'weight': 1.0}}],
    )
    out = Checkpoint(run_merge(cfg, tmp_path / 'o', progress=False))
    v = Checkpoint(t['vlm'])
    assert sorted(out.tensors) == sorted(v.tensors)
    assert all(np.array_equal(out.array(k), v.array(k)) for k in v.tensors)
