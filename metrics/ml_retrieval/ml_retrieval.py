"""ml_retrieval: text-to-audio and audio-to-text retrieval metrics for `evaluate`, computed by `mlatr_nb.eval`.

Load it from this folder, no download involved: `evaluate.load("metrics/ml_retrieval")`.
"""
import datasets
import evaluate
import numpy as np

from mlatr_nb.eval import flatten_metrics, retrieval_metrics

_DESCRIPTION = """\
Retrieval metrics for audio-text retrieval with any number of captions per clip, in both directions:
text-to-audio (T2A) R@k, mAP@10, mean and median rank; audio-to-text (A2T) R@k (the best-ranked caption of a clip is
in the top k), mAP@10 (gold positions sorted in rank order), mean and median rank, and the DCASE-style
true_recall@k (the share of a clip's captions in its top k). Ranks are 1-based and ties are pessimistic: a gold item
tied with other candidates ranks below all of them, so a constant model scores as badly as it should.
The numbers are fractions in [0, 1]. This module wraps `mlatr_nb.eval.retrieval_metrics`; the definitions, their
derivation and their tests are in the mlatr_nb notebook `11_eval`.
"""

_KWARGS_DESCRIPTION = """\
One example is one caption.
Args:
    predictions (`list` of `list` of `float`): for each caption, its similarity to every clip (all rows the same
        length, the number of clips; higher means more similar).
    references (`list` of `int`): for each caption, the column index of the clip it describes.
    ks (`tuple` of `int`, defaults to `(1, 5, 10)`): the k of R@k and true_recall@k.
    allow_distractors (`bool`, defaults to `False`): keep clips that no caption names as T2A-only distractors
        instead of raising an error.
Returns:
    A flat dict: `t2a/R@1`, `t2a/R@5`, `t2a/R@10`, `t2a/mAP@10`, `t2a/mean_rank`, `t2a/median_rank`, the same for
    `a2t/...` plus `a2t/true_recall@k`, and the counts `n_captions`, `n_clips`, `n_a2t_queries`,
    `n_distractor_clips`.
Examples:
    >>> metric = evaluate.load("metrics/ml_retrieval")
    >>> out = metric.compute(predictions=[[0.9, 0.1], [0.2, 0.7]], references=[0, 1])
    >>> out["t2a/R@1"], out["a2t/R@1"]
    (1.0, 1.0)
"""

_CITATION = """\
@misc{mlatr_nb,
  title = {mlatr_nb: multilingual audio-text retrieval in PyTorch},
  howpublished = {\\url{https://github.com/mlatr-nb/mlatr_nb}},
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MlRetrieval(evaluate.Metric):
    "Audio-text retrieval metrics: one example per caption, its similarity row and its clip's column."

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({'predictions': datasets.Sequence(datasets.Value('float32')),
                                        'references': datasets.Value('int64')}),
            homepage='https://mlatr-nb.github.io/mlatr_nb/eval.html',
            codebase_urls=['https://github.com/mlatr-nb/mlatr_nb'],
        )

    def _compute(self, predictions, references, ks=(1, 5, 10), allow_distractors=False):
        lengths = {len(row) for row in predictions}
        if len(lengths) > 1:
            raise ValueError(f"Every prediction must be a similarity row over the same clips; got rows of lengths "
                             f"{sorted(lengths)[:5]}.")
        n_clips = lengths.pop() if lengths else 0
        sim = np.asarray([np.asarray(row, dtype=np.float32) for row in predictions]).reshape(len(predictions), n_clips)
        ids = np.asarray(references, dtype=np.int64)
        return flatten_metrics(retrieval_metrics(sim, ids, ks=tuple(ks), allow_distractors=allow_distractors))
