"""cgdml.map - map an all-atom trajectory with forces to coarse-grained beads.

Reads a topology and one or more trajectories with MDAnalysis (GROMACS .trr, H5MD,
AMBER NetCDF, ...; or positions from one file, e.g. DCD, and forces from another),
maps positions and forces to the beads of a bead-definition file, and writes the H5MD
dataset that `cgdml` reads (docs/FORMATS.md): positions in Å, forces in kcal/mol/Å,
bead names, CG bonds, the input trajectory and frame of every frame.

    PYTHONPATH=python /usr/bin/python3 -m cgdml.map --top datasets/ala3/ala3.pdb \\
        --beads datasets/ala3/beads.json --constraints h-bonds \\
        -o ala3_cg10.h5 datasets/ala3/run0.h5md datasets/ala3/run1.h5md

Bead-definition file (JSON)::

    {"map": "com",
     "beads": [{"name": "C", "select": "resname ACE and name C", "map": "slice"},
               {"name": "N", "select": "resid 2 and name N H"}, ...],
     "bonds": [[0, 1], [1, 2], ...]}

Each bead has a name (what `cgdml info` shows; its first letter gives the bead mass
of `cgdml simulate --integrator baoab`), an MDAnalysis selection string and a map:
"slice" (the selection is one atom, the bead sits on it), "com" (centre of mass of
the selected atoms, masses from the topology) or "cog" (centre of geometry); "map"
at the top sets the default (else "com").  "bonds" lists CG bonds as bead index
pairs (0-based), or "auto": beads bonded wherever one of their atoms is bonded to
one of the other's.  "comment" may appear at the top and in beads.

Forces.  Whatever the map, the force on a bead is the sum of the all-atom forces on
its atoms.  With beads that share no atom this is the force map consistent with the
coordinate map, so that the average of the mapped force at fixed bead positions is
the mean force, minus the gradient of the CG free energy (docs/tutorial.md, "Why
the forces are summed"; docs/method.md §1).  Atoms in no bead are integrated out.

Constraints.  A constrained bond contributes a constraint force that cancels only
when both of its atoms are in the same bead (or both in none); then the bead force is
right whether or not the trajectory's forces include it.  --constraints says which
bonds the simulation constrained: none, h-bonds (every bond to hydrogen), all-bonds,
or a file (an OpenMM System XML, or "i j" atom index pairs).  Bonds whose length does
not change over the first frames are taken as constrained too.  A constrained bond
that joins two beads, or a bead and an atom in no bead, is refused.

Units are what MDAnalysis reads from each file (its native units, converted here in
double precision); a file that does not state them is refused unless --length-unit
and --force-unit say what they are.

Refusals (exit status 1, nothing written, an existing output untouched): a
trajectory without forces, an atom in two beads, a selection that matches nothing
(or a slice selection of more than one atom), a constrained bond between beads,
units that cannot be determined, an output that exists (without --overwrite).
Usage errors exit with status 2.
"""
import argparse
import contextlib
import hashlib
import json
import os
import shlex
import sys
import warnings

import h5py
import numpy as np

with warnings.catch_warnings():
    # MDAnalysis 2.4 imports the deprecated xdrlib after installing a filter of its own
    # that shows deprecation notices; importing it first, silently, keeps them quiet.
    warnings.simplefilter("ignore")
    with contextlib.suppress(ImportError):
        import xdrlib  # noqa: F401
    import MDAnalysis as mda
    from MDAnalysis import units as mda_units
    from MDAnalysis.lib.distances import minimize_vectors

    from cgdml import _map_bonds as bonds_mod

VERSION = "0.1.0"  # the cgdml release (Makefile VERSION)
MAP_KINDS = ("slice", "com", "cog")
LENGTH_OUT, FORCE_OUT, TIME_OUT = "Angstrom", "kcal/(mol*Angstrom)", "ps"
H5MD_LENGTH, H5MD_FORCE = "Angstrom", "kcal mol-1 Angstrom-1"  # docs/FORMATS.md
NAME_MAX = 31  # cgdml's bead-name limit (CGDML_NAME_MAX minus the NUL)
# Spellings accepted by --length-unit / --force-unit, besides MDAnalysis's own.
UNIT_ALIASES = {
    "length": {"A": "Angstrom", "angstrom": "Angstrom", "nm": "nm"},
    "force": {"kcal/mol/A": "kcal/(mol*Angstrom)", "kcal/mol/Angstrom": "kcal/(mol*Angstrom)",
              "kJ/mol/A": "kJ/(mol*Angstrom)", "kJ/mol/Angstrom": "kJ/(mol*Angstrom)",
              "kJ/mol/nm": "kJ/(mol*nm)"},
}


class MapError(Exception):
    """A refusal: the message names the problem; the command exits with status 1."""


# ---- bead definitions --------------------------------------------------------------------


def load_bead_file(path):
    """The bead definitions of a JSON file: {"beads": [...], "bonds": ..., "source": path}."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise MapError(f"{path}: cannot read the bead definitions ({e.strerror})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise MapError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
    spec = parse_bead_definitions(obj, path)
    spec["text"] = text
    return spec


def parse_bead_definitions(obj, source="bead definitions"):
    """Checks and normalises a bead-definition object (see the module docstring)."""
    if not isinstance(obj, dict):
        raise MapError(f"{source}: expected an object with \"beads\" (and \"bonds\")")
    unknown = set(obj) - {"beads", "bonds", "map", "comment"}
    if unknown:
        raise MapError(f"{source}: unknown key(s) {sorted(unknown)}; known: beads, bonds, map, "
                       "comment")
    default = obj.get("map", "com")
    if default not in MAP_KINDS:
        raise MapError(f"{source}: \"map\" is {default!r}; expected one of {', '.join(MAP_KINDS)}")
    beads = obj.get("beads")
    if not isinstance(beads, list) or not beads:
        raise MapError(f"{source}: \"beads\" must be a non-empty list")
    out = []
    for k, bead in enumerate(beads):
        where = f"{source}: bead {k}"
        if not isinstance(bead, dict):
            raise MapError(f"{where}: expected an object with \"name\" and \"select\"")
        unknown = set(bead) - {"name", "select", "map", "comment"}
        if unknown:
            raise MapError(f"{where}: unknown key(s) {sorted(unknown)}; known: name, select, map, "
                           "comment")
        name, select, kind = bead.get("name"), bead.get("select"), bead.get("map", default)
        if not isinstance(name, str) or not name or len(name) > NAME_MAX or not name.isascii() \
                or any(c.isspace() for c in name):
            raise MapError(f"{where}: \"name\" must be 1-{NAME_MAX} ASCII characters without "
                           f"spaces (found {name!r})")
        if not isinstance(select, str) or not select.strip():
            raise MapError(f"{where} ({name}): \"select\" must be an MDAnalysis selection string")
        if kind not in MAP_KINDS:
            raise MapError(f"{where} ({name}): \"map\" is {kind!r}; expected one of "
                           f"{', '.join(MAP_KINDS)}")
        out.append({"name": name, "select": select, "map": kind})
    return {"beads": out, "bonds": parse_bonds(obj.get("bonds"), len(out), source),
            "source": source}


def parse_bonds(bonds, n_beads, source):
    """None (no CG bonds given), "auto", or a sorted list of (i, j) with i < j."""
    if bonds is None or bonds == "auto":
        return bonds
    if not isinstance(bonds, list):
        raise MapError(f"{source}: \"bonds\" must be a list of [i, j] bead pairs or \"auto\"")
    pairs = set()
    for pair in bonds:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in pair)):
            raise MapError(f"{source}: bond {pair!r} is not a pair of bead indices")
        i, j = pair
        if not (0 <= i < n_beads and 0 <= j < n_beads) or i == j:
            raise MapError(f"{source}: bond {pair!r} is not two distinct beads of 0..{n_beads - 1}")
        if (min(i, j), max(i, j)) in pairs:
            raise MapError(f"{source}: bond {pair!r} is listed twice")
        pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


# ---- the map ------------------------------------------------------------------------------


class CGMap:
    """A linear map of all-atom positions to beads, and its consistent force map.

    For bead I with atoms A_I and weights c_i (sum 1; slice: the one atom, com:
    m_i / M_I, cog: 1/|A_I|), the bead position is sum_i c_i r_i and the bead force
    sum_{i in A_I} f_i.  `atoms[I]` holds the atom indices, `weights[I]` the c_i."""

    def __init__(self, names, kinds, atoms, weights, masses, selections):
        self.names, self.kinds, self.selections = names, kinds, selections
        self.atoms = [np.asarray(a, dtype=np.int64) for a in atoms]
        self.weights = [np.asarray(w, dtype=np.float64) for w in weights]
        self.masses = np.asarray(masses, dtype=np.float64)
        self.mapped = np.concatenate(self.atoms)
        self.bead_of_mapped = np.concatenate(
            [np.full(len(a), k) for k, a in enumerate(self.atoms)])
        self.weight_of_mapped = np.concatenate(self.weights)

    @property
    def n_beads(self):
        return len(self.atoms)

    def bead_of(self, n_atoms):
        """bead index of each atom, -1 where the atom is in no bead."""
        out = np.full(n_atoms, -1, dtype=np.int64)
        out[self.mapped] = self.bead_of_mapped
        return out

    def positions(self, r, box=None):
        """Bead positions (..., beads, 3) of all-atom positions r (..., atoms, 3).  With
        a periodic box (MDAnalysis dimensions), each bead's atoms are first made whole
        around its first atom (minimum image) and each bead after the first is put at
        the minimum image of the bead before it."""
        rm = np.asarray(r, dtype=np.float64)[..., self.mapped, :]
        if box is not None:
            if rm.ndim != 2:
                raise ValueError("positions with a box: one frame at a time")
            first = np.array([a[0] for a in self.atoms])
            ref = np.asarray(r, dtype=np.float64)[first][self.bead_of_mapped]
            rm = ref + minimize_vectors(rm - ref, box)
        x = self._sum(rm * self.weight_of_mapped[:, None])
        if box is not None:
            for k in range(1, self.n_beads):
                x[k] = x[k - 1] + minimize_vectors((x[k] - x[k - 1])[None], box)[0]
        return x

    def _sum(self, values):
        """Per-bead sums over the mapped atoms of values (..., mapped, 3)."""
        out = np.zeros((self.n_beads,) + values.shape[:-2] + (3,))
        np.add.at(out, self.bead_of_mapped, np.moveaxis(values, -2, 0))
        return np.moveaxis(out, 0, -2)

    def forces(self, f):
        """Bead forces (..., beads, 3): the sum of the forces on each bead's atoms."""
        return self._sum(np.asarray(f, dtype=np.float64)[..., self.mapped, :])


def build_map(universe, spec):
    """The CGMap of a bead specification on an MDAnalysis Universe; refuses selections
    that match nothing, slices of more than one atom, atoms in two beads, and centre of
    mass beads with atoms of unknown (non-positive) mass."""
    owner, atoms, weights, masses = {}, [], [], []
    all_masses = universe.atoms.masses
    for k, bead in enumerate(spec["beads"]):
        label = f"bead {k} ({bead['name']}, \"{bead['select']}\")"
        try:
            group = universe.select_atoms(bead["select"])
        except Exception as e:  # MDAnalysis raises SelectionError, ValueError, ...
            raise MapError(f"{spec['source']}: {label}: bad selection: {e}") from None
        idx = np.sort(group.indices)
        if len(idx) == 0:
            raise MapError(f"{spec['source']}: {label}: the selection matches no atom of the "
                           "topology")
        if bead["map"] == "slice" and len(idx) != 1:
            raise MapError(f"{spec['source']}: {label}: a slice bead is one atom; the selection "
                           f"matches {len(idx)} ({describe_atoms(universe, idx)}); use \"com\" "
                           "or \"cog\", or select one atom")
        for i in idx:
            if int(i) in owner:
                j = owner[int(i)]
                raise MapError(
                    f"{spec['source']}: atom {bonds_mod.describe(universe.atoms[i])} is in two "
                    f"beads: bead {j} ({spec['beads'][j]['name']}, "
                    f"\"{spec['beads'][j]['select']}\") and {label}; beads must not share atoms "
                    "(the summed force map is consistent only for disjoint beads)")
            owner[int(i)] = k
        m = all_masses[idx].astype(np.float64)
        if bead["map"] == "com":
            bad = [i for i, mi in zip(idx, m) if not (np.isfinite(mi) and mi > 0)]
            if bad:
                raise MapError(f"{spec['source']}: {label}: centre of mass with atoms of unknown "
                               f"mass ({describe_atoms(universe, bad)}: the topology gives "
                               f"{all_masses[bad[0]]}); use a topology with masses, or \"cog\"")
            w = m / m.sum()
        else:
            w = np.full(len(idx), 1.0 / len(idx))
        atoms.append(idx)
        weights.append(w)
        masses.append(float(np.nansum(m)))
    return CGMap([b["name"] for b in spec["beads"]], [b["map"] for b in spec["beads"]],
                 atoms, weights, masses, [b["select"] for b in spec["beads"]])


def describe_atoms(universe, idx, limit=4):
    names = [bonds_mod.describe(universe.atoms[i]) for i in list(idx)[:limit]]
    return ", ".join(names) + (f", ... ({len(idx)} atoms)" if len(idx) > limit else "")


def check_constraints(universe, cgmap, constrained, detected, spec_text):
    """Refuses constrained pairs whose atoms are not in the same bead (or both in none)."""
    bead = cgmap.bead_of(len(universe.atoms))
    bad = sorted(p for p in set(constrained) | set(detected) if bead[p[0]] != bead[p[1]])
    if not bad:
        return

    def where(i):
        return "no bead" if bead[i] < 0 else f"bead {bead[i]} ({cgmap.names[bead[i]]})"

    lines = []
    for i, j in bad[:5]:
        why = (f"declared by --constraints {spec_text}" if (i, j) in constrained else
               f"its length is constant over the first frames (std {detected[(i, j)]:.1e} Å): "
               "the simulation constrained it")
        lines.append(f"  {bonds_mod.describe(universe.atoms[i])} in {where(i)} - "
                     f"{bonds_mod.describe(universe.atoms[j])} in {where(j)}: {why}")
    more = f"\n  ... and {len(bad) - 5} more" if len(bad) > 5 else ""
    raise MapError(
        f"{len(bad)} constrained bond(s) join atoms of different beads (or a bead and an atom "
        "in no bead):\n" + "\n".join(lines) + more + "\nA constraint force cancels in the "
        "mapped force only when both of its atoms are in the same bead; put them in one bead "
        "(e.g. a \"com\" bead of a heavy atom and its hydrogens), or map a trajectory run "
        "without constraints.")


# ---- reading -------------------------------------------------------------------------------


def canonical_unit(kind, name, flag):
    """MDAnalysis's name of a unit given on the command line."""
    table = mda_units.conversion_factor[kind]
    name = UNIT_ALIASES[kind].get(name, name)
    if name not in table:
        raise MapError(f"{flag} {name!r}: unknown {kind} unit; known: "
                       f"{', '.join(sorted(set(table) | set(UNIT_ALIASES[kind])))}")
    return name


def trajectory_format(path, fmt):
    """--format, or "H5MD" for an HDF5 file with an /h5md group whatever its extension,
    or None (MDAnalysis guesses from the extension)."""
    if fmt:
        return fmt
    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                if "h5md" in f:
                    return "H5MD"
    except OSError:
        pass
    return None


def open_universe(top, traj, fmt):
    """A Universe reading `traj` in its native units (converted here, in float64)."""
    if not os.path.exists(traj):
        raise MapError(f"{traj}: no such file")
    kwargs = {"convert_units": False}
    fmt = trajectory_format(traj, fmt)
    if fmt:
        kwargs["format"] = fmt
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mda.Universe(top, traj, **kwargs)
    except Exception as e:  # the readers raise many kinds of errors
        raise MapError(f"{traj}: MDAnalysis cannot read it with topology {top}: "
                       f"{type(e).__name__}: {e}") from None


def native_units(reader, path, length_unit, force_unit, forces_elsewhere):
    """(length unit, force unit, time unit or None) of a reader, in MDAnalysis's names."""
    units = dict(getattr(reader, "units", {}) or {})
    length = units.get("length")
    force = None if forces_elsewhere else units.get("force")
    for kind, found, given, flag in (("length", length, length_unit, "--length-unit"),
                                     ("force", force, force_unit, "--force-unit")):
        if found and given and found != given:
            raise MapError(f"{path}: the file's {kind} unit is {found!r}, {flag} says {given!r}; "
                           f"leave {flag} out for files that state their units")
    length, force = length or length_unit, force or force_unit
    if not length:
        raise MapError(f"{path}: the length unit cannot be determined (MDAnalysis's "
                       f"{type(reader).__name__} does not know it for this file); give it with "
                       "--length-unit, e.g. --length-unit nm")
    if not force:
        what = ("forces from a separate file (--forces-from) carry no unit" if forces_elsewhere
                else f"MDAnalysis's {type(reader).__name__} does not know it for this file")
        raise MapError(f"{path}: the force unit cannot be determined ({what}); give it with "
                       "--force-unit, e.g. --force-unit kJ/mol/nm")
    time = units.get("time")
    return length, force, time if time in mda_units.conversion_factor["time"] else None


class Source:
    """One input trajectory (and its separate force file): frames in Å and kcal/mol/Å."""

    def __init__(self, args, k):
        self.path = args.trajectories[k]
        self.universe = open_universe(args.top, self.path, args.format)
        self.force_path = args.forces_from[k] if args.forces_from else None
        self.force_universe = (open_universe(args.top, self.force_path, args.forces_format)
                               if self.force_path else None)
        reader = self.universe.trajectory
        if self.force_universe is None and not reader.ts.has_forces:
            raise MapError(f"{self.path}: no forces: MDAnalysis's {type(reader).__name__} reads "
                           "positions only from this file, and cgdml learns from the all-atom "
                           "forces; save forces with the positions (GROMACS: nstfout in a .trr; "
                           "OpenMM: getForces into H5MD), or give a force trajectory with "
                           "--forces-from")
        if self.force_universe is not None:
            n, m = reader.n_frames, self.force_universe.trajectory.n_frames
            if n != m:
                raise MapError(f"{self.force_path}: {m} frames, but {self.path} has {n}; the "
                               "force file must hold the forces of the same frames")
        length, force, time = native_units(reader, self.path, args.length_unit, args.force_unit,
                                           self.force_universe is not None)
        self.units = {"length": length, "force": force, "time": time}
        self.to_angstrom = mda_units.get_conversion_factor("length", length, LENGTH_OUT)
        self.to_kcal = mda_units.get_conversion_factor("force", force, FORCE_OUT)
        self.to_ps = mda_units.get_conversion_factor("time", time, TIME_OUT) if time else None
        self.frames = range(args.skip, reader.n_frames, args.stride)
        if len(self.frames) == 0:
            raise MapError(f"{self.path}: {reader.n_frames} frames; none left after --skip "
                           f"{args.skip}")

    def frame(self, index):
        """(positions Å, forces kcal/mol/Å, box or None, time ps or nan) of a frame."""
        ts = self.universe.trajectory[index]
        x = ts.positions.astype(np.float64) * self.to_angstrom
        if self.force_universe is not None:
            f = self.force_universe.trajectory[index].positions.astype(np.float64)
        elif ts.has_forces:
            f = ts.forces.astype(np.float64)
        else:  # e.g. a .trr written with nstxout != nstfout
            raise MapError(f"{self.path}: frame {index} has positions but no forces (frames "
                           "were saved more often than forces?); keep the frames with forces "
                           "with --skip and --stride")
        f *= self.to_kcal
        box = None
        if ts.dimensions is not None and np.all(np.asarray(ts.dimensions[:3]) > 0):
            box = np.asarray(ts.dimensions, dtype=np.float64).copy()
            box[:3] *= self.to_angstrom
        t = ts.time * self.to_ps if self.to_ps is not None else np.nan
        return x, f, box, t

    def first_frames(self, n):
        """Positions (Å) of the first n frames kept (or fewer)."""
        return np.array([self.frame(i)[0] for i in list(self.frames)[:n]])


def check_finite(path, index, x, f):
    if not np.all(np.isfinite(x)):
        raise MapError(f"{path}: frame {index}: positions are not finite")
    if not np.all(np.isfinite(f)):
        raise MapError(f"{path}: frame {index}: forces are not finite")


def cg_bonds(spec, universe, cgmap, atom_bonds):
    """CG bonds: the bead file's list, or for "auto" the bead pairs joined by an atom bond."""
    if spec["bonds"] != "auto":
        return spec["bonds"] or []
    bead = cgmap.bead_of(len(universe.atoms))
    pairs = {(min(bead[i], bead[j]), max(bead[i], bead[j])) for i, j in atom_bonds
             if bead[i] >= 0 and bead[j] >= 0 and bead[i] != bead[j]}
    return sorted((int(i), int(j)) for i, j in pairs)


# ---- writing -------------------------------------------------------------------------------


def compressed(group, name, data, dtype):
    data = np.asarray(data, dtype=dtype)
    chunks = (max(1, min(len(data), 4096)),) + data.shape[1:]
    return group.create_dataset(name, data=data, chunks=chunks, shuffle=True,
                                compression="gzip", compression_opts=6)


def write_dataset(path, cgmap, frames, bonds, provenance, dtype=np.float64):
    """The H5MD file of docs/FORMATS.md at `path` (created; the caller renames it)."""
    n = len(frames["position"])
    step = np.arange(n, dtype=np.int64)
    with h5py.File(path, "w") as f:
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array([1, 1], dtype=np.int32)
        h5md.create_group("author").attrs["name"] = os.environ.get("USER", "cgdml user")
        creator = h5md.create_group("creator")
        creator.attrs.update({"name": "cgdml.map", "version": VERSION})
        cg = f.create_group("particles/cg")
        box = cg.create_group("box")
        box.attrs["dimension"] = np.int32(3)
        box.attrs["boundary"] = np.array([b"none"] * 3)
        for name, unit in (("position", H5MD_LENGTH), ("force", H5MD_FORCE)):
            element = cg.create_group(name)
            compressed(element, "value", frames[name], dtype).attrs["unit"] = unit
            compressed(element, "step", step, np.int64)
            compressed(element, "time", frames["time"], np.float64).attrs["unit"] = "ps"
        for name in ("trajectory", "frame"):
            obs = f.create_group(f"observables/{name}")
            compressed(obs, "value", frames[name], np.float64)
            compressed(obs, "step", step, np.int64)
            compressed(obs, "time", frames["time"], np.float64).attrs["unit"] = "ps"
        if bonds:
            conn = f.create_dataset("connectivity/cg_bonds",
                                    data=np.array(bonds, dtype=np.int32).reshape(-1, 2))
            conn.attrs["particles_group"] = "/particles/cg"
        params = f.create_group("parameters/cgdml")
        params.create_dataset("bead_names", data=np.array(
            [n.encode("ascii") for n in cgmap.names], dtype=f"S{NAME_MAX + 1}"))
        params.attrs.update(provenance)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_output(path, overwrite):
    """Yields a temporary path beside `path`; on success it becomes `path` (replacing
    an existing file only with overwrite), on any failure it is removed."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile: never clobbered
            except FileExistsError:
                raise MapError(f"{path} exists (created while mapping); not replaced, give "
                               "--overwrite to replace it") from None
            except OSError:  # a file system without hard links: check, then rename
                if os.path.exists(path):
                    raise MapError(f"{path} exists (created while mapping); not replaced, "
                                   "give --overwrite to replace it") from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# ---- the command ---------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python3 -m cgdml.map",
        description="Map all-atom trajectories with forces to CG beads and write a cgdml H5MD "
                    "dataset (Å, kcal/mol/Å).  Bead definitions: JSON, see docs/tutorial.md.",
        epilog="Refusals exit with status 1 and write nothing; usage errors with 2.  "
               "Example: PYTHONPATH=python /usr/bin/python3 -m cgdml.map --top "
               "datasets/ala3/ala3.pdb --beads datasets/ala3/beads.json --constraints h-bonds "
               "-o ala3_cg10.h5 datasets/ala3/run0.h5md datasets/ala3/run1.h5md")
    p.add_argument("trajectories", nargs="+", metavar="TRAJ",
                   help="trajectories with positions and forces, mapped one after another")
    p.add_argument("--top", required=True, help="topology (PDB, GRO, PSF, PRMTOP, TPR, ...)")
    p.add_argument("--beads", required=True, help="bead-definition file (JSON)")
    p.add_argument("--constraints", required=True, metavar="SPEC",
                   help="bonds the all-atom simulation constrained: none, h-bonds, all-bonds, "
                        "or a file (OpenMM System XML, or 'i j' atom index pairs, 0-based)")
    p.add_argument("-o", "--output", required=True, help="CG dataset to write (H5MD)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--format", help="MDAnalysis format of the trajectories (default: from the "
                                    "extension; HDF5 files with an /h5md group: H5MD)")
    p.add_argument("--forces-from", nargs="+", metavar="FILE",
                   help="force trajectories whose coordinates are the forces (e.g. NAMD's "
                        "forcedcd), one per TRAJ; needs --force-unit")
    p.add_argument("--forces-format", help="MDAnalysis format of the --forces-from files")
    p.add_argument("--length-unit", help="length unit of trajectories that do not state one "
                                         "(nm, Angstrom)")
    p.add_argument("--force-unit", help="force unit of trajectories that do not state one and "
                                        "of --forces-from files (kJ/mol/nm, kJ/mol/A, "
                                        "kcal/mol/A)")
    p.add_argument("--skip", type=int, default=0,
                   help="frames to drop at the start of each trajectory (default 0)")
    p.add_argument("--stride", type=int, default=1, help="keep every N-th frame (default 1)")
    p.add_argument("--float32", action="store_true",
                   help="store positions and forces as float32 (half the size)")
    args = p.parse_args(argv)
    if args.skip < 0 or args.stride < 1:
        p.error("--skip must be >= 0 and --stride >= 1")
    if args.forces_from and len(args.forces_from) != len(args.trajectories):
        p.error(f"--forces-from: {len(args.forces_from)} files for {len(args.trajectories)} "
                "trajectories; give one per trajectory, in the same order")
    try:
        if args.length_unit:
            args.length_unit = canonical_unit("length", args.length_unit, "--length-unit")
        if args.force_unit:
            args.force_unit = canonical_unit("force", args.force_unit, "--force-unit")
    except MapError as e:
        p.error(str(e))
    return args


def check_output(args):
    out = os.path.abspath(args.output)
    inputs = [args.top, args.beads] + args.trajectories + (args.forces_from or [])
    if args.constraints not in ("none", "h-bonds", "all-bonds"):
        inputs.append(args.constraints)
    for path in inputs:
        if os.path.exists(path) and os.path.exists(out) and os.path.samefile(path, out):
            raise MapError(f"{args.output} is also an input; write the dataset elsewhere")
    if os.path.exists(out) and not args.overwrite:
        raise MapError(f"{args.output} exists; not replaced (give --overwrite to replace it)")
    if not os.path.isdir(os.path.dirname(out)):
        raise MapError(f"{args.output}: folder {os.path.dirname(out)} does not exist")


def run(args, log=print):
    """The whole command; raises MapError on a refusal.  Returns a summary dict."""
    check_output(args)
    spec = load_bead_file(args.beads)
    sources = [Source(args, k) for k in range(len(args.trajectories))]
    universe = sources[0].universe
    for s in sources[1:]:
        if len(s.universe.atoms) != len(universe.atoms):
            raise MapError(f"{s.path}: {len(s.universe.atoms)} atoms, {sources[0].path} "
                           f"{len(universe.atoms)}")
    cgmap = build_map(universe, spec)
    first = sources[0].first_frames(bonds_mod.RIGID_PROBE_FRAMES)
    try:
        atom_bonds = bonds_mod.candidate_bonds(universe, first[0], cgmap.mapped)
        constrained = bonds_mod.declared_constraints(args.constraints, universe, atom_bonds)
    except bonds_mod.BondError as e:
        raise MapError(str(e)) from None
    detected = {}
    for s in sources:
        frames = first if s is sources[0] else s.first_frames(bonds_mod.RIGID_PROBE_FRAMES)
        detected.update(bonds_mod.rigid_bonds(atom_bonds, frames))
    check_constraints(universe, cgmap, constrained, detected, args.constraints)
    bonds = cg_bonds(spec, universe, cgmap, atom_bonds)
    n = sum(len(s.frames) for s in sources)
    frames = {"position": np.empty((n, cgmap.n_beads, 3)), "force": np.empty((n, cgmap.n_beads, 3)),
              "time": np.empty(n), "trajectory": np.empty(n), "frame": np.empty(n)}
    k = 0
    for t, s in enumerate(sources):
        for index in s.frames:
            x, f, box, time = s.frame(index)
            check_finite(s.path, index, x, f)
            frames["position"][k] = cgmap.positions(x, box)
            frames["force"][k] = cgmap.forces(f)
            frames["time"][k], frames["trajectory"][k], frames["frame"][k] = time, t, index
            k += 1
    if np.isnan(frames["time"]).any():  # some file gave no time unit: number the frames
        frames["time"] = np.arange(n, dtype=np.float64)
    provenance = {
        "mapped_by": f"cgdml.map {VERSION} (MDAnalysis {mda.__version__})",
        "command_line": shlex.join([sys.executable, "-m", "cgdml.map"] + list(args.argv)),
        "topology": os.path.basename(args.top),
        "trajectories": [os.path.basename(s.path) for s in sources],
        "trajectories_sha256": [sha256(s.path) for s in sources],
        "native_units": [json.dumps(s.units) for s in sources],
        "skip": args.skip, "stride": args.stride,
        "bead_definitions": spec["text"],
        "bead_selections": cgmap.selections, "bead_maps": cgmap.kinds,
        "bead_atoms": [" ".join(map(str, a)) for a in cgmap.atoms],
        "bead_masses_amu": cgmap.masses,
        "force_map": "sum of the all-atom forces on each bead's atoms (docs/tutorial.md)",
        "constraints": args.constraints,
        "constrained_pairs_checked": len(set(constrained) | set(detected)),
        "rigid_bonds_detected": len(detected),
        "observables": "trajectory: index of the input trajectory; frame: frame in it",
    }
    with atomic_output(args.output, args.overwrite) as tmp:
        write_dataset(tmp, cgmap, frames, bonds, provenance,
                      np.float32 if args.float32 else np.float64)
    log(f"mapped {n} frames of {len(sources)} trajectories ({len(universe.atoms)} atoms) to "
        f"{cgmap.n_beads} beads ({' '.join(cgmap.names)}), {len(bonds)} CG bonds")
    probed = min(len(s.frames) for s in sources)
    found = (f"{len(detected)} rigid bonds found in the frames"
             if probed >= bonds_mod.RIGID_MIN_FRAMES else f"rigid bonds not looked for (a trajectory has {probed} frames, fewer than "
                  f"{bonds_mod.RIGID_MIN_FRAMES})")
    log(f"constraints: {len(constrained)} declared ({args.constraints}), {found}, all inside "
        "beads or outside every bead")
    if not bonds:
        log("no CG bonds: give them in the bead file, or --bonds to cgdml ensemble (its prior "
            "needs them)")
    log(f"wrote {args.output}")
    return {"frames": n, "beads": cgmap.n_beads, "bonds": bonds, "detected": detected,
            "constrained": constrained}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    for category in (DeprecationWarning, RuntimeWarning):  # e.g. angles of an empty box
        warnings.filterwarnings("ignore", category=category, module="MDAnalysis")
    args = parse_args(argv)
    args.argv = argv
    try:
        run(args)
    except MapError as e:
        print(f"cgdml.map: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
