"""Peak memory of one training step with plain KCL, gradient-cached KCL and CACL, for K = 1, 2, 4, 8 languages.

A small dual encoder on the CPU: an audio tower (4 transformer blocks of width 256 over 32 frames of 64 features) and a
text tower (token embedding + 4 blocks of width 256 over 32 tokens), batch 32, learnable temperature. One step is the
towers' forwards, the loss and the backward pass.

How memory is measured, and why the figure is honest: every (method, K) runs in a fresh Python process. After the model
and inputs are built, the process resets the kernel's peak resident set size ("high water mark") to its current RSS
by writing 5 to /proc/self/clear_refs, runs exactly one step, and reads VmHWM from /proc/self/status. The difference is
the memory the step itself added at its peak, as the operating system saw it: activations, gradients, allocator
overhead and all. glibc's malloc is told to serve every block of 64 KiB or more with its own mmap and to give it back on
free (MALLOC_MMAP_THRESHOLD_; setting it also switches off glibc's adaptive threshold). Without that, freed tensors can
stay in the heap and count as resident, so the same step can read tens of MiB apart from run to run; with it the peak
follows what was actually live, like the "allocated" (not "reserved") figure of a GPU allocator. Pass
--default-malloc to measure with glibc's defaults instead. A tiny warm-up step before the reset pays the one-time costs (lazy imports, kernel set-up), which
are not memory the step needs. Where clear_refs is unavailable (not Linux), the script falls back to ru_maxrss minus the RSS before
the step, which can only over-state the step's peak. One intra-op thread keeps the allocator pattern the same in every
run. The script prints figures; it asserts nothing about them.

Usage: python benchmarks/bench_kcl_memory.py [--ks 1 2 4 8] [--batch 32] [--seq 32] [--dim 256] [--layers 4]
"""
import argparse, json, math, os, resource, subprocess, sys

METHODS = ('plain KCL', 'cached KCL', 'CACL')


def _status_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'): return int(line.split()[1])
    raise KeyError(field)


def _reset_peak():
    "Reset the peak RSS to the current RSS; return the baseline in KiB and the method used."
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return _status_kib('VmRSS'), 'clear_refs'
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, 'ru_maxrss'


def _peak(method):
    if method == 'clear_refs': return _status_kib('VmHWM')
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(method, k, batch, seq, dim, layers):
    import torch
    import torch.nn.functional as F
    from torch import nn
    from mlatr_nb.losses import kcl_loss, kcl_loss_cached, cacl_loss
    torch.set_num_threads(1)
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self, dim, heads=4):
            super().__init__()
            self.heads, self.norm1, self.norm2 = heads, nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

        def forward(self, x, keep):
            B, L, D = x.shape
            q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
            x = x + self.out(att.transpose(1, 2).reshape(B, L, D))
            return x + self.mlp(self.norm2(x))

    class Tower(nn.Module):
        "Token ids (B, L) or features (B, L, F) -> L2-normalised (B, dim)."
        def __init__(self, dim, layers, vocab=None, feat=None):
            super().__init__()
            self.inp = nn.Embedding(vocab, dim, padding_idx=0) if vocab else nn.Linear(feat, dim)
            self.blocks = nn.ModuleList(Block(dim) for _ in range(layers))
            self.proj = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

        def forward(self, x):
            keep = x != 0 if x.dtype == torch.long else torch.ones(x.shape[:2], dtype=torch.bool)
            h = self.inp(x)
            for b in self.blocks: h = b(h, keep)
            pooled = (h * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
            return F.normalize(self.proj(pooled), dim=-1)

    audio_tower, text_tower = Tower(dim, layers, feat=64), Tower(dim, layers, vocab=8000)
    log_tau = nn.Parameter(torch.tensor(math.log(0.07)))

    def step(feats, tokens):
        audio = audio_tower(feats)
        if method == 'plain KCL':
            loss = kcl_loss(audio, [text_tower(tokens[i]) for i in range(k)], log_tau.exp())
        elif method == 'cached KCL':
            loss = kcl_loss_cached(audio, text_tower, [tokens[i] for i in range(k)], log_tau.exp())
        else:  # CACL always embeds two caption sets: English and one other language per instance
            loss = cacl_loss(audio, text_tower(tokens[0]), text_tower(tokens[1]), log_tau.exp())
        loss.backward()
        return loss.item()

    # A tiny warm-up step pays one-time costs (lazy imports, e.g. torch.autograd.grad imports sympy on first use,
    # kernel and thread-pool set-up) before the measurement; then gradients are dropped again.
    step(torch.randn(2, 4, 64), torch.randint(1, 8000, (max(k, 2), 2, 4)))
    for p in [*audio_tower.parameters(), *text_tower.parameters(), log_tau]: p.grad = None
    feats = torch.randn(batch, seq, 64)
    tokens = torch.randint(1, 8000, (max(k, 2), batch, seq))   # CACL needs an English and an "other" caption set
    baseline, how = _reset_peak()
    loss = step(feats, tokens)
    print(json.dumps({'peak_kib': _peak(how) - baseline, 'how': how, 'loss': loss}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--ks', type=int, nargs='+', default=[1, 2, 4, 8])
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--seq', type=int, default=32)
    ap.add_argument('--dim', type=int, default=256)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--default-malloc', action='store_true', help="keep glibc's adaptive malloc thresholds")
    ap.add_argument('--child', nargs=2, metavar=('METHOD', 'K'), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.batch, args.seq, args.dim, args.layers)

    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    if not args.default_malloc: env.update(MALLOC_MMAP_THRESHOLD_=str(64 * 1024), MALLOC_TRIM_THRESHOLD_=str(128 * 1024))
    peaks, how = {}, None
    for method in METHODS:
        for k in args.ks:
            cmd = [sys.executable, os.path.abspath(__file__), '--child', method, str(k), '--batch', str(args.batch),
                   '--seq', str(args.seq), '--dim', str(args.dim), '--layers', str(args.layers)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode: sys.exit(f"{method} K={k} failed:\n{out.stderr}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            peaks[method, k], how = res['peak_kib'] / 1024, res['how']

    alloc = 'glibc default malloc' if args.default_malloc else 'mmap threshold 64 KiB'
    print(f"Peak memory added by one training step (MiB; {how}, {alloc}), batch {args.batch}, {args.seq} tokens, "
          f"width {args.dim}, {args.layers} layers per tower, CPU, 1 thread")
    k1 = args.ks[0]
    print(f"{'method':<12}" + ''.join(f"{'K=' + str(k):>10}" for k in args.ks) + f"   ratio K={args.ks[-1]} / K={k1}")
    for method in METHODS:
        row = ''.join(f"{peaks[method, k]:>10.1f}" for k in args.ks)
        print(f"{method:<12}{row}   {peaks[method, args.ks[-1]] / peaks[method, k1]:.2f}x")
    print("ratio to K=1:")
    for method in METHODS:
        print(f"{method:<12}" + ''.join(f"{peaks[method, k] / peaks[method, k1]:>10.2f}" for k in args.ks))


if __name__ == '__main__':
    main()
