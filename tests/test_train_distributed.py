"""Global negatives: `accelerate launch --multi_gpu --num_processes 2` (two CPU processes here; accelerate's `--cpu` would
start only one) must train exactly like one process with the whole batch,
for the contrastive objectives (LE with ML-CLAP's embedding regulariser), for stage-2 distillation (where every
process computes the whole batch's targets), and for KCL with gradient caching on both towers and activation
checkpointing (two processes, cached) against plain KCL (one process).

Both runs take the same two steps of batch 8 (each of the two processes loads 4 rows, gathers the other 4 with their
gradients, and computes the loss on all 8). Dropout is off and the mel BatchNorm keeps fixed statistics, so the only
differences left are floating-point summation orders. The optimizer is SGD: Adam's first step divides every gradient
by its own magnitude, which turns rounding noise in gradients that are zero in exact arithmetic (a key bias, which
softmax ignores) into full-size updates and would hide what this test is about.
"""
import pytest

from mlatr_nb.train import read_log

from train_helpers import assert_same_weights, launch_cmd, losses, make_synthetic, run, train_cmd, weights

COMMON = ['--eval-data', 'none', '--batch-size', '8', '--epochs', '1', '--max-steps', '2', '--mixed-precision', 'no',
          '--text-dropout', '0', '--optimizer', 'sgd', '--lr', '0.05', '--warmup-steps', '0', '--schedule', 'constant',
          '--checkpoint-every', '0']


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('ddp')
    synth = make_synthetic(root/'synthetic', n_clips=16)
    for name, objective, extra in (('kcl', 'kcl', []), ('le', 'le', ['--embed-reg', '1'])):   # LE as ML-CLAP trains it
        args = [*COMMON, '--objective', objective, *extra, '--synthetic-root', synth, '--synthetic-clips', 16]
        run(train_cmd(*args, '--output-dir', root/f'one-{name}'))
        run(launch_cmd(2, *args, '--output-dir', root/f'two-{name}'))
    # stage 2: KCL batches distilled from the KCL run above, with some of the supervised loss kept
    args = [*COMMON, '--objective', 'distill', '--distill-sampler', 'kcl', '--teachers', root/'one-kcl'/'final',
            '--sup-weight', '0.5', '--synthetic-root', synth, '--synthetic-clips', 16]
    run(train_cmd(*args, '--output-dir', root/'one-distill'))
    run(launch_cmd(2, *args, '--output-dir', root/'two-distill'))
    # gradient caching on both towers and activation checkpointing, on two processes, against plain KCL on one
    args = [*COMMON, '--objective', 'kcl', '--synthetic-root', synth, '--synthetic-clips', 16]
    run(launch_cmd(2, *args, '--text-chunk', '3', '--audio-chunk', '2', '--activation-checkpointing', '--output-dir', root/'two-kcl-cached'))
    return root


PAIRS = {'kcl': ('one-kcl', 'two-kcl'), 'le': ('one-le', 'two-le'), 'distill': ('one-distill', 'two-distill'),
         'kcl-cached': ('one-kcl', 'two-kcl-cached')}


@pytest.mark.parametrize('objective', list(PAIRS))
def test_same_losses(runs, objective):
    one, two = (losses(runs/name) for name in PAIRS[objective])
    assert list(one) == [1, 2] and list(two) == [1, 2]
    assert {e['processes'] for e in read_log(runs/PAIRS[objective][1]/'log.jsonl') if e['kind'] == 'step'} == {2}   # really two
    for step in one: assert two[step] == pytest.approx(one[step], rel=1e-4), step
    assert one[2] != one[1]                       # the first update changed the model


@pytest.mark.parametrize('objective', list(PAIRS))
def test_same_weights(runs, objective):
    "Every weight, the mel BatchNorm's affine ones included (until 2026-12-07 these moved differently on two processes:"
    "PyTorch's CPU batch-norm backward was handed a transposed input, see 02_ced)."
    one, two = (weights(runs/name) for name in PAIRS[objective])
    assert_same_weights(one, two, rtol=1e-4, atol=1e-6)
