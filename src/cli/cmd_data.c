/* cmd_data.c - datasets on the command line: `cgdml import` (NumPy files -> H5MD),
 * `cgdml synthetic` (a toy system with exact forces) and `cgdml info` (what a
 * dataset or model file holds).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Apply --names "C,N,CA,..." to the dataset's beads. */
static int set_names(cgdml_dataset *data, const char *names)
{
    size_t b = 0;
    const char *p = names;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (b == data->n_beads)
            return cli_usage_error("--names lists more than the %zu beads of the data",
                                   data->n_beads);
        if (len == 0 || len >= CGDML_NAME_MAX)
            return cli_usage_error("--names: bead name %zu must have 1 to %d characters", b + 1,
                                   CGDML_NAME_MAX - 1);
        snprintf(data->bead_names[b++], CGDML_NAME_MAX, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
    }
    if (b != data->n_beads)
        return cli_usage_error("--names lists %zu names for %zu beads", b, data->n_beads);
    return CLI_OK;
}

int cmd_import(const cli_options *opt)
{
    if (!!opt->npz == !!(opt->coords || opt->forces))
        return cli_usage_error("import: give --npz FILE, or --coords FILE and --forces FILE");
    if (!opt->npz && !(opt->coords && opt->forces))
        return cli_usage_error("import: --coords and --forces go together");
    const char *inputs[] = {opt->npz, opt->coords, opt->forces};
    int rc = cli_check_output(opt->output, inputs, 3);
    if (!rc)
        rc = cli_apply_resources(opt);
    if (rc)
        return rc;
    cgdml_dataset *data = NULL;
    cgdml_status s = opt->npz ? cgdml_npz_read_sgdml(opt->npz, &data)
                              : cgdml_npy_import(opt->coords, opt->forces, &data);
    if (s)
        return cli_fail(s);
    rc = opt->names ? set_names(data, opt->names) : CLI_OK;
    if (!rc) {
        s = cgdml_dataset_check(data);
        if (!s)
            s = cgdml_h5md_write(opt->output, data, NULL);
        rc = s ? cli_fail(s) : CLI_OK;
    }
    if (!rc)
        cli_note("wrote %s: %zu frames of %zu beads\n", opt->output, data->n_frames,
                 data->n_beads);
    cgdml_dataset_free(data);
    return rc;
}

int cmd_synthetic(const cli_options *opt)
{
    if (opt->beads < 2 || opt->beads > 1000)
        return cli_usage_error("synthetic: --beads %zu: expected 2 to 1000", opt->beads);
    if (opt->frames < 1)
        return cli_usage_error("synthetic: --frames must be at least 1");
    if (!(opt->spread >= 0) || !(opt->noise >= 0))
        return cli_usage_error("synthetic: --spread and --noise must be >= 0");
    int rc = cli_check_output(opt->output, NULL, 0);
    if (rc)
        return rc;
    cgdml_harmonic_network *net = NULL;
    cgdml_dataset *data = NULL;
    cgdml_status s = cgdml_harmonic_network_alloc(opt->beads, 20.0, opt->seed, &net);
    if (!s)
        s = cgdml_harmonic_network_sample(net, opt->frames, opt->spread, opt->noise,
                                          opt->seed + 1, &data);
    if (!s)
        s = cgdml_h5md_write(opt->output, data, NULL);
    if (!s)
        cli_note("wrote %s: %zu frames of a %zu-bead harmonic network\n", opt->output,
                 opt->frames, opt->beads);
    cgdml_dataset_free(data);
    cgdml_harmonic_network_free(net);
    return s ? cli_fail(s) : CLI_OK;
}

static void print_range(const char *label, const double *v, size_t n, const char *unit)
{
    double lo = INFINITY, hi = -INFINITY, sum = 0.0, sum2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
        sum += v[i];
        sum2 += v[i] * v[i];
    }
    double mean = sum / (double)n;
    printf("  %-12s min %.4g, max %.4g, mean %.4g, std %.4g %s\n", label, lo, hi, mean,
           sqrt(fmax(sum2 / (double)n - mean * mean, 0.0)), unit);
}

static void print_dataset(const char *path, const cgdml_dataset *d)
{
    size_t n = d->n_frames * d->n_beads * 3;
    printf("%s: CG dataset (H5MD or sGDML), hash %016llx\n", path,
           (unsigned long long)cgdml_dataset_hash(d));
    printf("  %-12s %zu (time %.6g .. %.6g ps)\n", "frames", d->n_frames, d->time[0],
           d->time[d->n_frames - 1]);
    printf("  %-12s %zu:", "beads", d->n_beads);
    for (size_t b = 0; b < d->n_beads; b++)
        printf(" %s", d->bead_names[b]);
    printf("\n  %-12s %zu:", "bonds", d->n_bonds);
    for (size_t k = 0; k < d->n_bonds; k++)
        printf(" %d-%d", d->bonds[2 * k], d->bonds[2 * k + 1]);
    printf("\n  %-12s", "observables");
    for (size_t i = 0; i < d->n_observables; i++)
        printf(" %s", d->observables[i].name);
    printf("%s\n  %-12s length Angstrom, force kcal mol-1 Angstrom-1\n",
           d->n_observables ? "" : " none", "units");
    print_range("coordinates", d->coords, n, "Å");
    print_range("forces", d->forces, n, "kcal/mol/Å");
}

static void print_model(const char *path, const cgdml_model *m)
{
    printf("%s: cgdml model, kind %s, format %d\n", path, cgdml_model_kind_name(m->kind),
           CGDML_MODEL_FORMAT_VERSION);
    printf("  %-12s %zu:", "beads", m->n_beads);
    for (size_t b = 0; b < m->n_beads; b++)
        printf(" %s", m->bead_names[b]);
    printf("\n  %-12s %zu\n  %-12s %.6g (1/Å)\n  %-12s %.6g\n  %-12s %016llx\n",
           "train frames", m->n_train, "sigma", m->sigma, "lambda", m->lambda, "data hash",
           (unsigned long long)m->dataset_hash);
    if (m->prior)
        printf("  %-12s %zu bonds, %zu angles (Boltzmann inversion at %g K)\n", "prior",
               m->prior->n_bonds, m->prior->n_angles, m->prior->temperature);
    else
        printf("  %-12s none\n", "prior");
    for (size_t r = 0; r < m->cv_rows; r++) {
        const double *row = m->cv_table + r * CGDML_CV_COLUMNS;
        printf("  cv layer %.0f  sigma %-10.4g lambda %-10.3g MSE %.6g ± %.3g (%.0f frames)"
               "  binned %.4g\n",
               row[0], row[1], row[2], row[3], row[4], row[5], row[6]);
    }
}

int cmd_info(const cli_options *opt)
{
    if (!opt->positional)
        return cli_usage_error("info: which file? (cgdml info FILE)");
    int rc = cli_apply_resources(opt);
    if (rc)
        return rc;
    const char *path = opt->positional;
    cgdml_status s;
    if (cgdml_model_file_probe(path)) {
        cgdml_model *m;
        s = cgdml_model_load(path, &m);
        if (!s)
            print_model(path, m);
        cgdml_model_free(m);
    } else {
        cgdml_dataset *d;
        s = cli_load_dataset(path, opt->group, &d);
        if (!s)
            print_dataset(path, d);
        cgdml_dataset_free(d);
    }
    return s ? cli_fail(s) : CLI_OK;
}
