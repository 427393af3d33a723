"""_lib.py - finding libcgdml.so, the ctypes mirror of its public structs and
prototypes, and turning its status codes into exceptions.

Nothing here computes anything: every function of the package ends in a call of
the shared library declared below.  The library is loaded on first use (not at
``import cgdml``), so that the pure-Python parts of the package work without it.

Where the library is looked for, in order:

1. ``$CGDML_LIB``: the path of a libcgdml.so (nothing else is tried if it is set);
2. the build tree, when the package is imported from a checkout of the repository
   (``python/cgdml`` beside ``build/libcgdml.so``);
3. the library ``make install`` put beside the package (its folder is recorded in
   ``_installed.py`` at install time);
4. ``ctypes.util.find_library("cgdml")`` (the linker's search path).
"""
import ctypes
import ctypes.util
import os
import threading
from ctypes import (POINTER, c_char, c_char_p, c_double, c_int, c_int64, c_size_t, c_uint64,
                    c_ulong, c_void_p)

import numpy as np

from .errors import Error, LibraryNotFoundError, error_for_status

NAME_MAX = 32                  # CGDML_NAME_MAX (dataset.h)
MAX_OBSERVABLES = 8            # CGDML_MAX_OBSERVABLES
CV_COLUMNS = 7                 # CGDML_CV_COLUMNS (model.h)
STOP_REASON_MAX = 128          # cgdml_trajectory.stop_reason
TRAIN_FALLBACK_MAX = 160       # cgdml_train_stats.fallback

# Enumerations, by their C values.
PRECISIONS = {"double": 0, "mixed": 1, "auto": 2}            # cgdml_precision
MODEL_KINDS = {0: "single", 1: "average", 2: "distilled"}     # cgdml_model_kind
DRAWS = {"stratified": 0, "stratified_unique": 1, "random": 2,
         "partition": 3}  # cgdml_draw_kind
CV_KINDS = {"dihedral": 0, "angle": 1, "distance": 2}          # cgdml_collective_kind
INTEGRATORS = {"overdamped": 0, "baoab": 1}                   # cgdml_integrator
STARTS = {"equilibrium": 0, "strata": 1, "alpha-r": 2, "beta": 3}  # cgdml_start_kind


# ---- the public structs, field for field as in include/cgdml/*.h ---------------

class Observable(ctypes.Structure):
    _fields_ = [("name", c_char * NAME_MAX), ("value", POINTER(c_double))]


class DatasetStruct(ctypes.Structure):
    _fields_ = [("n_frames", c_size_t), ("n_beads", c_size_t),
                ("coords", POINTER(c_double)), ("forces", POINTER(c_double)),
                ("bead_names", POINTER(c_char * NAME_MAX)),
                ("step", POINTER(c_int64)), ("time", POINTER(c_double)),
                ("n_bonds", c_size_t), ("bonds", POINTER(c_int)),
                ("n_observables", c_size_t), ("observables", Observable * MAX_OBSERVABLES)]


class PriorStruct(ctypes.Structure):
    _fields_ = [("temperature", c_double), ("n_bonds", c_size_t), ("bonds", POINTER(c_int)),
                ("bond_r0", POINTER(c_double)), ("bond_k", POINTER(c_double)),
                ("n_angles", c_size_t), ("angles", POINTER(c_int)),
                ("angle_theta0", POINTER(c_double)), ("angle_k", POINTER(c_double))]


class ModelStruct(ctypes.Structure):
    _fields_ = [("kind", c_int), ("n_beads", c_size_t), ("n_desc", c_size_t),
                ("n_train", c_size_t), ("sigma", c_double), ("lambda", c_double),
                ("train_desc", POINTER(c_double)), ("gamma", POINTER(c_double)),
                ("train_indices", POINTER(c_size_t)), ("dataset_hash", c_uint64),
                ("bead_names", POINTER(c_char * NAME_MAX)), ("prior", POINTER(PriorStruct)),
                ("cv_rows", c_size_t), ("cv_table", POINTER(c_double)), ("sum", c_void_p)]


class CGStats(ctypes.Structure):  # cgdml_cg_stats (solve.h)
    _fields_ = [("iterations", c_size_t), ("resumed_from", c_size_t), ("converged", c_int),
                ("relative_residual", c_double), ("block_frames", c_size_t),
                ("n_blocks", c_size_t), ("landmarks", c_size_t),
                ("preconditioner_ridge", c_double), ("preconditioner_bytes", c_size_t),
                ("bytes", c_size_t), ("setup_s", c_double), ("iterate_s", c_double),
                ("product_s", c_double), ("apply_s", c_double)]


class TrainStats(ctypes.Structure):
    _fields_ = [("descriptor_s", c_double), ("assembly_s", c_double), ("factor_s", c_double),
                ("solve_s", c_double), ("matrix_bytes", c_size_t), ("precision", c_int),
                ("refinements", c_int), ("fallback", c_char * TRAIN_FALLBACK_MAX),
                ("solver", c_int), ("peak_bytes", c_size_t), ("cg", CGStats)]


class ForceErrorsStruct(ctypes.Structure):
    _fields_ = [("n_frames", c_size_t), ("n_beads", c_size_t), ("mse", c_double),
                ("mae", c_double), ("label_variance", c_double), ("relative_mse", c_double),
                ("bead_mse", POINTER(c_double)), ("bead_mae", POINTER(c_double))]


class CVSpec(ctypes.Structure):  # cgdml_collective
    _fields_ = [("kind", c_int), ("beads", c_int * 4), ("n_bins", c_size_t),
                ("lo", c_double), ("hi", c_double)]


class StrataStruct(ctypes.Structure):
    _fields_ = [("n_frames", c_size_t), ("n_strata", c_size_t), ("offset", POINTER(c_size_t)),
                ("frame", POINTER(c_size_t)), ("stratum_of", POINTER(c_size_t)),
                ("n_pool", c_size_t)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_size_t, c_size_t)


class CGOptions(ctypes.Structure):  # cgdml_cg_options (solve.h)
    _fields_ = [("tolerance", c_double), ("max_iterations", c_size_t),
                ("preconditioner", c_int), ("layout", c_int), ("block_frames", c_size_t),
                ("landmarks", c_size_t), ("keys", POINTER(c_size_t)), ("progress", c_void_p),
                ("progress_ctx", c_void_p), ("checkpoint", c_char_p),
                ("checkpoint_interval_s", c_double), ("resume", c_int)]


class Layer1Options(ctypes.Structure):
    _fields_ = [("n_members", c_size_t), ("n_train", c_size_t), ("sigma1", c_double),
                ("lambda", c_double), ("draw", c_int), ("seed", c_ulong),
                ("side_by_side", c_int), ("precision", c_int), ("checkpoint", c_char_p),
                ("progress", c_void_p), ("progress_ctx", c_void_p),
                ("n_resumed", POINTER(c_size_t)), ("shard", c_size_t), ("n_shards", c_size_t),
                ("solver", c_int), ("cg", CGOptions)]


class StrataOptions(ctypes.Structure):  # cgdml_strata_options
    _fields_ = [("kmeans", c_size_t), ("seed", c_ulong), ("collective", CVSpec * 4),
                ("n_collective", c_size_t), ("exclude", POINTER(c_size_t)),
                ("n_exclude", c_size_t)]


NOTE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)


class CVPointStruct(ctypes.Structure):
    _fields_ = [("sigma", c_double), ("lambda", c_double), ("mse", c_double),
                ("mse_stderr", c_double), ("n_eval", c_size_t), ("mse_binned", c_double)]


CROSSVAL_DONE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, POINTER(CVPointStruct), c_size_t,
                                    c_size_t)


class EnsembleOptions(ctypes.Structure):  # cgdml_ensemble_options
    _fields_ = [("strata", StrataOptions), ("prior", c_int), ("bonds", POINTER(c_int)),
                ("n_bonds", c_size_t), ("temperature", c_double),
                ("use_prior", POINTER(PriorStruct)), ("layer1", Layer1Options),
                ("resume", c_int), ("sigma1_grid", POINTER(c_double)),
                ("n_sigma1_grid", c_size_t), ("lambda_grid", POINTER(c_double)),
                ("n_lambda_grid", c_size_t), ("lambda_relative", c_int),
                ("select_raw", c_int), ("folds", c_size_t), ("mean_set", c_size_t),
                ("sigma2", c_double), ("sigma2_same", c_int),
                ("sigma2_grid", POINTER(c_double)), ("n_sigma2_grid", c_size_t),
                ("lambda2", c_double), ("lambda2_grid", POINTER(c_double)),
                ("n_lambda2_grid", c_size_t), ("lambda2_relative", c_int),
                ("layer2_solve", c_void_p), ("layer2_ctx", c_void_p),
                ("note", c_void_p), ("crossval_done", c_void_p), ("ctx", c_void_p)]


class EnsembleStruct(ctypes.Structure):  # cgdml_ensemble
    _fields_ = [("distilled", POINTER(ModelStruct)), ("average", POINTER(ModelStruct)),
                ("members", POINTER(POINTER(ModelStruct))), ("n_members", c_size_t),
                ("n_resumed", c_size_t), ("n_trained", c_size_t), ("strata", POINTER(StrataStruct)),
                ("prior", POINTER(PriorStruct)), ("mean_set", POINTER(c_size_t)),
                ("n_mean_set", c_size_t), ("sigma1", c_double), ("lambda", c_double),
                ("sigma2", c_double), ("lambda2", c_double), ("cv1", POINTER(CVPointStruct)),
                ("cv2", POINTER(CVPointStruct)), ("n_cv1", c_size_t), ("n_cv2", c_size_t),
                ("best_cv1", c_size_t), ("best_cv2", c_size_t)]


SIM_PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_size_t, c_size_t, c_double)


class SimulateOptions(ctypes.Structure):
    _fields_ = [("integrator", c_int), ("dt", c_double), ("temperature", c_double),
                ("diffusion", c_double), ("friction", c_double), ("masses", POINTER(c_double)),
                ("n_steps", c_size_t), ("save_every", c_size_t), ("seed", c_ulong),
                ("prior", POINTER(PriorStruct)), ("max_bond_sigma", c_double),
                ("progress", c_void_p), ("progress_ctx", c_void_p),
                ("checkpoint", c_char_p), ("checkpoint_interval_s", c_double),
                ("resume", c_int), ("force_tag", c_uint64)]


class TrajectoryStruct(ctypes.Structure):
    _fields_ = [("n_replicas", c_size_t), ("n_beads", c_size_t), ("n_steps", c_size_t),
                ("n_saved", c_size_t), ("coords", POINTER(c_double)),
                ("velocities", POINTER(c_double)), ("time", POINTER(c_double)),
                ("step", POINTER(c_int64)), ("final_coords", POINTER(c_double)),
                ("alive", POINTER(c_int)), ("stopped_step", POINTER(c_size_t)),
                ("stop_reason", POINTER(c_char * STOP_REASON_MAX)),
                ("resumed_step", c_size_t)]


class FesStruct(ctypes.Structure):
    _fields_ = [("n_bins", c_size_t), ("n_samples", c_size_t), ("count", POINTER(c_double)),
                ("free_energy", POINTER(c_double))]


class FesComparisonStruct(ctypes.Structure):
    _fields_ = [("mse", c_double), ("shift", c_double), ("joint_bins", c_size_t),
                ("kl", c_double), ("missing", c_double), ("mse_weighted", c_double),
                ("extra", c_double)]


class FesMatchedStruct(ctypes.Structure):
    _fields_ = [("tau_model", c_double), ("tau_reference", c_double), ("blocks", c_size_t),
                ("block_frames", c_size_t), ("capped", c_int), ("floor", c_double),
                ("floor_sd", c_double)]


class FesReferenceStruct(ctypes.Structure):  # cgdml_fes_reference
    _fields_ = [("landscape", POINTER(FesStruct)), ("halves", FesComparisonStruct),
                ("phi", POINTER(c_double)), ("psi", POINTER(c_double)), ("n_frames", c_size_t)]


class FesAssessmentStruct(ctypes.Structure):  # cgdml_fes_assessment
    _fields_ = [("landscape", POINTER(FesStruct)), ("halves", FesComparisonStruct),
                ("has_reference", c_int), ("vs", FesComparisonStruct),
                ("matched", FesMatchedStruct), ("floor", c_double)]


# study.h
STUDY_METHODS = {"single": 0, "average": 1, "distilled": 2, "prior-only": 3}
STUDY_MAX_SIZES = 16             # CGDML_STUDY_MAX_SIZES
STUDY_SIGMA_GRID_MAX = 16        # cgdml_study_options.sigma_grid


class StudyRowStruct(ctypes.Structure):  # cgdml_study_row
    _fields_ = [("size", c_size_t), ("repeat", c_size_t), ("method", c_int),
                ("sigma", c_double), ("lambda", c_double), ("train_s", c_double),
                ("force_mse", c_double), ("peak_mb", c_double), ("simulate_s", c_double), ("stopped", c_size_t),
                ("vs", FesComparisonStruct), ("halves", FesComparisonStruct),
                ("matched", FesMatchedStruct), ("floor", c_double)]


STUDY_ROW_FN = ctypes.CFUNCTYPE(None, c_void_p, POINTER(StudyRowStruct))
STUDY_SIMULATED_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p, c_double)


class StudyOptions(ctypes.Structure):  # cgdml_study_options
    _fields_ = [("sizes", c_size_t * STUDY_MAX_SIZES), ("n_sizes", c_size_t),
                ("repeats", c_size_t), ("methods", c_int * len(STUDY_METHODS)),
                ("n_methods", c_size_t), ("members", c_size_t), ("mean_set", c_size_t),
                ("single_max_frames", c_size_t),
                ("sigma_grid", c_double * STUDY_SIGMA_GRID_MAX), ("n_sigma_grid", c_size_t),
                ("lambda", c_double), ("lambda_relative", c_int), ("lambda2", c_double),
                ("lambda2_relative", c_int), ("precision", c_int), ("solver", c_int),
                ("cg", CGOptions), ("seed", c_ulong),
                ("temperature", c_double), ("replicas", c_size_t), ("start", c_int),
                ("simulate", SimulateOptions), ("burn_in", c_size_t), ("bins", c_size_t),
                ("results", c_char_p), ("landscapes", c_char_p), ("splits", c_char_p),
                ("work", c_char_p), ("note", c_void_p), ("row_done", c_void_p),
                ("simulated", c_void_p), ("ctx", c_void_p)]


# pipeline.h
N_STAGES = 4                     # CGDML_N_STAGES
STAGES = ("reference", "ensemble", "simulation", "landscape")  # cgdml_pipeline_stage


class PipelineStruct(ctypes.Structure):  # cgdml_pipeline
    _fields_ = [("reference", POINTER(FesReferenceStruct)), ("ensemble", POINTER(EnsembleStruct)),
                ("trajectory", POINTER(TrajectoryStruct)), ("landscape", FesAssessmentStruct),
                ("seconds", c_double * N_STAGES)]


STAGE_BEGIN_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int)
STAGE_END_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, POINTER(PipelineStruct))


class PipelineOptions(ctypes.Structure):  # cgdml_pipeline_options
    _fields_ = [("ensemble", EnsembleOptions), ("sigma1_grid", c_double * 1),
                ("lambda_grid", c_double * 1), ("replicas", c_size_t), ("start", c_int),
                ("simulate", SimulateOptions), ("burn_in", c_size_t), ("bins", c_size_t),
                ("seed", c_ulong), ("stage_begin", c_void_p), ("stage_end", c_void_p),
                ("ctx", c_void_p)]


# The structs whose layout tests/python/test_package_layout.py checks against the
# C compiler's, by their C names.
STRUCTS = {"cgdml_observable": Observable, "cgdml_dataset": DatasetStruct,
           "cgdml_prior": PriorStruct, "cgdml_model": ModelStruct,
           "cgdml_train_stats": TrainStats, "cgdml_force_errors": ForceErrorsStruct,
           "cgdml_collective": CVSpec, "cgdml_strata": StrataStruct,
           "cgdml_layer1_options": Layer1Options, "cgdml_crossval_point": CVPointStruct,
           "cgdml_simulate_options": SimulateOptions, "cgdml_trajectory": TrajectoryStruct,
           "cgdml_fes": FesStruct, "cgdml_fes_comparison": FesComparisonStruct,
           "cgdml_fes_matched": FesMatchedStruct, "cgdml_cg_stats": CGStats,
           "cgdml_strata_options": StrataOptions, "cgdml_ensemble_options": EnsembleOptions,
           "cgdml_ensemble": EnsembleStruct, "cgdml_fes_reference": FesReferenceStruct,
           "cgdml_fes_assessment": FesAssessmentStruct, "cgdml_study_row": StudyRowStruct,
           "cgdml_study_options": StudyOptions, "cgdml_pipeline": PipelineStruct,
           "cgdml_pipeline_options": PipelineOptions, "cgdml_cg_options": CGOptions}

# ---- prototypes ------------------------------------------------------------------

P = POINTER
PP_DATASET = P(P(DatasetStruct))
PP_MODEL = P(P(ModelStruct))
PP_SIZE = P(P(c_size_t))
ST = c_int  # cgdml_status

# name: (restype, argtypes).  Functions returning ST are checked by call().
PROTOTYPES = {
    # error.h, memory.h, atomic.h
    "cgdml_error_message": (c_char_p, []),
    "cgdml_error_clear": (None, []),
    "cgdml_status_name": (c_char_p, [c_int]),
    "cgdml_memory_available": (c_size_t, []),
    "cgdml_memory_set_budget": (None, [c_size_t]),
    "cgdml_memory_budget": (c_size_t, []),
    "cgdml_memory_check": (ST, [c_size_t, c_char_p]),
    "cgdml_memory_parse": (ST, [c_char_p, P(c_size_t)]),
    "cgdml_atomic_clean": (c_size_t, [c_char_p]),
    "cgdml_atomic_remove_tree": (ST, [c_char_p]),
    # dataset.h, h5md.h, npy.h, synthetic.h
    "cgdml_dataset_alloc": (ST, [c_size_t, c_size_t, PP_DATASET]),
    "cgdml_dataset_free": (None, [P(DatasetStruct)]),
    "cgdml_dataset_bytes": (c_size_t, [c_size_t, c_size_t]),
    "cgdml_dataset_add_observable": (ST, [P(DatasetStruct), c_char_p, P(c_double)]),
    "cgdml_dataset_set_bonds": (ST, [P(DatasetStruct), c_size_t, P(c_int)]),
    "cgdml_dataset_check": (ST, [P(DatasetStruct)]),
    "cgdml_dataset_check_frames": (ST, [P(DatasetStruct), P(c_size_t), c_size_t]),
    "cgdml_dataset_subset": (ST, [P(DatasetStruct), P(c_size_t), c_size_t, PP_DATASET]),
    "cgdml_dataset_hash": (c_uint64, [P(DatasetStruct)]),
    "cgdml_h5md_read": (ST, [c_char_p, c_char_p, PP_DATASET]),
    "cgdml_h5md_read_frames_count": (ST, [c_char_p, c_char_p, P(c_size_t), P(c_size_t)]),
    "cgdml_h5md_write": (ST, [c_char_p, P(DatasetStruct), c_char_p]),
    "cgdml_npy_write": (ST, [c_char_p, P(c_double), c_size_t, P(c_size_t)]),
    "cgdml_npz_read_sgdml": (ST, [c_char_p, PP_DATASET]),
    "cgdml_npy_import": (ST, [c_char_p, c_char_p, PP_DATASET]),
    "cgdml_harmonic_network_alloc": (ST, [c_size_t, c_double, c_ulong, P(c_void_p)]),
    "cgdml_harmonic_network_free": (None, [c_void_p]),
    "cgdml_harmonic_network_sample": (ST, [c_void_p, c_size_t, c_double, c_double, c_ulong,
                                           PP_DATASET]),
    # geometry.h, sample.h, strata.h
    "cgdml_geometry_phi_psi_beads": (ST, [c_size_t, P(c_int), P(c_int)]),
    "cgdml_sample_random": (ST, [c_size_t, c_size_t, c_ulong, PP_SIZE]),
    "cgdml_sample_read_indices": (ST, [c_char_p, c_size_t, PP_SIZE, P(c_size_t)]),
    "cgdml_sample_complement": (ST, [c_size_t, P(c_size_t), c_size_t, PP_SIZE, P(c_size_t)]),
    "cgdml_collective_parse": (ST, [c_char_p, P(CVSpec)]),
    "cgdml_collective_default_phi_psi": (ST, [c_size_t, c_size_t, P(CVSpec)]),
    "cgdml_strata_from_cvs": (ST, [P(DatasetStruct), P(CVSpec), c_size_t,
                                   P(P(StrataStruct))]),
    "cgdml_strata_kmeans": (ST, [P(DatasetStruct), c_size_t, c_ulong, P(P(StrataStruct))]),
    "cgdml_strata_free": (None, [P(StrataStruct)]),
    "cgdml_strata_draw": (ST, [P(StrataStruct), c_int, c_size_t, c_ulong, PP_SIZE]),
    "cgdml_strata_exclude": (ST, [P(StrataStruct), P(c_size_t), c_size_t]),
    "cgdml_strata_partition_block": (ST, [P(StrataStruct), c_size_t, c_size_t, c_ulong,
                                          PP_SIZE]),
    # prior.h
    "cgdml_prior_default_bonds": (ST, [c_size_t, P(c_size_t), P(P(c_int))]),
    "cgdml_prior_fit": (ST, [P(DatasetStruct), P(c_size_t), c_size_t, c_size_t, P(c_int),
                             c_double, P(P(PriorStruct))]),
    "cgdml_prior_alloc": (ST, [c_size_t, c_size_t, P(P(PriorStruct))]),
    "cgdml_prior_free": (None, [P(PriorStruct)]),
    "cgdml_prior_add_forces": (c_double, [P(PriorStruct), P(c_double), P(c_double)]),
    "cgdml_prior_subtract": (ST, [P(PriorStruct), P(DatasetStruct), P(c_size_t), c_size_t,
                                  P(c_double)]),
    # model.h
    "cgdml_model_free": (None, [P(ModelStruct)]),
    "cgdml_model_train_bytes": (c_size_t, [c_size_t, c_size_t]),
    "cgdml_model_train_precision": (ST, [P(DatasetStruct), P(c_size_t), c_size_t, P(c_double),
                                         c_double, c_double, c_int, P(TrainStats),
                                         PP_MODEL]),
    "cgdml_model_check_duplicates": (ST, [P(DatasetStruct), P(c_size_t), c_size_t]),
    "cgdml_model_predict": (ST, [P(ModelStruct), c_size_t, P(c_double), P(c_double),
                                 P(c_double)]),
    "cgdml_model_predict_bytes": (c_size_t, [P(ModelStruct), c_size_t]),
    "cgdml_model_evaluate": (ST, [P(ModelStruct), P(DatasetStruct), P(c_size_t), c_size_t,
                                  P(ForceErrorsStruct)]),
    "cgdml_force_errors_free": (None, [P(ForceErrorsStruct)]),
    "cgdml_model_save": (ST, [P(ModelStruct), c_char_p]),
    "cgdml_model_load": (ST, [c_char_p, PP_MODEL]),
    "cgdml_model_file_probe": (c_int, [c_char_p]),
    "cgdml_model_kind_name": (c_char_p, [c_int]),
    # ensemble.h, crossval.h
    "cgdml_ensemble_member_frames": (ST, [P(StrataStruct), P(Layer1Options), c_size_t,
                                          PP_SIZE]),
    "cgdml_ensemble_train_members": (ST, [P(DatasetStruct), P(StrataStruct), P(PriorStruct),
                                          P(Layer1Options), P(P(ModelStruct))]),
    "cgdml_ensemble_average": (ST, [P(P(ModelStruct)), c_size_t, PP_MODEL]),
    "cgdml_ensemble_label": (ST, [P(ModelStruct), P(DatasetStruct), P(c_size_t), c_size_t,
                                  P(c_double)]),
    "cgdml_ensemble_distill": (ST, [P(ModelStruct), P(DatasetStruct), P(c_size_t), c_size_t,
                                    c_double, c_double, c_int, PP_MODEL]),
    "cgdml_model_attach_prior": (ST, [P(ModelStruct), P(PriorStruct)]),
    "cgdml_layer1_options_init": (None, [P(Layer1Options)]),
    "cgdml_strata_options_init": (None, [P(StrataOptions)]),
    "cgdml_ensemble_options_init": (None, [P(EnsembleOptions)]),
    "cgdml_ensemble_build": (ST, [P(DatasetStruct), P(EnsembleOptions),
                                  P(P(EnsembleStruct))]),
    "cgdml_ensemble_free": (None, [P(EnsembleStruct)]),
    "cgdml_crossval_binned_error": (ST, [P(ModelStruct), P(DatasetStruct), P(c_size_t), c_size_t,
                                         P(StrataStruct), P(c_double)]),
    "cgdml_crossval_layer1": (ST, [P(DatasetStruct), P(StrataStruct), P(StrataStruct),
                                   P(PriorStruct),
                                   P(Layer1Options), P(c_double), c_size_t, P(c_double),
                                   c_size_t, c_size_t, P(CVPointStruct)]),
    "cgdml_crossval_layer2": (ST, [P(ModelStruct), P(DatasetStruct), P(c_size_t), c_size_t,
                                   P(c_double), c_size_t, c_double, c_int, c_size_t,
                                   P(CVPointStruct)]),
    "cgdml_crossval_best": (c_size_t, [P(CVPointStruct), c_size_t]),
    "cgdml_crossval_best_binned": (c_size_t, [P(CVPointStruct), c_size_t]),
    "cgdml_crossval_edges": (None, [c_size_t, c_size_t, c_size_t, P(c_int), P(c_int)]),
    # simulate.h
    "cgdml_simulate_model_forces": (ST, [c_void_p, c_size_t, P(c_double), P(c_double)]),
    "cgdml_simulate_options_init": (None, [P(SimulateOptions)]),
    "cgdml_simulate_run": (ST, [c_void_p, c_void_p, c_size_t, c_size_t, P(c_double),
                                P(SimulateOptions), P(P(TrajectoryStruct))]),
    "cgdml_trajectory_free": (None, [P(TrajectoryStruct)]),
    "cgdml_trajectory_alive_count": (c_size_t, [P(TrajectoryStruct)]),
    "cgdml_trajectory_angles": (ST, [P(TrajectoryStruct), P(c_int), P(c_int), P(c_double),
                                     P(c_double)]),
    "cgdml_trajectory_save": (ST, [P(TrajectoryStruct), P(DatasetStruct), c_void_p, c_void_p,
                                   c_char_p]),
    "cgdml_simulate_start_frames": (ST, [P(DatasetStruct), c_size_t, c_int, c_ulong,
                                         P(c_double)]),
    # fes.h
    "cgdml_fes_angles": (ST, [P(DatasetStruct), P(c_int), P(c_int), P(c_double), P(c_double)]),
    "cgdml_fes_from_angles": (ST, [P(c_double), P(c_double), c_size_t, c_size_t,
                                   P(P(FesStruct))]),
    "cgdml_fes_free": (None, [P(FesStruct)]),
    "cgdml_fes_compare": (ST, [P(FesStruct), P(FesStruct), P(FesComparisonStruct)]),
    "cgdml_fes_trajectory": (ST, [P(DatasetStruct), c_int64, c_size_t, P(c_int), P(c_int),
                                  P(P(FesStruct)), P(FesComparisonStruct)]),
    "cgdml_fes_autocorrelation_time": (c_double, [P(c_double), c_size_t, c_size_t]),
    "cgdml_fes_matched_floor": (ST, [P(DatasetStruct), c_int64, P(c_int), P(c_int),
                                     P(c_double), P(c_double), c_size_t, c_size_t, c_ulong,
                                     P(FesMatchedStruct)]),
    "cgdml_fes_save": (ST, [P(FesStruct), c_double, P(FesComparisonStruct),
                            P(FesComparisonStruct), P(FesMatchedStruct), c_char_p]),
    "cgdml_fes_reference_compute": (ST, [P(DatasetStruct), P(c_int), P(c_int), c_size_t,
                                         P(P(FesReferenceStruct))]),
    "cgdml_fes_reference_free": (None, [P(FesReferenceStruct)]),
    "cgdml_fes_assess": (ST, [P(DatasetStruct), c_int64, c_size_t, P(c_int), P(c_int),
                              P(FesReferenceStruct), c_ulong, P(FesAssessmentStruct)]),
    "cgdml_fes_assessment_free": (None, [P(FesAssessmentStruct)]),
    "cgdml_simulate_dataset": (ST, [P(ModelStruct), P(DatasetStruct), c_size_t, c_int,
                                    P(SimulateOptions), P(P(TrajectoryStruct))]),
    "cgdml_trajectory_to_dataset": (ST, [P(TrajectoryStruct), P(DatasetStruct), c_void_p,
                                         c_void_p, PP_DATASET]),
    # study.h, pipeline.h
    "cgdml_study_method_name": (c_char_p, [c_int]),
    "cgdml_study_options_init": (None, [P(StudyOptions)]),
    "cgdml_study_run": (ST, [P(DatasetStruct), P(StudyOptions), P(c_size_t)]),
    "cgdml_pipeline_options_init": (None, [P(PipelineOptions)]),
    "cgdml_pipeline_options_seed": (None, [P(PipelineOptions), c_ulong]),
    "cgdml_pipeline_run": (ST, [P(DatasetStruct), P(PipelineOptions), P(P(PipelineStruct))]),
    "cgdml_pipeline_free": (None, [P(PipelineStruct)]),
}
CHECKED = {name for name, (restype, _) in PROTOTYPES.items() if restype is ST}

# ---- loading ------------------------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))
_lock = threading.Lock()
_lib = None
_path = None


def _installed_libdir():
    try:
        from ._installed import LIBDIR  # written by `make install`
    except ImportError:
        return None
    return LIBDIR


def candidates():
    """[(where, path)] in the order they are tried (see the module's docstring)."""
    env = os.environ.get("CGDML_LIB")
    if env:
        return [("$CGDML_LIB", env)]
    found = []
    repo = os.path.dirname(os.path.dirname(_HERE))
    if os.path.isfile(os.path.join(repo, "Makefile")) and \
            os.path.isfile(os.path.join(repo, "include", "cgdml.h")):
        found.append(("the build tree", os.path.join(repo, "build", "libcgdml.so")))
    libdir = _installed_libdir()
    if libdir:
        found.append(("the installed library", os.path.join(libdir, "libcgdml.so.0")))
    name = ctypes.util.find_library("cgdml")
    if name:
        found.append(("ctypes.util.find_library", name))
    return found


def _declare(lib):
    for name, (restype, argtypes) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def lib():
    """The loaded library (loaded on first call)."""
    global _lib, _path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for where, path in candidates():
            if where != "ctypes.util.find_library" and not os.path.exists(path):
                tried.append(f"{where}: {path} does not exist")
                continue
            try:
                handle = ctypes.CDLL(path)
                _declare(handle)
            except (OSError, AttributeError) as e:
                tried.append(f"{where}: {path}: {e}")
                if where == "$CGDML_LIB":
                    break
                continue
            _lib, _path = handle, path
            return _lib
        if not tried:
            tried.append("no candidate: not in a checkout of the repository, not installed "
                         "with `make install`, and unknown to the linker (ldconfig)")
        raise LibraryNotFoundError(
            "cannot load libcgdml.so; tried:\n  " + "\n  ".join(tried) +
            "\nbuild it with `make`, install it with `make install`, or set CGDML_LIB to "
            "its path")


def library_path():
    """The path of the shared library the package uses (loading it if needed)."""
    lib()
    return _path


def call(name, *args):
    """Call a library function that returns a cgdml_status; raise on failure with the
    library's own message."""
    status = getattr(lib(), name)(*args)
    if status != 0:
        raise_status(status)
    return status


def raise_status(status):
    message = lib().cgdml_error_message().decode("utf-8", "replace")
    raise error_for_status(status, message or lib().cgdml_status_name(status).decode())


# ---- C memory the library frees with free() -----------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_libc.malloc.restype = c_void_p
_libc.malloc.argtypes = [c_size_t]
_libc.realloc.restype = c_void_p
_libc.realloc.argtypes = [c_void_p, c_size_t]
_libc.free.restype = None
_libc.free.argtypes = [c_void_p]


def c_free(pointer):
    """free() a buffer the library allocated for the caller (index arrays, ...)."""
    _libc.free(ctypes.cast(pointer, c_void_p))


def c_realloc(pointer, nbytes):
    return _libc.realloc(ctypes.cast(pointer, c_void_p) if pointer else None, nbytes)


def take_size_array(pointer, n):
    """Copy n size_t values out of a malloc'd buffer into a NumPy array, then free it."""
    try:
        if n == 0 or not pointer:
            return np.zeros(0, dtype=np.uintp)
        return np.ctypeslib.as_array(pointer, shape=(n,)).astype(np.intp, copy=True)
    finally:
        if pointer:
            c_free(pointer)


__all__ = ["Error", "lib", "library_path", "call", "candidates"]
