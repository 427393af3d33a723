"""_map_bonds.py - covalent bonds and constraints of an all-atom system, for cgdml.map.

cgdml.map needs the bonds of the all-atom molecule twice: to know which bonds the
simulation constrained (--constraints h-bonds / all-bonds, and the rigid bonds it
detects in the frames), and for "bonds": "auto" in a bead file.  Topology files do
not always carry bonds (a PDB has CONECT records for hetero groups only), so the
bonds are the topology's plus those guessed from one frame: atoms i, j are bonded
when |r_i - r_j| < 0.55 (R_i + R_j), R the van der Waals radii of MDAnalysis's
table (the criterion of MDAnalysis's own bond guesser).

Only bonds that touch a mapped atom matter (a constraint between two atoms that are
in no bead is integrated out with them), so the guess looks only around those.
"""
import re
import xml.etree.ElementTree as ElementTree

import numpy as np
from MDAnalysis.exceptions import NoDataError
from MDAnalysis.lib.distances import calc_bonds, capped_distance
from MDAnalysis.topology.tables import vdwradii

FUDGE = 0.55  # MDAnalysis guess_bonds: bonded below FUDGE x (sum of vdW radii)
MAX_BOND = 2.5  # Å, no covalent bond is longer (search radius of the guess)
# A bond whose length varies by less than this over the frames (std, Å) was
# constrained by the simulation: thermal motion of a free bond to hydrogen has a
# std of ~0.03 Å at 300 K (sqrt(kT/2K), K ~ 340 kcal/mol/Å^2); SHAKE/LINCS and
# float32 storage leave ~1e-5 Å.
RIGID_STD = 1e-3
RIGID_MIN_FRAMES = 5  # frames needed before a bond is judged rigid
RIGID_PROBE_FRAMES = 50  # frames of each trajectory used to judge


class BondError(Exception):
    """A problem with bonds or constraints, worded for the user."""


def element_symbols(atoms):
    """Element symbols of the atoms (upper case): the topology's elements, else its
    atom types (MDAnalysis guesses those from names)."""
    for attr in ("elements", "types"):
        try:
            symbols = [str(s).strip().upper() for s in getattr(atoms, attr)]
        except (NoDataError, AttributeError):
            continue
        if all(symbols):
            return symbols
    return [re.sub(r"[^A-Z]", "", str(n).upper())[:1] for n in atoms.names]


def is_hydrogen(symbols):
    return np.array([s in ("H", "D") for s in symbols])


def describe(atom):
    """'ALA 2 CA (atom 8)' for messages (what the topology knows of the atom)."""
    parts = []
    for attr in ("resname", "resid", "name"):
        try:
            parts.append(str(getattr(atom, attr)))
        except (NoDataError, AttributeError):
            pass
    return f"{' '.join(parts)} (atom {atom.index})"


def topology_bonds(universe):
    """The topology's bonds as a set of (i, j), i < j."""
    try:
        return {tuple(sorted(map(int, b))) for b in universe.atoms.bonds.indices}
    except (NoDataError, AttributeError):
        return set()


def guessed_bonds(universe, coords, around):
    """Bonds (i, j), i < j, from one frame (coords in Å, all atoms) that touch an
    atom of `around` (atom indices)."""
    symbols = element_symbols(universe.atoms)
    radius = np.array([vdwradii.get(s, vdwradii.get(s[:1], np.nan)) for s in symbols])
    around = np.asarray(sorted(around), dtype=np.int64)
    if len(around) == 0:
        return set()
    pairs, dist = capped_distance(coords[around], coords, MAX_BOND, return_distances=True)
    bonds = set()
    for (a, j), d in zip(pairs, dist):
        i = int(around[a])
        j = int(j)
        if i != j and d < FUDGE * (radius[i] + radius[j]):  # NaN radius: never bonded
            bonds.add((min(i, j), max(i, j)))
    return bonds


def candidate_bonds(universe, coords, mapped):
    """Topology bonds and guessed bonds that touch a mapped atom."""
    mapped = set(mapped)
    bonds = {b for b in topology_bonds(universe) if b[0] in mapped or b[1] in mapped}
    return bonds | guessed_bonds(universe, coords, mapped)


def rigid_bonds(bonds, frames):
    """The bonds whose length stays constant (std < RIGID_STD Å) over `frames`
    (array (frames, atoms, 3) in Å), with that std; empty below RIGID_MIN_FRAMES."""
    if len(frames) < RIGID_MIN_FRAMES or not bonds:
        return {}
    pairs = np.array(sorted(bonds))
    lengths = np.array([calc_bonds(f[pairs[:, 0]], f[pairs[:, 1]]) for f in frames])
    std = lengths.std(axis=0)
    return {tuple(map(int, p)): float(s) for p, s in zip(pairs, std) if s < RIGID_STD}


def read_constraint_file(path, n_atoms):
    """Constrained pairs from an OpenMM System XML (XmlSerializer) or a text file of
    0-based atom index pairs ("i j" per line, # starts a comment)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise BondError(f"--constraints {path}: cannot read it ({e})") from None
    if "<System" in text[:4096]:
        return openmm_constraints(path, text, n_atoms)
    pairs = set()
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            i, j = (int(x) for x in fields)
        except ValueError:
            raise BondError(f"--constraints {path}:{number}: '{line.strip()}' is not two atom "
                            "indices (0-based, 'i j' per line; or give an OpenMM System XML)"
                            ) from None
        check_pair(path, number, i, j, n_atoms)
        pairs.add((min(i, j), max(i, j)))
    return pairs


def openmm_constraints(path, text, n_atoms):
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as e:
        raise BondError(f"--constraints {path}: not valid XML ({e})") from None
    particles = root.find("Particles")
    n_particles = 0 if particles is None else len(particles.findall("Particle"))
    if n_particles != n_atoms:
        raise BondError(f"--constraints {path}: the OpenMM System has {n_particles} particles, "
                        f"the topology {n_atoms} atoms; they describe different systems")
    pairs = set()
    for k, c in enumerate(root.iter("Constraint")):
        i, j = int(c.get("p1")), int(c.get("p2"))
        check_pair(path, f"constraint {k}", i, j, n_atoms)
        pairs.add((min(i, j), max(i, j)))
    return pairs


def check_pair(path, where, i, j, n_atoms):
    if not (0 <= i < n_atoms and 0 <= j < n_atoms) or i == j:
        raise BondError(f"--constraints {path}:{where}: pair {i} {j} is not two distinct atoms "
                        f"of 0..{n_atoms - 1}")


def declared_constraints(spec, universe, bonds):
    """The constrained pairs of --constraints SPEC: none, h-bonds, all-bonds (from the
    candidate bonds) or a file."""
    if spec == "none":
        return set()
    if spec in ("h-bonds", "all-bonds"):
        if spec == "all-bonds":
            return set(bonds)
        hydrogen = is_hydrogen(element_symbols(universe.atoms))
        return {b for b in bonds if hydrogen[b[0]] or hydrogen[b[1]]}
    return read_constraint_file(spec, len(universe.atoms))
