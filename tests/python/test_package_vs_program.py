"""test_package_vs_program.py - the Python package and the cgdml program give the
same results on the same inputs.

Each test runs a command of the program and the package's equivalent on the same
files (a 5,000-frame subset of the shipped alanine dipeptide data) and compares
the outputs exactly: model files dataset by dataset and attribute by attribute,
predicted forces and energies bit for bit, trajectories and landscapes
bit for bit.  Both call the same library functions in the same order, so any
difference is a bug of the package.
"""
import os
import shutil
import tempfile
import unittest

import h5py
import numpy as np

from package_helpers import ALA2, cgdml, run_cgdml

ENSEMBLE = dict(members=4, n_train=40, sigma1_grid=[0.5, 1.0], sigma2_grid=[0.5, 1.0],
                lambda_=1e-3, mean_set=60, folds=2, lambda2_rel_grid=[1e-4, 1e-2])
ENSEMBLE_ARGS = ["--members", 4, "--n-train", 40, "--sigma1-grid", "0.5,1", "--sigma2-grid",
                 "0.5,1", "--lambda", 1e-3, "--mean-set", 60, "--cv", 2,
                 "--lambda2-rel-grid", "1e-4,1e-2"]
SIMULATE = dict(replicas=6, steps=400, save_every=40, seed=5)
SIMULATE_ARGS = ["--replicas", 6, "--steps", 400, "--save-every", 40, "--seed", 5]


def assert_same_h5(test, a, b):
    """Every dataset and attribute of HDF5 file a equals b's (NaN equal to NaN)."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        test.assertEqual(sorted(names_a), sorted(names_b))
        for name in [""] + names_a:
            oa, ob = (fa[name], fb[name]) if name else (fa, fb)
            if isinstance(oa, h5py.Dataset):
                x, y = oa[()], ob[()]
                test.assertEqual(x.dtype, y.dtype, name)
                if x.dtype.kind == "f":
                    np.testing.assert_array_equal(x, y, err_msg=name)
                else:
                    test.assertTrue(np.array_equal(x, y), name)
            test.assertEqual(sorted(oa.attrs), sorted(ob.attrs), name)
            for k in oa.attrs:
                va, vb = np.asarray(oa.attrs[k]), np.asarray(ob.attrs[k])
                if va.dtype.kind == "f":
                    np.testing.assert_array_equal(va, vb, err_msg=f"{name}@{k}")
                else:
                    test.assertTrue(np.array_equal(va, vb), f"{name}@{k}: {va} != {vb}")


class PackageMatchesProgram(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cgdml-pkg-")
        cls.data = os.path.join(cls.tmp, "sub.h5")
        with cgdml.Dataset.load(ALA2) as full, full.subset(np.arange(0, 100000, 20)) as sub:
            sub.save(cls.data)
        cls.ds = cgdml.Dataset.load(cls.data)
        # The program's ensemble, which the simulation and landscape tests use.
        cls.ens = os.path.join(cls.tmp, "prog_ens.h5")
        run_cgdml("ensemble", "--data", cls.data, *ENSEMBLE_ARGS, "-o", cls.ens)

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()
        shutil.rmtree(cls.tmp)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_ensemble_partition_of_the_frames_left_by_exclude(self):
        """draw="partition" with exclude= is --draw partition --exclude FILE: the same
        files; the 4 members split the 160 frames left into disjoint blocks, and
        neither they nor the mean set use an excluded frame; 5 members are refused."""
        pool = np.asarray(cgdml.random_frames(5000, 160, 7))
        held = np.setdiff1d(np.arange(5000), pool)
        np.savetxt(self.path("held.txt"), held, fmt="%d")
        args = dict(members=4, n_train=40, sigma1=0.5, sigma2=0.5, lambda_=1e-3, mean_set=30)
        run_cgdml("ensemble", "--data", self.data, "--members", 4, "--n-train", 40,
                  "--sigma1", 0.5, "--sigma2", 0.5, "--lambda", 1e-3, "--mean-set", 30,
                  "--draw", "partition", "--exclude", self.path("held.txt"),
                  "-o", self.path("prog_part.h5"))
        with cgdml.ensemble(self.data, draw="partition", exclude=held, **args) as ens:
            self.assertEqual(ens.strata.n_pool, 160)
            used = np.concatenate([m.train_indices for m in ens.members])
            self.assertEqual(sorted(used), sorted(pool))  # disjoint, and all of the pool
            self.assertFalse(np.isin(ens.mean_set, held).any())
            self.assertTrue((ens.strata.stratum_of[held] == cgdml.layers.STRATUM_NONE).all())
            ens.save(self.path("py_part.h5"))
        assert_same_h5(self, self.path("prog_part.h5"), self.path("py_part.h5"))
        assert_same_h5(self, self.path("prog_part.average.h5"), self.path("py_part.average.h5"))
        args["members"] = 5
        with self.assertRaisesRegex(cgdml.errors.InvalidError,
                                    "5 members of 40 frames needs 200 frames; the pool has 160"):
            cgdml.ensemble(self.data, draw="partition", exclude=held, **args)

    def test_strata_partition_blocks_and_exclusion(self):
        """Strata.exclude and partition_block are the library's: blocks of one seed are
        disjoint, come from the pool only, and member_frames(draw="partition") is
        block k."""
        with cgdml.layers.Strata.phi_psi(self.ds) as st:
            n_strata = st.n_strata
            st.exclude(np.arange(0, 5000, 2))
            self.assertEqual(st.n_pool, 2500)
            self.assertLessEqual(st.n_strata, n_strata)
            blocks = [st.partition_block(500, b, seed=3) for b in range(5)]
            every = np.concatenate(blocks)
            self.assertEqual(sorted(every), list(range(1, 5000, 2)))
            np.testing.assert_array_equal(
                cgdml.layers.member_frames(st, 2, 5, 500, seed=3, draw="partition"), blocks[2])
            with self.assertRaises(cgdml.errors.InvalidError):
                st.partition_block(500, 5, seed=3)

    def test_train_predict_and_eval(self):
        run_cgdml("train", "--data", self.data, "--n-train", 100, "--seed", 3, "--sigma", 1,
                  "--lambda", 1e-3, "-o", self.path("prog_m.h5"))
        m = cgdml.Model.train(self.ds, sigma=1.0, lambda_=1e-3, n_train=100, seed=3)
        self.assertEqual(m.train_stats.precision, "mixed")  # auto at this ridge, as the program
        m.save(self.path("py_m.h5"))
        assert_same_h5(self, self.path("prog_m.h5"), self.path("py_m.h5"))

        frames = np.arange(7, 5000, 97)
        np.savetxt(self.path("idx.txt"), frames, fmt="%d")
        run_cgdml("predict", "--model", self.path("prog_m.h5"), "--data", self.data, "--indices",
                  self.path("idx.txt"), "-o", self.path("f.npy"), "--energies", self.path("e.npy"))
        want_f, want_e = np.load(self.path("f.npy")), np.load(self.path("e.npy"))
        with cgdml.Model.load(self.path("prog_m.h5")) as loaded:
            f, e = loaded.predict(self.ds, energies=True, indices=frames)
            np.testing.assert_array_equal(f, want_f)
            np.testing.assert_array_equal(e, want_e)
            f2 = loaded.predict(self.ds.positions[frames])  # arrays in, same numbers out
            np.testing.assert_array_equal(f2, want_f)
        np.testing.assert_array_equal(m.predict(self.ds, indices=frames), want_f)

        out = run_cgdml("eval", "--model", self.path("prog_m.h5"), "--data", self.data,
                        "--held-out").stdout
        err = m.evaluate(self.ds, held_out=True)
        self.assertIn(f"frames {err.n_frames}\n", out)
        self.assertIn(f"force MSE {err.mse:.6g} ", out)
        self.assertIn(f"force MAE {err.mae:.6g} ", out)
        self.assertIn(f"relative MSE {err.relative_mse:.6g}\n", out)
        self.assertEqual(err.n_frames, 4900)

    def test_ensemble(self):
        ckpt = self.path("py_ens.h5.members")
        with self.assertWarns(UserWarning):  # a best sigma on a grid edge, as the program warns
            ens = cgdml.ensemble(self.data, checkpoint=ckpt, **ENSEMBLE)
        with ens:
            self.assertEqual(len(ens.members), 4)
            self.assertEqual(ens.distilled.kind, "distilled")
            self.assertEqual(ens.average.n_train, 4 * 40)
            table = ens.distilled.cv_table
            self.assertEqual(table.shape, (6, 7))  # 2 sigma1; 2 sigma2 x 2 lambda2
            # the distilled model's ridge is the best layer-2 row's
            rows2 = [r for r in table if r[0] == 2]
            self.assertEqual(ens.distilled.lambda_, min(rows2, key=lambda r: r[3])[2])
            self.assertEqual(ens.lambda2, ens.distilled.lambda_)
            # layer-1 rows carry the binned error (the program's file must match it)
            self.assertTrue(all(np.isfinite(r[6]) for r in table if r[0] == 1))
            # ensemble() is the library call the program makes: identical forces
            for mine, theirs in ((ens.distilled, self.ens),
                                 (ens.average, self.path("prog_ens.average.h5"))):
                with cgdml.Model.load(theirs) as m:
                    np.testing.assert_array_equal(mine.predict(self.ds), m.predict(self.ds))
            ens.save(self.path("py_ens.h5"))
        self.assertFalse(os.path.exists(ckpt))  # removed once saved, as the program does
        assert_same_h5(self, self.ens, self.path("py_ens.h5"))
        assert_same_h5(self, self.path("prog_ens.average.h5"), self.path("py_ens.average.h5"))

    def test_simulate_and_fes(self):
        prog_traj, py_traj = self.path("prog_traj.h5"), self.path("py_traj.h5")
        run_cgdml("simulate", "--model", self.ens, "--data", self.data, *SIMULATE_ARGS,
                  "-o", prog_traj)
        with cgdml.Model.load(self.ens) as m:
            traj = cgdml.simulate(m, self.ds, **SIMULATE)
            self.assertEqual(traj.coords.shape, (10, 6, 6, 3))
            self.assertEqual(traj.alive_count, 6)
            traj.save(py_traj)
        assert_same_h5(self, prog_traj, py_traj)
        with cgdml.Dataset.load(py_traj, check=False) as t:  # frames [saved][replica]
            np.testing.assert_array_equal(t.positions.reshape(traj.coords.shape), traj.coords)
        phi, _ = traj.angles()
        np.testing.assert_array_equal(phi.ravel(), t_phi(py_traj))
        traj.close()

        run_cgdml("fes", "--traj", prog_traj, "--reference", self.data, "--burn-in", 80,
                  "-o", self.path("prog_fes.h5"))
        with cgdml.fes(prog_traj, reference=self.ds, burn_in=80) as r:
            r.save(self.path("py_fes.h5"))
            self.assertTrue(np.isfinite(r.vs.mse) and r.matched.blocks == 6)
        assert_same_h5(self, self.path("prog_fes.h5"), self.path("py_fes.h5"))
        run_cgdml("fes", "--traj", prog_traj, "-o", self.path("prog_fes0.h5"))
        with cgdml.fes(prog_traj) as r:
            r.save(self.path("py_fes0.h5"))
        assert_same_h5(self, self.path("prog_fes0.h5"), self.path("py_fes0.h5"))

    def test_fes_reference(self):
        out = run_cgdml("fes-reference", "--data", self.data, "-o", self.path("prog_ref.h5"))
        ref = cgdml.reference_landscape(self.ds)
        ref.save(self.path("py_ref.h5"))
        assert_same_h5(self, self.path("prog_ref.h5"), self.path("py_ref.h5"))
        self.assertIn(f"floor (first half vs second half) {ref.floor.mse:.4f} kT^2", out.stdout)
        with h5py.File(self.path("prog_ref.h5"), "r") as f:
            np.testing.assert_array_equal(f["/fes/edges"][()], ref.landscape.edges)
        ref.close()

    def test_synthetic_and_import(self):
        run_cgdml("synthetic", "--beads", 5, "--frames", 30, "--noise", 0.5, "--seed", 4,
                  "-o", self.path("prog_toy.h5"))
        with cgdml.Dataset.synthetic(beads=5, frames=30, noise=0.5, seed=4) as toy:
            toy.save(self.path("py_toy.h5"))
            np.save(self.path("x.npy"), toy.positions.astype(np.float32))
            np.save(self.path("f.npy"), toy.forces)
        assert_same_h5(self, self.path("prog_toy.h5"), self.path("py_toy.h5"))
        names = ["C", "N", "CA", "C", "N"]
        run_cgdml("import", "--coords", self.path("x.npy"), "--forces", self.path("f.npy"),
                  "--names", ",".join(names), "-o", self.path("prog_imp.h5"))
        with cgdml.Dataset.from_npy(self.path("x.npy"), self.path("f.npy"), names) as d:
            d.save(self.path("py_imp.h5"))
            self.assertEqual(d.bead_names, names)
        assert_same_h5(self, self.path("prog_imp.h5"), self.path("py_imp.h5"))


def t_phi(path):
    with h5py.File(path, "r") as f:
        return f["/observables/phi/value"][()]


if __name__ == "__main__":
    unittest.main()
