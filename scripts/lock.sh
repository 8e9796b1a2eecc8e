#!/usr/bin/env bash
# Re-resolve constraints.txt, the pinned set that CI and the README install from. The `sonar` extra fixes torch at
# 2.9.1 (fairseq2n 0.8.1 requires it), and torchaudio follows torch. Run after changing dependencies in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==0.13.9"
python3 -m uv pip compile pyproject.toml --extra dev --extra sonar --extra faiss --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --custom-compile-command "bash scripts/lock.sh" -o constraints.txt
