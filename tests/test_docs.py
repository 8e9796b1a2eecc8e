"""The docs site and the public API's documentation.

nbdev renders each exported function and class with `show_doc`, which takes its summary from the docstring and the
table of parameters from docments (the comment after each parameter). These tests hold the whole public API to that:
every name in a module's `__all__` that is a function or class has a docstring, and every parameter and every field
has its comment. They also check the site's table of contents: `nbs/sidebar.yml` lists every chapter once, in the
reading order of the file names, and each chapter opens with a title and a one-line description.
"""
import ast, dataclasses, importlib, inspect, json, pkgutil, re, tomllib
from pathlib import Path

import pytest
import yaml
from fastcore.docments import docments

import mlatr_nb

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'
MODULES = sorted(m.name for m in pkgutil.iter_modules(mlatr_nb.__path__) if not m.name.startswith('_'))


def _public(module_name):
    mod = importlib.import_module(f'mlatr_nb.{module_name}')
    for name in mod.__all__:
        obj = getattr(mod, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == mod.__name__: yield name, obj


def _commented_fields(cls) -> set[str]:
    "Fields of a dataclass or NamedTuple whose line carries a comment (or, in a dataclass, `metadata['help']`)."
    src = inspect.getsource(cls)
    names = set()
    for node in ast.parse(src).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            lines = src.splitlines()[node.lineno - 1:node.end_lineno]
            if re.search(r'#\s*\S', lines[-1]) or "'help'" in ''.join(lines): names.add(node.target.id)
    return names


def _undocumented(obj) -> list[str]:
    "Parameters (or fields) of `obj` without a docments comment."
    if inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or hasattr(obj, '_fields')):
        fields = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else list(obj._fields)
        return sorted(set(fields) - _commented_fields(obj))
    fn = obj.__init__ if inspect.isclass(obj) else obj
    if inspect.isclass(obj) and '__init__' not in vars(obj): return []      # inherits a documented or trivial __init__
    docs = docments(fn, full=False)
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.name not in ('self', 'cls') and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return [p.name for p in params if not docs.get(p.name)]


@pytest.mark.parametrize('module_name', MODULES)
def test_public_api_is_documented(module_name):
    missing_doc, missing_params = [], []
    for name, obj in _public(module_name):
        if not inspect.getdoc(obj) or (inspect.isclass(obj) and not obj.__doc__): missing_doc.append(name)
        missing_params += [f'{name}({p})' for p in _undocumented(obj)]
    assert not missing_doc, f'mlatr_nb.{module_name}: no docstring for {missing_doc}'
    assert not missing_params, f'mlatr_nb.{module_name}: parameters without a docments comment: {missing_params}'


def _sidebar_files(entries):
    for e in entries:
        if isinstance(e, str): yield e
        else: yield from _sidebar_files(e.get('contents', []))


def test_sidebar_lists_every_chapter_once_in_reading_order():
    cfg = yaml.safe_load((NBS/'sidebar.yml').read_text())
    contents = cfg['website']['sidebar']['contents']
    listed = list(_sidebar_files(contents))
    chapters = sorted(p.name for p in NBS.glob('[0-9][0-9]_*.ipynb'))
    assert listed[0] == 'index.ipynb'
    assert listed[1:] == chapters, 'sidebar.yml must list every numbered notebook once, in file order'
    assert all(isinstance(e, str) or e.get('section') for e in contents), 'every group needs a section title'
    quarto = yaml.safe_load((NBS/'_quarto.yml').read_text())
    assert 'sidebar.yml' in quarto['metadata-files']
    nbdev = tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['nbdev']
    assert nbdev['custom_sidebar'] is True, 'nbdev-docs would overwrite the hand-made sidebar.yml'


@pytest.mark.parametrize('notebook', sorted(p.name for p in NBS.glob('*.ipynb')))
def test_chapter_opens_with_title_and_description(notebook):
    first = json.loads((NBS/notebook).read_text())['cells'][0]
    lines = ''.join(first['source']).splitlines()
    assert first['cell_type'] == 'markdown' and re.match(r'# \S', lines[0]), f'{notebook}: no "# Title" first'
    assert len(lines) > 2 and lines[1] == '' and lines[2].startswith('> '), f'{notebook}: no "> description" under the title'


def test_docs_workflow_builds_with_quarto():
    wf = yaml.safe_load((ROOT/'.github'/'workflows'/'deploy.yaml').read_text())
    steps = wf['jobs']['deploy']['steps']
    text = json.dumps(steps)
    assert 'quarto-dev/quarto-actions/setup' in text and 'nbdev-docs' in text and 'scripts/install.sh' in text
    assert any('actions-gh-pages' in s.get('uses', '') for s in steps)


# The limits that keep the docs readable (issue "Docs a newcomer finishes"); CI runs these, so they hold.
README_LIMIT, MARKDOWN_CELL_LIMIT, BENCHMARK_CELL_LIMIT = 10_000, 6_000, 300


def test_readme_reads_in_five_minutes():
    n = len((ROOT/'README.md').read_text(encoding='utf-8'))
    assert n < README_LIMIT, f'README.md is {n:,} characters; the limit is {README_LIMIT:,} (move detail to a chapter or the appendix)'


@pytest.mark.parametrize('notebook', sorted(p.name for p in NBS.glob('*.ipynb')))
def test_no_markdown_cell_is_a_wall(notebook):
    cells = json.loads((NBS/notebook).read_text(encoding='utf-8'))['cells']
    long = [(c.get('id'), len(''.join(c['source']))) for c in cells
            if c['cell_type'] == 'markdown' and len(''.join(c['source'])) > MARKDOWN_CELL_LIMIT]
    assert not long, f'{notebook}: markdown cells over {MARKDOWN_CELL_LIMIT:,} characters (id, length): {long}'


def _table_rows(markdown: str) -> list[list[str]]:
    rows = [l for l in markdown.splitlines() if l.startswith('|')]
    return [[c.strip() for c in r.strip().strip('|').split(' | ')] for r in rows if not set(r) <= set('|-: ')]


def test_benchmark_table_fits_on_a_screen():
    text = (ROOT/'benchmarks'/'README.md').read_text(encoding='utf-8')
    tables = re.findall(r'(?m)^\|.*\|\n\|[-:| ]+\|\n(?:\|.*\|\n?)+', text)
    assert len(tables) == 1, f'benchmarks/README.md holds {len(tables)} tables; one, of current figures, belongs there'
    header, *rows = _table_rows(tables[0])
    assert header == ['benchmark', 'current figure', 'date', 'command'], header
    scripts = sorted(p.name for p in (ROOT/'benchmarks').iterdir() if p.suffix in ('.py', '.sh'))
    named = {s for r in rows for s in scripts if s in r[3]}
    assert named == set(scripts), f'benchmarks without a row: {sorted(set(scripts) - named)}'
    for r in rows:
        assert len(r) == 4, r
        wide = [c for c in r if len(c) > BENCHMARK_CELL_LIMIT]
        assert not wide, f'cells over {BENCHMARK_CELL_LIMIT} characters: {wide}'
        assert re.fullmatch(r'20\d\d-\d\d-\d\d|—', r[2]), f'{r[0]}: date {r[2]!r}'
        assert r[3].startswith('`') and r[3].endswith('`'), f'{r[0]}: the command, in backticks'


def test_benchmark_history_is_newest_first():
    text = (ROOT/'benchmarks'/'HISTORY.md').read_text(encoding='utf-8')
    dates = re.findall(r'(?m)^## (20\d\d-\d\d-\d\d)', text)
    assert dates and dates == sorted(dates, reverse=True) and len(dates) == len(set(dates)), dates


def _page_notebooks() -> dict[str, str]:
    "The docs page of each notebook (`10_train.ipynb` renders as `train.html`), as nbdev names them."
    return {re.sub(r'^\d+_', '', p.stem) + '.html': p.name for p in NBS.glob('*.ipynb')}


def test_readme_chapter_links_resolve():
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    base = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['urls']['Documentation'].rstrip('/')
    pages = re.findall(re.escape(base) + r'/([\w-]+\.html)', readme)
    assert pages, 'the README links no chapter'
    missing = sorted(set(pages) - set(_page_notebooks()))
    assert not missing, f'README links pages with no notebook: {missing}'
    index = (NBS/'index.ipynb').read_text(encoding='utf-8')
    linked = set(re.findall(r'\]\((\w+\.ipynb)', index))
    assert linked and not linked - {p.name for p in NBS.glob('*.ipynb')}, sorted(linked)
    chapters = {p.name for p in NBS.glob('[0-9][0-9]_*.ipynb')}
    assert chapters <= linked, f'chapters the front page does not list: {sorted(chapters - linked)}'
