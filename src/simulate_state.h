/* simulate_state.h - the state of a running simulation, shared by the integrators
 * (simulate.c) and the checkpoint file that lets a killed run resume
 * (simulate_checkpoint.c).  Private to the library.
 */
#ifndef CGDML_SIMULATE_STATE_H
#define CGDML_SIMULATE_STATE_H

#include <gsl/gsl_rng.h>

#include "cgdml/simulate.h"

typedef struct {
    cgdml_force_fn force;
    void *ctx;
    const cgdml_simulate_options *opt;
    size_t n_rep, dof;    /* replicas; coordinates per replica, 3 * n_beads */
    double *x, *v, *f;    /* [replica][dof]: Å, Å/ps (BAOAB), kcal/mol/Å */
    double *bx, *bf;      /* [live][dof]: the force batch */
    double *accel;        /* [dof] Å/ps² per kcal/mol/Å: 418.4 / m (BAOAB) */
    double *vel_std;      /* [dof] Å/ps: sqrt(kT 418.4 / m) (BAOAB) */
    double drift, noise;  /* overdamped: D dt / kT (Å² mol/kcal), sqrt(2 D dt) (Å) */
    double c1, c2;        /* BAOAB O step: exp(-γ dt), sqrt(1 - c1²) */
    gsl_rng **rng;        /* [replica] */
    size_t *live, n_live; /* indices of the live replicas */
    cgdml_trajectory *t;
} cgdml_run_state;

/* Write the state after step `step` (>= 1; the frames saved up to it included)
 * to s->opt->checkpoint, atomically. */
cgdml_status cgdml_simulate_checkpoint_save(const cgdml_run_state *s, size_t step);

/* If s->opt->checkpoint exists, check that it belongs to this run (shape,
 * options, force tag, masses), load its state into s (allocated, constants set)
 * and set *step to its step; else leave s alone and set *step to 0. */
cgdml_status cgdml_simulate_checkpoint_load(cgdml_run_state *s, size_t *step);

#endif
