#!/usr/bin/env bash
# run.sh - `make run`: the main job on the shipped dataset.  For now (the core
# engine) it trains one GDML model on 1000 frames of the shipped alanine dipeptide
# data and measures its force error on every frame it has not seen; the full
# two-layer pipeline replaces this in the end-to-end issue.
#   usage: scripts/run.sh PATH/TO/cgdml
set -euo pipefail
cgdml=${1:-build/cgdml}
data=datasets/ala2_cg6.h5
out=run
mkdir -p "$out"
"$cgdml" info "$data"
"$cgdml" train --data "$data" --n-train 1000 --seed 1 --sigma 1 --lambda 1e-3 \
    -o "$out/single.h5"
"$cgdml" eval --model "$out/single.h5" --data "$data" --held-out \
    | tee "$out/eval.txt"
