/* solve_cg_checkpoint.c - the checkpoint file of a conjugate-gradient solve (see
 * cgdml_cg_options.checkpoint in cgdml/solve.h).
 *
 * A CG solve on all frames of a large pool runs for tens of minutes; killed, it
 * must not start over.  After an iteration the next one reads only α (x), the
 * residual r, the search direction p and the scalar rᵀP⁻¹r, so those are written,
 * atomically (cgdml_h5_save), with the identity of the system and of the
 * preconditioner.  The preconditioner itself is rebuilt on resume (it is a
 * deterministic function of the identity), so the resumed solve repeats the
 * uninterrupted one's arithmetic exactly.
 *
 * Layout: group /cg_checkpoint with attributes format_version, iteration,
 * n_frames, n_beads, system_hash, keys_hash, block_frames, landmarks (unsigned
 * 64-bit), preconditioner, layout (int), sigma, lambda, rz, r_norm (double) and
 * datasets x, r, p [n] (double).
 */
#include <string.h>

#include "h5util.h"
#include "solve_cg_private.h"

#define GROUP "cg_checkpoint"
#define FORMAT_VERSION 1

uint64_t cg_hash_words(uint64_t h, const void *words, size_t n)
{
    const unsigned char *b = words;
    for (size_t i = 0; i < n; i++) {
        uint64_t w;
        memcpy(&w, b + 8 * i, 8);
        h = (h ^ w) * 0x100000001b3ULL; /* FNV-1a 64-bit prime, a word at a time */
    }
    return h;
}

/* The identity's fields by name, for writing, reading and naming a difference. */
typedef struct {
    unsigned long long iteration, n_frames, n_beads, system_hash, keys_hash, block_frames,
        landmarks;
    int preconditioner, layout;
    double sigma, lambda, rz, r_norm;
} header;

static header make_header(const cg_identity *id, const cg_state *st)
{
    return (header){.iteration = st ? st->iteration : 0,
                    .n_frames = id->n_frames,
                    .n_beads = id->n_beads,
                    .system_hash = id->system_hash,
                    .keys_hash = id->keys_hash,
                    .block_frames = id->set.block_frames,
                    .landmarks = id->set.landmarks,
                    .preconditioner = (int)id->set.kind,
                    .layout = (int)id->set.layout,
                    .sigma = id->sigma,
                    .lambda = id->lambda,
                    .rz = st ? st->rz : 0.0,
                    .r_norm = st ? st->r_norm : 0.0};
}

#define N_COUNTS 7
#define N_REALS 4

static void fields(header *h, const char **count_names, unsigned long long **counts,
                   const char **real_names, double **reals)
{
    const char *cn[N_COUNTS] = {"iteration", "n_frames",     "n_beads",  "system_hash",
                                "keys_hash", "block_frames", "landmarks"};
    unsigned long long *cv[N_COUNTS] = {&h->iteration,   &h->n_frames,  &h->n_beads,
                                        &h->system_hash, &h->keys_hash, &h->block_frames,
                                        &h->landmarks};
    const char *rn[N_REALS] = {"sigma", "lambda", "rz", "r_norm"};
    double *rv[N_REALS] = {&h->sigma, &h->lambda, &h->rz, &h->r_norm};
    memcpy(count_names, cn, sizeof cn);
    memcpy(counts, cv, sizeof cv);
    memcpy(real_names, rn, sizeof rn);
    memcpy(reals, rv, sizeof rv);
}

/* ---- writing ---------------------------------------------------------------------- */

typedef struct {
    header h;
    const cg_state *st;
    size_t n;
} save_job;

/* Write or read (writing = 0) the header's attributes. */
typedef cgdml_status (*attribute_io)(hid_t loc, const char *name, hid_t type, void *value);

static cgdml_status write_attribute(hid_t loc, const char *name, hid_t type, void *value)
{
    return cgdml_h5_write_attr(loc, name, type, value);
}

static cgdml_status transfer_header(hid_t g, header *h, int writing)
{
    attribute_io io = writing ? write_attribute : cgdml_h5_read_attr;
    const char *cn[N_COUNTS], *rn[N_REALS];
    unsigned long long *cv[N_COUNTS];
    double *rv[N_REALS];
    fields(h, cn, cv, rn, rv);
    int version = FORMAT_VERSION;
    cgdml_status s = io(g, "format_version", H5T_NATIVE_INT, &version);
    if (!s && version != FORMAT_VERSION)
        return cgdml_error_set(CGDML_ERR_FORMAT, "format_version %d; this cgdml reads %d", version,
                               FORMAT_VERSION);
    if (!s)
        s = io(g, "preconditioner", H5T_NATIVE_INT, &h->preconditioner);
    if (!s)
        s = io(g, "layout", H5T_NATIVE_INT, &h->layout);
    for (size_t k = 0; !s && k < N_COUNTS; k++)
        s = io(g, cn[k], H5T_NATIVE_ULLONG, cv[k]);
    for (size_t k = 0; !s && k < N_REALS; k++)
        s = io(g, rn[k], H5T_NATIVE_DOUBLE, rv[k]);
    return s;
}

static cgdml_status write_checkpoint(hid_t file, const void *ctx)
{
    const save_job *job = ctx;
    hid_t g = H5Gcreate2(file, GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return cgdml_error_set(CGDML_ERR_IO, "cannot create group '%s'", GROUP);
    header h = job->h;
    hsize_t dims = job->n;
    cgdml_status s = transfer_header(g, &h, 1);
    if (!s)
        s = cgdml_h5_write_array(g, "x", H5T_NATIVE_DOUBLE, 1, &dims, job->st->x);
    if (!s)
        s = cgdml_h5_write_array(g, "r", H5T_NATIVE_DOUBLE, 1, &dims, job->st->r);
    if (!s)
        s = cgdml_h5_write_array(g, "p", H5T_NATIVE_DOUBLE, 1, &dims, job->st->p);
    H5Gclose(g);
    return s;
}

cgdml_status cg_checkpoint_save(const char *path, const cg_identity *id, const cg_state *st,
                                size_t n)
{
    save_job job = {.h = make_header(id, st), .st = st, .n = n};
    return cgdml_h5_save(path, "CG checkpoint", write_checkpoint, &job);
}

/* ---- reading ---------------------------------------------------------------------- */

static cgdml_status differs(const char *what, double there, double here)
{
    return cgdml_error_set(CGDML_ERR_INVALID,
                           "the checkpoint belongs to another solve: %s %.17g there, %.17g here",
                           what, there, here);
}

/* The first field (iteration, rz and r_norm aside) in which the checkpoint is not
 * this solve's; a block size or landmark count of 0 wanted (automatic) accepts any. */
static cgdml_status compare(header *there, header *here)
{
    const char *cn[N_COUNTS], *rn[N_REALS];
    unsigned long long *a[N_COUNTS], *b[N_COUNTS];
    double *x[N_REALS], *y[N_REALS];
    fields(there, cn, a, rn, x);
    fields(here, cn, b, rn, y);
    if (there->preconditioner != here->preconditioner)
        return differs("preconditioner", there->preconditioner, here->preconditioner);
    if (there->layout != here->layout)
        return differs("block layout", there->layout, here->layout);
    for (size_t k = 1; k < N_COUNTS; k++) {
        if ((!strcmp(cn[k], "block_frames") || !strcmp(cn[k], "landmarks")) && *b[k] == 0)
            continue;
        if (*a[k] != *b[k])
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "the checkpoint belongs to another solve: %s %llu there, %llu "
                                   "here%s",
                                   cn[k], *a[k], *b[k],
                                   !strcmp(cn[k], "system_hash") ? " (other frames, labels or data)"
                                                                 : "");
    }
    for (size_t k = 0; k < 2; k++) /* sigma, lambda */
        if (memcmp(x[k], y[k], sizeof(double)) != 0)
            return differs(rn[k], *x[k], *y[k]);
    return CGDML_OK;
}

static cgdml_status read_state(hid_t g, const header *h, cg_state *st, size_t n)
{
    hsize_t dims = n;
    if (h->iteration == 0 || !(h->rz > 0) || !(h->r_norm >= 0))
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "iteration %llu, rz %g, r_norm %g: not the state of an iteration",
                               h->iteration, h->rz, h->r_norm);
    cgdml_status s = cgdml_h5_read_array(g, "x", H5T_NATIVE_DOUBLE, 1, &dims, st->x);
    if (!s)
        s = cgdml_h5_read_array(g, "r", H5T_NATIVE_DOUBLE, 1, &dims, st->r);
    if (!s)
        s = cgdml_h5_read_array(g, "p", H5T_NATIVE_DOUBLE, 1, &dims, st->p);
    if (!s) {
        st->iteration = (size_t)h->iteration;
        st->rz = h->rz;
        st->r_norm = h->r_norm;
    }
    return s;
}

static cgdml_status load_group(hid_t file, const cg_identity *want, cg_identity *found,
                               cg_state *st, size_t n)
{
    if (H5Lexists(file, GROUP, H5P_DEFAULT) <= 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "no group '%s': not a CG checkpoint", GROUP);
    hid_t g = H5Gopen2(file, GROUP, H5P_DEFAULT);
    if (g < 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "cannot open group '%s'", GROUP);
    header there, here = make_header(want, NULL);
    cgdml_status s = transfer_header(g, &there, 0);
    if (!s)
        s = compare(&there, &here);
    if (!s) {
        *found = *want;
        found->set.block_frames = (size_t)there.block_frames;
        found->set.landmarks = (size_t)there.landmarks;
    }
    if (!s && st)
        s = read_state(g, &there, st, n);
    H5Gclose(g);
    return s;
}

cgdml_status cg_checkpoint_load(const char *path, const cg_identity *want, cg_identity *found,
                                cg_state *st, size_t n)
{
    hid_t file;
    cgdml_status s = cgdml_h5_open_checkpoint(path, "CG checkpoint", &file);
    if (s)
        return s;
    s = load_group(file, want, found, st, n);
    H5Fclose(file);
    return s ? cgdml_error_wrap(s, "CG checkpoint %s", path) : CGDML_OK;
}
