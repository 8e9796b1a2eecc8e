"""CPU throughput and peak memory of the CED encoder (`mlatr_nb.ced`), random weights, batch 8, `torch.inference_mode`.

Usage: python benchmarks/bench_ced.py [--sizes tiny base] [--seconds 10 30] [--batch 8] [--min-time 3]

What is timed: `CEDEncoder(mel, lengths)` on random log-mel input shaped like `MelFrontend`'s output for clips of the
given length (10 s -> 1001 frames, one chunk; 30 s -> 3001 frames, three chunks of 1012). The frontend is not included.
One untimed warm-up pass, then timed passes until `--min-time` seconds have passed (at least one); the median pass
time gives clips/s.

How memory is measured: every (size, seconds) runs in a fresh Python subprocess, so no run inherits another's
allocations. The child reads its peak resident set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, KiB on Linux)
once after importing torch, building the model and the input, and once after the forward passes.
- "peak RSS" is the process's high-water mark: the torch runtime, the weights, the input and the forward pass.
- "fwd delta" is how far the forward passes pushed that mark above the model+input level: the activation and
  workspace memory of inference. Memory the allocator reuses from earlier frees does not show up in it, so it is
  a lower bound on what the forward pass allocates.
tracemalloc is not used: it does not see torch's C++ allocations.
"""
import argparse, json, os, platform, resource, statistics, subprocess, sys, time

FRAMES_PER_SECOND, SAMPLE_RATE, HOP = 100, 16000, 160


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(size: str, seconds: float, batch: int, min_time: float) -> dict:
    "Run one configuration in this process and return its figures."
    import torch
    from mlatr_nb.ced import CEDEncoder, ced_config
    torch.manual_seed(0)
    frames = int(seconds * SAMPLE_RATE) // HOP + 1          # what MelFrontend gives for that many samples
    model = CEDEncoder(ced_config(size)).eval()
    mel = torch.randn(batch, 64, frames) * 10 - 40
    lengths = torch.full((batch,), frames)
    base_rss = _maxrss_mib()
    times = []
    with torch.inference_mode():
        out = model(mel, lengths)                           # warm-up
        start = time.perf_counter()
        while not times or (time.perf_counter() - start < min_time and len(times) < 50):
            t0 = time.perf_counter(); model(mel, lengths); times.append(time.perf_counter() - t0)
    peak_rss = _maxrss_mib()
    per_batch = statistics.median(times)
    return dict(size=size, seconds=seconds, frames=frames, chunks=int(out.n_chunks[0]), batch=batch, passes=len(times),
                s_per_batch=per_batch, clips_per_s=batch / per_batch, base_rss=base_rss, peak_rss=peak_rss,
                delta_rss=peak_rss - base_rss, threads=torch.get_num_threads(), torch=torch.__version__)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', nargs='+', default=['tiny', 'base'])
    p.add_argument('--seconds', nargs='+', type=float, default=[10.0, 30.0])
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--min-time', type=float, default=3.0, help='seconds of timed passes per configuration')
    p.add_argument('--child', nargs=2, metavar=('SIZE', 'SECONDS'), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], float(a.child[1]), a.batch, a.min_time))); return
    rows = []
    for size in a.sizes:
        for sec in a.seconds:
            r = subprocess.run([sys.executable, __file__, '--child', size, str(sec), '--batch', str(a.batch),
                                '--min-time', str(a.min_time)], capture_output=True, text=True, check=True)
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    r0 = rows[0]
    print(f"CED encoder on CPU, random weights, torch.inference_mode, float32; torch {r0['torch']}, "
          f"{r0['threads']} threads, {os.cpu_count()} CPUs ({platform.machine()}); encoder only (log-mel input)")
    print("memory: ru_maxrss of a fresh subprocess per row; fwd delta = peak during forward passes - peak after "
          "building model and input")
    print("1/5/15-min load average at the end: " + ' '.join(f'{x:.2f}' for x in os.getloadavg()) +
          " (a load above the CPU count means other processes shared the CPUs and the times are inflated)")
    head = (f"{'size':<6}{'clip':>6}{'frames':>8}{'chunks':>8}{'batch':>7}{'passes':>8}{'s/batch':>9}"
            f"{'clips/s':>9}{'model+input RSS':>17}{'peak RSS':>10}{'fwd delta':>11}")
    print(head); print('-' * len(head))
    for r in rows:
        print(f"{r['size']:<6}{r['seconds']:>5.0f}s{r['frames']:>8}{r['chunks']:>8}{r['batch']:>7}{r['passes']:>8}"
              f"{r['s_per_batch']:>9.3f}{r['clips_per_s']:>9.2f}{r['base_rss']:>13.0f} MiB{r['peak_rss']:>6.0f} MiB"
              f"{r['delta_rss']:>7.0f} MiB")


if __name__ == '__main__':
    main()
