"""The α_R population in blocks of steps of scripts/alpha_blocks.py (README, "One
model on all frames"): exact fractions on a hand-made trajectory file (φ < 0 and
−115° < ψ < 46°, stopped replicas' NaN rows left out, blocks by step), and on a
trajectory the program writes the same fraction as the dihedrals of its saved
positions."""
import importlib.util
import os
import tempfile
import unittest

import h5py
import numpy as np

from package_helpers import ALA2, run_cgdml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


alpha_blocks = load_script("alpha_blocks")
psi_profile = load_script("psi_profile")


def write_observables(path, step, phi, psi):
    with h5py.File(path, "w") as f:
        for name, v in (("phi", phi), ("psi", psi)):
            f[f"observables/{name}/step"] = np.asarray(step, dtype=np.int64)
            f[f"observables/{name}/value"] = np.radians(np.asarray(v, dtype=float))


class AlphaBlocks(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_fractions_per_block(self):
        path = os.path.join(self.tmp.name, "t.h5")
        # steps 100-200: block 1-200, 300-400: block 201-400; two replicas each save
        step = [100, 100, 200, 200, 300, 300, 400, 400]
        phi = [-60, -60, -70, -80, -60, 60, -60, np.nan]
        psi = [-40, 45, -114, 0, 140, -40, 47, np.nan]
        write_observables(path, step, phi, psi)
        rows = alpha_blocks.blocks(path, 200)
        self.assertEqual([(r[0], r[1], r[2]) for r in rows], [(1, 200, 4), (201, 400, 3)])
        self.assertEqual(rows[0][3], 1.0)  # all four inside the band
        self.assertEqual(rows[1][3], 0.0)  # β (ψ 140), φ > 0, ψ 47 just outside

    def test_program_trajectory_matches_its_dihedrals(self):
        model = os.path.join(self.tmp.name, "m.h5")
        traj = os.path.join(self.tmp.name, "traj.h5")
        run_cgdml("train", "--data", ALA2, "--n-train", 200, "--sigma", 0.5, "--lambda", 1e-3,
                  "--prior", "-o", model)
        run_cgdml("simulate", "--model", model, "--data", ALA2, "--replicas", 4, "--steps", 400,
                  "--save-every", 20, "--seed", 3, "-o", traj)
        rows = alpha_blocks.blocks(traj, 100)
        self.assertEqual([r[2] for r in rows], [20, 20, 20, 20])  # 5 saves x 4 replicas
        with h5py.File(traj, "r") as f:
            x = f["particles/cg/position/value"][:]
        phi, psi = psi_profile.dihedral(x, 0, 1, 2, 4), psi_profile.dihedral(x, 1, 2, 4, 5)
        want = alpha_blocks.alpha_fraction(phi, psi)
        got = sum(r[2] * r[3] for r in rows) / sum(r[2] for r in rows)
        self.assertAlmostEqual(got, want, places=12)
        self.assertGreater(want, 0.0)


if __name__ == "__main__":
    unittest.main()
