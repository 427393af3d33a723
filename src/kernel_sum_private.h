/* kernel_sum_private.h - the layout of a kernel-sum table, shared by kernel_sum.c
 * (which builds it) and the per-instruction-set bodies (kernel_sum_impl.h).
 */
#ifndef CGDML_KERNEL_SUM_PRIVATE_H
#define CGDML_KERNEL_SUM_PRIVATE_H

#include <stddef.h>

#include "cgdml/kernel.h"

struct cgdml_kernel_sum {
    cgdml_simd simd; /* instruction set of eval */
    size_t width;    /* training frames per group (vector lanes) */
    size_t n_train;  /* M */
    size_t n_desc;   /* d */
    size_t n_groups; /* ceil(M / width); the last group padded with γ = 0 */
    double sigma, s; /* σ and s = √5/σ */
    double *table;   /* [group][k][2][width]: descriptors, then γ; 64-byte aligned */
    const double *src_desc, *src_gamma; /* what the table was built from */
};

/* Loops over the batch's configurations and the exp polynomial are unrolled in
 * full so that their accumulators live in registers (GCC's -O2 keeps them in
 * memory otherwise, at half the speed). */
#define KS_PRAGMA(x) _Pragma(#x)
#define KS_UNROLL KS_PRAGMA(GCC unroll 16)

/* One instruction set's evaluation (kernel_sum_impl.h). */
typedef void (*cgdml_kernel_sum_eval_fn)(const cgdml_kernel_sum *ks, size_t n, const double *D,
                                         double *h, double *energy);
void cgdml_kernel_sum_eval_generic(const cgdml_kernel_sum *ks, size_t n, const double *D, double *h,
                                   double *energy);
void cgdml_kernel_sum_eval_avx2(const cgdml_kernel_sum *ks, size_t n, const double *D, double *h,
                                double *energy);
void cgdml_kernel_sum_eval_avx512(const cgdml_kernel_sum *ks, size_t n, const double *D, double *h,
                                  double *energy);

#endif
