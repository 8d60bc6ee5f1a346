#!/usr/bin/env bash
# The GPU checks run on a lent GPU machine (no network there): Chainer comes as a
# wheel built here (`pip wheel --no-deps --no-build-isolation chainer==7.8.1 -w .whl`),
# the rest (CuPy, PyTorch, NumPy 2) is the machine's own.  Usage: bench/gpu_check.sh OUTDIR
set -u
OUT=${1:-/tmp/gpu_check}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/chainer-*.whl || exit 1
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import numpy, cupy, torch; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__)"
# Training images/s, Chainer on CuPy vs PyTorch CUDA, plus augmentation on the GPU.
timeout 150 python3 bench/run_bench.py --gpu 0 --reps 10 --warmup 3 --out-dir "$OUT"
# The CuPy paths of the augmentation (same parameters and images as NumPy).
timeout 60 python3 -m pytest -q -p no:cacheprovider tests/test_augment.py -k cupy 2>&1 | tail -3
