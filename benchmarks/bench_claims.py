"""Two of the papers' claims, measured on the built-in synthetic set with the main job's settings.

`--claim le-ratio` (ML-CLAP, arXiv 2406.07012): language enhancement at mixture ratios 0 (English only), 0.1, 0.3 and
1.0 (every translation). The paper trains a fixed number of epochs, so a higher ratio also means more steps. Here every
ratio gets the main job's step budget (`--steps`, 384 = 32 epochs of 12 steps), so the ratio changes only what the steps
see. Reported: English T2A/A2T R@1 and the mean over the 7 other languages.

`--claim atri` (ATRI, arXiv 2502.14627): random-language sampling (one caption of each clip in one
uniformly random language per epoch, InfoNCE), CACL and KCL, each the main job's 32 epochs over the same 400 clips.
Reported: per-language and mean R@1 in both directions, MRV in both directions, the embedding gap to English, and
the wall time of each run.

Each arm runs once per seed (`--seeds`, default 0 2 3: seeds 1 and 4 chose the main job's defaults, so they are left
out). Every run evaluates on the 100 held-out clips drawn with seed + 1000, which no run trains on. The tables give the
mean over the seeds and the spread (lowest to highest).

Run: python benchmarks/bench_claims.py --claim {le-ratio,atri} [--seeds 0 2 3] [--out DIR] [--json] [--save FILE]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog='examples:\n  python benchmarks/bench_claims.py --claim le-ratio\n'
                                   '  python benchmarks/bench_claims.py --claim atri --seeds 0 --out runs/atri --json')
p.add_argument('--claim', required=True, choices=('le-ratio', 'atri'), help='which claim to measure')
p.add_argument('--seeds', type=int, nargs='+', default=[0, 2, 3], help='seeds, one run per arm each (default: 0 2 3)')
p.add_argument('--steps', type=int, default=384, help='le-ratio: optimizer steps of every ratio (default: 384, the main job\'s)')
p.add_argument('--ratios', type=float, nargs='+', default=[0.0, 0.1, 0.3, 1.0], help='le-ratio: the ratios (default: 0 0.1 0.3 1)')
p.add_argument('--out', help='folder for the runs; finished runs in it are reused (default: a temporary folder, deleted afterwards)')
p.add_argument('--json', action='store_true', help='print the results as JSON instead of tables')
p.add_argument('--save', metavar='FILE', help='also write the results as JSON to FILE (the chapters plot benchmarks/results/claims_*.json)')
args = p.parse_args()
root = Path(args.out) if args.out else Path(tempfile.mkdtemp())/'claims'
root.mkdir(parents=True, exist_ok=True)
env = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', MPLBACKEND='Agg')
exe = [sys.executable, '-m', 'mlatr_nb.train', '--data', 'synthetic', '--no-progress', '--checkpoint-every', '0']


def train(out: Path, *flags) -> dict:
    "One run (reused when `out` already holds a finished one): its final metrics and wall time."
    done = out/'eval'/'metrics.json'
    if not done.is_file():
        t0 = time.perf_counter()
        r = subprocess.run([*exe, '--output-dir', str(out), '--overwrite', *map(str, flags)], env=env, capture_output=True, text=True)
        if r.returncode: sys.exit(f"{out.name} failed ({r.returncode}):\n{r.stderr[-3000:]}")
        (out/'wall_seconds').write_text(f'{time.perf_counter() - t0:.1f}\n')
        print(f"  {out.name}: {float((out/'wall_seconds').read_text()):.0f} s", file=sys.stderr, flush=True)
    m = json.loads(done.read_text())
    steps = sum('"kind": "step"' in l for l in (out/'log.jsonl').read_text().splitlines())
    return dict(metrics=m, wall=float((out/'wall_seconds').read_text()), steps=steps)


def pct(m: dict, d: str) -> float: return 100 * m[d]['R@1']
def spread(v) -> str: return f"{np.mean(v):.1f} ({min(v):.1f}-{max(v):.1f})"


if args.claim == 'le-ratio':
    arms = {f'ratio {r:g}': ['--objective', 'le', '--le-ratio', r, '--max-steps', args.steps] for r in args.ratios}
else:
    arms = {'random language': ['--objective', 'random-language'], 'CACL': ['--objective', 'cacl'], 'KCL': ['--objective', 'kcl']}
runs = {a: {s: train(root/f"{a.replace(' ', '-')}-seed-{s}", '--seed', s, *flags) for s in args.seeds} for a, flags in arms.items()}

rows = {}
for a, by_seed in runs.items():
    row = {}
    for s, run in by_seed.items():
        per = run['metrics']['per_language']
        other = [l for l in per if l != 'eng_Latn']
        got = {f'eng {d}': pct(per['eng_Latn'], d) for d in ('t2a', 'a2t')}
        got |= {f'other {d}': float(np.mean([pct(per[l], d) for l in other])) for d in ('t2a', 'a2t')}
        got |= {f'mean {d}': pct(run['metrics']['mean'], d) for d in ('t2a', 'a2t')}
        got |= {f'{l} {d}': pct(per[l], d) for l in per for d in ('t2a', 'a2t')}
        got |= {f'MRV {d}': run['metrics']['mrv'][d] for d in ('t2a', 'a2t')}
        # the embedding gap: mean L2 distance of a caption to its English original (normalised), over the 7 languages
        got['gap'] = float(np.mean([v for l, v in run['metrics']['embedding_gap']['pair_distance'].items() if l != 'eng_Latn']))
        got |= dict(wall=run['wall'], steps=run['steps'])
        for k, v in got.items(): row.setdefault(k, []).append(v)
    rows[a] = row


def machine() -> str:
    "The CPU's model name and the threads torch used, for the record."
    import platform, torch
    name = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')),
                platform.processor()) if Path('/proc/cpuinfo').exists() else platform.processor()
    return f"{name}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"

result = dict(claim=args.claim, date=time.strftime('%Y-%m-%d'), machine=machine(), seeds=args.seeds,
              arms={a: [str(x) for x in f] for a, f in arms.items()}, rows=rows, steps=args.steps if args.claim == 'le-ratio' else None)
if args.save: Path(args.save).write_text(json.dumps(result, indent=1) + '\n')
if args.json: print(json.dumps(result, indent=2))
else:
    print(f"\nmean over seeds {args.seeds} (lowest-highest), percent; 100 held-out clips, chance R@1 1.0 %\n")
    if args.claim == 'le-ratio':
        cols = ['eng t2a', 'eng a2t', 'other t2a', 'other a2t', 'wall']
        print('| ratio | English T2A R@1 | English A2T R@1 | other 7 T2A R@1 | other 7 A2T R@1 | wall (s) |\n|---|---:|---:|---:|---:|---:|')
    else:
        cols = ['mean t2a', 'mean a2t', 'MRV t2a', 'MRV a2t', 'gap', 'steps', 'wall']
        print('| sampling | mean T2A R@1 | mean A2T R@1 | MRV T2A | MRV A2T | embedding gap | steps | wall (s) |\n|---|---:|---:|---:|---:|---:|---:|---:|')
    for a, row in rows.items(): print(f'| {a} | ' + ' | '.join(spread(row[c]) for c in cols) + ' |')
    langs = list(runs[next(iter(runs))][args.seeds[0]]['metrics']['per_language'])
    for d in ('t2a', 'a2t'):
        print(f'\n{d.upper()} R@1 per language, mean over the seeds\n')
        print('| arm | ' + ' | '.join(l[:3] for l in langs) + ' |'); print('|---|' + '---:|' * len(langs))
        for a, row in rows.items(): print(f'| {a} | ' + ' | '.join(f"{np.mean(row[f'{l} {d}']):.1f}" for l in langs) + ' |')
if not args.out: shutil.rmtree(root.parent)
