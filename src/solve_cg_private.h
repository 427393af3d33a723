/* solve_cg_private.h - what the files of the conjugate-gradient solve share
 * (private to the library): the system, the resolved preconditioner settings,
 * the preconditioners (solve_precond.c) and the checkpoint (solve_cg_checkpoint.c).
 * The iteration itself is in solve_cg.c; the public interface in cgdml/solve.h.
 */
#ifndef CGDML_SOLVE_CG_PRIVATE_H
#define CGDML_SOLVE_CG_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "cgdml/solve.h"

/* Vectors shorter than this are updated on the calling thread: a parallel region
 * costs more than the loop (microseconds on an idle machine, milliseconds on a
 * busy one), and small solves run hundreds of iterations. */
#define CG_PARALLEL_MIN_ENTRIES 65536

/* The training system (K + λI) of M frames, order n = 3N M. */
typedef struct {
    size_t n_frames, n_beads, n3, d, n;
    const double *D, *g; /* [M][d], [M][d][3] */
    double sigma, lambda;
} cg_system;

/* The preconditioner as resolved for one solve (what a checkpoint must match). */
typedef struct {
    cgdml_cg_preconditioner kind;
    cgdml_cg_layout layout; /* blocks only, else 0 */
    size_t block_frames;    /* blocks only, else 0 */
    size_t landmarks;       /* Nyström only, else 0 */
} cg_setup;

/* ---- preconditioners (solve_precond.c) ------------------------------------------ */

typedef struct cg_precond cg_precond;

/* Bytes the preconditioner of `set` keeps and uses while it is built or applied,
 * for M frames of N beads; SIZE_MAX on overflow. */
size_t cg_precond_bytes(size_t n_frames, size_t n_beads, const cg_setup *set);

/* Build it (blocks factorised, Nyström matrices formed); keys[M] may be NULL. */
cgdml_status cg_precond_create(const cg_system *sys, const cg_setup *set, const size_t *keys,
                               cg_precond **out);
/* z = P⁻¹ r for vectors of order n (z and r distinct). */
cgdml_status cg_precond_apply(const cg_precond *p, const double *r, double *z);
/* Blocks, largest block, landmarks, ridge and bytes into the statistics. */
void cg_precond_describe(const cg_precond *p, cgdml_cg_stats *st);
void cg_precond_free(cg_precond *p);

/* The ridge the preconditioner's factors use: max(λ, the smallest λ single
 * precision carries, CGDML_MIXED_MIN_RELATIVE_LAMBDA 5/(3σ²)). */
double cg_precond_ridge(double sigma, double lambda);

/* ---- checkpoint (solve_cg_checkpoint.c) ----------------------------------------- */

/* The state after an iteration: everything the next one reads. */
typedef struct {
    size_t iteration;
    double rz;         /* rᵀ P⁻¹ r */
    double r_norm;     /* ||r||₂ */
    double *x, *r, *p; /* [n] */
} cg_state;

/* What a checkpoint belongs to. */
typedef struct {
    size_t n_frames, n_beads;
    double sigma, lambda;
    uint64_t system_hash; /* of D, g and F */
    uint64_t keys_hash;   /* of the keys, 0 without */
    cg_setup set;
} cg_identity;

/* 64-bit hash of n doubles (or other 8-byte words), continuing from h. */
uint64_t cg_hash_words(uint64_t h, const void *words, size_t n);

/* Write the state atomically to `path`. */
cgdml_status cg_checkpoint_save(const char *path, const cg_identity *id, const cg_state *st,
                                size_t n);

/* Read the checkpoint at `path`, refusing one of another identity (naming the
 * first difference; a block size or landmark count of 0 in want accepts any).  *found
 * receives the checkpoint's identity.  With st not NULL, also read the state
 * (vectors of order n, allocated by the caller). */
cgdml_status cg_checkpoint_load(const char *path, const cg_identity *want, cg_identity *found,
                                cg_state *st, size_t n);

#endif
