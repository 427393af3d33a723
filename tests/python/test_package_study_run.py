"""test_package_study_run.py - cgdml.study() and cgdml.run() against `cgdml study`
and `cgdml run` on the same inputs.

On a 5,000-frame subset of the shipped alanine dipeptide data: the package's study
writes the same results CSV as the program with the same options, row for row
(timing and memory columns aside), and returns the rows it wrote; it resumes from
its CSV as the program does; a refusal of the library is an exception carrying
its message.  The pipeline call on a tiny size gives the landscape numbers of
`cgdml run` (fes.h5's attributes) exactly.
"""
import csv
import math
import os
import shutil
import tempfile
import unittest

import h5py
import numpy as np

from package_helpers import ALA2, cgdml, run_cgdml

STUDY = dict(sizes=[100], repeats=1, methods=["single", "average", "distilled", "prior-only"],
             members=2, mean_set=50, replicas=4, steps=300, sigma_grid=[1.0], lambda_rel=1e-3,
             lambda2_rel=1e-4, solver="cg")
STUDY_ARGS = ["--sizes", 100, "--repeats", 1, "--methods", "single,average,distilled,prior-only",
              "--members", 2, "--mean-set", 50, "--replicas", 4, "--steps", 300,
              "--sigma-grid", 1, "--lambda-rel", 1e-3, "--lambda2-rel", 1e-4, "--solver", "cg"]
RUN = dict(members=2, n_train=100, mean_set=50, replicas=4, steps=600, save_every=20, seed=3)
RUN_ARGS = ["--members", 2, "--n-train", 100, "--mean-set", 50, "--replicas", 4, "--steps", 600,
            "--save-every", 20, "--seed", 3]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without_timings(rows):
    return [{k: v for k, v in r.items() if k not in cgdml.pipeline.TIMING_COLUMNS}
            for r in rows]


class StudyMatchesProgram(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cgdml-study-")
        cls.data = os.path.join(cls.tmp, "sub.h5")
        with cgdml.Dataset.load(ALA2) as full, full.subset(np.arange(0, 100000, 20)) as sub:
            sub.save(cls.data)
        run_cgdml("study", "--data", cls.data, *STUDY_ARGS, "-o", os.path.join(cls.tmp, "prog"))
        cls.program = read_csv(os.path.join(cls.tmp, "prog", "results.csv"))
        cls.csv = os.path.join(cls.tmp, "pkg.csv")
        cls.rows = cgdml.study(cls.data, results=cls.csv, **STUDY)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_same_rows_as_the_program(self):
        package = read_csv(self.csv)
        self.assertEqual(len(self.program), 4)
        self.assertEqual([r["method"] for r in package],
                         ["single", "average", "distilled", "prior-only"])
        self.assertEqual(without_timings(package), without_timings(self.program))

    def test_returned_rows_are_the_csv_rows(self):
        self.assertEqual([(r.size, r.repeat, r.method) for r in self.rows],
                         [(100, 0, m) for m in STUDY["methods"]])
        for row, line in zip(self.rows, read_csv(self.csv)):
            self.assertEqual(f"{row.vs.mse:.6g}", line["landscape_mse_kT2"])
            self.assertEqual(f"{row.force_mse:.6g}", line["force_mse_heldout"])
            self.assertEqual(f"{row.floor:.6g}", line["floor_kT2"])
            self.assertEqual(f"{row.matched.floor:.6g}", line["matched_floor_kT2"])
            self.assertEqual(row.stopped, int(line["stopped_replicas"]))
            self.assertEqual(f"{row.lambda_:.6g}", line["lambda"])
        # λ relative to the kernel diagonal 5/(3σ²) at σ = 1: 1e-3 of it for the
        # single model and the members, 1e-4 for the distilled model.
        np.testing.assert_allclose([r.lambda_ for r in self.rows[:3]],
                                   [1e-3 * 5 / 3, 1e-3 * 5 / 3, 1e-4 * 5 / 3], rtol=1e-14)
        prior_only = self.rows[-1]
        self.assertTrue(math.isnan(prior_only.sigma))
        self.assertEqual(self.rows[0].sigma, 1.0)
        # The methods make different models (at 100 frames none beats the prior's
        # held-out force MSE by much: the labels are noisy instantaneous forces).
        self.assertEqual(len({r.force_mse for r in self.rows}), 4)
        self.assertTrue(all(400 < r.force_mse < 600 for r in self.rows))
        self.assertTrue(all(np.isfinite(r.vs.mse) and r.vs.mse >= 0 for r in self.rows))

    def test_resumes_from_its_results(self):
        path = os.path.join(self.tmp, "resume.csv")
        shutil.copy(self.csv, path)
        with open(path) as f:
            lines = f.readlines()
        with open(path, "w") as f:
            f.writelines(lines[:-1])  # the prior-only row is missing
        rows = cgdml.study(self.data, results=path, **STUDY)
        self.assertEqual([r.method for r in rows], ["prior-only"])
        self.assertEqual(without_timings(read_csv(path)), without_timings(read_csv(self.csv)))

    def test_refusals_are_exceptions(self):
        with self.assertRaises(cgdml.InvalidError) as cm:
            cgdml.study(self.data, **dict(STUDY, members=1))
        self.assertIn("members", str(cm.exception))
        other = os.path.join(self.tmp, "other.csv")
        with open(other, "w") as f:
            f.write("not,a,study\n1,2,3\n")
        with self.assertRaises(cgdml.FormatError):
            cgdml.study(self.data, results=other, **STUDY)
        with self.assertRaises(ValueError):
            cgdml.study(self.data, **dict(STUDY, methods=["best"]))
        with self.assertRaises(ValueError) as cm:
            cgdml.study(self.data, **dict(STUDY, lambda_=1e-3))
        self.assertIn("lambda_ or lambda_rel, not both", str(cm.exception))
        with self.assertRaises(ValueError):
            cgdml.study(self.data, **dict(STUDY, solver="lu"))


class RunMatchesProgram(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cgdml-run-")
        cls.data = os.path.join(cls.tmp, "sub.h5")
        with cgdml.Dataset.load(ALA2) as full, full.subset(np.arange(0, 100000, 20)) as sub:
            sub.save(cls.data)
        cls.out = os.path.join(cls.tmp, "prog")
        run_cgdml("run", "--data", cls.data, *RUN_ARGS, "-o", cls.out)
        cls.result = cgdml.run(cls.data, **RUN)

    @classmethod
    def tearDownClass(cls):
        cls.result.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_same_landscape_as_the_program(self):
        r = self.result.landscape
        with h5py.File(os.path.join(self.out, "fes.h5"), "r") as f:
            np.testing.assert_array_equal(f["fes/free_energy"][()], r.landscape.free_energy)
            np.testing.assert_array_equal(f["fes/count"][()], r.landscape.count)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "fes.h5")
            r.save(path)
            with h5py.File(path, "r") as mine, \
                    h5py.File(os.path.join(self.out, "fes.h5"), "r") as prog:
                self.assertEqual(sorted(mine["fes"].attrs), sorted(prog["fes"].attrs))
                for k in prog["fes"].attrs:
                    np.testing.assert_array_equal(np.asarray(mine["fes"].attrs[k]),
                                                  np.asarray(prog["fes"].attrs[k]), err_msg=k)
        self.assertTrue(np.isfinite(r.vs.mse) and r.vs.mse > 0)
        self.assertGreater(r.vs.joint_bins, 10)
        self.assertAlmostEqual(r.floor, self.result.reference.floor.mse, places=12)

    def test_assess_is_fes_and_the_run(self):
        traj = os.path.join(self.out, "traj.h5")  # the program's run, burn-in 600 / 3
        with cgdml.assess(traj, self.data, burn_in=200, seed=3) as a, \
                cgdml.fes(traj, reference=self.data, burn_in=200, seed=3) as f:
            for x in (f, self.result.landscape):
                self.assertEqual(a.vs, x.vs)
                self.assertEqual(a.halves, x.halves)
                self.assertEqual(a.matched, x.matched)
                self.assertEqual(a.floor, x.floor)
                np.testing.assert_array_equal(a.landscape.count, x.landscape.count)
        with cgdml.assess(traj, burn_in=200) as a:
            self.assertIsNone(a.vs)
            self.assertGreater(a.landscape.n_samples, 0)

    def test_stages_in_memory(self):
        res = self.result
        self.assertEqual(len(res.ensemble.members), 2)
        self.assertEqual(res.ensemble.sigma1, 0.25)
        self.assertEqual(res.ensemble.sigma2, 0.25)
        self.assertEqual(res.trajectory.n_replicas, 4)
        self.assertEqual(res.trajectory.n_saved, 30)
        self.assertEqual(res.reference.landscape.n_samples, 5000)
        self.assertEqual(set(res.seconds), {"reference", "ensemble", "simulation", "landscape"})
        prog = cgdml.Model.load(os.path.join(self.out, "model.h5"))
        x = res.reference.landscape  # noqa: F841  (alive)
        with cgdml.Dataset.load(self.data) as d:
            np.testing.assert_array_equal(prog.predict(d.positions[:5]),
                                          res.ensemble.distilled.predict(d.positions[:5]))

    def test_small_members_by_cholesky_as_the_program(self):
        """solver/draw reach layer 1 as --solver/--draw do: the paper's stratified
        members by Cholesky give the program's model, and another one than CG's."""
        out = os.path.join(self.tmp, "chol")
        run_cgdml("run", "--data", self.data, *RUN_ARGS, "--solver", "cholesky",
                  "--draw", "stratified", "-o", out)
        with cgdml.run(self.data, solver="cholesky", draw="stratified", **RUN) as res, \
                cgdml.Dataset.load(self.data) as d:
            prog = cgdml.Model.load(os.path.join(out, "model.h5"))
            mine = res.ensemble.distilled.predict(d.positions[:5])
            np.testing.assert_array_equal(prog.predict(d.positions[:5]), mine)
            cg = self.result.ensemble.distilled.predict(d.positions[:5])
            self.assertGreater(np.abs(mine - cg).max(), 1e-3)
        with self.assertRaises(ValueError):
            cgdml.run(self.data, solver="lu", **RUN)
        with self.assertRaises(ValueError):
            cgdml.run(self.data, draw="sorted", **RUN)


if __name__ == "__main__":
    unittest.main()
