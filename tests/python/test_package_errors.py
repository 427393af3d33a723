"""test_package_errors.py - refusals, and who owns the memory.

Library refusals reach Python as cgdml.Error subclasses carrying the library's
message (the same text `cgdml` prints after "cgdml: error: " for the same input);
arrays of the wrong shape, dtype or size are refused by the package before any
pointer is passed; C objects are freed once, when their owner and every NumPy view
of them are gone.
"""
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

from package_helpers import ALA2, PYTHON_DIR, cgdml, run_cgdml


def toy(frames=20, beads=5, seed=2):
    return cgdml.Dataset.synthetic(beads=beads, frames=frames, seed=seed)


class LibraryRefusals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cgdml-pkg-")
        cls.data_path = os.path.join(cls.tmp, "toy.h5")
        cls.data = toy(40, 6)
        cls.data.save(cls.data_path)
        cls.model = cgdml.Model.train(cls.data, sigma=0.5, lambda_=1e-8, n_train=20)

    @classmethod
    def tearDownClass(cls):
        cls.model.close()
        cls.data.close()
        shutil.rmtree(cls.tmp)

    def assert_program_says(self, exc, *args):
        """The program, on the same input, fails with the same message."""
        r = run_cgdml(*args, check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"cgdml: error: {exc.message}\n", r.stderr)

    def test_nan_coordinates(self):
        x = np.array(self.data.positions)
        x[3, 2, 1] = np.nan
        with self.assertRaises(cgdml.NumericError) as cm:
            cgdml.Dataset.from_arrays(x, self.data.forces)
        self.assertEqual(cm.exception.message, "frame 3 bead 2: coordinate is nan")
        self.assertEqual(cm.exception.status, 5)
        self.assertIsInstance(cm.exception, ArithmeticError)
        with self.assertRaises(cgdml.NumericError) as cm:
            self.model.predict(x)
        self.assertEqual(str(cm.exception), "frame 3 bead 2: coordinate is nan")
        self.assertTrue(np.isnan(self.model.predict(x, check=False)[3]).all())

    def test_coinciding_beads_and_infinite_forces(self):
        x, f = np.array(self.data.positions), np.array(self.data.forces)
        x[1, 4] = x[1, 0]
        with self.assertRaisesRegex(cgdml.Error, "frame 1"):
            cgdml.Dataset.from_arrays(x, f)
        f[0, 0, 0] = np.inf
        with self.assertRaisesRegex(cgdml.Error, "frame 0 bead 0"):
            cgdml.Dataset.from_arrays(self.data.positions, f)

    def test_missing_and_wrong_files(self):
        missing = os.path.join(self.tmp, "no_such.h5")
        with self.assertRaises(cgdml.FileError) as cm:
            cgdml.Dataset.load(missing)
        self.assertIn(missing, cm.exception.message)
        self.assertIsInstance(cm.exception, OSError)
        self.assert_program_says(cm.exception, "info", missing)
        with self.assertRaises(cgdml.FileError):
            cgdml.Model.load(missing)
        with self.assertRaises(cgdml.FormatError) as cm:
            cgdml.Model.load(self.data_path)  # a dataset, not a model
        self.assertIn("not a cgdml model file", cm.exception.message)
        with self.assertRaises(cgdml.FormatError):
            cgdml.Dataset.load(os.path.join(os.path.dirname(ALA2), "README.md"))
        self.assertFalse(cgdml.Model.is_model_file(self.data_path))

    def test_impossible_hyperparameters(self):
        with self.assertRaises(cgdml.InvalidError) as cm:
            cgdml.Model.train(self.data, sigma=0.0, n_train=10)
        self.assertEqual(cm.exception.message, "sigma = 0: must be a positive number")
        self.assert_program_says(cm.exception, "train", "--data", self.data_path, "--n-train", 10,
                                 "--sigma", 0, "-o", os.path.join(self.tmp, "x.h5"))
        with self.assertRaises(cgdml.NumericError) as cm:
            cgdml.Model.train(self.data, sigma=0.5, lambda_=0.0, n_train=10)
        self.assertIn("without a ridge", cm.exception.message)
        self.assert_program_says(cm.exception, "train", "--data", self.data_path, "--n-train", 10,
                                 "--sigma", 0.5, "--lambda", 0,
                                 "-o", os.path.join(self.tmp, "x.h5"))
        with self.assertRaisesRegex(cgdml.InvalidError, "selected twice"):
            cgdml.Model.train(self.data, sigma=0.5, indices=[1, 2, 1])
        with self.assertRaisesRegex(cgdml.InvalidError, "out of range"):
            cgdml.Model.train(self.data, sigma=0.5, indices=[1, 40])
        with self.assertRaisesRegex(cgdml.InvalidError, "cannot draw 11 frames"):
            cgdml.random_frames(10, 11)
        with self.assertRaisesRegex(ValueError, "precision 'single'"):
            cgdml.Model.train(self.data, sigma=0.5, n_train=5, precision="single")
        with self.assertRaises(cgdml.MemoryBudgetError) as cm:
            cgdml.set_memory_budget("1M")
            try:
                cgdml.Model.train(self.data, sigma=0.5, n_train=40)
            finally:
                cgdml.set_memory_budget(None)
        self.assertIn("budget", cm.exception.message)
        self.assertGreater(cgdml.memory_budget(), 1 << 20)

    def test_bad_shapes_and_dtypes(self):
        good = np.array(self.data.positions)
        cases = [
            (lambda: cgdml.Dataset.from_arrays(good[..., :2], good[..., :2]),
             r"positions: expected shape \(frames, beads, 3\), got \(40, 6, 2\)"),
            (lambda: cgdml.Dataset.from_arrays(good, good[:, :5]),
             "forces: expected shape"),
            (lambda: cgdml.Dataset.from_arrays(good, good[:30]), "forces: expected the shape"),
            (lambda: cgdml.Dataset.from_arrays(good.astype(int), good), "int64"),
            (lambda: cgdml.Dataset.from_arrays(good + 0j, good), "complex128"),
            (lambda: self.model.predict(good[:, :5]), "the model has 6 beads, the array 5"),
            (lambda: self.model.predict(good[0, 0]), r"got \(3,\)"),
            (lambda: self.model.predict(np.zeros((0, 6, 3))), "at least one frame"),
            (lambda: cgdml.Dataset.from_arrays(good, good, bead_names=["A"] * 5),
             "5 names for 6 beads"),
            (lambda: cgdml.Dataset.from_arrays(good, good, bead_names=["X" * 32] * 6),
             "1 to 31 characters"),
            (lambda: cgdml.Dataset.from_arrays(good, good, bonds=[[0, 1, 2]]), r"\(bonds, 2\)"),
            (lambda: cgdml.Dataset.from_arrays(good, good, observables={"phi": np.zeros(39)}),
             "expected 40 values"),
            (lambda: self.model.predict(self.data, indices=[-1]), "non-negative"),
            (lambda: cgdml.Landscape.from_angles(np.zeros(5), np.zeros(4)), "expected 5 values"),
        ]
        for fn, pattern in cases:
            with self.subTest(pattern), self.assertRaisesRegex(ValueError, pattern):
                fn()
        # Strided and float32 inputs are accepted (copied to C-contiguous float64).
        f64 = self.model.predict(good)
        np.testing.assert_array_equal(self.model.predict(np.asfortranarray(good)), f64)
        np.testing.assert_array_equal(self.model.predict(good[::2]), f64[::2])
        self.assertEqual(self.model.predict(good[0]).shape, (6, 3))  # one frame
        # Bond indices are the library's to check.
        with self.assertRaisesRegex(cgdml.InvalidError, "bond"):
            cgdml.Dataset.from_arrays(good, good, bonds=[[0, 6]])


class Ownership(unittest.TestCase):
    def test_views_outlive_close_and_nothing_is_freed_twice(self):
        d = toy()
        freed = d._handle._free  # the finalizer; it holds no reference to the C object's owner
        x = d.positions
        self.assertFalse(x.flags.writeable)
        self.assertFalse(x.flags.owndata)
        expected = np.array(x)
        d.close()
        d.close()  # twice is fine
        self.assertTrue(freed.alive)  # the view keeps the C dataset
        np.testing.assert_array_equal(x, expected)
        with self.assertRaisesRegex(ValueError, "closed"):
            d.positions
        del x
        gc.collect()
        self.assertFalse(freed.alive)  # freed with the last view

    def test_context_manager_and_del_free_at_once(self):
        with toy() as d:
            freed = d._handle._free
        self.assertTrue(d.closed)
        self.assertFalse(freed.alive)
        m = cgdml.Model.train(toy(), sigma=0.5, n_train=10)
        freed = m._handle._free
        del m
        self.assertFalse(freed.alive)

    def test_copies_are_independent(self):
        with toy() as d:
            names, bonds = d.bead_names, d.bonds
            names[0] = "changed"
            self.assertNotEqual(d.bead_names[0], "changed")
            m = cgdml.Model.train(d, sigma=0.5, n_train=10)
        idx = m.train_indices
        idx[:] = 0
        self.assertNotEqual(list(m.train_indices), list(idx))
        self.assertEqual(bonds.shape, (0, 2))

    def test_library_not_found_is_clear(self):
        code = ("import cgdml\n"
                "try:\n    cgdml.Dataset.synthetic()\n"
                "except cgdml.LibraryNotFoundError as e:\n    print('REFUSED', e)\n")
        env = dict(os.environ, CGDML_LIB="/nonexistent/libcgdml.so", PYTHONPATH=PYTHON_DIR)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout
        self.assertIn("REFUSED cannot load libcgdml.so", out)
        self.assertIn("$CGDML_LIB: /nonexistent/libcgdml.so does not exist", out)
        self.assertIn("set CGDML_LIB", out)


if __name__ == "__main__":
    unittest.main()
