"""SFT throughput: the zoo's SFT path (`textagent.train_agent`, TRL's SFTTrainer) against a bare loop, same rows.

Run: .venv/bin/python benchmarks/bench_sft.py [--rows 8] [--preset smol] [--out benchmarks/results/bench_sft.json]

Both arms start from the same θ_B initial weights (SmolLM2-135M-Instruct for `smol`) and train on the same oracle
text trajectories of the default world, one row per optimizer step, under bf16 autocast with float32 master
weights where the CPU computes bf16 natively (`autocast_bf16`), float32 elsewhere. The bare loop is the floor of what
any SFT path can cost: tokenize with the chat template, forward, backward, clip, AdamW, no trainer. Our path is
timed by TRL's own `train_runtime` of `SFTTrainer.train()` (the dataset tokenization before it is reported apart).
Tokens/s counts every token of every row (prompt, tool results and assistant turns alike), since every token costs
a forward and a backward pass. Our arm's first step (warm-up) is timed, the bare loop's is not, which counts against
ours. The CPU is shared: the load average before and after is recorded.
"""

from __future__ import annotations
import argparse, copy, json, os, sys, tempfile, time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
import torch  # noqa: E402
from mmsearch.core import write_json, portable  # noqa: E402
from mmsearch.world import default_world_dir  # noqa: E402
from mmsearch.pipeline import build_world  # noqa: E402
from mmsearch.search import serve  # noqa: E402
from mmsearch.zoo import zoo_preset, zoo_tokenizer, autocast_bf16  # noqa: E402
from mmsearch.pretrain import initial_base  # noqa: E402
from mmsearch.textagent import agent_context, agent_schemas, oracle_trajectories, sft_row, train_agent  # noqa: E402


def sft_rows(world_dir: Path, n: int) -> list[dict]:
    "SFT rows of `n` correct oracle text trajectories of the world at `world_dir`."
    with serve(world_dir) as url:
        ctx = agent_context(url)
        trajs = oracle_trajectories(world_dir, ctx, n, progress=False)
        return [sft_row(t, agent_schemas(ctx)) for t in trajs]


def row_ids(tok, row: dict) -> torch.Tensor:
    "The token ids of one SFT row, rendered by the chat template with its tools."
    text = tok.apply_chat_template(row['messages'], tools=json.loads(row['tools']), tokenize=False)
    return torch.tensor([tok(text, add_special_tokens=False)['input_ids']])


def bare_loop(model, rows: list[torch.Tensor], lr: float, bf16: bool) -> float:
    "Seconds for one forward+backward+AdamW step per row (under bf16 autocast if `bf16`), no trainer."
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    t0 = time.perf_counter()
    for ids in rows:
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rows', type=int, default=8, help='rows (one optimizer step each) per arm')
    ap.add_argument('--preset', default='smol')
    ap.add_argument('--out', type=Path, default=ROOT / 'benchmarks' / 'results' / 'bench_sft.json')
    a = ap.parse_args(argv)
    if a.rows < 2:
        ap.error('--rows must be at least 2 (the first row of each arm is a warm-up)')
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    world = default_world_dir('default', 0)
    if not (world / 'manifest.json').exists():
        build_world(world, seed=0, size='default')
    p = zoo_preset(a.preset, agent_steps=a.rows - 1, agent_batch=1, agent_accum=1)
    tok = zoo_tokenizer(p, world)
    rows = sft_rows(world, a.rows + 8)[: a.rows]
    ids = [row_ids(tok, r) for r in rows]
    timed_tokens = sum(x.shape[1] for x in ids[1:])
    load0 = os.getloadavg()[0]
    init = initial_base(tok, p)
    bare_model = copy.deepcopy(init)
    bare_loop(bare_model, ids[:1], p.agent_lr, autocast_bf16(p.bf16, p.device))  # warm-up row
    bare_s = bare_loop(bare_model, ids[1:], p.agent_lr, autocast_bf16(p.bf16, p.device))
    del bare_model
    _, info = train_agent(copy.deepcopy(init), tok, rows[1:], p, Path(tempfile.mkdtemp()), progress=False)
    ours_s = info['train_runtime_s']
    res = dict(
        preset=p.name,
        rows=a.rows - 1,
        tokens=timed_tokens,
        mean_row_tokens=round(timed_tokens / (a.rows - 1)),
        bare=dict(seconds=round(bare_s, 1), tok_s=round(timed_tokens / bare_s, 1)),
        ours=dict(
            seconds=round(ours_s, 1),
            tok_s=round(timed_tokens / ours_s, 1),
            setup_s=round(info['train_s'] - ours_s, 1),
            trainer=info['trainer'],
            bf16=info['bf16'],
        ),
        ratio=round(bare_s / ours_s, 3),
        load_before=round(load0, 2),
        load_after=round(os.getloadavg()[0], 2),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        trl=version('trl'),
    )
    write_json(a.out, portable(res, ROOT))
    print(
        f"{res['rows']} rows, {timed_tokens} tokens: bare loop {res['bare']['tok_s']} tok/s, "
        f"ours {res['ours']['tok_s']} tok/s "
        f"-> ours/bare = {res['ratio']} (load {res['load_before']} -> {res['load_after']})"
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
