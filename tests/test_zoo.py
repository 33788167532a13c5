"Model zoo: one tokenizer and one ancestor for θ_B, θ_V, θ_S; exact text logits after a merge; presets, loading errors."

import json, threading, time
from pathlib import Path
import pytest, torch
from mmsearch.pipeline import ensure_zoo
from mmsearch.zoo import (
    zoo_preset,
    load_lm,
    load_vlm,
    load_model,
    inference_dtype,
    lm_into_vlm,
    vlm_lm_state,
    save_model,
    zoo_info,
    file_lock,
    special_ids,
    CHAT_TEMPLATE,
    ZOO_PARTS,
    PRESETS,
)

torch.set_num_threads(2)


@pytest.fixture(scope='session')
def models(zoo):
    base, btok = load_lm(zoo['base'])
    agent, atok = load_lm(zoo['agent'])
    vlm, proc = load_vlm(zoo['vlm'])
    return dict(base=base, btok=btok, agent=agent, atok=atok, vlm=vlm, proc=proc)


TEXTS = [
    'Question: Who designed Goka Bridge? Answer:',
    'Zorbai Tower was built in 1843.',
    '<tool_call>\n{"name": "text_search", "arguments": {"query": ["Goka Bridge"]}}\n</tool_call>',
]


def _merged_text_logits(vlm, agent, tok):
    "θ_S's LM put into θ_V (in place), then the text logits of both on the same texts."
    lm_into_vlm(vlm, agent)
    x = tok(TEXTS, return_tensors='pt', padding=True)
    with torch.no_grad():
        return agent(**x).logits, vlm(**x).logits


def test_merge_theta_s_into_vlm_keeps_text_logits_bit_identical(zoo, models):
    agent, tok, vlm = models['agent'], models['atok'], load_vlm(zoo['vlm'])[0]
    before = {k: v.clone() for k, v in vlm.state_dict().items() if k.startswith('model.visual.')}
    a, b = _merged_text_logits(vlm, agent, tok)
    assert (a - b).abs().max().item() == 0.0 and torch.equal(a, b)
    assert all(torch.equal(v, vlm.state_dict()[k]) for k, v in before.items())  # the vision tower is untouched
    sd = agent.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in vlm_lm_state(vlm).items())


def test_delta_v_is_nonzero_and_theta_s_moved(models):
    sd_b = models['base'].state_dict()
    dv = max((v - sd_b[k]).abs().max().item() for k, v in vlm_lm_state(models['vlm']).items())
    ds = max((v - sd_b[k]).abs().max().item() for k, v in models['agent'].state_dict().items())
    assert dv > 0 and ds > 0


def test_one_tokenizer_and_identical_special_ids(models):
    btok, atok, ptok = models['btok'], models['atok'], models['proc'].tokenizer
    assert btok.get_vocab() == atok.get_vocab() == ptok.get_vocab()
    cfgs = [models['base'].config, models['agent'].config, models['vlm'].config.text_config]
    for k in (
        'eos_token_id',
        'pad_token_id',
        'bos_token_id',
        'vocab_size',
        'rms_norm_eps',
        'hidden_size',
        'num_hidden_layers',
        'tie_word_embeddings',
    ):
        assert (
            len({getattr(c, k, None) for c in cfgs[:2]} | {getattr(cfgs[2], k, getattr(models['vlm'].config, k, None))})
            == 1
        ), k
    assert {c.rope_parameters['rope_theta'] for c in cfgs} == {10000.0}
    ids = special_ids(btok)
    vc = models['vlm'].config
    assert (vc.image_token_id, vc.video_token_id, vc.vision_start_token_id, vc.vision_end_token_id) == (
        ids['image_token_id'],
        ids['video_token_id'],
        ids['vision_start_token_id'],
        ids['vision_end_token_id'],
    )
    assert models['base'].config.eos_token_id == btok.convert_tokens_to_ids('<|im_end|>')


@pytest.mark.parametrize(
    's',
    [
        'Plain words.',
        'Digits 1234567 and 3.14',
        'héllo wörld ✓ 😀',
        '  spaces\n\nand\ttabs  ',
        '<tool_call>\n{"a": [1, 2]}\n</tool_call>',
        '<|im_start|>user\nhi<|im_end|>',
        '',
    ],
)
def test_tokenizer_round_trip(models, s):
    tok = models['btok']
    assert tok.decode(tok(s, add_special_tokens=False)['input_ids']) == s
    assert tok.unk_token is None


def test_chat_template_recognised_by_trl(models):
    from trl.chat_template_utils import (
        supports_tool_calling,
        add_response_schema,
        get_training_chat_template,
        parse_response,
    )

    tok = models['atok']
    assert tok.chat_template == CHAT_TEMPLATE and supports_tool_calling(tok)
    tok = add_response_schema(tok)  # raises ValueError for an unrecognised template
    assert '{% generation %}' in get_training_chat_template(tok)
    prompt = tok.apply_chat_template(
        [{'role': 'user', 'content': 'Where is Goka Bridge?'}], add_generation_prompt=True, tokenize=False
    )
    out = (
        '<tool_call>\n{"name": "visit", "arguments": {"url": "https://wiki.example/Goka_Bridge", "goal": "city"}}\n'
        '</tool_call><|im_end|>'
    )
    r = parse_response(tok, tok(prompt + out)['input_ids'], prefix=tok(prompt)['input_ids'])
    assert r['tool_calls'][0]['function'] == {
        'name': 'visit',
        'arguments': {'url': 'https://wiki.example/Goka_Bridge', 'goal': 'city'},
    }


def test_agent_was_trained_on_the_rl_time_tool_schemas(zoo):
    from transformers.utils import get_json_schema
    from mmsearch.textagent import agent_context

    ctx = agent_context('http://127.0.0.1:9')  # no request is made
    env = ctx.make()
    assert zoo_info(zoo['agent'])['tool_schemas'] == [get_json_schema(env.text_search), get_json_schema(env.visit)]


def test_save_load_round_trip(models, tmp_path):
    base, tok = models['base'], models['btok']
    save_model(base, tmp_path / 'm', tok, 'base', dict(preset='smoke', note='round trip'))
    m2, t2 = load_lm(tmp_path / 'm')
    x = tok(TEXTS, return_tensors='pt', padding=True)
    with torch.no_grad():
        assert torch.equal(base(**x).logits, m2(**x).logits)
    card = (tmp_path / 'm' / 'README.md').read_text()
    assert 'θ_B' in card and 'round trip' in card and zoo_info(tmp_path / 'm')['model_class'] == 'Qwen2ForCausalLM'
    assert t2.get_vocab() == tok.get_vocab() and t2.chat_template == CHAT_TEMPLATE
    vlm, proc = models['vlm'], models['proc']
    save_model(vlm, tmp_path / 'v', proc, 'vlm', dict(preset='smoke'))
    v2, p2 = load_vlm(tmp_path / 'v')
    assert type(p2).__name__ == 'ImageOnlyQwen2_5_VLProcessor' and p2.image_processor.size == proc.image_processor.size


def test_load_in_bf16(models, tmp_path):
    "load_model(dtype=...) casts every parameter, text and vision; bf16 logits stay near float32's; None keeps float32."
    base, tok = models['base'], models['btok']
    save_model(base, tmp_path / 'm', tok, 'base', dict(preset='smoke'))
    save_model(models['vlm'], tmp_path / 'v', models['proc'], 'vlm', dict(preset='smoke'))
    x = tok(TEXTS, return_tensors='pt', padding=True)
    for d in ('m', 'v'):
        m16, _ = load_model(tmp_path / d, dtype=torch.bfloat16)
        assert {p.dtype for p in m16.parameters()} == {torch.bfloat16}
        m32, _ = load_model(tmp_path / d)
        assert {p.dtype for p in m32.parameters()} == {torch.float32}
        with torch.no_grad():
            ref, got = m32(**x).logits, m16(**x).logits.float()
        assert (got - ref).abs().max() < 0.1 * ref.abs().max(), (d, (got - ref).abs().max())
    assert load_lm(tmp_path / 'm', dtype='auto')[0].dtype == inference_dtype()
    with pytest.raises(ValueError, match="unknown dtype 'bf16x'"):
        load_model(tmp_path / 'm', dtype='bf16x')


def test_zoo_cards_record_how_models_were_made(zoo):
    facts = json.loads((Path(zoo['root']) / 'zoo.json').read_text())
    assert (
        facts['preset'] == 'smoke'
        and len(facts['world_hash']) == 64
        and set(facts['times_s']) >= {'base', 'vlm', 'agent', 'total'}
    )
    for part in ('base', 'vlm', 'agent'):
        info = zoo_info(zoo[part])
        assert info['world_hash'] == facts['world_hash'] and info['losses'] and info['steps'] > 0
        assert (Path(zoo[part]) / 'README.md').read_text().startswith('---')
    assert set(ZOO_PARTS) <= set(zoo)


def test_ensure_zoo_reuses_and_locks(zoo, world_dir, tmp_path):
    t = (Path(zoo['root']) / 'zoo.json').stat().st_mtime
    t0 = time.time()
    again = ensure_zoo('smoke', world_dir, progress=False)
    assert (
        time.time() - t0 < 2 and again['root'] == zoo['root'] and (Path(zoo['root']) / 'zoo.json').stat().st_mtime == t
    )
    order = []

    def other():
        with file_lock(tmp_path / 'x.lock'):
            order.append('other')

    with file_lock(tmp_path / 'x.lock'):
        th = threading.Thread(target=other)
        th.start()
        time.sleep(0.3)
        order.append('holder')
    th.join()
    assert order == ['holder', 'other']  # the second builder waited for the first


def test_bad_presets_and_missing_paths(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown zoo preset 'huge'"):
        zoo_preset('huge')
    with pytest.raises(ValueError, match='unknown preset field'):
        zoo_preset('tiny', layerz=2)
    for k in ('MMSEARCH_BASE_PATH', 'MMSEARCH_VLM_PATH', 'MMSEARCH_AGENT_PATH'):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ValueError, match='needs checkpoint paths'):
        ensure_zoo('real')
    with pytest.raises(FileNotFoundError, match='no config.json'):
        zoo_preset('real', base_path=str(tmp_path / 'Qwen2.5-7B'), vlm_path=str(tmp_path), agent_path=str(tmp_path))
    with pytest.raises(FileNotFoundError, match='no config.json'):
        load_lm(tmp_path / 'nothing')
    with pytest.raises(FileNotFoundError, match='no config.json'):
        load_vlm(tmp_path / 'nothing')
    with pytest.raises(FileNotFoundError, match='not a world directory'):
        ensure_zoo('smoke', tmp_path)
    assert not any(tmp_path.iterdir())  # nothing was written


def test_real_preset_from_environment(zoo, monkeypatch):
    monkeypatch.setenv('MMSEARCH_BASE_PATH', str(zoo['base']))
    monkeypatch.setenv('MMSEARCH_VLM_PATH', str(zoo['vlm']))
    monkeypatch.setenv('MMSEARCH_AGENT_PATH', str(zoo['agent']))
    paths = ensure_zoo('real')
    assert paths['base'] == Path(zoo['base']) and paths['vlm'] == Path(zoo['vlm']) and paths['root'] is None
    assert type(load_lm(paths['agent'])[0]).__name__ == 'Qwen2ForCausalLM'


def test_presets_are_consistent():
    for name in PRESETS:
        if name == 'real':
            continue
        p = zoo_preset(name)
        assert p.hidden % p.heads == 0 and p.head_dim % 4 == 0 and p.heads % p.kv_heads == 0
    assert (
        zoo_preset('smoke').hidden < zoo_preset('tiny').hidden <= zoo_preset('small').hidden < zoo_preset('gpu').hidden
    )


def test_interrupted_build_resumes_from_finished_parts(zoo, world_dir, tmp_path):
    "A build killed after θ_V keeps tokenizer, θ_B and θ_V and trains only θ_S."
    import shutil
    from mmsearch.core import file_hash
    from mmsearch.pipeline import build_zoo

    partial = tmp_path / 'partial'
    for part in ('tokenizer', 'base', 'vlm'):
        shutil.copytree(zoo[part], partial / part)
    before = {part: file_hash(partial / part / 'model.safetensors') for part in ('base', 'vlm')}
    facts = build_zoo('smoke', world_dir, partial, progress=False)
    assert facts['resumed'] == ['tokenizer', 'base', 'vlm'] and 'base' not in facts['times_s']
    assert {part: file_hash(partial / part / 'model.safetensors') for part in ('base', 'vlm')} == before
    assert (partial / 'agent' / 'zoo.json').exists() and zoo_info(partial / 'agent')['role'] == 'agent'


def test_idefics3_theta_v_on_a_llama_base(zoo, world_dir, tmp_path):
    """train_vlm on a toy Llama builds an Idefics3 θ_V (δ_V ≠ 0); θ_S's LM loaded into it gives θ_S's text logits, saved
    and loaded too."""
    import copy
    from transformers import AutoTokenizer
    from mmsearch.world import World
    from mmsearch.zoo import toy_llama
    from mmsearch.pretrain import train_vlm

    tok = AutoTokenizer.from_pretrained(zoo['tokenizer'])
    base = toy_llama(tok, hidden=64, layers=2, heads=2, kv_heads=1, ffn=128)
    vlm, proc, info = train_vlm(
        World.load(world_dir),
        base,
        tok,
        zoo_preset('smoke', base_model='smollm2', vision_steps=3, vlm_steps=3),
        progress=False,
    )
    assert type(vlm).__name__ == 'Idefics3ForConditionalGeneration' and info['family'] == 'idefics3'
    assert info['vision']['objective'] == 'words'
    sd_b = base.state_dict()
    assert (
        set(vlm_lm_state(vlm)) == set(sd_b)
        and max((v - sd_b[k]).abs().max().item() for k, v in vlm_lm_state(vlm).items()) > 0
    )
    agent = copy.deepcopy(base)  # θ_S: θ_B with every tensor moved
    with torch.no_grad():
        for prm in agent.parameters():
            prm.add_(0.02 * torch.randn_like(prm))
    vision = {
        k: v.clone() for k, v in vlm.state_dict().items() if k.startswith(('model.vision_model.', 'model.connector.'))
    }
    a, b = _merged_text_logits(vlm, agent, tok)
    assert torch.equal(a, b)
    assert all(torch.equal(v, vlm.state_dict()[k]) for k, v in vision.items())
    save_model(vlm, tmp_path / 'v', proc, 'vlm', dict(preset='smoke'))
    v2, p2 = load_vlm(tmp_path / 'v')
    assert type(p2).__name__ == 'ImageOnlyIdefics3Processor' and p2.image_seq_len == proc.image_seq_len
    with torch.no_grad():
        assert torch.equal(v2(**tok(TEXTS, return_tensors='pt', padding=True)).logits, a)
    v16, _ = load_vlm(tmp_path / 'v', dtype='bfloat16')  # Idefics3 in bf16: every parameter cast
    assert {p.dtype for p in v16.parameters()} == {torch.bfloat16}
