/* kernel_sum_impl.h - the body of the kernel sum, written once and compiled once per
 * instruction set: kernel_sum_avx512.c, kernel_sum_avx2.c and kernel_sum_generic.c
 * define the vector type and its operations (below) and include this file, which
 * defines KS_EVAL.  Only kernel_sum.c calls it, after checking that the CPU has the
 * instruction set (see cgdml/kernel.h, cgdml_kernel_sum_eval).
 *
 * The includer defines:
 *   V, KS_W           vector of KS_W doubles
 *   VLOAD(p)          aligned load; VSET1(x) broadcast
 *   VADD VSUB VMUL    lane-wise arithmetic
 *   VFMA(a, b, c)     a*b + c;  VFNMA(a, b, c)  c - a*b
 *   VSQRT(a)          lane-wise square root; VHSUM(a) sum of the lanes
 *   VEXPNEG(a)        exp(-a) for a >= 0
 *   KS_EVAL           name of the function to define
 *
 * Work per configuration and training frame (docs/method.md §2):
 *   u = D - D_j, ρ² = u·u, ug = u·γ_j                 pass A (over k)
 *   w1 = (s²/3) e^{-sρ} (1 + sρ), w2 = (s²/3) e^{-sρ} s² ug, E -= w1 ug
 *   h += w1 γ_j - w2 u                                 pass B (over k)
 * Training frames sit in the table in groups of KS_W, one lane each; KS_RB
 * configurations share every load of the table, and a chunk of KS_CHUNK groups is
 * swept by pass A and then by pass B while it is still in the L1 cache.
 */
#include <string.h>

#include "kernel_sum_private.h"

/* Configurations that share one sweep over the table (their accumulators stay in
 * registers: 2 KS_RB vectors in pass A, KS_RB in pass B). */
#define KS_RB 4
/* Groups of training frames per chunk: the chunk's table (2 d KS_W KS_CHUNK
 * doubles, 30 KB for 6 beads at KS_W = 8) and its weights stay in L1. */
#define KS_CHUNK 16

/* Pass A and the weights of one group for KS_RB configurations Dl[r][d]. */
static inline void KS_NAME(group_weights)(const double *t, size_t d, const double *Dl, V s, V s2_3,
                                          V s2, V *w1, V *w2, V *energy)
{
    V rho2[KS_RB], ug[KS_RB];
    KS_UNROLL
    for (int r = 0; r < KS_RB; r++)
        rho2[r] = ug[r] = VSET1(0.0);
    for (size_t k = 0; k < d; k++) {
        V dk = VLOAD(t + 2 * KS_W * k), gk = VLOAD(t + 2 * KS_W * k + KS_W);
        KS_UNROLL
        for (int r = 0; r < KS_RB; r++) {
            V u = VSUB(VSET1(Dl[r * d + k]), dk);
            rho2[r] = VFMA(u, u, rho2[r]);
            ug[r] = VFMA(u, gk, ug[r]);
        }
    }
    KS_UNROLL
    for (int r = 0; r < KS_RB; r++) {
        V sr = VMUL(s, VSQRT(rho2[r]));
        V pre = VMUL(s2_3, VEXPNEG(sr));
        w1[r] = VFMA(pre, sr, pre);
        w2[r] = VMUL(VMUL(pre, s2), ug[r]);
        energy[r] = VFNMA(w1[r], ug[r], energy[r]);
    }
}

/* Pass B of one chunk: h[r][k] += Σ_j w1 γ_jk - w2 (D_rk - D_jk). */
static inline void KS_NAME(chunk_forces)(const double *t, size_t d, size_t n_groups,
                                         const double *Dl, const V (*w1)[KS_RB],
                                         const V (*w2)[KS_RB], double *hl)
{
    for (size_t k = 0; k < d; k++) {
        V acc[KS_RB], Dk[KS_RB];
        KS_UNROLL
        for (int r = 0; r < KS_RB; r++) {
            acc[r] = VSET1(0.0);
            Dk[r] = VSET1(Dl[r * d + k]);
        }
        for (size_t c = 0; c < n_groups; c++) {
            const double *tc = t + 2 * KS_W * (c * d + k);
            V dk = VLOAD(tc), gk = VLOAD(tc + KS_W);
            KS_UNROLL
            for (int r = 0; r < KS_RB; r++) {
                acc[r] = VFMA(w1[c][r], gk, acc[r]);
                acc[r] = VFNMA(w2[c][r], VSUB(Dk[r], dk), acc[r]);
            }
        }
        KS_UNROLL
        for (int r = 0; r < KS_RB; r++)
            hl[r * d + k] += VHSUM(acc[r]);
    }
}

/* KS_RB configurations at once (the caller pads a short batch). */
static void KS_NAME(eval_batch)(const cgdml_kernel_sum *ks, const double *Dl, double *hl,
                                double *el)
{
    size_t d = ks->n_desc;
    V s = VSET1(ks->s), s2 = VSET1(ks->s * ks->s), s2_3 = VSET1(ks->s * ks->s / 3.0);
    V energy[KS_RB];
    V w1[KS_CHUNK][KS_RB] __attribute__((aligned(64)));
    V w2[KS_CHUNK][KS_RB] __attribute__((aligned(64)));
    KS_UNROLL
    for (int r = 0; r < KS_RB; r++)
        energy[r] = VSET1(0.0);
    memset(hl, 0, KS_RB * d * sizeof(double));
    for (size_t g0 = 0; g0 < ks->n_groups; g0 += KS_CHUNK) {
        size_t nc = ks->n_groups - g0 < KS_CHUNK ? ks->n_groups - g0 : KS_CHUNK;
        const double *t = ks->table + 2 * KS_W * d * g0;
        for (size_t c = 0; c < nc; c++)
            KS_NAME(group_weights)(t + 2 * KS_W * d * c, d, Dl, s, s2_3, s2, w1[c], w2[c], energy);
        KS_NAME(chunk_forces)(t, d, nc, Dl, (const V(*)[KS_RB])w1, (const V(*)[KS_RB])w2, hl);
    }
    KS_UNROLL
    for (int r = 0; r < KS_RB; r++)
        el[r] = VHSUM(energy[r]);
}

void KS_EVAL(const cgdml_kernel_sum *ks, size_t n, const double *D, double *h, double *energy)
{
    size_t d = ks->n_desc;
    double Dl[KS_RB * d], hl[KS_RB * d], el[KS_RB];
    for (size_t r0 = 0; r0 < n; r0 += KS_RB) {
        size_t nb = n - r0 < KS_RB ? n - r0 : KS_RB;
        for (size_t r = 0; r < KS_RB; r++) /* pad with copies of the last one */
            memcpy(Dl + r * d, D + (r0 + (r < nb ? r : nb - 1)) * d, d * sizeof(double));
        KS_NAME(eval_batch)(ks, Dl, hl, el);
        memcpy(h + r0 * d, hl, nb * d * sizeof(double));
        if (energy)
            memcpy(energy + r0, el, nb * sizeof(double));
    }
}
