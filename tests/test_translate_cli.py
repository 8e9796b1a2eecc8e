"""`mlatr-translate` as a user starts it: the console script end to end on a tiny random NLLB model saved to a folder
(the `from_pretrained` path a real checkpoint takes), a rerun served from the cache, and `python -m` (the notebook
tests the engines, the cache and the checks in-process)."""
import json, subprocess, sys

from conftest import console_script


def test_translates_and_resumes_from_its_cache(tmp_path, nllb_dir):
    rows = [dict(id=f'c{i}', audio=f'c{i}.wav', captions={'eng_Latn': [f'A dog barks {i} times.', 'Rain.']}) for i in range(3)]
    (tmp_path/'en.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    cmd = [console_script('mlatr-translate'), str(tmp_path/'en.jsonl'), '--langs', 'deu_Latn', '--output', str(tmp_path/'de.jsonl'),
           '--model', str(nllb_dir), '--max-length', '8', '--beam-size', '1', '--device', 'cpu', '--no-progress', '--json']
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report['langs']['deu_Latn']['captions'] == 4 and report['langs']['deu_Latn']['translated'] == 4   # 'Rain.' once
    assert (tmp_path/'de.cache.jsonl').read_text().count('"translation"') == 4
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert json.loads(again.stdout)['langs']['deu_Latn']['cached'] == 4
    assert (tmp_path/'de.cache.jsonl').read_text().count('"translation"') == 4   # nothing translated twice
    assert (tmp_path/'de.jsonl').read_text().count('"translated"') == report['langs']['deu_Latn']['clips']


def test_bad_input_exits_1_with_the_reason(tmp_path, nllb_dir):
    (tmp_path/'en.jsonl').write_text(json.dumps(dict(id='a', audio='a.wav', captions={'eng_Latn': ['A dog.']})) + '\n')
    r = subprocess.run([sys.executable, '-m', 'mlatr_nb.translate', str(tmp_path/'en.jsonl'), '--langs', 'xx_Latn',
                        '--output', str(tmp_path/'x.jsonl'), '--model', str(nllb_dir)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "Unknown language code 'xx_Latn'" in r.stderr, r.stderr
    r = subprocess.run([console_script('mlatr-translate'), str(tmp_path/'en.jsonl'), '--langs', 'deu_Latn', '--output',
                        str(tmp_path/'x.csv')], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and '--output must be a .jsonl file' in r.stderr
    r = subprocess.run([console_script('mlatr-translate'), str(tmp_path/'en.jsonl'), '--langs', 'deu_Latn', '--output',
                        str(tmp_path/'x.jsonl'), '--beam-size', '0'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and 'argument --beam-size: must be a positive integer, got 0' in r.stderr, r.stderr
    assert not (tmp_path/'x.jsonl').exists()
