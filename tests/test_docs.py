"""The docs site opens in headless Chromium: a rendered notebook page shows its title, sidebar and figure.

Chromium comes from Debian (`apt-get install chromium`, done by .ci/run); without it the test is skipped with a reason.
"""

import base64, io, json, shutil, subprocess
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from mmsearch.docs import build_docs

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason='no chromium on PATH (apt-get install chromium)')


def chromium(*args, timeout=90):
    return subprocess.run(
        [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def executed_notebook(path: Path):
    "A notebook like an executed run copy: a title, prose and a figure output (a blue square) from matplotlib."
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 3))
    ax.add_patch(plt.Rectangle((0, 0), 1, 1, color=(0.1, 0.2, 0.9)))
    ax.axis('off')
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    plt.close(fig)
    cells = [
        dict(cell_type='markdown', id='a', metadata={}, source='# Blue figures\n\n> A page with a figure.'),
        dict(
            cell_type='code',
            id='b',
            metadata={},
            execution_count=1,
            source='show()',
            outputs=[
                dict(
                    output_type='display_data',
                    metadata={},
                    data={'image/png': base64.b64encode(buf.getvalue()).decode(), 'text/plain': 'fig'},
                )
            ],
        ),
    ]
    path.write_text(json.dumps(dict(nbformat=4, nbformat_minor=5, metadata={}, cells=cells)))


@needs_chromium
def test_site_page_renders_with_figure(tmp_path):
    runs = tmp_path / 'runs'
    runs.mkdir()
    executed_notebook(runs / '01_world.ipynb')  # stands in for the run copy of nbs/01_world.ipynb
    site = build_docs(tmp_path / 'site', ROOT / 'nbs', runs, ROOT / 'reports' / 'trajectories', progress=False)
    assert {p.name for p in site.glob('*.html')} >= {'index.html', '00_core.html', '01_world.html', '05_grpo.html'}
    dom = chromium('--dump-dom', (site / '01_world.html').as_uri()).stdout
    assert '<h1' in dom and 'Blue figures' in dom and 'id="mm-nav"' in dom and 'href="05_grpo.html"' in dom
    shot = tmp_path / 'shot.png'
    chromium('--window-size=1200,900', f'--screenshot={shot}', (site / '01_world.html').as_uri())
    a = np.asarray(Image.open(shot).convert('RGB')).astype(int)
    assert a.shape == (900, 1200, 3)
    blue = int(((a[..., 2] > 180) & (a[..., 0] < 60) & (a[..., 1] < 90)).sum())
    assert blue > 5000, f'the figure is not visible in the screenshot ({blue} blue pixels)'


@needs_chromium
def test_index_links_every_page(tmp_path):
    site = build_docs(
        tmp_path / 'site', ROOT / 'nbs', tmp_path / 'no-runs', tmp_path / 'no-trajectories', progress=False
    )
    dom = chromium('--dump-dom', (site / 'index.html').as_uri()).stdout
    for nb in sorted((ROOT / 'nbs').glob('[0-9]*.ipynb')):
        assert f'href="{nb.stem}.html"' in dom, nb.stem


def test_bad_notebook_keeps_previous_site(tmp_path):
    nbs = tmp_path / 'nbs'
    nbs.mkdir()
    (nbs / '00_a.ipynb').write_text(
        json.dumps(
            dict(
                nbformat=4,
                nbformat_minor=5,
                metadata={},
                cells=[dict(cell_type='markdown', id='a', metadata={}, source='# A')],
            )
        )
    )
    site = build_docs(tmp_path / 'site', nbs, tmp_path / 'none', tmp_path / 'none', progress=False)
    (nbs / '01_b.ipynb').write_text('{"cells": [')
    with pytest.raises(json.JSONDecodeError):
        build_docs(tmp_path / 'site', nbs, tmp_path / 'none', tmp_path / 'none', progress=False)
    assert (site / '00_a.html').exists() and not (site / '01_b.html').exists()
