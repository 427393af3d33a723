#!/usr/bin/python3
"""scripts/alpha_blocks.py - the α_R population of a `cgdml simulate` trajectory in
blocks of simulation steps (README, "One model on all frames"): the fraction of
saved frames of all replicas with φ < 0 and −115° < ψ < 46° (the α_R basin that
`cgdml simulate --start alpha` uses), per block of STEPS steps, read from the
trajectory's H5MD observables phi and psi (radians, one row per saved frame and
replica, with its step).  A drift of the population from block to block says the
replicas have not yet reached the model's equilibrium.

    /usr/bin/python3 scripts/alpha_blocks.py traj.h5 [--steps 100000]
"""
import argparse
import sys

import h5py
import numpy as np

PSI_LOW, PSI_HIGH = -115.0, 46.0  # degrees: the α_R band of ψ (with φ < 0)


def alpha_fraction(phi, psi):
    """Fraction of frames in α_R; angles in radians."""
    psi_deg = np.degrees(psi)
    return float(np.mean((phi < 0) & (psi_deg > PSI_LOW) & (psi_deg < PSI_HIGH)))


def blocks(path, steps):
    """[(first step, last step, frames, α_R fraction)] per block of `steps` steps."""
    with h5py.File(path, "r") as f:
        step = f["observables/phi/step"][:]
        phi = f["observables/phi/value"][:]
        psi = f["observables/psi/value"][:]
    block = (step - 1) // steps
    rows = []
    for b in np.unique(block):
        keep = (block == b) & np.isfinite(phi) & np.isfinite(psi)
        rows.append((int(b * steps + 1), int((b + 1) * steps), int(keep.sum()),
                     alpha_fraction(phi[keep], psi[keep])))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("traj")
    ap.add_argument("--steps", type=int, default=100000, help="steps per block")
    a = ap.parse_args(argv)
    print(f"{'steps':>17} {'frames':>8} {'alpha_R':>8}")
    for first, last, n, p in blocks(a.traj, a.steps):
        print(f"{first:>8}-{last:<8} {n:>8} {p:>8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
