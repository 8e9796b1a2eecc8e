"""The main job: `mlatr-train --data synthetic` with every default (tiny towers from random weights, 400 synthetic
clips, KCL, 8 languages), timed end to end as a user runs it, including making the data and the final evaluation.

Prints the wall time, the per-language R@1 table on the 100 held-out clips, and the chance level.
Run: python benchmarks/bench_train.py [--out DIR] [extra mlatr-train flags]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument('--out', help='run folder (default: a temporary folder, deleted afterwards)')
args, extra = p.parse_known_args()
out = Path(args.out) if args.out else Path(tempfile.mkdtemp())/'run'
if out.exists(): shutil.rmtree(out)
exe = Path(sys.executable).with_name('mlatr-train')
cmd = [str(exe) if exe.exists() else 'mlatr-train', '--data', 'synthetic', '--output-dir', str(out), '--no-progress', *extra]
env = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', MPLBACKEND='Agg')
print('$', ' '.join(cmd[1:] and ['mlatr-train', *cmd[1:]]), flush=True)
t0 = time.perf_counter()
r = subprocess.run(cmd, env=env, capture_output=True, text=True)
wall = time.perf_counter() - t0
if r.returncode: sys.exit(f"mlatr-train failed ({r.returncode}):\n{r.stderr[-3000:]}")
metrics = json.loads((out/'eval'/'metrics.json').read_text())
steps = [json.loads(l) for l in (out/'log.jsonl').read_text().splitlines() if '"kind": "step"' in l]
print(r.stdout.strip())
print(f"\nwall time: {wall:.1f} s ({wall / 60:.2f} min) on {os.cpu_count()} CPU cores; {len(steps)} optimizer steps, "
      f"{sum(e['examples_per_s'] for e in steps) / len(steps):.1f} examples/s on average")
print(f"mean T2A R@1 {100 * metrics['mean']['t2a']['R@1']:.1f} %, A2T R@1 {100 * metrics['mean']['a2t']['R@1']:.1f} %; "
      f"chance {100 / metrics['n_clips']:.1f} %; lowest T2A R@1 over languages "
      f"{100 * min(m['t2a']['R@1'] for m in metrics['per_language'].values()):.1f} %")
if not args.out: shutil.rmtree(out.parent)
