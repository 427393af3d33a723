#!/usr/bin/python3
"""generate.py - all-atom trajectories of alanine tripeptide (ACE-ALA-ALA-NME), with forces.

The second system of the repository, and the input of docs/tutorial.md: unlike
datasets/ala2/generate.py, which maps inside the generator, this script writes what
an MD engine writes -- a topology (PDB) and standard trajectory files with positions
and forces of every atom -- and the mapping to CG beads is done afterwards by
`python3 -m cgdml.map` with datasets/ala3/beads.json.

Builds ACE-ALA-ALA-NME from internal coordinates (NeRF, both residues in the beta
basin, L-alanine), adds hydrogens with OpenMM's Modeller, and runs independent
Langevin trajectories in parallel processes: AMBER ff99SB-ILDN, OBC GBSA implicit
water, no cutoff, bonds to hydrogen constrained (HBonds), 2 fs steps, 300 K,
friction 1/ps, OpenMM Reference platform.  Writes into --out-dir:

    ala3.pdb            topology (the minimised start structure, OpenMM PDB writer)
    system.xml          the OpenMM System (force field terms and the 17 constraints)
    run<K>.h5md         trajectory K: H5MD 1.1, particle group "all", positions in nm
                        and forces in kJ mol-1 nm-1 (OpenMM's units, float32), a
                        frame every --frame-ps ps after 100 ps of equilibration

    /usr/bin/python3 datasets/ala3/generate.py --ns 10 --trajectories 2 --frame-ps 4 \
        --seed 2024 --processes 2 --out-dir datasets/ala3

datasets/README.md describes the data, its checksums and the time it takes.
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
TIME_STEP_FS = 2.0  # with bonds to hydrogen constrained
EQUILIBRATION_PS = 100  # after minimisation, discarded
PROGRESS_PS = 1000  # simulated ps between progress lines of a trajectory
MAX_PROCESSES = 2  # the machine budget: two cores
# Reference platform (double precision, one thread): for 32 atoms it measured
# 62 us/step, faster than the CPU platform, whose per-step thread hand-offs dominate
# on so small a system (datasets/README.md, ala2 throughput).
PLATFORM = "Reference"
HYDROGEN_SEED = 1  # Modeller.addHydrogens draws start positions with `random`
CREATOR_VERSION = "0.1.0"  # cgdml release this script belongs to (Makefile VERSION)
N_ALA = 2
START_PHI, START_PSI, OMEGA = -150.0, 150.0, 180.0  # degrees, every residue

# Textbook peptide geometry (Å, degrees), relaxed to the force field's by minimisation.
BOND_N_CA, BOND_CA_C, BOND_C_N = 1.46, 1.52, 1.33
BOND_C_O, BOND_CA_CB, BOND_C_CH3 = 1.23, 1.53, 1.52
ANGLE_C_N_CA, ANGLE_N_CA_C, ANGLE_CA_C_N, ANGLE_O, ANGLE_CB = 121.7, 111.2, 116.2, 122.7, 110.1
# Dihedral N-C-CA-CB = +122.6 degrees makes CA an L (S) centre, as in PeptideBuilder.
DIHEDRAL_CB = 122.6


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


def heavy_atoms(n_ala, phi, psi, omega):
    """Heavy atoms of ACE-(ALA)n-NME as [(residue name, residue number, atom name,
    element, xyz in Å)], in PDB order."""
    theta = np.radians(ANGLE_CA_C_N)
    ch3, c_ace = np.zeros(3), np.array([BOND_C_CH3, 0.0, 0.0])
    n = c_ace + BOND_C_N * np.array([-np.cos(theta), np.sin(theta), 0.0])
    prev_ca, prev_c, backbone = ch3, c_ace, []
    for _ in range(n_ala):
        ca = nerf(prev_ca, prev_c, n, BOND_N_CA, ANGLE_C_N_CA, omega)
        c = nerf(prev_c, n, ca, BOND_CA_C, ANGLE_N_CA_C, phi)
        next_n = nerf(n, ca, c, BOND_C_N, ANGLE_CA_C_N, psi)
        cb = nerf(n, c, ca, BOND_CA_CB, ANGLE_CB, DIHEDRAL_CB)
        backbone.append((n, ca, c, cb))
        prev_ca, prev_c, n = ca, c, next_n
    c_nme = nerf(prev_ca, prev_c, n, BOND_N_CA, ANGLE_C_N_CA, omega)
    # A carbonyl O is cis to the next CA across the (trans) peptide bond.
    following_ca = [b[1] for b in backbone[1:]] + [c_nme]
    following_n = [b[0] for b in backbone[1:]] + [n]
    atoms = [("ACE", 1, "CH3", "C", ch3), ("ACE", 1, "C", "C", c_ace),
             ("ACE", 1, "O", "O", nerf(backbone[0][1], backbone[0][0], c_ace, BOND_C_O,
                                       ANGLE_O, 0.0))]
    for k, (n_k, ca, c, cb) in enumerate(backbone):
        o = nerf(following_ca[k], following_n[k], c, BOND_C_O, ANGLE_O, 0.0)
        atoms += [("ALA", k + 2, "N", "N", n_k), ("ALA", k + 2, "CA", "C", ca),
                  ("ALA", k + 2, "C", "C", c), ("ALA", k + 2, "O", "O", o),
                  ("ALA", k + 2, "CB", "C", cb)]
    atoms += [("NME", n_ala + 2, "N", "N", n), ("NME", n_ala + 2, "C", "C", c_nme)]
    return atoms


def pdb_text(atoms):
    lines = [f"ATOM  {serial:5d}  {name:<3s} {res:3s} A{resid:4d}    {x[0]:8.3f}{x[1]:8.3f}"
             f"{x[2]:8.3f}  1.00  0.00          {element:>2s}"
             for serial, (res, resid, name, element, x) in enumerate(atoms, 1)]
    return "\n".join(lines + ["TER", "END", ""])


def build_system():
    """Topology, positions (nm) and System of ACE-ALA-ALA-NME with hydrogens."""
    pdb = app.PDBFile(io.StringIO(pdb_text(heavy_atoms(N_ALA, START_PHI, START_PSI, OMEGA))))
    forcefield = app.ForceField(*FORCE_FIELD)
    modeller = app.Modeller(pdb.topology, pdb.positions)
    random.seed(HYDROGEN_SEED)
    modeller.addHydrogens(forcefield, platform=openmm.Platform.getPlatformByName(PLATFORM))
    system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff,
                                     constraints=app.HBonds, rigidWater=False)
    return modeller.topology, modeller.positions, system


def make_context(system, positions, integrator_seed):
    integrator = openmm.LangevinIntegrator(TEMPERATURE_K * unit.kelvin,
                                           FRICTION_PER_PS / unit.picosecond,
                                           TIME_STEP_FS * unit.femtosecond)
    integrator.setRandomNumberSeed(integrator_seed)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(PLATFORM))
    context.setPositions(positions)
    return context, integrator


def minimised_start(system, positions):
    """Positions (nm) after energy minimisation, the start of every trajectory."""
    context, _ = make_context(system, positions, 1)
    openmm.LocalEnergyMinimizer.minimize(context)
    return context.getState(getPositions=True).getPositions(asNumpy=True)


def run_trajectory(task):
    """One trajectory: equilibrate from the minimised start, then record n_frames
    frames of positions (nm) and forces (kJ/mol/nm) every steps_per_frame steps."""
    traj, n_frames, steps_per_frame, integrator_seed, velocity_seed = task
    topology, positions, system = build_system()
    context, integrator = make_context(system, minimised_start(system, positions),
                                       integrator_seed)
    context.setVelocitiesToTemperature(TEMPERATURE_K * unit.kelvin, velocity_seed)
    integrator.step(int(round(EQUILIBRATION_PS * 1000 / TIME_STEP_FS)))
    n = topology.getNumAtoms()
    pos, force = np.empty((n_frames, n, 3)), np.empty((n_frames, n, 3))
    frame_ps = steps_per_frame * TIME_STEP_FS * 1e-3
    every = max(1, int(PROGRESS_PS / frame_ps))
    start = time.perf_counter()
    for k in range(n_frames):
        integrator.step(steps_per_frame)
        state = context.getState(getPositions=True, getForces=True)
        pos[k] = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        force[k] = state.getForces(asNumpy=True).value_in_unit(
            unit.kilojoule_per_mole / unit.nanometer)
        if (k + 1) % every == 0 or k + 1 == n_frames:
            seconds = time.perf_counter() - start
            print(f"trajectory {traj}: {(k + 1) * frame_ps / 1000:7.3f} / "
                  f"{n_frames * frame_ps / 1000:.3f} ns  "
                  f"{ns_per_day((k + 1) * frame_ps, seconds):7.1f} ns/day", flush=True)
    return {"traj": traj, "pos": pos, "force": force,
            "ns_per_day": ns_per_day(n_frames * frame_ps, time.perf_counter() - start)}


def ns_per_day(ps, seconds):
    return ps * 1e-3 * 86400.0 / seconds


def trajectory_seeds(seed, n_traj):
    """(integrator seed, velocity seed) per trajectory; never 0 (OpenMM: random)."""
    return np.random.default_rng(seed).integers(1, 2**31 - 1, size=(n_traj, 2))


def compressed(group, name, data, dtype):
    data = np.asarray(data, dtype=dtype)
    # 128 frames a chunk: MDAnalysis reopens the datasets for every frame it reads, so
    # HDF5 decompresses a whole chunk per frame (1024-frame chunks read 2-4x slower).
    chunks = (min(len(data), 128),) + data.shape[1:]
    return group.create_dataset(name, data=data, chunks=chunks, shuffle=True,
                                compression="gzip", compression_opts=9)


def write_h5md(path, result, steps_per_frame, topology, provenance):
    """One trajectory as H5MD 1.1 (group /particles/all), written to a temporary
    file and renamed."""
    n_frames = len(result["pos"])
    step = (np.arange(1, n_frames + 1, dtype=np.int64) * steps_per_frame
            + int(round(EQUILIBRATION_PS * 1000 / TIME_STEP_FS)))
    t = step * (TIME_STEP_FS * 1e-3)
    tmp = f"{path}.tmp-{os.getpid()}"
    with h5py.File(tmp, "w") as f:
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array([1, 1], dtype=np.int32)
        h5md.create_group("author").attrs["name"] = "cgdml developers"
        creator = h5md.create_group("creator")
        creator.attrs.update({"name": "cgdml datasets/ala3/generate.py",
                              "version": CREATOR_VERSION})
        group = f.create_group("particles/all")
        box = group.create_group("box")
        box.attrs["dimension"] = np.int32(3)
        box.attrs["boundary"] = np.array([b"none"] * 3)
        for name, unit_name in (("position", "nm"), ("force", "kJ mol-1 nm-1")):
            element = group.create_group(name)
            compressed(element, "value", result["pos" if name == "position" else "force"],
                       np.float32).attrs["unit"] = unit_name
            compressed(element, "step", step, np.int64)
            compressed(element, "time", t, np.float64).attrs["unit"] = "ps"
        group.create_dataset("species", data=np.array(
            [a.element.atomic_number for a in topology.atoms()], dtype=np.int32))
        params = f.create_group("parameters/generator")
        params.attrs.update(provenance)
        params.attrs["trajectory"] = result["traj"]
    os.replace(tmp, path)


def write_text(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def provenance(args, seeds):
    return {
        "molecule": "ACE-ALA-ALA-NME (alanine tripeptide), L-alanine",
        "force_field": FORCE_FIELD[0], "water_model": f"{FORCE_FIELD[1]} (OBC GBSA implicit)",
        "nonbonded_method": "NoCutoff", "constraints": "HBonds (bonds to hydrogen)",
        "hydrogens": f"openmm.app.Modeller.addHydrogens(forcefield), random.seed({HYDROGEN_SEED})",
        "integrator": "LangevinIntegrator", "temperature_K": TEMPERATURE_K,
        "time_step_fs": TIME_STEP_FS, "friction_per_ps": FRICTION_PER_PS,
        "frame_interval_ps": args.frame_ps, "equilibration_ps": EQUILIBRATION_PS,
        "start_phi_psi_omega_deg": [START_PHI, START_PSI, OMEGA],
        "platform": PLATFORM, "openmm_version": openmm.__version__,
        "seed": args.seed, "integrator_seeds": seeds[:, 0], "velocity_seeds": seeds[:, 1],
        "ns_per_trajectory": args.ns, "n_trajectories": args.trajectories,
        "command_line": shlex.join([sys.executable] + sys.argv),
    }


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ns", type=float, required=True, help="production ns per trajectory")
    p.add_argument("--trajectories", type=int, default=2)
    p.add_argument("--frame-ps", type=float, default=4.0,
                   help="ps between saved frames (a multiple of the 2 fs step)")
    p.add_argument("--seed", type=int, default=2024, help="base seed of all trajectories")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--out-dir", required=True, help="folder for ala3.pdb, system.xml, run*.h5md")
    args = p.parse_args(argv)
    limit = min(MAX_PROCESSES, os.cpu_count() or 1)
    if not 1 <= args.processes <= limit:
        p.error(f"--processes must be 1..{limit}")
    steps = args.frame_ps * 1000 / TIME_STEP_FS
    if args.frame_ps <= 0 or abs(steps - round(steps)) > 1e-9:
        p.error(f"--frame-ps must be a positive multiple of {TIME_STEP_FS * 1e-3} ps")
    if args.trajectories < 1 or args.ns * 1000 < args.frame_ps:
        p.error("need at least one trajectory of at least one frame")
    return args


def main(argv):
    args = parse_args(argv)
    steps_per_frame = int(round(args.frame_ps * 1000 / TIME_STEP_FS))
    n_frames = int(round(args.ns * 1000 / args.frame_ps))
    seeds = trajectory_seeds(args.seed, args.trajectories)
    os.makedirs(args.out_dir, exist_ok=True)
    start = time.perf_counter()
    topology, positions, system = build_system()
    buf = io.StringIO()
    app.PDBFile.writeFile(topology, minimised_start(system, positions), buf, keepIds=True)
    # OpenMM's writer stamps the date in a REMARK; without it the file is reproducible.
    write_text(os.path.join(args.out_dir, "ala3.pdb"), "".join(
        line for line in buf.getvalue().splitlines(True) if not line.startswith("REMARK")))
    write_text(os.path.join(args.out_dir, "system.xml"), openmm.XmlSerializer.serialize(system))
    tasks = [(k, n_frames, steps_per_frame, int(s[0]), int(s[1])) for k, s in enumerate(seeds)]
    prov = provenance(args, seeds)
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        for result in pool.imap_unordered(run_trajectory, tasks):
            write_h5md(os.path.join(args.out_dir, f"run{result['traj']}.h5md"), result,
                       steps_per_frame, topology, prov)
            print(f"wrote run{result['traj']}.h5md: {n_frames} frames,"
                  f" {result['ns_per_day']:.0f} ns/day", flush=True)
    print(f"{args.trajectories} trajectories x {args.ns:g} ns in {time.perf_counter() - start:.0f}"
          f" s wall", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
