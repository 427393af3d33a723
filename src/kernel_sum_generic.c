/* kernel_sum_generic.c - the kernel sum for any x86-64 (or other) CPU: one lane,
 * libm's exp and sqrt, no instruction set beyond the build's default.  The body is
 * kernel_sum_impl.h.
 */
#include <math.h>

#define V double
#define KS_W 1
#define VLOAD(p) (*(p))
#define VSET1(x) ((double)(x))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VFNMA(a, b, c) ((c) - (a) * (b))
#define VSQRT(a) sqrt(a)
#define VHSUM(a) (a)
#define VEXPNEG(a) ((a) < CGDML_KERNEL_SUM_CUTOFF ? exp(-(a)) : 0.0)
#define KS_NAME(x) ks_generic_##x
#define KS_EVAL cgdml_kernel_sum_eval_generic

#include "kernel_sum_impl.h"
