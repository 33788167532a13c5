"HFPolicy with a tiny randomly initialised Qwen2ForCausalLM and a tokenizer built here, in the real rollout loop."

import json
import pytest, torch
from mmsearch.tools import tool_schemas
from mmsearch.rollout import (
    HFPolicy,
    RolloutConfig,
    rollout,
    first_messages,
    toy_tokenizer,
    toy_model,
    SYSTEM_PROMPT,
)


@pytest.fixture(scope='module')
def policy():
    corpus = [
        SYSTEM_PROMPT,
        json.dumps(tool_schemas()),
        'Question: Who designed the tower? <think>search</think> <answer>Tash Morun</answer>',
    ] * 4
    tok = toy_tokenizer(corpus, 512)
    return HFPolicy(toy_model(tok, hidden=32, layers=1), tok, batch_size=4)


def test_tokenizer_template_and_tool_tokens(policy):
    tok = policy.tok
    assert tok.padding_side == 'left' and tok.eos_token == '<|im_end|>'
    for t in ['<tool_call>', '</tool_call>', '<think>']:
        ids = tok(t, add_special_tokens=False)['input_ids']
        assert len(ids) == 1
        assert tok.decode(ids, skip_special_tokens=True) == t  # tool tokens survive decoding
    text = policy.render(first_messages('Q?', '/a.png'), tool_schemas())
    assert text.endswith('<|im_start|>assistant\n') and '"name": "crop_and_search"' in text and '<|image_pad|>' in text


def test_batched_generation_matches_one_by_one(policy):
    convs = [
        first_messages('Who designed the tower?', '/a.png'),
        first_messages('What year?'),
        first_messages('A much longer question about the population of a city somewhere?'),
    ]
    outs = policy.generate(convs, tools=tool_schemas(), max_new_tokens=6)
    assert len(outs) == 3 and all(isinstance(o, str) for o in outs)
    assert [n for _, n in policy.last_lengths] == [6, 6, 6] or all(n <= 6 for _, n in policy.last_lengths)
    assert [p for p, _ in policy.last_lengths] == [policy.count_tokens(c, tool_schemas()) for c in convs]
    assert [policy.generate([c], tools=tool_schemas(), max_new_tokens=6)[0] for c in convs] == outs


def test_sampling_and_min_tokens(policy):
    p = HFPolicy(policy.model, policy.tok, temperature=1.0, min_new_tokens=5)
    torch.manual_seed(0)
    p.generate([first_messages('Q?')], max_new_tokens=5)
    assert p.last_lengths[0][1] == 5


def test_rollout_with_random_model(policy, tmp_path):
    "A random model never produces a valid action: every episode stops by the rules, none crashes."

    class NoSearch:  # a context whose env is never called: outputs are gibberish
        tool_names = ['image_search', 'crop_and_search', 'text_search', 'visit']
        from mmsearch.tools import SearchEnv as env_cls

        def make(self, image=None):
            return self.env_cls(None, image=image)

    items = [dict(id=f'i{k}', question=f'Question {k}?', answers=['x'], image=None) for k in range(2)]
    ts = rollout(policy, items, NoSearch(), G=3, cfg=RolloutConfig(max_new_tokens=6, max_turns=4))
    assert len(ts) == 6 and [t.sample for t in ts] == [0, 1, 2, 0, 1, 2]
    for t in ts:
        assert t.termination in ('errors', 'max_turns', 'repetition', 'answer')
        assert all(s['output_tokens'] <= 6 for s in t.steps) and t.tokens['output'] == sum(
            s['output_tokens'] for s in t.steps
        )
        assert t.tokens['max_prompt'] >= t.steps[0]['prompt_tokens'] > 100
        assert t.correct in (0.0, 1.0)


def test_bf16_model_generates_on_every_path(policy):
    "A bf16 model runs with the prefix cache on and off, read once and repeated, across two turns (own rows reused)."
    model = toy_model(policy.tok, hidden=32, layers=1).to(torch.bfloat16)
    convs = [first_messages('Who designed the tower?'), first_messages('What year was the bridge built?')]
    for kw in (dict(prefix_cache=False), dict(read_prefix_once=False), dict(read_prefix_once=True)):
        p = HFPolicy(model, policy.tok, **kw)
        outs = p.generate(convs, tools=tool_schemas(), max_new_tokens=4)
        later = [
            c + [dict(role='assistant', content=o), dict(role='user', content='Go on.')] for c, o in zip(convs, outs)
        ]
        assert len(p.generate(later, tools=tool_schemas(), max_new_tokens=4)) == 2
        assert all(n <= 4 for _, n in p.last_lengths)
    assert p.engine._rows and p.engine._rows[0][2][0][0].dtype == torch.bfloat16  # own keys kept in the model dtype
