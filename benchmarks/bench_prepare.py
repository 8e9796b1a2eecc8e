"""Benchmark: `mlatr-prepare` on a generated WavCaps copy (real layout, 32 kHz FLAC clips).

Prints, for `--clips` clips per WavCaps part (four parts): the seconds of a first `prepare_dataset` run (reading the
JSON files, opening every file's header, removing the overlap with the AudioCaps and Clotho copies beside it, writing
the manifests), the files checked per second, and the seconds of a rerun, which takes its verdicts from the journal.
Writing the copy is not timed. It asserts nothing about time.

    python benchmarks/bench_prepare.py [--clips 2500] [--seconds 10]
"""
import argparse, json, os, shutil, tempfile, time
from pathlib import Path

import numpy as np
import soundfile as sf

from mlatr_nb.prepare import WAVCAPS_SOURCES, fake_dataset_copy, prepare_dataset


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--clips', type=int, default=2500, help='clips per WavCaps part')
    p.add_argument('--seconds', type=float, default=10.0, help='length of each clip (WavCaps clips are up to minutes long)')
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        root = fake_dataset_copy(tmp/'data', ('audiocaps', 'clotho', 'wavcaps'), clips=a.clips)
        clip = (0.1 * np.random.default_rng(0).standard_normal(int(a.seconds * 32000))).astype('float32')
        for src in WAVCAPS_SOURCES:                                        # real-length 32 kHz FLAC, as WavCaps ships
            for f in (root/'WavCaps'/'Audio'/src).glob('*.flac'): sf.write(f, clip, 32000, format='FLAC')
        size = sum(f.stat().st_size for f in (root/'WavCaps'/'Audio').rglob('*.flac')) / 2**20
        print(f'load average {os.getloadavg()[0]:.2f}; {4 * a.clips} WavCaps clips of {a.seconds:g} s, {size:.0f} MiB of FLAC')
        t0 = time.perf_counter()
        report = prepare_dataset('wavcaps', root, tmp/'out', progress=False)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        prepare_dataset('wavcaps', root, tmp/'out', progress=False)
        again = time.perf_counter() - t0
        n = report['splits']['train']['clips'] + report['splits']['train']['overlap_removed']
        print(f"first run: {first:.2f} s ({n / first:.0f} files/s checked and written), "
              f"{report['splits']['train']['overlap_removed']} overlapping clips removed")
        print(f'rerun from the journal: {again:.2f} s ({n / again:.0f} files/s)')
        print(json.dumps(report['splits']))
    finally: shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
