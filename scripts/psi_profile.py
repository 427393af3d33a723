#!/usr/bin/python3
"""scripts/psi_profile.py - the free-energy profile along ψ of alanine dipeptide
read off forces instead of a simulation (README, "How make run's defaults were
chosen"; docs/method.md §6): over the data frames with φ < 0, in 10° bins of ψ, the
mean torque of the ψ rotation (bead 5 about the Cα–C axis, which leaves the prior's
bonds and angles unchanged) integrated along ψ, from the labels and from each model
given, beside −kT ln p(ψ) of the histogram.  Prints the depth of the β well (the
profile at ψ = 95° minus at 155°, kcal/mol) of each.

    PYTHONPATH=python /usr/bin/python3 scripts/psi_profile.py datasets/ala2_cg6.h5 \\
        [model.h5 ...] [--stride 2] [--table]
"""
import argparse

import numpy as np

import cgdml

KT = 0.0019872041 * 300.0  # kcal/mol at 300 K
N_BINS = 36


def dihedral(x, a, b, c, d):
    b0, b1, b2 = x[:, a] - x[:, b], x[:, c] - x[:, b], x[:, d] - x[:, c]
    b1 = b1 / np.linalg.norm(b1, axis=1)[:, None]
    v = b0 - (b0 * b1).sum(1)[:, None] * b1
    w = b2 - (b2 * b1).sum(1)[:, None] * b1
    return np.arctan2((np.cross(b1, v) * w).sum(1), (v * w).sum(1))


def torque(x, f):
    """Generalised force of ψ: bead 5's force on its rotation about Cα(2) -> C(4)."""
    u = x[:, 4] - x[:, 2]
    u = u / np.linalg.norm(u, axis=1)[:, None]
    return (f[:, 5] * np.cross(u, x[:, 5] - x[:, 4])).sum(1)


class Profile:
    """The bins of ψ (φ < 0 frames) of a set of positions."""

    def __init__(self, x):
        self.x = x
        phi, psi = dihedral(x, 0, 1, 2, 4), dihedral(x, 1, 2, 4, 5)
        self.mask = phi < 0
        edges = np.linspace(-np.pi, np.pi, N_BINS + 1)
        self.centres = np.degrees(0.5 * (edges[1:] + edges[:-1]))
        self.bin = np.clip(np.digitize(psi[self.mask], edges) - 1, 0, N_BINS - 1)
        self.count = np.bincount(self.bin, minlength=N_BINS)

    def histogram(self):
        return -KT * np.log(np.maximum(self.count, 1) / self.count.sum())

    def integrated(self, forces):
        t = torque(self.x, forces)[self.mask]
        mean = np.bincount(self.bin, weights=t, minlength=N_BINS) / np.maximum(self.count, 1)
        return -np.cumsum(mean) * (2 * np.pi / N_BINS)

    def beta_depth(self, profile):
        k95 = int(np.argmin(abs(self.centres - 95)))
        k155 = int(np.argmin(abs(self.centres - 155)))
        return profile[k95] - profile[k155]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("models", nargs="*")
    ap.add_argument("--stride", type=int, default=2, help="every n-th frame (default 2)")
    ap.add_argument("--table", action="store_true", help="print the profiles too")
    a = ap.parse_args()
    with cgdml.Dataset.load(a.data) as d:
        x = np.asarray(d.positions)[:: a.stride]
        f = np.asarray(d.forces)[:: a.stride]
    p = Profile(x)
    rows = [("histogram", p.histogram()), ("labels", p.integrated(f))]
    for path in a.models:
        with cgdml.Model.load(path) as m:
            rows.append((path, p.integrated(np.asarray(m.predict(x)).reshape(x.shape))))
    for name, prof in rows:
        print(f"beta well depth {p.beta_depth(prof):6.2f} kcal/mol  {name}")
    if a.table:
        print("psi(deg) " + " ".join(f"{n[-12:]:>12}" for n, _ in rows) + "  frames")
        for i in range(N_BINS):
            print(f"{p.centres[i]:7.1f} " + " ".join(f"{r[i]:12.3f}" for _, r in rows)
                  + f"  {p.count[i]}")


if __name__ == "__main__":
    main()
