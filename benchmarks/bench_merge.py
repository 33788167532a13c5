"""Merging benchmark: mmsearch.merge against mergekit on a 1.06B-parameter Qwen2-shaped checkpoint.

Run: .venv/bin/python benchmarks/bench_merge.py [--dir /tmp/mmbench] [--mergekit /work/mkvenv/bin/mergekit-yaml]
                                                [--phases gen,ta,ta32,ties,obm] [--runs 2]

Setup: Qwen2 hidden 2048, intermediate 5504, 20 layers, 16 heads, 8 kv heads,
vocab 32000, untied: 1,059,227,648 parameters. `base` is N(0, 0.02) (norms 1, biases 0); `a` and `b` are base plus
N(0, 0.01) on every tensor, computed in fp32 and stored as bf16; each model is 3 shards of <= 1 GB. Generated under
--dir (never in git). Each merge runs as its own process under /usr/bin/time (wall seconds, peak RSS). Configs:

  ta     task_arithmetic, weights 1 and 1, dtype bfloat16   (mergekit's arithmetic in bf16; ours emulates its rounding)
  ta32   task_arithmetic, weights 1 and 1, dtype float32    (both compute and store fp32: must be bit-equal)
  ties   ties, density 0.2, weights 1, dtype bfloat16       (differs only at threshold ties: we keep all >= k-th)

Outputs of the two tools are compared tensor by tensor: largest absolute difference and share of differing elements.
`obm` measures OBM's extra cost on a smaller model: statistics collection (forward pass with hooks) against one plain
forward pass over the same calibration set, and OBM's merge time against TIES and TA.
Writes reports/metrics/bench_merge.json (--json) and prints a table. The CPU is shared: the load average before and
after each run is recorded.
"""

from __future__ import annotations
import argparse, json, math, os, subprocess, sys, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mmsearch.merge import Checkpoint, StWriter, read_slice, to_f32, encode, shard_names  # noqa: E402

PY = sys.executable
MMSEARCH = str(Path(PY).parent / 'mmsearch')


# ---------------------------------------------------------------- generating the inputs
def qwen2_shapes(hidden=2048, inter=5504, layers=20, heads=16, kv=8, vocab=32000):
    "Tensor names and shapes of an untied Qwen2ForCausalLM, in state-dict order."
    hd = hidden // heads
    out = [('model.embed_tokens.weight', (vocab, hidden))]
    for i in range(layers):
        p = f'model.layers.{i}.'
        out += [
            (p + 'self_attn.q_proj.weight', (hidden, hidden)),
            (p + 'self_attn.q_proj.bias', (hidden,)),
            (p + 'self_attn.k_proj.weight', (kv * hd, hidden)),
            (p + 'self_attn.k_proj.bias', (kv * hd,)),
            (p + 'self_attn.v_proj.weight', (kv * hd, hidden)),
            (p + 'self_attn.v_proj.bias', (kv * hd,)),
            (p + 'self_attn.o_proj.weight', (hidden, hidden)),
            (p + 'mlp.gate_proj.weight', (inter, hidden)),
            (p + 'mlp.up_proj.weight', (inter, hidden)),
            (p + 'mlp.down_proj.weight', (hidden, inter)),
            (p + 'input_layernorm.weight', (hidden,)),
            (p + 'post_attention_layernorm.weight', (hidden,)),
        ]
    out += [('model.norm.weight', (hidden,)), ('lm_head.weight', (vocab, hidden))]
    return out


def write_config(d: Path, hidden=2048, inter=5504, layers=20, heads=16, kv=8, vocab=32000):
    d.mkdir(parents=True, exist_ok=True)
    (d / 'config.json').write_text(
        json.dumps(
            dict(
                architectures=['Qwen2ForCausalLM'],
                model_type='qwen2',
                hidden_size=hidden,
                intermediate_size=inter,
                num_hidden_layers=layers,
                num_attention_heads=heads,
                num_key_value_heads=kv,
                vocab_size=vocab,
                tie_word_embeddings=False,
                rms_norm_eps=1e-6,
                max_position_embeddings=4096,
                hidden_act='silu',
                rope_theta=10000.0,
                dtype='bfloat16',
                use_sliding_window=False,
            ),
            indent=2,
        )
    )


def generate(root: Path, shard_bytes=10**9, seed=0, **shape_kw):
    "Write base, a, b (bf16, sharded, with an index) tensor by tensor; memory stays at a few tensors."
    shapes = qwen2_shapes(**shape_kw)
    shards, cur, size = [], [], 0
    for n, s in shapes:
        nb = math.prod(s) * 2
        if cur and size + nb > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append((n, 'bfloat16', s))
        size += nb
    shards.append(cur)
    names = shard_names(len(shards))
    for m in ('base', 'a', 'b'):
        write_config(root / m, **shape_kw)
    writers = {m: [StWriter(root / m / nm, sh) for nm, sh in zip(names, shards)] for m in ('base', 'a', 'b')}
    where = {n: i for i, sh in enumerate(shards) for n, _, _ in sh}
    rng = np.random.default_rng(seed)
    for n, s in shapes:
        numel = math.prod(s)
        if n.endswith('norm.weight'):
            base = np.ones(numel, np.float32)
        elif n.endswith('.bias'):
            base = np.zeros(numel, np.float32)
        else:
            base = rng.standard_normal(numel, dtype=np.float32)
            base *= np.float32(0.02)
        base = to_f32(encode(base, 'bfloat16'), 'bfloat16')
        writers['base'][where[n]].write(n, encode(base, 'bfloat16'))
        for m in ('a', 'b'):
            x = rng.standard_normal(numel, dtype=np.float32)
            x *= np.float32(0.01)
            x += base
            writers[m][where[n]].write(n, encode(x, 'bfloat16'))
    for m, ws in writers.items():
        for w in ws:
            w.close()
        if len(names) > 1:
            wm = {n: names[where[n]] for n, _ in shapes}
            total = sum(w.size - w.data_start for w in ws)
            (root / m / 'model.safetensors.index.json').write_text(
                json.dumps({'metadata': {'total_size': total}, 'weight_map': wm}, indent=2)
            )
    return sum(math.prod(s) for _, s in shapes)


# ---------------------------------------------------------------- running and comparing
def timed(cmd: list[str], env=None) -> dict:
    "Run `cmd` under /usr/bin/time; wall seconds, peak RSS (GB), CPU%, load average before."
    tf = Path('/tmp/.bench_merge_time')
    load = os.getloadavg()[0]
    r = subprocess.run(
        ['/usr/bin/time', '-f', '%e %M %P %U %S', '-o', str(tf)] + cmd, env=env, capture_output=True, text=True
    )
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    e, m, p, u, s = tf.read_text().split()[-5:]
    return dict(
        wall_s=float(e),
        peak_rss_gb=int(m) / 1e6,
        cpu_pct=int(p.rstrip('%')),
        cpu_s=round(float(u) + float(s), 2),
        load_before=round(load, 2),
        load_after=round(os.getloadavg()[0], 2),
    )


def compare(d1: Path, d2: Path) -> dict:
    "Largest absolute difference and share of differing elements between two checkpoints, as float32."
    a, b = Checkpoint(d1), Checkpoint(d2)
    if set(a.tensors) != set(b.tensors):
        raise RuntimeError(f"tensor names differ: {sorted(set(a.tensors) ^ set(b.tensors))[:5]}")
    maxd, ndiff, n, dts = 0.0, 0, 0, set()
    for k, ta in a.tensors.items():
        tb = b.tensors[k]
        dts.add((ta.dtype, tb.dtype))
        step = 1 << 22
        for s in range(0, ta.numel, step):
            e = min(s + step, ta.numel)
            x, y = to_f32(read_slice(ta, s, e), ta.dtype), to_f32(read_slice(tb, s, e), tb.dtype)
            ne = x != y
            c = int(ne.sum())
            if c:
                ndiff += c
                maxd = max(maxd, float(np.abs(x - y).max()))
            n += e - s
    a.close()
    b.close()
    return dict(max_abs_diff=maxd, share_diff=ndiff / n, elements=n, dtypes=sorted(map(list, dts)))


def config(root: Path, method: str, dtype: str) -> Path:
    extra = '      density: 0.2\n' if method == 'ties' else ''
    p = root / 'cfg' / f'{method}_{dtype}.yaml'
    p.parent.mkdir(exist_ok=True, parents=True)
    p.write_text(
        f"merge_method: {method}\nbase_model: {root / 'base'}\nmodels:\n"
        f"  - model: {root / 'a'}\n    parameters:\n      weight: 1.0\n{extra}"
        f"  - model: {root / 'b'}\n    parameters:\n      weight: 1.0\n{extra}dtype: {dtype}\n"
    )
    return p


def bench_pair(root: Path, mk: str, method: str, dtype: str, runs: int, env_mk: dict, skip_mk=False) -> dict:
    cfg = config(root, method, dtype)
    tag = f'{method}_{dtype}'
    res = {'config': cfg.read_text()}
    ours, theirs = root / 'out' / f'ours_{tag}', root / 'out' / f'mk_{tag}'
    res['ours'] = []
    for r in range(runs):
        subprocess.run(['rm', '-rf', str(ours)])
        res['ours'].append(timed([MMSEARCH, 'merge', str(cfg), '--out', str(ours), '--shard-size', '1GB', '--quiet']))
        print(f'  ours {tag} run {r}: {res["ours"][-1]}', flush=True)
    if not skip_mk:
        res['mergekit'] = []
        for r in range(runs if method != 'ties' else 1):
            subprocess.run(['rm', '-rf', str(theirs)])
            res['mergekit'].append(timed([mk, str(cfg), str(theirs), '--out-shard-size', '1B', '--quiet'], env=env_mk))
            print(f'  mergekit {tag} run {r}: {res["mergekit"][-1]}', flush=True)
    if theirs.exists():
        res['diff'] = compare(ours, theirs)
        print(f'  diff {tag}: {res["diff"]}', flush=True)
    return res


# ---------------------------------------------------------------- OBM's extra cost
def bench_obm(root: Path, n_samples=32, seq=128) -> dict:
    "OBM statistics collection vs one forward pass, and OBM merge time vs TIES/TA, on a ~40M-parameter Qwen2 trio."
    import torch, transformers as tf
    from mmsearch.merge import collect_stats, save_stats, run_merge

    torch.manual_seed(0)
    torch.set_num_threads(2)
    kw = dict(hidden=512, inter=1408, layers=8, heads=8, kv=4, vocab=8192)
    d = root / 'obm'
    if not (d / 'b' / 'model.safetensors').exists():
        generate(d, shard_bytes=10**10, **kw)
    model = tf.Qwen2ForCausalLM.from_pretrained(d / 'a', dtype=torch.float32).eval()
    params = sum(p.numel() for p in model.parameters())
    inputs = [torch.randint(0, kw['vocab'], (1, seq)) for _ in range(n_samples)]
    with torch.no_grad():
        model(input_ids=inputs[0])  # warm-up
    t0 = time.perf_counter()
    with torch.no_grad():
        for x in inputs:
            model(input_ids=x)
    fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    sa = collect_stats(model, inputs, description=f'{n_samples} random sequences of {seq}')
    st_a = time.perf_counter() - t0
    t0 = time.perf_counter()
    collect_stats(model, inputs, gram=True)
    st_gram = time.perf_counter() - t0
    sb = collect_stats(tf.Qwen2ForCausalLM.from_pretrained(d / 'b', dtype=torch.float32).eval(), inputs)
    pa, pb = save_stats(sa, d / 'sa.safetensors'), save_stats(sb, d / 'sb.safetensors')
    times = {}
    for method, extra in [('task_arithmetic', {}), ('ties', {'density': 0.2}), ('obm', {'density': 0.2})]:
        ms = [
            {'model': str(d / 'a'), 'parameters': dict(weight=1.0, **extra)},
            {'model': str(d / 'b'), 'parameters': dict(weight=1.0, **extra)},
        ]
        if method == 'obm':
            ms[0]['parameters']['stats'], ms[1]['parameters']['stats'] = str(pa), str(pb)
        cfg = dict(merge_method=method, base_model=str(d / 'base'), models=ms, dtype='bfloat16')
        best = 1e9
        for _ in range(2):
            t0 = time.perf_counter()
            run_merge(cfg, d / f'out_{method}', overwrite=True, progress=False, hashes='header')
            best = min(best, time.perf_counter() - t0)
        times[method] = best
    return dict(
        params=params,
        calibration=f'{n_samples} x {seq} tokens',
        forward_s=fwd,
        stats_diag_s=st_a,
        stats_gram_s=st_gram,
        stats_overhead=st_a / fwd,
        merge_s=times,
        obm_extra_vs_ties_s=times['obm'] - times['ties'],
        obm_total_extra_vs_forward=(st_a * 2 + times['obm'] - times['task_arithmetic']) / fwd,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dir', default='/tmp/mmbench', help='where inputs and outputs go (needs ~25 GB)')
    p.add_argument('--mergekit', default='/work/mkvenv/bin/mergekit-yaml')
    p.add_argument('--phases', default='gen,ta,ta32,ties,obm')
    p.add_argument('--runs', type=int, default=2)
    p.add_argument(
        '--skip-mergekit', action='store_true', help='time only our side (reuses earlier mergekit outputs for diffs)'
    )
    p.add_argument('--json', default=str(ROOT / 'reports' / 'metrics' / 'bench_merge.json'))
    a = p.parse_args(argv)
    root = Path(a.dir)
    root.mkdir(parents=True, exist_ok=True)
    phases = a.phases.split(',')
    env_mk = dict(os.environ, HF_HUB_OFFLINE='1', CUDA_VISIBLE_DEVICES='')
    out = json.loads(Path(a.json).read_text()) if Path(a.json).exists() else {}
    out['machine'] = dict(cpus=os.cpu_count(), note='shared 2-core VM; load average recorded per run')
    if 'gen' in phases and not (root / 'b' / 'model.safetensors.index.json').exists():
        t0 = time.time()
        n = generate(root)
        out['generate'] = dict(params=n, wall_s=round(time.time() - t0, 1))
        print(f'generated 3 x {n:,} params in {time.time() - t0:.1f} s', flush=True)
    # warm the page cache and the manifest's hash cache (a one-off cost, reported separately)
    subprocess.run(f'cat {root}/base/* {root}/a/* {root}/b/* > /dev/null', shell=True)
    if any(x in phases for x in ('ta', 'ta32', 'ties')):
        from mmsearch.merge import input_hashes

        t0 = time.time()
        for m in ('base', 'a', 'b'):
            input_hashes(Checkpoint(root / m), 'full')
        out['hash_inputs_s'] = round(time.time() - t0, 2)
        print(f'input hashes (first time only; cached by path, size and mtime): {out["hash_inputs_s"]} s', flush=True)
    for ph, (method, dtype) in {
        'ta': ('task_arithmetic', 'bfloat16'),
        'ta32': ('task_arithmetic', 'float32'),
        'ties': ('ties', 'bfloat16'),
    }.items():
        if ph in phases:
            print(f'== {ph}', flush=True)
            prev = out.get(ph, {})
            r = bench_pair(root, a.mergekit, method, dtype, a.runs, env_mk, skip_mk=a.skip_mergekit)
            if a.skip_mergekit and 'mergekit' in prev:
                r['mergekit'] = prev['mergekit']
            if 'mergekit' in r:
                best = lambda k: min(x['wall_s'] for x in r[k])
                r['speedup'] = best('mergekit') / best('ours')
                cpu = lambda k: min(x['cpu_s'] for x in r[k])
                r['cpu_ratio'] = cpu('mergekit') / cpu('ours')
                r['mem_ratio'] = min(x['peak_rss_gb'] for x in r['ours']) / min(x['peak_rss_gb'] for x in r['mergekit'])
            out[ph] = r
    if 'obm' in phases:
        print('== obm', flush=True)
        out['obm'] = bench_obm(root)
        print(out['obm'], flush=True)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=2, sort_keys=True) + '\n')
    print(
        '\n| config | ours wall s | mergekit wall s | speedup | ours CPU s | mergekit CPU s '
        '| ours RSS GB | mergekit RSS GB | mem ratio | max abs diff | share differing |'
    )
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    for ph in ('ta', 'ta32', 'ties'):
        r = out.get(ph)
        if not r or 'mergekit' not in r:
            continue
        bo, bm = min(r['ours'], key=lambda x: x['wall_s']), min(r['mergekit'], key=lambda x: x['wall_s'])
        df = r.get('diff', {})
        print(
            f"| {ph} | {bo['wall_s']:.1f} | {bm['wall_s']:.1f} | {r['speedup']:.1f}x | "
            f"{min(x['cpu_s'] for x in r['ours']):.1f} | "
            f"{min(x['cpu_s'] for x in r['mergekit']):.1f} | {bo['peak_rss_gb']:.2f} | {bm['peak_rss_gb']:.2f} | "
            f"{r['mem_ratio']:.2f} | {df.get('max_abs_diff', float('nan')):.3g} | "
            f"{df.get('share_diff', float('nan')):.4%} |"
        )


if __name__ == '__main__':
    main()
