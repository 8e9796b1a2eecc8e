"""Write README.md from nbs/index.ipynb without quarto.

`nbdev-readme` renders the front page through quarto, which is not installable on every machine this project
runs on. This does the same job for the parts the front page uses: markdown cells as they are, code cells as
fenced Python, their text outputs as plain blocks, and nbdev's `#| hide` / `#| echo: false` directives honoured.
`--check` exits 1 when README.md is out of date.
"""
import json, re, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*)$')
NOTEBOOK_LINK = re.compile(r'\]\((?:\d+_)?([A-Za-z0-9_]+)\.ipynb(#[^)]*)?\)')

def _docs_url() -> str:
    "The docs site's address, from pyproject.toml's [project.urls]."
    return tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['urls']['Documentation'].rstrip('/')

def link_pages(markdown: str, base: str) -> str:
    "Point links to chapter notebooks (`07_data.ipynb`) at their page on the docs site (`BASE/data.html`), as quarto does."
    return NOTEBOOK_LINK.sub(lambda m: f"]({base}/{m.group(1)}.html{m.group(2) or ''})", markdown)

def _directives(lines):
    "Split a code cell into its nbdev directives and its remaining source."
    found, body = [], []
    for line in lines:
        m = DIRECTIVE.match(line)
        if m and not body: found.append(m.group(1).strip())
        else: body.append(line)
    return found, ''.join(body).strip('\n')

def _outputs(cell):
    "The text outputs of a code cell, as one string."
    parts = []
    for out in cell.get('outputs', []):
        if out.get('output_type') == 'stream': parts.append(''.join(out['text']).replace('\r\n', '\n'))   # `!` output comes from a pty
        elif 'application/vnd.jupyter.widget-view+json' in out.get('data', {}): continue   # a live widget: nothing to show in text
        elif 'data' in out and 'text/markdown' in out['data']: parts.append(('md', ''.join(out['data']['text/markdown'])))
        elif 'data' in out and 'text/plain' in out['data'] and 'image/png' not in out['data']:
            parts.append(''.join(out['data']['text/plain']))
    return parts

def render(nb_path):
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    chunks = []
    for cell in nb['cells']:
        src = cell['source'] if isinstance(cell['source'], list) else cell['source'].splitlines(True)
        if cell['cell_type'] == 'markdown':
            chunks.append(link_pages(''.join(src).strip('\n'), _docs_url()))
            continue
        if cell['cell_type'] != 'code': continue
        dirs, body = _directives(src)
        if any(d in ('hide', 'include: false') or d.startswith('default_exp') or d == 'export' for d in dirs): continue
        if body and 'echo: false' not in dirs: chunks.append(f'```python\n{body}\n```')
        for out in _outputs(cell):
            if isinstance(out, tuple): chunks.append(out[1].strip('\n'))
            elif out.strip(): chunks.append('```\n' + out.strip('\n') + '\n```')
    header = '<!-- Generated from nbs/index.ipynb by scripts/make_readme.py: edit the notebook, not this file. -->\n\n'
    return header + '\n\n'.join(c for c in chunks if c) + '\n'

def main(argv):
    text = render(ROOT/'nbs'/'index.ipynb')
    readme = ROOT/'README.md'
    if '--check' in argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            print('README.md is out of date: run `python scripts/make_readme.py`.', file=sys.stderr)
            return 1
        return 0
    if not readme.exists() or readme.read_text(encoding='utf-8') != text: readme.write_text(text, encoding='utf-8')
    return 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
