#!/usr/bin/python3
"""plot_fes.py - draw free-energy landscapes F(phi, psi) written by cgdml to PNG.

Reference and model side by side on one colour scale, and their difference after
the best constant shift (the comparison metric of docs/method.md section 5), so the
eye sees what the number measures.  Uses Debian's python3-matplotlib and h5py.

usage: /usr/bin/python3 scripts/plot_fes.py REF.h5 [MODEL.h5] -o landscapes.png
       [--title TEXT] [--vmax KT]
REF.h5 and MODEL.h5 are landscape files (cgdml fes-reference, cgdml fes): the
group /fes holds free_energy (bins x bins, kT, NaN where empty) and edges (rad).
"""
import argparse
import os
import sys

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def read_landscape(path):
    """Free energy (kT, NaN where empty) and bin edges in degrees."""
    try:
        with h5py.File(path, "r") as f:
            fe = np.array(f["/fes/free_energy"])
            edges = np.degrees(np.array(f["/fes/edges"]))
    except (OSError, KeyError) as e:
        sys.exit(f"plot_fes.py: {path}: not a cgdml landscape file ({e})")
    return fe, edges


def shifted_difference(model, ref):
    """model - ref - c over jointly populated bins, c the best constant shift."""
    diff = model - ref
    joint = np.isfinite(diff)
    if joint.any():
        diff = diff - diff[joint].mean()
    return diff


def draw(ax, fe, edges, title, vmin, vmax, cmap):
    mesh = ax.pcolormesh(edges, edges, fe.T, vmin=vmin, vmax=vmax, cmap=cmap, shading="flat")
    ax.set_title(title)
    ax.set_xlabel("φ (degrees)")
    ax.set_ylabel("ψ (degrees)")
    ax.set_aspect("equal")
    ax.set_xticks(range(-180, 181, 90))
    ax.set_yticks(range(-180, 181, 90))
    return mesh


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("reference")
    p.add_argument("model", nargs="?")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--title", default="")
    p.add_argument("--vmax", type=float, default=8.0, help="top of the colour scale, kT")
    a = p.parse_args()
    ref, edges = read_landscape(a.reference)
    panels = [(ref, "all-atom reference")]
    if a.model:
        model, model_edges = read_landscape(a.model)
        if model.shape != ref.shape:
            sys.exit(f"plot_fes.py: grids differ: {model.shape} and {ref.shape}")
        panels.append((model, "CG model"))
    fig, axes = plt.subplots(1, len(panels) + (1 if a.model else 0), layout="constrained",
                             figsize=(5.2 * (len(panels) + (1 if a.model else 0)), 4.6))
    axes = np.atleast_1d(axes)
    for ax, (fe, title) in zip(axes, panels):
        mesh = draw(ax, fe, edges, title, 0.0, a.vmax, "viridis")
    fig.colorbar(mesh, ax=axes[: len(panels)].tolist(), label="F (kT)", shrink=0.85)
    if a.model:
        diff = shifted_difference(model, ref)
        mesh = draw(axes[-1], diff, edges, "model - reference (shifted)", -3.0, 3.0, "RdBu_r")
        fig.colorbar(mesh, ax=axes[-1], label="ΔF (kT)", shrink=0.85)
    if a.title:
        fig.suptitle(a.title)
    tmp = a.output + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
