"""test_tutorial.py - every command of docs/tutorial.md runs, so the tutorial cannot rot.

The fenced ```sh blocks of the tutorial are joined, in order, into one bash script
(`set -euo pipefail`: any failing command fails the test) and run in a temporary
folder that links datasets/, python/, scripts/ and build/ (the folder of CGDML_BIN)
of this repository, so the commands run exactly as written from the repository root.
One line is replaced: the tutorial's sizes line (`members=...`) by SMALL_SIZES below,
which the tutorial quotes, so the whole page runs in about a minute.  Run by
`make test` (CGDML_BIN names the program).
"""
import os
import re
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")
SIZES_LINE = re.compile(r"^members=.*$", re.M)
# Quoted in docs/tutorial.md; keep the two in step.
SMALL_SIZES = ("members=5 n_train=100 mean_set=300 sigma_grid=1,2 replicas=16 steps=4000 "
               "burn_in=1000 stride=4")
TIMEOUT_S = 900  # the machine is shared; the script takes about a minute alone


def shell_blocks(text):
    """The bodies of the ```sh fenced blocks, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", text, re.M | re.S)


class TutorialRuns(unittest.TestCase):
    def test_blocks_are_there(self):
        with open(TUTORIAL, encoding="utf-8") as f:
            text = f.read()
        blocks = shell_blocks(text)
        self.assertGreaterEqual(len(blocks), 6)
        self.assertEqual(len(SIZES_LINE.findall("\n".join(blocks))), 1,
                         "the tutorial sets its sizes on exactly one 'members=...' line")
        self.assertIn(SMALL_SIZES, text, "the tutorial quotes the sizes its test uses")
        for step in ("cgdml.map", "cgdml info", "cgdml ensemble", "cgdml simulate",
                     "cgdml fes ", "cgdml fes-reference", "plot_fes.py"):
            self.assertIn(step, "\n".join(blocks), f"no command runs {step}")

    def test_every_command_runs(self):
        with open(TUTORIAL, encoding="utf-8") as f:
            script = "\n".join(shell_blocks(f.read()))
        script = SIZES_LINE.sub(SMALL_SIZES, script)
        cgdml = os.path.abspath(os.environ.get("CGDML_BIN", os.path.join(ROOT, "build", "cgdml")))
        if not os.path.exists(cgdml):
            self.skipTest(f"{cgdml} not built")
        with tempfile.TemporaryDirectory() as tmp:
            for name, target in (("datasets", os.path.join(ROOT, "datasets")),
                                 ("python", os.path.join(ROOT, "python")),
                                 ("scripts", os.path.join(ROOT, "scripts")),
                                 ("build", os.path.dirname(cgdml))):
                os.symlink(target, os.path.join(tmp, name))
            r = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp,
                               capture_output=True, text=True, timeout=TIMEOUT_S,
                               env=dict(os.environ, OMP_NUM_THREADS="2"))
            log = f"--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}"
            self.assertEqual(r.returncode, 0, log)
            self.assertIn("beads        10: C N CA CB C N CA CB C N", r.stdout, log)
            self.assertIn("refused", r.stdout + r.stderr, log)
            for out in ("tutorial/ala3_cg10.h5", "tutorial/model.h5", "tutorial/traj.h5",
                        "tutorial/fes_res2.h5", "tutorial/fes_res3.h5", "tutorial/res2.png",
                        "tutorial/res3.png"):
                self.assertTrue(os.path.getsize(os.path.join(tmp, out)) > 0, out)
            self.assertFalse(os.path.exists(os.path.join(tmp, "tutorial", "slice.h5")),
                             "the refused map wrote a file")


if __name__ == "__main__":
    unittest.main()
