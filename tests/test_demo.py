"""The demo entry points: `mlatr-demo` (the console script declared in pyproject.toml) and `python -m mlatr_nb.ced`.

Each runs in a subprocess, exactly as a user would start it, and the printed report is checked for consistency:
chunk counts follow the frame counts, the embedding has the model's width, and the similarity table is a proper
cosine-similarity matrix.
"""
import math, re, subprocess, sys
from conftest import console_script

ROW = re.compile(r'^(\d+): (.+?)\s+(\d+\.\d\d)\s+(\d+)\s+(\d+)$')
WIDTH = {'tiny': 192, 'mini': 256}


def _console_script() -> str: return console_script('mlatr-demo')


def _run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f'{cmd} exited with {r.returncode}:\n{r.stderr}'
    return r.stdout


def _check_report(out: str, n_clips: int, size: str = 'tiny') -> list[tuple]:
    "Parse the demo's report and check it; return the (index, name, seconds, frames, chunks) rows."
    assert f'CED-{size} with RANDOM weights' in out
    lines = out.splitlines()
    rows = [(int(m[1]), m[2], float(m[3]), int(m[4]), int(m[5])) for m in map(ROW.match, lines) if m]
    assert [r[0] for r in rows] == list(range(n_clips)), out
    for _, name, sec, frames, chunks in rows:
        assert name.split()[0] in ('tone', 'noise', 'chirp')
        assert 1.0 <= sec <= 25.0
        assert abs(frames - (sec * 100 + 1)) <= 1              # 100 frames per second, plus the centred first one
        assert chunks == max(1, math.ceil(frames / 1012))      # 1012-frame chunks, an exact multiple keeps them all
    assert f'embedding shape: ({n_clips}, {WIDTH[size]})' in out
    start = lines.index('cosine similarity:') + 2
    sim = [[float(v) for v in line.split()[1:]] for line in lines[start:start + n_clips]]
    assert all(len(row) == n_clips for row in sim)
    for i in range(n_clips):
        assert abs(sim[i][i] - 1) < 1e-3
        for j in range(n_clips):
            assert abs(sim[i][j] - sim[j][i]) < 1e-3 and -1.001 <= sim[i][j] <= 1.001
    return rows


def test_console_script_defaults():
    rows = _check_report(_run([_console_script()]), 6)
    assert [r[2] for r in rows] == [1.0, 5.8, 10.6, 15.4, 20.2, 25.0]
    assert [r[4] for r in rows] == [1, 1, 2, 2, 2, 3]          # the 25 s clip is cut into 3 chunks


def test_console_script_options():
    rows = _check_report(_run([_console_script(), '--n-clips', '3', '--size', 'mini', '--seed', '2']), 3, 'mini')
    assert [r[2] for r in rows] == [1.0, 13.0, 25.0]


def test_python_dash_m():
    _check_report(_run([sys.executable, '-m', 'mlatr_nb.ced', '--n-clips', '2']), 2)


def test_seed_repeats():
    cmd = [_console_script(), '--n-clips', '2', '--seed', '5']
    assert _run(cmd) == _run(cmd)


def test_bad_arguments_fail_clearly():
    r = subprocess.run([_console_script(), '--size', 'huge'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "invalid choice: 'huge'" in r.stderr
    r = subprocess.run([_console_script(), '--n-clips', '0'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'at least 1' in r.stderr
