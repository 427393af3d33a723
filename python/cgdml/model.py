"""model.py - a trained GDML force field (include/cgdml/model.h): training,
prediction of forces and energies, held-out errors, model files.

A Model owns one cgdml_model.  Predictions are new NumPy arrays; the model's own
arrays (training indices, the cross-validation table, the prior) are returned as
copies.
"""
import ctypes
import os
from dataclasses import dataclass
from ctypes import POINTER, byref

import numpy as np

from . import _arrays as A
from . import _lib as L
from ._object import CObject
from .dataset import Dataset, as_dataset, complement, selection


def _precision(p):
    try:
        return L.PRECISIONS[p]
    except KeyError:
        raise ValueError(f"precision {p!r}: expected one of {', '.join(L.PRECISIONS)}") from None


@dataclass(frozen=True)
class TrainStats:
    """What training did (cgdml_train_stats): seconds per stage, the packed matrix's
    bytes, the precision that produced the coefficients, the refinement steps of a
    mixed solve and why a mixed solve fell back to double ("" if it did not)."""
    descriptor_s: float
    assembly_s: float
    factor_s: float
    solve_s: float
    matrix_bytes: int
    precision: str
    refinements: int
    fallback: str

    @classmethod
    def _from_c(cls, s):
        names = {v: k for k, v in L.PRECISIONS.items()}
        return cls(s.descriptor_s, s.assembly_s, s.factor_s, s.solve_s, s.matrix_bytes,
                   names.get(s.precision, str(s.precision)), s.refinements,
                   s.fallback.decode("utf-8", "replace"))


@dataclass(frozen=True)
class ForceErrors:
    """Force errors of a model on frames of a dataset (cgdml_force_errors), as
    ``cgdml eval`` prints them: MSE ((kcal/mol/Å)²), MAE (kcal/mol/Å), the labels'
    variance, MSE relative to it, and per bead."""
    n_frames: int
    n_beads: int
    mse: float
    mae: float
    label_variance: float
    relative_mse: float
    bead_mse: np.ndarray
    bead_mae: np.ndarray


class Model(CObject):
    """A GDML model: kernel part (σ, λ, training descriptors and coefficients) plus
    an optional harmonic prior.  Construct with ``Model.train`` or ``Model.load``."""

    _free_name = "cgdml_model_free"
    _what = "model"

    def __init__(self, pointer, train_stats=None):
        super().__init__(pointer)
        self.train_stats = train_stats

    # ---- construction ---------------------------------------------------------

    @classmethod
    def train(cls, data, sigma, lambda_=1e-10, *, indices=None, n_train=None, seed=1,
              precision="auto", labels=None, check_duplicates=True):
        """Train one GDML model as ``cgdml train`` does.

        data: a Dataset or the path of one.  Frames: ``indices`` (array or index
        file), else ``n_train`` random frames from ``seed``, else every frame.
        sigma: Matérn length scale (1/Å); lambda_: ridge (default 1e-10, sGDML's).
        precision: "auto" (default), "double" or "mixed" (model.h).
        labels: optional (frames, beads, 3) labels in place of the data's forces
        (cgdml_model_train_precision's labels).
        check_duplicates: refuse a frame selected twice or two frames of the same
        geometry, as ``cgdml train`` does (cgdml_model_check_duplicates).
        The statistics of the solve are in ``model.train_stats``."""
        data, owned = as_dataset(data)
        try:
            idx = selection(indices, data.n_frames, n_train, seed, "train")
            lab = None
            if labels is not None:
                lab = A.frames(labels, "labels", data.n_beads)
                if lab.shape[0] != idx.size:
                    raise ValueError(f"labels: expected {idx.size} frames (one per training "
                                     f"frame), got {lab.shape[0]}")
            if check_duplicates:
                L.call("cgdml_model_check_duplicates", data._ptr, A.size_ptr(idx), idx.size)
            stats = L.TrainStats()
            out = POINTER(L.ModelStruct)()
            L.call("cgdml_model_train_precision", data._ptr, A.size_ptr(idx), idx.size,
                   A.ptr(lab), float(sigma), float(lambda_), _precision(precision),
                   byref(stats), byref(out))
            return cls(out, TrainStats._from_c(stats))
        finally:
            if owned:
                data.close()

    @classmethod
    def load(cls, path):
        """Load a model file (any kind: single, average, distilled)."""
        out = POINTER(L.ModelStruct)()
        L.call("cgdml_model_load", os.fsencode(os.fspath(path)), byref(out))
        return cls(out)

    @staticmethod
    def is_model_file(path):
        """True if ``path`` is an HDF5 file holding a cgdml model."""
        return bool(L.lib().cgdml_model_file_probe(os.fsencode(os.fspath(path))))

    def save(self, path):
        """Write the model file (atomically; docs/FORMATS.md)."""
        L.call("cgdml_model_save", self._ptr, os.fsencode(os.fspath(path)))

    # ---- use --------------------------------------------------------------------

    def predict(self, x, energies=False, *, indices=None, check=True):
        """Forces (kcal/mol/Å) and, with ``energies``, energies (kcal/mol, up to a
        constant) of frames: the kernel part plus the prior.

        x: (frames, beads, 3) or one (beads, 3) frame in Å, or a Dataset (with
        ``indices``, those frames of it).  With ``check`` (the default) the frames
        are first checked by the library as the program checks the data it
        predicts for (finite, in range, no coinciding beads); a refusal is a
        cgdml.Error with its message.  check=False skips that (the inner loop of a
        simulation; NaN in, NaN out).
        Returns forces shaped like x, or (forces, energies)."""
        nb = self.n_beads
        single = False
        keep = None  # a dataset whose coordinates are passed (kept alive for the call)
        if isinstance(x, Dataset):
            if x.n_beads != nb:
                raise ValueError(f"the dataset has {x.n_beads} beads but the model has {nb}")
            if indices is not None:
                keep = x.subset(indices)
            else:
                keep = x
                if check:
                    x.check()
            coords, n = keep._c.coords, keep.n_frames
        else:
            if indices is not None:
                raise ValueError("indices: only with a Dataset")
            arr = A.frames(x, "coords", nb, allow_single=True)
            single = np.asarray(x).ndim == 2
            n = arr.shape[0]
            if check:
                keep = Dataset._alloc(n, nb)
                ctypes.memmove(keep._c.coords, arr.ctypes.data, arr.nbytes)
                keep._check_or_raise()
                coords = keep._c.coords
            else:
                keep = arr
                coords = A.ptr(arr)
        L.call("cgdml_memory_check", L.lib().cgdml_model_predict_bytes(self._ptr, n),
               b"predicting")
        f = np.empty((n, nb, 3))
        e = np.empty(n) if energies else None
        L.call("cgdml_model_predict", self._ptr, n, coords, A.ptr(f), A.ptr(e))
        del keep
        if single:
            f, e = f[0], (e[0] if e is not None else None)
        return (f, e) if energies else f

    def evaluate(self, data, indices=None, *, held_out=False, n=None, seed=1):
        """Force errors on frames of ``data`` as ``cgdml eval`` measures them: the
        frames ``indices`` (array or index file), or ``n`` random ones from ``seed``,
        or with ``held_out`` those of the training dataset the model did not see
        (its hash must match), else every frame.  Returns ForceErrors."""
        data, owned = as_dataset(data)
        try:
            if data.n_beads != self.n_beads:
                raise ValueError(f"the dataset has {data.n_beads} beads but the model has "
                                 f"{self.n_beads}")
            if held_out:
                if indices is not None or n is not None:
                    raise ValueError("held_out: give no indices")
                if data.hash != self.dataset_hash:
                    raise ValueError(f"held_out: the data is not the dataset this model was "
                                     f"trained on (hash {data.hash:016x}, model's "
                                     f"{self.dataset_hash:016x})")
                idx = complement(data.n_frames, self.train_indices)
                if idx.size == 0:
                    raise ValueError("held_out: the model was trained on every frame")
            else:
                idx = selection(indices, data.n_frames, n, seed, "evaluate")
            e = L.ForceErrorsStruct()
            try:
                L.call("cgdml_model_evaluate", self._ptr, data._ptr, A.size_ptr(idx), idx.size,
                       byref(e))
                return ForceErrors(e.n_frames, e.n_beads, e.mse, e.mae, e.label_variance,
                                   e.relative_mse, A.copy(e.bead_mse, (e.n_beads,)),
                                   A.copy(e.bead_mae, (e.n_beads,)))
            finally:
                L.lib().cgdml_force_errors_free(byref(e))
        finally:
            if owned:
                data.close()

    def attach_prior(self, prior):
        """Give the model its own copy of ``prior`` (replacing any it had)."""
        L.call("cgdml_model_attach_prior", self._ptr, prior._ptr)

    def _append_cv(self, layer, points):
        """Append rows to the model's cross-validation table, as ``cgdml ensemble``
        records them (layer, sigma, lambda, mse, stderr, frames, binned error).  The table is
        malloc'd memory the library frees with the model."""
        if not points:
            return
        c = self._c
        rows = c.cv_rows + len(points)
        grown = L.c_realloc(c.cv_table, rows * L.CV_COLUMNS * 8)
        if not grown:
            raise MemoryError("cannot allocate the CV table")
        c.cv_table = ctypes.cast(grown, POINTER(ctypes.c_double))
        for i, p in enumerate(points):
            row = (layer, p.sigma, p.lambda_, p.mse, p.mse_stderr, float(p.n_eval),
                   p.mse_binned)
            for j, v in enumerate(row):
                c.cv_table[(c.cv_rows + i) * L.CV_COLUMNS + j] = v
        c.cv_rows = rows

    # ---- contents -------------------------------------------------------------

    @property
    def kind(self):
        """"single", "average" or "distilled"."""
        return L.MODEL_KINDS.get(self._c.kind, str(self._c.kind))

    @property
    def n_beads(self):
        return self._c.n_beads

    @property
    def n_train(self):
        return self._c.n_train

    @property
    def sigma(self):
        return self._c.sigma

    @property
    def lambda_(self):
        return getattr(self._c, "lambda")

    @property
    def dataset_hash(self):
        return self._c.dataset_hash

    @property
    def bead_names(self):
        c = self._c
        return A.names(c.bead_names, c.n_beads)

    @property
    def train_indices(self):
        """Frame indices into the training dataset, a copy."""
        c = self._c
        return A.copy(c.train_indices, (c.n_train,), np.uintp)

    @property
    def cv_table(self):
        """(rows, 6) copy: layer, sigma, lambda, MSE, stderr, held-out frames."""
        c = self._c
        return A.copy(c.cv_table, (c.cv_rows, L.CV_COLUMNS))

    @property
    def prior(self):
        """A copy of the model's prior (a cgdml.Prior), or None."""
        from .prior import Prior
        c = self._c
        return Prior._copy_of(c.prior.contents) if c.prior else None

    def __repr__(self):
        if self.closed:
            return "<cgdml.Model closed>"
        return (f"<cgdml.Model {self.kind}, {self.n_train} training frames of "
                f"{self.n_beads} beads, sigma {self.sigma:g}, lambda {self.lambda_:g}, "
                f"{'with' if self._c.prior else 'no'} prior>")
