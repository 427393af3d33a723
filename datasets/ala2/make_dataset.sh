#!/usr/bin/env bash
# make_dataset.sh - regenerates the shipped CG alanine dipeptide dataset,
# datasets/ala2_cg6.h5 (called by `make dataset`; datasets/README.md describes it).
# 4 trajectories x 25 ns on 2 processes: about 40 minutes on two idle cores.  The run
# is deterministic (OpenMM Reference platform, fixed seeds): the same OpenMM and
# HDF5 versions should give the sha256 in datasets/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 datasets/ala2/generate.py --ns 25 --trajectories 4 --seed 2020 \
    --beads 6 --processes 2 --out datasets/ala2_cg6.h5
