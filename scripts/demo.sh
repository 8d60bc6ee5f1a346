#!/usr/bin/env bash
# make demo: real Fashion-MNIST (Debian's dataset-fashion-mnist) through the whole
# pipeline on the CPU: data stage, the demo study (studies/demo.yaml: seed 004's CNN,
# CNN+BN and CNN+BN on ZCA-whitened images, 3 seeds each, 2 runs at a time), then the
# comparison with its verdicts.  A second `make demo` skips the runs that finished
# and resumes interrupted ones; DEMO_FRESH=1 starts every run over.
# Knobs (environment): DEMO_JOBS (default 2), DEMO_FRESH, DEMO_RESULTS (default results).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
RESULTS=${DEMO_RESULTS:-results}
OUT=$RESULTS/demo
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

restart=()
[ "${DEMO_FRESH:-0}" != 0 ] && restart=(--restart all)
step "3/4 the study: $PY src/study.py run studies/demo.yaml --jobs ${DEMO_JOBS:-2} ${restart[*]}"
"$PY" src/study.py run studies/demo.yaml --jobs "${DEMO_JOBS:-2}" --results "$RESULTS" "${restart[@]}"

step "4/4 comparison and verdicts: $PY src/plot.py --json $OUT"
"$PY" src/plot.py --json "$OUT"
elapsed=$(( $(date +%s) - start ))
step "demo finished in $elapsed s: $OUT/summary.md, $OUT/summary.json, $OUT/curves.png, $OUT/report.html"
echo "to put this run into README.md: $PY -m chainer_compare.reporting.readme_demo $OUT --wall-time-s $elapsed"
