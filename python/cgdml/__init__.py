"""cgdml - coarse-grained force fields by gradient-domain kernel ridge regression.

The Python face of libcgdml (the C library of this repository), through ctypes:
NumPy arrays in and out, no compiled extension, no second implementation.  Every
computation is a call of the shared library; library errors become cgdml.Error
subclasses carrying the library's message.  Units as everywhere in cgdml: Å,
kcal/mol, kcal/mol/Å, ps, K, radians.

    import cgdml
    data = cgdml.Dataset.load("datasets/ala2_cg6.h5")
    model = cgdml.Model.train(data, sigma=1.0, lambda_=1e-3, n_train=200)
    forces = model.predict(data.positions[:10])      # (10, 6, 3) kcal/mol/Å

(README.md, section Python, has a longer session that a test runs.)

Nouns: Dataset, Model, Prior, Strata, Trajectory, Landscape; stages: ensemble(),
simulate(), reference_landscape(), fes(); the whole pipeline, run() (``cgdml
run``), and the sample-efficiency study, study() (``cgdml study``).  The ASE
calculator is in cgdml.ase (imported on demand: it needs python3-ase); mapping
an all-atom trajectory to beads is cgdml.map (numpy, h5py and MDAnalysis only; `python3 -m cgdml.map`).
Where libcgdml.so is found: cgdml._lib (CGDML_LIB, the build tree, the installed library, the linker).
"""
from . import errors
from ._lib import library_path
from .dataset import Dataset, complement, random_frames, read_indices
from .landscape import (Comparison, FesResult, Landscape, Matched, ReferenceResult, assess,
                        autocorrelation_time, fes, matched_floor, reference_landscape,
                        trajectory_landscape)
from .landscape import angles as fes_angles
from .layers import (CVPoint, Ensemble, Strata, average, binned_error, build_strata,
                     crossval_layer1,
                     crossval_layer2, distill, ensemble, kernel_diagonal, label, member_frames,
                     train_members)
from .layers import best as crossval_best
from .layers import best_binned as crossval_best_binned
from .layers import build_bins
from .layers import edges as crossval_edges
from .errors import (Error, FileError, FormatError, InvalidError, LibraryNotFoundError,  # noqa
                     MemoryBudgetError, NumericError)
from .model import ForceErrors, Model, TrainStats
from .pipeline import RunResult, StudyRow, run, study
from .prior import Prior, default_bonds
from .simulation import Trajectory, bead_masses, simulate, start_frames

# The version of the library this package was written with (Makefile VERSION).
__version__ = "0.1.0"

# Units (docs/FORMATS.md): the package converts nothing; cgdml.ase converts to eV.
LENGTH_UNIT = "Angstrom"
ENERGY_UNIT = "kcal/mol"
FORCE_UNIT = "kcal/mol/Angstrom"


def set_memory_budget(budget):
    """Set the library's memory budget: bytes (int), a string as the program's
    --memory takes ("24G", "512M", "80%"), or None/0 for the default (80 % of
    available memory).  Returns the budget in force, in bytes."""
    from . import _lib
    if budget in (None, 0):
        _lib.lib().cgdml_memory_set_budget(0)
    elif isinstance(budget, str):
        import ctypes
        nbytes = ctypes.c_size_t()
        _lib.call("cgdml_memory_parse", budget.encode(), ctypes.byref(nbytes))
        _lib.lib().cgdml_memory_set_budget(nbytes.value)
    else:
        if int(budget) < 0:
            raise ValueError("budget: expected a non-negative number of bytes")
        _lib.lib().cgdml_memory_set_budget(int(budget))
    return memory_budget()


def memory_budget():
    """The memory budget in force, in bytes."""
    from . import _lib
    return _lib.lib().cgdml_memory_budget()


__all__ = [
    "Dataset", "Model", "Prior", "Strata", "Trajectory", "Landscape", "Ensemble",
    "TrainStats", "ForceErrors", "CVPoint", "Comparison", "Matched", "ReferenceResult",
    "FesResult", "StudyRow", "RunResult", "study", "run", "ensemble", "train_members",
    "average", "label", "distill", "member_frames",
    "crossval_layer1", "crossval_layer2", "binned_error", "crossval_best",
    "crossval_best_binned", "build_bins", "crossval_edges", "kernel_diagonal",
    "build_strata", "autocorrelation_time", "simulate", "start_frames", "bead_masses",
    "reference_landscape", "trajectory_landscape", "fes", "assess", "fes_angles",
    "matched_floor",
    "default_bonds", "random_frames", "read_indices", "complement", "set_memory_budget",
    "memory_budget", "library_path", "errors", "Error", "InvalidError", "FileError",
    "FormatError", "MemoryBudgetError", "NumericError", "LibraryNotFoundError",
]
