"""test_package_install.py - `make install` installs the Python package where
Debian's /usr/bin/python3 finds it, and the installed package loads the installed
library (not the build tree's, and without CGDML_LIB)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from package_helpers import ROOT


def make(*args):
    # A clean environment for the nested make: no jobserver of an enclosing make.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(["make", "-C", ROOT, "--no-print-directory", *args], env=env,
                          capture_output=True, text=True, check=True).stdout


class MakeInstall(unittest.TestCase):
    def test_default_prefix_is_on_debians_python_path(self):
        plan = make("-n", "install", "PREFIX=/usr/local")
        site = re.search(r"install -d (\S+)/cgdml\n", plan).group(1)
        code = "import sys; print(*sys.path, sep='\\n')"
        paths = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                               check=True).stdout.split("\n")
        self.assertIn(site, paths)
        self.assertTrue(site.startswith("/usr/local/lib/python3"), site)

    def test_installed_package_finds_installed_library(self):
        prefix = tempfile.mkdtemp(prefix="cgdml-install-")
        try:
            make("install", f"PREFIX={prefix}")
            site = [os.path.join(prefix, "lib", d, "dist-packages")
                    for d in os.listdir(os.path.join(prefix, "lib")) if d.startswith("python3")]
            self.assertEqual(len(site), 1, os.listdir(os.path.join(prefix, "lib")))
            code = ("import cgdml, numpy as np\n"
                    "print(cgdml.__file__)\n"
                    "print(cgdml.library_path())\n"
                    "with cgdml.Dataset.synthetic(beads=4, frames=20) as d:\n"
                    "    m = cgdml.Model.train(d, sigma=0.5, n_train=10)\n"
                    "    print(m.predict(d).shape)\n")
            env = {k: v for k, v in os.environ.items() if k not in ("CGDML_LIB", "PYTHONPATH")}
            env["PYTHONPATH"] = site[0]
            out = subprocess.run(["/usr/bin/python3", "-c", code], cwd=prefix, env=env,
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            lines = out.stdout.split("\n")
            self.assertEqual(lines[0], os.path.join(site[0], "cgdml", "__init__.py"))
            self.assertEqual(lines[1], os.path.join(prefix, "lib", "libcgdml.so.0"))
            self.assertEqual(lines[2], "(20, 4, 3)")
        finally:
            shutil.rmtree(prefix)

    def test_version_matches_the_makefile(self):
        with open(os.path.join(ROOT, "Makefile")) as f:
            version = re.search(r"^VERSION := (\S+)$", f.read(), re.M).group(1)
        sys.path.insert(0, os.path.join(ROOT, "python"))
        import cgdml
        self.assertEqual(cgdml.__version__, version)


if __name__ == "__main__":
    unittest.main()
