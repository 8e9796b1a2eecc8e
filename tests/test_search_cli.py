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


def test_count_flags_are_checked_by_argparse(tmp_path):
    "A count of 0 (or a negative number of workers) stops at the parser, with exit 2, before anything is read or written."
    for args, message in ((['query', str(tmp_path/'idx'), 'a dog', '--lang', 'eng_Latn', '-k', '0'], 'argument -k: must be a positive integer, got 0'),
                          (['build', 'model', 'audio', str(tmp_path/'idx'), '--num-workers', '-1'], 'argument --num-workers: must be an integer >= 0, got -1'),
                          (['build', 'model', 'audio', str(tmp_path/'idx'), '--ann', 'ivf', '--nlist', '0'], 'argument --nlist: must be a positive integer, got 0')):
        r = subprocess.run([console_script('mlatr-search'), *args], capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path/'idx').exists()
