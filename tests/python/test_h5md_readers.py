"""test_h5md_readers.py - files written by cgdml open in other H5MD readers.

MDAnalysis's H5MDReader (Debian's python3-mdanalysis) reads a dataset that the
cgdml program writes, with the right shape, units and values.  Run by `make test`
(CGDML_BIN names the program).
"""
import os
import subprocess
import tempfile
import unittest
import warnings

import h5py
import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from MDAnalysis.coordinates.H5MD import H5MDReader


class MDAnalysisReadsCgdmlFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "toy.h5")
        cgdml = os.environ.get("CGDML_BIN", "build/cgdml")
        subprocess.run([cgdml, "synthetic", "--frames", "40", "--beads", "5", "-o", self.path],
                       check=True, capture_output=True)

    def tearDown(self):
        self.tmp.cleanup()

    def test_positions_forces_and_units(self):
        reader = H5MDReader(self.path, convert_units=False)
        self.assertEqual(reader.n_frames, 40)
        self.assertEqual(reader.n_atoms, 5)
        self.assertEqual(reader.units["length"], "Angstrom")
        self.assertEqual(reader.units["force"], "kcal/(mol*Angstrom)")
        with h5py.File(self.path, "r") as f:
            x = f["/particles/cg/position/value"][17]
            g = f["/particles/cg/force/value"][17]
        ts = reader[17]
        self.assertTrue(ts.has_forces)
        # MDAnalysis keeps float32: agreement to its precision.
        np.testing.assert_allclose(ts.positions, x, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(ts.forces, g, rtol=1e-6, atol=1e-4)
        reader.close()

    def test_simulation_trajectory_opens(self):
        cgdml = os.environ.get("CGDML_BIN", "build/cgdml")
        toy6 = os.path.join(self.tmp.name, "toy6.h5")
        model = os.path.join(self.tmp.name, "m.h5")
        traj = os.path.join(self.tmp.name, "traj.h5")
        for args in (["synthetic", "--frames", "60", "-o", toy6],
                     ["train", "--data", toy6, "--n-train", "30", "--sigma", "0.5", "-o", model],
                     ["simulate", "--model", model, "--data", toy6, "--replicas", "4", "--steps",
                      "300", "--save-every", "100", "-o", traj]):
            subprocess.run([cgdml] + args, check=True, capture_output=True)
        reader = H5MDReader(traj, convert_units=False)
        self.assertEqual(reader.n_frames, 3 * 4)  # saved steps x replicas
        self.assertEqual(reader.n_atoms, 6)
        with h5py.File(traj, "r") as f:
            x = f["/particles/cg/position/value"][5]
        np.testing.assert_allclose(reader[5].positions, x, rtol=1e-6, atol=1e-5)
        reader.close()

    def test_unit_conversion_to_mdanalysis_base_units(self):
        reader = H5MDReader(self.path, convert_units=True)
        with h5py.File(self.path, "r") as f:
            g = f["/particles/cg/force/value"][3]
        # MDAnalysis's base force unit is kJ/(mol*Angstrom): 4.184 per kcal.
        np.testing.assert_allclose(reader[3].forces, 4.184 * g, rtol=1e-5, atol=1e-3)
        reader.close()


if __name__ == "__main__":
    unittest.main()
