/* common.c - helpers shared by the commands: the parsers of list-valued options,
 * loading datasets by file type, choosing frames, strata and prior from the
 * options, guarding outputs, and applying --memory / --threads.
 */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *const cli_start_names[] = {"equilibrium", "strata", "alpha-r", "beta", NULL};
const char *const cli_method_names[] = {"single", "average", "distilled", "prior-only", NULL};

/* ---- parsers of list-valued options ---- */

int cli_parse_list(const char *name, const char *text, double *v, size_t max, size_t *n)
{
    *n = 0;
    for (const char *p = text; *p;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || (*end && *end != ',') || *n == max)
            return cli_usage_error("--%s '%s': expected up to %zu comma-separated numbers", name,
                                   text, max);
        if (!isfinite(x) || x < 0)
            return cli_usage_error("--%s '%s': %g is not a finite non-negative number", name,
                                   text, x);
        v[(*n)++] = x;
        p = *end ? end + 1 : end;
    }
    return *n ? CLI_OK : cli_usage_error("--%s is empty", name);
}

/* "a,b,c,d" -> four bead indices. */
int cli_parse_quad(const char *name, const char *text, int *q)
{
    char tail;
    if (sscanf(text, "%d,%d,%d,%d%c", &q[0], &q[1], &q[2], &q[3], &tail) != 4)
        return cli_usage_error("--%s '%s': expected four bead indices such as 0,1,2,4", name,
                               text);
    return CLI_OK;
}

int cli_parse_sizes(const char *text, cli_options *o)
{
    double v[16];
    int rc = cli_parse_list("sizes", text, v, 16, &o->n_sizes);
    for (size_t i = 0; !rc && i < o->n_sizes; i++) {
        if (!(v[i] >= 1 && v[i] <= 1e9) || v[i] != floor(v[i]))
            return cli_usage_error("--sizes '%s': expected positive whole numbers of frames", text);
        o->sizes[i] = (size_t)v[i];
    }
    return rc;
}

int cli_parse_methods(const char *text, cli_options *o)
{
    o->n_methods = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int m = 0; m < CLI_N_METHODS; m++)
            if (strlen(cli_method_names[m]) == len && !strncmp(p, cli_method_names[m], len))
                found = m;
        if (found < 0)
            return cli_usage_error("--methods: unknown method '%.*s' (choose from single, "
                                   "average, distilled, prior-only)",
                                   (int)len, p);
        for (size_t i = 0; i < o->n_methods; i++)
            if (o->methods[i] == found)
                return cli_usage_error("--methods: '%s' given twice", cli_method_names[found]);
        o->methods[o->n_methods++] = found;
        p += len + (p[len] == ',');
    }
    return o->n_methods ? CLI_OK : cli_usage_error("--methods is empty");
}

/* "0-1,1-2,..." -> bonds. */
static int parse_bonds(const char *text, int *bonds, size_t max, size_t *n)
{
    *n = 0;
    for (const char *p = text; *p;) {
        int i, j, used;
        if (*n == max || sscanf(p, "%d-%d%n", &i, &j, &used) != 2 || (p[used] && p[used] != ','))
            return cli_usage_error("--bonds '%s': expected pairs such as 0-1,1-2,2-3", text);
        bonds[2 * *n] = i;
        bonds[2 * *n + 1] = j;
        (*n)++;
        p += used + (p[used] == ',');
    }
    return CLI_OK;
}

/* ---- strata and prior from the options ---- */

cgdml_status cli_strata_options(const cli_options *opt, cgdml_strata_options *so)
{
    cgdml_strata_options_init(so);
    so->kmeans = opt->kmeans;
    so->seed = opt->seed;
    so->n_collective = opt->n_cv_specs;
    cgdml_status s = CGDML_OK;
    for (size_t i = 0; !s && i < opt->n_cv_specs; i++)
        s = cgdml_collective_parse(opt->cv_specs[i], &so->collective[i]);
    return s;
}

cgdml_status cli_build_strata(const cli_options *opt, const cgdml_dataset *d, cgdml_strata **out)
{
    cgdml_strata_options so;
    cgdml_status s = cli_strata_options(opt, &so);
    return s ? s : cgdml_strata_build(d, &so, 0, out);
}

cgdml_status cli_fit_prior(const cli_options *opt, const cgdml_dataset *d, cgdml_prior **out)
{
    *out = NULL;
    if (opt->no_prior)
        return CGDML_OK;
    int parsed[2 * 256];
    size_t n = 0;
    if (opt->bonds && parse_bonds(opt->bonds, parsed, 256, &n))
        return cgdml_error_set(CGDML_ERR_INVALID, "--bonds: see the message above");
    cgdml_status s = cgdml_prior_fit_topology(d, opt->bonds ? parsed : NULL, n, opt->temperature,
                                              out);
    return s ? cgdml_error_wrap(s, "prior (give --bonds, or --no-prior)") : CGDML_OK;
}


size_t cli_default_burn_in(size_t steps)
{
    return steps >= 3 * (size_t)CLI_BURN_IN ? (size_t)CLI_BURN_IN : steps / 3;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

cgdml_status cli_load_dataset(const char *path, const char *group, cgdml_dataset **out)
{
    cgdml_status s;
    if (has_suffix(path, ".npz"))
        s = cgdml_npz_read_sgdml(path, out);
    else if (has_suffix(path, ".npy"))
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: a lone .npy holds coordinates or forces, not both; convert "
                               "the pair with 'cgdml import --coords C.npy --forces F.npy -o "
                               "data.h5'",
                               path);
    else
        s = cgdml_h5md_read(path, group, out);
    if (s)
        return s;
    s = cgdml_dataset_check(*out);
    if (s) {
        cgdml_dataset_free(*out);
        *out = NULL;
        return cgdml_error_wrap(s, "%s", path);
    }
    return CGDML_OK;
}

int cli_select_frames(const cli_options *opt, size_t n_frames, int allow_all, size_t **idx,
                      size_t *n)
{
    *idx = NULL;
    *n = 0;
    if (opt->indices && opt->have_n_train)
        return cli_usage_error("give either --indices or --n-train, not both");
    if (opt->have_n_train && opt->n_train == 0)
        return cli_usage_error("--n-train 0: choose at least 1 frame");
    cgdml_status s;
    if (opt->indices) {
        s = cgdml_sample_read_indices(opt->indices, n_frames, idx, n);
    } else if (opt->have_n_train) {
        s = cgdml_sample_random(n_frames, opt->n_train, opt->seed, idx);
        *n = opt->n_train;
    } else if (allow_all) {
        s = cgdml_sample_complement(n_frames, NULL, 0, idx, n);
    } else {
        return cli_usage_error("choose the frames with --indices FILE or --n-train M");
    }
    return s ? cli_fail(s) : CLI_OK;
}

int cli_check_output(const char *output, const char *const *inputs, size_t n_inputs)
{
    if (!output)
        return cli_usage_error("no output file: give -o FILE");
    char out_real[PATH_MAX], in_real[PATH_MAX];
    if (!realpath(output, out_real))
        return CLI_OK; /* does not exist yet */
    for (size_t i = 0; i < n_inputs; i++)
        if (inputs[i] && realpath(inputs[i], in_real) && !strcmp(in_real, out_real))
            return cli_usage_error("the output %s is also an input; writing it would destroy the "
                                   "input",
                                   output);
    return CLI_OK;
}

int cli_python_script(const char *name, const char *args)
{
    const char *src = getenv("CGDML_SRC") ? getenv("CGDML_SRC") : ".";
    char cmd[5 * CGDML_PATH_MAX];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/scripts/%s' %s", src, name, args);
    return system(cmd) == 0;
}

int cli_apply_resources(const cli_options *opt)
{
    if (opt->memory) {
        size_t bytes;
        cgdml_status s = cgdml_memory_parse(opt->memory, &bytes);
        if (s)
            return cli_usage_error("%s", cgdml_error_message());
        cgdml_memory_set_budget(bytes);
    }
    if (opt->threads)
        omp_set_num_threads(opt->threads);
    return CLI_OK;
}
