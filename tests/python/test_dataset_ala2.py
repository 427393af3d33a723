"""test_dataset_ala2.py - sanity checks of the shipped dataset datasets/ala2_cg6.h5.

The C library trusts this file as the all-atom reference, so these tests check that
it is what datasets/README.md says: the H5MD layout of docs/FORMATS.md, physical
bond geometry with the thermal spread of an unconstrained 300 K run, the L-alanine
(phi, psi) landscape, force labels with the size that run gives, and stored
dihedrals that agree with the stored positions.  Run with
    /usr/bin/python3 -m unittest discover -s tests/python -v
"""
import os
import unittest

import h5py
import numpy as np

DATASET = os.path.join(os.path.dirname(__file__), "..", "..", "datasets", "ala2_cg6.h5")
MAX_BYTES = 20 * 1024 * 1024  # size budget of a shipped file
MIN_FRAMES = 100_000  # 100 ns at one frame per ps
BEAD_NAMES = ["C", "N", "CA", "CB", "C", "N"]
KT = 0.5962  # kcal/mol at 300 K (docs/method.md §5)

# Bond (bead i, bead j): AMBER ff99SB-ILDN r0 (Å) and spring constant 2K
# (kcal/mol/Å^2, E = K (r - r0)^2).  At 300 K the means sit up to 0.03 Å above r0:
# 1-4 and GB forces stretch CA-C to 1.546 Å already in the energy minimum.
BONDS = {(0, 1): (1.335, 980.0), (1, 2): (1.449, 674.0), (2, 3): (1.526, 620.0),
         (2, 4): (1.522, 634.0), (4, 5): (1.335, 980.0)}
BOND_MEAN_TOL = 0.035  # Å
BOND_RANGE = (1.1, 1.8)  # Å, every frame
# Unconstrained harmonic bond: std(r) = sqrt(kT / 2K) (equipartition); constraining
# these bonds would give ~0, a wrong temperature would scale it.
BOND_STD_REL_TOL = 0.10

# Angle (i, j, k) at bead j: AMBER theta0 (degrees); means within 4 degrees.
ANGLES = {(0, 1, 2): 121.9, (1, 2, 3): 109.7, (1, 2, 4): 110.1, (3, 2, 4): 111.1,
          (2, 4, 5): 116.6}
ANGLE_MEAN_TOL = 4.0
ANGLE_RANGE = (90.0, 150.0)

# Basin boxes on the (phi, psi) torus, degrees, [lo, hi) intervals.
ALPHA_R = ((-180, 0), (-120, 50))
BETA_PPII = ((-180, 0), (50, 180)), ((-180, 0), (-180, -120))
ALPHA_L = ((0, 120), (-60, 100))
# The density peak of alpha_R sits within 15 degrees of the force field's alpha_R
# minimum, which OBC moves from the canonical helix (-60, -45) to (-77.5, -14.7)
# (datasets/ala2/check_physics.py).  A flipped sign of psi, of phi or of both (a
# mirror image) would put the peak 29, 155 or 157 degrees away.
ALPHA_R_CENTRE = (-77.5, -14.7)
ALPHA_R_CENTRE_TOL = 15.0
MIN_POPULATION = {"alpha_R": 0.25, "beta_PPII": 0.35, "alpha_L": 0.001}
MAX_ALPHA_L = 0.10
MIN_PHI_NEGATIVE = 0.90  # fraction of frames with phi < 0 (measured 0.99)

# Force labels, kcal/mol/Å.  Canonical identity <F_x^2> = kT <d2U/dx^2>: on the bead
# atoms kT times the mean Hessian diagonal is 718-826 (kcal/mol/Å)^2
# (datasets/ala2/check_physics.py; bonds of spring constant 600-1000 kcal/mol/Å^2
# dominate it), and the file gives 2-6 % more (749-861), the configurational
# temperature excess of the 1 fs Langevin integrator.  The range admits -25 %/+35 %
# in temperature; constrained bonds (stiff terms gone), kJ/mol/nm (x1750 in the
# variance) or 600 K fall outside.
FORCE_VARIANCE_RANGE = (600.0, 1100.0)
FORCE_MEAN_OVER_STD = 0.03  # isotropic in the lab frame: mean ~ 0 (measured < 0.007)


def in_box(phi, psi, box):
    (phi_lo, phi_hi), (psi_lo, psi_hi) = box
    return (phi >= phi_lo) & (phi < phi_hi) & (psi >= psi_lo) & (psi < psi_hi)


def box_fraction(phi, psi, box):
    return np.mean(in_box(phi, psi, box))


def dihedral(p0, p1, p2, p3):
    """IUPAC dihedral in radians, arrays (frames, 3)."""
    b1, b2, b3 = p1 - p0, p2 - p1, p3 - p2
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    y = np.linalg.norm(b2, axis=-1) * np.einsum("ij,ij->i", b1, n2)
    return np.arctan2(y, np.einsum("ij,ij->i", n1, n2))


def angle_deg(x, i, j, k):
    u, v = x[:, i] - x[:, j], x[:, k] - x[:, j]
    cos = np.einsum("ij,ij->i", u, v) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    return np.degrees(np.arccos(cos))


class ShippedAla2Dataset(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(DATASET):
            raise AssertionError(f"{DATASET} missing: run datasets/ala2/make_dataset.sh")
        cls.file = h5py.File(DATASET, "r")
        cg = cls.file["particles/cg"]
        cls.pos = cg["position/value"][()].astype(np.float64)
        cls.force = cg["force/value"][()].astype(np.float64)
        cls.phi = cls.file["observables/phi/value"][()]
        cls.psi = cls.file["observables/psi/value"][()]
        cls.phi_deg, cls.psi_deg = np.degrees(cls.phi), np.degrees(cls.psi)

    @classmethod
    def tearDownClass(cls):
        cls.file.close()

    def test_size_and_frame_count(self):
        self.assertLessEqual(os.path.getsize(DATASET), MAX_BYTES)
        self.assertGreaterEqual(len(self.pos), MIN_FRAMES)
        self.assertEqual(self.pos.shape, (len(self.pos), 6, 3))
        self.assertEqual(self.force.shape, self.pos.shape)
        self.assertTrue(np.isfinite(self.pos).all() and np.isfinite(self.force).all())

    def test_h5md_header(self):
        h5md = self.file["h5md"]
        self.assertEqual(list(h5md.attrs["version"]), [1, 1])
        self.assertEqual(h5md.attrs["version"].dtype, np.int32)
        self.assertTrue(h5md["author"].attrs["name"])
        self.assertTrue(h5md["creator"].attrs["name"] and h5md["creator"].attrs["version"])
        box = self.file["particles/cg/box"]
        self.assertEqual(int(box.attrs["dimension"]), 3)
        self.assertEqual([b.decode() for b in box.attrs["boundary"]], ["none"] * 3)

    def test_time_series_units_steps_and_filters(self):
        n = len(self.pos)
        series = {"particles/cg/position": "Angstrom",
                  "particles/cg/force": "kcal mol-1 Angstrom-1",
                  "observables/phi": "rad", "observables/psi": "rad",
                  "observables/trajectory": None}
        step0 = self.file["particles/cg/position/step"][()]
        self.assertTrue(np.all(np.diff(step0) > 0), "steps must increase (H5MD)")
        for path, unit in series.items():
            group = self.file[path]
            self.assertEqual(group["value"].attrs.get("unit"), unit, path)
            self.assertEqual(len(group["value"]), n, path)
            self.assertEqual(group["step"].dtype, np.int64, path)
            np.testing.assert_array_equal(group["step"][()], step0, path)
            self.assertEqual(group["time"].attrs["unit"], "ps", path)
            np.testing.assert_allclose(group["time"][()], step0 * 1e-3, rtol=1e-12)
        for path in ("particles/cg/position/value", "particles/cg/force/value"):
            dset = self.file[path]
            self.assertIn(dset.dtype, (np.float32, np.float64))
            self.assertEqual((dset.compression, dset.compression_opts, dset.shuffle),
                             ("gzip", 9, True), path)

    def test_connectivity_names_and_provenance(self):
        bonds = self.file["connectivity/cg_bonds"]
        self.assertEqual(bonds.dtype, np.int32)
        self.assertEqual([tuple(b) for b in bonds[()]], list(BONDS))
        self.assertEqual(bonds.attrs["particles_group"], "/particles/cg")
        names = self.file["parameters/cgdml/bead_names"]
        self.assertEqual(names.dtype.kind, "S", "fixed-length strings")
        self.assertEqual([b.decode() for b in names[()]], BEAD_NAMES)
        attrs = self.file["parameters/cgdml"].attrs
        self.assertEqual(attrs["force_field"], "amber99sbildn.xml")
        self.assertEqual(attrs["temperature_K"], 300.0)
        self.assertEqual(len(attrs["integrator_seeds"]), attrs["n_trajectories"])

    def test_trajectory_ids_split_frames_evenly(self):
        traj = self.file["observables/trajectory/value"][()]
        n_traj = int(self.file["parameters/cgdml"].attrs["n_trajectories"])
        ids, counts = np.unique(traj, return_counts=True)
        np.testing.assert_array_equal(ids, np.arange(n_traj))
        self.assertTrue(np.all(counts == len(traj) // n_traj))
        self.assertTrue(np.all(np.diff(traj) >= 0), "trajectories are stored one after another")

    def test_bond_lengths(self):
        for (i, j), (r0, spring) in BONDS.items():
            r = np.linalg.norm(self.pos[:, i] - self.pos[:, j], axis=1)
            with self.subTest(bond=(BEAD_NAMES[i], BEAD_NAMES[j])):
                self.assertAlmostEqual(r.mean(), r0, delta=BOND_MEAN_TOL)
                self.assertGreater(r.min(), BOND_RANGE[0])
                self.assertLess(r.max(), BOND_RANGE[1])
                expected_std = np.sqrt(KT / spring)
                self.assertAlmostEqual(r.std() / expected_std, 1.0, delta=BOND_STD_REL_TOL)

    def test_bond_angles(self):
        for (i, j, k), theta0 in ANGLES.items():
            theta = angle_deg(self.pos, i, j, k)
            with self.subTest(angle=(i, j, k)):
                self.assertAlmostEqual(theta.mean(), theta0, delta=ANGLE_MEAN_TOL)
                self.assertGreater(theta.min(), ANGLE_RANGE[0])
                self.assertLess(theta.max(), ANGLE_RANGE[1])

    def test_alpha_carbon_is_L(self):
        """(N - CA) . ((C - CA) x (CB - CA)) > 0 in every frame: CA is an S centre."""
        n, cb, c = (self.pos[:, b] - self.pos[:, 2] for b in (1, 3, 4))
        volume = np.einsum("ij,ij->i", n, np.cross(c, cb))
        self.assertTrue(np.all(volume > 0))

    def test_stored_dihedrals_match_positions(self):
        for name, beads, stored in (("phi", (0, 1, 2, 4), self.phi),
                                    ("psi", (1, 2, 4, 5), self.psi)):
            recomputed = dihedral(*(self.pos[:, b] for b in beads))
            diff = np.angle(np.exp(1j * (recomputed - stored)))
            with self.subTest(name):
                self.assertLess(np.abs(diff).max(), 1e-4)
                self.assertTrue(np.all((stored >= -np.pi) & (stored < np.pi)))

    def test_basin_populations(self):
        alpha_r = box_fraction(self.phi_deg, self.psi_deg, ALPHA_R)
        beta = sum(box_fraction(self.phi_deg, self.psi_deg, b) for b in BETA_PPII)
        alpha_l = box_fraction(self.phi_deg, self.psi_deg, ALPHA_L)
        self.assertGreater(alpha_r, MIN_POPULATION["alpha_R"])
        self.assertGreater(beta, MIN_POPULATION["beta_PPII"])
        self.assertGreater(alpha_l, MIN_POPULATION["alpha_L"])
        self.assertLess(alpha_l, MAX_ALPHA_L)

    def test_alpha_r_peak_position(self):
        sel = in_box(self.phi_deg, self.psi_deg, ALPHA_R)
        hist, phi_edges, psi_edges = np.histogram2d(self.phi_deg[sel], self.psi_deg[sel],
                                                    bins=36, range=ALPHA_R)
        i, j = np.unravel_index(np.argmax(hist), hist.shape)
        peak = (phi_edges[i:i + 2].mean(), psi_edges[j:j + 2].mean())
        self.assertLess(np.hypot(peak[0] - ALPHA_R_CENTRE[0], peak[1] - ALPHA_R_CENTRE[1]),
                        ALPHA_R_CENTRE_TOL, f"alpha_R peak at {peak}")

    def test_phi_distribution_is_not_mirror_symmetric(self):
        """L-alanine: phi < 0 dominates; a mirror-symmetric model would give 50/50."""
        self.assertGreater(np.mean(self.phi < 0), MIN_PHI_NEGATIVE)

    def test_force_label_statistics(self):
        var = self.force.var(axis=0)
        self.assertTrue(np.all(var > FORCE_VARIANCE_RANGE[0]), var)
        self.assertTrue(np.all(var < FORCE_VARIANCE_RANGE[1]), var)
        mean_over_std = np.abs(self.force.mean(axis=0)) / np.sqrt(var)
        self.assertTrue(np.all(mean_over_std < FORCE_MEAN_OVER_STD), mean_over_std)


if __name__ == "__main__":
    unittest.main()
