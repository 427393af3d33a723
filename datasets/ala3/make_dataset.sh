#!/usr/bin/env bash
# make_dataset.sh - regenerates the shipped all-atom alanine tripeptide trajectories,
# datasets/ala3/{ala3.pdb,system.xml,run0.h5md,run1.h5md} (datasets/README.md
# describes them; docs/tutorial.md maps them to CG beads).  2 trajectories x 10 ns
# on 2 processes: about 6 minutes on two idle cores.  Deterministic (OpenMM
# Reference platform, fixed seeds): the same OpenMM and HDF5 versions should give
# the sha256 sums in datasets/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 datasets/ala3/generate.py --ns 10 --trajectories 2 --frame-ps 4 \
    --seed 2024 --processes 2 --out-dir datasets/ala3
