#!/usr/bin/env bash
# On a GPU machine without TensorFlow, in one call: the project's autoencoder training under JAX
# against the same network in an eager and in a compiled PyTorch loop (images per second, fp32 and
# bf16, batch 64 and 512), then the wall time of the accuracy recipe (benchmarks/accuracy.sh) and of
# the previous recipe (--previous) under JAX on the full MNIST.
#
# usage: bash benchmarks/gpu.sh [OUTPUT_DIR]   (needs datasets/mnist, from `python datasets/download.py`)
#   PYTHON (default python3), STEPS (per repetition at batch 64, default 100),
#   RECIPE_LIMIT / PREVIOUS_LIMIT (seconds allowed for each recipe, default 240 / 300; 0 skips it)
set -u
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU"
  "$PYTHON" -c "import jax, keras, torch; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'torch', torch.__version__)"
} 2>&1 | grep -v "^I0000\|^W0000" | tee "$OUT/machine.txt"
for precision in "" --bf16; do
    for what in project torch torch-compiled; do
        timeout 240 "$PYTHON" benchmarks/gpu.py $what --batch 64 512 --steps "${STEPS:-100}" $precision 2>&1 \
            | grep RESULT | tee -a "$OUT/speed.txt"
    done
done
timeout 120 "$PYTHON" benchmarks/jax_loop.py --steps 32 --reps 4 2>&1 | grep -v "^I0000\|^W0000" | tee -a "$OUT/speed.txt"
recipe() {  # NAME LIMIT [--previous]
    [ "$2" -gt 0 ] || return 0
    local start status
    start=$(date +%s)
    PYTHON=$PYTHON timeout "$2" bash benchmarks/accuracy.sh ${3:-} "/tmp/gpu-$1" > "$OUT/$1.log" 2>&1
    status=$?
    echo "$1 under JAX: exit status $status after $(( $(date +%s) - start )) s; $(grep '^result' "$OUT/$1.log")" \
        | tee -a "$OUT/speed.txt"
}
recipe recipe "${RECIPE_LIMIT:-240}"
recipe previous-recipe "${PREVIOUS_LIMIT:-300}" --previous
cat "$OUT/speed.txt"
