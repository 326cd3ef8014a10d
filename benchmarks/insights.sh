#!/usr/bin/env bash
# The original team's three claims about their experiments, measured with sweep.py (docs/sweeps.md):
# batch size against the fit and the generalisation, dropout against the train/validation gap (the
# autoencoder and the classifier), and the epochs against the rest. 3 seeds each, on the first 4,000
# MNIST training images; about 35 minutes on 2 cores (a Zen 4, 2026-12-04).
#
# usage: bash benchmarks/insights.sh [OUTPUT_DIR]
#   MNIST_DIR, PYTHON as for benchmarks/accuracy.sh; AUTOENCODER: the autoencoder the classifier sweep
#   reuses (default: one trained here with every default on the same 4,000 images, seed 1)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/common.sh  # MNIST and PYTHON
OUT=${1:-runs/insights-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
TRAIN=(-d "$MNIST/train-images-idx3-ubyte.gz" --limit 4000)

# 1. batch size, 32 to 512, at the same 3 epochs: training against validation loss
"$PYTHON" sweep.py autoencoder.py "${TRAIN[@]}" --epochs 3 --grid batch-size=32,64,128,256,512 --seeds 1-3 \
    --output-dir "$OUT/batch-size"
# 2a. dropout in the autoencoder: the gap between training and validation loss
"$PYTHON" sweep.py autoencoder.py "${TRAIN[@]}" --epochs 3 --grid dropout=0,0.1,0.2,0.3 --seeds 1-3 \
    --output-dir "$OUT/dropout-autoencoder"
# 3. epochs against dropout (the autoencoder): does the right number of epochs depend on the rest?
"$PYTHON" sweep.py autoencoder.py "${TRAIN[@]}" --grid epochs=1,3,6 --grid dropout=0,0.2 --seeds 1-3 \
    --output-dir "$OUT/epochs-dropout"
# 2b. dropout in the classifier's head, on one autoencoder
AE=${AUTOENCODER:-$OUT/autoencoder.h5}
[ -f "$AE" ] || "$PYTHON" autoencoder.py "${TRAIN[@]}" --no-input --seed 1 --output-dir "$OUT/autoencoder" \
    --save "$AE" > "$OUT/autoencoder.log"
"$PYTHON" sweep.py classification.py "${TRAIN[@]}" -dl "$MNIST/train-labels-idx1-ubyte.gz" \
    -t "$MNIST/t10k-images-idx3-ubyte.gz" -tl "$MNIST/t10k-labels-idx1-ubyte.gz" -model "$AE" \
    --epochs 1 --fine-tune-epochs 3 --tta 1 --grid dropout=0,0.25,0.5 --seeds 1-3 --output-dir "$OUT/dropout-classifier"
