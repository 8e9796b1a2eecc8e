#!/usr/bin/env bash
# The GPU set of issue 38 in one go, on one CUDA device (about 5 minutes on one H100; at most 8):
# the paper-scale table (CED-Base + SONAR basic, batch 24, 10 s and 30 s clips; every objective with and without
# gradient caching and activation checkpointing), then KCL in bf16, with fused AdamW and with torch.compile, and which
# attention kernel runs in each tower. Everything goes to one file.
# Run from the repository root, with the library installed:  bash benchmarks/gpu_check.sh [OUTPUT_FILE]
set -euo pipefail
out="${1:-gpu_check.txt}"
{
  echo "# gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(git rev-parse --short HEAD 2>/dev/null || echo 'no git')"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  timeout 470 python benchmarks/bench_scale.py --device cuda --steps 5
} 2>&1 | tee "$out"
echo "wrote $out"
