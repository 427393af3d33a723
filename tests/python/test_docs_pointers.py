"""test_docs_pointers.py - the repository explains its own science.

The method is documented in docs/method.md, and code, help texts and documents cite
it as `docs/method.md §N`.  A clone holds nothing outside the repository, so no
tracked file may point to the team's notebook beside it.  This test fails naming
file:line for every such pointer, and checks that docs/method.md has its seven
numbered sections (code cites them by number).  Standard library only.
"""
import os
import re
import subprocess
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
THIS = os.path.relpath(os.path.abspath(__file__), ROOT)

# Built by concatenation so that this file does not match its own patterns.
FORBIDDEN = ["../" + "shared", "METHOD" + ".md"]

# Directories not searched when git is unavailable: VCS data, caches and build
# output anywhere (build*), and the output folders of `make run` and `make study`
# at the top (docs/study is tracked and is searched).
SKIP_DIRS = {".git", "__pycache__"}
SKIP_TOP_DIRS = {"run", "study"}

# Sections of docs/method.md, by number (titles may be reworded, numbers may not move).
SECTIONS = {
    1: "force matching",
    2: "kernel",
    3: "prior",
    4: "ensemble",
    5: "simulation",
    6: "judging",
    7: "large systems",
}


def tracked_files():
    """Paths relative to ROOT: `git ls-files`, or a walk of the tree without git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout
        paths = [p for p in out.decode("utf-8").split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        paths = []
    if not paths:  # no git, or a copy of the tree inside some other repository
        for top, dirs, files in os.walk(ROOT):
            top_level = os.path.samefile(top, ROOT)
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")
                       and not (top_level and d in SKIP_TOP_DIRS)]
            paths += [os.path.relpath(os.path.join(top, f), ROOT) for f in files]
    return paths


def pointers_outside(path):
    """["file:line: text"] for every forbidden pointer in one text file."""
    try:
        with open(os.path.join(ROOT, path), "rb") as f:
            data = f.read()
    except OSError:  # listed by git but deleted in the working tree
        return []
    if b"\0" in data:  # binary (HDF5, .npy, PNG): no prose to point anywhere
        return []
    text = data.decode("utf-8", errors="replace")
    return [f"{path}:{n}: {line.strip()}"
            for n, line in enumerate(text.splitlines(), 1)
            if any(p in line for p in FORBIDDEN)]


class DocsPointInsideTheRepository(unittest.TestCase):
    def test_no_pointer_to_the_notebook_outside(self):
        found = []
        for path in tracked_files():
            if os.path.normpath(path) != os.path.normpath(THIS):
                found += pointers_outside(path)
        if found:
            self.fail(f"{len(found)} pointers outside the repository "
                      "(point to docs/method.md §N instead):\n" + "\n".join(found))

    def test_method_has_its_numbered_sections(self):
        path = os.path.join(ROOT, "docs", "method.md")
        self.assertTrue(os.path.isfile(path), "docs/method.md is missing")
        with open(path, encoding="utf-8") as f:
            headings = {int(m.group(1)): m.group(2).lower()
                        for m in re.finditer(r"^## (\d+)\. (.+)$", f.read(), re.M)}
        self.assertEqual(sorted(headings), sorted(SECTIONS), f"sections found: {headings}")
        for n, word in SECTIONS.items():
            self.assertIn(word, headings[n], f"docs/method.md §{n} is '{headings[n]}'")


if __name__ == "__main__":
    unittest.main()
