"""package_helpers.py - what the tests of the Python package share: the package
from this checkout (python/ on sys.path unless PYTHONPATH already gives one), the
program ($CGDML_BIN, default build/cgdml), the shipped dataset, and running the
program.  Not a test module (unittest discovers test_*.py only)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(ROOT, "python")
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

import cgdml  # noqa: E402  (after the path is set)

CGDML_BIN = os.environ.get("CGDML_BIN", os.path.join(ROOT, "build", "cgdml"))
ALA2 = os.path.join(ROOT, "datasets", "ala2_cg6.h5")


def run_cgdml(*args, check=True):
    """Run the program; return its CompletedProcess (stdout, stderr as text)."""
    r = subprocess.run([CGDML_BIN, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"cgdml {' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stderr}")
    return r


__all__ = ["ROOT", "cgdml", "CGDML_BIN", "ALA2", "run_cgdml"]
