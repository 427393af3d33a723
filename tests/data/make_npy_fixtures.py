#!/usr/bin/python3
"""make_npy_fixtures.py - writes the small NumPy files that tests/test_npy.c reads.

The files are committed; run this only to regenerate them (Debian's python3-numpy):

    /usr/bin/python3 tests/data/make_npy_fixtures.py      # from the repository root

Every value is arange-based, so the C tests recompute the expected numbers instead
of storing them:  coords[k] = k / 10,  forces[k] = 1 - k / 8  for the flat index k
of a (4 frames, 5 beads, 3) array; float32 files hold those values rounded to float.
The .npz files use the sGDML dataset layout (R, F, z plus sGDML's metadata).  Files
named bad_* are real NumPy output that cgdml must refuse (the refusals that NumPy
cannot produce, such as truncated or malformed headers, are crafted by the tests).
"""
import io
import os
import zipfile

import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))
FRAMES, BEADS = 4, 5
Z = np.array([6, 1, 7, 8, 200])  # C, H, N, O and a number with no element symbol


class _FixedClock:
    """zipfile stamps each member with the current time; pin it so that running the
    script again reproduces the files byte for byte."""

    @staticmethod
    def time():
        return 0.0

    @staticmethod
    def localtime(_=None):
        return (2024, 1, 1, 0, 0, 0, 0, 1, 0)


zipfile.time = _FixedClock


def coords(dtype=np.float64):
    return (np.arange(FRAMES * BEADS * 3) / 10).reshape(FRAMES, BEADS, 3).astype(dtype)


def forces(dtype=np.float64):
    return (1 - np.arange(FRAMES * BEADS * 3) / 8).reshape(FRAMES, BEADS, 3).astype(dtype)


def sgdml(drop=(), **override):
    """The members sGDML's dataset tools write, less `drop`, with `override`."""
    d = dict(type="d", name="fixture", theory="arange", md5="0" * 32,
             r_unit="Ang", e_unit="kcal/mol", R=coords(), F=forces(), z=Z,
             E=np.zeros((FRAMES, 1)))
    d.update(override)
    return {k: v for k, v in d.items() if k not in drop}


def save(name, array, **kw):
    np.save(os.path.join(OUT, name), array, **kw)


def savez(name, members, compressed=False):
    path = os.path.join(OUT, name)
    (np.savez_compressed if compressed else np.savez)(path, **members)


def write_npy_version(name, array, version):
    with open(os.path.join(OUT, name), "wb") as f:
        np.lib.format.write_array(f, array, version=version)


def good_files():
    save("frames_f8.npy", coords())
    save("forces_f8.npy", forces())
    save("frames_f4.npy", coords(np.float32))
    save("forces_f4.npy", forces(np.float32))
    write_npy_version("frames_v2.npy", coords(), (2, 0))
    write_npy_version("frames_v3.npy", coords(np.float32), (3, 0))
    save("indices_i4.npy", np.array([3, 0, 2, 7], dtype="<i4"))
    save("indices_u8.npy", np.array([0, 2**40, 5], dtype="<u8"))
    savez("sgdml_stored.npz", sgdml())
    savez("sgdml_compressed.npz", sgdml(R=coords(np.float32)), compressed=True)


def zip64_file():
    """Small files never need zip64 directories; lower zipfile's threshold so the
    central directory carries zip64 extra fields and a zip64 end record."""
    limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 64
    try:
        savez("sgdml_zip64.npz", sgdml(), compressed=True)
    finally:
        zipfile.ZIP64_LIMIT = limit


def short_member_file():
    """An archive whose R.npy header describes more data than the member holds
    (np.savez cannot write one, so the members are written by hand)."""
    def npy_bytes(value):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.asanyarray(value))
        return buf.getvalue()
    with zipfile.ZipFile(os.path.join(OUT, "bad_short_member.npz"), "w") as zf:
        for key, value in sgdml().items():
            data = npy_bytes(value)
            zf.writestr(key + ".npy", data[:-240] if key == "R" else data)


def bad_files():
    save("bad_bigendian.npy", coords().astype(">f8"))
    save("bad_fortran.npy", np.asfortranarray(coords()))
    save("bad_complex.npy", coords().astype(np.complex128))
    save("bad_int_frames.npy", np.arange(FRAMES * BEADS * 3).reshape(FRAMES, BEADS, 3))
    save("bad_object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    save("bad_string.npy", np.array(["C", "N", "O"]))
    save("bad_indices_negative.npy", np.array([4, -1, 2], dtype="<i8"))
    save("bad_indices_float.npy", np.array([1.0, 2.0]))
    savez("bad_no_forces.npz", sgdml(drop=("F",)), compressed=True)
    savez("bad_z_length.npz", sgdml(z=Z[:3]), compressed=True)
    savez("bad_shapes.npz", sgdml(F=forces()[:3]), compressed=True)
    savez("bad_ev.npz", sgdml(e_unit="eV"), compressed=True)
    with zipfile.ZipFile(os.path.join(OUT, "bad_bzip2.npz"), "w", zipfile.ZIP_BZIP2) as zf:
        for key, value in sgdml().items():
            with zf.open(key + ".npy", "w") as f:
                np.lib.format.write_array(f, np.asanyarray(value))


if __name__ == "__main__":
    good_files()
    zip64_file()
    bad_files()
    short_member_file()
