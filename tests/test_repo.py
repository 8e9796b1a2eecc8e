"Checks on the project itself: README in step with the front-page notebook, CI running the README's command."
import importlib, subprocess, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _ci_command():
    lines = [l.strip() for l in (ROOT/'.ci'/'run').read_text().splitlines()]
    return lines[lines.index("# The README's test command:") + 1]

def test_readme_is_generated_from_index():
    res = subprocess.run([sys.executable, str(ROOT/'scripts'/'make_readme.py'), '--check'], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr

def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT/'README.md').read_text()
    cmd = _ci_command()
    assert cmd == 'bash scripts/install.sh && bash scripts/test.sh'
    assert f'```bash\n{cmd}\n```' in readme

def test_console_scripts_resolve():
    scripts = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['scripts']
    assert scripts, 'no console scripts declared'
    for name, target in scripts.items():
        mod, fn = target.split(':')
        assert callable(getattr(importlib.import_module(mod), fn)), name

def test_every_console_script_speaks_one_dialect():
    "--help shows real defaults (never a placeholder object) and hyphenated flags first, for every script and subcommand."
    import re
    scripts = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['scripts']
    helps = {name: [] for name in scripts}
    for name, target in scripts.items():
        mod, fn = target.split(':')
        commands = [[]] + ([['build'], ['query']] if name == 'mlatr-search' else [])
        for sub in commands:
            code = f"import sys; from {mod} import {fn}; sys.argv[0] = {name!r}; {fn}({sub + ['--help']!r})"
            res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
            assert res.returncode == 0, (name, sub, res.stderr)
            helps[name].append(res.stdout)
    for name, pages in helps.items():
        for page in pages:
            assert 'object at 0x' not in page, name
            usage = page.split('\n\n')[0]
            assert not re.search(r'\[--\w+_\w+', usage), (name, usage)       # usage lists --batch-size, not --batch_size
            assert '--help' in page
            _reads_like_a_man_page(name, page)

def _reads_like_a_man_page(name: str, page: str):
    "Headed groups with `general` last, each flag once and hyphenated, each default once, and 3-4 example command lines."
    import re
    body, _, after = page.partition('\nexamples:\n')
    assert after, f'{name}: no examples section'
    examples = [l.strip() for l in after.split('\n\n')[0].splitlines() if not l.startswith('      ')]
    assert 3 <= len(examples) <= 4, (name, examples)
    assert all(e.startswith((name, 'accelerate launch')) for e in examples), (name, examples)
    headers = [l[:-1] for l in body.splitlines() if re.fullmatch(r'[a-z][a-z ]*:', l)]
    assert headers[-1] == 'general' and 'options' not in headers, (name, headers)
    entries = re.split(r'\n(?=  -)', body.split('\n\n', 1)[1])             # one entry per flag
    shown = [m.group(1) for e in entries for m in [re.match(r'\s+(-[-\w]+)', e)] if m]
    assert not [f for f in shown if '_' in f], (name, shown)
    assert len(shown) == len(set(shown)), (name, sorted(f for f in shown if shown.count(f) > 1))
    for e in entries:
        assert len(re.findall(r'\(default|default:', e)) <= 1, (name, e)
        assert not re.search(r'--\w+_\w+ ', e.split('\n')[0]), (name, e)  # no underscore alias beside a flag
