"""test_package_ase.py - the ASE calculator: its forces are the program's predicted
forces converted from kcal/mol/Å to eV/Å, and they are minus the gradient of its
energy (central finite differences)."""
import os
import shutil
import tempfile
import unittest

import numpy as np

from package_helpers import ALA2, cgdml, run_cgdml

try:
    import ase
    import ase.units
    from cgdml.ase import KCAL_MOL_IN_EV, Calculator
except ImportError as e:  # python3-ase (scripts/deps.sh python installs it)
    raise unittest.SkipTest(f"ASE missing: {e}")


class AseCalculator(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cgdml-pkg-")
        cls.model_path = os.path.join(cls.tmp, "m.h5")
        cls.data_path = os.path.join(cls.tmp, "sub.h5")
        with cgdml.Dataset.load(ALA2) as full, full.subset(np.arange(0, 100000, 50)) as sub:
            sub.save(cls.data_path)
            cls.x = np.array(sub.positions[:8])
            # A model with its prior, as the ones that simulate: kernel part + prior.
            with cgdml.Model.train(sub, sigma=1.0, lambda_=1e-3, n_train=80, seed=2) as m, \
                    cgdml.Prior.fit(sub) as prior:
                m.attach_prior(prior)
                m.save(cls.model_path)
        np.savetxt(os.path.join(cls.tmp, "idx.txt"), np.arange(8), fmt="%d")
        run_cgdml("predict", "--model", cls.model_path, "--data", cls.data_path, "--indices",
                  os.path.join(cls.tmp, "idx.txt"), "-o", os.path.join(cls.tmp, "f.npy"),
                  "--energies", os.path.join(cls.tmp, "e.npy"))
        cls.forces = np.load(os.path.join(cls.tmp, "f.npy"))
        cls.energies = np.load(os.path.join(cls.tmp, "e.npy"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def atoms(self, i):
        return ase.Atoms("CNCCCN", positions=self.x[i])

    def test_units(self):
        self.assertAlmostEqual(KCAL_MOL_IN_EV, 0.0433641, places=6)
        self.assertAlmostEqual(KCAL_MOL_IN_EV, ase.units.kcal / ase.units.mol, places=15)

    def test_forces_and_energy_are_the_programs_in_ev(self):
        calc = Calculator(self.model_path)
        for i in range(len(self.x)):
            atoms = self.atoms(i)
            atoms.calc = calc
            np.testing.assert_allclose(atoms.get_forces(), self.forces[i] * KCAL_MOL_IN_EV,
                                       rtol=1e-14, atol=1e-14)
            self.assertAlmostEqual(atoms.get_potential_energy(),
                                   self.energies[i] * KCAL_MOL_IN_EV, places=10)

    def test_forces_are_minus_the_energy_gradient(self):
        atoms = self.atoms(3)
        atoms.calc = Calculator(cgdml.Model.load(self.model_path))
        forces = atoms.get_forces()
        h = 1e-5  # Å; central differences, error O(h²)
        numeric = np.zeros_like(forces)
        for b in range(len(atoms)):
            for k in range(3):
                e = []
                for sign in (1, -1):
                    moved = atoms.copy()
                    moved.calc = atoms.calc
                    p = moved.get_positions()
                    p[b, k] += sign * h
                    moved.set_positions(p)
                    e.append(moved.get_potential_energy())
                numeric[b, k] = -(e[0] - e[1]) / (2 * h)
        scale = np.abs(forces).max()
        np.testing.assert_allclose(numeric, forces, atol=1e-7 * scale)  # measured 3e-9
        self.assertGreater(scale, 0.1)  # eV/Å: a real force, not a trivial zero

    def test_refusals(self):
        calc = Calculator(self.model_path)
        atoms = ase.Atoms("CNCCC", positions=self.x[0][:5])
        atoms.calc = calc
        with self.assertRaisesRegex(ValueError, "5, the model has 6 beads"):
            atoms.get_forces()
        x = self.x[0].copy()
        x[4] = x[1]
        atoms = ase.Atoms("CNCCCN", positions=x)
        atoms.calc = calc
        with self.assertRaisesRegex(cgdml.Error, "bead"):
            atoms.get_potential_energy()


if __name__ == "__main__":
    unittest.main()
