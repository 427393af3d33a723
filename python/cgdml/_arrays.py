"""_arrays.py - checking NumPy arrays before a pointer to them reaches the library,
and NumPy views of memory the library owns.

Inputs: any real floating-point array (float16/32/64) of the right shape is
accepted; it is handed to the library as a C-contiguous float64 array, copied only
when it is not one already (so a float32 or strided input costs one copy).
Integer, complex, boolean and object arrays are refused: silently converting
them would hide a mistake.  Output arrays given by the caller (``out=``) are
never converted: they must already be C-contiguous, writeable float64 of the
exact shape.  Every refusal is a ValueError naming the argument, what was found
and what was expected.
"""
import ctypes

import numpy as np

from . import _lib


def _describe(a):
    return f"{a.dtype} array of shape {a.shape}"


def frames(x, name, n_beads=None, allow_single=False):
    """x as a C-contiguous float64 (frames, beads, 3) array.  With allow_single a
    (beads, 3) frame is accepted and given a leading axis of one."""
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise ValueError(f"{name}: expected real floating-point values (Å or kcal/mol/Å), "
                         f"got a {_describe(a)}")
    if allow_single and a.ndim == 2:
        a = a[None]
    want = f"(frames, {n_beads if n_beads is not None else 'beads'}, 3)"
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name}: expected shape {want}"
                         f"{' or (beads, 3)' if allow_single else ''}, got {a.shape}")
    if n_beads is not None and a.shape[1] != n_beads:
        raise ValueError(f"{name}: expected shape {want}: the model has {n_beads} beads, "
                         f"the array {a.shape[1]}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one frame and one bead, got {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float64)


def vector(x, name, length=None, dtype=np.float64):
    """x as a C-contiguous 1-D array of `dtype` (float64, from real or integer values;
    or an integer type, from integers)."""
    a = np.asarray(x)
    kind = np.dtype(dtype).kind
    if kind == "f" and a.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected real numbers, got a {_describe(a)}")
    if kind in "iu":
        if a.dtype.kind not in "iu":
            raise ValueError(f"{name}: expected integers, got a {_describe(a)}")
        if a.size and a.min() < 0:
            raise ValueError(f"{name}: expected non-negative integers, found {a.min()}")
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {a.shape}")
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name}: expected {length} values, got {a.shape[0]}")
    return np.ascontiguousarray(a, dtype=dtype)


def indices(x, name="indices"):
    """Frame indices as a C-contiguous size_t array (bounds are the library's to check)."""
    return vector(x, name, dtype=np.uintp)


def output(out, name, shape):
    """Check a caller's output array; never converted."""
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{name}: expected a NumPy array, got {type(out).__name__}")
    if out.dtype != np.float64 or out.shape != tuple(shape):
        raise ValueError(f"{name}: expected a float64 array of shape {tuple(shape)}, got a "
                         f"{_describe(out)}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name}: expected a C-contiguous, writeable array (np.empty(...) "
                         f"gives one)")
    return out


def ptr(a, ctype=ctypes.c_double):
    """A ctypes pointer to the data of a checked C-contiguous array (NULL for None)."""
    if a is None:
        return None
    assert a.flags.c_contiguous
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def size_ptr(a):
    return ptr(a, ctypes.c_size_t)


class _View:
    """Keeps the owner of C memory alive for as long as a NumPy view of it lives."""
    __slots__ = ("__array_interface__", "_owner")


def view(owner, pointer, shape, dtype=np.float64, writeable=False):
    """A NumPy view of `shape` on the C buffer at `pointer`, which stays valid while the
    view (or any array derived from it) exists: the view holds `owner`."""
    shape = tuple(int(n) for n in shape)
    address = ctypes.cast(pointer, ctypes.c_void_p).value if pointer else None
    if not address or int(np.prod(shape)) == 0:
        a = np.zeros(shape, dtype=dtype)
        a.flags.writeable = writeable
        return a
    v = _View()
    v.__array_interface__ = {"shape": shape, "typestr": np.dtype(dtype).str,
                             "data": (address, not writeable), "version": 3}
    v._owner = owner
    return np.asarray(v)


def copy(pointer, shape, dtype=np.float64):
    """A NumPy copy of a C buffer."""
    return view(None, pointer, shape, dtype).copy()


def names(pointer, n):
    """Decode an array of n fixed-length C strings."""
    return [pointer[i].value.decode("utf-8", "replace") for i in range(n)]


class Handle:
    """Owns one C object and frees it exactly once, with the library's own free
    function, when the last Python reference to it goes: the wrapper object that
    created it (``close()`` drops that reference) and every NumPy view of its
    memory.  Under CPython this is deterministic (reference counting)."""

    __slots__ = ("ptr", "_free", "__weakref__")

    def __init__(self, pointer, free_name):
        import weakref
        self.ptr = pointer
        self._free = weakref.finalize(self, _free, free_name, pointer)
        self._free.atexit = False  # at exit the process's memory goes anyway

    @property
    def alive(self):
        return self._free.alive


def _free(free_name, pointer):
    getattr(_lib.lib(), free_name)(pointer)
