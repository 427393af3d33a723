"""test_package_readme.py - the Python session of the README runs and prints what
the README shows (doctest), so that the example cannot rot.  It runs in a scratch
folder where datasets/ points to the repository's."""
import doctest
import os
import re
import shutil
import tempfile
import unittest

from package_helpers import ROOT


def readme_python_section():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Python\n(.*?)^## ", text, re.M | re.S)
    if not m:
        raise AssertionError("README.md has no '## Python' section")
    return m.group(1)


class ReadmeSession(unittest.TestCase):
    def test_session_prints_what_the_readme_shows(self):
        section = readme_python_section()
        test = doctest.DocTestParser().get_doctest(section, {}, "README.md ## Python",
                                                   "README.md", 0)
        self.assertGreater(len(test.examples), 10)
        work = tempfile.mkdtemp(prefix="cgdml-readme-")
        cwd = os.getcwd()
        try:
            os.symlink(os.path.join(ROOT, "datasets"), os.path.join(work, "datasets"))
            os.chdir(work)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
            out = []
            runner.run(test, out=out.append)
            self.assertEqual(runner.failures, 0, "".join(out))
            self.assertTrue(os.path.exists(os.path.join(work, "fes.h5")))
        finally:
            os.chdir(cwd)
            shutil.rmtree(work)


if __name__ == "__main__":
    unittest.main()
