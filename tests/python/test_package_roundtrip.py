"""test_package_roundtrip.py - what the package writes, it (and h5py) reads back:
datasets, models, landscapes; and the ensemble's pieces called one by one give
what ensemble() gives."""
import os
import shutil
import tempfile
import unittest

import h5py
import numpy as np

from package_helpers import cgdml


class RoundTrips(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cgdml-pkg-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_dataset_from_arrays_save_load(self):
        rng = np.random.default_rng(1)
        with cgdml.Dataset.synthetic(beads=6, frames=25, seed=7) as toy:
            x, f = np.array(toy.positions), np.array(toy.forces)
        names = ["C", "N", "CA", "CB", "C", "N"]
        phi = rng.uniform(-np.pi, np.pi, 25)
        step = np.arange(25) * 1000
        with cgdml.Dataset.from_arrays(x.astype(np.float32), f, bead_names=names,
                                       bonds=[[0, 1], [1, 2], [2, 3], [2, 4], [4, 5]],
                                       observables={"phi": phi}, step=step,
                                       time=step * 1e-3) as d:
            d.save(self.path("d.h5"))
            h = d.hash
        with cgdml.Dataset.load(self.path("d.h5")) as back:
            np.testing.assert_array_equal(back.positions, x.astype(np.float32).astype(np.float64))
            np.testing.assert_array_equal(back.forces, f)
            self.assertEqual(back.bead_names, names)
            np.testing.assert_array_equal(back.bonds, [[0, 1], [1, 2], [2, 3], [2, 4], [4, 5]])
            np.testing.assert_array_equal(back.observables["phi"], phi)
            np.testing.assert_array_equal(back.step, step)
            np.testing.assert_array_equal(back.time, step * 1e-3)
            self.assertEqual(back.hash, h)
            self.assertEqual(cgdml.Dataset.frames_count(self.path("d.h5")), (25, 6))
            with back.subset([3, 1]) as sub:
                np.testing.assert_array_equal(sub.positions, back.positions[[3, 1]])
        with h5py.File(self.path("d.h5"), "r") as f5:  # the H5MD layout of docs/FORMATS.md
            self.assertEqual(f5["/particles/cg/force/value"].attrs["unit"],
                             "kcal mol-1 Angstrom-1")
        np.savez(self.path("s.npz"), R=x, F=f, z=np.array([6, 7, 6, 6, 6, 7]))
        with cgdml.Dataset.load(self.path("s.npz")) as s:
            self.assertEqual(s.bead_names, ["C", "N", "C", "C", "C", "N"])
            np.testing.assert_array_equal(s.forces, f)

    def test_model_save_load_predicts_the_same(self):
        with cgdml.Dataset.synthetic(beads=5, frames=60, noise=0.1, seed=3) as d:
            with cgdml.Model.train(d, sigma=0.5, lambda_=1e-6, n_train=30, seed=2) as m:
                f, e = m.predict(d, energies=True)
                m.save(self.path("m.h5"))
                self.assertTrue(cgdml.Model.is_model_file(self.path("m.h5")))
                idx = m.train_indices
            with cgdml.Model.load(self.path("m.h5")) as back:
                f2, e2 = back.predict(d, energies=True)
                np.testing.assert_array_equal(f2, f)
                np.testing.assert_array_equal(e2, e)
                np.testing.assert_array_equal(back.train_indices, idx)
                self.assertEqual((back.kind, back.sigma, back.lambda_), ("single", 0.5, 1e-6))
                self.assertIsNone(back.prior)
                self.assertEqual(back.dataset_hash, d.hash)

    def test_prior_on_model_and_alone(self):
        with cgdml.Dataset.synthetic(beads=6, frames=200, seed=5) as d:
            prior = cgdml.Prior.fit(d)  # the alanine topology, as the program's default
            np.testing.assert_array_equal(prior.bonds, cgdml.default_bonds(6))
            m = cgdml.Model.train(d, sigma=0.5, lambda_=1e-6, n_train=20)
            bare = m.predict(d.positions[:5])
            m.attach_prior(prior)
            e_prior, f_prior = prior.energy_forces(d.positions[:5])
            np.testing.assert_allclose(m.predict(d.positions[:5]), bare + f_prior, rtol=1e-12,
                                       atol=1e-9)
            copy = m.prior
            np.testing.assert_array_equal(copy.bond_k, prior.bond_k)
            np.testing.assert_array_equal(copy.angles, prior.angles)
            labels = prior.subtract(d, [0, 1])
            np.testing.assert_allclose(labels, d.forces[:2] - f_prior[:2], atol=1e-9)
            m.save(self.path("mp.h5"))
            with cgdml.Model.load(self.path("mp.h5")) as back:
                np.testing.assert_array_equal(back.prior.angle_theta0, prior.angle_theta0)

    def test_landscape_file(self):
        rng = np.random.default_rng(3)
        phi, psi = rng.vonmises(-1.3, 2.0, 4000), rng.vonmises(2.5, 1.0, 4000)
        with cgdml.Landscape.from_angles(phi, psi, bins=30) as a, \
                cgdml.Landscape.from_angles(phi[:2000], psi[:2000], bins=30) as b:
            c = a.compare(b)
            self.assertGreater(c.joint_bins, 100)
            a.save(self.path("l.h5"), floor=0.25, vs_reference=c)
            with h5py.File(self.path("l.h5"), "r") as f:
                np.testing.assert_array_equal(f["/fes/free_energy"][()], a.free_energy)
                np.testing.assert_array_equal(f["/fes/count"][()], a.count)
                self.assertEqual(f["/fes"].attrs["mse_kT2"], c.mse)
            self.assertEqual(a.n_samples, 4000)
            self.assertEqual(np.nanmin(a.free_energy), 0.0)
        self.assertGreater(cgdml.autocorrelation_time(np.repeat(rng.normal(size=50), 10)), 3)

    def test_ensemble_pieces_match_the_stage(self):
        with cgdml.Dataset.synthetic(beads=6, frames=300, noise=1.0, seed=9) as d:
            kw = dict(members=3, n_train=20, sigma1=0.5, sigma2=0.5, lambda_=1e-4, mean_set=10,
                      kmeans=12)
            with cgdml.ensemble(d, **kw) as ens:
                strata = cgdml.Strata.kmeans(d, 12, seed=1)
                self.assertEqual(strata.n_strata, ens.strata.n_strata)
                prior = cgdml.Prior.fit(d)
                members = cgdml.train_members(d, strata, prior, 3, 20, 0.5, 1e-4)
                np.testing.assert_array_equal(members[1].train_indices,
                                              cgdml.member_frames(strata, 1, 3, 20))
                avg = cgdml.average(members)
                mean = strata.draw(10, seed=1 + 3 + 1, kind="stratified_unique")
                np.testing.assert_array_equal(mean, ens.mean_set)
                distilled = cgdml.distill(avg, d, mean, 0.5, 1e-4)
                distilled.attach_prior(prior)
                np.testing.assert_array_equal(distilled.predict(d), ens.distilled.predict(d))
                labels = cgdml.label(avg, d, mean[:4])
                self.assertEqual(labels.shape, (4, 6, 3))
                table = cgdml.crossval_layer2(avg, d, mean, [0.25, 0.5], 1e-4, folds=3)
                self.assertEqual([p.sigma for p in table], [0.25, 0.5])
                self.assertEqual(cgdml.crossval_best(table),
                                 int(np.argmin([p.mse for p in table])))


if __name__ == "__main__":
    unittest.main()
