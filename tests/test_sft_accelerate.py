"""SFT under `accelerate launch` with 2 CPU processes trains like one process with the same global batch."""

import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STEPS, BATCH, LR = 16, 4, '5e-3'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from mmsearch.pipeline import build_world
    from mmsearch.pipeline import ensure_zoo
    from mmsearch.search import serve
    from mmsearch.tools import ToolContext
    from mmsearch import synth

    tmp = tmp_path_factory.mktemp('acc')
    wdir = build_world(tmp / 'w', seed=0, size='smoke', progress=False)
    zoo = ensure_zoo('smoke', wdir, progress=False)
    with serve(wdir) as url:
        ctx = ToolContext.local(url)
        sets = {f'vdr_{k}': v for k, v in synth.synth_vdr(wdir, ctx, n=12, seed=0).items()}
    return tmp, zoo, synth.save_synth(sets, tmp / 'synth')


def run_sft(cmd, out, model, data):
    env = dict(os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false')
    args = [
        'sft',
        '--model',
        str(model),
        '--data',
        str(data),
        '--out',
        str(out),
        '--steps',
        str(STEPS),
        '--batch',
        str(BATCH),
        '--lr',
        LR,
    ]
    r = subprocess.run(cmd + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r, json.loads((out / 'sft.json').read_text())


def test_two_processes_match_one(setup):
    tmp, zoo, data = setup
    _, one = run_sft([str(BIN / 'python'), '-m', 'mmsearch.cli'], tmp / 'one', zoo['vlm'], data)
    r, two = run_sft(
        [
            str(BIN / 'accelerate'),
            'launch',
            '--multi_gpu',
            '--num_processes',
            '2',
            '--num_machines',
            '1',
            '--mixed_precision',
            'no',
            '--dynamo_backend',
            'no',
            '-m',
            'mmsearch.cli',
        ],
        tmp / 'two',
        zoo['vlm'],
        data,
    )
    assert one['processes'] == 1 and two['processes'] == 2
    assert r.stdout.count('[sft] 2 process(es)') == 1  # only the main process reports and saves
    a, b = one['losses'], two['losses']
    print('one process  ', [round(x, 2) for x in a])
    print('two processes', [round(x, 2) for x in b])
    assert len(a) == len(b) == STEPS
    assert abs(a[0] - b[0]) / a[0] < 0.15  # same model, same global batch size at the start
    assert a[-1] < 0.75 * a[0] and b[-1] < 0.75 * b[0]  # both learn
    assert abs(a[-1] - b[-1]) / a[-1] < 0.35  # and end in the same place
    from mmsearch.evaluate import load_policy

    assert load_policy(str(tmp / 'two')).is_vlm  # the 2-process model loads like any other
