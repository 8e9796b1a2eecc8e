"""Benchmark: `mlatr_nb.eval.retrieval_metrics` on a test set of 5,000 clips x 25,000 captions (5 per clip, 1024-d).

Times the full metric set (T2A and A2T, from the embeddings, chunked), the same when one caption is duplicated (whose
scores are then recomputed in float64 so that the twins tie exactly), and a per-query Python loop in the style common
in published audio-text retrieval code (a similarity vector per query, `argsort`, look up the gold positions), which
is timed on a subset of the queries and scaled to the full set. Then T2A with several relevant clips per caption
(`relevance_metrics`, DCASE 2025's protocol: the gold clip plus 0 to 3 more, about 2 on average), mAP@16. Prints seconds (the best of `--repeat` runs, since the
machine may be shared) and peak memory for each; it asserts nothing about time.

Peak memory is the growth of the process's peak resident set (VmHWM, reset through /proc/self/clear_refs before each
measurement) over what was resident before it, so the embeddings themselves are not counted.

    python benchmarks/bench_metrics.py [--clips 5000] [--per-clip 5] [--dim 1024] [--subset 100]
"""
import argparse, math, os, time

import numpy as np
import torch
import torch.nn.functional as F

from mlatr_nb.eval import metrics_from_ranks, relevance_metrics, retrieval_ranks


def rss_mib(field):
    "A memory field of /proc/self/status (VmRSS, VmHWM) in MiB, or None where there is no /proc."
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'): return int(line.split()[1]) / 1024
    except OSError: return None


def reset_peak():
    "Reset VmHWM to the current RSS (Linux >= 4.0); returns False where that is not possible."
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return True
    except OSError: return False


def measure(fn, repeat):
    "(result, best seconds of `repeat` calls, peak memory growth in MiB of the first call, or None) of calling `fn`."
    base = rss_mib('VmRSS')
    can_reset = reset_peak()
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if i == 0: peak = rss_mib('VmHWM')
    return out, min(times), (peak - base) if (can_reset and base is not None and peak is not None) else None


def make_set(n_clips, per_clip, dim, noise=8.0, seed=0):
    "Random clip embeddings, and captions that are noisy copies of their clip (so the metrics are not trivial)."
    g = torch.Generator().manual_seed(seed)
    audio = F.normalize(torch.randn(n_clips, dim, generator=g), dim=-1)
    gold = torch.arange(n_clips).repeat_interleave(per_clip)
    text = F.normalize(audio[gold] + torch.randn(len(gold), dim, generator=g) * (noise / math.sqrt(dim)), dim=-1)
    return audio, text, gold


def loop_reference(audio, text, gold, clips):
    "Peer-style loop over the queries of `clips`: T2A ranks of their captions and A2T positions of their captions."
    audio, text, gold = audio.numpy(), text.numpy(), gold.numpy()
    t2a, a2t = [], []
    for c in clips:
        caps = np.nonzero(gold == c)[0]
        for row in text[caps] @ audio.T:                      # T2A: each caption against every clip
            order = np.argsort(row)[::-1]
            t2a.append(int(np.where(order == c)[0][0]) + 1)
        order = np.argsort(audio[c] @ text.T)[::-1]           # A2T: the clip against every caption
        positions = np.sort(np.array([np.where(order == i)[0][0] + 1 for i in caps]))
        a2t.append(positions)
    return t2a, a2t


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--clips', type=int, default=5000)
    p.add_argument('--per-clip', type=int, default=5)
    p.add_argument('--dim', type=int, default=1024)
    p.add_argument('--subset', type=int, default=100, help='clips whose queries the loop reference runs on')
    p.add_argument('--block-size', type=int, default=2**23)
    p.add_argument('--repeat', type=int, default=3, help='time each part this many times and report the best')
    p.add_argument('--noise', type=float, default=8.0, help='norm of the noise added to a caption (its clip has norm 1)')
    a = p.parse_args()

    audio, text, gold = make_set(a.clips, a.per_clip, a.dim, a.noise)
    n_cap = len(gold)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs')
    print(f'set: {a.clips} clips x {n_cap} captions ({a.per_clip} per clip), dim {a.dim}, float32 embeddings')
    print(f'full similarity matrix would take {n_cap * a.clips * 8 / 2**20:.0f} MiB in float64, '
          f'{n_cap * a.clips * 4 / 2**20:.0f} MiB in float32')

    retrieval_ranks((text[:500], audio[:100]), gold[:500], block_size=a.block_size)   # warm-up (thread pools)
    ranks, dt_fast, mem_fast = measure(lambda: retrieval_ranks((text, audio), gold, block_size=a.block_size), a.repeat)
    metrics, dt_summary, _ = measure(lambda: metrics_from_ranks(ranks), a.repeat)
    dt_fast += dt_summary
    mem = f'{mem_fast:.0f} MiB' if mem_fast is not None else 'n/a'
    print(f'\nretrieval_metrics, both directions, block_size={a.block_size} (best of {a.repeat}): {dt_fast:.2f} s, '
          f'peak memory +{mem}')
    for d in ('t2a', 'a2t'):
        print(f'  {d}: ' + ', '.join(f'{k} {v:.4f}' for k, v in metrics[d].items()))

    dup = text.clone()
    dup[1] = dup[0]                  # one duplicated caption: its scores are recomputed in float64 to tie exactly
    _, dt_exact, mem_exact = measure(
        lambda: metrics_from_ranks(retrieval_ranks((dup, audio), gold, block_size=a.block_size)), a.repeat)
    mem = f'{mem_exact:.0f} MiB' if mem_exact is not None else 'n/a'
    print(f'the same with one duplicated caption (its scores via float64, best of {a.repeat}): '
          f'{dt_exact:.2f} s, peak memory +{mem}')

    clips = list(range(a.subset))
    (t2a_loop, a2t_loop), dt_sub, mem_loop = measure(lambda: loop_reference(audio, text, gold, clips), a.repeat)
    dt_loop = dt_sub * a.clips / a.subset
    mem = f'{mem_loop:.0f} MiB' if mem_loop is not None else 'n/a'
    print(f'\nper-query Python loop on {a.subset} clips ({a.subset * a.per_clip} T2A + {a.subset} A2T queries, '
          f'best of {a.repeat}): {dt_sub:.2f} s, peak memory +{mem}; scaled to the full set: {dt_loop:.1f} s')

    sub = torch.isin(gold, torch.tensor(clips))
    same_t2a = ranks.t2a_rank[sub].tolist() == t2a_loop
    loop_best = [int(p[0]) for p in a2t_loop]
    same_a2t = ranks.a2t_rank[:a.subset].tolist() == loop_best
    print(f'loop and chunked ranks agree on the subset: T2A {same_t2a}, A2T {same_a2t}')
    print(f'\nspeed-up over the loop: {dt_loop / dt_fast:.0f}x')

    g = torch.Generator().manual_seed(1)
    extra = torch.randint(0, 4, (n_cap,), generator=g)                      # further relevant clips per caption
    others = torch.randint(0, a.clips, (n_cap, 3), generator=g)
    relevant = [[int(c)] + [int(o) for o in others[i, :k] if int(o) != int(c)] for i, (c, k) in enumerate(zip(gold, extra))]
    rel, dt_rel, mem_rel = measure(lambda: relevance_metrics((text, audio), relevant, map_k=16, block_size=a.block_size), a.repeat)
    mem = f'{mem_rel:.0f} MiB' if mem_rel is not None else 'n/a'
    print(f'\nrelevance_metrics, T2A with {rel["relevant_per_caption"]:.2f} relevant clips per caption, mAP@16 '
          f'(best of {a.repeat}): {dt_rel:.2f} s, peak memory +{mem}')
    print('  ' + ', '.join(f'{k} {v:.4f}' for k, v in rel.items() if k.startswith(('R@', 'mAP'))))


if __name__ == '__main__':
    main()
