/* cmd_simulate.c - `cgdml simulate`: CG Langevin dynamics with a model (kernel
 * part plus prior), replicas started from stratified frames of a dataset, saved
 * as an H5MD trajectory with φ/ψ for `cgdml fes`.  The command checkpoints the
 * run to OUTPUT.checkpoint so that --resume continues a killed run; `cgdml run`
 * and `cgdml study` simulate through cli_simulate without a checkpoint.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Steps per second on stderr: a redrawn bar on a terminal, ten lines otherwise. */
typedef struct {
    size_t last_tenth;
} step_progress;

static void show_steps(void *ctx, size_t step, size_t n_steps, double steps_per_s)
{
    step_progress *p = ctx;
    int tty = isatty(STDERR_FILENO);
    size_t tenth = step * 10 / n_steps;
    if (!tty && tenth == p->last_tenth && step != n_steps)
        return;
    p->last_tenth = tenth;
    char bar[21];
    for (int i = 0; i < 20; i++)
        bar[i] = (size_t)i < step * 20 / n_steps ? '#' : '.';
    bar[20] = '\0';
    double eta = steps_per_s > 0 ? (double)(n_steps - step) / steps_per_s : 0.0;
    cli_note("%s  simulate [%s] %zu/%zu steps, %.0f steps/s, ETA %.0f s%s", tty ? "\r" : "",
             bar, step, n_steps, steps_per_s, eta, tty && step < n_steps ? "" : "\n");
}

/* Bead masses (amu) from the first letter of the bead names, carbon otherwise. */
static void bead_masses(const cgdml_dataset *d, double *m)
{
    for (size_t b = 0; b < d->n_beads; b++) {
        switch (d->bead_names[b][0]) {
        case 'N': m[b] = 14.007; break;
        case 'O': m[b] = 15.999; break;
        case 'S': m[b] = 32.06; break;
        case 'H': m[b] = 1.008; break;
        default: m[b] = 12.011;
        }
    }
}

static int check_simulate_options(const cli_options *opt)
{
    if (!opt->model || !opt->data)
        return cli_usage_error("simulate: give --model FILE and --data FILE (start frames)");
    if (opt->replicas < 1 || opt->steps < 1)
        return cli_usage_error("simulate: --replicas and --steps must be at least 1");
    const char *inputs[] = {opt->model, opt->data};
    return cli_check_output(opt->output, inputs, 2);
}

static size_t report_stops(const cgdml_trajectory *t)
{
    size_t stopped = 0;
    for (size_t r = 0; r < t->n_replicas; r++)
        if (!t->alive[r]) {
            stopped++;
            cli_note("  replica %zu stopped at step %zu: %s\n", r, t->stopped_step[r],
                     t->stop_reason[r]);
        }
    printf("replicas %zu, finished %zu, stopped %zu\n", t->n_replicas, t->n_replicas - stopped,
           stopped);
    return stopped;
}

/* 64-bit FNV-1a of a file's bytes, folded into *h. */
static cgdml_status hash_file(const char *path, uint64_t *h)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cgdml_error_set(CGDML_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;)
        for (size_t k = 0; k < n; k++)
            *h = (*h ^ buf[k]) * 0x100000001b3ULL;
    int bad = ferror(f);
    fclose(f);
    return bad ? cgdml_error_set(CGDML_ERR_IO, "%s: read error", path) : CGDML_OK;
}

/* What identifies a run for its checkpoint besides the options: the model file's
 * bytes and the start dataset's content. */
static cgdml_status force_tag(const cli_options *opt, const cgdml_dataset *d, uint64_t *tag)
{
    *tag = 0xcbf29ce484222325ULL;
    cgdml_status s = hash_file(opt->model, tag);
    *tag ^= cgdml_dataset_hash(d);
    return s;
}

static cgdml_status run_simulation(const cli_options *opt, const cgdml_model *m,
                                   const cgdml_dataset *d, const char *checkpoint,
                                   cli_simulate_summary *sum)
{
    size_t n3 = 3 * d->n_beads;
    double *start = malloc(opt->replicas * n3 * sizeof(double));
    double *masses = malloc(d->n_beads * sizeof(double));
    if (!start || !masses) {
        free(start);
        free(masses);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu replicas", opt->replicas);
    }
    bead_masses(d, masses);
    step_progress progress = {.last_tenth = 99};
    cgdml_simulate_options so;
    cgdml_simulate_options_init(&so);
    so.integrator = opt->baoab ? CGDML_INTEGRATOR_BAOAB : CGDML_INTEGRATOR_OVERDAMPED;
    so.dt = opt->dt;
    so.temperature = opt->temperature;
    so.diffusion = opt->diffusion;
    so.friction = opt->friction;
    so.masses = masses;
    so.n_steps = opt->steps;
    so.save_every = opt->save_every;
    so.seed = opt->seed;
    so.prior = m->prior;
    so.progress = show_steps;
    so.progress_ctx = &progress;
    so.checkpoint = checkpoint;
    so.checkpoint_interval_s = opt->checkpoint_interval;
    so.resume = opt->resume;
    cgdml_trajectory *t = NULL;
    cgdml_status s = checkpoint ? force_tag(opt, d, &so.force_tag) : CGDML_OK;
    if (!s)
        s = cgdml_simulate_start_frames(d, opt->replicas, (cgdml_start_kind)opt->start, opt->seed,
                                        start);
    double t0 = cgdml_clock_wall_seconds();
    if (!s)
        s = cgdml_simulate_run(cgdml_simulate_model_forces, (void *)m, opt->replicas, d->n_beads,
                               start, &so, &t);
    if (!s && t->resumed_step)
        cli_note("resumed from step %zu of %zu (%s)\n", t->resumed_step, opt->steps, checkpoint);
    if (!s) {
        double secs = cgdml_clock_wall_seconds() - t0;
        size_t steps_run = opt->steps - t->resumed_step;
        *sum = (cli_simulate_summary){.replicas = opt->replicas,
                                      .stopped = report_stops(t),
                                      .seconds = secs,
                                      .evaluations_per_s =
                                          (double)(steps_run * opt->replicas) / secs};
        printf("steps %zu x %zu replicas in %.1f s: %.0f force evaluations/s\n", steps_run,
               opt->replicas, secs, sum->evaluations_per_s);
        s = cgdml_trajectory_save(t, d, cgdml_simulate_model_forces, (void *)m, opt->output);
    }
    cgdml_trajectory_free(t);
    free(start);
    free(masses);
    return s;
}

/* A checkpoint left by an interrupted run is continued with --resume, never
 * overwritten without it. */
static int check_checkpoint(const cli_options *opt, const char *checkpoint)
{
    if (opt->resume || access(checkpoint, F_OK) != 0)
        return CLI_OK;
    cli_note("cgdml: error: %s holds the state of an interrupted simulation: add --resume to continue "
             "it, or remove the file to start afresh\n",
             checkpoint);
    return CLI_FAILED;
}

static cgdml_status simulate(const cli_options *opt, const char *checkpoint,
                             cli_simulate_summary *sum)
{
    cgdml_model *m = NULL;
    cgdml_dataset *d = NULL;
    cgdml_status s = cgdml_model_load(opt->model, &m);
    if (!s)
        s = cli_load_dataset(opt->data, opt->group, &d);
    if (!s && d->n_beads != m->n_beads)
        s = cgdml_error_set(CGDML_ERR_INVALID, "%s has %zu beads but the model %s has %zu",
                            opt->data, d->n_beads, opt->model, m->n_beads);
    if (!s)
        s = run_simulation(opt, m, d, checkpoint, sum);
    if (!s)
        cli_note("wrote %s\n", opt->output);
    if (!s && checkpoint && remove(checkpoint) != 0 && errno != ENOENT)
        cli_note("cgdml: warning: cannot remove %s: %s\n", checkpoint, strerror(errno));
    cgdml_dataset_free(d);
    cgdml_model_free(m);
    return s;
}

int cmd_simulate(const cli_options *opt)
{
    char checkpoint[CGDML_PATH_MAX + 16];
    int rc = check_simulate_options(opt);
    if (!rc)
        rc = cli_apply_resources(opt);
    snprintf(checkpoint, sizeof checkpoint, "%s.checkpoint", opt->output ? opt->output : "");
    if (!rc)
        rc = check_checkpoint(opt, checkpoint);
    if (rc)
        return rc;
    size_t stale = cgdml_atomic_clean(opt->output) + cgdml_atomic_clean(checkpoint);
    if (stale)
        cli_note("removed %zu temporary file(s) left by a killed run\n", stale);
    cli_simulate_summary sum;
    cgdml_status s = simulate(opt, checkpoint, &sum);
    return s ? cli_fail(s) : CLI_OK;
}

cgdml_status cli_simulate(const cli_options *opt, cli_simulate_summary *sum)
{
    return simulate(opt, NULL, sum);
}
