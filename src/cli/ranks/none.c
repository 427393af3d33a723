/* none.c - the one process of the default build (see ../ranks.h): the program
 * runs as it always did, and --distributed is refused.  The MPI build links
 * mpi.c instead.
 */
#include "../ranks.h"

int cli_ranks_start(const cli_options *opt, int shares_work)
{
    (void)shares_work;
    if (opt->distributed)
        return cli_usage_error("--distributed: built without MPI: make MPI=1 (docs/cluster.md)");
    return CLI_OK;
}

const char *cli_ranks_build(void)
{
    return "";
}

int cli_ranks_rank(void)
{
    return 0;
}

cgdml_status cli_ranks_agree(cgdml_status s)
{
    return s;
}

cgdml_status cli_ranks_ensemble_build(const cli_options *opt, const cgdml_dataset *data,
                                      cgdml_ensemble_options *eo, cgdml_status s,
                                      cgdml_ensemble **out)
{
    (void)opt;
    *out = NULL;
    return s ? s : cgdml_ensemble_build(data, eo, out);
}

cgdml_status cli_ranks_train(const cgdml_dataset *data, const size_t *idx, size_t n,
                             const double *labels, double sigma, double lambda,
                             cgdml_train_stats *stats, cgdml_model **out)
{
    (void)data, (void)idx, (void)n, (void)labels, (void)sigma, (void)lambda, (void)stats;
    *out = NULL;
    return cgdml_error_set(CGDML_ERR_INVALID, "built without MPI: make MPI=1");
}

int cli_ranks_serve(void)
{
    return CLI_OK;
}

int cli_ranks_release(int rc)
{
    return rc;
}

int cli_ranks_stop(int rc)
{
    return rc;
}
