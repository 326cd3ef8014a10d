#!/usr/bin/env bash
# On a GPU machine without TensorFlow: the project's autoencoder training under JAX against a plain
# PyTorch loop of the same network (images per second, fp32 and bf16, batch 64 and 512), then the
# wall time of the accuracy recipe (benchmarks/accuracy.sh) under JAX on the full MNIST.
#
# usage: bash benchmarks/gpu.sh [OUTPUT_DIR]   (needs datasets/mnist, from `python datasets/download.py`)
#   PYTHON (default python3), RECIPE_LIMIT (seconds allowed for the recipe, default 420), STEPS (per repetition at batch 64, default 100)
set -u
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU"
  "$PYTHON" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
} 2>&1 | grep -v "^I0000\|^W0000" | tee "$OUT/machine.txt"
for what in project torch; do
    for precision in "" --bf16; do
        "$PYTHON" benchmarks/gpu.py $what --batch 64 512 --steps "${STEPS:-100}" $precision 2>&1 | grep RESULT | tee -a "$OUT/speed.txt"
    done
done
start=$(date +%s)
PYTHON=$PYTHON timeout "${RECIPE_LIMIT:-420}" bash benchmarks/accuracy.sh /tmp/gpu-recipe > "$OUT/recipe.log" 2>&1
status=$?
echo "recipe under JAX: exit status $status after $(( $(date +%s) - start )) s" | tee -a "$OUT/speed.txt"
grep -E "^Epoch|val_loss|result:" "$OUT/recipe.log" | tail -4
cp /tmp/gpu-recipe/*.log "$OUT/" 2>/dev/null
cat "$OUT/speed.txt"
