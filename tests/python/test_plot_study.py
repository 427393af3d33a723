"""test_plot_study.py - scripts/plot_study.py's table: mean ± standard error over
the repeats per (size, method), in size then method order, the newer columns
(weighted MSE, convergence, matched floor) included, and "–" for a column an
older table lacks."""
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "plot_study.py")
OLD = ("size,method,repeat,sigma,landscape_mse_kT2,floor_kT2,kl,missing_population,"
       "force_mse_heldout,train_s")
NEW = OLD + ",landscape_mse_weighted_kT2,halves_mse_kT2,matched_floor_kT2"


def table(header, rows):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "results.csv")
        with open(csv, "w") as f:
            f.write(header + "\n" + "\n".join(rows) + "\n")
        md = os.path.join(tmp, "results.md")
        subprocess.run(["/usr/bin/python3", SCRIPT, csv, "-o", os.path.join(tmp, "p.png"),
                        "--table", md], check=True)
        with open(md) as f:
            return f.read().splitlines()


class Table(unittest.TestCase):
    def test_mean_and_standard_error_of_every_column(self):
        lines = table(NEW, ["2000,distilled,0,0.25,1.0,0.23,0.5,0.01,460,100,0.8,0.3,0.5",
                            "2000,distilled,1,0.25,2.0,0.23,0.7,0.03,462,120,1.2,0.5,0.7",
                            "1000,prior-only,0,nan,3.5,0.23,1.0,0.00,465,0,3.0,0.2,0.6"])
        self.assertIn("| weighted MSE (kT²) | convergence (kT²) | matched floor (kT²) |",
                      lines[0])
        self.assertEqual(lines[2], "| 1000 | prior-only | 1 | 3.50 | 3.00 | 0.20 | 0.60 | 1.00 "
                                   "| 0.000 | 465.0 | 0 |")
        # mean ± sd/sqrt(n): 1.5 ± 0.5, 1.0 ± 0.2, 0.4 ± 0.1, 0.6 ± 0.1, ...
        self.assertEqual(lines[3], "| 2000 | distilled | 2 | 1.50 ± 0.50 | 1.00 ± 0.20 "
                                   "| 0.40 ± 0.10 | 0.60 ± 0.10 | 0.60 ± 0.10 | 0.020 ± 0.010 "
                                   "| 461.0 ± 1.0 | 110 ± 10 |")

    def test_an_older_table_shows_dashes(self):
        lines = table(OLD, ["500,single,0,1,3.8,0.23,1.4,0.08,462,5"])
        self.assertEqual(lines[2], "| 500 | single | 1 | 3.80 | – | – | – | 1.40 | 0.080 "
                                   "| 462.0 | 5 |")


if __name__ == "__main__":
    unittest.main()
