"""Throughput and peak memory of the two SONAR text-tower backends, side by side, on the same config and batch.

Config: `sonar_config('small')` = 6 layers, model dim 256, 4 heads, FFN 1024, vocabulary from a SentencePiece model
trained on the library's parallel captions. Batch: 32 captions, 4 in each of the 8 paper languages, tokenized once.
Each backend runs in its own fresh process so that one backend's allocations and imports do not inflate the other's
memory figure. Figures are printed, never asserted.

    python benchmarks/bench_sonar.py [--batch 32] [--iters 10] [--device cpu] [--threads N]
"""
import argparse, ctypes, gc, json, os, subprocess, sys, tempfile, time
from pathlib import Path


def _rss_mib(field):
    "VmRSS / VmHWM of this process in MiB (Linux), or None."
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith(field + ':'): return int(line.split()[1]) / 1024
    except OSError: return None


def _release_free_memory():
    "Hand freed heap pages back to the OS (glibc `malloc_trim`), so RSS shows live memory rather than old caches."
    gc.collect()
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError): pass


def _reset_peak_rss():
    "Reset this process's RSS high-water mark (Linux `clear_refs` 5); False where that is not possible."
    try: Path('/proc/self/clear_refs').write_text('5'); return True
    except OSError: return False


def _measure(fn, iters, device):
    "Median seconds per call of `fn` (robust to other jobs on a shared machine) and its peak memory above the live memory (MiB)."
    import torch
    fn()                                               # warm-up: allocator pools, lazy inits, kernel selection
    if device.type == 'cuda':
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
    else: _release_free_memory(); base = _rss_mib('VmRSS'); can_reset = _reset_peak_rss()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter(); fn()
        if device.type == 'cuda': torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    secs = sorted(times)[len(times) // 2]
    if device.type == 'cuda': peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    elif can_reset and base is not None: peak = _rss_mib('VmHWM') - base
    else: peak = float('nan')
    return secs, peak


def child(backend, batch_size, iters, device_name, threads):
    import torch
    if threads: torch.set_num_threads(threads)
    from mlatr_nb.core import PAPER_LANGS, seed_everything
    from mlatr_nb.sonar import PARALLEL_CAPTIONS, SonarTextTower, SonarTokenizer, sonar_config, train_sentencepiece
    device = torch.device(device_name)
    with tempfile.TemporaryDirectory() as d:
        spm = train_sentencepiece([t for v in PARALLEL_CAPTIONS.values() for t in v], Path(d)/'bench.model')
        tok = SonarTokenizer.from_spm(spm)
    cfg = sonar_config('small', vocab_size=tok.embedding_size)
    langs = [PAPER_LANGS[i % len(PAPER_LANGS)] for i in range(batch_size)]
    texts = [PARALLEL_CAPTIONS[l][i % 12] for i, l in enumerate(langs)]
    seed_everything(0)
    try: tower = SonarTextTower(cfg, backend=backend).to(device)
    except ImportError as e: return dict(backend=backend, error=str(e).split('.')[0])
    batch = {k: v.to(device) for k, v in tok(texts, langs, ids=tower.id_convention).items()}

    def infer():
        with torch.inference_mode(): tower(**batch)

    def train_step():
        tower.zero_grad(set_to_none=True)
        tower(**batch).pow(2).mean().backward()

    tower.eval(); inf_s, inf_mem = _measure(infer, iters, device)
    tower.train(); trn_s, trn_mem = _measure(train_step, iters, device)
    return dict(backend=backend, params=sum(p.numel() for p in tower.parameters()), tokens=int(batch['attention_mask'].sum()),
                width=batch['input_ids'].shape[1], infer_sps=batch_size / inf_s, infer_mem=inf_mem,
                train_sps=batch_size / trn_s, train_mem=trn_mem, rss=_rss_mib('VmRSS'),
                threads=torch.get_num_threads(), torch=torch.__version__)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default)')
    ap.add_argument('--child', choices=('hf', 'sonar'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.batch, a.iters, a.device, a.threads))); return
    rows = []
    for backend in ('hf', 'sonar'):
        cmd = [sys.executable, __file__, '--child', backend, '--batch', str(a.batch), '--iters', str(a.iters),
               '--device', a.device, '--threads', str(a.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | dict(PYTHONWARNINGS='ignore'))
        if out.returncode: rows.append(dict(backend=backend, error=out.stderr.strip().splitlines()[-1])); continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ok = [r for r in rows if 'error' not in r]
    if ok:
        r0 = ok[0]
        print(f"SONAR text tower, config 'small' (6 layers, dim 256, 4 heads, FFN 1024), {r0['params']:,} parameters")
        print(f"batch: {a.batch} captions in 8 languages, {r0['tokens']} real tokens, padded width {r0['width']}; "
              f"device {a.device}, {r0['threads']} threads, torch {r0['torch']}, median of {a.iters} timed iterations after 1 warm-up")
    print(f"{'backend':8s} {'infer sent/s':>13s} {'infer peak MiB':>15s} {'train sent/s':>13s} {'train peak MiB':>15s} {'RSS MiB':>9s}")
    for r in rows:
        if 'error' in r: print(f"{r['backend']:8s} unavailable: {r['error']}"); continue
        print(f"{r['backend']:8s} {r['infer_sps']:13.1f} {r['infer_mem']:15.1f} {r['train_sps']:13.1f} {r['train_mem']:15.1f} {r['rss']:9.0f}")
    print("peak MiB: high-water mark during the timed loop above the live memory before it (weights included in neither); "
          "process RSS after returning freed heap to the OS on CPU, allocated tensors on CUDA. "
          "RSS MiB: the whole process at the end, imports included.")
    print("train: forward + backward of a dummy loss, dropout on; infer: forward under inference_mode.")


if __name__ == '__main__': main()
