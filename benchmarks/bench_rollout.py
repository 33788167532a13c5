"""Rollout benchmark: G episodes generated as one batch per round against the same episodes one at a time.

Run: .venv/bin/python benchmarks/bench_rollout.py [--G 8] [--turns 3] [--new-tokens 64] [--hidden 128] [--layers 4]
                                                  [--repeats 5] [--device cuda]

Setup: a randomly initialised tiny Qwen2ForCausalLM (default H128/L4)
on a toy byte-level BPE chat tokenizer with TRL's qwen3_vl template, driving the real rollout loop (`mmsearch.rollout`)
against the real search service on a smoke world. The model samples (temperature 1) with min_new_tokens =
max_new_tokens, so every turn has exactly --new-tokens tokens; a random model never emits a valid action, so every
episode runs exactly --turns turns (three format errors end it by VDR's rule). Both arms run the same episodes:

  batched         rollout(policy, [item], ctx, G=G): each round generates the G episodes' turns in one `generate` call
  batched_repeat  the same with HFPolicy(read_prefix_once=False): the shared prefix's cache repeated to every row
                  and each row's history re-encoded every turn (how the batched arm ran before
                  `shared_prefix_attention`)
  sequential      G times rollout(policy, [item], ctx, G=1): one episode at a time, one `generate` call per turn

Two prompt settings are run: `tools` (system prompt + the four tool schemas rendered by the chat template, ~800
tokens with the toy vocabulary, as TRL and our loop render them) and `bare` (question only, as for a model trained to
know its tools). `HFPolicy` keeps the KV cache of the prefix all rows share (system prompt, schemas, question; in the
sequential arm also the episode's earlier turns), so no arm re-encodes the schemas each turn; the batched arm reads
that prefix once per step for all rows and reuses each row's earlier turns (`batched_repeat` does neither).
`bare` shows the decode-bound case.
The arms take turns within each of --repeats rounds, so that a slow spell of the shared machine (timings of identical
runs differ by up to 1.6x here) falls on all of them. Reported per setting: wall seconds per arm (best of the rounds,
and every round's), generated tokens per second, the ratio sequential / batched of the best times (target: >= 4 at
G=8) with the min, median and max of the per-round ratios, and batched_repeat / batched (what reading the prefix
once gives).
Writes --out (default reports/metrics/bench_rollout.json). The CPU is shared; the load average is recorded.
`run(...)` returns the same dict, for other benchmarks to report side by side.
With --device cuda everything the benchmark creates lives on the GPU (the prefix is then repeated to every row, since
reading it once is a CPU path); results/bench_rollout_h100.json is such a run on one H100 (--repeats 3): 7.23x.
"""

from __future__ import annotations
import argparse, json, os, statistics, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')


ARMS = ('batched', 'batched_repeat', 'sequential')


def run(
    G: int = 8,
    turns: int = 3,
    new_tokens: int = 64,
    hidden: int = 128,
    layers: int = 4,
    repeats: int = 5,
    threads: int = 0,
    prompts=('tools', 'bare'),
    device: str = 'cpu',
    log=print,
) -> dict:
    "Time G batched episodes against G one-at-a-time episodes of a tiny random model in the real loop."
    if repeats < 1 or G < 1 or turns < 1:
        raise ValueError(f'repeats, G and turns must be at least 1 (got {repeats}, {G}, {turns})')
    import torch

    if threads:
        torch.set_num_threads(threads)
    if torch.device(device).type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'--device {device}: PyTorch sees no CUDA GPU here')
    if device != 'cpu':
        torch.set_default_device(device)  # the model, the policy's tensors and the tokenizer's outputs live there
    from mmsearch.pipeline import build_world
    from mmsearch.bench import load_benchmark
    from mmsearch.search import serve
    from mmsearch.tools import ToolContext, tool_schemas
    from mmsearch.rollout import HFPolicy, RolloutConfig, rollout, toy_tokenizer, toy_model, SYSTEM_PROMPT

    tmp = Path(tempfile.mkdtemp(prefix='bench_rollout_'))
    root = build_world(tmp / 'w', seed=0, size='smoke', progress=False)
    item = load_benchmark(root, 'vdr', 'testmini')[0]
    tok = toy_tokenizer([SYSTEM_PROMPT, json.dumps(tool_schemas()), item['question']] * 4, 1024)
    model = toy_model(tok, hidden=hidden, layers=layers)
    pol = HFPolicy(model, tok, batch_size=G, temperature=1.0, min_new_tokens=new_tokens)
    res = dict(
        G=G,
        turns=turns,
        new_tokens=new_tokens,
        model=f'Qwen2ForCausalLM H{hidden}/L{layers}',
        params=sum(p.numel() for p in model.parameters()),
        torch_threads=torch.get_num_threads(),
        device=torch.cuda.get_device_name() if device.startswith('cuda') else device,
        load_before=os.getloadavg()[0],
        target_ratio=4.0,
    )
    with serve(root) as url:
        ctx = ToolContext.local(url)
        rollout(pol, [item], ctx, G=2, cfg=RolloutConfig(max_turns=1, max_new_tokens=4))  # warm-up
        for prompt in prompts:
            cfg = RolloutConfig(
                max_turns=turns,
                max_new_tokens=new_tokens,
                max_errors=turns,
                render_tools=prompt == 'tools',
                system=SYSTEM_PROMPT if prompt == 'tools' else None,
            )
            secs = {arm: [] for arm in ARMS}
            for r in range(repeats):  # arms interleaved, so a slow spell of the shared machine hits every arm
                for arm in ARMS:
                    pol.read_prefix_once = arm != 'batched_repeat'
                    torch.manual_seed(r)
                    t0 = time.perf_counter()
                    ts = (
                        rollout(pol, [item], ctx, G=G, cfg=cfg)
                        if arm != 'sequential'
                        else [t for _ in range(G) for t in rollout(pol, [item], ctx, G=1, cfg=cfg)]
                    )
                    secs[arm].append(time.perf_counter() - t0)
                    assert len(ts) == G and all(len(t.steps) == turns for t in ts), [
                        (t.termination, len(t.steps)) for t in ts
                    ]
                    toks, first = sum(t.tokens['output'] for t in ts), ts[0].steps[0]['prompt_tokens']
            arms = {}
            for arm in ARMS:
                best = min(secs[arm])
                arms[arm] = dict(
                    seconds=round(best, 3),
                    all_seconds=[round(x, 3) for x in secs[arm]],
                    tokens=toks,
                    tokens_per_s=round(toks / best, 1),
                    first_prompt_tokens=first,
                )
                log(
                    f'{prompt:5s} {arm:14s} {best:7.2f} s  {toks} tokens  {toks / best:7.1f} tok/s  '
                    f'(first prompt {first} tokens)'
                )
            paired = sorted(a / b for a, b in zip(secs['sequential'], secs['batched']))
            arms['ratio'] = round(arms['sequential']['seconds'] / arms['batched']['seconds'], 2)
            arms['paired_ratios'] = dict(
                min=round(paired[0], 2), median=round(statistics.median(paired), 2), max=round(paired[-1], 2)
            )
            arms['read_once_speedup'] = round(arms['batched_repeat']['seconds'] / arms['batched']['seconds'], 2)
            log(
                f"{prompt:5s} ratio sequential / batched = {arms['ratio']}x "
                f"(target >= 4; per repeat {arms['paired_ratios']}); "
                f"batched_repeat / batched = {arms['read_once_speedup']}x"
            )
            res[prompt] = arms
    res['load_after'] = os.getloadavg()[0]
    res['ratio'] = res[prompts[0]]['ratio']
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    torch.set_default_device(None)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--G', type=int, default=8)
    p.add_argument('--turns', type=int, default=3)
    p.add_argument('--new-tokens', type=int, default=64)
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument(
        '--threads', type=int, default=0, help='torch threads (0: torch default; 1 is much faster on a busy machine)'
    )
    p.add_argument('--device', default='cpu', help='where the model runs (cuda: on a GPU)')
    p.add_argument('--out', type=Path, default=ROOT / 'reports' / 'metrics' / 'bench_rollout.json')
    a = p.parse_args(argv)
    res = run(a.G, a.turns, a.new_tokens, a.hidden, a.layers, a.repeats, a.threads, device=a.device)
    from mmsearch.core import write_json

    write_json(a.out, res)
    print(a.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
