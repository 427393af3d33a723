"""dataset.py - the coarse-grained dataset (include/cgdml/dataset.h, h5md.h, npy.h,
synthetic.h) and frame selections (sample.h).

A Dataset owns one cgdml_dataset: frames of N beads with positions (Å) and mapped
forces (kcal/mol/Å), bead names, bonds and per-frame observables (radians).

``positions``, ``forces``, ``step``, ``time`` and the observables are read-only
NumPy *views* of the library's memory (no copy; they stay valid after ``close()``
for as long as they are referenced).  ``bead_names``, ``bonds`` and every index
array are *copies*.  To change values, copy (``np.array(ds.positions)``) and build
a new dataset with ``Dataset.from_arrays``.
"""
import ctypes
import os
from ctypes import POINTER, byref, c_int, c_size_t, c_void_p

import numpy as np

from . import _arrays as A
from . import _lib as L
from ._object import CObject
from .errors import FormatError, error_for_status


def _path(p):
    return os.fsencode(os.fspath(p))


def _group(g):
    return None if g is None else g.encode()


class Dataset(CObject):
    """Frames of a CG system: positions (Å), forces (kcal/mol/Å), names, bonds,
    observables.  Construct with ``Dataset.load``, ``Dataset.from_arrays``,
    ``Dataset.from_npy`` or ``Dataset.synthetic``."""

    _free_name = "cgdml_dataset_free"
    _what = "dataset"

    # ---- construction ---------------------------------------------------------

    @classmethod
    def _wrap(cls, pointer):
        return cls(pointer)

    @classmethod
    def _alloc(cls, n_frames, n_beads):
        out = POINTER(L.DatasetStruct)()
        L.call("cgdml_dataset_alloc", n_frames, n_beads, byref(out))
        return cls(out)

    @classmethod
    def load(cls, path, group=None, check=True):
        """Read a dataset as the cgdml program does: an sGDML ``.npz`` archive (R, F,
        z) by its ending, else an H5MD file (particle group ``group``, default "cg"
        or the only one).  With ``check`` (the default, as every command but ``fes``
        does) the values are checked too: finite, within range, no coinciding beads
        (cgdml_dataset_check); trajectories with stopped replicas hold NaN and are
        read with ``check=False``."""
        name = os.fspath(path)
        out = POINTER(L.DatasetStruct)()
        lower = name.lower()
        if lower.endswith(".npz"):
            L.call("cgdml_npz_read_sgdml", _path(name), byref(out))
        elif lower.endswith(".npy"):
            raise FormatError(f"{name}: a lone .npy holds coordinates or forces, not both; "
                              f"use Dataset.from_npy(coords, forces)", 3)
        else:
            L.call("cgdml_h5md_read", _path(name), _group(group), byref(out))
        ds = cls(out)
        if check:
            ds._check_or_raise(prefix=name)
        return ds

    @classmethod
    def from_npy(cls, coords_path, forces_path, bead_names=None):
        """Import a pair of .npy files, (frames, beads, 3) '<f4' or '<f8', as
        ``cgdml import --coords --forces`` does (values checked)."""
        out = POINTER(L.DatasetStruct)()
        L.call("cgdml_npy_import", _path(coords_path), _path(forces_path), byref(out))
        ds = cls(out)
        if bead_names is not None:
            ds._set_names(bead_names)
        ds._check_or_raise()
        return ds

    @classmethod
    def from_arrays(cls, positions, forces, bead_names=None, bonds=None, observables=None,
                    step=None, time=None, check=True):
        """A dataset from NumPy arrays (copied into the library's memory).

        positions, forces: (frames, beads, 3) floats, Å and kcal/mol/Å.
        bead_names: one string per bead (default "B0", "B1", ...).
        bonds: (bonds, 2) integer bead indices.
        observables: {name: (frames,) floats} (radians for angles), at most 8.
        step, time: (frames,) MD step (integers) and time (ps); default frame
        index and 0.
        With ``check`` the values are checked by the library (NaN, Inf, out of
        range, coinciding beads): a refusal is a cgdml.Error with its message."""
        x = A.frames(positions, "positions")
        f = A.frames(forces, "forces", n_beads=x.shape[1])
        if f.shape != x.shape:
            raise ValueError(f"forces: expected the shape of positions {x.shape}, got {f.shape}")
        n, nb = x.shape[0], x.shape[1]
        ds = cls._alloc(n, nb)
        c = ds._c
        ctypes.memmove(c.coords, x.ctypes.data, x.nbytes)
        ctypes.memmove(c.forces, f.ctypes.data, f.nbytes)
        if bead_names is not None:
            ds._set_names(bead_names)
        if bonds is not None:
            ds.set_bonds(bonds)
        if step is not None:
            s = A.vector(step, "step", n, dtype=np.int64)
            ctypes.memmove(c.step, s.ctypes.data, s.nbytes)
        if time is not None:
            t = A.vector(time, "time", n)
            ctypes.memmove(c.time, t.ctypes.data, t.nbytes)
        for name, value in (observables or {}).items():
            ds.add_observable(name, value)
        if check:
            ds._check_or_raise()
        return ds

    @classmethod
    def synthetic(cls, beads=6, frames=2000, spread=0.12, noise=0.0, seed=1):
        """A toy dataset with exact forces, as ``cgdml synthetic`` makes it: a random
        harmonic network of ``beads`` beads (springs of 20 to 40 kcal/mol/Å², seed
        ``seed``), ``frames`` frames displaced by ``spread`` Å, Gaussian label noise of
        ``noise`` kcal/mol/Å (sampled with seed ``seed + 1``)."""
        if not 2 <= beads <= 1000:
            raise ValueError(f"synthetic: beads {beads}: expected 2 to 1000")
        if frames < 1:
            raise ValueError("synthetic: frames must be at least 1")
        if not (spread >= 0 and noise >= 0):
            raise ValueError("synthetic: spread and noise must be >= 0")
        net = c_void_p()
        L.call("cgdml_harmonic_network_alloc", beads, 20.0, seed, byref(net))
        try:
            out = POINTER(L.DatasetStruct)()
            L.call("cgdml_harmonic_network_sample", net, frames, float(spread), float(noise),
                   seed + 1, byref(out))
        finally:
            L.lib().cgdml_harmonic_network_free(net)
        return cls(out)

    @staticmethod
    def frames_count(path, group=None):
        """(frames, beads) of an H5MD dataset, without reading its arrays."""
        n, b = c_size_t(), c_size_t()
        L.call("cgdml_h5md_read_frames_count", _path(path), _group(group), byref(n), byref(b))
        return n.value, b.value

    # ---- editing (before use) --------------------------------------------------

    def _set_names(self, names):
        names = list(names)
        nb = self.n_beads
        if len(names) != nb:
            raise ValueError(f"bead_names: {len(names)} names for {nb} beads")
        encoded = []
        for i, name in enumerate(names):
            b = str(name).encode()
            if not 1 <= len(b) < L.NAME_MAX:
                raise ValueError(f"bead_names: name {i + 1} must have 1 to {L.NAME_MAX - 1} "
                                 f"characters, got {name!r}")
            encoded.append(b)
        c = self._c
        for i, b in enumerate(encoded):
            c.bead_names[i].value = b

    def set_bonds(self, bonds):
        """Set the bond list ((bonds, 2) bead indices; the library checks them)."""
        b = np.asarray(bonds)
        if b.size == 0:
            b = b.reshape(0, 2)
        if b.dtype.kind not in "iu" or b.ndim != 2 or b.shape[1] != 2:
            raise ValueError(f"bonds: expected integer pairs of shape (bonds, 2), got a "
                             f"{b.dtype} array of shape {b.shape}")
        b = np.ascontiguousarray(b, dtype=np.intc)
        L.call("cgdml_dataset_set_bonds", self._ptr, b.shape[0], A.ptr(b, c_int))

    def add_observable(self, name, value):
        """Add a per-frame observable (copied; radians for angles)."""
        v = A.vector(value, f"observable {name!r}", self.n_frames)
        L.call("cgdml_dataset_add_observable", self._ptr, str(name).encode(), A.ptr(v))

    # ---- checks, I/O ----------------------------------------------------------

    def _check_or_raise(self, prefix=None):
        status = L.lib().cgdml_dataset_check(self._ptr)
        if status:
            message = L.lib().cgdml_error_message().decode("utf-8", "replace")
            self.close()
            raise error_for_status(status, f"{prefix}: {message}" if prefix else message)

    def check(self, indices=None):
        """The library's value checks (cgdml_dataset_check, or on the frames
        ``indices`` only); raises with its message."""
        if indices is None:
            L.call("cgdml_dataset_check", self._ptr)
        else:
            idx = A.indices(indices)
            L.call("cgdml_dataset_check_frames", self._ptr, A.size_ptr(idx), idx.size)

    def save(self, path, group=None):
        """Write as H5MD 1.1 (atomically; docs/FORMATS.md)."""
        L.call("cgdml_h5md_write", _path(path), self._ptr, _group(group))

    def subset(self, indices):
        """A new dataset of the frames ``indices`` (names, bonds, observables kept)."""
        idx = A.indices(indices)
        out = POINTER(L.DatasetStruct)()
        L.call("cgdml_dataset_subset", self._ptr, A.size_ptr(idx), idx.size, byref(out))
        return Dataset(out)

    # ---- contents -------------------------------------------------------------

    @property
    def n_frames(self):
        return self._c.n_frames

    @property
    def n_beads(self):
        return self._c.n_beads

    def __len__(self):
        return self.n_frames

    @property
    def positions(self):
        """(frames, beads, 3) Å, a read-only view."""
        c = self._c
        return A.view(self._handle, c.coords, (c.n_frames, c.n_beads, 3))

    @property
    def forces(self):
        """(frames, beads, 3) kcal/mol/Å, a read-only view."""
        c = self._c
        return A.view(self._handle, c.forces, (c.n_frames, c.n_beads, 3))

    @property
    def step(self):
        """(frames,) int64 MD steps, a read-only view."""
        c = self._c
        return A.view(self._handle, c.step, (c.n_frames,), np.int64)

    @property
    def time(self):
        """(frames,) ps, a read-only view."""
        c = self._c
        return A.view(self._handle, c.time, (c.n_frames,))

    @property
    def bead_names(self):
        c = self._c
        return A.names(c.bead_names, c.n_beads)

    @property
    def bonds(self):
        """(bonds, 2) int32 bead indices, a copy."""
        c = self._c
        return A.copy(c.bonds, (c.n_bonds, 2), np.intc)

    @property
    def observables(self):
        """{name: (frames,) read-only view}."""
        c = self._c
        return {c.observables[i].name.decode(): A.view(self._handle, c.observables[i].value,
                                                       (c.n_frames,))
                for i in range(c.n_observables)}

    @property
    def hash(self):
        """The 64-bit hash a model records of its training data (cgdml_dataset_hash)."""
        return L.lib().cgdml_dataset_hash(self._ptr)

    def __repr__(self):
        if self.closed:
            return "<cgdml.Dataset closed>"
        return (f"<cgdml.Dataset {self.n_frames} frames x {self.n_beads} beads "
                f"({' '.join(self.bead_names)}), observables {list(self.observables)}>")


def as_dataset(data, check=True):
    """A Dataset from a Dataset (returned as is) or a path (loaded as the program
    loads it).  Returns (dataset, owned): owned datasets are the caller's to close."""
    if isinstance(data, Dataset):
        return data, False
    if isinstance(data, (str, bytes, os.PathLike)):
        return Dataset.load(data, check=check), True
    raise TypeError(f"expected a cgdml.Dataset or a file path, got {type(data).__name__}")


# ---- frame selections (sample.h) ---------------------------------------------------

def random_frames(n_frames, m, seed=1):
    """m distinct frames of 0..n_frames-1, uniformly at random from ``seed``, sorted
    (cgdml_sample_random: what ``--n-train M --seed S`` selects)."""
    out = POINTER(c_size_t)()
    L.call("cgdml_sample_random", n_frames, m, seed, byref(out))
    return L.take_size_array(out, m)


def read_indices(path, n_frames):
    """Frame indices from a text or integer .npy file (every index < n_frames)."""
    out, n = POINTER(c_size_t)(), c_size_t()
    L.call("cgdml_sample_read_indices", _path(path), n_frames, byref(out), byref(n))
    return L.take_size_array(out, n.value)


def complement(n_frames, indices):
    """The frames of 0..n_frames-1 not in ``indices``, sorted."""
    idx = A.indices(indices)
    out, n = POINTER(c_size_t)(), c_size_t()
    L.call("cgdml_sample_complement", n_frames, A.size_ptr(idx), idx.size, byref(out), byref(n))
    return L.take_size_array(out, n.value)


def selection(indices, n_frames, n=None, seed=1, what="frames"):
    """Frames as the program selects them: ``indices`` (an array, or the path of an
    index file), else ``n`` random frames from ``seed``, else every frame."""
    if indices is not None and n is not None:
        raise ValueError(f"{what}: give indices or a number of frames, not both")
    if indices is not None:
        if isinstance(indices, (str, bytes, os.PathLike)):
            return read_indices(indices, n_frames)
        return A.indices(indices)
    if n is not None:
        if n < 1:
            raise ValueError(f"{what}: choose at least 1 frame")
        return random_frames(n_frames, n, seed)
    return np.arange(n_frames, dtype=np.uintp)

