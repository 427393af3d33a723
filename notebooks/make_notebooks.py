#!/usr/bin/python3
"""make_notebooks.py - writes the notebooks of this folder from the cells below.

The notebooks are kept as this script so that their code reads, diffs and reviews
like code; `make notebooks` regenerates them and executes them with
`jupyter nbconvert --execute` (Debian's jupyter-nbconvert), as CI does.
They use the Python package `cgdml` (python/cgdml, on the shared library) for
every step, the study included (none runs the program), found through $PYTHONPATH
or else ../python, with the library of $CGDML_LIB or else the build tree
(../build/libcgdml.so).  The shipped data comes from $CGDML_DATA (default
../datasets/ala2_cg6.h5).

usage: /usr/bin/python3 notebooks/make_notebooks.py
"""
import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = '''import os, sys, tempfile
import numpy as np, h5py
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

if os.path.isdir("../python") and os.path.abspath("../python") not in sys.path:
    sys.path.append(os.path.abspath("../python"))  # this checkout's package, after $PYTHONPATH
import cgdml

DATA = os.environ.get("CGDML_DATA", os.path.abspath("../datasets/ala2_cg6.h5"))
WORK = tempfile.mkdtemp(prefix="cgdml-notebook-")
print("cgdml", cgdml.__version__, "on", cgdml.library_path())

def path(name):
    return os.path.join(WORK, name)'''

WALKTHROUGH = [
    new_markdown_cell("""# The two-layer ensemble on alanine dipeptide, step by step

This notebook walks through the method of Wang, Chmiela, Müller, Noé and Clementi
(J. Chem. Phys. 2020) with the `cgdml` Python package (the library, through ctypes)
on the shipped data: the CG data, the prior, stratified sampling, layer-1 members,
the layer-2 model, CG simulation and free-energy landscapes. Each step is the
library call the matching `cgdml` command makes, so the files written here are the
program's. Sizes are tiny so that it runs in a minute; `make run` does the same at
full size."""),
    new_code_cell(SETUP),
    new_markdown_cell("""## 1. Data
6 CG beads (C, N, Cα, Cβ, C, N) of a 100 ns all-atom run, frames every 1 ps:
positions (Å), mapped all-atom forces (kcal/mol/Å), and φ/ψ. `Dataset.load` reads
and checks the file as the program does; its arrays are read-only views of the
library's memory."""),
    new_code_cell('''data = cgdml.Dataset.load(DATA)
print(data)
phi = np.degrees(data.observables["phi"])
psi = np.degrees(data.observables["psi"])
variance = data.forces.var(axis=0).mean()
print(f"{data.n_frames} frames; force label variance {variance:.0f} (kcal/mol/Å)^2")
plt.hist2d(phi, psi, bins=60, range=[[-180, 180], [-180, 180]], cmin=1)
plt.xlabel("φ"); plt.ylabel("ψ"); plt.title("all-atom population"); plt.show()
assert (phi < 0).mean() > 0.9  # L-alanine: φ < 0 dominates'''),
    new_markdown_cell("""## 2. Reference landscape and its floor
F(φ, ψ) = −ln p in kT on 60 × 60 bins, and the comparison metric between the two
halves of the data: no model can be judged more precisely than this floor
(`cgdml fes-reference`)."""),
    new_code_cell('''ref = cgdml.reference_landscape(data)
ref.save(path("ref.h5"))
floor = ref.floor.mse
print(ref.landscape)
print("floor", round(floor, 4), "kT^2 over", ref.floor.joint_bins, "joint bins")
assert 0 < floor < 1'''),
    new_markdown_cell("""## 3. Prior, stratified sampling, layer 1 and layer 2
`cgdml.ensemble` (the library calls of `cgdml ensemble`, in its order) fits the
harmonic prior (bonds and angles, Boltzmann inversion), bins the frames on a
300 × 300 φ/ψ grid, draws each member's frames stratum by stratum, trains the
members (σ₁ by cross-validation), averages them, draws a mean set of one frame
per stratum, labels it with the average and trains the distilled model on it."""),
    new_code_cell('''ens = cgdml.ensemble(data, members=6, n_train=150, sigma1_grid=[0.5, 1, 2], folds=3,
                     sigma2=1, lambda_=1e-3, mean_set=400)
ens.save(path("model.h5"))  # the distilled model, and model.average.h5
print(ens.distilled)
print(ens.average)
print("strata:", ens.strata)
print("bond r0 (Å):", np.round(ens.prior.bond_r0, 3))
print("bond k (kcal/mol/Å²):", np.round(ens.prior.bond_k, 0))
print("CV table (layer, sigma, lambda, MSE, stderr, frames):")
print(np.round(ens.distilled.cv_table, 3))'''),
    new_markdown_cell("""The averaged ensemble is itself a predictor; both are compared here on frames
none of them saw (force-matching error relative to the label variance: the label
noise keeps it above about one half)."""),
    new_code_cell('''for name, model in (("average", ens.average), ("distilled", ens.distilled)):
    err = model.evaluate(data, n=2000, seed=99)
    print(f"{name:>9}: force MSE {err.mse:.1f} (kcal/mol/Å)^2, relative {err.relative_mse:.3f}")
    assert 0.4 < err.relative_mse < 1.0, err.relative_mse'''),
    new_markdown_cell("""## 4. CG simulation and landscape
Overdamped Langevin dynamics with the distilled model plus its prior, replicas
started from data frames drawn with the data's weights (`cgdml simulate`); then the
landscape of the trajectory against the reference (`cgdml fes`)."""),
    new_code_cell('''traj = cgdml.simulate(ens.distilled, data, replicas=20, steps=3000, save_every=100)
print(traj)
traj.save(path("traj.h5"))
result = cgdml.fes(path("traj.h5"), reference=data)
result.save(path("fes.h5"))
print(f"MSE vs reference {result.vs.mse:.3f} kT^2 over {result.vs.joint_bins} joint bins "
      f"(floor {result.floor:.3f}, matched floor {result.matched.floor:.3f})")
assert np.isfinite(result.vs.mse)
fig, ax = plt.subplots(1, 2, figsize=(9, 4))
for a, fe, title in zip(ax, (ref.landscape.free_energy, result.landscape.free_energy),
                        ("all-atom", "CG model (short run)")):
    a.imshow(fe.T, origin="lower", extent=[-180, 180, -180, 180], vmin=0, vmax=8)
    a.set_title(title); a.set_xlabel("φ"); a.set_ylabel("ψ")
plt.show()'''),
]

STUDY = [
    new_markdown_cell("""# Sample efficiency on a small budget

The paper's headline is a curve: free-energy error against the amount of training
data, for a single GDML model, the averaged ensemble and the distilled model, with
the harmonic prior alone as the baseline. `cgdml study` makes it in one command;
here with tiny sizes so that it runs in about a minute (the README's Results use
larger ones). `cgdml.study()` is that command as one library call
(`cgdml_study_run`): it returns the rows and keeps the program's resumable
`results.csv`."""),
    new_code_cell(SETUP),
    new_code_cell('''import csv
study = path("study")
os.makedirs(study)
# A toy budget: no burn-in.  The default discards a third of the steps, after which
# these 100-frame models have left the reference's bins and a row's landscape
# numbers are NaN (the study says so); real studies keep the default.
rows = cgdml.study(DATA, sizes=[200, 400], repeats=2,
                   methods=["average", "distilled", "prior-only"], members=2, mean_set=100,
                   replicas=6, steps=400, save_every=50, sigma_grid=[0.5, 1], lambda_=1e-3,
                   burn_in=0, results=os.path.join(study, "results.csv"),
                   splits=os.path.join(study, "splits"))
for r in rows:
    print(f"{r.size:4d} {r.method:>10} repeat {r.repeat}: sigma {r.sigma:.2g}, landscape MSE "
          f"{r.vs.mse:.3f} kT², held-out force MSE {r.force_mse:.1f}")
assert len(rows) == 2 * 2 * 3
assert all(np.isfinite(r.vs.mse) for r in rows)
# The same rows, as the program's results.csv (what `cgdml study -o DIR` writes).
table = list(csv.DictReader(open(os.path.join(study, "results.csv"))))
assert [float(t["landscape_mse_kT2"]) for t in table] == \\
    [float(f"{r.vs.mse:.6g}") for r in rows]'''),
    new_code_cell('''fig, ax = plt.subplots()
for method in ("average", "distilled", "prior-only"):
    sizes = sorted({r.size for r in rows if r.method == method})
    err = [[r.vs.mse for r in rows if r.method == method and r.size == n] for n in sizes]
    ax.errorbar(sizes, [np.mean(e) for e in err],
                yerr=[np.std(e) / np.sqrt(len(e)) for e in err], label=method, marker="o")
ax.set_xscale("log"); ax.set_xlabel("training frames"); ax.set_ylabel("landscape MSE (kT²)")
ax.legend(); plt.show()
split = sorted(os.listdir(os.path.join(study, "splits")))[0]
frames = cgdml.read_indices(os.path.join(study, "splits", split), 100000)
print(split, len(frames), "frames:", frames[:8])'''),
    new_markdown_cell("""At these sizes the methods cannot be told apart. The study shipped with the
repository (`make study`: 500 to 4,000 frames, three repeats, 100 replicas × 50,000
steps per row, 138 min of row time here) is in `docs/study/`; its table, read the same way:"""),
    new_code_cell('''shipped = list(csv.DictReader(open(os.path.abspath("../docs/study/results.csv"))))
for method in ("single", "average", "distilled", "prior-only"):
    line = []
    for n in sorted({int(r["size"]) for r in shipped}):
        v = [float(r["landscape_mse_kT2"]) for r in shipped
             if r["method"] == method and int(r["size"]) == n]
        line.append(f"{n}: {np.mean(v):.2f}" if v else f"{n}: -")
    print(f"{method:>10}  " + "  ".join(line))
mse = {m: min(float(r["landscape_mse_kT2"]) for r in shipped if r["method"] == m)
       for m in ("distilled", "prior-only")}
assert mse["distilled"] < mse["prior-only"]'''),
]

CROSSCHECK = [
    new_markdown_cell("""# Cross-check: the landscape of a cgdml trajectory, computed with MDAnalysis

`cgdml.fes` (the library's histogram, as `cgdml fes`) bins φ/ψ itself. Here the
trajectory file is opened with MDAnalysis's H5MD reader instead, the dihedrals are
computed by MDAnalysis, and the counts must agree with cgdml's in every bin."""),
    new_code_cell(SETUP),
    new_code_cell('''import warnings
warnings.simplefilter("ignore")
from MDAnalysis.coordinates.H5MD import H5MDReader
from MDAnalysis.lib.distances import calc_dihedrals

with cgdml.Dataset.synthetic(frames=10) as toy:  # only to check the reader runs
    toy.save(path("toy.h5"))
data = cgdml.Dataset.load(DATA)
model = cgdml.Model.train(data, sigma=1, lambda_=1e-3, n_train=200, seed=3)
model.save(path("m.h5"))
traj = cgdml.simulate(model, data, replicas=10, steps=2000, save_every=50)
traj.save(path("traj.h5"))
with cgdml.fes(path("traj.h5")) as result:
    result.save(path("fes.h5"))
    ours = np.array(result.landscape.count)
print(traj, "; landscape of", int(ours.sum()), "frames")'''),
    new_code_cell('''reader = H5MDReader(path("traj.h5"), convert_units=False)
phi, psi = [], []
for ts in reader:
    x = ts.positions.astype(np.float64)
    phi.append(calc_dihedrals(x[0], x[1], x[2], x[4]))   # C N CA C
    psi.append(calc_dihedrals(x[1], x[2], x[4], x[5]))   # N CA C N
phi, psi = np.array(phi), np.array(psi)
print(reader.n_frames, "frames read by MDAnalysis")
edges = np.linspace(-np.pi, np.pi, 61)
counts, _, _ = np.histogram2d(phi, psi, bins=[edges, edges])
with h5py.File(path("fes.h5"), "r") as f:
    np.testing.assert_array_equal(f["/fes/count"][()], ours)  # the file holds what cgdml computed
differing = int((counts != ours).sum())
print("bins whose counts differ:", differing)
# MDAnalysis reads float32 positions: a frame on a bin edge may fall either side.
assert differing <= 4, differing'''),
]


def write(name, cells):
    # Cell ids from their position, not random: regenerating changes nothing.
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:02d}"
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, os.path.join(HERE, name))


if __name__ == "__main__":
    write("01_method_walkthrough.ipynb", WALKTHROUGH)
    write("02_sample_efficiency.ipynb", STUDY)
    write("03_mdanalysis_crosscheck.ipynb", CROSSCHECK)
