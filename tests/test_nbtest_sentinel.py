"Guards against vacuous notebook test runs: nbdev's runner must report a failing notebook as failed."

from pathlib import Path
from nbdev.test import test_nb as run_notebook


def test_failing_notebook_is_reported():
    ok, _ = run_notebook(Path(__file__).parent / 'fixtures' / 'fails.ipynb', do_print=False)
    assert ok is False
