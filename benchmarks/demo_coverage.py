"""Demo coverage: how many exported definitions are followed at once by a cell that uses them.

Run: .venv/bin/python benchmarks/demo_coverage.py [--missing] [--nbs DIR] [NOTEBOOK ...]

The rule, exactly:
  * An *exported cell* is a code cell one of whose leading `#|` directive lines is `#| export` or `#| exports`
    (optionally naming a module, as in `#| export mod`).
  * Its *definitions* are the top-level `def`, `async def` and `class` statements, and the top-level assignments
    (plain, annotated or tuple targets) to public ALL_CAPS names (`[A-Z][A-Z0-9_]*`). Names with a leading
    underscore are private and not counted.
  * The cell's *window* is every code cell after it and before the next exported cell (markdown is skipped).
    Cells marked `#| eval: false` are left out of the window: a cell that never runs shows nothing. `#| slow` cells
    count (`nbdev_test --flags slow` runs them).
  * A definition is *demonstrated* when its name occurs as a Python name token in a window cell: comments do not
    count, names inside f-string expressions do (tokenized), a plain string does not. A use under `#| hide` or in a
    test-only cell counts. IPython lines are read as code: `%time f(x)` as `f(x)`; `%%` and `!` lines are dropped.
  * A name defined twice in one notebook is counted once per definition.
Prints, per notebook, demonstrated/exported and the percentage, then the total; `--missing` lists the names that
are not demonstrated, by notebook. Stdlib only.
"""

from __future__ import annotations
import argparse, ast, io, json, re, sys, tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPORT_RE = re.compile(r'^#\|\s*exports?(\s+\S+)?\s*$')
EVAL_FALSE_RE = re.compile(r'^#\|\s*eval:\s*false\s*$')
CONST_RE = re.compile(r'^[A-Z][A-Z0-9_]*$')
FSTRING_PREFIX_RE = re.compile(r'^[A-Za-z]*')


def directives(src: str) -> list[str]:
    "The leading `#|` lines of a cell's source."
    out = []
    for line in src.splitlines():
        if not line.strip():
            continue
        if not line.startswith('#|'):
            break
        out.append(line.strip())
    return out


def is_export(src: str) -> bool:
    "Whether a code cell is exported (`#| export` or `#| exports` among its directives)."
    return any(EXPORT_RE.match(d) for d in directives(src))


def _targets(node) -> list[str]:
    "Names bound by an assignment target (tuples unpacked)."
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for elt in node.elts for n in _targets(elt)]
    return []


def definitions(src: str) -> list[str]:
    "Public top-level defs, classes and ALL_CAPS constants of an exported cell."
    tree = ast.parse(src)
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [n for t in node.targets for n in _targets(t) if CONST_RE.match(n)]
        elif isinstance(node, ast.AnnAssign):
            names += [n for n in _targets(node.target) if CONST_RE.match(n)]
    return [n for n in names if not n.startswith('_')]


def _as_python(src: str) -> str:
    "IPython magics read as code: `%time f(x)` -> `f(x)`; `%%...` and `!...` lines dropped."
    lines = []
    for line in src.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(('%%', '!')):
            lines.append('')
        elif stripped.startswith('%'):
            rest = stripped.split(None, 1)
            lines.append(rest[1] if len(rest) > 1 else '')
        else:
            lines.append(line)
    return '\n'.join(lines) + '\n'


def used_names(src: str) -> set[str]:
    "Python name tokens of a cell (comments and plain strings excluded); a regex over the text if it won't tokenize."
    code = _as_python(src)
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        no_comments = re.sub(r'#.*', '', code)
        return set(re.findall(r'\b[A-Za-z_]\w*\b', no_comments))
    names = {t.string for t in toks if t.type == tokenize.NAME}
    for t in toks:
        if t.type == tokenize.STRING and 'f' in FSTRING_PREFIX_RE.match(t.string).group(0).lower():
            for expr in re.findall(r'\{([^{}]+)\}', t.string):  # before 3.12 an f-string is one STRING token
                names |= used_names(expr)
    return names


def coverage(path: Path) -> tuple[list[str], list[str]]:
    "(exported definitions, those not demonstrated) of one notebook, in order."
    cells = [c for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'code']
    srcs = [''.join(c['source']) for c in cells]
    exported, missing = [], []
    for i, src in enumerate(srcs):
        if not is_export(src):
            continue
        names = definitions(src)
        window = set()
        for later in srcs[i + 1 :]:
            if is_export(later):
                break
            if any(EVAL_FALSE_RE.match(d) for d in directives(later)):
                continue
            window |= used_names(later)
        exported += names
        missing += [n for n in names if n not in window]
    return exported, missing


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*', help='notebook names or paths (default: every notebook in --nbs)')
    p.add_argument('--nbs', default=str(ROOT / 'nbs'))
    p.add_argument('--missing', action='store_true', help='list the undemonstrated names')
    p.add_argument('--json', action='store_true', help='print the counts as JSON')
    a = p.parse_args(argv)
    nbs = Path(a.nbs)
    if a.notebooks:
        paths = [Path(n) if Path(n).exists() else nbs / (Path(n).stem + '.ipynb') for n in a.notebooks]
    else:
        paths = sorted(nbs.glob('*.ipynb'))
    rows = {}
    for path in paths:
        exported, missing = coverage(path)
        rows[path.stem] = dict(exported=len(exported), shown=len(exported) - len(missing), missing=missing)
    total = sum(r['exported'] for r in rows.values())
    shown = sum(r['shown'] for r in rows.values())
    if a.json:
        print(json.dumps(dict(notebooks=rows, exported=total, shown=shown), indent=1))
        return
    for stem, r in rows.items():
        if not r['exported']:
            continue
        pct = 100 * r['shown'] / r['exported']
        print(f"{stem:<16} {r['shown']:>4}/{r['exported']:<4} {pct:5.1f}%")
        if a.missing and r['missing']:
            print('    missing: ' + ', '.join(r['missing']))
    pct = 100 * shown / total if total else 100.0
    print(f"{'total':<16} {shown:>4}/{total:<4} {pct:5.1f}%")


if __name__ == '__main__':
    sys.exit(main())
