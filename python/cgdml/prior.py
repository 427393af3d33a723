"""prior.py - the harmonic prior on bonds and angles (include/cgdml/prior.h,
docs/method.md §3).

A Prior owns one cgdml_prior.  Its parameters are returned as copies.
"""
import ctypes
from ctypes import POINTER, byref, c_int, c_size_t

import numpy as np

from . import _arrays as A
from . import _lib as L
from ._object import CObject
from .dataset import as_dataset


def default_bonds(n_beads):
    """The alanine dipeptide CG topology for 6 (C N CA CB C N) or 5 beads, (bonds, 2)."""
    n, out = c_size_t(), POINTER(c_int)()
    L.call("cgdml_prior_default_bonds", n_beads, byref(n), byref(out))
    try:
        return np.ctypeslib.as_array(out, shape=(n.value, 2)).copy()
    finally:
        L.c_free(out)


class Prior(CObject):
    """Harmonic bonds and angles fitted by Boltzmann inversion."""

    _free_name = "cgdml_prior_free"
    _what = "prior"

    @classmethod
    def fit(cls, data, bonds=None, temperature=300.0, indices=None):
        """Fit on the frames ``indices`` of ``data`` (default all), as ``cgdml
        ensemble`` does: bonds given, else the data's own, else the alanine dipeptide
        default for its bead count; angles from the bonds; k = k_B T / variance."""
        data, owned = as_dataset(data)
        try:
            if bonds is None:
                bonds = data.bonds if data._c.n_bonds else default_bonds(data.n_beads)
            b = np.asarray(bonds)
            if b.dtype.kind not in "iu" or b.ndim != 2 or b.shape[1] != 2:
                raise ValueError(f"bonds: expected integer pairs of shape (bonds, 2), got a "
                                 f"{b.dtype} array of shape {b.shape}")
            b = np.ascontiguousarray(b, dtype=np.intc)
            idx = None if indices is None else A.indices(indices)
            n = data.n_frames if idx is None else idx.size
            out = POINTER(L.PriorStruct)()
            L.call("cgdml_prior_fit", data._ptr, A.size_ptr(idx), n, b.shape[0],
                   A.ptr(b, c_int), float(temperature), byref(out))
            return cls(out)
        finally:
            if owned:
                data.close()

    @classmethod
    def _copy_of(cls, p):
        """A new prior holding the parameters of the C prior *p (cgdml_prior_alloc, then
        filled in, as the model-file reader does)."""
        out = POINTER(L.PriorStruct)()
        L.call("cgdml_prior_alloc", p.n_bonds, p.n_angles, byref(out))
        q = out.contents
        q.temperature = p.temperature
        for name, count, size in (("bonds", 2 * p.n_bonds, ctypes.sizeof(c_int)),
                                  ("bond_r0", p.n_bonds, 8), ("bond_k", p.n_bonds, 8),
                                  ("angles", 3 * p.n_angles, ctypes.sizeof(c_int)),
                                  ("angle_theta0", p.n_angles, 8), ("angle_k", p.n_angles, 8)):
            if count:
                ctypes.memmove(getattr(q, name), getattr(p, name), count * size)
        return cls(out)

    @property
    def temperature(self):
        return self._c.temperature

    @property
    def bonds(self):
        c = self._c
        return A.copy(c.bonds, (c.n_bonds, 2), np.intc)

    @property
    def bond_r0(self):
        c = self._c
        return A.copy(c.bond_r0, (c.n_bonds,))

    @property
    def bond_k(self):
        c = self._c
        return A.copy(c.bond_k, (c.n_bonds,))

    @property
    def angles(self):
        c = self._c
        return A.copy(c.angles, (c.n_angles, 3), np.intc)

    @property
    def angle_theta0(self):
        c = self._c
        return A.copy(c.angle_theta0, (c.n_angles,))

    @property
    def angle_k(self):
        c = self._c
        return A.copy(c.angle_k, (c.n_angles,))

    def energy_forces(self, positions):
        """Energies (frames,) kcal/mol and forces (frames, beads, 3) kcal/mol/Å of the
        prior alone (cgdml_prior_add_forces, frame by frame)."""
        x = A.frames(positions, "positions", allow_single=False)
        f = np.zeros_like(x)
        e = np.empty(x.shape[0])
        fn = L.lib().cgdml_prior_add_forces
        for i in range(x.shape[0]):
            e[i] = fn(self._ptr, A.ptr(x[i]), A.ptr(f[i]))
        return e, f

    def subtract(self, data, indices=None):
        """Prior-subtracted labels: the data's forces minus the prior's on frames
        ``indices`` (default all), (frames, beads, 3)."""
        data, owned = as_dataset(data)
        try:
            idx = None if indices is None else A.indices(indices)
            n = data.n_frames if idx is None else idx.size
            out = np.empty((n, data.n_beads, 3))
            L.call("cgdml_prior_subtract", self._ptr, data._ptr, A.size_ptr(idx), n, A.ptr(out))
            return out
        finally:
            if owned:
                data.close()

    def __repr__(self):
        if self.closed:
            return "<cgdml.Prior closed>"
        c = self._c
        return f"<cgdml.Prior {c.n_bonds} bonds, {c.n_angles} angles at {c.temperature:g} K>"

