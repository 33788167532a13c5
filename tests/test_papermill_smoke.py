"Papermill overrides the parameters cell (the `parameters` tag survives nbdev_clean) and runs the world notebook."

import json, shutil
from pathlib import Path
import papermill as pm

ROOT = Path(__file__).resolve().parent.parent


def test_parameters_tag_survives_and_takes_effect(tmp_path):
    nb = json.loads((ROOT / 'nbs' / '01_world.ipynb').read_text())
    assert any('parameters' in c.get('metadata', {}).get('tags', []) for c in nb['cells'])
    out, world_dir = tmp_path / 'out.ipynb', ROOT / 'data' / 'worlds' / 'smoke-seed5'
    existed = world_dir.exists()
    pm.execute_notebook(
        ROOT / 'nbs' / '01_world.ipynb',
        out,
        parameters=dict(seed=5, report_dir=str(tmp_path / 'rep')),
        cwd=str(ROOT / 'nbs'),
        kernel_name='python3',
        progress_bar=False,
    )
    ran = json.loads(out.read_text())
    assert any('injected-parameters' in c.get('metadata', {}).get('tags', []) for c in ran['cells'])
    metrics = json.loads((tmp_path / 'rep' / 'metrics' / 'world.json').read_text())
    assert metrics['seed'] == 5 and metrics['size'] == 'smoke'
    assert (tmp_path / 'rep' / 'figures' / 'world_scenes.png').stat().st_size > 10_000
    if not existed:
        shutil.rmtree(world_dir)
