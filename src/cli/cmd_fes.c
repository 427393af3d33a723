/* cmd_fes.c - landscapes on the command line: `cgdml fes-reference` (the all-atom
 * reference F(φ, ψ) of a dataset and the statistical floor of the comparison
 * metric, first half against second half, docs/method.md §5) and `cgdml fes` (the
 * landscape of a CG trajectory, compared with a reference dataset).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int check_fes_options(const cli_options *opt, const char *input, const char *flag)
{
    if (!input)
        return cli_usage_error("give the input with %s FILE", flag);
    if (!!opt->phi != !!opt->psi)
        return cli_usage_error("--phi and --psi go together");
    const char *inputs[] = {input, opt->reference};
    int rc = cli_check_output(opt->output, inputs, 2);
    return rc ? rc : cli_apply_resources(opt);
}

int cmd_fes_reference(const cli_options *opt)
{
    int rc = check_fes_options(opt, opt->data, "--data");
    if (rc)
        return rc;
    cgdml_fes_reference *ref = NULL;
    cgdml_status s = cli_check_landscape_memory(opt, 3);
    if (!s)
        s = cli_load_reference(opt, opt->data, &ref);
    if (!s)
        s = cli_save_reference(opt, ref, opt->output);
    cgdml_fes_reference_free(ref);
    return s ? cli_fail(s) : CLI_OK;
}

cgdml_status cli_fes_compute(const cli_options *opt, const char *traj_group, cli_fes_summary *sum)
{
    cgdml_fes_reference *ref = NULL;
    cgdml_dataset *t = NULL;
    memset(sum, 0, sizeof *sum);
    sum->floor = NAN;
    cgdml_status s = cli_check_landscape_memory(opt, opt->reference ? 4 : 1);
    if (!s)
        s = cgdml_h5md_read(opt->traj, traj_group, &t);
    if (!s && opt->reference)
        s = cli_load_reference(opt, opt->reference, &ref);
    if (!s)
        s = cli_fes_judge(opt, t, ref, opt->output, sum);
    if (s && t)
        s = cgdml_error_wrap(s, "%s", opt->traj);
    cgdml_fes_reference_free(ref);
    cgdml_dataset_free(t);
    return s;
}

int cmd_fes(const cli_options *opt)
{
    int rc = check_fes_options(opt, opt->traj, "--traj");
    if (rc)
        return rc;
    cli_fes_summary sum;
    cgdml_status s = cli_fes_compute(opt, opt->group, &sum);
    if (s)
        return cli_fail(s);
    printf("frames %zu after a burn-in of %zu steps\nbins %zu x %zu, populated %zu\n"
           "convergence: first half vs second half of the production steps %.4f kT^2\n",
           sum.samples, opt->burn_in, opt->bins, opt->bins, sum.populated, sum.halves.mse);
    if (sum.has_reference)
        printf("MSE vs reference %.4f kT^2 over %zu joint bins (floor %.4f kT^2)\n"
               "matched floor (reference blocks of this run's size and correlation) %.4f +- "
               "%.4f kT^2\n"
               "MSE weighted by reference population %.4f kT^2\n"
               "KL(reference || model) %.4f\nreference population the model never visits "
               "%.4f\nmodel population where the reference never goes %.4f\n",
               sum.vs.mse, sum.vs.joint_bins, sum.floor, sum.matched.floor,
               sum.matched.floor_sd, sum.vs.mse_weighted, sum.vs.kl,
               sum.vs.missing, sum.vs.extra);
    cli_note("wrote %s\n", opt->output);
    return CLI_OK;
}
