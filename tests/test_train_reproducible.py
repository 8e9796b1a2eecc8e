"""In float32 a short run is the same on any x86-64 CPU of this kind: its losses agree to 4 significant digits over its
6 steps whatever vector instructions the CPU has and whatever the thread count, and repeat exactly on one setup. (On an
AVX-512 Xeon, the AVX2 and 2-thread runs differ from 1 thread at AVX-512 by 2e-7, 2e-6, 5e-6 and 1e-5 relative at steps
2, 4, 5 and 6: the last digits grow about 2x a step.) bf16 autocast diverges
within about 10 steps (see 10_train), which is why the main job trains in float32. Over a whole main job the
last-digit differences still grow into a few points of R@1 (10_train measures it), so a figure for one seed is exact
only for one CPU kind and thread count."""
import platform, sys

import pytest
import torch

from train_helpers import losses, make_synthetic, run, train_cmd, weights, assert_same_weights

# A short run of the default objective (CACL) on the default towers; only the projection is narrower (train_helpers.SMALL).
ARGS = ['--eval-data', 'none', '--batch-size', '8', '--epochs', '2', '--warmup-steps', '2', '--checkpoint-every', '0']
# What a CPU without AVX-512 runs: PyTorch's own kernels at AVX2 and oneDNN's at AVX2.
AVX2 = {'ATEN_CPU_CAPABILITY': 'avx2', 'ONEDNN_MAX_CPU_ISA': 'AVX2'}


def without_key_biases(state: dict) -> dict:
    """Leave out the key-projection biases: the text tower's `k_proj.bias`, and the middle third of the audio tower's
    fused `qkv.bias`. A key bias adds the same amount to every score of a query, so softmax cancels it and its true
    gradient is 0; what it gets is rounding noise, which AdamW scales up to steps of the learning rate's size, so those
    few numbers wander with the last digits while everything the model computes stays put. (With the audio blocks drawn
    at std 0.2 the attention is sharp from the first step, and that noise shows in the audio tower's keys too.)"""
    out = {}
    for k, v in state.items():
        if k.endswith('self_attn.k_proj.bias'): continue
        if k.endswith('attn.qkv.bias'):
            d = len(v) // 3
            v = torch.cat([v[:d], v[2 * d:]])   # the query and value biases
        out[k] = v
    return out


LR = 1e-3   # TrainConfig's default, which ARGS keep


def assert_same_but_for_a_few_steps(a: dict, b: dict, name: str) -> None:
    """All but 0.1 % of the model's weights agree to rtol 1e-4 (atol 1e-5), and none differs by a learning-rate step.
    AdamW divides each gradient by its own running size, so where a gradient is at rounding level (a ReLU input at 0 for
    one example, a weight near 0) the last digits decide a step of up to `LR`. Measured on an AVX-512 Xeon: against
    1 thread at AVX-512, the AVX2 run and the 2-thread run each differ in 256 of the 955,778 weights compared, by
    at most 4.8e-4 (text layer 1's fc1), while the losses agree to 4 digits. A kernel that computed something else
    would move the losses and far more weights."""
    assert a.keys() == b.keys()
    off = total = 0
    for k in a:
        x, y = a[k].double(), b[k].double()
        off += int((~torch.isclose(x, y, rtol=1e-4, atol=1e-5)).sum()); total += x.numel()
        assert float((x - y).abs().max()) < LR, (name, k, float((x - y).abs().max()))
    assert off <= total // 1000, (name, off, total)


@pytest.mark.skipif(platform.machine() not in ('x86_64', 'AMD64'), reason='the ISA switch is an x86-64 one')
def test_float32_training_does_not_depend_on_the_cpu(tmp_path):
    capability = lambda extra: run([sys.executable, '-c', 'import torch; print(torch.backends.cpu.get_cpu_capability())'],
                                   extra_env=extra).stdout.strip()
    assert capability(AVX2) == 'AVX2'   # the switch takes effect, so the comparison below is not between two equal runs
    synth = make_synthetic(tmp_path/'synth', n_clips=24)
    runs = {'native, 1 thread': {}, 'AVX2, 1 thread': AVX2, 'native, 2 threads': {'OMP_NUM_THREADS': '2'}, 'native, 1 thread, again': {}}
    for i, extra in enumerate(runs.values()):
        run(train_cmd(*ARGS, '--synthetic-root', synth, '--synthetic-clips', 24, '--output-dir', tmp_path/f'run{i}'), extra_env=extra)
    ref = losses(tmp_path/'run0')
    assert len(ref) == 6
    for i, name in enumerate(runs):
        got = losses(tmp_path/f'run{i}')
        assert got.keys() == ref.keys(), name
        for step in ref: assert got[step] == pytest.approx(ref[step], rel=1e-4), (name, step, got[step], ref[step])
        assert_same_but_for_a_few_steps(without_key_biases(weights(tmp_path/f'run{i}')), without_key_biases(weights(tmp_path/'run0')), name)
    assert losses(tmp_path/'run3') == ref   # one setup repeats exactly
    assert_same_weights(weights(tmp_path/'run3'), weights(tmp_path/'run0'), rtol=0, atol=0)
