"""pipeline.py - the sample-efficiency study and the whole pipeline, one library
call each (include/cgdml/study.h, pipeline.h; README "Results" and "make run").

``study()`` is ``cgdml study`` (``cgdml_study_run``): for every size, repeat and
method it trains, simulates and scores a landscape, and returns the rows; with
``results`` it keeps the program's resumable CSV.  ``run()`` is ``cgdml run``
(``cgdml_pipeline_run``): reference landscape -> two-layer ensemble -> CG
simulation with the distilled model -> the landscape and its assessment, all in
memory.  Defaults are the library's (``cgdml_study_options_init``,
``cgdml_pipeline_options_init``), so the same arguments give the program's numbers.
"""
import ctypes
import math
import os
from ctypes import POINTER, byref, c_size_t, c_void_p
from dataclasses import dataclass

import numpy as np

from . import _arrays as A
from . import _lib as L
from .dataset import as_dataset
from .landscape import Comparison, FesResult, Landscape, Matched, ReferenceResult
from .layers import _take_ensemble
from .model import _precision
from .prior import Prior
from .simulation import Trajectory

METHODS = tuple(L.STUDY_METHODS)  # "single", "average", "distilled", "prior-only"

# The columns of the results CSV that are timings and memory (differ run to run).
TIMING_COLUMNS = ("train_s", "peak_rss_mb", "simulate_s")


@dataclass(frozen=True)
class StudyRow:
    """One row of the study (cgdml_study_row): training-set size, repeat, method,
    the model's σ and its ridge ``lambda_`` as solved (NaN for prior-only),
    training seconds, held-out force MSE
    ((kcal/mol/Å)²), peak resident memory (MiB), simulation seconds, stopped
    replicas, the landscape against the reference (``vs``), the run's convergence
    check (``halves``), the matched floor and the reference's floor (kT²)."""
    size: int
    repeat: int
    method: str
    sigma: float
    lambda_: float
    train_s: float
    force_mse: float
    peak_mb: float
    simulate_s: float
    stopped: int
    vs: Comparison
    halves: Comparison
    matched: Matched
    floor: float

    @classmethod
    def _from_c(cls, r):
        return cls(r.size, r.repeat, METHODS[r.method], r.sigma, getattr(r, "lambda"),
                   r.train_s, r.force_mse,
                   r.peak_mb, r.simulate_s, r.stopped, Comparison._from_c(r.vs),
                   Comparison._from_c(r.halves), Matched._from_c(r.matched), r.floor)

    @property
    def landscape_mse(self):
        """The landscape's MSE against the reference (kT²), the study's main number."""
        return self.vs.mse


def _check_grid(values, name, most):
    values = [float(v) for v in values]
    if not 1 <= len(values) <= most:
        raise ValueError(f"{name}: 1 to {most} values")
    return values


def _set_ridges(o, lambda_, lambda_rel, lambda2, lambda2_rel):
    """The study's λ and λ₂, each given absolute or relative to the kernel diagonal."""
    for field, given in (("lambda", {"lambda_": lambda_, "lambda_rel": lambda_rel}),
                         ("lambda2", {"lambda2": lambda2, "lambda2_rel": lambda2_rel})):
        chosen = {k: v for k, v in given.items() if v is not None}
        if len(chosen) > 1:
            raise ValueError(f"give {' or '.join(given)}, not both")
        for k, v in chosen.items():
            setattr(o, field, float(v))
            setattr(o, field + "_relative", int(k.endswith("_rel")))


def study(data, *, sizes, repeats=None, methods=None, members=None, mean_set=None,
          single_max_frames=None, sigma_grid=None, lambda_=None, lambda_rel=None,
          lambda2=None, lambda2_rel=None, solver="cholesky", precision="auto", seed=1,
          temperature=300.0, replicas=None, start="equilibrium", steps=None, save_every=None,
          dt=None, diffusion=None, friction=None, integrator="overdamped", burn_in=None,
          bins=None, results=None, landscapes=None, splits=None, work=None, note=None,
          simulated=None):
    """The sample-efficiency study, as ``cgdml study`` runs it (one call of the
    library's ``cgdml_study_run``; options not given take the library's defaults,
    which are the program's): for each of ``sizes`` (labelled frames per model),
    ``repeats`` (3) and ``methods`` (all of "single", "average", "distilled",
    "prior-only"), draw the frames, choose σ on ``sigma_grid`` (0.5, 1, 2) by
    cross-validation, train (``members`` 8, ``mean_set`` 1500, λ ``lambda_`` 1e-3,
    or ``lambda_rel`` times the kernel diagonal 5/(3σ²); the distilled model's
    ``lambda2`` or ``lambda2_rel`` (default: the members' λ); members and single
    models by ``solver`` "cholesky" or "cg"; no single model above
    ``single_max_frames`` 1500), simulate ``replicas`` (100)
    for ``steps`` (50,000) from the data's frames, and score the landscape after
    ``burn_in`` (100,000 steps or a third of shorter runs) on ``bins`` (60) bins
    against the whole dataset's.

    ``results``: the program's results CSV (``cgdml study -o DIR`` writes
    DIR/results.csv); rows already in it are skipped (resumed), and it is rewritten
    after each new row.  ``landscapes``, ``splits``: folders for each row's
    landscape file and training frames (the program's DIR/fes, DIR/splits);
    ``work``: a scratch folder for members.  ``note``: optional callable(line) of
    progress lines; ``simulated``: optional callable(seconds) after each run.

    Returns the rows computed by this call, a list of StudyRow in the order they
    were made (rows skipped because ``results`` already held them are not
    recomputed and not returned: read the CSV for all of them).  Refusals and
    errors of the library raise cgdml.Error subclasses with its message."""
    sizes = [int(s) for s in ([sizes] if np.isscalar(sizes) else sizes)]
    if not 1 <= len(sizes) <= L.STUDY_MAX_SIZES:
        raise ValueError(f"sizes: 1 to {L.STUDY_MAX_SIZES} training-set sizes")
    if any(s < 1 for s in sizes):
        raise ValueError("sizes: every size must be at least 1")
    if integrator not in L.INTEGRATORS:
        raise ValueError(f"integrator {integrator!r}: expected one of {', '.join(L.INTEGRATORS)}")
    if start not in L.STARTS:
        raise ValueError(f"start {start!r}: expected one of {', '.join(L.STARTS)}")
    o = L.StudyOptions()
    L.lib().cgdml_study_options_init(byref(o))
    for i, s in enumerate(sizes):
        o.sizes[i] = s
    o.n_sizes = len(sizes)
    if repeats is not None:
        o.repeats = int(repeats)
    if methods is not None:
        methods = [methods] if isinstance(methods, str) else list(methods)
        if not 1 <= len(methods) <= len(METHODS) or len(set(methods)) != len(methods):
            raise ValueError(f"methods: 1 to {len(METHODS)} distinct of {', '.join(METHODS)}")
        for i, m in enumerate(methods):
            if m not in L.STUDY_METHODS:
                raise ValueError(f"method {m!r}: expected one of {', '.join(METHODS)}")
            o.methods[i] = L.STUDY_METHODS[m]
        o.n_methods = len(methods)
    for name, v in (("members", members), ("mean_set", mean_set),
                    ("single_max_frames", single_max_frames), ("replicas", replicas),
                    ("bins", bins)):
        if v is not None:
            setattr(o, name, int(v))
    if sigma_grid is not None:
        grid = _check_grid([sigma_grid] if np.isscalar(sigma_grid) else sigma_grid,
                           "sigma_grid", L.STUDY_SIGMA_GRID_MAX)
        for i, v in enumerate(grid):
            o.sigma_grid[i] = v
        o.n_sigma_grid = len(grid)
    _set_ridges(o, lambda_, lambda_rel, lambda2, lambda2_rel)
    if solver not in ("cholesky", "cg"):
        raise ValueError(f"solver {solver!r}: expected cholesky or cg")
    o.solver = ("cholesky", "cg").index(solver)
    o.precision = _precision(precision)
    o.seed = seed
    o.temperature = float(temperature)
    o.start = L.STARTS[start]
    sim = o.simulate
    sim.integrator = L.INTEGRATORS[integrator]
    sim.temperature = float(temperature)
    for name, v in (("dt", dt), ("diffusion", diffusion), ("friction", friction)):
        if v is not None:
            setattr(sim, name, float(v))
    if steps is not None:
        sim.n_steps = int(steps)
    if save_every is not None:
        sim.save_every = int(save_every)
    if burn_in is not None:
        o.burn_in = int(burn_in)
    paths = {}
    for name, v in (("results", results), ("landscapes", landscapes), ("splits", splits),
                    ("work", work)):
        if v is not None:
            paths[name] = os.fsencode(os.fspath(v))
            setattr(o, name, paths[name])
    rows = []
    keep = [L.STUDY_ROW_FN(lambda ctx, r: rows.append(StudyRow._from_c(r.contents)))]
    o.row_done = ctypes.cast(keep[0], c_void_p)
    if note is not None:
        keep.append(L.NOTE_FN(lambda ctx, line: note(line.decode("utf-8", "replace"))))
        o.note = ctypes.cast(keep[-1], c_void_p)
    if simulated is not None:
        keep.append(L.STUDY_SIMULATED_FN(lambda ctx, t, seconds: simulated(seconds)))
        o.simulated = ctypes.cast(keep[-1], c_void_p)
    data, owned = as_dataset(data)
    try:
        n = c_size_t()
        L.call("cgdml_study_run", data._ptr, byref(o), byref(n))
        return rows
    finally:
        del keep, paths
        if owned:
            data.close()


class RunResult:
    """What ``run()`` made, all in memory: ``reference`` (a ReferenceResult: the
    dataset's landscape and its floor), ``ensemble`` (an Ensemble: distilled and
    average models, members, strata, prior, CV rows), ``trajectory`` (the CG run
    with the distilled model), ``landscape`` (a FesResult: the trajectory's
    landscape after the burn-in, its convergence check ``halves``, ``vs`` the
    reference, ``floor`` and ``matched``) and ``seconds`` per stage."""

    def __init__(self, reference, ensemble, trajectory, landscape, seconds):
        self.reference, self.ensemble = reference, ensemble
        self.trajectory, self.landscape = trajectory, landscape
        self.seconds = seconds

    def close(self):
        self.reference.close()
        self.landscape.close()
        self.trajectory.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _detach(p, struct):
    # A pointer of its own (a struct field's pointer is a view of the struct).
    return ctypes.cast(c_void_p(ctypes.cast(p, c_void_p).value), POINTER(struct))


def run(data, *, members=None, n_train=None, mean_set=None, replicas=None, steps=None,
        save_every=None, burn_in=None, bins=None, seed=1, start="equilibrium",
        precision="auto", solver=None, draw=None, stage=None):
    """The whole pipeline, as ``cgdml run`` runs it (one call of the library's
    ``cgdml_pipeline_run``, with the run's defaults from
    ``cgdml_pipeline_options_init``: ``members`` 1 of ``n_train`` 30,000 frames
    (``draw`` "random": with the data's weights) solved by ``solver`` "cg", σ₁ 0.25
    with λ at 1e-3 of the kernel diagonal, the distilled model at the members' σ
    and λ₂ 1e-4 of the diagonal on a ``mean_set`` of 1500 frames (``solver``
    "cholesky" and ``draw`` "stratified" with ``members`` 8 and ``n_train`` 1000
    are the paper's small members), ``replicas`` 100 x ``steps`` 300,000 saved every
    ``save_every`` 500, ``burn_in`` 100,000 steps or a third of shorter runs,
    ``bins`` 60; ``seed`` seeds every stage): reference landscape and its floor ->
    two-layer ensemble -> CG simulation with the distilled model from the data's
    frames (``start``) -> the landscape and its assessment.

    ``stage``: optional callable(name) when a stage begins ("reference",
    "ensemble", "simulation", "landscape").  Returns a RunResult; nothing is
    written (``result.ensemble.save(path)``, ``result.trajectory.save(path)``,
    ``result.landscape.save(path)`` write the program's files)."""
    if start not in L.STARTS:
        raise ValueError(f"start {start!r}: expected one of {', '.join(L.STARTS)}")
    o = L.PipelineOptions()
    L.lib().cgdml_pipeline_options_init(byref(o))
    # The CV grids point into the struct: re-point them at this copy's arrays.
    o.ensemble.sigma1_grid = ctypes.cast(o.sigma1_grid, POINTER(ctypes.c_double))
    o.ensemble.lambda_grid = ctypes.cast(o.lambda_grid, POINTER(ctypes.c_double))
    L.lib().cgdml_pipeline_options_seed(byref(o), seed)
    l1 = o.ensemble.layer1
    for name, v, target in (("n_members", members, l1), ("n_train", n_train, l1),
                            ("mean_set", mean_set, o.ensemble), ("replicas", replicas, o),
                            ("n_steps", steps, o.simulate), ("save_every", save_every, o.simulate),
                            ("burn_in", burn_in, o), ("bins", bins, o)):
        if v is not None:
            if int(v) < 0:
                raise ValueError(f"{name}: must be non-negative")
            setattr(target, name, int(v))
    l1.precision = _precision(precision)
    if solver is not None:
        if solver not in ("cholesky", "cg"):
            raise ValueError(f"solver {solver!r}: expected cholesky or cg")
        l1.solver = ("cholesky", "cg").index(solver)
    if draw is not None:
        if draw not in ("stratified", "random"):
            raise ValueError(f"draw {draw!r}: expected stratified or random")
        l1.draw = L.DRAWS[draw]
    o.start = L.STARTS[start]
    keep = None
    if stage is not None:
        keep = L.STAGE_BEGIN_FN(lambda ctx, k: stage(L.STAGES[k]))
        o.stage_begin = ctypes.cast(keep, c_void_p)
    data, owned = as_dataset(data)
    try:
        out = POINTER(L.PipelineStruct)()
        L.call("cgdml_pipeline_run", data._ptr, byref(o), byref(out))
        result = _take_pipeline(out, data)
        owned = False  # the trajectory keeps the dataset (its names and bonds for save())
        return result
    finally:
        del keep
        if owned:
            data.close()


def _take_pipeline(out, data):
    """Python objects owning what the C pipeline made (pointers handed over, then the
    emptied struct freed)."""
    p = out.contents
    try:
        r = p.reference.contents
        ref_landscape, r.landscape = Landscape(_detach(r.landscape, L.FesStruct)), None
        reference = ReferenceResult(ref_landscape, Comparison._from_c(r.halves),
                                    A.copy(r.phi, (r.n_frames,)), A.copy(r.psi, (r.n_frames,)))
        e = p.ensemble.contents
        prior = None
        if e.prior:
            prior, e.prior = Prior(_detach(e.prior, L.PriorStruct)), None
        ens_ptr, p.ensemble = _detach(p.ensemble, L.EnsembleStruct), None
        ensemble = _take_ensemble(ens_ptr, prior, None)
        traj_ptr, p.trajectory = _detach(p.trajectory, L.TrajectoryStruct), None
        trajectory = Trajectory(traj_ptr, ensemble.distilled, data)
        a = p.landscape
        land, a.landscape = Landscape(_detach(a.landscape, L.FesStruct)), None
        landscape = FesResult(land, Comparison._from_c(a.halves), None,
                              Comparison._from_c(a.vs) if a.has_reference else None,
                              a.floor if a.has_reference else math.nan,
                              Matched._from_c(a.matched) if a.has_reference else None)
        seconds = dict(zip(L.STAGES, list(p.seconds)))
    finally:
        L.lib().cgdml_pipeline_free(out)
    return RunResult(reference, ensemble, trajectory, landscape, seconds)


__all__ = ["StudyRow", "RunResult", "study", "run", "METHODS", "TIMING_COLUMNS"]
