"""test_package_layout.py - the ctypes mirror of the library's structs
(python/cgdml/_lib.py) has the C compiler's layout.

The package reads and writes the library's structs through ctypes, so a field
added to a header, or moved, must show up here before it corrupts memory: a small
C program prints sizeof and offsetof of every mirrored field, compiled against
include/, and both are compared.  The prototypes are checked to name functions
the library exports, and the library to export nothing else than the functions
of its public headers.
"""
import ctypes
import glob
import os
import re
import subprocess
import tempfile
import unittest

from package_helpers import ROOT, cgdml

from cgdml import _lib


class StructLayout(unittest.TestCase):
    def test_structs_match_the_headers(self):
        lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "cgdml.h"',
                 "int main(void) {"]
        expected = []
        for cname, cls in _lib.STRUCTS.items():
            lines.append(f'printf("{cname} %zu\\n", sizeof({cname}));')
            expected.append(f"{cname} {ctypes.sizeof(cls)}")
            for fname, *_ in cls._fields_:
                lines.append(f'printf("{cname}.{fname} %zu\\n", offsetof({cname}, {fname}));')
                expected.append(f"{cname}.{fname} {getattr(cls, fname).offset}")
        lines += ["return 0;", "}"]
        with tempfile.TemporaryDirectory() as tmp:
            src, exe = os.path.join(tmp, "layout.c"), os.path.join(tmp, "layout")
            with open(src, "w") as f:
                f.write("\n".join(lines))
            subprocess.run(["cc", "-std=c17", "-D_GNU_SOURCE", "-I", os.path.join(ROOT, "include"),
                            src, "-o", exe], check=True, capture_output=True)
            got = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
        self.assertEqual(got.split("\n")[:-1], expected)

    def test_prototypes_name_exported_functions(self):
        lib = cgdml._lib.lib()
        for name in _lib.PROTOTYPES:
            self.assertTrue(hasattr(lib, name), name)



class Exports(unittest.TestCase):
    """Only the functions of include/cgdml/*.h leave libcgdml.so (a version script,
    Makefile): private helpers such as the HDF5 and checkpoint ones stay inside."""

    def test_only_public_functions_are_exported(self):
        path = os.environ.get("CGDML_LIB") or os.path.join(ROOT, "build", "libcgdml.so")
        out = subprocess.run(["nm", "-D", "--defined-only", path], check=True,
                             capture_output=True, text=True).stdout
        exported = {line.split()[-1] for line in out.splitlines() if line.strip()}
        public = set()
        for header in glob.glob(os.path.join(ROOT, "include", "cgdml", "*.h")):
            with open(header) as f:
                public |= set(re.findall(r"\b(cgdml_[a-z0-9_]*)\(", f.read()))
        self.assertGreater(len(exported), 100)
        self.assertEqual(sorted(exported - public), [])
        for private in ("cgdml_h5_save", "cgdml_h5_read_array", "cgdml_simulate_checkpoint_save",
                        "cg_checkpoint_save", "cgdml_kernel_sum_eval_generic"):
            self.assertNotIn(private, exported)
        for public_name in ("cgdml_model_train", "cgdml_atomic_remove_tree",
                            "cgdml_collective_parse", "cgdml_npz_read_sgdml"):
            self.assertIn(public_name, exported)


if __name__ == "__main__":
    unittest.main()
