/* kernel_sum_avx512.c - the kernel sum in AVX-512 lanes (8 doubles), compiled with
 * -mavx512f -mfma (Makefile) and called only on CPUs that report AVX-512F
 * (kernel_sum.c).  The body is kernel_sum_impl.h.
 */
#include <immintrin.h>

#define V __m512d
#define KS_W 8
#define VLOAD(p) _mm512_load_pd(p)
#define VSET1(x) _mm512_set1_pd(x)
#define VADD(a, b) _mm512_add_pd(a, b)
#define VSUB(a, b) _mm512_sub_pd(a, b)
#define VMUL(a, b) _mm512_mul_pd(a, b)
#define VMIN(a, b) _mm512_min_pd(a, b)
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VFNMA(a, b, c) _mm512_fnmadd_pd(a, b, c)
#define VSQRT(a) _mm512_sqrt_pd(a)
#define VZERO_BEYOND(a, limit, v)                                                                  \
    _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(a, VSET1(limit), _CMP_LT_OQ), v)
#define VHSUM(a) _mm512_reduce_add_pd(a)
#define VPOW2(t)                                                                                   \
    _mm512_castsi512_pd(                                                                           \
        _mm512_slli_epi64(_mm512_add_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64(1023)), 52))
#define KS_NAME(x) ks_avx512_##x
#define KS_EVAL cgdml_kernel_sum_eval_avx512

#include "kernel_sum_exp.h"
#include "kernel_sum_impl.h"
