/* cmd_ensemble.c - `cgdml ensemble`: the two-layer ensemble from a dataset, by
 * cgdml_ensemble_build (strata -> prior -> [σ₁ cross-validation] -> layer 1,
 * checkpointed for --resume -> average -> mean set -> [σ₂ cross-validation] ->
 * distilled model).  Writes the distilled model to -o FILE and the averaged
 * ensemble beside it (FILE with .average.h5); prints the CV tables and progress.
 * Under mpirun (MPI build) the ranks share layer 1 and rank 0 writes (ranks.h).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ranks.h"

static int check_ensemble_options(const cli_options *opt)
{
    if (!opt->data)
        return cli_usage_error("ensemble: give the dataset with --data FILE");
    if (!opt->have_sigma1 && !opt->n_sigma1_grid)
        return cli_usage_error("ensemble: give --sigma1 S or --sigma1-grid a,b,...");
    if (!opt->have_sigma2 && !opt->n_sigma2_grid)
        return cli_usage_error("ensemble: give --sigma2 S or --sigma2-grid a,b,...");
    if (opt->n_lambda2_rel_grid && opt->have_lambda2)
        return cli_usage_error("ensemble: give --lambda2, --lambda2-rel or --lambda2-rel-grid, "
                               "not two of them");
    if (opt->have_lambda2 && !(opt->lambda2 > 0))
        return cli_usage_error("--lambda2%s %g: must be > 0", opt->lambda2_rel ? "-rel" : "",
                               opt->lambda2);
    if (opt->n_lambda_grid && opt->n_lambda_rel_grid)
        return cli_usage_error("ensemble: give --lambda-grid (absolute) or --lambda-rel-grid "
                               "(relative to the kernel diagonal), not both");
    if (opt->members < 1 || !opt->have_n_train || opt->n_train < 1)
        return cli_usage_error("ensemble: give --members K (>= 1) and --n-train M (>= 1)");
    if (opt->solver != CGDML_SOLVER_CG && opt->cg_option)
        return cli_usage_error("ensemble: --%s applies to --solver cg", opt->cg_option);
    size_t len = strlen(opt->output ? opt->output : "");
    if (len < 4 || strcmp(opt->output + len - 3, ".h5"))
        return cli_usage_error("ensemble: -o must name a .h5 file (the distilled model)");
    return CLI_OK;
}

int cmd_ensemble(const cli_options *opt)
{
    int rc = check_ensemble_options(opt);
    const char *inputs[] = {opt->data, opt->exclude};
    if (!rc)
        rc = cli_check_output(opt->output, inputs, 2);
    if (!rc)
        rc = cli_apply_resources(opt);
    if (!rc)
        rc = cli_ranks_start(opt, 1);
    if (rc)
        return rc;
    char checkpoint[CGDML_PATH_MAX], average_path[CGDML_PATH_MAX];
    snprintf(checkpoint, sizeof checkpoint, "%s.members", opt->output);
    snprintf(average_path, sizeof average_path, "%.*s.average.h5", (int)strlen(opt->output) - 3,
             opt->output);
    cgdml_dataset *data = NULL;
    cgdml_status s = cli_ranks_agree(cli_load_dataset(opt->data, opt->group, &data));
    rc = s ? cli_fail(s) : cli_ensemble(opt, data, checkpoint, average_path, NULL);
    cgdml_dataset_free(data);
    return cli_ranks_stop(rc);
}
