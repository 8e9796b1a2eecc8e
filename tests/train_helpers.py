"Helpers for the training tests: run `mlatr-train` in a subprocess on a small synthetic set."
import os, subprocess, sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from mlatr_nb.synthetic import synthetic_dataset, synthetic_tokenizer
from mlatr_nb.train import read_log

# Small enough for CI; the shapes are the real tiny towers, only the projection is narrower.
SMALL = ['--embed-dim', '64', '--no-progress', '--num-workers', '0']


def make_synthetic(root: Path, n_clips: int = 16, seed: int = 0) -> Path:
    "The synthetic training set and tokenizer where `--synthetic-root` expects them (so runs share one copy)."
    m = synthetic_dataset(n_clips, seed=seed, root=root/'train')
    synthetic_tokenizer(m, root/'tokenizer.model')
    return root


def env(**extra) -> dict:
    e = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', HF_DATASETS_OFFLINE='1', MPLBACKEND='Agg',
             OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    e.update(extra)   # e.g. another thread count or CPU instruction set
    e.pop('VIRTUAL_ENV', None)
    return e


def train_cmd(*args) -> list[str]: return [sys.executable, '-m', 'mlatr_nb.train', *SMALL, *map(str, args)]


def launch_cmd(n_procs: int, *args) -> list[str]:
    return [sys.executable, '-m', 'accelerate.commands.launch', '--num_processes', str(n_procs), '--num_machines', '1',
            '--mixed_precision', 'no', '--dynamo_backend', 'no', '--multi_gpu', '-m', 'mlatr_nb.train', *SMALL, *map(str, args)]


def run(cmd, timeout=600, check=True, extra_env=None) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(**(extra_env or {})), timeout=timeout)
    if check: assert r.returncode == 0, f"{' '.join(cmd)}\nexit {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-5000:]}"
    return r


def losses(run_dir: Path) -> dict[int, float]:
    return {e['step']: e['loss'] for e in read_log(Path(run_dir)/'log.jsonl') if e['kind'] == 'step'}


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(Path(run_dir)/'final'/'model.safetensors'))


def assert_same_weights(a: dict, b: dict, rtol: float, atol: float) -> None:
    assert a.keys() == b.keys()
    for k in a: torch.testing.assert_close(a[k], b[k], rtol=rtol, atol=atol, msg=lambda m: f'{k}: {m}')
