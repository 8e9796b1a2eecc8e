"""`accelerate launch --multi_gpu --num_processes 2 -m mlatr_nb.search build` builds the index one process builds
(on a machine without GPUs too: `--multi_gpu` is what starts several processes). Each process embeds an interleaved
share of the files into parts of its own; the main process waits for the others, then writes the index from all the
parts. A build killed midway leaves parts that the next build, on any number of processes, reuses."""
import json, subprocess, sys

import numpy as np
import pytest
import soundfile as sf

from conftest import console_script
from train_helpers import env
from mlatr_nb.model import MLCLAP
from mlatr_nb.ced import ced_config
from mlatr_nb.sonar import sonar_config
from mlatr_nb.search import PARTS_DIR, _Parts, _read_index
from mlatr_nb.synthetic import synthetic_clip, write_clip


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory, tok):
    import torch
    torch.manual_seed(0)
    model = MLCLAP(audio=ced_config('tiny', depth=1), text=sonar_config('tiny', vocab_size=tok.embedding_size), embed_dim=32, tokenizer=tok)
    return model.save_pretrained(tmp_path_factory.mktemp('search-model')/'model')


@pytest.fixture(scope='module')
def library(tmp_path_factory):
    "Eleven clips of different lengths and formats, a file that is not audio inside, and a silent one."
    lib = tmp_path_factory.mktemp('library')
    for i in range(11):
        clip = synthetic_clip((3, i))[0][:16_000 * (1 + i % 4)]
        write_clip(lib/f"clip-{i:02d}{('.wav', '.flac', '.m4a')[i % 3]}", np.stack([clip, clip]) if i % 3 == 2 else clip, 16_000)
    (lib/'broken.wav').write_bytes(b'RIFF, but cut short' * 20)
    sf.write(lib/'silence.wav', np.zeros(16_000), 16_000)
    return lib


def build_cmd(model_dir, lib, index, processes: int) -> list[str]:
    launch = ([sys.executable, '-m', 'accelerate.commands.launch', '--num_processes', str(processes), '--num_machines', '1',
               '--mixed_precision', 'no', '--dynamo_backend', 'no', '--multi_gpu', '-m', 'mlatr_nb.search']
              if processes > 1 else [console_script('mlatr-search')])
    return launch + ['build', str(model_dir), str(lib), str(index), '--num-workers', '0', '--batch-size', '3', '--no-progress', '--json']


def build(model_dir, lib, index, processes: int) -> tuple[dict, str]:
    r = subprocess.run(build_cmd(model_dir, lib, index, processes), capture_output=True, text=True, env=env(), timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout[r.stdout.index('{'):]), r.stderr   # gloo may print lines of its own first


def test_two_processes_build_the_index_one_builds(tmp_path, model_dir, library):
    one, _ = build(model_dir, library, tmp_path/'one', 1)
    two, said = build(model_dir, library, tmp_path/'two', 2)
    assert (one['processes'], two['processes'], one['clips'], two['clips']) == (1, 2, 11, 11)
    for key in ('skipped', 'silent', 'truncated', 'passed_over'): assert one[key] == two[key], key
    assert [s['path'] for s in two['silent']] == [str(library/'silence.wav')]
    assert said.count('index ') == 1 and '(11 embedded now, 0 kept)' in said   # one summary, from the main process
    a, b = _read_index(tmp_path/'one'), _read_index(tmp_path/'two')
    assert a.files == b.files
    np.testing.assert_allclose(np.asarray(b.embeddings), np.asarray(a.embeddings), atol=1e-5)
    assert sorted(p.name for p in (tmp_path/'two').iterdir()) == ['embeddings.npy', 'files.jsonl', 'index.json']   # no parts, no lock


def test_a_killed_run_is_resumed_by_any_number_of_processes(tmp_path, model_dir, library):
    reference, _ = build(model_dir, library, tmp_path/'reference', 1)
    ref = _read_index(tmp_path/'reference')
    # what the second process of a killed two-process build leaves: one part with three clips, and its journal
    done = ref.files[:3]
    _Parts(tmp_path/'resumed', rank=1).write(
        fingerprint=np.array(json.loads((tmp_path/'reference'/'index.json').read_text())['fingerprint']),
        embeddings=np.asarray(ref.embeddings[:3]), paths=np.array([f['path'] for f in done]),
        sizes=np.array([f['size'] for f in done]), mtimes=np.array([f['mtime_ns'] for f in done]),
        seconds=np.array([f['seconds'] for f in done]), header_seconds=np.full(3, np.nan), left_out=np.array('[]'))
    for processes in (2, 1):
        folder = tmp_path/f'resumed-{processes}'
        import shutil; shutil.copytree(tmp_path/'resumed', folder)
        summary, said = build(model_dir, library, folder, processes)
        assert '(8 embedded now, 3 kept)' in said, said
        assert _read_index(folder).files == ref.files
        np.testing.assert_allclose(np.asarray(_read_index(folder).embeddings), np.asarray(ref.embeddings), atol=1e-5)
        assert not (folder/PARTS_DIR).exists()
