"""The main job: `mlatr-train --data synthetic` with every default (CED-tiny cut to 1 block and a 2-layer SONAR-shaped
text tower from random weights, 400 synthetic clips, KCL, 8 languages, 24 epochs of 32 clips), timed end to end as a
user runs it, including making the data and the final evaluation.

For each seed it prints the wall time and the per-language R@1 table on the 100 held-out clips (drawn with seed + 1000,
which training never sees), then, with several seeds, the spread. Seeds 1 and 4 were used to choose the defaults, so
the reported seeds leave them out.
Run: python benchmarks/bench_train.py [--seeds 0 2 3] [--out DIR] [extra mlatr-train flags]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument('--seeds', type=int, nargs='+', default=[0], help='seeds to run, one main job each (default: 0)')
p.add_argument('--out', help='folder for the runs (default: a temporary folder, deleted afterwards)')
args, extra = p.parse_known_args()
root = Path(args.out) if args.out else Path(tempfile.mkdtemp())
exe = Path(sys.executable).with_name('mlatr-train')
env = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', MPLBACKEND='Agg')
rows = []
for seed in args.seeds:
    out = root/f'seed-{seed}'
    if out.exists(): shutil.rmtree(out)
    cmd = [str(exe) if exe.exists() else 'mlatr-train', '--data', 'synthetic', '--seed', str(seed), '--output-dir', str(out),
           '--no-progress', *extra]
    print('$ mlatr-train', ' '.join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode: sys.exit(f"mlatr-train failed ({r.returncode}):\n{r.stderr[-3000:]}")
    metrics = json.loads((out/'eval'/'metrics.json').read_text())
    steps = [json.loads(l) for l in (out/'log.jsonl').read_text().splitlines() if '"kind": "step"' in l]
    per_lang = metrics['per_language'].values()
    row = dict(seed=seed, wall=wall, steps=len(steps), t2a=100 * metrics['mean']['t2a']['R@1'], a2t=100 * metrics['mean']['a2t']['R@1'],
               t2a_min=100 * min(m['t2a']['R@1'] for m in per_lang), a2t_min=100 * min(m['a2t']['R@1'] for m in per_lang),
               chance=100 / metrics['n_clips'])
    rows.append(row)
    print(r.stdout.strip())
    print(f"\nwall time: {wall:.1f} s ({wall / 60:.2f} min) on {os.cpu_count()} CPU cores; {len(steps)} optimizer steps, "
          f"{sum(e['examples_per_s'] for e in steps) / len(steps):.1f} examples/s on average")
    print(f"mean T2A R@1 {row['t2a']:.1f} %, A2T R@1 {row['a2t']:.1f} %; chance {row['chance']:.1f} %; lowest over languages: "
          f"T2A {row['t2a_min']:.1f} %, A2T {row['a2t_min']:.1f} %\n", flush=True)
if len(rows) > 1:
    print('| seed | wall time (s) | mean T2A R@1 | worst language | mean A2T R@1 | worst language |\n|---:|---:|---:|---:|---:|---:|')
    for r in rows: print(f"| {r['seed']} | {r['wall']:.0f} | {r['t2a']:.1f} | {r['t2a_min']:.1f} | {r['a2t']:.1f} | {r['a2t_min']:.1f} |")
    for k, name in (('wall', 'wall time (s)'), ('t2a', 'mean T2A R@1 (%)'), ('a2t', 'mean A2T R@1 (%)'),
                    ('t2a_min', 'worst-language T2A R@1 (%)'), ('a2t_min', 'worst-language A2T R@1 (%)')):
        v = [r[k] for r in rows]
        print(f"{name}: mean {statistics.mean(v):.1f}, sd {statistics.stdev(v):.1f}, range {min(v):.1f}-{max(v):.1f} over seeds {args.seeds}")
if not args.out: shutil.rmtree(root)
