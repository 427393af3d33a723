/* kernel_sum_avx2.c - the kernel sum in AVX2 lanes (4 doubles) with FMA, compiled
 * with -mavx2 -mfma (Makefile) and called only on CPUs that report both
 * (kernel_sum.c).  The body is kernel_sum_impl.h.
 */
#include <immintrin.h>

#define V __m256d
#define KS_W 4
#define VLOAD(p) _mm256_load_pd(p)
#define VSET1(x) _mm256_set1_pd(x)
#define VADD(a, b) _mm256_add_pd(a, b)
#define VSUB(a, b) _mm256_sub_pd(a, b)
#define VMUL(a, b) _mm256_mul_pd(a, b)
#define VMIN(a, b) _mm256_min_pd(a, b)
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VFNMA(a, b, c) _mm256_fnmadd_pd(a, b, c)
#define VSQRT(a) _mm256_sqrt_pd(a)
#define VZERO_BEYOND(a, limit, v) _mm256_and_pd(_mm256_cmp_pd(a, VSET1(limit), _CMP_LT_OQ), v)
#define VPOW2(t)                                                                                   \
    _mm256_castsi256_pd(                                                                           \
        _mm256_slli_epi64(_mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(1023)), 52))
#define KS_NAME(x) ks_avx2_##x
#define KS_EVAL cgdml_kernel_sum_eval_avx2

/* Lanes summed in a fixed order: (0 + 2) + (1 + 3). */
static inline double ks_avx2_hsum(__m256d a)
{
    __m128d lo = _mm256_castpd256_pd128(a), hi = _mm256_extractf128_pd(a, 1);
    __m128d s = _mm_add_pd(lo, hi);
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#define VHSUM(a) ks_avx2_hsum(a)

#include "kernel_sum_exp.h"
#include "kernel_sum_impl.h"
