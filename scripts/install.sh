#!/usr/bin/env bash
# Create .venv and install mlatr_nb with every extra, from the pinned constraints file.
# uv resolves and installs the ~600 pinned packages in well under a minute (an unpinned resolve takes ~12).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
.venv/bin/python -m uv pip install --python .venv/bin/python --quiet -c constraints.txt -e ".[${EXTRAS:-dev,sonar,faiss}]"
.venv/bin/python -c "import mlatr_nb, torch, torchaudio; print('mlatr_nb', mlatr_nb.__version__, '| torch', torch.__version__, '| torchaudio', torchaudio.__version__)"
