#!/usr/bin/env bash
# scripts/all_frames_ensemble.sh - the two-layer ensemble at the all-frames model's
# compute (README, "One model on all frames"): 95 members of 1000 frames that
# partition the 95,000 frames outside the study's held-out set (the pool of
# scripts/all_frames_run.sh), averaged and distilled onto 1500 frames of distinct
# φ/ψ strata outside the held-out set, simulated 100 replicas x 1,000,000 steps and
# compared with the all-atom reference; then the α_R population in blocks of
# 100,000 steps and the β-well depth read off forces (scripts/psi_profile.py) of
# the distilled and the averaged model.  Outside CI: about 1.5-2 hours on one
# core (layer 1 is most of it).
#
#   scripts/all_frames_ensemble.sh [OUT_DIR]      (default all_frames_ensemble/; make first)
#
# Every stage is a plain cgdml command timed by /usr/bin/time -v (wall, CPU and
# peak memory in OUT_DIR/*.time); a killed layer 1 continues with the same
# ensemble command plus --resume (finished members are kept in ens95.h5.members/).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-all_frames_ensemble}
data=datasets/ala2_cg6.h5
cgdml=${CGDML:-build/cgdml}
timed() { local name=$1; shift; /usr/bin/time -v -o "$out/$name.time" "$@"; }
mkdir -p "$out"

# The held-out set: what `cgdml study` holds out (5000 frames drawn with its seed).
PYTHONPATH=python /usr/bin/python3 - "$data" "$out" <<'EOF'
import sys
import numpy as np
import cgdml
data_path, out = sys.argv[1], sys.argv[2]
with cgdml.Dataset.load(data_path) as d:
    held = np.asarray(cgdml.random_frames(d.n_frames, 5000, 20200519))
np.savetxt(f"{out}/held_out.txt", np.sort(held), fmt="%d")
EOF

# Layer 1: one permutation of the pool (seed 1) cut into 95 blocks of 1000 frames,
# σ₁ = 0.25 and λ = 1e-3 of the kernel diagonal 5/(3σ²) (2.6667e-2); the harmonic
# prior is fitted on all frames, as `train --prior` does.  Layer 2: the ensemble's
# own mean set of 1500 frames of distinct φ/ψ strata (the held-out frames excluded),
# σ₂ = σ₁ and λ₂ = 1e-4 of the diagonal: its labels are averages (docs/method.md §6).
timed ensemble "$cgdml" ensemble --data "$data" --members 95 --n-train 1000 --draw partition \
    --exclude "$out/held_out.txt" --sigma1 0.25 --sigma2 same --lambda 0.026667 \
    --lambda2-rel 1e-4 --mean-set 1500 --seed 1 -o "$out/ens95.h5"
timed simulate "$cgdml" simulate --model "$out/ens95.h5" --data "$data" --replicas 100 \
    --steps 1000000 --save-every 500 --seed 2 -o "$out/traj.h5"
"$cgdml" fes --traj "$out/traj.h5" --reference "$data" --burn-in 100000 -o "$out/fes.h5" \
    | tee "$out/fes.txt"
/usr/bin/python3 scripts/alpha_blocks.py "$out/traj.h5" --steps 100000 | tee "$out/alpha_blocks.txt"
PYTHONPATH=python /usr/bin/python3 scripts/psi_profile.py "$data" "$out/ens95.h5" \
    "$out/ens95.average.h5" | tee "$out/psi_profile.txt"
