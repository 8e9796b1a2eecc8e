"""Search: how fast an index is built on this CPU, and exact vs FAISS (IVF, HNSW) search at 10k, 100k and 1M clips.

Build: `AudioIndex.build` over 200 clips of the synthetic set (1 to 15 s, written as WAV files) with the main job's
tiny towers (random weights: speed does not depend on training), with 2 DataLoader workers decoding the audio (or each
count `--num-workers` names, in turn); then a rebuild of the same folder, which finds nothing to embed.

Query: 1024-d unit vectors in two collections of each size. `uniform`: independent random directions, queried with
random directions, the hardest case for an approximate index (every distance is about the same). `grouped`: vectors
around N/100 random centres (cosine about 0.7 to their centre, as clips of one kind of sound are close), queried
with new draws around the centres. For each: exact search (blocks of the memory map and top-k), and FAISS IVF and
HNSW with the library's defaults (`AudioIndex.build_ann`): build time, median latency of one query (k = 10, the
query already embedded), recall@10 against exact search over 100 queries. HNSW is built up to --hnsw-max-size clips
(its build is the slow part: each insertion is a search).

Run: python benchmarks/bench_search.py [--clips 200] [--num-workers 0 2] [--sizes 10000 100000 1000000] [--kinds ivf hnsw]
(`--sizes` with no value times only the build.) For each collection it also prints what the integrity checks cost:
loading the index (its files.jsonl checksum included) and the stat of each hit's file that a query makes.
"""
import argparse, hashlib, json, os, shutil, tempfile, time, warnings
from pathlib import Path

import numpy as np
import torch
from mlatr_nb.core import non_negative_int

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--clips', type=int, default=200, help='synthetic clips to index (default 200; 0 skips the build)')
p.add_argument('--num-workers', type=non_negative_int, nargs='+', default=[2], help='DataLoader workers of the build (default 2; several are timed in turn)')
p.add_argument('--sizes', type=int, nargs='*', default=[10_000, 100_000, 1_000_000], help='collection sizes for queries')
p.add_argument('--kinds', nargs='*', default=['ivf', 'hnsw'], help='FAISS index kinds to compare with exact search')
p.add_argument('--data', nargs='+', default=['uniform', 'grouped'], help='which collections (uniform, grouped)')
p.add_argument('--hnsw-max-size', type=int, default=100_000,
               help='largest collection to build HNSW for (default 100000: at 1M its build takes about half an hour on 2 cores)')
args = p.parse_args()
os.environ.setdefault('HF_HUB_OFFLINE', '1')
from mlatr_nb.ced import ced_config
from mlatr_nb.model import MLCLAP
from mlatr_nb.core import file_sha256
from mlatr_nb.search import AudioIndex, INDEX_FORMAT
from mlatr_nb.sonar import sonar_config
from mlatr_nb.synthetic import synthetic_dataset, synthetic_tokenizer

def unit(x): return x / np.linalg.norm(x, axis=1, keepdims=True)

def collection(kind, n, rng, d=1024, queries=100):
    "(n, d) embeddings and (queries, d) queries."
    if kind == 'uniform':
        return unit(rng.standard_normal((n, d), dtype=np.float32)), unit(rng.standard_normal((queries, d), dtype=np.float32))
    centres = rng.standard_normal((max(1, n // 100), d), dtype=np.float32)
    emb = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):   # in blocks, so that the noise is never a second full copy
        m = min(100_000, n - s)
        emb[s:s + m] = unit(centres[rng.integers(0, len(centres), m)] + rng.standard_normal((m, d), dtype=np.float32))
    return emb, unit(centres[rng.integers(0, len(centres), queries)] + rng.standard_normal((queries, d), dtype=np.float32))

def latency_ms(index, queries, **kw):
    times = []
    for q in queries[:21]:
        # the stand-in rows name no files: leave out the stat per hit that tells a user a file has gone (about 10 us a hit)
        t0 = time.perf_counter(); index.search_embeddings(q[None], k=10, check_files=False, **kw); times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times[1:]))

tmp = Path(tempfile.mkdtemp())
try:
    if args.clips:
        syn = synthetic_dataset(args.clips, ['eng_Latn'], seed=0, root=tmp/'syn')
        tok = synthetic_tokenizer(syn, tmp/'tok.model')
        torch.manual_seed(0)
        model = MLCLAP(audio=ced_config('tiny'), text=sonar_config('tiny', vocab_size=tok.embedding_size), tokenizer=tok)
        seconds = sum(__import__('soundfile').info(str(it.audio)).duration for it in syn)
        for run, workers in enumerate(args.num_workers):
            t0 = time.perf_counter()
            AudioIndex.build(model, tmp/'syn'/'audio', tmp/f'index-{run}', num_workers=workers, progress=False)
            build = time.perf_counter() - t0
            t0 = time.perf_counter()
            AudioIndex.build(model, tmp/'syn'/'audio', tmp/f'index-{run}', num_workers=workers, progress=False)
            rebuild = time.perf_counter() - t0
            print(f"build with {workers} workers: {args.clips} clips ({seconds / 60:.1f} min of audio) in {build:.1f} s = "
                  f"{args.clips / build:.1f} clips/s ({seconds / build:.0f} s of audio per s); rebuild with nothing new: {rebuild:.1f} s", flush=True)

    rng, loads = np.random.default_rng(0), []
    if args.sizes: print('\n| collection | clips | search | settings | build | query (median of 20) | recall@10 (100 queries) |\n'
                         '|---|---:|---|---|---:|---:|---:|', flush=True)
    for n in args.sizes:
        for data in args.data:
            folder = tmp/f'{data}-{n}'; folder.mkdir()
            emb, queries = collection(data, n, rng)
            np.save(folder/'embeddings.npy', emb); del emb
            (folder/'index.json').write_text(json.dumps(dict(format=INDEX_FORMAT, fingerprint='random', embed_dim=1024, count=n)))
            (folder/'files.jsonl').write_text(''.join(f'{{"path": "{i}.wav", "size": 0, "mtime_ns": 0, "seconds": 1.0}}\n' for i in range(n)))
            info = json.loads((folder/'index.json').read_text())
            info['files_sha256'] = hashlib.sha256((folder/'files.jsonl').read_bytes()).hexdigest()   # as a build writes it
            (folder/'index.json').write_text(json.dumps(info))
            t0 = time.perf_counter(); index = AudioIndex.load(folder); load_s = time.perf_counter() - t0
            t0 = time.perf_counter(); file_sha256(folder/'files.jsonl'); checksum_s = time.perf_counter() - t0
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                t0 = time.perf_counter()
                for _ in range(20): index._warn_changed(set(range(10)))
                stat_ms = 1000 * (time.perf_counter() - t0) / 20
            loads.append(f"{data} {n:,}: load {load_s:.2f} s, of which the files.jsonl checksum {checksum_s:.3f} s; "
                         f"checking 10 hits' files {stat_ms:.3f} ms")
            print(f"| {data} | {n:,} | exact | | | {latency_ms(index, queries, exact=True):.2f} ms | 1.000 |", flush=True)
            for kind in args.kinds:
                if kind == 'hnsw' and n > args.hnsw_max_size:
                    print(f"| {data} | {n:,} | FAISS hnsw | not built: over --hnsw-max-size {args.hnsw_max_size:,} | | | |", flush=True)
                    continue
                t0 = time.perf_counter()
                index.build_ann(kind, progress=False)
                built = time.perf_counter() - t0
                recall = index.ann_recall(queries)
                settings = ', '.join(f'{k}={v}' for k, v in index.ann['options'].items())
                print(f"| {data} | {n:,} | FAISS {kind} | {settings} | {built:.1f} s | {latency_ms(index, queries):.2f} ms | "
                      f"{recall:.3f} |", flush=True)
                index._faiss_index = None
                (folder/'ann.faiss').unlink()
            del index
            shutil.rmtree(folder)
    if loads: print('\nIntegrity checks (AudioIndex.load, and the stat of each hit per query):\n' + '\n'.join(loads))
finally:
    shutil.rmtree(tmp)
import faiss
print(f"\n{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads, faiss {faiss.__version__}; "
      f"load {os.getloadavg()[0]:.2f}")
