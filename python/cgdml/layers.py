"""layers.py - strata, the two-layer ensemble and its cross-validation
(include/cgdml/strata.h, ensemble.h, crossval.h; docs/method.md §4).

The library's pieces are here one function each (``Strata``, ``train_members``,
``average``, ``label``, ``distill``, ``crossval_layer1``, ``crossval_layer2``), and
``ensemble()`` is the whole stage in one library call (``cgdml_ensemble_build``,
the call ``cgdml ensemble`` makes), so that the same arguments give the same model
files.
"""
import ctypes
import os
import shutil
import warnings
from ctypes import POINTER, byref, c_double, c_int, c_size_t, c_void_p
from dataclasses import dataclass, field

import numpy as np

from . import _arrays as A
from . import _lib as L
from ._object import CObject
from .dataset import as_dataset
from .model import Model, _precision
from .prior import Prior

# What `cgdml ensemble` uses when not told otherwise (src/cli/main.c, cmd_ensemble.c).
DEFAULT_STRATA_BINS = 300       # φ/ψ grid of cgdml_strata_build
CROSSVAL_BINNED_BINS = 36       # CGDML_CROSSVAL_BINNED_BINS (crossval.h)
DEFAULT_FOLDS = 5               # CGDML_CROSSVAL_DEFAULT_FOLDS
DEFAULT_MEAN_SET_MAX = 3000     # mean set: min(strata, 3000)
_PARALLEL = {"auto": -1, "blas": 0, "members": 1}
STRATUM_NONE = np.iinfo(np.uintp).max  # CGDML_STRATUM_NONE: stratum_of of an excluded frame
_MEMBER_DRAWS = ("stratified", "random", "partition")


class Strata(CObject):
    """A partition of a dataset's frames into occupied bins of collective variables
    (or k-means clusters), from which training frames are drawn: the pool, all
    frames less those ``exclude()`` keeps out."""

    _free_name = "cgdml_strata_free"
    _what = "strata"

    @classmethod
    def from_cvs(cls, data, specs):
        """Bin on the product grid of up to 4 collective variables given as the
        program's --collective specs: "dihedral:0,1,2,4:300", "angle:0,1,2:50[:lo,hi]",
        "distance:0,5:40[:lo,hi]"."""
        specs = [specs] if isinstance(specs, str) else list(specs)
        if not 1 <= len(specs) <= 4:
            raise ValueError(f"collective: 1 to 4 collective variables, got {len(specs)}")
        cvs = (L.CVSpec * len(specs))()
        for i, spec in enumerate(specs):
            L.call("cgdml_collective_parse", spec.encode(), byref(cvs[i]))
        return cls._from_cv_array(data, cvs, len(specs))

    @classmethod
    def phi_psi(cls, data, bins=DEFAULT_STRATA_BINS):
        """φ/ψ of the alanine dipeptide maps (6 or 5 beads) on bins x bins periodic bins
        (the default strata of ``cgdml ensemble``, 300 x 300)."""
        data, owned = as_dataset(data)
        try:
            cvs = (L.CVSpec * 2)()
            L.call("cgdml_collective_default_phi_psi", data.n_beads, bins, cvs)
            return cls._from_cv_array(data, cvs, 2)
        finally:
            if owned:
                data.close()

    @classmethod
    def _from_cv_array(cls, data, cvs, n):
        data, owned = as_dataset(data)
        try:
            out = POINTER(L.StrataStruct)()
            L.call("cgdml_strata_from_cvs", data._ptr, cvs, n, byref(out))
            return cls(out)
        finally:
            if owned:
                data.close()

    @classmethod
    def kmeans(cls, data, k, seed=1):
        """k-means clusters of the inverse-distance descriptors (k-means++ from seed)."""
        data, owned = as_dataset(data)
        try:
            out = POINTER(L.StrataStruct)()
            L.call("cgdml_strata_kmeans", data._ptr, k, seed, byref(out))
            return cls(out)
        finally:
            if owned:
                data.close()

    def draw(self, m, seed=1, kind="stratified"):
        """m frame indices of the pool: "stratified" (a stratum uniformly, then a frame
        in it, with replacement; draw order), "stratified_unique" (one frame from each
        of m distinct strata, sorted), "random" (m distinct frames, sorted) or
        "partition" (``partition_block(m, 0, seed)``)."""
        if kind not in L.DRAWS:
            raise ValueError(f"kind {kind!r}: expected one of {', '.join(L.DRAWS)}")
        out = POINTER(c_size_t)()
        L.call("cgdml_strata_draw", self._ptr, L.DRAWS[kind], m, seed, byref(out))
        return L.take_size_array(out, m)

    def partition_block(self, m, block, seed=1):
        """Block ``block`` of m frames of the permutation of the pool that ``seed``
        draws, sorted (cgdml_strata_partition_block): blocks of one seed are
        disjoint; (block + 1) m must not exceed the pool."""
        out = POINTER(c_size_t)()
        L.call("cgdml_strata_partition_block", self._ptr, m, block, seed, byref(out))
        return L.take_size_array(out, m)

    def exclude(self, frames):
        """Keep ``frames`` out of every stratum and every later draw
        (cgdml_strata_exclude): their ``stratum_of`` becomes STRATUM_NONE, strata left
        empty are dropped.  Returns self."""
        idx = A.indices(frames, "frames")
        L.call("cgdml_strata_exclude", self._ptr, A.size_ptr(idx), idx.size)
        return self

    @property
    def n_frames(self):
        return self._c.n_frames

    @property
    def n_strata(self):
        return self._c.n_strata

    @property
    def n_pool(self):
        """Frames in the strata: n_frames less the excluded."""
        return self._c.n_pool

    @property
    def stratum_of(self):
        """(frames,) the stratum of each frame (STRATUM_NONE if excluded), a copy."""
        c = self._c
        return A.copy(c.stratum_of, (c.n_frames,), np.uintp)

    def frames_of(self, s):
        """The frames of stratum s, ascending."""
        c = self._c
        if not 0 <= s < c.n_strata:
            raise IndexError(f"stratum {s}: there are {c.n_strata}")
        return np.array([c.frame[i] for i in range(c.offset[s], c.offset[s + 1])],
                        dtype=np.uintp)

    def __repr__(self):
        if self.closed:
            return "<cgdml.Strata closed>"
        left = "" if self.n_pool == self.n_frames else f" ({self.n_pool} not excluded)"
        return f"<cgdml.Strata {self.n_frames} frames{left} in {self.n_strata} strata>"


@dataclass(frozen=True)
class CVPoint:
    """One grid point of a cross-validation (cgdml_crossval_point): held-out force MSE
    ((kcal/mol/Å)²) averaged over folds, its standard error, held-out frames, and
    the binned error (``binned_error``; NaN when no bins were given)."""
    sigma: float
    lambda_: float
    mse: float
    mse_stderr: float
    n_eval: int
    mse_binned: float = float("nan")

    @classmethod
    def _from_c(cls, p):
        return cls(p.sigma, getattr(p, "lambda"), p.mse, p.mse_stderr, p.n_eval, p.mse_binned)

    def _to_c(self):
        p = L.CVPointStruct(self.sigma, self.lambda_, self.mse, self.mse_stderr, self.n_eval,
                            self.mse_binned)
        return p


def _table_to_c(table):
    arr = (L.CVPointStruct * len(table))()
    for i, p in enumerate(table):
        arr[i] = p._to_c()
    return arr


def best(table):
    """Index of the grid point with the lowest MSE (cgdml_crossval_best)."""
    return L.lib().cgdml_crossval_best(_table_to_c(table), len(table))


def best_binned(table):
    """Index of the grid point with the lowest finite binned error, else the lowest
    MSE (cgdml_crossval_best_binned): the pipeline's layer-1 choice."""
    return L.lib().cgdml_crossval_best_binned(_table_to_c(table), len(table))


def edges(table, n_sigmas, n_lambdas=1, best_index=None):
    """Whether the best point (``best_index``, default ``best(table)``) of a
    sigma-major n_sigmas x n_lambdas table lies on an edge of its grid:
    (sigma_edge, lambda_edge), each -1 (lowest), +1 (highest) or 0."""
    se, le = c_int(), c_int()
    b = best(table) if best_index is None else best_index
    L.lib().cgdml_crossval_edges(b, n_sigmas, n_lambdas, byref(se), byref(le))
    return se.value, le.value


def kernel_diagonal(sigma):
    """5/(3σ²): the kernel's diagonal, the scale of λ (crossval.h)."""
    return 5.0 / (3.0 * sigma * sigma)


class _Layer1:
    """cgdml_layer1_options, with the checkpoint path kept alive."""

    def __init__(self, n_members, n_train, sigma1, lambda_, draw="stratified", seed=1,
                 parallel="auto", precision="auto", checkpoint=None):
        if draw not in _MEMBER_DRAWS:
            raise ValueError(f"draw {draw!r}: expected one of {', '.join(_MEMBER_DRAWS)}")
        if parallel not in _PARALLEL:
            raise ValueError(f"parallel {parallel!r}: expected one of {', '.join(_PARALLEL)}")
        self._checkpoint = None if checkpoint is None else os.fsencode(os.fspath(checkpoint))
        self.c = L.Layer1Options()
        L.lib().cgdml_layer1_options_init(byref(self.c))  # the documented defaults first
        self.c.n_members, self.c.n_train, self.c.sigma1 = n_members, n_train, float(sigma1)
        self.c.draw, self.c.seed = L.DRAWS[draw], seed
        self.c.side_by_side, self.c.precision = _PARALLEL[parallel], _precision(precision)
        self.c.checkpoint = self._checkpoint
        setattr(self.c, "lambda", float(lambda_))


def member_frames(strata, k, n_members, n_train, seed=1, draw="stratified"):
    """The frames of member k (n_train indices in draw order); with
    draw="partition", block k of the pool's permutation from ``seed`` (n_members x
    n_train must not exceed the pool)."""
    opt = _Layer1(n_members, n_train, 1.0, 0.0, draw, seed)
    out = POINTER(c_size_t)()
    L.call("cgdml_ensemble_member_frames", strata._ptr, byref(opt.c), k, byref(out))
    return L.take_size_array(out, n_train)


def train_members(data, strata, prior, n_members, n_train, sigma1, lambda_=1e-10, *,
                  draw="stratified", seed=1, parallel="auto", precision="auto",
                  checkpoint=None):
    """Layer 1: n_members GDML models of n_train frames each, drawn from the strata
    (member k with seed + k + 1; draw="partition": block k of one permutation of
    the pool from seed, disjoint members), trained on prior-subtracted labels (prior may be
    None).  With a checkpoint folder, finished members are kept there and reused.
    Returns a list of Models."""
    data, owned = as_dataset(data)
    try:
        opt = _Layer1(n_members, n_train, sigma1, lambda_, draw, seed, parallel, precision,
                      checkpoint)
        out = (POINTER(L.ModelStruct) * max(n_members, 1))()
        L.call("cgdml_ensemble_train_members", data._ptr, strata._ptr,
               prior._ptr if prior is not None else None, byref(opt.c), out)
        return [Model(out[k]) for k in range(n_members)]
    finally:
        if owned:
            data.close()


def average(members):
    """The averaged model of members of one σ (kind "average")."""
    members = list(members)
    if not members:
        raise ValueError("average: no members")
    arr = (POINTER(L.ModelStruct) * len(members))(*[m._ptr for m in members])
    out = POINTER(L.ModelStruct)()
    L.call("cgdml_ensemble_average", arr, len(members), byref(out))
    return Model(out)


def label(average_model, data, indices):
    """Labels (frames, beads, 3) of frames ``indices`` by the kernel part of an
    averaged model (its prior left out): layer 2's targets."""
    data, owned = as_dataset(data)
    try:
        idx = A.indices(indices)
        out = np.empty((idx.size, data.n_beads, 3))
        L.call("cgdml_ensemble_label", average_model._ptr, data._ptr, A.size_ptr(idx), idx.size,
               A.ptr(out))
        return out
    finally:
        if owned:
            data.close()


def distill(average_model, data, indices, sigma2, lambda_=1e-10, precision="auto"):
    """Layer 2: a model of length scale sigma2 trained on the frames ``indices`` (the
    mean set) labelled by the average (kind "distilled")."""
    data, owned = as_dataset(data)
    try:
        idx = A.indices(indices)
        out = POINTER(L.ModelStruct)()
        L.call("cgdml_ensemble_distill", average_model._ptr, data._ptr, A.size_ptr(idx),
               idx.size, float(sigma2), float(lambda_), _precision(precision), byref(out))
        return Model(out)
    finally:
        if owned:
            data.close()


def binned_error(model, data, indices, bins):
    """cgdml_crossval_binned_error: the noise-corrected error of the model's
    bin-averaged forces (in each frame's own axes) on frames ``indices`` grouped by
    the Strata ``bins``, (kcal/mol/Å)²."""
    data, owned = as_dataset(data)
    try:
        idx = A.indices(indices)
        out = c_double()
        L.call("cgdml_crossval_binned_error", model._ptr, data._ptr, A.size_ptr(idx), idx.size,
               bins._ptr, byref(out))
        return out.value
    finally:
        if owned:
            data.close()


def crossval_layer1(data, strata, prior, sigmas, lambdas, n_members, n_train, *,
                    folds=DEFAULT_FOLDS, draw="stratified", seed=1, parallel="auto",
                    precision="auto", checkpoint=None, bins=None):
    """Layer-1 cross-validation over folds of members: a list of CVPoints, sigma-major
    (table[i * len(lambdas) + j] for sigmas[i], lambdas[j]).  With ``bins`` (Strata)
    each point also gets the binned error of the average of all its members."""
    data, owned = as_dataset(data)
    try:
        s = A.vector(sigmas, "sigmas")
        lam = A.vector(lambdas, "lambdas")
        opt = _Layer1(n_members, n_train, s[0] if s.size else 1.0, lam[0] if lam.size else 0.0,
                      draw, seed, parallel, precision, checkpoint)
        table = (L.CVPointStruct * max(s.size * lam.size, 1))()
        L.call("cgdml_crossval_layer1", data._ptr, strata._ptr,
               bins._ptr if bins is not None else None, prior._ptr if prior is not None else None, byref(opt.c), A.ptr(s), s.size,
               A.ptr(lam), lam.size, folds, table)
        return [CVPoint._from_c(table[i]) for i in range(s.size * lam.size)]
    finally:
        if owned:
            data.close()


def crossval_layer2(average_model, data, indices, sigmas, lambda_=1e-10, *,
                    precision="auto", folds=DEFAULT_FOLDS):
    """Layer-2 cross-validation over folds of the mean set ``indices``, each fold
    scored against the average's own predictions: a list of CVPoints."""
    data, owned = as_dataset(data)
    try:
        idx = A.indices(indices)
        s = A.vector(sigmas, "sigmas")
        table = (L.CVPointStruct * max(s.size, 1))()
        L.call("cgdml_crossval_layer2", average_model._ptr, data._ptr, A.size_ptr(idx),
               idx.size, A.ptr(s), s.size, float(lambda_), _precision(precision), folds, table)
        return [CVPoint._from_c(table[i]) for i in range(s.size)]
    finally:
        if owned:
            data.close()


# ---- the whole stage, as `cgdml ensemble` runs it ------------------------------------

@dataclass
class Ensemble:
    """What ``ensemble()`` made.  ``distilled`` carries the prior and the
    cross-validation table, as the program's model file does; ``average`` the prior."""
    distilled: Model
    average: Model
    members: list
    strata: Strata
    prior: Prior
    mean_set: np.ndarray
    sigma1: float
    sigma2: float
    lambda_: float
    cv1: list = field(default_factory=list)
    cv2: list = field(default_factory=list)
    checkpoint: str = None
    lambda2: float = None

    @staticmethod
    def average_path(path):
        """Where ``cgdml ensemble -o FILE`` writes the average: FILE with .average.h5."""
        path = os.fspath(path)
        if len(path) < 4 or not path.endswith(".h5"):
            raise ValueError("ensemble: the path must name a .h5 file (the distilled model)")
        return path[:-3] + ".average.h5"

    def save(self, path):
        """Write the distilled model to ``path`` and the average beside it, as the
        program does, then remove the members' checkpoint folder (if any)."""
        average_path = self.average_path(path)
        self.average.save(average_path)
        self.distilled.save(path)
        if self.checkpoint and os.path.isdir(self.checkpoint):
            shutil.rmtree(self.checkpoint)
        return os.fspath(path), average_path

    def close(self):
        for obj in [self.distilled, self.average, self.strata, self.prior, *self.members]:
            if obj is not None:
                obj.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def build_strata(data, collective=None, kmeans=None, seed=1, exclude=None):
    """The strata of ``cgdml ensemble``: k-means clusters if ``kmeans``, else the
    ``collective`` specs, else φ/ψ on 300 x 300 bins (cgdml_strata_build), less the
    frames ``exclude`` (``--exclude``)."""
    if kmeans:
        strata = Strata.kmeans(data, kmeans, seed)
    elif collective:
        strata = Strata.from_cvs(data, collective)
    else:
        strata = Strata.phi_psi(data, DEFAULT_STRATA_BINS)
    return strata.exclude(exclude) if exclude is not None and len(exclude) else strata


def build_bins(data, collective=None, kmeans=None, seed=1):
    """The binned error's coarse grid as ``cgdml ensemble`` builds it
    (cgdml_strata_build capped at CROSSVAL_BINNED_BINS): the strata's collective variables with at most
    CROSSVAL_BINNED_BINS bins each; None for k-means strata."""
    if kmeans:
        return None
    if collective:
        capped = []
        for spec in collective:
            parts = spec.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                parts[2] = str(min(int(parts[2]), CROSSVAL_BINNED_BINS))
            capped.append(":".join(parts))
        return Strata.from_cvs(data, capped)
    return Strata.phi_psi(data, CROSSVAL_BINNED_BINS)


def ensemble(data, *, members, n_train, sigma1=None, sigma2=None, lambda_=1e-10,
             sigma1_grid=None, sigma2_grid=None, lambda_grid=None, lambda_rel_grid=None,
             mean_set=None, folds=DEFAULT_FOLDS, seed=1, draw="stratified", collective=None,
             kmeans=None, bonds=None, prior=True, temperature=300.0, parallel="auto",
             precision="auto", checkpoint=None, resume=False, select="binned", lambda2=None,
             lambda2_rel=None, lambda2_rel_grid=None, exclude=None):
    """The two-layer ensemble as ``cgdml ensemble`` builds it: one call of the
    library's ``cgdml_ensemble_build`` with the program's options and defaults (the
    program's ``--no-prior`` is ``prior=False``), so the same arguments give the same
    models as the program, bit for bit:

    strata (k-means if ``kmeans``, else the ``collective`` specs, else φ/ψ 300 x 300),
    less the frames ``exclude`` (``--exclude``: no member, mean-set or judged
    cross-validation frame is one of them) -> prior (``Prior.fit`` on all frames at
    ``temperature``, bonds given or the data's or the alanine default) -> σ₁ and λ
    by cross-validation when ``sigma1_grid`` is given (chosen by the binned error
    with ``select="binned"``, the default, else by raw MSE; λ from ``lambda_grid``,
    or ``lambda_rel_grid`` times the kernel diagonal of each σ₁, else ``lambda_``)
    -> layer 1, members drawn by ``draw`` ("stratified", "random", or "partition":
    disjoint blocks of one permutation of the pool from ``seed``, members x n_train
    at most the pool) -> average -> a mean set of ``mean_set`` (default min(strata,
    3000)) distinct strata, drawn with seed + members + 1 -> σ₂ (and λ₂ with
    ``lambda2_rel_grid``, relative to the kernel diagonal of σ₂) by
    cross-validation when a grid is given -> distilled model of ridge ``lambda2``,
    or ``lambda2_rel`` times its kernel diagonal, or the chosen λ (default), the
    prior attached to both models and the CV rows recorded
    in the distilled one.

    ``checkpoint``: a folder keeping finished members (the program uses
    FILE.members); ``resume`` reuses what it holds, else it is emptied first.
    A best point on a grid's edge is reported with a warning.  Returns an
    Ensemble; ``Ensemble.save(path)`` writes the program's two files."""
    if sigma1 is None and not sigma1_grid:
        raise ValueError("ensemble: give sigma1 or sigma1_grid")
    if sigma2 is None and not sigma2_grid:
        raise ValueError("ensemble: give sigma2 or sigma2_grid")
    if lambda_grid and lambda_rel_grid:
        raise ValueError("ensemble: give lambda_grid (absolute) or lambda_rel_grid (relative to "
                         "the kernel diagonal), not both")
    if sum(v is not None for v in (lambda2, lambda2_rel, lambda2_rel_grid)) > 1:
        raise ValueError("ensemble: give lambda2, lambda2_rel or lambda2_rel_grid, not two")
    for name, v in (("lambda2", lambda2), ("lambda2_rel", lambda2_rel)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise ValueError(f"ensemble: {name} {v}: must be finite and > 0")
    if members < 1 or n_train < 1:
        raise ValueError("ensemble: members and n_train must be at least 1")
    if select not in ("binned", "raw"):
        raise ValueError(f"ensemble: select {select!r}: expected 'binned' or 'raw'")
    for name, grid in (("sigma1_grid", sigma1_grid), ("sigma2_grid", sigma2_grid),
                       ("lambda_grid", lambda_grid), ("lambda_rel_grid", lambda_rel_grid),
                       ("lambda2_rel_grid", lambda2_rel_grid)):
        if grid is not None and not 1 <= len(grid) <= 16:
            raise ValueError(f"{name}: 1 to 16 values")
        if grid is not None and not all(np.isfinite(v) and v >= 0 for v in grid):
            raise ValueError(f"{name}: values must be finite and non-negative")
    specs = [collective] if isinstance(collective, str) else list(collective or [])
    if len(specs) > 4:
        raise ValueError(f"collective: 1 to 4 collective variables, got {len(specs)}")
    data, owned = as_dataset(data)
    prior_obj = None
    try:
        if data.n_frames < 2:
            raise L.error_for_status(
                1, f"the dataset has {data.n_frames} frame(s); an ensemble needs at least 2 "
                   "(members, a mean set and cross-validation all compare frames)")
        if prior:
            try:
                prior_obj = Prior.fit(data, bonds, temperature)
            except L.Error as e:
                raise type(e)(f"prior (give bonds, or prior=False): {e.message}", e.status) \
                    from None
        o = L.EnsembleOptions()
        L.lib().cgdml_ensemble_options_init(byref(o))
        o.strata.kmeans = kmeans or 0
        o.strata.seed = seed
        for i, spec in enumerate(specs):
            L.call("cgdml_collective_parse", spec.encode(), byref(o.strata.collective[i]))
        o.strata.n_collective = 0 if kmeans else len(specs)
        o.prior = int(prior_obj is not None)
        o.use_prior = prior_obj._ptr if prior_obj is not None else None
        l1 = _Layer1(members, n_train, sigma1 if sigma1 is not None else 0.0, lambda_, draw,
                     seed, parallel, precision, checkpoint)
        o.layer1 = l1.c
        o.resume = int(bool(resume))
        keep = []  # arrays the C options point into, alive for the call
        if exclude is not None and len(exclude):
            keep.append(A.indices(exclude, "exclude"))
            o.strata.exclude, o.strata.n_exclude = A.size_ptr(keep[-1]), keep[-1].size

        def grid(values, ptr_name, n_name):
            if values:
                a = A.vector(values, ptr_name)
                keep.append(a)
                setattr(o, ptr_name, A.ptr(a))
                setattr(o, n_name, a.size)

        grid(sigma1_grid, "sigma1_grid", "n_sigma1_grid")
        grid(lambda_rel_grid or lambda_grid, "lambda_grid", "n_lambda_grid")
        o.lambda_relative = int(bool(lambda_rel_grid))
        o.select_raw = int(select == "raw")
        o.folds = folds
        o.mean_set = mean_set or 0
        o.sigma2 = float(sigma2) if sigma2 is not None else 0.0
        grid(sigma2_grid, "sigma2_grid", "n_sigma2_grid")
        grid(lambda2_rel_grid, "lambda2_grid", "n_lambda2_grid")
        o.lambda2 = float(lambda2 if lambda2 is not None else lambda2_rel or 0.0)
        o.lambda2_relative = int(lambda2_rel is not None or bool(lambda2_rel_grid))
        warned = []
        note = L.NOTE_FN(lambda ctx, line: warned.append(line.decode().strip())
                         if line.startswith(b"warning: ") else None)
        o.note = ctypes.cast(note, c_void_p)
        out = POINTER(L.EnsembleStruct)()
        L.call("cgdml_ensemble_build", data._ptr, byref(o), byref(out))
        for w in warned:
            warnings.warn(w[len("warning: "):], stacklevel=2)
        return _take_ensemble(out, prior_obj, checkpoint)
    finally:
        if owned:
            data.close()


def _take_ensemble(out, prior_obj, checkpoint):
    """An Ensemble owning what the C ensemble made (its pointers handed over one by
    one, then the emptied struct freed).  The prior is the Python one it was given
    (the C copy is the same parameters)."""
    e = out.contents

    def detach(p, struct):
        # A pointer of its own (a struct field's pointer is a view of the struct).
        return ctypes.cast(c_void_p(ctypes.cast(p, c_void_p).value), POINTER(struct))

    try:
        distilled, e.distilled = Model(detach(e.distilled, L.ModelStruct)), None
        avg, e.average = Model(detach(e.average, L.ModelStruct)), None
        trained = []
        for k in range(e.n_members):
            trained.append(Model(detach(e.members[k], L.ModelStruct)))
            e.members[k] = None
        strata, e.strata = Strata(detach(e.strata, L.StrataStruct)), None
        mean = A.copy(e.mean_set, (e.n_mean_set,), np.uintp)
        cv1 = [CVPoint._from_c(e.cv1[i]) for i in range(e.n_cv1)]
        cv2 = [CVPoint._from_c(e.cv2[i]) for i in range(e.n_cv2)]
        sigma1, sigma2, lam, lam2 = e.sigma1, e.sigma2, getattr(e, "lambda"), e.lambda2
    finally:
        L.lib().cgdml_ensemble_free(out)
    return Ensemble(distilled, avg, trained, strata, prior_obj, mean, sigma1, sigma2, lam, cv1,
                    cv2, None if checkpoint is None else os.fspath(checkpoint), lam2)
