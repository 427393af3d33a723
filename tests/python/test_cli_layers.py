"""test_cli_layers.py - the program's files call each other without a circle:
main.c calls the commands (cmd_*.c), the commands call the shared helpers
(common.c) and the library, and no command calls another command or main.c;
common.c calls no command.  Read from the object files' symbols (nm), so a call
added anywhere is seen."""
import glob
import os
import subprocess
import unittest

from package_helpers import ROOT


def symbols(path, flag):
    out = subprocess.run(["nm", flag, path], check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


class CliLayers(unittest.TestCase):
    def test_no_circle_of_calls(self):
        build = os.path.dirname(os.environ.get("CGDML_BIN") or os.path.join(ROOT, "build", "cgdml"))
        objs = {os.path.basename(p)[:-2]: p for p in glob.glob(os.path.join(build, "src", "cli",
                                                                             "*.o"))}
        self.assertIn("common", objs)
        self.assertIn("main", objs)
        defined = {name: symbols(p, "--defined-only") for name, p in objs.items()}
        owner = {s: name for name, syms in defined.items() for s in syms
                 if s.startswith(("cli_", "cmd_"))}
        for name, path in objs.items():
            for sym in symbols(path, "-u"):
                if sym not in owner:
                    continue
                callee = owner[sym]
                if name == "main":
                    self.assertIn(callee, [n for n in objs if n.startswith("cmd_")] + ["common"],
                                  sym)
                else:
                    self.assertEqual(callee, "common", f"{name}.c calls {sym} of {callee}.c")


if __name__ == "__main__":
    unittest.main()
