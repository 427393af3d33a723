/* cmd_simulate.c - `cgdml simulate`: CG Langevin dynamics with a model (kernel
 * part plus prior), replicas started from stratified frames of a dataset, saved
 * as an H5MD trajectory with φ/ψ for `cgdml fes`.  The command checkpoints the
 * run to OUTPUT.checkpoint so that --resume continues a killed run (the
 * simulation itself and its report: cli_simulate_model, common.c).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int check_simulate_options(const cli_options *opt)
{
    if (!opt->model || !opt->data)
        return cli_usage_error("simulate: give --model FILE and --data FILE (start frames)");
    if (opt->replicas < 1 || opt->steps < 1)
        return cli_usage_error("simulate: --replicas and --steps must be at least 1");
    const char *inputs[] = {opt->model, opt->data};
    return cli_check_output(opt->output, inputs, 2);
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

static cgdml_status simulate(const cli_options *opt, const char *checkpoint)
{
    cgdml_model *m = NULL;
    cgdml_dataset *d = NULL;
    cgdml_trajectory *t = NULL;
    cli_simulate_summary sum;
    uint64_t tag = 0;
    cgdml_status s = cgdml_model_load(opt->model, &m);
    if (!s)
        s = cli_load_dataset(opt->data, opt->group, &d);
    if (!s && d->n_beads != m->n_beads)
        s = cgdml_error_set(CGDML_ERR_INVALID, "%s has %zu beads but the model %s has %zu",
                            opt->data, d->n_beads, opt->model, m->n_beads);
    if (!s)
        s = force_tag(opt, d, &tag);
    if (!s)
        s = cli_simulate_model(opt, m, d, checkpoint, tag, &t, &sum);
    if (!s)
        s = cgdml_trajectory_save(t, d, cgdml_simulate_model_forces, (void *)m, opt->output);
    if (!s)
        cli_note("wrote %s\n", opt->output);
    if (!s && remove(checkpoint) != 0 && errno != ENOENT)
        cli_note("cgdml: warning: cannot remove %s: %s\n", checkpoint, strerror(errno));
    cgdml_trajectory_free(t);
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
    cgdml_status s = simulate(opt, checkpoint);
    return s ? cli_fail(s) : CLI_OK;
}
