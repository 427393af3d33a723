/* simulate_checkpoint.c - the checkpoint file of a simulation (see
 * simulate_state.h and cgdml_simulate_options.checkpoint).
 *
 * A long `cgdml simulate` that is killed must not lose its hours: every
 * checkpoint interval the whole state after a step is written atomically to one
 * HDF5 file, and a resumed run continues from it exactly as the uninterrupted run
 * would have gone on.  That needs everything a step reads: coordinates,
 * velocities and forces of every replica, each replica's mt19937 state (stored as
 * GSL's opaque bytes, so a checkpoint is read back by the same build), which
 * replicas were stopped and why, and the frames saved so far.  The run's identity
 * (shape, integrator options, seed, masses and the caller's force tag) is stored
 * too, and a checkpoint of another run is refused rather than continued.
 *
 * Layout: group /simulate_checkpoint with attributes format_version, step,
 * n_replicas, n_beads, n_steps, save_every, integrator, seed, force_tag, dt,
 * temperature, diffusion, friction, max_bond_sigma, rng_type, rng_size, and
 * datasets masses [bead], x v f [replica][3 bead], rng [replica][rng_size]
 * (bytes), alive [replica], stopped_step [replica], stop_reason [replica][128]
 * (bytes), and, once a frame is saved, saved_step [saved], saved_time [saved],
 * saved_coords [saved * replica][3 bead] (and saved_velocities for BAOAB).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgdml/simulate.h"
#include "h5util.h"
#include "simulate_state.h"

#define GROUP "simulate_checkpoint"
#define FORMAT_VERSION 1
#define REASON_SIZE sizeof(((cgdml_trajectory *)0)->stop_reason[0])

/* ---- the run's identity --------------------------------------------------------- */

typedef struct {
    unsigned long long step, n_replicas, n_beads, n_steps, save_every, seed, force_tag;
    int integrator;
    double dt, temperature, diffusion, friction, max_bond_sigma;
} identity;

static identity run_identity(const cgdml_run_state *s, size_t step)
{
    const cgdml_simulate_options *o = s->opt;
    return (identity){.step = step,
                      .n_replicas = s->n_rep,
                      .n_beads = s->dof / 3,
                      .n_steps = o->n_steps,
                      .save_every = o->save_every,
                      .seed = o->seed,
                      .force_tag = o->force_tag,
                      .integrator = (int)o->integrator,
                      .dt = o->dt,
                      .temperature = o->temperature,
                      .diffusion = o->diffusion,
                      .friction = o->friction,
                      .max_bond_sigma = o->max_bond_sigma};
}

static double bead_mass(const cgdml_simulate_options *o, size_t b)
{
    return o->masses ? o->masses[b] : CGDML_SIMULATE_DEFAULT_MASS;
}

/* ---- writing -------------------------------------------------------------------- */

typedef struct {
    const cgdml_run_state *s;
    size_t step;
} save_job;

static cgdml_status write_identity(hid_t g, const identity *id, const gsl_rng *rng)
{
    int version = FORMAT_VERSION;
    unsigned long long rng_size = gsl_rng_size(rng);
    const struct {
        const char *name;
        const unsigned long long *value;
    } counts[] = {{"step", &id->step},
                  {"n_replicas", &id->n_replicas},
                  {"n_beads", &id->n_beads},
                  {"n_steps", &id->n_steps},
                  {"save_every", &id->save_every},
                  {"seed", &id->seed},
                  {"force_tag", &id->force_tag},
                  {"rng_size", &rng_size}};
    const struct {
        const char *name;
        const double *value;
    } reals[] = {{"dt", &id->dt},
                 {"temperature", &id->temperature},
                 {"diffusion", &id->diffusion},
                 {"friction", &id->friction},
                 {"max_bond_sigma", &id->max_bond_sigma}};
    cgdml_status st = cgdml_h5_write_attr(g, "format_version", H5T_NATIVE_INT, &version);
    if (!st)
        st = cgdml_h5_write_attr(g, "integrator", H5T_NATIVE_INT, &id->integrator);
    if (!st)
        st = cgdml_h5_write_attr_string(g, "rng_type", gsl_rng_name(rng));
    for (size_t k = 0; !st && k < sizeof counts / sizeof *counts; k++)
        st = cgdml_h5_write_attr(g, counts[k].name, H5T_NATIVE_ULLONG, counts[k].value);
    for (size_t k = 0; !st && k < sizeof reals / sizeof *reals; k++)
        st = cgdml_h5_write_attr(g, reals[k].name, H5T_NATIVE_DOUBLE, reals[k].value);
    return st;
}

/* Per-replica state: x, v, f, generator bytes, alive, stopped step, reason. */
static cgdml_status write_replicas(hid_t g, const cgdml_run_state *s)
{
    const cgdml_trajectory *t = s->t;
    size_t n = s->n_rep, rng_size = gsl_rng_size(s->rng[0]);
    unsigned char *rng = malloc(n * rng_size);
    unsigned long long *stopped = malloc(n * sizeof *stopped);
    if (!rng || !stopped) {
        free(rng);
        free(stopped);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the checkpoint buffers");
    }
    for (size_t r = 0; r < n; r++) {
        memcpy(rng + r * rng_size, gsl_rng_state(s->rng[r]), rng_size);
        stopped[r] = t->stopped_step[r];
    }
    hsize_t state[2] = {n, s->dof}, bytes[2] = {n, rng_size}, reasons[2] = {n, REASON_SIZE};
    cgdml_status st = cgdml_h5_write_array(g, "x", H5T_NATIVE_DOUBLE, 2, state, s->x);
    if (!st)
        st = cgdml_h5_write_array(g, "v", H5T_NATIVE_DOUBLE, 2, state, s->v);
    if (!st)
        st = cgdml_h5_write_array(g, "f", H5T_NATIVE_DOUBLE, 2, state, s->f);
    if (!st)
        st = cgdml_h5_write_array(g, "rng", H5T_NATIVE_UCHAR, 2, bytes, rng);
    if (!st)
        st = cgdml_h5_write_array(g, "alive", H5T_NATIVE_INT, 1, state, t->alive);
    if (!st)
        st = cgdml_h5_write_array(g, "stopped_step", H5T_NATIVE_ULLONG, 1, state, stopped);
    if (!st)
        st = cgdml_h5_write_array(g, "stop_reason", H5T_NATIVE_UCHAR, 2, reasons,
                                  t->stop_reason);
    free(rng);
    free(stopped);
    return st;
}

/* The frames saved up to step `step`. */
static cgdml_status write_saved(hid_t g, const cgdml_run_state *s, size_t step)
{
    const cgdml_trajectory *t = s->t;
    hsize_t n_saved = step / s->opt->save_every, frames[2] = {n_saved * s->n_rep, s->dof};
    if (n_saved == 0)
        return CGDML_OK;
    cgdml_status st = cgdml_h5_write_array(g, "saved_step", H5T_NATIVE_INT64, 1, &n_saved, t->step);
    if (!st)
        st = cgdml_h5_write_array(g, "saved_time", H5T_NATIVE_DOUBLE, 1, &n_saved, t->time);
    if (!st)
        st = cgdml_h5_write_array(g, "saved_coords", H5T_NATIVE_DOUBLE, 2, frames, t->coords);
    if (!st && t->velocities)
        st = cgdml_h5_write_array(g, "saved_velocities", H5T_NATIVE_DOUBLE, 2, frames,
                                  t->velocities);
    return st;
}

static cgdml_status write_checkpoint(hid_t file, const void *ctx)
{
    const save_job *job = ctx;
    const cgdml_run_state *s = job->s;
    hid_t g = H5Gcreate2(file, GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return cgdml_error_set(CGDML_ERR_IO, "cannot create group '%s'", GROUP);
    identity id = run_identity(s, job->step);
    size_t n_beads = s->dof / 3;
    double *masses = malloc(n_beads * sizeof(double));
    cgdml_status st = masses ? CGDML_OK
                             : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the masses");
    for (size_t b = 0; masses && b < n_beads; b++)
        masses[b] = bead_mass(s->opt, b);
    hsize_t nb = n_beads;
    if (!st)
        st = write_identity(g, &id, s->rng[0]);
    if (!st)
        st = cgdml_h5_write_array(g, "masses", H5T_NATIVE_DOUBLE, 1, &nb, masses);
    if (!st)
        st = write_replicas(g, s);
    if (!st)
        st = write_saved(g, s, job->step);
    free(masses);
    H5Gclose(g);
    return st;
}

cgdml_status cgdml_simulate_checkpoint_save(const cgdml_run_state *s, size_t step)
{
    save_job job = {.s = s, .step = step};
    return cgdml_h5_save(s->opt->checkpoint, "simulation checkpoint", write_checkpoint, &job);
}

/* ---- reading -------------------------------------------------------------------- */

/* The checkpoint's identity must be this run's; the first difference is named. */
static cgdml_status check_identity(hid_t g, const cgdml_run_state *s, identity *found)
{
    identity want = run_identity(s, 0);
    char rng_type[64];
    unsigned long long rng_size;
    int version;
    cgdml_status st = cgdml_h5_read_attr(g, "format_version", H5T_NATIVE_INT, &version);
    if (!st && version != FORMAT_VERSION)
        return cgdml_error_set(CGDML_ERR_FORMAT, "checkpoint format_version %d; this cgdml reads %d",
                               version, FORMAT_VERSION);
    const char *count_names[] = {"step",       "n_replicas", "n_beads",  "n_steps",
                                 "save_every", "seed",       "force_tag"};
    unsigned long long *count_found[] = {&found->step,       &found->n_replicas, &found->n_beads,
                                         &found->n_steps,    &found->save_every, &found->seed,
                                         &found->force_tag};
    const unsigned long long *count_want[] = {NULL,           &want.n_replicas, &want.n_beads,
                                              &want.n_steps,  &want.save_every, &want.seed,
                                              &want.force_tag};
    for (size_t k = 0; !st && k < 7; k++) {
        st = cgdml_h5_read_attr(g, count_names[k], H5T_NATIVE_ULLONG, count_found[k]);
        if (!st && count_want[k] && *count_found[k] != *count_want[k])
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "the checkpoint belongs to another run: %s %llu there, %llu "
                                   "here%s",
                                   count_names[k], *count_found[k], *count_want[k],
                                   k == 6 ? " (another model or start dataset)" : "");
    }
    const char *real_names[] = {"dt", "temperature", "diffusion", "friction", "max_bond_sigma"};
    const double *real_want[] = {&want.dt, &want.temperature, &want.diffusion, &want.friction,
                                 &want.max_bond_sigma};
    for (size_t k = 0; !st && k < 5; k++) {
        double v;
        st = cgdml_h5_read_attr(g, real_names[k], H5T_NATIVE_DOUBLE, &v);
        if (!st && memcmp(&v, real_want[k], sizeof v) != 0)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "the checkpoint belongs to another run: %s %.17g there, %.17g "
                                   "here",
                                   real_names[k], v, *real_want[k]);
    }
    if (!st)
        st = cgdml_h5_read_attr(g, "integrator", H5T_NATIVE_INT, &found->integrator);
    if (!st && found->integrator != want.integrator)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "the checkpoint belongs to another run: integrator %d there, %d "
                               "here",
                               found->integrator, want.integrator);
    if (!st)
        st = cgdml_h5_read_attr_string(g, "rng_type", rng_type, sizeof rng_type);
    if (!st)
        st = cgdml_h5_read_attr(g, "rng_size", H5T_NATIVE_ULLONG, &rng_size);
    if (!st && (strcmp(rng_type, gsl_rng_name(s->rng[0])) != 0 ||
                rng_size != gsl_rng_size(s->rng[0])))
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "the checkpoint's random generators are %s of %llu bytes; this "
                               "build uses %s of %zu",
                               rng_type, rng_size, gsl_rng_name(s->rng[0]),
                               gsl_rng_size(s->rng[0]));
    if (!st && (found->step < 1 || found->step > want.n_steps))
        return cgdml_error_set(CGDML_ERR_FORMAT, "the checkpoint's step %llu is outside 1..%llu",
                               found->step, want.n_steps);
    return st;
}

static cgdml_status check_masses(hid_t g, const cgdml_run_state *s)
{
    size_t n_beads = s->dof / 3;
    hsize_t nb = n_beads;
    double *masses = malloc(n_beads * sizeof(double));
    if (!masses)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the masses");
    cgdml_status st = cgdml_h5_read_array(g, "masses", H5T_NATIVE_DOUBLE, 1, &nb, masses);
    for (size_t b = 0; !st && b < n_beads; b++)
        if (masses[b] != bead_mass(s->opt, b))
            st = cgdml_error_set(CGDML_ERR_INVALID,
                                 "the checkpoint belongs to another run: mass of bead %zu %g "
                                 "there, %g here",
                                 b, masses[b], bead_mass(s->opt, b));
    free(masses);
    return st;
}

static cgdml_status read_replicas(hid_t g, cgdml_run_state *s)
{
    cgdml_trajectory *t = s->t;
    size_t n = s->n_rep, rng_size = gsl_rng_size(s->rng[0]);
    unsigned char *rng = malloc(n * rng_size);
    unsigned long long *stopped = malloc(n * sizeof *stopped);
    hsize_t state[2] = {n, s->dof}, bytes[2] = {n, rng_size}, reasons[2] = {n, REASON_SIZE};
    cgdml_status st = rng && stopped ? CGDML_OK
                                     : cgdml_error_set(CGDML_ERR_NOMEM,
                                                       "cannot allocate the checkpoint buffers");
    if (!st)
        st = cgdml_h5_read_array(g, "x", H5T_NATIVE_DOUBLE, 2, state, s->x);
    if (!st)
        st = cgdml_h5_read_array(g, "v", H5T_NATIVE_DOUBLE, 2, state, s->v);
    if (!st)
        st = cgdml_h5_read_array(g, "f", H5T_NATIVE_DOUBLE, 2, state, s->f);
    if (!st)
        st = cgdml_h5_read_array(g, "rng", H5T_NATIVE_UCHAR, 2, bytes, rng);
    if (!st)
        st = cgdml_h5_read_array(g, "alive", H5T_NATIVE_INT, 1, state, t->alive);
    if (!st)
        st = cgdml_h5_read_array(g, "stopped_step", H5T_NATIVE_ULLONG, 1, state, stopped);
    if (!st)
        st = cgdml_h5_read_array(g, "stop_reason", H5T_NATIVE_UCHAR, 2, reasons, t->stop_reason);
    for (size_t r = 0; !st && r < n; r++) {
        memcpy(gsl_rng_state(s->rng[r]), rng + r * rng_size, rng_size);
        t->stopped_step[r] = (size_t)stopped[r];
        t->stop_reason[r][REASON_SIZE - 1] = '\0';
        t->alive[r] = t->alive[r] != 0;
    }
    free(rng);
    free(stopped);
    return st;
}

static cgdml_status read_saved(hid_t g, cgdml_run_state *s, size_t step)
{
    cgdml_trajectory *t = s->t;
    hsize_t n_saved = step / s->opt->save_every, frames[2] = {n_saved * s->n_rep, s->dof};
    if (n_saved == 0)
        return CGDML_OK;
    cgdml_status st = cgdml_h5_read_array(g, "saved_step", H5T_NATIVE_INT64, 1, &n_saved, t->step);
    if (!st)
        st = cgdml_h5_read_array(g, "saved_time", H5T_NATIVE_DOUBLE, 1, &n_saved, t->time);
    if (!st)
        st = cgdml_h5_read_array(g, "saved_coords", H5T_NATIVE_DOUBLE, 2, frames, t->coords);
    if (!st && t->velocities)
        st = cgdml_h5_read_array(g, "saved_velocities", H5T_NATIVE_DOUBLE, 2, frames,
                                 t->velocities);
    return st;
}

static cgdml_status load_group(hid_t file, cgdml_run_state *s, size_t *step)
{
    if (H5Lexists(file, GROUP, H5P_DEFAULT) <= 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "no group '%s': not a simulation checkpoint",
                               GROUP);
    hid_t g = H5Gopen2(file, GROUP, H5P_DEFAULT);
    if (g < 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "cannot open group '%s'", GROUP);
    identity found;
    cgdml_status st = check_identity(g, s, &found);
    if (!st)
        st = check_masses(g, s);
    if (!st)
        st = read_replicas(g, s);
    if (!st)
        st = read_saved(g, s, (size_t)found.step);
    H5Gclose(g);
    if (!st)
        *step = (size_t)found.step;
    return st;
}

cgdml_status cgdml_simulate_checkpoint_load(cgdml_run_state *s, size_t *step)
{
    const char *path = s->opt->checkpoint;
    struct stat info;
    *step = 0;
    if (stat(path, &info) != 0) {
        if (errno == ENOENT)
            return CGDML_OK;
        return cgdml_error_set(CGDML_ERR_IO, "checkpoint %s: %s", path, strerror(errno));
    }
    hid_t file;
    cgdml_status st = cgdml_h5_open_checkpoint(path, "checkpoint", &file);
    if (st)
        return st;
    st = load_group(file, s, step);
    H5Fclose(file);
    if (!st) {
        s->n_live = 0;
        for (size_t r = 0; r < s->n_rep; r++)
            if (s->t->alive[r])
                s->live[s->n_live++] = r;
    }
    return st ? cgdml_error_wrap(st, "checkpoint %s", path) : CGDML_OK;
}
