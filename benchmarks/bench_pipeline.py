"""Does the data pipeline keep up with a training step? Decode + resample + crop throughput of one DataLoader worker.

Clips are noise with a tone, stereo, written as the public datasets distribute them: FLAC at 32 kHz (AudioCaps and
WavCaps as prepared by their download tools), WAV at 44.1 kHz (Clotho), and MP3 at 44.1 kHz (Freesound previews, many
user collections); each 10 s long (AudioCaps) and 30 s long (Clotho's 15-30 s). One process loads them the way a
training worker does, `ExampleDataset` with `crop_seconds=10` (`mlatr-train --max-train-seconds 10`), and reports
clips per second: that is one worker's rate, since workers are separate processes that share nothing but the disk
(on this 2-core machine more workers than cores only take turns). Files are read once beforehand (a warm page cache).

Two ways of cropping are compared: the whole file decoded and resampled, then cut (`random_crop(load_audio(path))`,
what the loader did until 2026-12-07), and only the window read (`load_random_crop`: libsndfile seeks to the window,
for PCM WAV/AIFF and FLAC; MP3 is decoded whole either way).

Then, for a few training rates, how many workers keep up: ceil(rate / one worker's clips per second).

Run: python benchmarks/bench_pipeline.py [--clips 40] [--rates 24 100 400]
"""
import argparse, math, os, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch


def write_set(root: Path, ext: str, rate: int, seconds: float, n: int) -> list[Path]:
    from mlatr_nb.synthetic import write_clip
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    paths = []
    for i in range(n):
        x = 0.1 * rng.standard_normal((2, len(t))) + 0.3 * np.sin(2 * np.pi * (220 + 10 * i) * t)
        paths.append(write_clip(root/f'clip{i:03d}{ext}', np.clip(x, -1, 1).astype(np.float32), rate))
    return paths


def rate_of(load, paths, crop: int) -> float:
    "Clips per second of `load(path, crop, rng)` over `paths`, after one untimed pass (page cache, lazy imports)."
    for p in paths[:2]: load(p, crop, np.random.default_rng(0))
    t0 = time.perf_counter()
    for i, p in enumerate(paths): load(p, crop, np.random.default_rng([0, i]))
    return len(paths) / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clips', type=int, default=40, help='clips per format and length (default: 40)')
    ap.add_argument('--rates', type=float, nargs='+', default=[24, 100, 400], help='training rates in clips/s to size workers for')
    a = ap.parse_args(argv)
    torch.set_num_threads(1)                             # a DataLoader worker runs one thread
    from mlatr_nb.audio import load_audio
    from mlatr_nb.sampling import load_random_crop, random_crop
    whole = lambda path, crop, rng: random_crop(load_audio(path), crop, rng)
    crop = 10 * 16_000
    root = Path(tempfile.mkdtemp())
    rows = []
    try:
        for ext, rate, label in (('.flac', 32_000, 'FLAC 32 kHz (AudioCaps, WavCaps)'), ('.wav', 44_100, 'WAV 44.1 kHz (Clotho)'),
                                 ('.mp3', 44_100, 'MP3 44.1 kHz')):
            for seconds in (10, 30):
                folder = root/f'{ext[1:]}-{seconds}'; folder.mkdir()
                paths = write_set(folder, ext, rate, seconds, a.clips)
                before, now = rate_of(whole, paths, crop), rate_of(load_random_crop, paths, crop)
                rows.append((f'{label}, {seconds} s', before, now))
                print(f"{label}, {seconds} s: {before:.1f} -> {now:.1f} clips/s", flush=True)
    finally:
        shutil.rmtree(root)
    print("\nclips/s of one worker (1 thread), crop to 10 s:")
    print("| clips | whole file, then cut | only the window | gain |\n|---|---:|---:|---:|")
    for label, before, now in rows: print(f"| {label} stereo | {before:.1f} | {now:.1f} | {now / before:.2f}x |")
    print("\nworkers needed (only the window read) for a training rate of:")
    print("| clips | " + " | ".join(f"{r:g} clips/s" for r in a.rates) + " |\n|---|" + "---:|" * len(a.rates))
    for label, _, now in rows: print(f"| {label} | " + " | ".join(str(math.ceil(r / now)) for r in a.rates) + " |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
