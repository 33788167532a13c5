"""bf16 against float32 weights on agent-like prompts: prefill and decode speed, and how often greedy tokens agree.

Run: .venv/bin/python benchmarks/bench_bf16_rollout.py MODEL_DIR [--rows 8] [--new-tokens 32] [--repeats 2]
                                                       [--threads 1] [--out FILE]

Setup: the text checkpoint at MODEL_DIR (e.g. data/models/smollm2-135m-instruct-<hash>, SmolLM2-135M-Instruct)
loaded twice with `zoo.load_lm`, in float32 and in bf16 (`dtype=torch.bfloat16`, what `zoo.inference_dtype` picks
where the CPU computes bf16 natively: AVX512-BF16 or AMX), with the zoo's tokenizer and chat template
(`zoo.pretrained_tokenizer`). The batch is --rows agent prompts as the rollout loop renders them: system prompt, the
four tool schemas, a different question each, every other row one turn further (a text_search call and its
observation), left-padded. Both dtypes get the same batch; the arms take turns within each of --repeats rounds,
so that a slow spell of the shared machine falls on both, and the best round counts. Measured per dtype:

  prefill   one forward pass over the whole batch into an empty `engine.append_cache` (tokens: the real, unpadded ones)
  decode    --new-tokens single-token steps of every row from that cache, greedy (tokens: rows x steps)
  engine    `engine.Engine.generate` (prefix cache, prefix read once) writing exactly --new-tokens tokens a row, as a
            rollout turn does, end to end

and the bf16 / float32 ratio of each. Token agreement compares the engine's greedy outputs (the end token allowed):
the share of positions where the bf16 token equals the float32 one, and the mean number of first tokens on which
the two agree before they part. The bf16 model is not the float32 one: tokens part where two are nearly tied.
Prints a table; --out also writes the numbers as JSON. The machine is shared; the load average is recorded.
"""

from __future__ import annotations
import argparse, os, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

QUESTIONS = (
    'Who designed the bridge in the photo?',
    'In which year was the tower at the top left of the image completed?',
    'What is the population of the city where the museum in the picture stands?',
    'Which river flows past the castle shown here?',
    'Who founded the guild whose hall is pictured?',
    'How tall is the lighthouse in the photo, in metres?',
    'What is the name of the architect of the station behind the tram?',
    'Which university owns the library in this image?',
)


def agent_prompts(rows: int) -> list[list[dict]]:
    "`rows` conversations as the rollout loop holds them: a question each, every other one a tool turn further."
    from mmsearch.rollout import first_messages

    convs = []
    for i in range(rows):
        q = QUESTIONS[i % len(QUESTIONS)]
        msgs = first_messages(q)
        if i % 2:
            call = {'type': 'function', 'function': {'name': 'text_search', 'arguments': {'query': [q]}}}
            obs = f'1. [{q.split()[-1]}](https://wiki.example/Result_{i})\nA landmark of the old town, built in 18{i}3.'
            msgs += [
                dict(role='assistant', content='<think>I should search.</think>', tool_calls=[call]),
                dict(role='tool', name='text_search', content=obs),
            ]
        convs.append(msgs)
    return convs


def timed(fn) -> tuple:
    "What `fn()` returns and the seconds it took."
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def prefill_decode(model, batch: dict, steps: int) -> tuple[float, float]:
    "Seconds of one prefill of `batch` into an append cache, and of `steps` greedy single-token steps after it."
    import torch
    from mmsearch.engine import append_cache

    mask = batch['attention_mask']
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = append_cache()
    with torch.no_grad():
        out, t_prefill = timed(
            lambda: model(
                input_ids=batch['input_ids'], attention_mask=mask, position_ids=positions, past_key_values=cache
            )
        )
        token = out.logits[:, -1].float().argmax(-1, keepdim=True)
        last = positions[:, -1:]
        t0 = time.perf_counter()
        for i in range(steps):
            mask = torch.cat([mask, torch.ones_like(token)], 1)
            out = model(input_ids=token, attention_mask=mask, position_ids=last + 1 + i, past_key_values=cache)
            token = out.logits[:, -1].float().argmax(-1, keepdim=True)
    return t_prefill, time.perf_counter() - t0


def agreement(a, b) -> dict:
    "The share of positions where token rows `a` and `b` agree, and the mean length of their common first tokens."

    same = a == b
    lead = same.long().cumprod(1).sum(1).float()
    return dict(token_agreement=round(float(same.float().mean()), 3), mean_common_prefix=round(float(lead.mean()), 1))


def run(
    model_dir: Path | str, rows: int = 8, new_tokens: int = 32, repeats: int = 2, threads: int = 1, log=print
) -> dict:
    "float32 against bf16 weights of the checkpoint at `model_dir` on the same agent-like batch, side by side."
    if rows < 1 or new_tokens < 1 or repeats < 1:
        raise ValueError(f'rows, new_tokens and repeats must be at least 1 (got {rows}, {new_tokens}, {repeats})')
    import torch
    from mmsearch.engine import Engine
    from mmsearch.tools import tool_schemas
    from mmsearch.zoo import load_lm, pretrained_tokenizer, native_bf16, inference_dtype

    if threads:
        torch.set_num_threads(threads)
    tok = pretrained_tokenizer(model_dir)
    texts = [
        tok.apply_chat_template(c, tools=tool_schemas(), add_generation_prompt=True, tokenize=False)
        for c in agent_prompts(rows)
    ]
    batch = dict(tok(texts, return_tensors='pt', padding=True, add_special_tokens=False))
    lengths = batch['attention_mask'].sum(1).tolist()
    models = {d: load_lm(model_dir, dtype=d)[0] for d in ('float32', 'bfloat16')}
    res = dict(
        model=str(model_dir),
        rows=rows,
        new_tokens=new_tokens,
        prompt_tokens=dict(min=min(lengths), max=max(lengths), total=sum(lengths)),
        torch_threads=torch.get_num_threads(),
        native_bf16=native_bf16('cpu'),
        inference_dtype=str(inference_dtype('cpu')).removeprefix('torch.'),
        load_before=os.getloadavg()[0],
    )
    secs = {d: dict(prefill=[], decode=[], engine=[]) for d in models}
    outs = {}
    for r in range(repeats):  # dtypes interleaved, so a slow spell of the shared machine hits both
        for d, model in models.items():
            t_prefill, t_decode = prefill_decode(model, batch, new_tokens)
            eng = Engine(model, tok.pad_token_id, tok.eos_token_id)
            new, t_engine = timed(lambda: eng.generate([batch], new_tokens, min_new_tokens=new_tokens)[0])
            for k, t in (('prefill', t_prefill), ('decode', t_decode), ('engine', t_engine)):
                secs[d][k].append(t)
            if r == 0:
                outs[d] = Engine(model, tok.pad_token_id, tok.eos_token_id).generate([batch], new_tokens)[0]
                assert new.shape == (rows, new_tokens), new.shape
    tokens = dict(prefill=sum(lengths), decode=rows * new_tokens, engine=rows * new_tokens)
    for d in models:
        res[d] = {
            k: dict(seconds=round(min(v), 3), tokens_per_s=round(tokens[k] / min(v), 1)) for k, v in secs[d].items()
        }
    res['bf16_speedup'] = {k: round(min(secs['float32'][k]) / min(secs['bfloat16'][k]), 2) for k in tokens}
    res['greedy'] = agreement(outs['float32'], outs['bfloat16'])
    res['load_after'] = os.getloadavg()[0]
    log(
        f"{rows} rows, prompts {res['prompt_tokens']['min']}-{res['prompt_tokens']['max']} tokens, "
        f"{new_tokens} new tokens a row, {res['torch_threads']} thread(s), native bf16: {res['native_bf16']}"
    )
    log(f"{'':9s} {'float32 tok/s':>14s} {'bf16 tok/s':>11s} {'bf16/fp32':>10s}")
    for k in tokens:
        log(
            f"{k:9s} {res['float32'][k]['tokens_per_s']:14.1f} {res['bfloat16'][k]['tokens_per_s']:11.1f} "
            f"{res['bf16_speedup'][k]:9.2f}x"
        )
    log(
        f"greedy tokens: {res['greedy']['token_agreement']:.1%} of positions agree; the first "
        f"{res['greedy']['mean_common_prefix']} of {new_tokens} agree on average before they part"
    )
    log(f"load average {res['load_before']:.1f} -> {res['load_after']:.1f}")
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('model', type=Path, help='a text checkpoint directory (SmolLM2: data/models/smollm2-135m-...)')
    p.add_argument('--rows', type=int, default=8)
    p.add_argument('--new-tokens', type=int, default=32)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--threads', type=int, default=1, help='torch threads (0: torch default)')
    p.add_argument('--out', type=Path, default=None, help='also write the numbers here as JSON')
    a = p.parse_args(argv)
    res = run(a.model, a.rows, a.new_tokens, a.repeats, a.threads)
    if a.out:
        from mmsearch.core import write_json

        write_json(a.out, res)
        print(a.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
