#!/usr/bin/env bash
# The assignment's whole pipeline on the full MNIST, unattended and seeded: an autoencoder, then a
# classifier on its encoder; prints the test errors, the accuracy, the train/validation gap and the
# minutes taken.
#
# usage: bash benchmarks/accuracy.sh [--previous | --defaults] [OUTPUT_DIR]
#   --previous: the recipe before 2026-11-30 (3 + 2 + 45 epochs, no test-time augmentation), for comparison
#   --defaults: every default (what pressing Enter at every question gives)
#   MNIST_DIR (default datasets/mnist, where `python datasets/download.py` puts it)
#   PYTHON    (default: .venv/bin/python where it exists, else python3)
#   SEED      (default 1)
#   LIMIT     (default: all) both scripts use only the first LIMIT training images: a quick trial
#   AE_FLAGS, CL_FLAGS  more flags for each script, given last (a candidate against the recipe it changes)
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=recipe
case "${1:-}" in
    --previous) RECIPE=previous; shift ;;
    --defaults) RECIPE=defaults; shift ;;
esac
source benchmarks/common.sh  # MNIST and PYTHON
SEED=${SEED:-1}
OUT=${1:-runs/accuracy-$RECIPE-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

NETWORK=(--layers 5 --filters 32,32,64,64,128 --pooling 2,4 --kernel 3 --dropout 0.1)
HEAD=(--fc-units 128 --learning-rate 1e-3 --schedule cosine --shift 0.1 --rotation 10 --zoom 0.1 --patience 0)
if [ "$RECIPE" = defaults ]; then
    NETWORK=() HEAD=() AUTOENCODER=() CLASSIFIER=()
elif [ "$RECIPE" = previous ]; then
    AUTOENCODER=(--epochs 3 --batch-size 64)
    CLASSIFIER=(--dropout 0.3 --encoder-dropout 0.25 --epochs 2 --fine-tune-epochs 45 --batch-size 64
                --fine-tune-learning-rate 1e-3 --tta 1)
else
    AUTOENCODER=(--epochs 1 --batch-size 64 --limit 30000)
    CLASSIFIER=(--dropout 0.2 --encoder-dropout 0 --epochs 1 --fine-tune-epochs 9 --batch-size 64
                --fine-tune-learning-rate 1e-3 --tta 9)
fi
if [ -n "${LIMIT:-}" ]; then  # given last, it replaces the recipe's own --limit 30000 (argparse keeps the last)
    AUTOENCODER+=(--limit "$LIMIT")
    CLASSIFIER+=(--limit "$LIMIT")
fi
read -r -a AE_MORE <<< "${AE_FLAGS:-}"
read -r -a CL_MORE <<< "${CL_FLAGS:-}"
AUTOENCODER+=("${AE_MORE[@]}")
CLASSIFIER+=("${CL_MORE[@]}")
start=$(date +%s)

"$PYTHON" autoencoder.py -d "$MNIST/train-images-idx3-ubyte.gz" --no-input --seed "$SEED" "${NETWORK[@]}" \
    "${AUTOENCODER[@]}" --output-dir "$OUT/autoencoder" --save "$OUT/autoencoder.h5" | tee "$OUT/autoencoder.log"

"$PYTHON" classification.py -d "$MNIST/train-images-idx3-ubyte.gz" -dl "$MNIST/train-labels-idx1-ubyte.gz" \
    -t "$MNIST/t10k-images-idx3-ubyte.gz" -tl "$MNIST/t10k-labels-idx1-ubyte.gz" -model "$OUT/autoencoder.h5" \
    --no-input --seed "$SEED" "${HEAD[@]}" "${CLASSIFIER[@]}" \
    --output-dir "$OUT/classifier" --save "$OUT/classifier.h5" | tee "$OUT/classifier.log"

seconds=$(( $(date +%s) - start ))
"$PYTHON" - "$OUT" "$seconds" "$RECIPE" "$SEED" <<'PY'
import csv, json, sys
out, seconds, recipe, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
report = json.load(open(f"{out}/classifier/test-experiment-1/test_report.json"))
row = list(csv.DictReader(open(f"{out}/classifier/experiments.csv")))[-1]
gap = 100 * (float(row["accuracy"]) - float(row["val_accuracy"]))
views = report["settings"]["tta"]
tta = json.load(open(f"{out}/classifier.json"))["validation"].get("val_accuracy_tta")
over = f" (over {views} views)" if views > 1 else ""
tta = f", {100 * tta:.2f}% over {views} views" if tta is not None else ""
print(f"\nresult ({recipe}, seed {seed}): {report['errors']} test errors of {report['errors'] + report['correct']}"
      f"{over}, test accuracy {100 * report['accuracy']:.2f}%, training accuracy {100 * float(row['accuracy']):.2f}% "
      f"vs validation {100 * float(row['val_accuracy']):.2f}% (gap {gap:.2f} points{tta}), {seconds / 60:.1f} minutes")
PY
