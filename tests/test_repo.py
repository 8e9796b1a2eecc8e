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
