"""test_map.py - python/cgdml/map.py: the maps against hand-computed values, units,
formats, and every refusal (message, exit status, nothing written, an existing output
untouched).

A four-atom toy molecule (C, H | O, N in two residues; masses from MDAnalysis's
table, 12.011, 1.008, 15.999, 14.007) is written by MDAnalysis's own writers as PDB +
GROMACS .trr (nm, kJ/mol/nm), AMBER NetCDF (Å, kcal/mol/Å), DCD with a separate force
DCD, and H5MD written with h5py.  Most cases call cgdml.map.main in this process;
two run `python3 -m cgdml.map` as a user would.  Run by `make test`.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
import warnings

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

from cgdml import map as cgmap  # noqa: E402  (after the path)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import MDAnalysis as mda  # noqa: E402
    from MDAnalysis.coordinates.memory import MemoryReader  # noqa: E402

KCAL = 4.184  # kJ per kcal (MDAnalysis's factor)
MASS = {"C": 12.011, "H": 1.008, "O": 15.999, "N": 14.007}
NAMES = ["C", "H", "O", "N"]
# Frame 0 by hand (Å, kJ/mol/Å in MDAnalysis's base units); frames 1, 2 are random.
X0 = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 3.0]])
F0 = np.array([[10.0, 0.0, 0.0], [-4.0, 2.0, 0.0], [0.0, 0.0, 8.0], [1.0, 1.0, 1.0]])
BEADS = {"beads": [{"name": "CH", "select": "resid 1", "map": "com"},
                   {"name": "ON", "select": "resid 2", "map": "cog"}],
         "bonds": [[0, 1]]}


def toy_frames(n=3, seed=7):
    rng = np.random.default_rng(seed)
    x = np.concatenate([X0[None], X0 + rng.normal(scale=0.05, size=(n - 1, 4, 3))])
    f = np.concatenate([F0[None], rng.normal(scale=40.0, size=(n - 1, 4, 3))])
    return x.astype(np.float32), f.astype(np.float32)


def toy_universe(x, f, box=None):
    u = mda.Universe.empty(4, n_residues=2, atom_resindex=[0, 0, 1, 1], trajectory=False)
    for attr, values in (("name", NAMES), ("type", NAMES), ("elements", NAMES),
                         ("resname", ["AAA", "BBB"]), ("resid", [1, 2]),
                         ("masses", [MASS[n] for n in NAMES])):
        u.add_TopologyAttr(attr, values)
    u.load_new(x, format=MemoryReader, forces=f, dimensions=box)
    return u


def write_trajectory(u, path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mda.Writer(path, len(u.atoms), **kwargs) as w:
            for _ in u.trajectory:
                w.write(u)


def write_h5md(path, x_nm, f_kj_nm, units=True):
    """The layout of datasets/ala3/generate.py: group "all", nm and kJ mol-1 nm-1."""
    with h5py.File(path, "w") as h:
        h["h5md"] = h5py.Empty("f")
        h["h5md"].attrs["version"] = np.array([1, 1], dtype=np.int32)
        g = h.create_group("particles/all")
        g.create_group("box").attrs.update({"dimension": np.int32(3),
                                            "boundary": np.array([b"none"] * 3)})
        for name, value, unit in (("position", x_nm, "nm"), ("force", f_kj_nm, "kJ mol-1 nm-1")):
            e = g.create_group(name)
            e["value"] = value
            e["step"] = np.arange(len(value), dtype=np.int64)
            e["time"] = np.arange(len(value), dtype=np.float64) * 2.0
            if units:
                e["value"].attrs["unit"] = unit
                e["time"].attrs["unit"] = "ps"


def run_main(argv):
    """(exit status, stdout, stderr) of cgdml.map.main in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cgmap.main([str(a) for a in argv])
        except SystemExit as e:  # argparse usage errors
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def read_cg(path):
    """A mapped dataset: x, f (frames, beads, 3), names, bonds (or None), traj, frame."""
    with h5py.File(path, "r") as f:
        return {"x": f["particles/cg/position/value"][()],
                "f": f["particles/cg/force/value"][()],
                "names": [n.decode() for n in f["parameters/cgdml/bead_names"][()]],
                "bonds": f["connectivity/cg_bonds"][()] if "connectivity/cg_bonds" in f else None,
                "traj": f["observables/trajectory/value"][()],
                "frame": f["observables/frame/value"][()]}


class ToyCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.x, self.f = toy_frames()
        u = toy_universe(self.x, self.f)
        self.pdb = self.path("toy.pdb")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u.atoms.write(self.pdb)
        self.trr = self.path("toy.trr")
        write_trajectory(u, self.trr)
        self.beads = self.write_beads(BEADS)

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def write_beads(self, obj, name="beads.json"):
        with open(self.path(name), "w") as f:
            json.dump(obj, f)
        return self.path(name)

    def map(self, *extra, traj=None, beads=None, out="cg.h5", constraints="none"):
        return run_main([*(traj or [self.trr]), "--top", self.pdb, "--beads",
                         beads or self.beads, "--constraints", constraints, "-o",
                         self.path(out), *extra])

    def assert_refused(self, result, *phrases, out="cg.h5"):
        rc, _, err = result
        self.assertEqual(rc, 1, err)
        for phrase in phrases:
            self.assertIn(phrase, err)
        self.assertTrue(err.startswith("cgdml.map: error: "), err)
        self.assertFalse(os.path.exists(self.path(out)), "a refusal wrote the output")
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp-" in n], [],
                         "a temporary file was left behind")


class MapsAgainstHandValues(ToyCase):
    """Bead positions and forces of frame 0, computed by hand."""

    def test_com_cog_and_summed_forces(self):
        rc, out, err = self.map()
        self.assertEqual(rc, 0, err)
        cg = read_cg(self.path("cg.h5"))
        x, f = cg["x"], cg["f"]
        # com of C (0,0,0) and H (1,0,0): x = 1.008 / (12.011 + 1.008)
        np.testing.assert_allclose(x[0, 0], [1.008 / (12.011 + 1.008), 0.0, 0.0], atol=1e-6)
        # cog of O (0,2,0) and N (0,2,3): (0, 2, 1.5)
        np.testing.assert_allclose(x[0, 1], [0.0, 2.0, 1.5], atol=1e-6)
        # forces: sums, kJ/mol/Å -> kcal/mol/Å
        np.testing.assert_allclose(f[0, 0], np.array([6.0, 2.0, 0.0]) / KCAL, rtol=1e-6,
                                   atol=1e-6)
        np.testing.assert_allclose(f[0, 1], np.array([1.0, 1.0, 9.0]) / KCAL, rtol=1e-6,
                                   atol=1e-6)
        self.assertEqual(cg["names"], ["CH", "ON"])
        np.testing.assert_array_equal(cg["bonds"], [[0, 1]])
        np.testing.assert_array_equal(cg["frame"], [0, 1, 2])
        np.testing.assert_array_equal(cg["traj"], [0, 0, 0])
        self.assertIn("mapped 3 frames of 1 trajectories (4 atoms) to 2 beads", out)

    def test_every_frame_matches_the_weighted_sums(self):
        self.assertEqual(self.map()[0], 0)
        cg = read_cg(self.path("cg.h5"))
        x, f = cg["x"], cg["f"]
        w = np.array([12.011, 1.008]) / (12.011 + 1.008)
        np.testing.assert_allclose(x[:, 0], np.einsum("a,fad->fd", w, self.x[:, :2]), atol=1e-5)
        np.testing.assert_allclose(x[:, 1], self.x[:, 2:].mean(axis=1), atol=1e-5)
        np.testing.assert_allclose(f[:, 0], self.f[:, :2].sum(axis=1) / KCAL, rtol=1e-5,
                                   atol=1e-4)
        np.testing.assert_allclose(f[:, 1], self.f[:, 2:].sum(axis=1) / KCAL, rtol=1e-5,
                                   atol=1e-4)

    def test_slice_is_the_atom(self):
        beads = self.write_beads({"map": "slice", "beads": [
            {"name": "H", "select": "name H"}, {"name": "N", "select": "name N"},
            {"name": "O", "select": "name O"}]}, "slice.json")
        rc, out, err = self.map(beads=beads)
        self.assertEqual(rc, 0, err)
        cg = read_cg(self.path("cg.h5"))
        x, f = cg["x"], cg["f"]
        np.testing.assert_allclose(x[0], [[1.0, 0.0, 0.0], [0.0, 2.0, 3.0], [0.0, 2.0, 0.0]],
                                   atol=1e-6)
        np.testing.assert_allclose(f[0], np.array([[-4.0, 2.0, 0.0], [1.0, 1.0, 1.0],
                                                   [0.0, 0.0, 8.0]]) / KCAL, atol=1e-6)
        self.assertIsNone(cg["bonds"])
        self.assertIn("no CG bonds", out)

    def test_map_class_directly(self):
        """CGMap on arrays: the weights sum to one, frames batch like single frames."""
        u = toy_universe(self.x, self.f)
        m = cgmap.build_map(u, cgmap.parse_bead_definitions(BEADS))
        for w in m.weights:
            self.assertAlmostEqual(w.sum(), 1.0, places=12)
        batch = m.positions(self.x)
        one = np.array([m.positions(x) for x in self.x])
        np.testing.assert_allclose(batch, one, atol=1e-12)
        np.testing.assert_allclose(m.forces(self.f)[0, 0], [6.0, 2.0, 0.0], atol=1e-6)

    def test_bonds_auto_from_the_atoms(self):
        """ "auto": beads joined where their atoms are bonded (guessed: C-H 1 Å bonded,
        H...O 2.2 Å not, O-N 3 Å not)."""
        beads = self.write_beads({"beads": [{"name": "C", "select": "name C", "map": "slice"},
                                            {"name": "H", "select": "name H", "map": "slice"},
                                            {"name": "ON", "select": "resid 2"}],
                                  "bonds": "auto"}, "auto.json")
        rc, _, err = self.map(beads=beads)
        self.assertEqual(rc, 0, err)
        np.testing.assert_array_equal(read_cg(self.path("cg.h5"))["bonds"], [[0, 1]])

    def test_periodic_box_makes_beads_whole(self):
        """A bead whose atoms straddle a 30 Å box face sits between them, not mid-box."""
        x = self.x.copy()
        x[:, 2, 0] = 0.5  # O just inside one face
        x[:, 3, 0] = 29.5  # N just inside the other: 1 Å apart through the face
        u = toy_universe(x, self.f, box=[30.0, 30.0, 30.0, 90.0, 90.0, 90.0])
        write_trajectory(u, self.path("box.trr"))
        rc, _, err = self.map(traj=[self.path("box.trr")])
        self.assertEqual(rc, 0, err)
        x = read_cg(self.path("cg.h5"))["x"]
        self.assertLess(abs(x[0, 1, 0]), 1e-4)  # midpoint of 0.5 and -0.5 (29.5 - 30)
        self.assertLess(np.linalg.norm(x[0, 1] - x[0, 0]), 15.0)  # beads stay together

    def test_stride_skip_and_two_trajectories(self):
        rc, _, err = self.map("--skip", "1", "--stride", "1", traj=[self.trr, self.trr])
        self.assertEqual(rc, 0, err)
        cg = read_cg(self.path("cg.h5"))
        np.testing.assert_array_equal(cg["traj"], [0, 0, 1, 1])
        np.testing.assert_array_equal(cg["frame"], [1, 2, 1, 2])


class UnitsAndFormats(ToyCase):
    """The same frames through other formats give the same beads, in Å and kcal/mol/Å."""

    def reference(self):
        self.assertEqual(self.map(out="ref.h5")[0], 0)
        cg = read_cg(self.path("ref.h5"))
        return cg["x"], cg["f"]

    def assert_same(self, out, atol=1e-4):
        x, f = self.reference()
        cg = read_cg(self.path(out))
        y, g = cg["x"], cg["f"]
        np.testing.assert_allclose(y, x, atol=atol)
        np.testing.assert_allclose(g, f, rtol=1e-5, atol=atol)

    def test_h5md_in_nm_and_kj(self):
        write_h5md(self.path("toy.h5md"), self.x / 10.0, self.f * 10.0)
        rc, _, err = self.map(traj=[self.path("toy.h5md")], out="h.h5")
        self.assertEqual(rc, 0, err)
        self.assert_same("h.h5")

    def test_h5md_with_a_plain_h5_name(self):
        write_h5md(self.path("toy.h5"), self.x / 10.0, self.f * 10.0)
        rc, _, err = self.map(traj=[self.path("toy.h5")], out="h.h5")
        self.assertEqual(rc, 0, err)
        self.assert_same("h.h5")

    def test_amber_netcdf_in_kcal(self):
        write_trajectory(toy_universe(self.x, self.f), self.path("toy.ncdf"), forces=True)
        rc, _, err = self.map(traj=[self.path("toy.ncdf")], out="n.h5")
        self.assertEqual(rc, 0, err)
        self.assert_same("n.h5")

    def test_dcd_with_forces_from_a_second_dcd(self):
        """Positions from one DCD, forces from another (as NAMD's forcedcd) whose unit
        the user gives; the force "positions" are kcal/mol/Å written without conversion."""
        write_trajectory(toy_universe(self.x, self.f), self.path("pos.dcd"))
        write_trajectory(toy_universe(self.f / KCAL, self.f), self.path("frc.dcd"),
                         convert_units=False)
        rc, _, err = self.map("--forces-from", self.path("frc.dcd"), "--force-unit",
                              "kcal/mol/A", traj=[self.path("pos.dcd")], out="d.h5")
        self.assertEqual(rc, 0, err)
        self.assert_same("d.h5")

    def test_h5md_without_units_with_declared_units(self):
        write_h5md(self.path("bare.h5md"), self.x / 10.0, self.f * 10.0, units=False)
        rc, _, err = self.map("--length-unit", "nm", "--force-unit", "kJ/mol/nm",
                              traj=[self.path("bare.h5md")], out="b.h5")
        self.assertEqual(rc, 0, err)
        self.assert_same("b.h5")


class Refusals(ToyCase):
    def test_trajectory_without_forces(self):
        write_trajectory(toy_universe(self.x, self.f), self.path("pos.dcd"))
        self.assert_refused(self.map(traj=[self.path("pos.dcd")]), "pos.dcd: no forces")

    def test_frames_without_forces(self):
        """A .trr with forces in every other frame (nstfout = 2 nstxout): refused at the
        first frame without them; --stride 2 keeps the frames that have them."""
        from MDAnalysis.lib.formats.libmdaxdr import TRRFile
        with TRRFile(self.path("mixed.trr"), "w") as t:
            for k in range(4):
                forces = (self.f[k % 3] / 10.0).astype(np.float32) if k % 2 == 0 else None
                t.write((self.x[k % 3] / 10.0).astype(np.float32), None, forces,
                        np.eye(3, dtype=np.float32) * 0.0, k, float(k), 0.0, 4)
        self.assert_refused(self.map(traj=[self.path("mixed.trr")]),
                            "mixed.trr: frame 1 has positions but no forces")
        rc, _, err = self.map("--stride", "2", traj=[self.path("mixed.trr")])
        self.assertEqual(rc, 0, err)
        np.testing.assert_array_equal(read_cg(self.path("cg.h5"))["frame"], [0, 2])

    def test_atom_in_two_beads(self):
        beads = self.write_beads({"beads": [{"name": "A", "select": "resid 1"},
                                            {"name": "B", "select": "name H O"}]}, "two.json")
        self.assert_refused(self.map(beads=beads), "atom AAA 1 H (atom 1) is in two beads",
                            "bead 0 (A", "bead 1 (B")

    def test_selection_that_matches_nothing(self):
        beads = self.write_beads({"beads": [{"name": "A", "select": "resid 1"},
                                            {"name": "B", "select": "resname XYZ"}]}, "none.json")
        self.assert_refused(self.map(beads=beads), "bead 1 (B, \"resname XYZ\")",
                            "matches no atom")

    def test_slice_of_two_atoms(self):
        beads = self.write_beads({"beads": [{"name": "A", "select": "resid 1", "map": "slice"}]},
                                 "slice2.json")
        self.assert_refused(self.map(beads=beads), "a slice bead is one atom", "matches 2")

    def test_units_that_cannot_be_determined(self):
        write_h5md(self.path("bare.h5md"), self.x / 10.0, self.f * 10.0, units=False)
        self.assert_refused(self.map(traj=[self.path("bare.h5md")]),
                            "bare.h5md: the length unit cannot be determined", "--length-unit")
        self.assert_refused(self.map("--length-unit", "nm", traj=[self.path("bare.h5md")]),
                            "the force unit cannot be determined", "--force-unit")

    def test_separate_forces_without_a_unit(self):
        write_trajectory(toy_universe(self.x, self.f), self.path("pos.dcd"))
        write_trajectory(toy_universe(self.f, self.f), self.path("frc.dcd"))
        self.assert_refused(self.map("--forces-from", self.path("frc.dcd"),
                                     traj=[self.path("pos.dcd")]),
                            "the force unit cannot be determined")

    def test_declared_unit_contradicting_the_file(self):
        self.assert_refused(self.map("--length-unit", "Angstrom"),
                            "the file's length unit is 'nm', --length-unit says 'Angstrom'")

    def test_existing_output_is_untouched(self):
        out = self.path("cg.h5")
        with open(out, "wb") as f:
            f.write(b"the user's precious data")
        before = os.stat(out)
        rc, _, err = self.map()
        self.assertEqual(rc, 1)
        self.assertIn("cg.h5 exists; not replaced (give --overwrite to replace it)", err)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"the user's precious data")
        self.assertEqual(os.stat(out).st_mtime_ns, before.st_mtime_ns)
        self.assertEqual(self.map("--overwrite")[0], 0)
        self.assertEqual(len(read_cg(out)["x"]), 3)

    def test_output_that_is_an_input(self):
        rc, _, err = self.map(out="toy.trr")
        self.assertEqual(rc, 1)
        self.assertIn("is also an input", err)

    def test_constraint_between_beads_declared_in_a_pair_file(self):
        """C-H constrained (atoms 0 1): fine inside the com bead, refused when H is a
        bead of its own."""
        pairs = self.path("pairs.txt")
        with open(pairs, "w") as f:
            f.write("# constrained pairs\n0 1\n")
        self.assertEqual(self.map(constraints=pairs)[0], 0)
        os.unlink(self.path("cg.h5"))
        beads = self.write_beads({"map": "slice", "beads": [{"name": "C", "select": "name C"},
                                                             {"name": "H", "select": "name H"}]},
                                 "split.json")
        self.assert_refused(self.map(beads=beads, constraints=pairs),
                            "AAA 1 C (atom 0) in bead 0 (C) - AAA 1 H (atom 1) in bead 1 (H)",
                            "declared by --constraints")

    def test_constraint_to_an_atom_in_no_bead_from_openmm_xml(self):
        xml = self.path("system.xml")
        with open(xml, "w") as f:
            f.write('<?xml version="1.0" ?>\n<System openmmVersion="7.7" type="System" '
                    'version="1">\n<Particles>\n' + '<Particle mass="1"/>\n' * 4 +
                    '</Particles>\n<Constraints>\n<Constraint d=".1" p1="0" p2="1"/>\n'
                    '</Constraints>\n</System>\n')
        beads = self.write_beads({"map": "slice", "beads": [{"name": "C", "select": "name C"},
                                                             {"name": "O", "select": "name O"}]},
                                 "noh.json")
        self.assert_refused(self.map(beads=beads, constraints=xml), "in no bead",
                            "constraint force cancels")

    def test_h_bonds_refuse_a_hydrogen_split_from_its_carbon(self):
        beads = self.write_beads({"map": "slice", "beads": [{"name": "C", "select": "name C"},
                                                             {"name": "O", "select": "name O"}]},
                                 "noh.json")
        self.assert_refused(self.map(beads=beads, constraints="h-bonds"),
                            "AAA 1 C (atom 0) in bead 0 (C) - AAA 1 H (atom 1) in no bead")

    def test_rigid_bond_found_in_the_frames(self):
        """--constraints none, but C-H keeps its length to 1e-6 Å over 8 frames: the run
        constrained it, and a map that splits C from H is refused."""
        rng = np.random.default_rng(3)
        x = np.repeat(X0[None], 8, axis=0) + rng.normal(scale=0.05, size=(8, 4, 3))
        d = rng.normal(size=(8, 3))
        x[:, 1] = x[:, 0] + 1.09 * d / np.linalg.norm(d, axis=1)[:, None]
        f = rng.normal(scale=40.0, size=(8, 4, 3))
        write_trajectory(toy_universe(x.astype(np.float32), f.astype(np.float32)),
                         self.path("rigid.trr"))
        beads = self.write_beads({"map": "slice", "beads": [{"name": "C", "select": "name C"},
                                                             {"name": "O", "select": "name O"}]},
                                 "noh.json")
        self.assert_refused(self.map(beads=beads, traj=[self.path("rigid.trr")]),
                            "its length is constant over the first frames",
                            "the simulation constrained it")
        # The same frames with C and H in one bead are fine.
        self.assertEqual(self.map(traj=[self.path("rigid.trr")])[0], 0)

    def test_bad_bead_files(self):
        cases = [("[1, 2]", "expected an object"),
                 ('{"beads": []}', "non-empty list"),
                 ('{"beads": [{"name": "A", "select": "all", "map": "centroid"}]}',
                  "expected one of slice, com, cog"),
                 ('{"beads": [{"name": "A", "selection": "all"}]}', "unknown key(s) ['selection']"),
                 ('{"beads": [{"name": "A", "select": "all"}], "bonds": [[0, 0]]}',
                  "not two distinct beads"),
                 ('{"beads": [', "not valid JSON")]
        for k, (text, phrase) in enumerate(cases):
            with self.subTest(text=text):
                path = self.path(f"bad{k}.json")
                with open(path, "w") as f:
                    f.write(text)
                self.assert_refused(self.map(beads=path), phrase)

    def test_usage_errors_exit_2(self):
        rc, _, err = run_main([self.trr, "--top", self.pdb, "--beads", self.beads, "-o",
                               self.path("cg.h5")])
        self.assertEqual(rc, 2)
        self.assertIn("--constraints", err)
        rc, _, err = self.map("--stride", "0")
        self.assertEqual(rc, 2)
        self.assertFalse(os.path.exists(self.path("cg.h5")))


class CommandLine(ToyCase):
    """`python3 -m cgdml.map` as a user runs it (PYTHONPATH=python)."""

    def command(self, *argv):
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
        return subprocess.run([sys.executable, "-m", "cgdml.map", *argv], env=env,
                              capture_output=True, text=True, cwd=self.dir)

    def test_help_and_a_refusal(self):
        r = self.command("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("--top", "--beads", "--constraints", "--overwrite", "--forces-from"):
            self.assertIn(word, r.stdout)
        with open(self.path("out.h5"), "w") as f:
            f.write("keep me")
        r = self.command(self.trr, "--top", self.pdb, "--beads", self.beads, "--constraints",
                         "none", "-o", "out.h5")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, "cgdml.map: error: out.h5 exists; not replaced (give "
                                   "--overwrite to replace it)\n")
        with open(self.path("out.h5")) as f:
            self.assertEqual(f.read(), "keep me")

    def test_cgdml_reads_the_output(self):
        r = self.command(self.trr, "--top", self.pdb, "--beads", self.beads, "--constraints",
                         "none", "-o", "new.h5")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        cgdml = os.environ.get("CGDML_BIN", os.path.join(ROOT, "build", "cgdml"))
        if not os.path.exists(cgdml):
            self.skipTest(f"{cgdml} not built")
        info = subprocess.run([cgdml, "info", self.path("new.h5")], capture_output=True, text=True)
        self.assertEqual(info.returncode, 0, info.stderr)
        self.assertIn("frames       3", info.stdout)
        self.assertIn("beads        2: CH ON", info.stdout)
        self.assertIn("bonds        1: 0-1", info.stdout)
        self.assertIn("units        length Angstrom, force kcal mol-1 Angstrom-1", info.stdout)


if __name__ == "__main__":
    unittest.main()
