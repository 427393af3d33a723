"""The ψ profile of scripts/psi_profile.py (README, docs/method.md §6): on the
shipped data the labels' integrated torque reproduces the histogram's β well, and
the prior alone, whose bonds and angles exert no torque about the Cα–C axis, has
none."""
import importlib.util
import os
import unittest

import numpy as np

from package_helpers import ALA2, cgdml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    "psi_profile", os.path.join(ROOT, "scripts", "psi_profile.py"))
psi_profile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(psi_profile)


class PsiProfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with cgdml.Dataset.load(ALA2) as d:
            cls.x = np.asarray(d.positions)[::4]
            cls.f = np.asarray(d.forces)[::4]
        cls.p = psi_profile.Profile(cls.x)

    def test_labels_reproduce_the_histogram(self):
        hist = self.p.beta_depth(self.p.histogram())
        labels = self.p.beta_depth(self.p.integrated(self.f))
        self.assertGreater(hist, 1.5)  # the β well is there (2.15 kcal/mol on all frames)
        self.assertLess(abs(labels - hist), 0.4, f"labels {labels:.2f}, histogram {hist:.2f}")

    def test_prior_alone_has_no_well(self):
        with cgdml.Dataset.load(ALA2) as d:
            prior = cgdml.Prior.fit(d)
        _, f = prior.energy_forces(self.x[:5000])
        p = psi_profile.Profile(self.x[:5000])
        self.assertLess(abs(p.beta_depth(p.integrated(f))), 0.05)


if __name__ == "__main__":
    unittest.main()
