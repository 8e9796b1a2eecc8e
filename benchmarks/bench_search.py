"""Search: how fast an index is built on this CPU, and how fast exact search answers at 10k, 100k and 1M clips.

Build: `AudioIndex.build` over 200 clips of the synthetic set (1 to 15 s, written as WAV files) with the main job's
tiny towers (random weights: speed does not depend on training), 2 DataLoader workers; then a rebuild of the same
folder, which finds nothing to embed. Query: exact search (one product with the memory-mapped embeddings, in blocks,
and top-k) over random unit vectors of 1024 dimensions, timed without embedding the query; median of 20 queries.
FAISS is not measured yet (the optional backend is still to come).

Run: python benchmarks/bench_search.py [--clips 200] [--sizes 10000 100000 1000000]
"""
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--clips', type=int, default=200, help='synthetic clips to index (default 200)')
p.add_argument('--sizes', type=int, nargs='+', default=[10_000, 100_000, 1_000_000], help='index sizes for query latency')
args = p.parse_args()
os.environ.setdefault('HF_HUB_OFFLINE', '1')
from mlatr_nb.ced import ced_config
from mlatr_nb.model import MLCLAP
from mlatr_nb.search import AudioIndex
from mlatr_nb.sonar import sonar_config
from mlatr_nb.synthetic import synthetic_dataset, synthetic_tokenizer

tmp = Path(tempfile.mkdtemp())
try:
    syn = synthetic_dataset(args.clips, ['eng_Latn'], seed=0, root=tmp/'syn')
    tok = synthetic_tokenizer(syn, tmp/'tok.model')
    torch.manual_seed(0)
    model = MLCLAP(audio=ced_config('tiny'), text=sonar_config('tiny', vocab_size=tok.embedding_size), tokenizer=tok)
    seconds = sum(__import__('soundfile').info(str(it.audio)).duration for it in syn)
    t0 = time.perf_counter()
    AudioIndex.build(model, tmp/'syn'/'audio', tmp/'index', num_workers=2, progress=False)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    AudioIndex.build(model, tmp/'syn'/'audio', tmp/'index', num_workers=2, progress=False)
    rebuild = time.perf_counter() - t0
    print(f"build: {args.clips} clips ({seconds / 60:.1f} min of audio) in {build:.1f} s = {args.clips / build:.1f} clips/s "
          f"({seconds / build:.0f} s of audio per s); rebuild with nothing new: {rebuild:.1f} s")

    class _Fixed:   # stands in for the model: the query is already a vector
        def __init__(self, q): self.q = q
        def embed_audio(self, audio, **_): return self.q
    rng = np.random.default_rng(0)
    print('\n| clips | embeddings | exact query, median of 20 (k = 10) |\n|---:|---:|---:|')
    for n in args.sizes:
        folder = tmp/f'random-{n}'; folder.mkdir()
        emb = rng.standard_normal((n, 1024), dtype=np.float32); emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        np.save(folder/'embeddings.npy', emb); del emb
        index = AudioIndex(folder, [dict(path=f'{i}.wav', size=0, mtime_ns=0, seconds=1.0) for i in range(n)],
                           np.load(folder/'embeddings.npy', mmap_mode='r'), 'random', None, [])
        times = []
        for _ in range(21):
            q = torch.nn.functional.normalize(torch.randn(1, 1024), dim=-1)
            index.model = _Fixed(q)
            t0 = time.perf_counter(); index.search(np.zeros(16000, np.float32), k=10); times.append(time.perf_counter() - t0)
        print(f"| {n:,} | {n * 1024 * 4 / 2**20:,.0f} MiB | {1000 * np.median(times[1:]):.1f} ms |")
        shutil.rmtree(folder)
finally:
    shutil.rmtree(tmp)
print(f"\n{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads; load {os.getloadavg()[0]:.2f}")
