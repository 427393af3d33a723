/* kernel_private.h - the frame-pair visitor behind every assembly of the training
 * matrix (kernel.c): the RFP assembly of one process and the block-cyclic assembly
 * of the distributed solve (src/mpi/distributed.c) evaluate the same blocks
 * K(x_a, x_b) with cgdml_kernel_block and differ only in where they put them.
 * Not installed.
 */
#ifndef CGDML_KERNEL_PRIVATE_H
#define CGDML_KERNEL_PRIVATE_H

#include <stddef.h>

#include "cgdml/error.h"

/* Receives block (a, b), b <= a: blk[3N][3N] row-major, K(x_a, x_b) without λ.
 * Called from many threads at once, each with its own blk (valid only during the
 * call); different pairs must write to different places. */
typedef void (*cgdml_kernel_block_sink)(void *ctx, size_t a, size_t b, const double *blk);

/* Evaluate every block (a, b) of the lower block triangle (b <= a) with a among
 * rows[0..n_rows-1] and b among cols[0..n_cols-1] (both ascending frame indices;
 * NULL means frames 0..n-1) and hand it to `sink`, in parallel over the rows
 * (OpenMP, dynamic schedule).  D[M][d] and g[M][d][3] as for cgdml_kernel_assemble.
 * CGDML_ERR_NOMEM if a thread's block buffer cannot be allocated. */
cgdml_status cgdml_kernel_visit_blocks(size_t n_beads, const double *D, const double *g,
                                       double sigma, size_t n_rows, const size_t *rows,
                                       size_t n_cols, const size_t *cols,
                                       cgdml_kernel_block_sink sink, void *ctx);

#endif
