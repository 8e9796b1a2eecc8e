"""A run folder is one run: `--resume` continues it with its own settings, a second run cannot train into it at once,
`--overwrite` removes only what runs write, and stage-2 targets belong to the audio they were computed from."""
import hashlib, json, os, shutil, signal, subprocess, time
from pathlib import Path

import pytest
import torch

from train_helpers import env, losses, make_synthetic, run, train_cmd
from mlatr_nb.ced import ced_config
from mlatr_nb.model import MLCLAP
from mlatr_nb.sonar import SonarTokenizer, sonar_config
from mlatr_nb.train import RUN_LOCK, TEACHER_FILE, read_log


def digest(path) -> str: return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def refused(r, *words):
    lines = [l for l in r.stderr.splitlines() if 'mlatr-train: error: ' in l]
    assert r.returncode == 1 and len(lines) == 1 and 'Traceback' not in r.stderr, (r.returncode, r.stderr[-3000:])
    for w in words: assert w in lines[0], (w, lines[0])


@pytest.fixture(scope='module')
def synth(tmp_path_factory): return make_synthetic(tmp_path_factory.mktemp('safety')/'synthetic', n_clips=16)


def base(synth, out, *extra):
    return train_cmd('--synthetic-root', synth, '--synthetic-clips', 16, '--synthetic-twins', 0, '--eval-data', 'none',
                     '--batch-size', 8, '--epochs', 1, '--output-dir', out, *extra)


def test_resume_refuses_a_setting_that_cannot_change_and_applies_one_that_can(tmp_path, synth):
    out = tmp_path/'run'
    run(base(synth, out, '--lr', '5e-4'))
    config, log = digest(out/'train_config.json'), digest(out/'log.jsonl')
    for flag, value, saved in (('--lr', '0.01', '0.0005'), ('--batch-size', '4', '8'), ('--objective', 'kcl', "'cacl'"),
                               ('--seed', '3', '0')):
        r = run(train_cmd('--resume', '--output-dir', out, flag, value), check=False)
        refused(r, f'{flag} cannot change within a run', f'was started with {saved}')
        assert (digest(out/'train_config.json'), digest(out/'log.jsonl')) == (config, log)   # nothing was touched
    r = run(train_cmd('--resume', '--output-dir', out))     # every setting from train_config.json: the run is finished
    assert 'already finished' in r.stdout + r.stderr and digest(out/'log.jsonl') == log
    dead = subprocess.run(['python3', '-c', 'import os; print(os.getpid())'], capture_output=True, text=True).stdout.strip()
    (out/RUN_LOCK).write_text(json.dumps(dict(pid=int(dead), host='gone', started='earlier')))   # a run killed with its lock
    r = run(train_cmd('--resume', '--output-dir', out, '--epochs', 2))
    assert 'took over the lock of training run pid' in r.stderr and "changed epochs 1 -> 2" in r.stdout + r.stderr
    entries = read_log(out/'log.jsonl')
    assert [e['step'] for e in entries if e['kind'] == 'step'] == [1, 2, 3, 4]
    assert [e for e in entries if e['kind'] == 'resume'] == [dict(kind='resume', step=2, changed={'epochs': [1, 2]})]
    saved = json.loads((out/'train_config.json').read_text())
    assert (saved['epochs'], saved['lr'], saved['resumed']) == (2, 5e-4, [dict(step=2, changed={'epochs': [1, 2]})])
    assert not (out/RUN_LOCK).exists()
    assert {oct(p.stat().st_mode & 0o777) for p in (out/'train_config.json', out/'final'/'model.safetensors')} == {'0o644'}


def test_two_runs_cannot_share_a_folder(tmp_path, synth):
    out = tmp_path/'shared'
    first = subprocess.Popen(base(synth, out, '--epochs', 500), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not (out/'log.jsonl').exists() and first.poll() is None and time.time() < deadline: time.sleep(0.05)
        second = run(base(synth, out, '--seed', 7, '--overwrite'), check=False)
        assert first.poll() is None, 'the first run ended before the second was refused: make it longer'
        refused(second, f'{out} is in use by another training run (pid {first.pid} on host')
    finally: first.send_signal(signal.SIGKILL); first.wait()
    steps = list(losses(out))
    assert steps == list(range(1, len(steps) + 1))                  # one run's log, not two interleaved
    assert json.loads((out/'train_config.json').read_text())['seed'] == 0


def test_overwrite_removes_only_what_a_run_writes(tmp_path, synth):
    out = tmp_path/'mine'; out.mkdir()
    (out/'final').mkdir(); (out/'final'/'thesis.pdf').write_bytes(b'%PDF my thesis')   # a folder named like a run's
    refused(run(base(synth, out, '--overwrite'), check=False), 'holds final but no train_config.json', 'nothing was touched')
    assert (out/'final'/'thesis.pdf').read_bytes() == b'%PDF my thesis'
    shutil.rmtree(out/'final'); (out/'README.md').write_text('my notes')
    run(base(synth, out))
    run(base(synth, out, '--overwrite'))
    assert (out/'README.md').read_text() == 'my notes'


@pytest.fixture(scope='module')
def teacher(tmp_path_factory, synth):
    "A stage-1 model to distill from (random weights: the file does not care), with the synthetic set's tokenizer."
    tok = SonarTokenizer.from_spm(synth/'tokenizer.model')
    torch.manual_seed(1)
    return MLCLAP(audio=ced_config('tiny', depth=1), text=sonar_config('tiny', vocab_size=tok.embedding_size), embed_dim=64,
                  tokenizer=tok).save_pretrained(tmp_path_factory.mktemp('teacher')/'final')


def test_teacher_targets_belong_to_the_audio_they_came_from(tmp_path, synth, teacher):
    rows = [json.loads(l) for l in (synth/'train'/'manifest.jsonl').read_text().splitlines()]
    manifest = tmp_path/'train.jsonl'
    def write(audio_dir):
        manifest.write_text(''.join(json.dumps({**r, 'audio': str(audio_dir/Path(r['audio']).name)}) + '\n' for r in rows))
    write(synth/'train'/'audio')
    stage2 = lambda *extra: train_cmd('--objective', 'distill', '--teachers', teacher, '--data', manifest, '--eval-data', 'none',
                                      '--batch-size', 8, '--epochs', 1, '--output-dir', tmp_path/'stage2', *extra)
    run(stage2())
    made = digest(tmp_path/'stage2'/TEACHER_FILE)
    copies = tmp_path/'copies'; shutil.copytree(synth/'train'/'audio', copies)   # the same sounds, other files
    write(copies)                                                                # same ids, same captions
    r = run(stage2('--resume', '--epochs', 2), check=False)
    refused(r, "clip 0 ('synth-0-00000'): its audio is another file", 'embed the teachers again', 'and 15 more clips')
    assert digest(tmp_path/'stage2'/TEACHER_FILE) == made
    r = run(stage2('--overwrite'))
    assert 'teacher embeddings:' in r.stdout and digest(tmp_path/'stage2'/TEACHER_FILE) != made   # computed again
