#!/usr/bin/env bash
# Every check CI runs: notebooks and library in step, README in step, all notebook tests (slow ones too), pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg

echo "== notebooks are the source: nbdev-export and nbdev-clean must not change tracked files"
nbdev-export
nbdev-clean
python scripts/make_readme.py
if [ -n "$(git status --porcelain -- mlatr_nb nbs README.md)" ]; then
  git status --porcelain -- mlatr_nb nbs README.md
  git --no-pager diff --stat -- mlatr_nb nbs README.md
  echo "FAIL: export/clean/README generation changed the files above. Run them and commit." >&2
  exit 1
fi

echo "== nbdev-test (all notebooks, slow cells included)"
# Two notebooks at a time on 2 cores, one thread each: more threads than cores makes OpenMP's waiting threads spin
# against each other, and the two notebooks that train the main job (index, 10_train) then run several times slower.
OMP_NUM_THREADS=1 nbdev-test --flags slow --n-workers 2 --timing --cell-timeout 1800

echo "== pytest"
python -m pytest tests -q -p no:cacheprovider
