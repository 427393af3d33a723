/* cmd_fes.c - `cgdml fes-reference`: the all-atom reference landscape F(φ, ψ) of
 * a dataset, with the statistical floor of the comparison metric (first half of
 * the frames against the second half, METHOD.md §5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* "a,b,c,d" -> four bead indices. */
int cli_parse_quad(const char *name, const char *text, int *q)
{
    char tail;
    if (sscanf(text, "%d,%d,%d,%d%c", &q[0], &q[1], &q[2], &q[3], &tail) != 4)
        return cli_usage_error("--%s '%s': expected four bead indices such as 0,1,2,4", name,
                               text);
    return CLI_OK;
}

/* The landscape of frames [begin, end) of the angle arrays. */
static cgdml_status landscape(const double *phi, const double *psi, size_t begin, size_t end,
                              size_t bins, cgdml_fes **out)
{
    return cgdml_fes_from_angles(phi + begin, psi + begin, end - begin, bins, out);
}

static int write_reference(const cli_options *opt, const cgdml_dataset *d, const double *phi,
                           const double *psi)
{
    size_t n = d->n_frames, half = n / 2;
    cgdml_fes *all = NULL, *first = NULL, *second = NULL;
    cgdml_fes_comparison cmp = {0};
    cgdml_status s = landscape(phi, psi, 0, n, opt->bins, &all);
    if (!s)
        s = landscape(phi, psi, 0, half, opt->bins, &first);
    if (!s)
        s = landscape(phi, psi, half, n, opt->bins, &second);
    if (!s)
        s = cgdml_fes_compare(first, second, &cmp);
    if (!s)
        s = cgdml_fes_save(all, cmp.mse, opt->output);
    if (!s) {
        size_t populated = 0;
        for (size_t b = 0; b < opt->bins * opt->bins; b++)
            populated += all->count[b] > 0;
        printf("frames %zu\nbins %zu x %zu, populated %zu\n"
               "floor (first half vs second half) %.4f kT^2 over %zu joint bins\n",
               n, opt->bins, opt->bins, populated, cmp.mse, cmp.joint_bins);
        cli_note("wrote %s\n", opt->output);
    }
    cgdml_fes_free(all);
    cgdml_fes_free(first);
    cgdml_fes_free(second);
    return s ? cli_fail(s) : CLI_OK;
}

int cmd_fes_reference(const cli_options *opt)
{
    if (!opt->data)
        return cli_usage_error("fes-reference: give the dataset with --data FILE");
    if (!!opt->phi != !!opt->psi)
        return cli_usage_error("fes-reference: --phi and --psi go together");
    const char *inputs[] = {opt->data};
    int rc = cli_check_output(opt->output, inputs, 1);
    if (rc)
        return rc;
    cgdml_dataset *d;
    cgdml_status s = cli_load_dataset(opt->data, opt->group, &d);
    if (s)
        return cli_fail(s);
    double *phi = malloc(d->n_frames * sizeof(double)), *psi = malloc(d->n_frames * sizeof(double));
    if (!phi || !psi)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate angles");
    if (!s && d->n_frames < 2)
        s = cgdml_error_set(CGDML_ERR_INVALID, "%s has %zu frame; a landscape and its floor "
                            "need at least 2", opt->data, d->n_frames);
    if (!s)
        s = cgdml_fes_angles(d, opt->phi ? opt->phi_beads : NULL,
                             opt->psi ? opt->psi_beads : NULL, phi, psi);
    rc = s ? cli_fail(s) : write_reference(opt, d, phi, psi);
    free(phi);
    free(psi);
    cgdml_dataset_free(d);
    return rc;
}
