/* bench_simulate.c - `make bench`: force evaluations per second of a distilled
 * model (M2 = 3000 training frames, 6 beads) in a batched CG simulation, and the
 * arithmetic rate this reaches next to the machine's dgemm rate measured in the
 * same run.
 *
 * The model's training descriptors are those of real frames of the harmonic
 * network and its γ are small pseudo-random numbers: the cost of an evaluation does not
 * depend on the values of γ, and training a 3000-frame model (a 54000² solve)
 * would take minutes that say nothing about simulation speed.
 *
 * usage: bench_simulate [--mean-set M2] [--replicas R] [--steps S]  (3000, 100, 300)
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "cgdml.h"

/* Targets: 5x the 20,800 evaluations/s of the per-frame sum the kernel-sum engine
 * replaced (this machine, same benchmark), and 45 % of the dgemm rate. */
#define TARGET_EVALS_PER_S (5 * 20800.0)
#define TARGET_RATE_VS_DGEMM 0.45

/* Floating-point operations per training frame in one force evaluation (d = 15):
 * u = D - D_j (15), |u|² and u·γ (60), the weights (6), h += c1 γ - c2 u (60);
 * exp and sqrt not counted. */
#define FLOPS_PER_TRAINING_FRAME 141.0

static cgdml_model *synthetic_model(const cgdml_dataset *d, size_t m2)
{
    cgdml_model *m;
    if (cgdml_model_alloc(m2, d->n_beads, &m))
        return NULL;
    for (size_t t = 0; t < m2; t++) {
        cgdml_descriptor_compute(d->n_beads, d->coords + t * 3 * d->n_beads,
                                 m->train_desc + t * m->n_desc);
        for (size_t k = 0; k < m->n_desc; k++)
            m->gamma[t * m->n_desc + k] = 1e-3 * sin(1.0 + (double)(t * m->n_desc + k));
    }
    m->kind = CGDML_MODEL_DISTILLED;
    m->sigma = 1.0;
    return m;
}

int main(int argc, char **argv)
{
    size_t m2 = 3000, replicas = 100, steps = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        size_t v = strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--mean-set")) m2 = v;
        else if (!strcmp(argv[i], "--replicas")) replicas = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
    }
    cgdml_harmonic_network *net;
    cgdml_dataset *data;
    cgdml_trajectory *t;
    if (cgdml_harmonic_network_alloc(6, 20.0, 1, &net) ||
        cgdml_harmonic_network_sample(net, m2 + replicas, 0.12, 0.0, 2, &data)) {
        fprintf(stderr, "bench_simulate: %s\n", cgdml_error_message());
        return 1;
    }
    cgdml_model *m = synthetic_model(data, m2);
    if (m && cgdml_model_prepare(m))
        m = NULL;
    cgdml_simulate_options opt;
    cgdml_simulate_options_init(&opt);
    opt.n_steps = steps;
    opt.save_every = steps;
    double t0 = cgdml_clock_wall_seconds();
    if (!m || cgdml_simulate_run(cgdml_simulate_model_forces, m, replicas, 6,
                                 data->coords + m2 * 18, &opt, &t)) {
        fprintf(stderr, "bench_simulate: %s\n", cgdml_error_message());
        return 1;
    }
    double secs = cgdml_clock_wall_seconds() - t0;
    double evals = (double)(replicas * steps) / secs;
    double gflops = evals * (double)m2 * FLOPS_PER_TRAINING_FRAME / 1e9;
    double dgemm = measure_dgemm(4000);
    printf("bench_simulate: distilled model of M2 = %zu frames, 6 beads; %zu replicas x %zu "
           "steps, %d threads\n",
           m2, replicas, steps, omp_get_max_threads());
    printf("  kernel sum          %10s\n", cgdml_simd_name(cgdml_kernel_sum_simd(m->sum)));
    printf("  force evaluations   %10.0f /s   (%.1f µs per evaluation per core)\n", evals,
           1e6 * omp_get_max_threads() / evals);
    printf("  arithmetic rate     %10.1f GFLOP/s (%.0f flops per training frame)\n", gflops,
           FLOPS_PER_TRAINING_FRAME);
    printf("  machine dgemm       %10.1f GFLOP/s (same run): the kernel sum reaches %.0f %%\n",
           dgemm, 100.0 * gflops / dgemm);
    int ok = verdict("force evaluations / 1000 per s", evals / 1e3, TARGET_EVALS_PER_S / 1e3, 0);
    ok &= verdict("kernel-sum rate / dgemm", gflops / dgemm, TARGET_RATE_VS_DGEMM, 0);
    cgdml_trajectory_free(t);
    cgdml_model_free(m);
    cgdml_dataset_free(data);
    cgdml_harmonic_network_free(net);
    return ok ? 0 : 1;
}
