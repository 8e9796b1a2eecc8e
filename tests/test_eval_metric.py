"""The `evaluate` metric module in metrics/ml_retrieval: loaded from its local path, it gives the numbers of
`mlatr_nb.eval.retrieval_metrics`, accumulates batches, passes its options through and rejects bad input clearly."""
import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')        # a local path must never need the network
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
from pathlib import Path

import evaluate
import numpy as np
import pytest
import torch

from mlatr_nb.eval import flatten_metrics, retrieval_metrics

METRIC_DIR = Path(__file__).resolve().parents[1] / 'metrics' / 'ml_retrieval'

# The worked example of nbs/11_eval.ipynb: 3 clips, captions 0-1 -> clip 0, 2-3 -> clip 1, 4 -> clip 2.
TOY_SIM = [[0.9, 0.2, 0.1], [0.3, 0.5, 0.3], [0.1, 0.4, 0.7], [0.3, 0.6, 0.6], [0.8, 0.0, 0.5]]
TOY_IDS = [0, 0, 1, 1, 2]


@pytest.fixture(scope='module')
def metric(tmp_path_factory):
    return evaluate.load(str(METRIC_DIR), cache_dir=str(tmp_path_factory.mktemp('evaluate_cache')))


def random_case(seed, n_clips=30, max_per_clip=5, ties=False):
    "Similarity rows (captions x clips) and each caption's clip column, several captions per clip, shuffled."
    g = torch.Generator().manual_seed(seed)
    per = torch.randint(1, max_per_clip + 1, (n_clips,), generator=g)
    gold = torch.arange(n_clips).repeat_interleave(per)
    gold = gold[torch.randperm(len(gold), generator=g)]
    if ties: sim = torch.randint(0, 3, (len(gold), n_clips), generator=g).float()
    else: sim = torch.randn(len(gold), n_clips, generator=g) + 2 * torch.nn.functional.one_hot(gold, n_clips)
    return sim.numpy(), gold.numpy()


def test_loads_from_local_path(metric):
    assert isinstance(metric, evaluate.Metric)
    assert set(metric.features) == {'predictions', 'references'}
    again = evaluate.load(str(METRIC_DIR) + os.sep)        # a trailing separator names the same folder
    assert type(again).__name__ == type(metric).__name__


def test_worked_example(metric):
    out = metric.compute(predictions=TOY_SIM, references=TOY_IDS)
    assert out['t2a/R@1'] == pytest.approx(1 / 5)
    assert out['t2a/mAP@10'] == pytest.approx((1 + 1 / 3 + 1 / 2 + 1 / 2 + 1 / 2) / 5)
    assert out['a2t/R@1'] == pytest.approx(2 / 3)
    assert out['a2t/mAP@10'] == pytest.approx((0.75 + 5 / 6 + 1 / 3) / 3)
    assert out['a2t/true_recall@1'] == pytest.approx(1 / 3)
    assert out['a2t/mean_rank'] == pytest.approx(5 / 3)
    assert (out['n_captions'], out['n_clips'], out['n_a2t_queries']) == (5, 3, 3)


@pytest.mark.parametrize('ties', [False, True])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_library(metric, seed, ties):
    sim, gold = random_case(seed, ties=ties)
    out = metric.compute(predictions=sim.tolist(), references=gold.tolist())
    expected = flatten_metrics(retrieval_metrics(sim, gold))
    assert out.keys() == expected.keys()
    for k, v in expected.items(): assert out[k] == pytest.approx(v, abs=1e-12), k


def test_batches_accumulate(metric):
    sim, gold = random_case(3)
    for start in range(0, len(gold), 7):
        metric.add_batch(predictions=sim[start:start + 7].tolist(), references=gold[start:start + 7].tolist())
    out = metric.compute()
    assert out == pytest.approx(flatten_metrics(retrieval_metrics(sim, gold)))


def test_options(metric):
    sim, gold = random_case(4)
    out = metric.compute(predictions=sim.tolist(), references=gold.tolist(), ks=(1, 3))
    assert 't2a/R@3' in out and 'a2t/true_recall@3' in out and 't2a/R@5' not in out
    extra = np.concatenate([sim, np.zeros((len(sim), 1), np.float32)], axis=1)   # a clip no caption names
    with pytest.raises(ValueError, match=r'have no caption, e\.g\. 30'):
        metric.compute(predictions=extra.tolist(), references=gold.tolist())
    out = metric.compute(predictions=extra.tolist(), references=gold.tolist(), allow_distractors=True)
    assert out['n_distractor_clips'] == 1 and out['n_clips'] == 31


def test_bad_input(metric):
    with pytest.raises(ValueError, match='Caption 4 names clip 5'):
        metric.compute(predictions=TOY_SIM, references=[0, 0, 1, 1, 5])
    with pytest.raises(ValueError, match='rows of lengths'):
        metric.compute(predictions=[[0.1, 0.2], [0.3]], references=[0, 1])
    nan = [row[:] for row in TOY_SIM]
    nan[2][1] = float('nan')
    with pytest.raises(ValueError, match='NaN or infinite entries'):
        metric.compute(predictions=nan, references=TOY_IDS)
