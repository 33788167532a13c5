"GRPO: the loss mask, masked episodes, advantages on hand-computed groups, and a killed run that resumes."

import json, os, signal, subprocess, sys, textwrap, time
from dataclasses import asdict
import pytest, torch
from mmsearch.grpo import (
    RLConfig,
    group_advantages,
    encode_episode,
    collate,
    token_logprobs,
    policy_loss,
    model_inputs,
    update,
    load_checkpoint,
    train,
    GRPOEnv,
    CKPT,
)
from mmsearch.tools import tool_schemas

SCRIPT = '''
import itertools
from mmsearch.rollout import ScriptedPolicy
def scripted(model, proc, cfg):
    "Search once, then answer right and wrong in turn: each group of 2 has different rewards, so every step updates."
    n = itertools.count()
    def turn(msgs, item):
        if not any(m['role'] == 'tool' for m in msgs):
            tc = '{"name": "text_search", "arguments": {"query": ["%s"]}}' % item['question'][:40].replace('"', '')
            return '<think>look it up</think>\\n<tool_call>\\n' + tc + '\\n</tool_call>'
        return '<think>done</think>\\n<answer>%s</answer>' % (item['answers'][0] if next(n) % 2 == 0 else 'nobody')
    p = ScriptedPolicy(turn); p.name = 'scripted'; return p
'''


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    "A smoke world and a random tiny Qwen2.5-VL with the zoo's tokenizer, processor and chat template."
    from mmsearch.pipeline import build_world
    from mmsearch.zoo import zoo_preset, train_tokenizer, vlm_config, make_processor, tokenizer_corpus
    from transformers import Qwen2_5_VLForConditionalGeneration

    root = tmp_path_factory.mktemp('grpo')
    build_world(root / 'w', seed=0, size='smoke', progress=False)
    p = zoo_preset('smoke')
    tok = train_tokenizer(tokenizer_corpus(root / 'w')[:400], 400)
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(vlm_config(p, tok)).eval()
    proc = make_processor(tok, p)
    model.save_pretrained(root / 'vlm')
    proc.save_pretrained(root / 'vlm')
    (root / 'scripted.py').write_text(SCRIPT)
    return dict(root=root, world=root / 'w', model_dir=root / 'vlm', model=model, proc=proc)


def _episode(setup, answer='Goka Bridge', tool='TOOLRESULT: [Goka Bridge](http://x/Goka) is a bridge.'):
    from mmsearch.rollout import materialise_image
    from mmsearch.bench import load_benchmark

    img = materialise_image(load_benchmark(setup['world'], 'fvqa', 'train')[0]['image'])
    return [
        {'role': 'system', 'content': 'You are a search agent.'},
        {
            'role': 'user',
            'content': [{'type': 'image', 'image': img}, {'type': 'text', 'text': 'Question: Who made this?'}],
        },
        {
            'role': 'assistant',
            'content': '<think>search</think>',
            'tool_calls': [{'type': 'function', 'function': {'name': 'text_search', 'arguments': {'query': ['x']}}}],
        },
        {'role': 'tool', 'name': 'text_search', 'content': tool},
        {'role': 'assistant', 'content': f'<answer>{answer}</answer>'},
    ]


def test_tool_result_tokens_carry_no_gradient(setup):
    """Token by token: the loss's gradient reaches the logits that predict the model's own tokens, never those that
    predict tool-result tokens."""
    proc, model = setup['proc'], setup['model']
    tok = proc.tokenizer
    enc = encode_episode(_episode(setup), proc, tool_schemas(GRPOEnv))
    b = collate([enc], tok.pad_token_id)
    ids, lm = b['input_ids'][0].tolist(), b['loss_mask'][0].tolist()
    # the mask covers exactly the two assistant turns and their <|im_end|>
    written = tok.decode([i for i, m in zip(ids, lm) if m])
    assert written == (
        '<think>search</think>\n<tool_call>\n'
        '{"name": "text_search", "arguments": {"query": ["x"]}}\n</tool_call><|im_end|>'
        '<answer>Goka Bridge</answer><|im_end|>'
    )
    tool_positions = [t for t in range(len(ids)) if not lm[t]]
    assert 'TOOLRESULT' in tok.decode([ids[t] for t in tool_positions])
    model.train()
    out = model(**model_inputs(b))
    logits = out.logits
    logits.retain_grad()
    logp = token_logprobs(logits, b['input_ids'])
    mask = (b['loss_mask'][:, 1:] * b['attention_mask'][:, 1:]).float()
    loss, _, n = policy_loss(logp, logp.detach(), torch.tensor([1.0]), mask)
    loss.backward()
    model.eval()
    model.zero_grad()
    g = logits.grad[0].abs().sum(-1)  # row t predicts token t+1
    for t in range(len(ids) - 1):
        if lm[t + 1]:
            assert g[t] > 0, f'no gradient for written token {t + 1}'
        else:
            assert g[t] == 0, (
                f'gradient leaks into the prediction of non-written token {t + 1} ({tok.decode([ids[t + 1]])!r})'
            )
    assert n == sum(lm[1:]) and g[len(ids) - 1] == 0


def test_masked_episode_in_baseline_but_not_in_loss(setup):
    "An anomalous episode changes the others' advantages (baseline) but adds nothing to the gradient."
    proc, model = setup['proc'], setup['model']
    schemas = tool_schemas(GRPOEnv)
    encs = [encode_episode(_episode(setup, a), proc, schemas) for a in ('Goka Bridge', 'nobody')]
    masked = encode_episode(_episode(setup, 'something else entirely', tool='junk ' * 50), proc, schemas)
    rewards = [1.0, 0.0, 1.0]
    adv = group_advantages(rewards, 3, 'rloo')
    assert adv.tolist() == pytest.approx([0.5, -1.0, 0.5])
    assert group_advantages(rewards[:2], 2, 'rloo').tolist() == pytest.approx(
        [1.0, -1.0]
    )  # without it the baseline differs
    cfg = RLConfig(micro_batch=2)

    def grads(es, a, w):
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        u = update(model, opt, es, a, w, cfg, proc.tokenizer.pad_token_id)
        return u, [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]

    u3, g3 = grads(encs + [masked], adv, [1.0, 1.0, 0.0])
    u2, g2 = grads(encs, adv[:2], [1.0, 1.0])
    assert u3['loss_tokens'] == u2['loss_tokens'] and u3['updated']
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(g3, g2))
    _, g4 = grads(encs + [masked], adv, [1.0, 1.0, 1.0])  # unmasked, the same episode does change the gradient
    assert not all(torch.allclose(a, b, atol=1e-7) for a, b in zip(g4, g2))


@pytest.mark.parametrize('bf16', [False, True])
def test_update_changes_float32_weights_with_and_without_bf16(setup, bf16):
    "One update with a bf16 autocast forward, or without: it runs, moves the weights, and they stay float32."
    import copy

    proc = setup['proc']
    model = copy.deepcopy(setup['model'])
    encs = [encode_episode(_episode(setup, a), proc, tool_schemas(GRPOEnv)) for a in ('Goka Bridge', 'nobody')]
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    u = update(
        model, opt, encs, torch.tensor([1.0, -1.0]), [1.0, 1.0], RLConfig(bf16=bf16), proc.tokenizer.pad_token_id
    )
    assert u['updated'] and u['bf16'] is bf16 and u['grad_norm'] > 0
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_advantages_on_hand_computed_groups():
    assert group_advantages([1, 0, 0, 1], 4, 'rloo').tolist() == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3])
    s = (1 / 3) ** 0.5  # unbiased std of [1, 0, 0, 1]
    assert group_advantages([1, 0, 0, 1], 4, 'grpo').tolist() == pytest.approx(
        [0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s], rel=1e-3
    )
    assert group_advantages([0.2, 0.8, 0.5, 1, 1, 1], 3, 'rloo').tolist() == pytest.approx([-0.45, 0.45, 0.0, 0, 0, 0])
    g = group_advantages([0.2, 0.8, 0.5], 3, 'grpo').tolist()
    assert g == pytest.approx([-1.0, 1.0, 0.0], rel=1e-3)  # std 0.3: (±0.3)/0.3
    r = torch.tensor([0.3, 0.9, 0.0, 0.6])
    G = 4  # RLOO = G/(G-1) (r - mean)
    assert group_advantages(r, G, 'rloo').tolist() == pytest.approx((G / (G - 1) * (r - r.mean())).tolist(), abs=1e-6)
    with pytest.raises(ValueError, match='groups of G=3'):
        group_advantages([1, 0], 3)


def _cfg(**kw):
    return RLConfig(
        **dict(
            dict(
                steps=6,
                items_per_step=2,
                group_size=2,
                eval_every=0,
                eval_n=2,
                save_every=1,
                max_turns=3,
                max_new_tokens=32,
                lr=1e-3,
                micro_batch=4,
            ),
            **kw,
        )
    )


def test_killed_run_resumes_from_last_checkpoint(setup):
    "A run killed with SIGKILL after a checkpoint resumes there: same step count, optimizer state carried over."
    out = setup['root'] / 'run'
    code = textwrap.dedent(f'''
        import sys; sys.path.insert(0, {str(setup['root'])!r})
        from scripted import scripted
        from mmsearch.grpo import train, RLConfig
        import json; cfg = RLConfig(**json.loads({json.dumps(asdict(_cfg()))!r}))
        train({str(setup['model_dir'])!r}, {str(setup['world'])!r}, {str(out)!r}, cfg, progress=False, policy=scripted)
    ''')
    env = dict(os.environ, HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false')
    p = subprocess.Popen(
        [sys.executable, '-c', code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        t0 = time.time()
        while time.time() - t0 < 300:
            st = load_checkpoint(out)
            if st and st['step'] >= 2:
                break
            if p.poll() is not None:
                pytest.fail('the training process ended early:\n' + p.stdout.read().decode()[-3000:])
            time.sleep(0.2)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    st = load_checkpoint(out)
    k = st['step']
    assert 2 <= k < 6, k
    assert all(h['updated'] and h['masked'] == 0 for h in st['history'] if h['kind'] == 'train'), st['history']
    saved = torch.load(out / CKPT / 'optimizer.pt', weights_only=True)
    steps_saved = {int(v['step']) for v in saved['state'].values()}
    updates = sum(h.get('updated', False) for h in st['history'] if h['kind'] == 'train')
    assert steps_saved == {updates} and updates >= 1  # AdamW's own step counter = updates so far
    from importlib import util

    spec = util.spec_from_file_location('scripted', setup['root'] / 'scripted.py')
    mod = util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    logs = []
    hist = train(
        setup['model_dir'], setup['world'], out, _cfg(steps=k + 1), progress=False, policy=mod.scripted, log=logs.append
    )
    assert any(f'resuming {out.name} at step {k}' in l for l in logs)
    train_steps = [h['step'] for h in hist if h['kind'] == 'train']
    assert train_steps == list(range(1, k + 2))  # no step repeated, none lost
    assert all(len(h['outcomes']) == 2 for h in hist if h['kind'] == 'eval')  # per-item outcomes of eval_n=2 items
    after = torch.load(out / CKPT / 'optimizer.pt', weights_only=True)
    new_updates = updates + hist[-2]['updated'] if hist[-1]['kind'] == 'eval' else updates + hist[-1]['updated']
    assert {int(v['step']) for v in after['state'].values()} == {
        new_updates
    }  # continued from the saved state, not from 0
    assert load_checkpoint(out)['step'] == k + 1
    with pytest.raises(ValueError, match='another configuration'):
        train(setup['model_dir'], setup['world'], out, _cfg(steps=k + 2, lr=0.5), progress=False, policy=mod.scripted)


def test_grpo_steps_on_an_idefics3_theta_v(setup, tmp_path):
    """GRPO on the smol zoo's θ_V family: a random toy Idefics3 on a Llama takes scripted episodes on images through
    the live service, updates (pixel values included), and its checkpoint loads back as Idefics3."""
    from importlib import util
    from mmsearch.idefics import idefics_config, make_idefics_processor
    from mmsearch.zoo import llama_config, load_vlm
    from transformers import Idefics3ForConditionalGeneration

    tok = setup['proc'].tokenizer
    config = idefics_config(llama_config(tok), tok, image_px=32, patch=16, v_hidden=32, v_layers=1, v_heads=2, v_ffn=64)
    torch.manual_seed(0)
    model, proc = Idefics3ForConditionalGeneration(config).eval(), make_idefics_processor(tok, config)
    model.save_pretrained(tmp_path / 'vlm')
    proc.save_pretrained(tmp_path / 'vlm')
    spec = util.spec_from_file_location('scripted', setup['root'] / 'scripted.py')
    mod = util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    hist = train(tmp_path / 'vlm', setup['world'], tmp_path / 'run', _cfg(steps=2), progress=False, policy=mod.scripted)
    steps = [h for h in hist if h['kind'] == 'train']
    assert [h['step'] for h in steps] == [1, 2] and all(h['updated'] and h['grad_norm'] > 0 for h in steps)
    trained, _ = load_vlm(tmp_path / 'run' / CKPT / 'model')
    assert type(trained).__name__ == 'Idefics3ForConditionalGeneration'
    moved = [not torch.equal(a, b) for a, b in zip(model.state_dict().values(), trained.state_dict().values())]
    assert any(moved)
