#!/usr/bin/env bash
# Every claim the original team made in words, measured (docs/sweeps.md, "Every claim, in one table"),
# and their submitted configuration run end to end; then benchmarks/claims.py prints the table.
# Seeds 1 to 3 everywhere, paired by seed. The small claims use the first 4,000 full-MNIST training
# images and short runs (a pipeline: the autoencoder 3 epochs, the classifier 1 + 3, each image
# classified once); "augmentation" and "team" use the full MNIST.
#
# usage: bash benchmarks/claims.sh [OUTPUT_DIR]
#   PARTS (default: all of them, in this order): batch layers kernel filters batch-norm
#         autoencoder-dropout head epochs augmentation team
#   TEAM_EPOCHS: how many of the team's 200 autoencoder epochs to run (default 6: 22 minutes on one AMX core)
#   MNIST_DIR, PYTHON as for benchmarks/accuracy.sh. The same command again continues where it
#   stopped (each sweep keeps its finished trials; a finished single run is not run again).
# 172 minutes of one core on a 2-core Intel Xeon with AMX (family 6, model 167), 2026-12-07: the small
# claims 62, augmentation 57, team 53 (docs/sweeps.md); two parts at once on two cores, about 90.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/common.sh  # MNIST and PYTHON
OUT=${1:-runs/claims-$(date +%Y%m%d-%H%M%S)}
PARTS=${PARTS:-batch layers kernel filters batch-norm autoencoder-dropout head epochs augmentation team}
mkdir -p "$OUT"

IMAGES=(-d "$MNIST/train-images-idx3-ubyte.gz")
LABELS=(-dl "$MNIST/train-labels-idx1-ubyte.gz" -t "$MNIST/t10k-images-idx3-ubyte.gz" -tl "$MNIST/t10k-labels-idx1-ubyte.gz")
SMALL=(--limit 4000)
SHORT_AE="--limit 4000 --epochs 3"
SHORT_CL=(--epochs 1 --fine-tune-epochs 3 --tta 1)
SEEDS=(--seeds 1-3 --workers 1)
start=$(date +%s)

sweep() { "$PYTHON" sweep.py "$@"; }
# A whole pipeline per trial (its own autoencoder with SHORT_AE and these flags, then the classifier).
pipeline() { local name=$1; shift
    sweep classification.py "${IMAGES[@]}" "${LABELS[@]}" "${SMALL[@]}" "${SHORT_CL[@]}" \
        --autoencoder "$SHORT_AE $*" "${SEEDS[@]}" --output-dir "$OUT/pipeline/$name"; }
# One autoencoder every classifier of "batch" and "head" reuses: every default, seed 1.
shared_autoencoder() {
    [ -f "$OUT/autoencoder.h5" ] || "$PYTHON" autoencoder.py "${IMAGES[@]}" $SHORT_AE --no-input --seed 1 \
        --output-dir "$OUT/autoencoder" --save "$OUT/autoencoder.h5" > "$OUT/autoencoder.log"; }
wants() { [[ " $PARTS " == *" $1 "* ]]; }

if wants batch; then  # the batch size at an equal number of steps: epochs grow with the batch
    for pair in 32:2 64:4 128:8 256:16; do
        sweep autoencoder.py "${IMAGES[@]}" "${SMALL[@]}" --batch-size "${pair%:*}" --epochs "${pair#*:}" \
            "${SEEDS[@]}" --output-dir "$OUT/batch/autoencoder-${pair%:*}"
    done
    shared_autoencoder
    for pair in 32:1 64:2 128:4 256:8; do
        sweep classification.py "${IMAGES[@]}" "${LABELS[@]}" "${SMALL[@]}" -model "$OUT/autoencoder.h5" --tta 1 \
            --batch-size "${pair%:*}" --epochs "${pair#*:}" --fine-tune-epochs "${pair#*:}" \
            "${SEEDS[@]}" --output-dir "$OUT/batch/classifier-${pair%:*}"
    done
fi
# The default pipeline (3 layers, kernel 3, filters 32,64,128, BatchNormalization after the
# convolution, the autoencoder's dropout 0.1) is every pipeline row's reference.
if wants layers || wants kernel || wants batch-norm || wants autoencoder-dropout; then pipeline default; fi
if wants layers; then pipeline layers-2 --layers 2; pipeline layers-4 --layers 4; fi
if wants kernel; then pipeline kernel-5 --kernel 5; pipeline kernel-7 --kernel 7; fi
if wants filters; then  # two layers: 32,64 is the default for two
    pipeline filters-8,16 --layers 2 --filters 8,16
    pipeline layers-2 --layers 2
    pipeline filters-128,256 --layers 2 --filters 128,256
fi
if wants batch-norm; then  # not a flag: the same pipeline with benchmarks/bn_after_pooling.py's autoencoder
    for seed in 1 2 3; do
        dir=$OUT/pipeline/batch-norm-after-pooling/s$seed
        mkdir -p "$dir"
        [ -f "$dir/autoencoder.h5" ] || "$PYTHON" benchmarks/bn_after_pooling.py "${IMAGES[@]}" $SHORT_AE --no-input \
            --seed $seed --output-dir "$dir/autoencoder" --save "$dir/autoencoder.h5" > "$dir.autoencoder.log"
        [ -f "$dir/classifier/experiments.csv" ] || "$PYTHON" classification.py "${IMAGES[@]}" "${LABELS[@]}" "${SMALL[@]}" \
            "${SHORT_CL[@]}" -model "$dir/autoencoder.h5" --no-input --seed $seed --output-dir "$dir/classifier" \
            > "$dir.classifier.log"
    done
fi
if wants autoencoder-dropout; then pipeline ae-dropout-0 --dropout 0; pipeline ae-dropout-0.3 --dropout 0.3; fi
if wants head; then  # the head's units against its dropout, on one autoencoder
    shared_autoencoder
    sweep classification.py "${IMAGES[@]}" "${LABELS[@]}" "${SMALL[@]}" "${SHORT_CL[@]}" -model "$OUT/autoencoder.h5" \
        --grid fc-units=64,128,256,512 --grid dropout=0.3,0.5,0.7 "${SEEDS[@]}" --output-dir "$OUT/head"
fi
if wants epochs; then  # one long learning curve of the default autoencoder, on 10,000 images
    sweep autoencoder.py "${IMAGES[@]}" --limit 10000 --epochs 50 --seeds 1 --workers 1 --output-dir "$OUT/epochs"
fi
RECIPE_AE="--layers 5 --filters 32,32,64,64,128 --pooling 2,4 --kernel 3 --dropout 0.1 --epochs 1 --batch-size 64 --limit 30000"
RECIPE_CL=(--fc-units 128 --learning-rate 1e-3 --schedule cosine --patience 0 --dropout 0.2 --encoder-dropout 0
           --epochs 1 --fine-tune-epochs 9 --batch-size 64 --fine-tune-learning-rate 1e-3)
if wants augmentation; then  # the recipe (docs/accuracy.md) on the full MNIST, with and without augmentation
    sweep classification.py "${IMAGES[@]}" "${LABELS[@]}" "${RECIPE_CL[@]}" --shift 0.1 --rotation 10 --zoom 0.1 \
        --tta 9 --autoencoder "$RECIPE_AE" "${SEEDS[@]}" --output-dir "$OUT/augmentation/on"
    sweep classification.py "${IMAGES[@]}" "${LABELS[@]}" "${RECIPE_CL[@]}" --shift 0 --rotation 0 --zoom 0 --tta 1 \
        --autoencoder "$RECIPE_AE" "${SEEDS[@]}" --output-dir "$OUT/augmentation/off"
fi
if wants team; then  # their submitted model on the full MNIST, seed 1: TEAM_EPOCHS of its 200 autoencoder epochs
    dir=$OUT/team-seed1
    mkdir -p "$dir"
    [ -f "$dir/autoencoder.h5" ] || "$PYTHON" autoencoder.py "${IMAGES[@]}" --no-input --seed 1 --layers 2 \
        --filters 128,256 --kernel 3 --dropout 0.2 --batch-size 64 --epochs "${TEAM_EPOCHS:-6}" \
        --output-dir "$dir/autoencoder" --save "$dir/autoencoder.h5" > "$dir/autoencoder.log"
    [ -f "$dir/classifier/experiments.csv" ] || "$PYTHON" classification.py "${IMAGES[@]}" "${LABELS[@]}" \
        -model "$dir/autoencoder.h5" --no-input --seed 1 --fc-units 64 --dropout 0.7 --batch-size 512 \
        --epochs 15 --fine-tune-epochs 15 --shift 0 --rotation 0 --zoom 0 --tta 1 \
        --output-dir "$dir/classifier" > "$dir/classifier.log"
fi

"$PYTHON" benchmarks/claims.py "$OUT"
echo "claims.sh: $(( ($(date +%s) - start) / 60 )) minutes for: $PARTS"
