"demo_coverage's rule on a hand-made notebook: which exported names count as shown by the cells after them."

import importlib.util, json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('demo_coverage', ROOT / 'benchmarks' / 'demo_coverage.py')
dc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dc)


def notebook(tmp_path, *cells):
    "A notebook file of (kind, source) cells."
    nb = dict(
        nbformat=4,
        nbformat_minor=5,
        metadata={},
        cells=[dict(cell_type=k, source=s, metadata={}, outputs=[], execution_count=None) for k, s in cells],
    )
    path = tmp_path / 'nb.ipynb'
    path.write_text(json.dumps(nb))
    return path


def test_window_ends_at_the_next_exported_cell(tmp_path):
    path = notebook(
        tmp_path,
        ('code', '#| export\ndef shown(): pass\ndef later(): pass\nLIMIT = 3\n_private = 1\nlower = 2'),
        ('markdown', 'shown later LIMIT'),  # prose is not a use
        ('code', 'shown()  # later is only named in a comment'),
        ('code', "#| export\nclass Next: pass"),
        ('code', 'later(); Next()'),
    )  # after the next exported cell: too late for later
    exported, missing = dc.coverage(path)
    assert exported == ['shown', 'later', 'LIMIT', 'Next']
    assert missing == ['later', 'LIMIT']


def test_fstrings_count_and_plain_strings_and_skipped_cells_do_not(tmp_path):
    path = notebook(
        tmp_path,
        ('code', '#| exports\nA_B = 1\nC_D = 2\nE_F = 3\ndef g(): pass'),
        ('code', "print(f'{A_B + 1}', 'C_D')"),
        ('code', '#| eval: false\nE_F'),
        ('code', '%time g()'),
    )
    assert dc.coverage(path) == (['A_B', 'C_D', 'E_F', 'g'], ['C_D', 'E_F'])


def test_main_prints_counts_and_missing(tmp_path, capsys):
    path = notebook(
        tmp_path, ('code', '#| export\ndef f(): pass'), ('code', 'f()'), ('code', '#| export\ndef h(): pass')
    )
    dc.main([str(path), '--missing'])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ['nb', '1/2', '50.0%']
    assert out[1].strip() == 'missing: h'
    assert out[-1].split() == ['total', '1/2', '50.0%']
