#!/usr/bin/python3
"""generate.py - the all-atom alanine dipeptide reference data, mapped to CG beads.

First stage of the cgdml pipeline (all-atom frames -> map -> CG dataset): builds
ACE-ALA-NME from internal coordinates, adds hydrogens with OpenMM's Modeller, runs
independent Langevin trajectories (AMBER ff99SB-ILDN, OBC implicit water, 300 K, no
constraints) in parallel processes, and writes the slice-mapped positions and
all-atom forces of the CG atoms every 1 ps as one H5MD file (docs/FORMATS.md),
with phi/psi and the trajectory id as per-frame observables.

    /usr/bin/python3 datasets/ala2/generate.py --ns 25 --trajectories 4 --seed 2020 \
        --beads 6 --processes 2 --out datasets/ala2_cg6.h5

Units written: Å, kcal/mol/Å, ps, rad.  datasets/README.md describes the data.
"""
import argparse
import io
import multiprocessing
import os
import random
import shlex
import sys
import time

import h5py
import numpy as np
import openmm
from openmm import app, unit

FORCE_FIELD = ("amber99sbildn.xml", "amber99_obc.xml")  # ff99SB-ILDN + OBC GBSA
TEMPERATURE_K = 300.0
FRICTION_PER_PS = 1.0
TIME_STEP_FS = 1.0
STEPS_PER_FRAME = 1000  # one frame per ps, as in the CGnet/ensemble-GDML data
FRAME_PS = STEPS_PER_FRAME * TIME_STEP_FS * 1e-3
EQUILIBRATION_PS = 100  # discarded after minimisation, before recording
PROGRESS_FRAMES = 2500  # frames between progress lines of a trajectory
MAX_PROCESSES = 2  # the machine budget: two cores, shared with the C build
# OpenMM's Reference platform (double precision, single thread): for these 22 atoms
# it measured ~31 us/step against ~350 us/step for the CPU platform with Threads=1,
# whose per-step thread hand-offs dominate on so small a system.
PLATFORM = "Reference"
# Modeller.addHydrogens starts new hydrogens from positions drawn with Python's
# `random` before minimising them; seeding it makes the whole run reproducible.
HYDROGEN_SEED = 1
CREATOR_VERSION = "0.1.0"  # cgdml release this script belongs to (Makefile VERSION)

# Start of every trajectory: beta basin, both peptide bonds trans (degrees).
START_PHI, START_PSI, OMEGA = -150.0, 150.0, 180.0

# CG beads (slice map: one atom each), in file order, as (residue, atom name).
MAPPING = [("ACE", "C"), ("ALA", "N"), ("ALA", "CA"), ("ALA", "CB"), ("ALA", "C"),
           ("NME", "N")]
DROPPED_FOR_5_BEADS = ("ALA", "CB")
# CG bonds between mapped atoms: C-N, N-CA, CA-CB, CA-C, C-N.
BONDS = [(("ACE", "C"), ("ALA", "N")), (("ALA", "N"), ("ALA", "CA")),
         (("ALA", "CA"), ("ALA", "CB")), (("ALA", "CA"), ("ALA", "C")),
         (("ALA", "C"), ("NME", "N"))]
PHI_ATOMS = [("ACE", "C"), ("ALA", "N"), ("ALA", "CA"), ("ALA", "C")]
PSI_ATOMS = [("ALA", "N"), ("ALA", "CA"), ("ALA", "C"), ("NME", "N")]

# Heavy atoms as (residue, name, element, (i, j, k) reference atoms, bond k-new in Å,
# angle j-k-new in degrees, dihedral i-j-k-new in degrees or a key of the torsions
# dict).  Textbook peptide geometry, which minimisation relaxes to the force field's;
# the CB dihedral N-C-CA-CB = +122.6 degrees makes CA an L (S) centre, as in
# PeptideBuilder.
ZMATRIX = [
    ("ALA", "CA", "C", ("ACE:CH3", "ACE:C", "ALA:N"), 1.46, 121.7, "omega"),
    ("ALA", "C", "C", ("ACE:C", "ALA:N", "ALA:CA"), 1.52, 111.2, "phi"),
    ("NME", "N", "N", ("ALA:N", "ALA:CA", "ALA:C"), 1.33, 116.2, "psi"),
    ("ALA", "CB", "C", ("ALA:N", "ALA:C", "ALA:CA"), 1.53, 110.1, 122.6),
    ("NME", "C", "C", ("ALA:CA", "ALA:C", "NME:N"), 1.46, 121.7, "omega"),
    ("ACE", "O", "O", ("ALA:CA", "ALA:N", "ACE:C"), 1.23, 122.7, 0.0),
    ("ALA", "O", "O", ("NME:C", "NME:N", "ALA:C"), 1.23, 122.7, 0.0),
]
# The first three atoms: CH3(ACE) at the origin, C(ACE) on x, N(ALA) in the xy plane.
FIRST_BOND_CH3_C, FIRST_BOND_C_N, FIRST_ANGLE_CH3_C_N = 1.52, 1.33, 116.2
RESIDUE_ORDER = ["ACE", "ALA", "NME"]


def nerf(a, b, c, bond, angle_deg, torsion_deg):
    """Position of atom d with |cd| = bond, angle b-c-d and dihedral a-b-c-d (NeRF)."""
    angle, torsion = np.radians(angle_deg), np.radians(torsion_deg)
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    frame = np.column_stack([bc, np.cross(n, bc), n])
    local = bond * np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion),
                             np.sin(angle) * np.sin(torsion)])
    return c + frame @ local


def heavy_atoms(phi, psi, omega):
    """Heavy atoms of ACE-ALA-NME as {"RES:NAME": (element, xyz in Å)}."""
    theta = np.radians(FIRST_ANGLE_CH3_C_N)
    c_ace = np.array([FIRST_BOND_CH3_C, 0.0, 0.0])
    atoms = {"ACE:CH3": ("C", np.zeros(3)), "ACE:C": ("C", c_ace),
             "ALA:N": ("N", c_ace + FIRST_BOND_C_N * np.array([-np.cos(theta),
                                                                np.sin(theta), 0.0]))}
    torsions = {"phi": phi, "psi": psi, "omega": omega}
    for res, name, element, refs, bond, angle, torsion in ZMATRIX:
        a, b, c = (atoms[r][1] for r in refs)
        atoms[f"{res}:{name}"] = (element, nerf(a, b, c, bond, angle,
                                                torsions.get(torsion, torsion)))
    return atoms


def pdb_text(atoms):
    """The atoms as PDB records, residues numbered 1-3 in RESIDUE_ORDER."""
    lines = []
    for serial, (key, (element, xyz)) in enumerate(sorted(
            atoms.items(), key=lambda kv: RESIDUE_ORDER.index(kv[0].split(":")[0])), 1):
        res, name = key.split(":")
        lines.append(f"ATOM  {serial:5d}  {name:<3s} {res:3s} A{RESIDUE_ORDER.index(res) + 1:4d}"
                     f"    {xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00"
                     f"          {element:>2s}")
    return "\n".join(lines + ["TER", "END", ""])


def build_system(phi=START_PHI, psi=START_PSI):
    """Topology, positions (nm) and System of ACE-ALA-NME with hydrogens added,
    built at backbone dihedrals phi, psi (degrees)."""
    pdb = app.PDBFile(io.StringIO(pdb_text(heavy_atoms(phi, psi, OMEGA))))
    forcefield = app.ForceField(*FORCE_FIELD)
    modeller = app.Modeller(pdb.topology, pdb.positions)
    random.seed(HYDROGEN_SEED)
    modeller.addHydrogens(forcefield, platform=openmm.Platform.getPlatformByName(PLATFORM))
    system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff,
                                     constraints=None, rigidWater=False)
    return modeller.topology, modeller.positions, system


def atom_indices(topology, keys):
    """Topology indices of the (residue, atom name) pairs, in the given order."""
    index = {(a.residue.name, a.name): a.index for a in topology.atoms()}
    return [index[k] for k in keys]


def dihedral(p0, p1, p2, p3):
    """IUPAC dihedral p0-p1-p2-p3 in radians in [-pi, pi); arrays (..., 3)."""
    b1, b2, b3 = p1 - p0, p2 - p1, p3 - p2
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    y = np.linalg.norm(b2, axis=-1) * np.einsum("...i,...i", b1, n2)
    angle = np.arctan2(y, np.einsum("...i,...i", n1, n2))
    return np.where(angle >= np.pi, angle - 2 * np.pi, angle)


def make_context(system, positions, integrator_seed):
    """A single-threaded context with a seeded Langevin integrator."""
    integrator = openmm.LangevinIntegrator(TEMPERATURE_K * unit.kelvin,
                                           FRICTION_PER_PS / unit.picosecond,
                                           TIME_STEP_FS * unit.femtosecond)
    integrator.setRandomNumberSeed(integrator_seed)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(PLATFORM))
    context.setPositions(positions)
    return context, integrator


def record_frame(context, atoms):
    """Positions (Å) and all-atom forces (kcal/mol/Å) of the given atoms, (n, 3) each."""
    state = context.getState(getPositions=True, getForces=True)
    pos = state.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    force = state.getForces(asNumpy=True).value_in_unit(
        unit.kilocalorie_per_mole / unit.angstrom)
    return pos[atoms], force[atoms]


def run_trajectory(task):
    """One trajectory: minimise, equilibrate, record n_frames; returns a dict of arrays."""
    traj, n_frames, integrator_seed, velocity_seed = task
    topology, positions, system = build_system()
    atoms = atom_indices(topology, MAPPING)
    context, integrator = make_context(system, positions, integrator_seed)
    openmm.LocalEnergyMinimizer.minimize(context)
    context.setVelocitiesToTemperature(TEMPERATURE_K * unit.kelvin, velocity_seed)
    integrator.step(EQUILIBRATION_PS * STEPS_PER_FRAME)
    pos = np.empty((n_frames, len(atoms), 3))
    force = np.empty_like(pos)
    start = time.perf_counter()
    for frame in range(n_frames):
        integrator.step(STEPS_PER_FRAME)
        pos[frame], force[frame] = record_frame(context, atoms)
        if (frame + 1) % PROGRESS_FRAMES == 0 or frame + 1 == n_frames:
            report_progress(traj, frame + 1, n_frames, time.perf_counter() - start)
    return {"traj": traj, "pos": pos, "force": force,
            "ns_per_day": ns_per_day(n_frames, time.perf_counter() - start)}


def ns_per_day(n_frames, seconds):
    """Simulated ns per day of wall time for n_frames frames of 1 ps."""
    return n_frames * FRAME_PS * 1e-3 * 86400.0 / seconds


def report_progress(traj, done, total, seconds):
    print(f"trajectory {traj}: {done * FRAME_PS * 1e-3:8.3f} / {total * FRAME_PS * 1e-3:.3f}"
          f" ns  {ns_per_day(done, seconds):7.1f} ns/day", flush=True)


def trajectory_seeds(seed, n_traj):
    """(integrator seed, velocity seed) per trajectory, drawn from the base seed; never 0,
    which OpenMM reads as 'pick a random seed'."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 2**31 - 1, size=(n_traj, 2))


def run_all(n_frames, seeds, processes):
    """All trajectories on a pool of processes; results ordered by trajectory."""
    tasks = [(k, n_frames, int(s[0]), int(s[1])) for k, s in enumerate(seeds)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = list(pool.imap_unordered(run_trajectory, tasks))
    return sorted(results, key=lambda r: r["traj"])


def concatenate(results, n_frames):
    """Frames of all trajectories one after another, with phi/psi computed from the
    all-atom positions and a per-frame trajectory id; steps count on across
    trajectories so that step and time increase monotonically (H5MD)."""
    pos = np.concatenate([r["pos"] for r in results])
    force = np.concatenate([r["force"] for r in results])
    at = [[MAPPING.index(k) for k in keys] for keys in (PHI_ATOMS, PSI_ATOMS)]
    step = np.arange(1, len(pos) + 1, dtype=np.int64) * STEPS_PER_FRAME
    return {"pos": pos, "force": force, "step": step,
            "time": step * (TIME_STEP_FS * 1e-3),
            "phi": dihedral(*(pos[:, i] for i in at[0])),
            "psi": dihedral(*(pos[:, i] for i in at[1])),
            "trajectory": np.repeat(np.arange(len(results), dtype=np.float64), n_frames)}


def compressed(group, name, data, dtype=None):
    """A chunked dataset with the shuffle and deflate (level 9) filters."""
    data = np.asarray(data, dtype=dtype)
    chunks = (min(len(data), 8192),) + data.shape[1:]
    return group.create_dataset(name, data=data, chunks=chunks, shuffle=True,
                                compression="gzip", compression_opts=9)


def time_series(parent, name, value, frames, unit_name, dtype=None):
    """An H5MD time-dependent group: value (with unit if any), step and time (ps)."""
    group = parent.create_group(name)
    dset = compressed(group, "value", value, dtype)
    if unit_name:
        dset.attrs["unit"] = unit_name
    compressed(group, "step", frames["step"])
    compressed(group, "time", frames["time"]).attrs["unit"] = "ps"


def write_h5md(path, frames, beads, bonds, provenance):
    """The H5MD file of docs/FORMATS.md, written to path.tmp-PID and renamed."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with h5py.File(tmp, "w") as f:
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array([1, 1], dtype=np.int32)
        h5md.create_group("author").attrs["name"] = "cgdml developers"
        creator = h5md.create_group("creator")
        creator.attrs.update({"name": "cgdml datasets/ala2/generate.py",
                              "version": CREATOR_VERSION})
        cg = f.create_group("particles/cg")
        box = cg.create_group("box")
        box.attrs["dimension"] = np.int32(3)
        box.attrs["boundary"] = np.array([b"none"] * 3)
        time_series(cg, "position", frames["pos"][:, beads], frames, "Angstrom", np.float32)
        time_series(cg, "force", frames["force"][:, beads], frames, "kcal mol-1 Angstrom-1",
                    np.float32)
        for name in ("phi", "psi"):
            time_series(f, f"observables/{name}", frames[name], frames, "rad", np.float64)
        time_series(f, "observables/trajectory", frames["trajectory"], frames, None,
                    np.float64)
        conn = f.create_dataset("connectivity/cg_bonds", data=np.array(bonds, dtype=np.int32))
        conn.attrs["particles_group"] = "/particles/cg"
        params = f.create_group("parameters/cgdml")
        params.create_dataset("bead_names", data=np.array(
            [MAPPING[b][1] for b in beads], dtype="S4"))
        params.attrs.update(provenance)
    os.replace(tmp, path)


def selected_beads(n_beads):
    """Indices into MAPPING of the written beads and the CG bonds between them."""
    beads = [i for i, k in enumerate(MAPPING) if n_beads == 6 or k != DROPPED_FOR_5_BEADS]
    keys = [MAPPING[i] for i in beads]
    bonds = [(keys.index(a), keys.index(b)) for a, b in BONDS if a in keys and b in keys]
    return beads, bonds


def provenance(args, seeds):
    """Free-form attributes of /parameters/cgdml: how the data was made."""
    beads, bonds = selected_beads(args.beads)
    return {
        "force_field": FORCE_FIELD[0], "water_model": f"{FORCE_FIELD[1]} (OBC GBSA implicit)",
        "nonbonded_method": "NoCutoff", "constraints": "none (rigidWater False)",
        "remove_cm_motion": "yes (OpenMM CMMotionRemover, velocities only)",
        "hydrogens": f"openmm.app.Modeller.addHydrogens(forcefield), random.seed({HYDROGEN_SEED})",
        "integrator": "LangevinIntegrator", "temperature_K": TEMPERATURE_K,
        "time_step_fs": TIME_STEP_FS, "friction_per_ps": FRICTION_PER_PS,
        "frame_interval_steps": STEPS_PER_FRAME, "equilibration_ps": EQUILIBRATION_PS,
        "start_phi_psi_omega_deg": [START_PHI, START_PSI, OMEGA],
        "platform": PLATFORM, "openmm_version": openmm.__version__,
        "seed": args.seed, "integrator_seeds": seeds[:, 0], "velocity_seeds": seeds[:, 1],
        "mapping": [f"{MAPPING[b][0]}:{MAPPING[b][1]}" for b in beads],
        "bonds": [f"{MAPPING[beads[i]][1]}-{MAPPING[beads[j]][1]}" for i, j in bonds],
        "ns_per_trajectory": args.ns, "n_trajectories": args.trajectories,
        "trajectory_observable": "index of the trajectory each frame comes from (0-based)",
        "command_line": shlex.join([sys.executable] + sys.argv),
    }


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ns", type=float, required=True, help="production ns per trajectory")
    p.add_argument("--trajectories", type=int, default=4)
    p.add_argument("--seed", type=int, default=2020, help="base seed of all trajectories")
    p.add_argument("--beads", type=int, choices=(6, 5), default=6, help="5 drops CB")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--out", required=True, help="H5MD file to write")
    args = p.parse_args(argv)
    limit = min(MAX_PROCESSES, os.cpu_count() or 1)
    if not 1 <= args.processes <= limit:
        p.error(f"--processes must be 1..{limit}")
    if args.trajectories < 1 or args.ns * 1000 < FRAME_PS:
        p.error("need at least one trajectory of at least 1 ps")
    return args


def main(argv):
    args = parse_args(argv)
    n_frames = int(round(args.ns * 1000 / FRAME_PS))
    seeds = trajectory_seeds(args.seed, args.trajectories)
    start = time.perf_counter()
    results = run_all(n_frames, seeds, args.processes)
    frames = concatenate(results, n_frames)
    beads, bonds = selected_beads(args.beads)
    write_h5md(args.out, frames, beads, bonds, provenance(args, seeds))
    wall = time.perf_counter() - start
    print(f"wrote {args.out}: {len(frames['step'])} frames, {os.path.getsize(args.out)} bytes;"
          f" wall {wall:.0f} s; per process {np.mean([r['ns_per_day'] for r in results]):.1f}"
          f" ns/day (production)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
