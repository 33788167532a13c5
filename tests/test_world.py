"The world's contract: deterministic, valid for any seed, and safe on bad input."

import json, subprocess, sys
from pathlib import Path
import pytest
from mmsearch.world import World, world_config, describe_look, position_word
from mmsearch.bench import check_world, load_benchmark


@pytest.fixture(scope='module')
def worlds(smoke_world):
    return {s: smoke_world(s) for s in (0, 1234)}


def manifest(root):
    return json.loads((Path(root) / 'manifest.json').read_text())


@pytest.mark.parametrize('seed', [0, 1234])
def test_every_item_is_answerable_and_labelled_right(worlds, seed):
    counts = check_world(worlds[seed])
    assert counts['items'] > 100 and 0 < counts['search_free'] < counts['items'] and counts['unseen'] > 0


def test_held_out_seed_gives_a_different_world(worlds):
    assert manifest(worlds[0])['content_hash'] != manifest(worlds[1234])['content_hash']
    assert {e.name for e in World.load(worlds[0]).entities} != {e.name for e in World.load(worlds[1234]).entities}


def test_cli_is_byte_identical_across_runs(tmp_path):
    outs = []
    for i in range(2):
        r = subprocess.run(
            [
                sys.executable,
                '-m',
                'mmsearch.cli',
                'world',
                '--size',
                'smoke',
                '--seed',
                '7',
                '--out',
                str(tmp_path / f'w{i}'),
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        outs.append(tmp_path / f'w{i}')
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob('*') if p.is_file())
    assert files == sorted(p.relative_to(outs[1]) for p in outs[1].rglob('*') if p.is_file())
    assert all((outs[0] / f).read_bytes() == (outs[1] / f).read_bytes() for f in files)


@pytest.mark.parametrize(
    'args,msg',
    [
        (['--size', 'huge'], 'unknown world size'),
        (['--size', 'smoke', '--scenes', '-2'], 'non-negative'),
        (['--size', 'smoke', '--entities', '-5'], 'non-negative'),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(tmp_path, args, msg):
    r = subprocess.run(
        [sys.executable, '-m', 'mmsearch.cli', 'world', *args, '--out', str(tmp_path / 'w')],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and msg in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_dir(tmp_path):
    (tmp_path / 'f').write_text('')
    r = subprocess.run(
        [sys.executable, '-m', 'mmsearch.cli', 'world', '--size', 'smoke', '--out', str(tmp_path / 'f' / 'w')],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and 'not a writable directory' in r.stderr


def test_long_tail_is_real(worlds):
    w = World.load(worlds[0])
    text = '\n'.join(w.pretrain)
    for e in w.entities:
        n = text.count(f'{e.name} looks like {describe_look(e.look)}.')
        assert n == e.mentions and (e.tier == 'head') == (n >= w.cfg.head_mentions) and (e.tier == 'tail') == (n == 0)
    pops = [e.popularity for e in sorted(w.entities, key=lambda e: e.rank)]
    assert all(a > b for a, b in zip(pops, pops[1:]))


def test_pages_describe_appearance(worlds):
    w = World.load(worlds[0])
    pages = {p['url']: p['text'] for p in w.pages}
    assert all(describe_look(e.look) in pages[e.url] for e in w.entities)
    assert len({describe_look(e.look) for e in w.entities}) == len(w.entities)


def test_scenes_are_cluttered_multi_scale(worlds):
    w = World.load(worlds[0])
    for s in w.scenes:
        ents = [o for o in s['objects'] if o['entity_id']]
        assert len(ents) >= 2 and len(s['objects']) > len(ents)
        assert all(
            0 <= o['box'][0] < o['box'][2] <= s['width'] and 0 <= o['box'][1] < o['box'][3] <= s['height']
            for o in s['objects']
        )
    scales = {o['scale'] for s in w.scenes for o in s['objects'] if o['entity_id']}
    assert scales == {'small', 'medium', 'large'}


def test_benchmarks_in_real_formats(worlds):
    root = worlds[0]
    b = root / 'benchmarks'
    rec = json.loads((b / 'infoseek_val.jsonl').read_text().splitlines()[0])
    assert {'data_id', 'image_id', 'question', 'answer', 'answer_eval', 'data_split'} <= set(rec)
    assert {json.loads(l)['data_split'] for l in (b / 'infoseek_val.jsonl').read_text().splitlines()} <= {
        'val_unseen_entity',
        'val_unseen_question',
    }
    import pandas as pd

    fv = pd.read_parquet(b / 'fvqa_test.parquet')
    assert {'prompt', 'images', 'reward_model', 'data_source', 'category', 'data_id'} <= set(fv.columns)
    assert set(fv.category) == {'search_free', 'search_required'} and fv.data_source.str.contains('mmsearch_r1').all()
    mm = pd.read_parquet(b / 'mmsearch_end2end.parquet')
    assert {'sample_id', 'query', 'query_image', 'gt_answer', 'alternative_gt_answers', 'area', 'subfield'} <= set(
        mm.columns
    )
    assert mm.query_image.isna().any() and mm.query_image.notna().any()
    vd = pd.read_parquet(b / 'vdr_testmini.parquet')
    assert {'id', 'question', 'answer', 'images'} <= set(vd.columns)
    tq = pd.read_parquet(b / 'textqa_train.parquet')
    assert {'question', 'golden_answers', 'prompt', 'reward_model', 'data_source'} <= set(tq.columns)
    train_unseen = [r for r in load_benchmark(root, 'textqa', 'train') if not r['meta']['seen']]
    assert train_unseen == []  # training splits never show unseen entities


def test_numeric_questions_carry_ranges(worlds):
    rows = [r for r in load_benchmark(worlds[0], 'infoseek', 'val') if r['range']]
    assert rows and all(r['range'][0] < float(r['answers'][0]) < r['range'][1] for r in rows)


def test_config_validation():
    with pytest.raises(ValueError, match='head_frac'):
        world_config('smoke', head_frac=0.7, tail_frac=0.6)
    assert position_word((300, 300, 380, 380), 384) == 'bottom right'
