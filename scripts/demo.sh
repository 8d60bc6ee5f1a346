#!/usr/bin/env bash
# make demo: real Fashion-MNIST (Debian's dataset-fashion-mnist) through the whole
# pipeline on the CPU: data stage, three configurations that tell a story
# (seed 004's CNN and the same with batch normalization on contrast-normalized images,
# and BN on contrast-normalized + ZCA-whitened ones), DEMO_SEEDS seeds each, then the comparison.
# Knobs (environment): DEMO_EPOCHS, DEMO_TRAIN_SIZE, DEMO_SEEDS, DEMO_OUT, GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${DEMO_OUT:-results/demo}
EPOCHS=${DEMO_EPOCHS:-3}
TRAIN_SIZE=${DEMO_TRAIN_SIZE:-4000}
SEEDS=${DEMO_SEEDS:-1 2}
GPU=${GPU:--1}
DATA=dataset/fashion-mnist
DEBIAN_DATA=/usr/share/datasets/fashion-mnist

step() { printf '\n=== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
start=$(date +%s)

step "1/4 Fashion-MNIST from Debian's dataset-fashion-mnist"
if ! ls "$DEBIAN_DATA"/train-images-idx3-ubyte.gz >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
  else
    echo "demo: $DEBIAN_DATA is missing; install it with: sudo apt-get install dataset-fashion-mnist" >&2
    echo "      (or pass the four *-ubyte.gz files: $PY src/dataset.py --dataset fashion-mnist --archive DIR)" >&2
    exit 1
  fi
fi

step "2/4 data stage: $PY src/dataset.py --dataset fashion-mnist"
"$PY" src/dataset.py --dataset fashion-mnist

if [ -d "$OUT" ]; then
  step "removing the previous demo runs in $OUT (the demo's own output)"
  rm -rf "$OUT"
fi

# name | flags.  Seed 004's Adam recipe on contrast-normalized images (the 0-255-scale
# mean-subtracted image.pkl needs many more updates than a demo has without BN);
# flips only: a 4-pixel crop is a large change for 28x28 garments and slows learning.
CONFIGS=(
  "cnn|-m cnn -d $DATA/image_norm.pkl"
  "cnnbn|-m cnnbn -d $DATA/image_norm.pkl"
  "cnnbn_zca|-m cnnbn -d $DATA/image_norm_zca.pkl"
)
n_runs=$(( ${#CONFIGS[@]} * $(wc -w <<<"$SEEDS") ))
i=0
for seed in $SEEDS; do
  for config in "${CONFIGS[@]}"; do
    i=$((i + 1))
    name=${config%%|*}; flags=${config#*|}
    step "3/4 training run $i/$n_runs: $name, seed $seed ($EPOCHS epochs on $TRAIN_SIZE images)"
    # shellcheck disable=SC2086
    "$PY" src/train.py -g "$GPU" $flags -b 128 --optimizer adam --iter "$EPOCHS" \
      --lr_decay_iter "$((EPOCHS - 1))" --augment flip --train_size "$TRAIN_SIZE" \
      --seed "$seed" -p "${name}_s${seed}" --out "$OUT"
  done
done

step "4/4 comparison: $PY src/plot.py --json $OUT"
"$PY" src/plot.py --json "$OUT"
elapsed=$(( $(date +%s) - start ))
step "demo finished in $elapsed s: $OUT/summary.md, $OUT/summary.json, $OUT/curves.png, $OUT/report.html"
echo "to put this run into README.md: $PY -m chainer_compare.reporting.readme_demo $OUT --wall-time-s $elapsed"
