#!/usr/bin/env bash
# Reproduce seed 004's table: train its seven CIFAR-10 configurations (CNN, CNN+ZCA,
# CNNBN, CNNBN+ZCA, VGG, ResNet-74, ResNet-74 + stochastic depth) with the seed's flags,
# one after the other, then lay the results beside the published errors.
#
#   scripts/seed004.sh                  # -g 0, 300 epochs each (days on one GPU)
#   GPU=-1 scripts/seed004.sh --iter 2  # CPU smoke run: extra flags go to every train.py
#   SEEDS="1 2 3" scripts/seed004.sh    # three seeds each → mean ± std in the table
#   DRY_RUN=1 scripts/seed004.sh        # print the commands only
#
# The flags live in src/chainer_compare/reporting/seed004.py (one source of truth).
# Needs the CIFAR-10 data stage first: python src/dataset.py (run here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
GPU=${GPU:-0}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}

mapfile -t COMMANDS < <("$PY" -m chainer_compare.reporting.seed004 --gpu "$GPU" \
    --seeds "${SEEDS:-}" -- "$@")
if [ "${DRY_RUN:-0}" != 0 ]; then
    printf '%s\n' "${COMMANDS[@]}"
    exit 0
fi
if [ ! -f dataset/image.pkl ] || [ ! -f dataset/image_norm_zca.pkl ]; then
    echo "seed004: dataset/*.pkl missing; running the data stage (python src/dataset.py)"
    "$PY" src/dataset.py
fi
for command in "${COMMANDS[@]}"; do
    echo "seed004: $PY $command"
    eval "\"$PY\" $command"   # the line is shell-quoted by seed004.py
done
"$PY" src/plot.py results --reference seed004
