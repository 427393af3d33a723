/* ensemble.c - layer 1 (K members, side by side or one at a time, checkpointed,
 * optionally one shard of them per process with a manifest guarding the shared
 * folder, docs/cluster.md), the averaged model, and layer 2 (the distilled model) of the two-layer ensemble
 * (see cgdml/ensemble.h and docs/method.md §4).  Cross-validation is in crossval.c.
 */
#include "cgdml/ensemble.h"

#include <errno.h>
#include <inttypes.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgdml/atomic.h"
#include "cgdml/memory.h"

/* A partition draw needs K M distinct frames of the pool. */
static cgdml_status check_partition(const cgdml_strata *strata, const cgdml_layer1_options *opt)
{
    if (opt->draw != CGDML_DRAW_PARTITION || !strata || opt->n_train == 0 ||
        opt->n_members <= strata->n_pool / opt->n_train)
        return CGDML_OK;
    return cgdml_error_set(CGDML_ERR_INVALID,
                           "a partition of the pool into %zu members of %zu frames needs %zu "
                           "frames; the pool has %zu (%zu frames, %zu excluded): use fewer "
                           "members or frames per member",
                           opt->n_members, opt->n_train, opt->n_members * opt->n_train,
                           strata->n_pool, strata->n_frames, strata->n_frames - strata->n_pool);
}

cgdml_status cgdml_ensemble_member_frames(const cgdml_strata *strata,
                                          const cgdml_layer1_options *opt, size_t k,
                                          size_t **idx)
{
    *idx = NULL;
    if (opt->draw != CGDML_DRAW_PARTITION)
        return cgdml_strata_draw(strata, opt->draw, opt->n_train, opt->seed + k + 1, idx);
    cgdml_status s = check_partition(strata, opt);
    return s ? s : cgdml_strata_partition_block(strata, opt->n_train, k, opt->seed, idx);
}

static int choose_side_by_side(const cgdml_layer1_options *opt, size_t n_beads)
{
    if (opt->solver == CGDML_SOLVER_CG) /* its products are threaded; one member at a time */
        return 0;
    if (opt->side_by_side >= 0)
        return opt->side_by_side;
    return 3 * n_beads * opt->n_train <= CGDML_ENSEMBLE_SIDE_BY_SIDE_MAX_ORDER &&
           omp_get_max_threads() > 1;
}

size_t cgdml_ensemble_layer1_bytes(const cgdml_layer1_options *opt, size_t n_beads,
                                   int side_by_side)
{
    size_t at_once = side_by_side ? (size_t)omp_get_max_threads() : 1;
    size_t d = n_beads * (n_beads - 1) / 2;
    size_t one = opt->solver == CGDML_SOLVER_CG
                     ? cgdml_model_train_cg_bytes(opt->n_train, n_beads, &opt->cg)
                     : cgdml_model_train_peak_bytes(opt->n_train, n_beads, opt->sigma1,
                                                    opt->lambda, opt->precision);
    return at_once * one +
           opt->n_members * opt->n_train * d * 2 * sizeof(double); /* finished members */
}

/* Checkpoint file of member k: the name carries the hyperparameters, so members
 * of other grid points or draws never mix. */
static void checkpoint_path(const cgdml_layer1_options *opt, size_t k, char *path, size_t size)
{
    snprintf(path, size, "%s/member-s%.6g-l%.6g-m%zu-d%d-seed%lu-%05zu.h5", opt->checkpoint,
             opt->sigma1, opt->lambda, opt->n_train, (int)opt->draw, opt->seed, k);
}

/* A member saved earlier with exactly these frames, or NULL. */
static cgdml_model *load_checkpoint(const cgdml_layer1_options *opt, size_t k,
                                    const cgdml_dataset *data, const size_t *idx)
{
    char path[CGDML_PATH_MAX];
    checkpoint_path(opt, k, path, sizeof path);
    cgdml_model *m = NULL;
    if (access(path, F_OK) != 0 || cgdml_model_load(path, &m) != CGDML_OK)
        return NULL;
    int same = m->n_train == opt->n_train && m->sigma == opt->sigma1 &&
               m->lambda == opt->lambda && m->dataset_hash == cgdml_dataset_hash(data);
    for (size_t t = 0; same && t < m->n_train; t++)
        same = m->train_indices[t] == idx[t];
    if (!same) {
        cgdml_model_free(m);
        return NULL;
    }
    return m;
}

/* A member solved by CG: its frames' strata are the preconditioner's keys, and with
 * a checkpoint folder its iterations are kept beside the member's file (path, "":
 * none) and continued by a resumed run (a folder is emptied unless resuming, so a
 * CG checkpoint found there belongs to this member's interrupted solve). */
static cgdml_status train_member_cg(const cgdml_dataset *data, const cgdml_strata *strata,
                                    const cgdml_layer1_options *opt, const size_t *idx,
                                    const double *labels, const char *path, cgdml_model **out)
{
    cgdml_cg_options cg = opt->cg;
    char cg_path[CGDML_PATH_MAX + 8];
    snprintf(cg_path, sizeof cg_path, "%s.cg.h5", path);
    cg.checkpoint = path[0] ? cg_path : NULL;
    cg.resume = 1;
    size_t *keys = malloc(opt->n_train * sizeof *keys);
    if (!keys)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the member's strata");
    for (size_t t = 0; t < opt->n_train; t++)
        keys[t] = strata->stratum_of[idx[t]];
    cg.keys = keys;
    cgdml_status s = cgdml_model_train_cg(data, idx, opt->n_train, labels, opt->sigma1,
                                          opt->lambda, &cg, NULL, out);
    free(keys);
    if (!s && cg.checkpoint)
        unlink(cg_path);
    return s;
}

/* Train member k (or load it from the checkpoint folder). */
static cgdml_status train_member(const cgdml_dataset *data, const cgdml_strata *strata,
                                 const cgdml_prior *prior, const cgdml_layer1_options *opt,
                                 size_t k, cgdml_model **out, int *resumed)
{
    *resumed = 0;
    size_t *idx = NULL, n3 = 3 * data->n_beads;
    cgdml_status s = cgdml_ensemble_member_frames(strata, opt, k, &idx);
    if (s)
        return s;
    if (opt->checkpoint && (*out = load_checkpoint(opt, k, data, idx))) {
        *resumed = 1;
        free(idx);
        return CGDML_OK;
    }
    double *labels = malloc(opt->n_train * n3 * sizeof(double));
    if (!labels)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate member labels");
    if (!s && prior)
        s = cgdml_prior_subtract(prior, data, idx, opt->n_train, labels);
    char path[CGDML_PATH_MAX] = "";
    if (opt->checkpoint)
        checkpoint_path(opt, k, path, sizeof path);
    if (!s && opt->solver == CGDML_SOLVER_CG)
        s = train_member_cg(data, strata, opt, idx, prior ? labels : NULL, path, out);
    else if (!s)
        s = cgdml_model_train_precision(data, idx, opt->n_train, prior ? labels : NULL,
                                        opt->sigma1, opt->lambda, opt->precision, NULL, out);
    if (!s && opt->checkpoint)
        s = cgdml_model_save(*out, path);
    free(labels);
    free(idx);
    return s ? cgdml_error_wrap(s, "member %zu", k) : CGDML_OK;
}

/* ---- shards: the manifest of the shared members folder ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Identifies the prior the members' labels were taken relative to (0: none). */
static uint64_t prior_hash(const cgdml_prior *p)
{
    if (!p)
        return 0;
    uint64_t h = 14695981039346656037ull;
    h = fnv(h, &p->temperature, sizeof p->temperature);
    h = fnv(h, &p->n_bonds, sizeof p->n_bonds);
    h = fnv(h, p->bonds, 2 * p->n_bonds * sizeof *p->bonds);
    h = fnv(h, p->bond_r0, p->n_bonds * sizeof *p->bond_r0);
    h = fnv(h, p->bond_k, p->n_bonds * sizeof *p->bond_k);
    h = fnv(h, &p->n_angles, sizeof p->n_angles);
    h = fnv(h, p->angles, 3 * p->n_angles * sizeof *p->angles);
    h = fnv(h, p->angle_theta0, p->n_angles * sizeof *p->angle_theta0);
    h = fnv(h, p->angle_k, p->n_angles * sizeof *p->angle_k);
    return h;
}

/* Identifies the strata and their pool, which the draws come from. */
static uint64_t strata_hash(const cgdml_strata *st)
{
    uint64_t h = 14695981039346656037ull;
    h = fnv(h, &st->n_frames, sizeof st->n_frames);
    h = fnv(h, &st->n_strata, sizeof st->n_strata);
    h = fnv(h, st->offset, (st->n_strata + 1) * sizeof *st->offset);
    return fnv(h, st->frame, st->n_pool * sizeof *st->frame);
}

static const char *draw_name(cgdml_draw_kind draw)
{
    return draw == CGDML_DRAW_RANDOM      ? "random"
           : draw == CGDML_DRAW_PARTITION ? "partition"
                                          : "stratified";
}

/* Room for every key manifest_of writes (12 today) and a few more. */
enum { MANIFEST_KEYS = 16, MANIFEST_VALUE = 64 };
typedef struct {
    char key[MANIFEST_KEYS][24];
    char value[MANIFEST_KEYS][MANIFEST_VALUE];
    size_t n;
} manifest;

static void manifest_add(manifest *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void manifest_add(manifest *m, const char *key, const char *fmt, ...)
{
    if (m->n == MANIFEST_KEYS) /* a key added without room: the compare then fails loudly */
        return;
    va_list ap;
    va_start(ap, fmt);
    snprintf(m->key[m->n], sizeof m->key[m->n], "%s", key);
    vsnprintf(m->value[m->n], sizeof m->value[m->n], fmt, ap);
    va_end(ap);
    m->n++;
}

/* Everything a member depends on, and the number of shards (the last key). */
static void manifest_of(const cgdml_layer1_options *opt, const cgdml_dataset *data,
                        const cgdml_strata *strata, const cgdml_prior *prior, size_t n_shards,
                        manifest *m)
{
    m->n = 0;
    manifest_add(m, "members", "%zu", opt->n_members);
    manifest_add(m, "n-train", "%zu", opt->n_train);
    manifest_add(m, "sigma1", "%.17g", opt->sigma1);
    manifest_add(m, "lambda", "%.17g", opt->lambda);
    manifest_add(m, "draw", "%s", draw_name(opt->draw));
    manifest_add(m, "seed", "%lu", opt->seed);
    manifest_add(m, "precision", "%d", (int)opt->precision);
    manifest_add(m, "solver", "%s", opt->solver == CGDML_SOLVER_CG ? "cg" : "cholesky");
    manifest_add(m, "dataset", "%016" PRIx64, cgdml_dataset_hash(data));
    manifest_add(m, "prior", "%016" PRIx64, prior_hash(prior));
    manifest_add(m, "strata", "%016" PRIx64, strata_hash(strata));
    manifest_add(m, "shards", "%zu", n_shards);
}

/* Read a manifest; 0 when there is none (errno ENOENT), -1 on a bad file. */
static int manifest_read(const char *path, manifest *m)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    m->n = 0;
    char line[256];
    int ok = fgets(line, sizeof line, f) && !strncmp(line, "cgdml shard manifest 1", 22);
    while (ok && m->n < MANIFEST_KEYS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *space = strchr(line, ' ');
        if (!space) {
            ok = 0;
            break;
        }
        *space = '\0';
        snprintf(m->key[m->n], sizeof m->key[m->n], "%.23s", line);
        snprintf(m->value[m->n], sizeof m->value[m->n], "%s", space + 1);
        m->n++;
    }
    fclose(f);
    return ok && m->n > 0 ? 1 : -1;
}

static const char *manifest_get(const manifest *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key))
            return m->value[i];
    return NULL;
}

/* The first option (of the first `n` keys of `want`) that differs from the folder's. */
static cgdml_status manifest_compare(const char *dir, const manifest *have, const manifest *want,
                                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = manifest_get(have, want->key[i]);
        if (!v || strcmp(v, want->value[i]))
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "the members folder %s was started with %s %s (its %s); this "
                                   "run has %s %s: every shard and the collecting run need the "
                                   "same options (or use another -o)",
                                   dir, want->key[i], v ? v : "(none)", CGDML_SHARD_MANIFEST,
                                   want->key[i], want->value[i]);
    }
    return CGDML_OK;
}

/* A shard: write the folder's manifest if it has none (link(): of shards starting
 * together exactly one writes it), else check this run's options against it. */
static cgdml_status shard_manifest(const cgdml_layer1_options *opt, const cgdml_dataset *data,
                                   const cgdml_strata *strata, const cgdml_prior *prior)
{
    manifest want, have;
    manifest_of(opt, data, strata, prior, opt->n_shards, &want);
    char path[CGDML_PATH_MAX], tmp[CGDML_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", opt->checkpoint, CGDML_SHARD_MANIFEST);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cgdml_error_set(CGDML_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    int bad = fprintf(f, "cgdml shard manifest 1\n") < 0;
    for (size_t i = 0; i < want.n; i++)
        bad |= fprintf(f, "%s %s\n", want.key[i], want.value[i]) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    int linked = !bad && link(tmp, path) == 0;
    int link_errno = errno;
    unlink(tmp);
    if (bad)
        return cgdml_error_set(CGDML_ERR_IO, "cannot write %s", tmp);
    if (linked)
        return CGDML_OK;
    if (link_errno != EEXIST)
        return cgdml_error_set(CGDML_ERR_IO, "cannot create %s: %s", path, strerror(link_errno));
    if (manifest_read(path, &have) != 1)
        return cgdml_error_set(CGDML_ERR_IO, "%s is not a cgdml shard manifest", path);
    return manifest_compare(opt->checkpoint, &have, &want, want.n);
}

/* The number of shards of the folder's manifest (0: none), after checking that this
 * run's options are the shards'. */
static cgdml_status collect_manifest(const cgdml_layer1_options *opt, const cgdml_dataset *data,
                                     const cgdml_strata *strata, const cgdml_prior *prior,
                                     size_t *n_shards)
{
    *n_shards = 0;
    manifest want, have;
    char path[CGDML_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", opt->checkpoint, CGDML_SHARD_MANIFEST);
    int r = manifest_read(path, &have);
    if (r == 0)
        return CGDML_OK;
    const char *shards = r == 1 ? manifest_get(&have, "shards") : NULL;
    if (!shards || sscanf(shards, "%zu", n_shards) != 1 || *n_shards == 0)
        return cgdml_error_set(CGDML_ERR_IO, "%s is not a cgdml shard manifest", path);
    manifest_of(opt, data, strata, prior, 0, &want);
    return manifest_compare(opt->checkpoint, &have, &want, want.n - 1);
}

int cgdml_ensemble_checkpoint_has_shards(const char *dir)
{
    char path[CGDML_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, CGDML_SHARD_MANIFEST);
    return access(path, F_OK) == 0;
}

/* Append to buf the missing members of shard s as runs k, k+n, ..., e.g. "1-9 step 2". */
static void list_missing(char *buf, size_t size, const unsigned char *missing, size_t n_members,
                         size_t s, size_t n)
{
    size_t len = strlen(buf);
    int first = 1;
    for (size_t k = s; k < n_members && len + 40 < size; k += n) {
        if (!missing[k])
            continue;
        size_t end = k;
        while (end + n < n_members && missing[end + n])
            end += n;
        if (end == k)
            snprintf(buf + len, size - len, "%s%zu", first ? "" : ", ", k);
        else if (end == k + n)
            snprintf(buf + len, size - len, "%s%zu, %zu", first ? "" : ", ", k, end);
        else if (n == 1)
            snprintf(buf + len, size - len, "%s%zu-%zu", first ? "" : ", ", k, end);
        else
            snprintf(buf + len, size - len, "%s%zu-%zu step %zu", first ? "" : ", ", k, end, n);
        len = strlen(buf);
        first = 0;
        k = end;
    }
    if (len + 40 >= size)
        snprintf(buf + len, size - len, ", ...");
}

/* Collecting the shards' members: load all of them, or refuse listing the missing. */
static cgdml_status collect_members(const cgdml_dataset *data, const cgdml_strata *strata,
                                    const cgdml_layer1_options *opt, size_t n_shards,
                                    cgdml_model **members)
{
    size_t n_missing = 0;
    unsigned char *missing = calloc(opt->n_members, 1);
    if (!missing)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the members' list");
    cgdml_status s = CGDML_OK;
    for (size_t k = 0; !s && k < opt->n_members; k++) {
        size_t *idx = NULL;
        s = cgdml_ensemble_member_frames(strata, opt, k, &idx);
        if (!s && !(members[k] = load_checkpoint(opt, k, data, idx))) {
            missing[k] = 1;
            n_missing++;
        }
        free(idx);
    }
    if (!s && n_missing) {
        char list[1500] = "";
        for (size_t sh = 0; sh < n_shards; sh++) {
            int any = 0;
            for (size_t k = sh; k < opt->n_members && !any; k += n_shards)
                any = missing[k];
            if (!any)
                continue;
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%sshard %zu/%zu: members ", len ? "; " : "",
                     sh, n_shards);
            list_missing(list, sizeof list, missing, opt->n_members, sh, n_shards);
        }
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "cannot collect layer 1: %zu of %zu members are missing from %s (%s); "
                            "run those shards (--shard i/n) and collect again - the folder is "
                            "left as it is",
                            n_missing, opt->n_members, opt->checkpoint, list);
    }
    free(missing);
    if (s)
        for (size_t k = 0; k < opt->n_members; k++) {
            cgdml_model_free(members[k]);
            members[k] = NULL;
        }
    else if (opt->n_resumed)
        *opt->n_resumed = opt->n_members;
    return s;
}

static cgdml_status make_checkpoint_folder(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cgdml_error_set(CGDML_ERR_IO, "cannot create the checkpoint folder %s: %s", dir,
                               strerror(errno));
    return CGDML_OK;
}

cgdml_status cgdml_ensemble_train_members(const cgdml_dataset *data, const cgdml_strata *strata,
                                          const cgdml_prior *prior,
                                          const cgdml_layer1_options *opt,
                                          cgdml_model **members)
{
    if (opt->n_members == 0 || opt->n_train == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "an ensemble needs members (%zu) of frames (%zu)",
                               opt->n_members, opt->n_train);
    if (opt->n_shards && (opt->shard >= opt->n_shards || !opt->checkpoint))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "shard %zu of %zu: %s", opt->shard, opt->n_shards,
                               opt->checkpoint ? "the shard must be below the number of shards"
                                               : "shards need a checkpoint folder to share");
    int side = choose_side_by_side(opt, data->n_beads);
    cgdml_status s = check_partition(strata, opt);
    if (!s)
        s = cgdml_memory_check(cgdml_ensemble_layer1_bytes(opt, data->n_beads, side),
                               "layer 1 of the ensemble");
    if (!s && opt->checkpoint)
        s = make_checkpoint_folder(opt->checkpoint);
    for (size_t k = 0; k < opt->n_members; k++)
        members[k] = NULL;
    size_t n_shards = opt->n_shards ? opt->n_shards : 1, shard = opt->n_shards ? opt->shard : 0;
    if (!s && opt->checkpoint && opt->n_shards)
        s = shard_manifest(opt, data, strata, prior);
    else if (!s && opt->checkpoint) {
        size_t collect_shards = 0;
        s = collect_manifest(opt, data, strata, prior, &collect_shards);
        if (!s && collect_shards)
            return collect_members(data, strata, opt, collect_shards, members);
    }
    if (s)
        return s;
    size_t done = 0, resumed_total = 0;
    size_t total = opt->n_members > shard ? (opt->n_members - shard + n_shards - 1) / n_shards : 0;
    cgdml_status first_error = CGDML_OK;
    if (opt->progress)
        opt->progress(opt->progress_ctx, 0, total);
    char message[1024] = "";
    /* Side by side: one member per thread, and BLAS inside runs single-threaded
     * because the OpenMP build of OpenBLAS does so inside a parallel region. */
#pragma omp parallel for schedule(dynamic, 1) if (side)
    for (size_t k = 0; k < opt->n_members; k++) {
        int skip;
#pragma omp atomic read
        skip = first_error;
        if (skip || k % n_shards != shard)
            continue;
        int resumed;
        cgdml_status sk = train_member(data, strata, prior, opt, k, &members[k], &resumed);
#pragma omp critical(cgdml_layer1)
        {
            resumed_total += (size_t)resumed;
            if (sk && !first_error) {
                first_error = sk;
                snprintf(message, sizeof message, "%s", cgdml_error_message());
            }
            done++;
            if (opt->progress && !sk)
                opt->progress(opt->progress_ctx, done, total);
        }
    }
    if (opt->n_resumed)
        *opt->n_resumed = resumed_total;
    if (first_error) {
        for (size_t k = 0; k < opt->n_members; k++) {
            cgdml_model_free(members[k]);
            members[k] = NULL;
        }
        return cgdml_error_set(first_error, "%s", message);
    }
    return CGDML_OK;
}

cgdml_status cgdml_ensemble_average(cgdml_model *const *members, size_t k, cgdml_model **out)
{
    *out = NULL;
    size_t total = 0;
    for (size_t i = 0; i < k; i++) {
        if (members[i]->sigma != members[0]->sigma || members[i]->n_beads != members[0]->n_beads)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "member %zu has sigma %g and %zu beads; member 0 has %g and "
                                   "%zu: an average needs one sigma",
                                   i, members[i]->sigma, members[i]->n_beads, members[0]->sigma,
                                   members[0]->n_beads);
        total += members[i]->n_train;
    }
    cgdml_model *a;
    cgdml_status s = cgdml_model_alloc(total, members[0]->n_beads, &a);
    if (s)
        return s;
    size_t d = a->n_desc, at = 0;
    for (size_t i = 0; i < k; i++) {
        const cgdml_model *m = members[i];
        memcpy(a->train_desc + at * d, m->train_desc, m->n_train * d * sizeof(double));
        memcpy(a->train_indices + at, m->train_indices, m->n_train * sizeof(size_t));
        for (size_t e = 0; e < m->n_train * d; e++)
            a->gamma[at * d + e] = m->gamma[e] / (double)k;
        at += m->n_train;
    }
    a->kind = CGDML_MODEL_AVERAGE;
    a->sigma = members[0]->sigma;
    a->lambda = members[0]->lambda;
    a->dataset_hash = members[0]->dataset_hash;
    memcpy(a->bead_names, members[0]->bead_names, a->n_beads * sizeof *a->bead_names);
    s = cgdml_model_prepare(a);
    if (s) {
        cgdml_model_free(a);
        return s;
    }
    *out = a;
    return CGDML_OK;
}

cgdml_status cgdml_ensemble_label(const cgdml_model *average, const cgdml_dataset *data,
                                  const size_t *idx, size_t n, double *out)
{
    size_t n3 = 3 * data->n_beads;
    double *x = malloc(n * n3 * sizeof(double));
    if (!x)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu frames", n);
    for (size_t t = 0; t < n; t++)
        memcpy(x + t * n3, data->coords + idx[t] * n3, n3 * sizeof(double));
    cgdml_model kernel_part = *average;
    kernel_part.prior = NULL;
    cgdml_status s = cgdml_model_predict(&kernel_part, n, x, out, NULL);
    free(x);
    return s;
}

cgdml_status cgdml_ensemble_distill(const cgdml_model *average, const cgdml_dataset *data,
                                    const size_t *idx, size_t n, double sigma2, double lambda,
                                    cgdml_precision precision, cgdml_model **out)
{
    return cgdml_ensemble_distill_with(average, data, idx, n, sigma2, lambda, precision, NULL, NULL,
                                       out);
}

cgdml_status cgdml_ensemble_distill_with(const cgdml_model *average, const cgdml_dataset *data,
                                         const size_t *idx, size_t n, double sigma2, double lambda,
                                         cgdml_precision precision, cgdml_solve_fn solve, void *ctx,
                                         cgdml_model **out)
{
    *out = NULL;
    double *labels = malloc(n * 3 * data->n_beads * sizeof(double));
    if (!labels)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the mean-set labels");
    cgdml_status s = cgdml_ensemble_label(average, data, idx, n, labels);
    if (!s && solve)
        s = cgdml_model_train_with(data, idx, n, labels, sigma2, lambda, solve, ctx, NULL, out);
    else if (!s)
        s = cgdml_model_train_precision(data, idx, n, labels, sigma2, lambda, precision, NULL,
                                        out);
    if (!s)
        (*out)->kind = CGDML_MODEL_DISTILLED;
    if (!s && average->prior)
        s = cgdml_model_attach_prior(*out, average->prior);
    free(labels);
    if (s) {
        cgdml_model_free(*out);
        *out = NULL;
        return cgdml_error_wrap(s, "layer 2 (sigma2 = %g)", sigma2);
    }
    return CGDML_OK;
}

cgdml_status cgdml_model_attach_prior(cgdml_model *model, const cgdml_prior *prior)
{
    cgdml_prior *copy = NULL;
    cgdml_status s = cgdml_prior_copy(prior, &copy);
    if (s)
        return s;
    cgdml_prior_free(model->prior);
    model->prior = copy;
    return CGDML_OK;
}
