"""`accelerate launch --multi_gpu --num_processes 2 -m mlatr_nb.translate` translates a manifest exactly as one process does
(on a machine without GPUs too: `--multi_gpu` is what starts several processes; accelerate's `--cpu` starts one):
each process takes whole batches into its own part of the cache, the main process folds the parts and merges. A run
killed midway leaves parts that the next run folds in, so nothing is translated twice."""
import json, subprocess, sys

from conftest import console_script
from train_helpers import env
from mlatr_nb.translate import CACHE_FORMAT, TranslationCache

LANGS = ['fra_Latn', 'deu_Latn']


def translate_cmd(nllb_dir, manifest, output, processes: int) -> list[str]:
    launch = ([sys.executable, '-m', 'accelerate.commands.launch', '--num_processes', str(processes), '--num_machines', '1',
               '--mixed_precision', 'no', '--dynamo_backend', 'no', '--multi_gpu', '-m', 'mlatr_nb.translate']
              if processes > 1 else [console_script('mlatr-translate')])
    return launch + [str(manifest), '--langs', *LANGS, '--output', str(output), '--model', str(nllb_dir), '--max-length', '8',
                     '--beam-size', '1', '--batch-size', '3', '--keep-verbatim', '--no-progress', '--json']


def write_manifest(path, n=10):
    rows = [dict(id=f'c{i}', audio=f'c{i}.wav', captions={'eng_Latn': [f'A dog barks {i} times.', f'Rain number {i % 4}.']})
            for i in range(n)]
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


def report(stdout: str) -> dict:
    "The JSON report (torch.distributed's gloo backend may print lines of its own before it)."
    return json.loads(stdout[stdout.index('{'):])


def cache_lines(path) -> list[str]:
    return [l for l in path.read_text().splitlines()[1:] if l.strip()]


def test_two_processes_translate_like_one(tmp_path, nllb_dir):
    manifest = write_manifest(tmp_path/'en.jsonl')
    (tmp_path/'one').mkdir(); (tmp_path/'two').mkdir()
    r1 = subprocess.run(translate_cmd(nllb_dir, manifest, tmp_path/'one'/'out.jsonl', 1), capture_output=True, text=True,
                        env=env(), timeout=600)
    assert r1.returncode == 0, r1.stderr
    r2 = subprocess.run(translate_cmd(nllb_dir, manifest, tmp_path/'two'/'out.jsonl', 2), capture_output=True, text=True,
                        env=env(), timeout=600)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert (report(r1.stdout)['processes'], report(r2.stdout)['processes']) == (1, 2)
    one, two = (tmp_path/'one'/'out.jsonl').read_text(), (tmp_path/'two'/'out.jsonl').read_text()
    assert one.replace(str(tmp_path/'one'), '') == two.replace(str(tmp_path/'two'), '')   # the same manifest
    lines = cache_lines(tmp_path/'two'/'out.cache.jsonl')
    assert len(lines) == len(set(lines)) == len(cache_lines(tmp_path/'one'/'out.cache.jsonl'))
    assert sorted(p.name for p in (tmp_path/'two').iterdir()) == ['out.cache.jsonl', 'out.jsonl']   # no part left


def test_a_killed_run_resumes_without_duplicates(tmp_path, nllb_dir):
    manifest = write_manifest(tmp_path/'en.jsonl')
    part = TranslationCache(tmp_path/'out.cache.jsonl.part-1')    # what a process killed after one batch leaves behind
    part.add(f'nllb:{nllb_dir}', 'eng_Latn', 'fra_Latn', ['A dog barks 3 times.'], ['Un chien aboie trois fois.'])
    r = subprocess.run(translate_cmd(nllb_dir, manifest, tmp_path/'out.jsonl', 2), capture_output=True, text=True,
                       env=env(), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    cache = tmp_path/'out.cache.jsonl'
    assert cache.read_text().splitlines()[0] == json.dumps({'format': CACHE_FORMAT})
    lines = cache_lines(cache)
    assert len(lines) == len(set(lines)) == 2 * 14                 # 10 + 4 distinct captions, 2 languages, each once
    assert 'Un chien aboie trois fois.' in (tmp_path/'out.jsonl').read_text()   # the part's work was kept, not redone
    assert not list(tmp_path.glob('out.cache.jsonl.part-*'))
