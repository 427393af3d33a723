/* common.c - helpers shared by the commands: loading datasets by file type,
 * choosing frames, guarding outputs, and applying --memory / --threads.
 */
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *const cli_start_names[] = {"equilibrium", "strata", "alpha-r", "beta", NULL};

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

cgdml_status cli_remove_tree(const char *dir)
{
    char cmd[CGDML_PATH_MAX + 32];
    if (access(dir, F_OK) != 0)
        return CGDML_OK;
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? CGDML_OK : cgdml_error_set(CGDML_ERR_IO, "cannot remove %s", dir);
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
