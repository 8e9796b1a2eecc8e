"""Kill-and-resume: a run killed (SIGKILL) after its first checkpoint and resumed with `--resume` produces the same
losses after the checkpoint and the same final weights as a run that was never interrupted.

The runs use what matters for exactness: text dropout 0.1 (set here, since the main job trains without it; the
restored random state is what makes the dropout masks agree), AdamW with warmup and a cosine schedule (restored
moments and schedule), length bucketing (so no direction twins, which need random batches) and a DataLoader worker.
"""
import signal, subprocess, time
from pathlib import Path

import pytest

from train_helpers import assert_same_weights, env, losses, make_synthetic, run, train_cmd, weights
from mlatr_nb.train import list_checkpoints

N_STEPS = 12   # 32 clips / batch 8 = 4 steps per epoch, 3 epochs


def args(synth, out):
    return ['--synthetic-root', synth, '--synthetic-clips', 32, '--eval-data', 'none', '--batch-size', 8, '--epochs', 3,
            '--checkpoint-every', 3, '--keep-checkpoints', 2, '--num-workers', 1, '--text-dropout', 0.1, '--bucket-pool', 2, '--synthetic-twins', 0,
            '--output-dir', out]


def kill_and_resume(synth: Path, whole: Path, killed: Path, *extra):
    "Train `whole` uninterrupted; train `killed`, SIGKILL it after its first checkpoint, resume it. (last step logged, resumed run)"
    run(train_cmd(*args(synth, whole), *extra))
    p = subprocess.Popen(train_cmd(*args(synth, killed), *extra), env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while not list_checkpoints(killed/'checkpoints') and p.poll() is None and time.time() < deadline: time.sleep(0.02)
    p.send_signal(signal.SIGKILL); p.wait()
    killed_at = max(losses(killed))          # the last step the killed run logged
    (killed/'checkpoints'/'step-0000099.tmp').mkdir()   # what a kill during a save leaves behind
    return killed_at, run(train_cmd(*args(synth, killed), *extra, '--resume'))


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    synth = make_synthetic(root/'synthetic', n_clips=32)
    killed_at, resumed = kill_and_resume(synth, root/'whole', root/'killed')
    return root, killed_at, resumed


@pytest.fixture(scope='module')
def distill_runs(runs):
    "Stage 2 (CACL batches, distilled from the run above with some supervised loss kept), killed and resumed the same way."
    root = runs[0]
    extra = ['--objective', 'distill', '--distill-sampler', 'cacl', '--teachers', root/'whole'/'final', '--sup-weight', '0.5']
    killed_at, resumed = kill_and_resume(root/'synthetic', root/'distill-whole', root/'distill-killed', *extra)
    return root, killed_at, resumed


@pytest.fixture(scope='module')
def cached_runs(runs):
    "KCL with gradient caching on both towers and activation checkpointing, with dropout: the replayed masks must resume too."
    root = runs[0]
    extra = ['--objective', 'kcl', '--text-chunk', '5', '--audio-chunk', '3', '--activation-checkpointing']
    killed_at, resumed = kill_and_resume(root/'synthetic', root/'cached-whole', root/'cached-killed', *extra)
    return root, killed_at, resumed


def test_cached_resumes_exactly(cached_runs):
    root, killed_at, resumed = cached_runs
    assert killed_at < N_STEPS and 'resumed from' in resumed.stdout + resumed.stderr
    whole, again = losses(root/'cached-whole'), losses(root/'cached-killed')
    assert list(whole) == list(range(1, N_STEPS + 1)) and again == whole
    assert_same_weights(weights(root/'cached-whole'), weights(root/'cached-killed'), rtol=0, atol=0)


def test_distill_resumes_exactly(distill_runs):
    root, killed_at, resumed = distill_runs
    assert killed_at < N_STEPS and 'resumed from' in resumed.stdout + resumed.stderr
    assert 'teacher embeddings:' not in resumed.stdout        # the teachers' embeddings were reused, not made again
    whole, again = losses(root/'distill-whole'), losses(root/'distill-killed')
    assert list(whole) == list(range(1, N_STEPS + 1)) and again == whole
    assert_same_weights(weights(root/'distill-whole'), weights(root/'distill-killed'), rtol=0, atol=0)


def test_run_was_killed_midway(runs):
    root, killed_at, resumed = runs
    assert killed_at < N_STEPS, 'the run finished before it could be killed'
    assert 'resumed from' in resumed.stdout + resumed.stderr


def test_same_losses_after_resume(runs):
    root, _, resumed = runs
    whole, again = losses(root/'whole'), losses(root/'killed')
    assert list(whole) == list(range(1, N_STEPS + 1)) and list(again) == list(whole)   # the log reads as one run
    assert again == whole                                                             # every step, bit for bit


def test_same_final_weights(runs):
    root, _, _ = runs
    assert_same_weights(weights(root/'whole'), weights(root/'killed'), rtol=0, atol=0)


def test_checkpoints_kept_and_atomic(runs):
    root, _, _ = runs
    names = sorted(p.name for p in (root/'killed'/'checkpoints').iterdir())
    assert names == ['step-0000009', 'step-0000012'], names     # the last 2; the stale .tmp folder is gone
    assert (root/'killed'/'checkpoints'/'step-0000012'/'model.safetensors').is_file()
