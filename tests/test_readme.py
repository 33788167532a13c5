"README.md is nbs/index.ipynb's markdown, and opens with the two commands that .ci/run and users run."

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_is_the_index_notebook():
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    md = '\n\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')
    assert (ROOT / 'README.md').read_text() == md + '\n', 'regenerate README.md from nbs/index.ipynb'


def test_two_commands_first_and_ci_runs_the_test_command():
    text = (ROOT / 'README.md').read_text()
    block = text.split('```bash')[1].split('```')[0].split('\n')
    cmds = [l.split('#')[0].strip() for l in block if l.strip()]
    assert cmds == ['make reports', 'make test']
    assert 'make test' in (ROOT / '.ci' / 'run').read_text().splitlines()[-1]
