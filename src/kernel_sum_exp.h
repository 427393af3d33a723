/* kernel_sum_exp.h - exp(-a) for a >= 0 in vector lanes, for the AVX2 and AVX-512
 * kernel sums (the generic build calls libm's exp).  Included by the
 * per-instruction-set files after they define V, VSET1, VSUB, VMUL, VFMA, VFNMA, VMIN,
 * VZERO_BEYOND(a, limit, v) (v where a < limit, else 0) and VPOW2(t): 2^n for t = n +
 * KS_EXP_SHIFTER (its low mantissa bits hold n).
 *
 * exp(x) = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2 (|r| <= ln2 / 2),
 * ln 2 split in two parts (Cody and Waite) so that n ln 2 is exact enough, and e^r
 * by its Taylor polynomial to degree 13: the truncation error 0.35^14/14! = 4e-18
 * is below half an ulp, so the result is within 2 ulp of the exact value (the
 * tests compare every lane against libm).  Beyond a = CGDML_KERNEL_SUM_CUTOFF the
 * result is exactly 0 (see kernel.h): no subnormal numbers ever enter the sum.
 */
#ifndef CGDML_KERNEL_SUM_EXP_H
#define CGDML_KERNEL_SUM_EXP_H

#include "kernel_sum_private.h"

#define KS_EXP_SHIFTER 0x1.8p52 /* 2^52 + 2^51: adding it rounds to an integer */
static inline V ks_expneg(V a)
{
    V x = VSUB(VSET1(0.0), VMIN(a, VSET1(CGDML_KERNEL_SUM_CUTOFF)));
    V t = VFMA(x, VSET1(0x1.71547652b82fep0), VSET1(KS_EXP_SHIFTER)); /* x log2(e) + shifter */
    V n = VSUB(t, VSET1(KS_EXP_SHIFTER));
    V r = VFNMA(n, VSET1(0x1.62e42fefa3800p-1), x); /* ln 2, high part (exact n ln2_hi) */
    r = VFNMA(n, VSET1(0x1.ef35793c7673p-45), r);   /* ln 2, low part */
    static const double c[14] = {1.0 / 6227020800.0,
                                 1.0 / 479001600.0,
                                 1.0 / 39916800.0,
                                 1.0 / 3628800.0,
                                 1.0 / 362880.0,
                                 1.0 / 40320.0,
                                 1.0 / 5040.0,
                                 1.0 / 720.0,
                                 1.0 / 120.0,
                                 1.0 / 24.0,
                                 1.0 / 6.0,
                                 1.0 / 2.0,
                                 1.0,
                                 1.0};
    V p = VSET1(c[0]);
    KS_UNROLL
    for (int i = 1; i < 14; i++)
        p = VFMA(p, r, VSET1(c[i]));
    return VZERO_BEYOND(a, CGDML_KERNEL_SUM_CUTOFF, VMUL(p, VPOW2(t)));
}
#define VEXPNEG(a) ks_expneg(a)

#endif
