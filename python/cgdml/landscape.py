"""landscape.py - free-energy landscapes F(φ, ψ) and their comparison
(include/cgdml/fes.h, docs/method.md §5-6).

A Landscape owns one cgdml_fes: counts and F = -ln p in kT on n_bins x n_bins
periodic bins of [-π, π)², minimum 0, NaN where empty; ``count`` and
``free_energy`` are read-only NumPy views, indexed [φ bin][ψ bin].

``reference_landscape()`` is ``cgdml fes-reference`` and ``fes()`` is ``cgdml
fes``: the same library calls in the same order, so that ``.save(path)`` writes the
program's file.  ``assess()`` is the same assessment in one library call
(``cgdml_fes_assess``, what the pipeline runs).
"""
import ctypes
import math
import os
from ctypes import POINTER, byref, c_int
from dataclasses import dataclass, fields

import numpy as np

from . import _arrays as A
from . import _lib as L
from ._object import CObject
from .dataset import Dataset, as_dataset

DEFAULT_BINS = 60  # CGDML_FES_DEFAULT_BINS


def _quad(beads, name):
    if beads is None:
        return None
    b = np.asarray(beads)
    if b.dtype.kind not in "iu" or b.shape != (4,):
        raise ValueError(f"{name}: expected four bead indices, got {beads!r}")
    return (c_int * 4)(*[int(v) for v in b])


@dataclass(frozen=True)
class Comparison:
    """Landscape a against b (cgdml_fes_comparison): MSE (kT²) over jointly populated
    bins after the best shift, the shift (kT), joint bins, KL(p_b || p_a), b's
    population where a never goes (missing), the population-weighted MSE and a's
    population where b never goes (extra)."""
    mse: float
    shift: float
    joint_bins: int
    kl: float
    missing: float
    mse_weighted: float
    extra: float

    @classmethod
    def _from_c(cls, c):
        return cls(*(getattr(c, f.name) for f in fields(cls)))

    def _to_c(self):
        return L.FesComparisonStruct(*(getattr(self, f.name) for f in fields(self)))


@dataclass(frozen=True)
class Matched:
    """The floor matched to a trajectory (cgdml_fes_matched): autocorrelation times
    (frames) of the trajectory and the reference, blocks (replicas), frames per
    block, whether blocks were capped, and the floor's mean and sd (kT²)."""
    tau_model: float
    tau_reference: float
    blocks: int
    block_frames: int
    capped: bool
    floor: float
    floor_sd: float

    @classmethod
    def _from_c(cls, c):
        return cls(c.tau_model, c.tau_reference, c.blocks, c.block_frames, bool(c.capped),
                   c.floor, c.floor_sd)

    def _to_c(self):
        return L.FesMatchedStruct(self.tau_model, self.tau_reference, self.blocks,
                                  self.block_frames, int(self.capped), self.floor,
                                  self.floor_sd)


class Landscape(CObject):
    """F(φ, ψ) on a periodic grid (cgdml_fes)."""

    _free_name = "cgdml_fes_free"
    _what = "landscape"

    @classmethod
    def from_angles(cls, phi, psi, bins=DEFAULT_BINS):
        """Histogram angle pairs (radians) into a bins x bins landscape."""
        p = A.vector(phi, "phi")
        q = A.vector(psi, "psi", p.size)
        out = POINTER(L.FesStruct)()
        L.call("cgdml_fes_from_angles", A.ptr(p), A.ptr(q), p.size, bins, byref(out))
        return cls(out)

    @property
    def n_bins(self):
        return self._c.n_bins

    @property
    def n_samples(self):
        return self._c.n_samples

    @property
    def count(self):
        c = self._c
        return A.view(self._handle, c.count, (c.n_bins, c.n_bins))

    @property
    def free_energy(self):
        """kT, minimum 0, NaN in empty bins; a read-only view."""
        c = self._c
        return A.view(self._handle, c.free_energy, (c.n_bins, c.n_bins))

    @property
    def edges(self):
        """The n_bins + 1 bin edges (radians), as the landscape file stores them."""
        n = self.n_bins
        return -math.pi + 2.0 * math.pi * np.arange(n + 1, dtype=np.float64) / n

    @property
    def populated(self):
        """Bins with at least one sample."""
        return int(np.count_nonzero(self.count > 0))

    def compare(self, reference):
        """This landscape (a, e.g. a model's) against ``reference`` (b)."""
        out = L.FesComparisonStruct()
        L.call("cgdml_fes_compare", self._ptr, reference._ptr, byref(out))
        return Comparison._from_c(out)

    def save(self, path, floor=float("nan"), vs_reference=None, halves=None, matched=None):
        """Write the landscape file (/fes/free_energy, count, edges and attributes;
        docs/FORMATS.md), with the floor, comparison, convergence check and matched
        floor if given."""
        vs = vs_reference._to_c() if vs_reference is not None else None
        hv = halves._to_c() if halves is not None else None
        mt = matched._to_c() if matched is not None else None
        L.call("cgdml_fes_save", self._ptr, float(floor), byref(vs) if vs else None,
               byref(hv) if hv else None, byref(mt) if mt else None,
               os.fsencode(os.fspath(path)))

    def __repr__(self):
        if self.closed:
            return "<cgdml.Landscape closed>"
        return (f"<cgdml.Landscape {self.n_bins} x {self.n_bins} bins, {self.n_samples} "
                f"samples, {self.populated} populated>")


def angles(data, phi_beads=None, psi_beads=None):
    """φ and ψ (radians) of every frame: the dihedrals of the given beads, else the
    dataset's phi/psi observables, else the default beads for its bead count."""
    data, owned = as_dataset(data)
    try:
        phi, psi = np.empty(data.n_frames), np.empty(data.n_frames)
        L.call("cgdml_fes_angles", data._ptr, _quad(phi_beads, "phi_beads"),
               _quad(psi_beads, "psi_beads"), A.ptr(phi), A.ptr(psi))
        return phi, psi
    finally:
        if owned:
            data.close()


def trajectory_landscape(traj, burn_in=0, bins=DEFAULT_BINS, phi_beads=None, psi_beads=None):
    """The landscape of a trajectory's production frames (steps > burn_in) and its
    convergence check, first half against second half: (Landscape, Comparison)."""
    traj, owned = as_dataset(traj, check=False)
    try:
        out, halves = POINTER(L.FesStruct)(), L.FesComparisonStruct()
        L.call("cgdml_fes_trajectory", traj._ptr, int(burn_in), bins,
               _quad(phi_beads, "phi_beads"), _quad(psi_beads, "psi_beads"), byref(out),
               byref(halves))
        return Landscape(out), Comparison._from_c(halves)
    finally:
        if owned:
            traj.close()


def matched_floor(traj, ref_phi, ref_psi, burn_in=0, bins=DEFAULT_BINS, seed=1,
                  phi_beads=None, psi_beads=None):
    """The floor a perfect model could reach with a sample as large and as correlated
    as the trajectory's production frames, against reference angles in time order."""
    traj, owned = as_dataset(traj, check=False)
    try:
        p = A.vector(ref_phi, "ref_phi")
        q = A.vector(ref_psi, "ref_psi", p.size)
        out = L.FesMatchedStruct()
        L.call("cgdml_fes_matched_floor", traj._ptr, int(burn_in), _quad(phi_beads, "phi_beads"),
               _quad(psi_beads, "psi_beads"), A.ptr(p), A.ptr(q), p.size, bins, seed,
               byref(out))
        return Matched._from_c(out)
    finally:
        if owned:
            traj.close()


def autocorrelation_time(series):
    """Integrated autocorrelation time (Sokal window) of one series (1-D) or of
    several of equal length ((series, length), autocovariances averaged)."""
    x = np.asarray(series)
    if x.dtype.kind != "f" or x.ndim not in (1, 2):
        raise ValueError(f"series: expected a 1-D or 2-D float array, got {x.dtype} {x.shape}")
    x = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
    return L.lib().cgdml_fes_autocorrelation_time(A.ptr(x), x.shape[0], x.shape[1])


class ReferenceResult:
    """What ``cgdml fes-reference`` computes: the landscape of all frames and the
    floor, its first half against its second half."""

    def __init__(self, landscape, floor, phi, psi):
        self.landscape = landscape
        self.floor = floor          # Comparison, first half vs second half
        self.phi, self.psi = phi, psi

    def save(self, path):
        """The program's fes-reference file."""
        self.landscape.save(path, self.floor.mse)

    def close(self):
        self.landscape.close()


def reference_landscape(data, bins=DEFAULT_BINS, phi_beads=None, psi_beads=None):
    """The reference landscape of a dataset and its floor, as ``cgdml fes-reference``
    (and ``cgdml fes --reference``) computes them.  Returns a ReferenceResult."""
    data, owned = as_dataset(data)
    try:
        n = data.n_frames
        if n < 2:
            raise L.error_for_status(1, "the dataset has 1 frame; a landscape and its floor "
                                        "need at least 2")
        phi, psi = angles(data, phi_beads, psi_beads)
        half = n // 2
        all_ = Landscape.from_angles(phi, psi, bins)
        with Landscape.from_angles(phi[:half], psi[:half], bins) as first, \
                Landscape.from_angles(phi[half:], psi[half:], bins) as second:
            floor = first.compare(second)
        return ReferenceResult(all_, floor, phi, psi)
    finally:
        if owned:
            data.close()


class FesResult:
    """What ``cgdml fes`` computes for a trajectory: its production landscape, the
    convergence check (``halves``) and, with a reference, the reference landscape,
    the comparison (``vs``), the reference's floor and the matched floor."""

    def __init__(self, landscape, halves, reference=None, vs=None, floor=float("nan"),
                 matched=None):
        self.landscape, self.halves = landscape, halves
        self.reference, self.vs, self.floor, self.matched = reference, vs, floor, matched

    def save(self, path):
        """The program's fes file."""
        self.landscape.save(path, self.floor, self.vs, self.halves, self.matched)

    def close(self):
        self.landscape.close()
        if self.reference is not None:
            self.reference.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def fes(traj, reference=None, burn_in=0, bins=DEFAULT_BINS, seed=1, phi_beads=None,
        psi_beads=None):
    """``cgdml fes``: the landscape of a trajectory (a path or a Dataset, read without
    value checks since stopped replicas leave NaN) after ``burn_in`` steps, with its
    convergence check; with ``reference`` (a path or a Dataset of all-atom frames)
    also the comparison, the reference's floor and the floor matched to the
    trajectory (block places drawn with ``seed``).  Returns a FesResult."""
    if (phi_beads is None) != (psi_beads is None):
        raise ValueError("phi_beads and psi_beads go together")
    t, owned = as_dataset(traj, check=False)
    model = ref = None
    try:
        try:
            model, halves = trajectory_landscape(t, burn_in, bins, phi_beads, psi_beads)
            if reference is None:
                return FesResult(model, halves)
            r = reference_landscape(reference, bins, phi_beads, psi_beads)
            ref = r.landscape
            vs = model.compare(ref)
            matched = matched_floor(t, r.phi, r.psi, burn_in, bins, seed, phi_beads, psi_beads)
        except L.Error as e:
            if isinstance(traj, Dataset):
                raise
            raise type(e)(f"{os.fspath(traj)}: {e.message}", e.status) from None
        return FesResult(model, halves, ref, vs, r.floor.mse, matched)
    except BaseException:
        for obj in (model, ref):
            if obj is not None:
                obj.close()
        raise
    finally:
        if owned:
            t.close()


def assess(traj, reference=None, burn_in=0, bins=DEFAULT_BINS, seed=1, phi_beads=None,
           psi_beads=None):
    """The assessment of a trajectory as the pipeline makes it, by the library's
    ``cgdml_fes_reference_compute`` and ``cgdml_fes_assess``: what ``fes()``
    returns (same arguments, same numbers), in two calls."""
    if (phi_beads is None) != (psi_beads is None):
        raise ValueError("phi_beads and psi_beads go together")
    pb, qb = _quad(phi_beads, "phi_beads"), _quad(psi_beads, "psi_beads")
    t, owned = as_dataset(traj, check=False)
    r, r_owned = (None, False) if reference is None else as_dataset(reference)
    ref = POINTER(L.FesReferenceStruct)()
    try:
        if r is not None:
            L.call("cgdml_fes_reference_compute", r._ptr, pb, qb, bins, byref(ref))
        a = L.FesAssessmentStruct()
        L.call("cgdml_fes_assess", t._ptr, int(burn_in), bins, pb, qb, ref if r else None,
               seed, byref(a))
        # A pointer of its own (the field's pointer is a view of the struct).
        land = Landscape(ctypes.cast(ctypes.c_void_p(ctypes.cast(a.landscape,
                                                                   ctypes.c_void_p).value),
                                     POINTER(L.FesStruct)))
        if not a.has_reference:
            return FesResult(land, Comparison._from_c(a.halves))
        return FesResult(land, Comparison._from_c(a.halves), None, Comparison._from_c(a.vs),
                         a.floor, Matched._from_c(a.matched))
    finally:
        L.lib().cgdml_fes_reference_free(ref)
        if owned:
            t.close()
        if r_owned:
            r.close()
