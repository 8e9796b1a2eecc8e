"""Real sound collections: index builds on compressed audio, an hour-long file in bounded memory, and a query's cold start.

1. Build throughput. The synthetic set's clips (1 to 15 s), made 44.1 kHz stereo as most recordings are, written as WAV,
   MP3, Ogg Vorbis and AAC in .m4a (PyAV, FFmpeg's decoder), indexed by `AudioIndex.build` with the main job's tiny towers
   (random weights: speed does not depend on training) and 0, 1 and 2 DataLoader workers: clips/s and audio seconds/s.
2. An hour of 44.1 kHz stereo (noise with tones), as WAV and as MP3. Each measurement runs in a fresh process, which
   samples the proportional set size (PSS) of itself and its workers every 20 ms: the peak above what the process held
   just before (the library and the model imported and loaded) is the figure. `before` is what the library did until
   now, rebuilt here: the whole file read as float32, transposed, averaged and resampled at once (`load`), then the
   frontend and every CED chunk in one pass (`embed`). The build holds the file in its own folder.
3. The cold start of `mlatr-search query` with a caption: the wall time of the command, and in a fresh process where it
   goes (imports, loading the index and its model, embedding the caption, the search).

Run: python benchmarks/bench_collection.py [--clips 200] [--formats wav mp3 ogg m4a] [--num-workers 0 1 2]
     [--hour-minutes 60] [--hour-formats wav mp3] [--parts build hour cold]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--clips', type=int, default=200, help='clips of the synthetic set per format (default 200)')
p.add_argument('--formats', nargs='+', default=['wav', 'mp3', 'ogg', 'm4a'], help='formats of the build benchmark')
p.add_argument('--num-workers', type=int, nargs='+', default=[0, 1, 2], help='DataLoader workers of each build')
p.add_argument('--hour-minutes', type=float, default=60.0, help='length of the long file (default 60 minutes)')
p.add_argument('--hour-formats', nargs='+', default=['wav', 'mp3'], help='formats of the long file')
p.add_argument('--parts', nargs='+', default=['build', 'hour', 'cold'], help='which benchmarks to run')
p.add_argument('--child', help=argparse.SUPPRESS)   # one memory measurement, in a fresh process
args = p.parse_args()
os.environ.setdefault('HF_HUB_OFFLINE', '1')


def tiny_model(tmp: Path):
    "The main job's tiny towers with random weights and a synthetic tokenizer, saved once and reused."
    import torch
    from mlatr_nb.ced import ced_config
    from mlatr_nb.model import MLCLAP
    from mlatr_nb.sonar import sonar_config
    from mlatr_nb.synthetic import synthetic_dataset, synthetic_tokenizer
    if not (tmp/'model').is_dir():
        syn = synthetic_dataset(20, ['eng_Latn'], seed=0, root=tmp/'tok-syn')
        tok = synthetic_tokenizer(syn, tmp/'tok.model')
        torch.manual_seed(0)
        MLCLAP(audio=ced_config('tiny'), text=sonar_config('tiny', vocab_size=tok.embedding_size), tokenizer=tok).save_pretrained(tmp/'model')
    return MLCLAP.from_pretrained(tmp/'model')


def tree_pss() -> int:
    "Proportional set size of this process and its children, in bytes: shared pages counted once in all."
    import psutil
    me, total = psutil.Process(), 0
    for proc in [me, *me.children(recursive=True)]:
        try: total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied): pass
    return total


def measure(what: str, path: str, tmp: str, workers: int) -> dict:
    "Run one memory measurement in this (fresh) process: peak PSS above the baseline, and the time."
    import threading, torch, numpy as np, soundfile as sf, torchaudio
    from mlatr_nb.audio import load_audio
    from mlatr_nb.search import AudioIndex
    model = tiny_model(Path(tmp)).eval()
    torch.set_grad_enabled(False)
    base, peak, done = tree_pss(), [0], threading.Event()
    def sample():
        while not done.is_set(): peak[0] = max(peak[0], tree_pss()); time.sleep(0.02)
    sampler = threading.Thread(target=sample, daemon=True); sampler.start()
    def before_load():
        x, sr = sf.read(path, dtype='float32', always_2d=True)
        return torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(x.T)).mean(0), sr, 16_000)
    t0 = time.perf_counter()
    if what == 'load-before': before_load()
    elif what == 'load': load_audio(path)
    elif what == 'embed-before': model.encode_audio(before_load()[None])
    elif what == 'embed': model.embed_audio(path)
    elif what == 'build':
        folder = Path(tmp)/'hour-folder'; shutil.rmtree(folder, ignore_errors=True); folder.mkdir()
        os.link(path, folder/Path(path).name)
        index = Path(tmp)/f'hour-index-{workers}'; shutil.rmtree(index, ignore_errors=True)
        AudioIndex.build(model, folder, index, num_workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    done.set(); sampler.join()
    return dict(what=what, seconds=round(seconds, 2), peak_mb=round((max(peak[0], tree_pss()) - base) / 1e6), base_mb=round(base / 1e6))


if args.child:
    what, path, tmp, workers = json.loads(args.child)
    import contextlib, io
    with contextlib.redirect_stderr(io.StringIO()): out = measure(what, path, tmp, workers)   # the build's summary is not the figure
    print(json.dumps(out)); sys.exit(0)


def child(what, path, tmp, workers=0) -> dict:
    r = subprocess.run([sys.executable, __file__, '--child', json.dumps([what, str(path), str(tmp), workers])],
                       capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"{what} on {path} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


tmp = Path(tempfile.mkdtemp())
try:
    import numpy as np, soundfile as sf, torch, torchaudio
    if 'build' in args.parts:
        from mlatr_nb.search import AudioIndex
        from mlatr_nb.synthetic import synthetic_dataset, write_clip
        model = tiny_model(tmp)
        syn = synthetic_dataset(args.clips, ['eng_Latn'], seed=0, root=tmp/'syn')
        audio_seconds = 0.0
        for it in syn:
            mono = torchaudio.functional.resample(torch.from_numpy(sf.read(it.audio, dtype='float32')[0]), 16_000, 44_100).numpy()
            audio_seconds += len(mono) / 44_100
            stereo = np.stack([mono, 0.8 * mono])
            for fmt in args.formats:
                (tmp/fmt).mkdir(exist_ok=True)
                write_clip(tmp/fmt/f'{it.id}.{fmt}', stereo, 44_100)
        for fmt in args.formats:
            size = sum(f.stat().st_size for f in (tmp/fmt).iterdir()) / 1e6
            for workers in args.num_workers:
                index = tmp/f'index-{fmt}-{workers}'
                t0 = time.perf_counter()
                AudioIndex.build(model, tmp/fmt, index, num_workers=workers, progress=False)
                build = time.perf_counter() - t0
                print(f"build {fmt:4s} ({size:.0f} MB) with {workers} workers: {args.clips} clips ({audio_seconds / 60:.1f} min) in "
                      f"{build:.1f} s = {args.clips / build:.1f} clips/s, {audio_seconds / build:.0f} s of audio per s", flush=True)
    if 'hour' in args.parts:
        tiny_model(tmp)
        rng = np.random.default_rng(0)
        frames, block = int(args.hour_minutes * 60 * 44_100), 44_100 * 10
        for fmt in args.hour_formats:
            path = tmp/f'hour.{fmt}'
            t0 = time.perf_counter()
            with sf.SoundFile(path, 'w', 44_100, 2, **({'format': 'MP3'} if fmt == 'mp3' else {'subtype': 'PCM_16'})) as f:
                for start in range(0, frames, block):
                    n = min(block, frames - start); t = (start + np.arange(n)) / 44_100
                    tone = 0.2 * np.sin(2 * np.pi * (220 + 20 * (start // block % 30)) * t)
                    f.write(np.stack([tone + 0.05 * rng.standard_normal(n), tone + 0.05 * rng.standard_normal(n)], 1))
            print(f"{args.hour_minutes:g} min of 44.1 kHz stereo as {fmt}: {path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - t0:.0f} s", flush=True)
            for what, workers in (('load-before', 0), ('load', 0), ('embed-before', 0), ('embed', 0), ('build', 0), ('build', 2)):
                r = child(what, path, tmp, workers)
                label = f"{what}{f' ({workers} workers)' if what == 'build' else ''}"
                print(f"  {fmt} {label:18s}: peak {r['peak_mb']:5d} MB above the {r['base_mb']} MB held before, {r['seconds']:.1f} s", flush=True)
    if 'cold' in args.parts:
        from mlatr_nb.search import AudioIndex
        from mlatr_nb.synthetic import synthetic_dataset
        tiny_model(tmp)
        syn = synthetic_dataset(10, ['eng_Latn'], seed=1, root=tmp/'cold-syn')
        AudioIndex.build(tmp/'model', tmp/'cold-syn'/'audio', tmp/'cold-index', num_workers=0, progress=False)
        script = shutil.which('mlatr-search') or str(Path(sys.executable).with_name('mlatr-search'))
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([script, 'query', str(tmp/'cold-index'), 'a dog barking', '--lang', 'eng_Latn'], check=True, capture_output=True)
            walls.append(time.perf_counter() - t0)
        where = subprocess.run([sys.executable, '-c', f"""
import time; t0 = time.perf_counter()
from mlatr_nb.search import AudioIndex; t1 = time.perf_counter()
index = AudioIndex.load({str(tmp/'cold-index')!r}); t2 = time.perf_counter()
q = index.model.embed_text(['a dog barking'], 'eng_Latn'); t3 = time.perf_counter()
index.search_embeddings(q, 10); t4 = time.perf_counter()
print(f"import {{t1 - t0:.2f}} s, load index and model {{t2 - t1:.2f}} s, embed the caption {{t3 - t2:.2f}} s, search {{1000 * (t4 - t3):.1f}} ms")
"""], capture_output=True, text=True, check=True).stdout.strip()
        print(f"mlatr-search query, cold: {min(walls):.2f}-{max(walls):.2f} s wall over 3 runs; in a fresh process: {where}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
