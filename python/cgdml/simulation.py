"""simulation.py - CG Langevin dynamics with a model (include/cgdml/simulate.h,
docs/method.md §5).

``simulate()`` runs replicas with a Model's forces (kernel part plus prior,
evaluated by the library for all replicas at once) and returns a Trajectory,
whose arrays are read-only NumPy views of the library's memory; ``Trajectory.save``
writes the H5MD trajectory ``cgdml simulate`` writes.  With a start dataset and
the same options the run is the program's, step for step.
"""
import ctypes
import os
from ctypes import POINTER, byref, c_int, c_void_p

import numpy as np

from . import _arrays as A
from . import _lib as L
from ._object import CObject
from .dataset import as_dataset

# Bead masses (amu) by the first letter of the bead name, carbon otherwise: the
# rule of `cgdml simulate` (src/cli/cmd_simulate.c), used for BAOAB.
_MASS_BY_LETTER = {"N": 14.007, "O": 15.999, "S": 32.06, "H": 1.008}
_CARBON = 12.011


def bead_masses(names):
    """Masses (amu) of beads from their names, as ``cgdml simulate`` assigns them."""
    return np.array([_MASS_BY_LETTER.get(n[:1], _CARBON) for n in names])


def start_frames(data, n, kind="equilibrium", seed=1):
    """(n, beads, 3) start coordinates drawn from ``data``: "equilibrium" (frames drawn
    uniformly, the data's own weights), "strata" (one frame per φ/ψ stratum), or
    "alpha-r" / "beta" (frames drawn among those of one basin: the two-basin
    convergence check)."""
    if kind not in L.STARTS:
        raise ValueError(f"start {kind!r}: expected one of {', '.join(L.STARTS)}")
    data, owned = as_dataset(data)
    try:
        out = np.empty((n, data.n_beads, 3))
        L.call("cgdml_simulate_start_frames", data._ptr, n, L.STARTS[kind], seed, A.ptr(out))
        return out
    finally:
        if owned:
            data.close()


def _model_forces():
    """The library's own force callback of a model (no Python in the inner loop)."""
    return ctypes.cast(L.lib().cgdml_simulate_model_forces, c_void_p)


class Trajectory(CObject):
    """Saved frames of a simulation (cgdml_trajectory).  Frame arrays are
    [saved][replica][bead][xyz]; frames of a stopped replica from its stop on are
    NaN."""

    _free_name = "cgdml_trajectory_free"
    _what = "trajectory"

    def __init__(self, pointer, model=None, data=None):
        super().__init__(pointer)
        self._model = model      # whose forces save() recomputes
        self._data = data        # names and bonds for save()

    @property
    def n_replicas(self):
        return self._c.n_replicas

    @property
    def n_beads(self):
        return self._c.n_beads

    @property
    def n_steps(self):
        return self._c.n_steps

    @property
    def n_saved(self):
        return self._c.n_saved

    @property
    def coords(self):
        """(saved, replicas, beads, 3) Å, a read-only view."""
        c = self._c
        return A.view(self._handle, c.coords, (c.n_saved, c.n_replicas, c.n_beads, 3))

    @property
    def velocities(self):
        """(saved, replicas, beads, 3) Å/ps for BAOAB, else None."""
        c = self._c
        if not c.velocities:
            return None
        return A.view(self._handle, c.velocities, (c.n_saved, c.n_replicas, c.n_beads, 3))

    @property
    def time(self):
        c = self._c
        return A.view(self._handle, c.time, (c.n_saved,))

    @property
    def step(self):
        c = self._c
        return A.view(self._handle, c.step, (c.n_saved,), np.int64)

    @property
    def final_coords(self):
        """(replicas, beads, 3): after the last step, or where a replica stopped."""
        c = self._c
        return A.view(self._handle, c.final_coords, (c.n_replicas, c.n_beads, 3))

    @property
    def alive(self):
        """(replicas,) bool: ran to the end."""
        c = self._c
        return A.copy(c.alive, (c.n_replicas,), np.intc).astype(bool)

    @property
    def stopped_step(self):
        c = self._c
        return A.copy(c.stopped_step, (c.n_replicas,), np.uintp)

    @property
    def stop_reason(self):
        """Why each replica stopped ("" if it did not)."""
        c = self._c
        return A.names(c.stop_reason, c.n_replicas)

    @property
    def resumed_step(self):
        return self._c.resumed_step

    @property
    def alive_count(self):
        return L.lib().cgdml_trajectory_alive_count(self._ptr)

    def angles(self, phi_beads=None, psi_beads=None):
        """φ and ψ (radians) of every saved frame, two (saved, replicas) arrays; beads
        default to the alanine dipeptide map's."""
        c = self._c
        phi = np.empty((c.n_saved, c.n_replicas))
        psi = np.empty((c.n_saved, c.n_replicas))
        L.call("cgdml_trajectory_angles", self._ptr, _quad(phi_beads, "phi_beads"),
               _quad(psi_beads, "psi_beads"), A.ptr(phi), A.ptr(psi))
        return phi, psi

    def save(self, path, template=None, model=None):
        """Write the H5MD trajectory ``cgdml simulate`` writes: positions, the model's
        forces recomputed at every saved frame, step, time, the "replica" observable
        and φ/ψ; bead names and bonds from ``template`` (default the start dataset of
        the run).  ``model`` defaults to the simulated one; None there gives NaN
        forces."""
        model = model if model is not None else self._model
        template = template if template is not None else self._data
        tmpl, owned = (None, False) if template is None else as_dataset(template)
        try:
            L.call("cgdml_trajectory_save", self._ptr, tmpl._ptr if tmpl else None,
                   _model_forces() if model is not None else None,
                   ctypes.cast(model._ptr, c_void_p) if model is not None else None,
                   os.fsencode(os.fspath(path)))
        finally:
            if owned:
                tmpl.close()

    def __repr__(self):
        if self.closed:
            return "<cgdml.Trajectory closed>"
        return (f"<cgdml.Trajectory {self.n_replicas} replicas x {self.n_saved} saved frames "
                f"of {self.n_beads} beads, {self.alive_count} alive>")


def _quad(beads, name):
    if beads is None:
        return None
    b = np.asarray(beads)
    if b.dtype.kind not in "iu" or b.shape != (4,):
        raise ValueError(f"{name}: expected four bead indices, got {beads!r}")
    return (c_int * 4)(*[int(v) for v in b])


def simulate(model, data=None, *, replicas=None, steps, start="equilibrium", dt=0.002,
             temperature=300.0, save_every=100, seed=1, integrator="overdamped",
             diffusion=0.05, friction=10.0, masses=None, max_bond_sigma=0.0,
             checkpoint=None, checkpoint_interval=0.0, resume=False, force_tag=0,
             progress=None):
    """Run CG Langevin dynamics with ``model`` (its kernel part plus its prior), as
    ``cgdml simulate`` does, with its defaults.

    start: "equilibrium" (default), "strata", "alpha-r" or "beta" to draw ``replicas`` start frames
    from ``data`` with ``seed`` (one call of cgdml_simulate_dataset, which draws them
    by cgdml_simulate_start_frames and runs), or an array
    (replicas, beads, 3) of start coordinates in Å.
    integrator: "overdamped" (x += (D dt/kT) F + sqrt(2 D dt) ξ, D = diffusion Å²/ps)
    or "baoab" (friction 1/ps, masses in amu, default from the bead names of
    ``data`` or the model as the program assigns them).
    steps, save_every, dt (ps), temperature (K), seed: as the program's options.
    max_bond_sigma: blow-up threshold in prior standard deviations (0: 20).
    checkpoint, checkpoint_interval (s), resume, force_tag: crash safety
    (simulate.h); the program tags its checkpoints with the model file and the
    start data, here the tag is the caller's choice.
    progress: optional callable(step, n_steps, steps_per_s), called from this thread
    about once a second.
    Returns a Trajectory (``.save(path)`` writes the program's file)."""
    if integrator not in L.INTEGRATORS:
        raise ValueError(f"integrator {integrator!r}: expected one of {', '.join(L.INTEGRATORS)}")
    nb = model.n_beads
    ds, owned = (None, False) if data is None else as_dataset(data)
    try:
        if ds is not None and ds.n_beads != nb:
            raise ValueError(f"the dataset has {ds.n_beads} beads but the model has {nb}")
        x0 = None
        if isinstance(start, str):
            if ds is None:
                raise ValueError("start: drawing start frames needs data")
            if replicas is None or replicas < 1:
                raise ValueError("replicas: give the number of replicas (at least 1)")
            if start not in L.STARTS:
                raise ValueError(f"start {start!r}: expected one of {', '.join(L.STARTS)}")
        else:
            x0 = A.frames(start, "start", nb)
            if replicas is not None and replicas != x0.shape[0]:
                raise ValueError(f"replicas {replicas}: the start array holds {x0.shape[0]}")
        if steps < 1:
            raise ValueError("steps must be at least 1")
        if masses is None:
            masses = bead_masses(ds.bead_names if ds is not None else model.bead_names)
        m = A.vector(masses, "masses", nb)
        opt = L.SimulateOptions()
        L.lib().cgdml_simulate_options_init(byref(opt))
        opt.integrator = L.INTEGRATORS[integrator]
        opt.dt = float(dt)
        opt.temperature = float(temperature)
        opt.diffusion = float(diffusion)
        opt.friction = float(friction)
        opt.masses = A.ptr(m)
        opt.n_steps = steps
        opt.save_every = save_every
        opt.seed = seed
        opt.prior = model._c.prior
        opt.max_bond_sigma = float(max_bond_sigma)
        keep = None
        if progress is not None:
            keep = L.SIM_PROGRESS_FN(lambda ctx, step, n, rate: progress(step, n, rate))
            opt.progress = ctypes.cast(keep, c_void_p)
        ckpt = None if checkpoint is None else os.fsencode(os.fspath(checkpoint))
        opt.checkpoint = ckpt
        opt.checkpoint_interval_s = float(checkpoint_interval)
        opt.resume = int(bool(resume))
        opt.force_tag = force_tag
        out = POINTER(L.TrajectoryStruct)()
        if x0 is None:  # start frames drawn from the data with seed, by the library
            L.call("cgdml_simulate_dataset", model._ptr, ds._ptr, replicas, L.STARTS[start],
                   byref(opt), byref(out))
        else:
            L.call("cgdml_simulate_run", _model_forces(), ctypes.cast(model._ptr, c_void_p),
                   x0.shape[0], nb, A.ptr(x0), byref(opt), byref(out))
        del keep, ckpt
        if owned:  # save() needs the template: keep a dataset we loaded ourselves
            owned = False
        return Trajectory(out, model, ds)
    finally:
        if owned:
            ds.close()
