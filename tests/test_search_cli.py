"`mlatr-search` as a user starts it: the console script and `python -m mlatr_nb.search` (the notebook tests the commands)."
import subprocess, sys

from conftest import console_script


def test_help_reads_like_a_man_page():
    for cmd in ([console_script('mlatr-search'), '--help'], [sys.executable, '-m', 'mlatr_nb.search', '--help']):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and 'build' in r.stdout and 'query' in r.stdout, r.stderr
    r = subprocess.run([console_script('mlatr-search'), 'query', '--help'], capture_output=True, text=True, timeout=300)
    assert '--lang CODE' in r.stdout and '--json' in r.stdout


def test_missing_index_is_a_clear_error(tmp_path):
    r = subprocess.run([console_script('mlatr-search'), 'query', str(tmp_path/'nowhere'), 'a dog', '--lang', 'eng_Latn'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'No audio index at' in r.stderr
    r = subprocess.run([console_script('mlatr-search'), 'frobnicate'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "invalid choice: 'frobnicate'" in r.stderr
