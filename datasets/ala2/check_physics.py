#!/usr/bin/python3
"""check_physics.py - checks of the all-atom setup behind datasets/ala2_cg6.h5.

Two numbers that the dataset tests (tests/python/test_dataset_ala2.py) and
datasets/README.md rely on, computed from the force field itself rather than read
off the data:

1. where the alpha_R basin of ff99SB-ILDN + OBC lies: minimise from the canonical
   right-handed helix (phi, psi) = (-60, -45) and print the (phi, psi) reached;
2. the size of the force labels: in the canonical ensemble <F_x^2> = kT <d2U/dx^2>
   for every Cartesian component, so kT times the Hessian diagonal on the bead
   atoms, averaged over a short 300 K run, predicts the label variance.  The ratio
   of the file's variance to it is the configurational temperature over 300 K.

    /usr/bin/python3 datasets/ala2/check_physics.py [--dataset datasets/ala2_cg6.h5]

Runs one process, about a minute.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import openmm
from openmm import unit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate as gen  # noqa: E402  (the setup under test)

HELIX_PHI, HELIX_PSI = -60.0, -45.0  # canonical alpha helix, degrees
MINIMISER_TOLERANCE = 1e-3  # kJ/mol/nm, far tighter than OpenMM's default of 10
KT = (unit.MOLAR_GAS_CONSTANT_R * gen.TEMPERATURE_K * unit.kelvin).value_in_unit(
    unit.kilocalorie_per_mole)
FD_STEP = 1e-4  # Å, central differences of the force
SAMPLES, SAMPLE_STEPS = 200, 1000  # Hessian samples, one per ps
EQUILIBRATION_STEPS = 20000
SEED = 11


def backbone_dihedrals(pos, atoms):
    """(phi, psi) in degrees from all-atom positions and MAPPING atom indices."""
    at = {k: pos[i] for k, i in zip(gen.MAPPING, atoms)}
    return tuple(np.degrees(gen.dihedral(*(at[k] for k in keys)))
                 for keys in (gen.PHI_ATOMS, gen.PSI_ATOMS))


def alpha_r_minimum():
    """(phi, psi) in degrees of the energy minimum reached from the canonical helix."""
    topology, positions, system = gen.build_system(HELIX_PHI, HELIX_PSI)
    context, _ = gen.make_context(system, positions, SEED)
    openmm.LocalEnergyMinimizer.minimize(context, MINIMISER_TOLERANCE)
    pos = context.getState(getPositions=True).getPositions(asNumpy=True)
    return backbone_dihedrals(pos.value_in_unit(unit.angstrom),
                              gen.atom_indices(topology, gen.MAPPING))


def hessian_diagonal(context, pos, atoms):
    """d2U/dx2 (kcal/mol/Å^2) for each bead atom and component at pos (Å): (beads, 3)."""
    out = np.empty((len(atoms), 3))
    for b, a in enumerate(atoms):
        for k in range(3):
            force = []
            for sign in (1, -1):
                moved = pos.copy()
                moved[a, k] += sign * FD_STEP
                context.setPositions(moved * unit.angstrom)
                f = context.getState(getForces=True).getForces(asNumpy=True)
                force.append(f.value_in_unit(unit.kilocalorie_per_mole / unit.angstrom)[a, k])
            out[b, k] = (force[1] - force[0]) / (2 * FD_STEP)
    return out


def mean_hessian_diagonal():
    """<d2U/dx2> per bead atom and component over a 300 K Langevin run."""
    topology, positions, system = gen.build_system()
    atoms = gen.atom_indices(topology, gen.MAPPING)
    md, integrator = gen.make_context(system, positions, SEED)
    openmm.LocalEnergyMinimizer.minimize(md)
    md.setVelocitiesToTemperature(gen.TEMPERATURE_K * unit.kelvin, SEED)
    integrator.step(EQUILIBRATION_STEPS)
    probe = openmm.Context(system, openmm.VerletIntegrator(0.001),
                           openmm.Platform.getPlatformByName(gen.PLATFORM))
    total = np.zeros((len(atoms), 3))
    for _ in range(SAMPLES):
        integrator.step(SAMPLE_STEPS)
        pos = md.getState(getPositions=True).getPositions(asNumpy=True)
        total += hessian_diagonal(probe, pos.value_in_unit(unit.angstrom), atoms)
    return total / SAMPLES


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", help="H5MD file whose force variance to compare")
    args = p.parse_args(argv)
    phi, psi = alpha_r_minimum()
    print(f"alpha_R minimum from ({HELIX_PHI:.0f}, {HELIX_PSI:.0f}): "
          f"phi {phi:.1f}, psi {psi:.1f} degrees")
    predicted = KT * mean_hessian_diagonal().mean(axis=1)
    print("bead  kT<d2U/dx2>  (kcal/mol/Å)^2, mean over x, y, z")
    variance = None
    if args.dataset:
        with h5py.File(args.dataset, "r") as f:
            variance = f["particles/cg/force/value"][()].astype(np.float64).var(axis=0).mean(1)
        if len(variance) != len(gen.MAPPING):
            p.error(f"{args.dataset} has {len(variance)} beads, expected the 6-bead map")
    for b, (res, name) in enumerate(gen.MAPPING):
        line = f"{res}:{name:3s} {predicted[b]:8.1f}"
        if variance is not None:
            line += f"   file Var(F) {variance[b]:7.1f}   ratio {variance[b] / predicted[b]:.3f}"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
