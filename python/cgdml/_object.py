"""_object.py - the base of every class that wraps a C object of the library."""
from ._arrays import Handle


class CObject:
    """A Python object owning one C object (a cgdml_dataset, cgdml_model, ...).

    The C object is freed with the library's free function exactly once: when
    ``close()`` is called (or a ``with`` block ends) and no NumPy view of its memory
    is left, else when the last such view goes.  Dropping the last reference to
    the wrapper frees it too (CPython frees at once, by reference counting).  A
    closed object refuses further use with a ValueError.
    """

    _free_name = None  # the library's free function for this kind of object
    _what = "object"

    def __init__(self, pointer):
        if not pointer:
            raise ValueError(f"cgdml: NULL {self._what}")
        self._handle = Handle(pointer, self._free_name)

    @property
    def _ptr(self):
        h = self._handle
        if h is None:
            raise ValueError(f"this {self._what} is closed")
        return h.ptr

    @property
    def _c(self):
        """The C struct itself (ctypes; reads and writes go to the C memory)."""
        return self._ptr.contents

    @property
    def closed(self):
        return self._handle is None

    def close(self):
        """Release the C object (at once unless NumPy views of it are still alive)."""
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        # The handle's finalizer frees the C object once nothing refers to it.
        self._handle = None
