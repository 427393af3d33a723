/* npy.c - NumPy import: .npy arrays and sGDML .npz datasets (see cgdml/npy.h).
 *
 * The entry point for data prepared in Python.  The file is layered, bottom up:
 *   streams  a region of a file read as stored bytes or through raw inflate,
 *            counting the bytes left and the CRC-32 (a plain .npy file is a
 *            stored region spanning the whole file);
 *   zip      the .npz central directory (zip64 aware): finds a member and opens
 *            a stream on it;
 *   headers  the .npy magic, version and Python-literal dict;
 *   arrays   a stream with its parsed header: dtype, shape and size checks (all
 *            before any large allocation), then the data read and widened in
 *            place to double or size_t;
 *   public   the readers, the sGDML dataset and the writer.
 */
#include "cgdml/npy.h"
#include "cgdml/npz.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "cgdml/atomic.h"
#include "cgdml/memory.h"

/* Items are widened in place into 8-byte doubles and size_t values. */
_Static_assert(sizeof(double) == 8 && sizeof(size_t) == 8, "cgdml needs a 64-bit platform");

typedef unsigned long long ull; /* for printing uint64_t with %llu */

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- streams ------------------------------------------------------------ */

enum {
    STREAM_CHUNK = 1 << 16,           /* compressed bytes read from the file at a time */
    LABEL_MAX = CGDML_PATH_MAX + 64,  /* "path" or "path[member]" */
    DEFLATE_RAW_WINDOW_BITS = -15,    /* zip members are raw deflate, no zlib header */
};

typedef struct {
    FILE *file;
    char label[LABEL_MAX]; /* starts every message: "coords.npy", "data.npz[R.npy]" */
    const char *region;    /* "file" or "zip member", for messages */
    uint64_t in_left;      /* bytes of the region not yet read from the file */
    uint64_t out_left;     /* bytes the stream will still deliver */
    int deflated;
    int check_crc;
    uint32_t crc, crc_expected;
    z_stream z;
    int z_ready;
    unsigned char *in_buf; /* STREAM_CHUNK bytes; deflated streams only */
} npy_stream;

static cgdml_status stream_open(npy_stream *s, const char *path, uint64_t offset)
{
    s->file = fopen(path, "rb");
    if (!s->file)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot open: %s", s->label, strerror(errno));
    if (fseeko(s->file, (off_t)offset, SEEK_SET) != 0)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot seek to byte %llu: %s", s->label,
                               (ull)offset, strerror(errno));
    return CGDML_OK;
}

static cgdml_status stream_start_inflate(npy_stream *s)
{
    s->in_buf = malloc(STREAM_CHUNK);
    if (!s->in_buf || inflateInit2(&s->z, DEFLATE_RAW_WINDOW_BITS) != Z_OK)
        return cgdml_error_set(CGDML_ERR_NOMEM, "%s: cannot set up decompression", s->label);
    s->z_ready = 1;
    return CGDML_OK;
}

static void stream_close(npy_stream *s)
{
    if (s->file)
        fclose(s->file);
    if (s->z_ready)
        inflateEnd(&s->z);
    free(s->in_buf);
    s->file = NULL;
    s->z_ready = 0;
    s->in_buf = NULL;
}

static cgdml_status read_failed(const npy_stream *s, FILE *f)
{
    if (ferror(f))
        return cgdml_error_set(CGDML_ERR_IO, "%s: read error: %s", s->label, strerror(errno));
    return cgdml_error_set(CGDML_ERR_FORMAT, "%s: the file ended early (did it change while "
                           "being read?)", s->label);
}

static cgdml_status read_stored(npy_stream *s, unsigned char *buf, size_t n)
{
    if (fread(buf, 1, n, s->file) != n)
        return read_failed(s, s->file);
    s->in_left -= n;
    return CGDML_OK;
}

static cgdml_status refill_input(npy_stream *s)
{
    size_t want = s->in_left < STREAM_CHUNK ? (size_t)s->in_left : STREAM_CHUNK;
    if (fread(s->in_buf, 1, want, s->file) != want)
        return read_failed(s, s->file);
    s->in_left -= want;
    s->z.next_in = s->in_buf;
    s->z.avail_in = (uInt)want;
    return CGDML_OK;
}

static cgdml_status inflate_into(npy_stream *s, unsigned char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        if (s->z.avail_in == 0 && s->in_left > 0) {
            cgdml_status st = refill_input(s);
            if (st)
                return st;
        }
        uInt room = n - done < UINT_MAX ? (uInt)(n - done) : UINT_MAX;
        s->z.next_out = buf + done;
        s->z.avail_out = room;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        done += room - s->z.avail_out;
        int stuck = room == s->z.avail_out && s->z.avail_in == 0 && s->in_left == 0;
        if ((rc == Z_STREAM_END && done < n) || stuck)
            return cgdml_error_set(CGDML_ERR_FORMAT, "%s: compressed data ends %zu bytes early: "
                                   "the member is truncated or corrupt", s->label, n - done);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return cgdml_error_set(CGDML_ERR_FORMAT, "%s: corrupt compressed data (%s)", s->label,
                                   s->z.msg ? s->z.msg : zError(rc));
    }
    return CGDML_OK;
}

/* Deliver the next n bytes of the region; `what` ("header", "data") names the
 * part being read when the region is too short. */
static cgdml_status stream_read(npy_stream *s, void *buf, size_t n, const char *what)
{
    if (n > s->out_left)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: the %s ends inside the %s (%zu bytes "
                               "needed, %llu left): truncated", s->label, s->region, what, n,
                               (ull)s->out_left);
    cgdml_status st = s->deflated ? inflate_into(s, buf, n) : read_stored(s, buf, n);
    if (st)
        return st;
    s->out_left -= n;
    if (s->check_crc)
        s->crc = (uint32_t)crc32_z(s->crc, buf, n);
    return CGDML_OK;
}

/* After the last byte: a zip member's CRC-32 must match its directory entry. */
static cgdml_status stream_finish(const npy_stream *s)
{
    if (s->check_crc && s->crc != s->crc_expected)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: CRC-32 of the data is %08x but the zip "
                               "directory records %08x: the member is corrupt", s->label,
                               (unsigned)s->crc, (unsigned)s->crc_expected);
    return CGDML_OK;
}

/* ---- zip ------------------------------------------------------------------ */

/* Record layouts from PKWARE's APPNOTE.TXT (sections 4.3.7 to 4.3.16). */
enum {
    ZIP_LOCAL_SIG = 0x04034b50,
    ZIP_CENTRAL_SIG = 0x02014b50,
    ZIP_END_SIG = 0x06054b50,
    ZIP64_END_SIG = 0x06064b50,
    ZIP64_LOCATOR_SIG = 0x07064b50,
    ZIP_LOCAL_SIZE = 30,
    ZIP_CENTRAL_SIZE = 46,
    ZIP_END_SIZE = 22,
    ZIP64_END_SIZE = 56,
    ZIP64_LOCATOR_SIZE = 20,
    ZIP_COMMENT_MAX = 65535,
    ZIP64_EXTRA_ID = 0x0001,
    ZIP_FLAG_ENCRYPTED = 0x0001,
    ZIP_METHOD_STORED = 0,
    ZIP_METHOD_DEFLATED = 8,
};
#define ZIP64_MARK 0xffffffffu /* a 32-bit field whose value is in the zip64 extra */

typedef struct {
    const char *path;
    FILE *file;
    uint64_t file_size;
    unsigned char *dir; /* the central directory, dir_size bytes */
    uint64_t dir_size;
    uint64_t n_entries;
} zip_archive;

typedef struct {
    uint64_t data_offset; /* where the member's (compressed) bytes start */
    uint64_t csize, usize;
    uint32_t crc;
    unsigned method;
} zip_member;

static unsigned le16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

static uint32_t le32(const unsigned char *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }

static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static cgdml_status file_size(FILE *f, const char *label, uint64_t *size)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot stat: %s", label, strerror(errno));
    *size = (uint64_t)st.st_size;
    return CGDML_OK;
}

static cgdml_status read_at(FILE *f, const char *label, uint64_t offset, void *buf, size_t n)
{
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0 || fread(buf, 1, n, f) != n)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot read %zu bytes at byte %llu", label, n,
                               (ull)offset);
    return CGDML_OK;
}

static cgdml_status zip_damaged(const zip_archive *z, const char *what)
{
    return cgdml_error_set(CGDML_ERR_FORMAT, "%s: damaged zip archive: %s", z->path, what);
}

/* Offset of the last end record in buf whose comment fits, or SIZE_MAX. */
static size_t find_end_record(const unsigned char *buf, size_t len)
{
    for (size_t i = len >= ZIP_END_SIZE ? len - ZIP_END_SIZE + 1 : 0; i-- > 0;)
        if (le32(buf + i) == ZIP_END_SIG && i + ZIP_END_SIZE + le16(buf + i + 20) <= len)
            return i;
    return SIZE_MAX;
}

/* Find the end-of-central-directory record, searching back over a comment. */
static cgdml_status zip_find_end(zip_archive *z, unsigned char rec[ZIP_END_SIZE],
                                 uint64_t *end_pos)
{
    size_t tail = z->file_size < ZIP_END_SIZE + ZIP_COMMENT_MAX ? (size_t)z->file_size
                                                                 : ZIP_END_SIZE + ZIP_COMMENT_MAX;
    unsigned char *buf = malloc(tail ? tail : 1);
    if (!buf)
        return cgdml_error_set(CGDML_ERR_NOMEM, "%s: cannot allocate %zu bytes", z->path, tail);
    cgdml_status st = read_at(z->file, z->path, z->file_size - tail, buf, tail);
    size_t i = st ? 0 : find_end_record(buf, tail);
    if (!st && i == SIZE_MAX)
        st = cgdml_error_set(CGDML_ERR_FORMAT, "%s: not a zip archive, or a truncated one (no "
                             "end-of-central-directory record); expected an .npz file written "
                             "by np.savez", z->path);
    if (!st) {
        memcpy(rec, buf + i, ZIP_END_SIZE);
        *end_pos = z->file_size - tail + i;
    }
    free(buf);
    return st;
}

/* If a zip64 locator precedes the end record, take the directory's size, offset
 * and entry count from the zip64 end record (Python writes one whenever any of
 * them passes its zip64 threshold, even when the 32-bit fields still fit). */
static cgdml_status zip_read_zip64_end(zip_archive *z, uint64_t end_pos, uint64_t *dir_offset)
{
    unsigned char loc[ZIP64_LOCATOR_SIZE], rec[ZIP64_END_SIZE];
    if (end_pos < ZIP64_LOCATOR_SIZE)
        return CGDML_OK;
    cgdml_status st = read_at(z->file, z->path, end_pos - ZIP64_LOCATOR_SIZE, loc, sizeof loc);
    if (st || le32(loc) != ZIP64_LOCATOR_SIG)
        return st;
    uint64_t rec_pos = le64(loc + 8);
    if (rec_pos > end_pos - ZIP64_LOCATOR_SIZE - ZIP64_END_SIZE)
        return zip_damaged(z, "zip64 end record lies outside the file");
    st = read_at(z->file, z->path, rec_pos, rec, sizeof rec);
    if (st)
        return st;
    if (le32(rec) != ZIP64_END_SIG)
        return zip_damaged(z, "zip64 locator does not point to a zip64 end record");
    z->n_entries = le64(rec + 32);
    z->dir_size = le64(rec + 40);
    *dir_offset = le64(rec + 48);
    return CGDML_OK;
}

static cgdml_status zip_load_directory(zip_archive *z)
{
    unsigned char rec[ZIP_END_SIZE] = {0};
    uint64_t end_pos = 0, dir_offset;
    cgdml_status st = zip_find_end(z, rec, &end_pos);
    if (st)
        return st;
    z->n_entries = le16(rec + 10);
    z->dir_size = le32(rec + 12);
    dir_offset = le32(rec + 16);
    st = zip_read_zip64_end(z, end_pos, &dir_offset);
    if (st)
        return st;
    if (dir_offset > end_pos || z->dir_size > end_pos - dir_offset)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: the zip directory claims %llu bytes at byte "
                               "%llu but the file has only %llu before its end record: truncated",
                               z->path, (ull)z->dir_size, (ull)dir_offset, (ull)end_pos);
    /* No budget check: the directory is bounded by the file and tiny in an .npz. */
    z->dir = malloc(z->dir_size ? z->dir_size : 1);
    if (!z->dir)
        return cgdml_error_set(CGDML_ERR_NOMEM, "%s: cannot allocate the zip directory", z->path);
    return read_at(z->file, z->path, dir_offset, z->dir, z->dir_size);
}

static void zip_close(zip_archive *z)
{
    if (z->file)
        fclose(z->file);
    free(z->dir);
    z->file = NULL;
    z->dir = NULL;
}

static cgdml_status zip_open(zip_archive *z, const char *path)
{
    z->path = path;
    z->file = fopen(path, "rb");
    if (!z->file)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cgdml_status st = file_size(z->file, path, &z->file_size);
    return st ? st : zip_load_directory(z);
}

/* Replace the 32-bit fields marked ZIP64_MARK by their values in the zip64 extra
 * field, which lists them in this order (APPNOTE 4.5.3). */
static cgdml_status zip_apply_zip64(const zip_archive *z, const unsigned char *extra, size_t len,
                                    uint64_t *fields[3])
{
    while (len >= 4) {
        size_t id = le16(extra), size = le16(extra + 2);
        if (size > len - 4)
            break;
        if (id == ZIP64_EXTRA_ID) {
            size_t at = 4;
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != ZIP64_MARK)
                    continue;
                if (at + 8 > 4 + size)
                    return zip_damaged(z, "zip64 extra field is too short");
                *fields[k] = le64(extra + at);
                at += 8;
            }
            return CGDML_OK;
        }
        extra += 4 + size;
        len -= 4 + size;
    }
    for (int k = 0; k < 3; k++)
        if (*fields[k] == ZIP64_MARK)
            return zip_damaged(z, "a size or offset is marked zip64 but has no zip64 field");
    return CGDML_OK;
}

/* The member's data offset, found past its local header. */
static cgdml_status zip_locate_data(const zip_archive *z, uint64_t header_offset, zip_member *m)
{
    unsigned char h[ZIP_LOCAL_SIZE];
    if (z->file_size < ZIP_LOCAL_SIZE || header_offset > z->file_size - ZIP_LOCAL_SIZE)
        return zip_damaged(z, "a local header lies outside the file");
    cgdml_status st = read_at(z->file, z->path, header_offset, h, sizeof h);
    if (st)
        return st;
    if (le32(h) != ZIP_LOCAL_SIG)
        return zip_damaged(z, "a directory entry does not point to a local header");
    m->data_offset = header_offset + ZIP_LOCAL_SIZE + le16(h + 26) + le16(h + 28);
    if (m->data_offset > z->file_size || m->csize > z->file_size - m->data_offset)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: a member claims %llu bytes at byte %llu but "
                               "the file holds only %llu bytes: truncated", z->path,
                               (ull)m->csize, (ull)m->data_offset, (ull)z->file_size);
    return CGDML_OK;
}

/* Decode the central directory entry at p (already bounds-checked). */
static cgdml_status zip_parse_entry(const zip_archive *z, const unsigned char *p,
                                    const char *name, zip_member *m)
{
    unsigned flags = le16(p + 8);
    m->method = le16(p + 10);
    m->crc = le32(p + 16);
    m->csize = le32(p + 20);
    m->usize = le32(p + 24);
    uint64_t header_offset = le32(p + 42);
    uint64_t *fields[3] = {&m->usize, &m->csize, &header_offset};
    cgdml_status st = zip_apply_zip64(z, p + ZIP_CENTRAL_SIZE + le16(p + 28), le16(p + 30), fields);
    if (st)
        return st;
    if (flags & ZIP_FLAG_ENCRYPTED)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s[%s]: the member is encrypted; expected a "
                               "plain np.savez archive", z->path, name);
    if (m->method != ZIP_METHOD_STORED && m->method != ZIP_METHOD_DEFLATED)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s[%s]: compression method %u is not "
                               "supported; expected 0 (stored, np.savez) or 8 (deflate, "
                               "np.savez_compressed)", z->path, name, m->method);
    if (m->method == ZIP_METHOD_STORED && m->csize != m->usize)
        return zip_damaged(z, "a stored member has different packed and unpacked sizes");
    return zip_locate_data(z, header_offset, m);
}

/* Look `name` up in the directory; *found = 0 (and CGDML_OK) if it is absent. */
static cgdml_status zip_find(const zip_archive *z, const char *name, zip_member *m, int *found)
{
    const unsigned char *p = z->dir, *end = z->dir + z->dir_size;
    size_t name_len = strlen(name);
    *found = 0;
    for (uint64_t i = 0; i < z->n_entries; i++) {
        if (end - p < ZIP_CENTRAL_SIZE || le32(p) != ZIP_CENTRAL_SIG)
            return zip_damaged(z, "the central directory has fewer entries than it claims");
        size_t nl = le16(p + 28), rest = nl + le16(p + 30) + le16(p + 32);
        if ((size_t)(end - p - ZIP_CENTRAL_SIZE) < rest)
            return zip_damaged(z, "a central directory entry runs past its end");
        if (nl == name_len && memcmp(p + ZIP_CENTRAL_SIZE, name, nl) == 0) {
            *found = 1;
            return zip_parse_entry(z, p, name, m);
        }
        p += ZIP_CENTRAL_SIZE + rest;
    }
    return CGDML_OK;
}

/* ---- headers ---------------------------------------------------------------- */

typedef struct {
    char descr[32];   /* as written, e.g. "<f8" */
    char order;       /* '<', '>', '|' or '=' */
    char kind;        /* 'f', 'i', 'u', 'c', 'O', 'U', ... */
    size_t itemsize;  /* bytes per item (0 when the descr gives none, as for objects) */
    int fortran_order;
    size_t ndim;
    size_t shape[CGDML_NPY_MAX_DIMS];
    size_t count;      /* items: the product of shape, at most SIZE_MAX / 8 */
    size_t data_bytes; /* count * itemsize */
} npy_header;

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4, KEYS_ALL = 7 };

typedef struct {
    const char *text, *p, *end;
    const char *label;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static cgdml_status malformed(cursor *c, const char *expected)
{
    int shown = (int)(c->end - c->text);
    while (shown > 0 && (c->text[shown - 1] == ' ' || c->text[shown - 1] == '\n'))
        shown--;
    return cgdml_error_set(CGDML_ERR_FORMAT, "%s: malformed .npy header: expected %s at "
                           "character %td of \"%.*s\"", c->label, expected, c->p - c->text,
                           shown < 200 ? shown : 200, c->text);
}

static cgdml_status parse_string(cursor *c, char *out, size_t cap)
{
    skip_space(c);
    char quote = c->p < c->end ? *c->p : 0;
    if (quote != '\'' && quote != '"')
        return malformed(c, "a quoted string");
    const char *start = ++c->p;
    while (c->p < c->end && *c->p != quote && *c->p != '\\')
        c->p++;
    if (c->p == c->end || *c->p != quote)
        return malformed(c, "the end of the string");
    size_t n = (size_t)(c->p - start);
    if (n >= cap)
        return malformed(c, "a shorter string");
    memcpy(out, start, n);
    out[n] = '\0';
    c->p++;
    return CGDML_OK;
}

static cgdml_status parse_bool(cursor *c, int *value)
{
    skip_space(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        *value = 1;
        c->p += 4;
    } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        *value = 0;
        c->p += 5;
    } else
        return malformed(c, "True or False");
    return CGDML_OK;
}

static cgdml_status parse_size(cursor *c, size_t *value)
{
    skip_space(c);
    if (c->p == c->end || *c->p < '0' || *c->p > '9')
        return malformed(c, "a dimension");
    size_t v = 0;
    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) {
        size_t d = (size_t)(*c->p - '0');
        if (v > (SIZE_MAX - d) / 10)
            return malformed(c, "a dimension that fits in 64 bits");
        v = v * 10 + d;
    }
    if (c->p < c->end && *c->p == 'L') /* Python 2 long integers */
        c->p++;
    *value = v;
    return CGDML_OK;
}

static cgdml_status parse_shape(cursor *c, npy_header *h)
{
    if (!accept(c, '('))
        return malformed(c, "a shape tuple");
    h->ndim = 0;
    while (!accept(c, ')')) {
        if (h->ndim == CGDML_NPY_MAX_DIMS)
            return malformed(c, "at most " STR(CGDML_NPY_MAX_DIMS) " dimensions");
        cgdml_status st = parse_size(c, &h->shape[h->ndim++]);
        if (st)
            return st;
        if (!accept(c, ',')) {
            if (!accept(c, ')'))
                return malformed(c, "',' or ')'");
            break;
        }
    }
    return CGDML_OK;
}

/* Split a descr such as "<f8" into byte order, kind and item size in bytes. */
static cgdml_status parse_descr(cursor *c, npy_header *h)
{
    skip_space(c);
    if (c->p < c->end && *c->p == '[')
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: structured dtype (a list of fields) is "
                               "not supported; expected a plain numeric array", c->label);
    cgdml_status st = parse_string(c, h->descr, sizeof h->descr);
    if (st)
        return st;
    const char *d = h->descr;
    h->order = '|';
    if (*d && strchr("<>|=", *d))
        h->order = *d++;
    h->kind = *d ? *d++ : '?';
    h->itemsize = 0;
    for (; *d >= '0' && *d <= '9' && h->itemsize < 1000000; d++)
        h->itemsize = h->itemsize * 10 + (size_t)(*d - '0');
    if (h->kind == 'U') /* unicode strings count UCS-4 characters */
        h->itemsize *= 4;
    return CGDML_OK;
}

static cgdml_status parse_entry(cursor *c, npy_header *h, unsigned *seen)
{
    char key[32];
    cgdml_status st = parse_string(c, key, sizeof key);
    if (st)
        return st;
    if (!accept(c, ':'))
        return malformed(c, "':'");
    unsigned bit = strcmp(key, "descr") == 0           ? KEY_DESCR
                   : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
                   : strcmp(key, "shape") == 0         ? KEY_SHAPE
                                                       : 0;
    if (!bit || (*seen & bit))
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: .npy header has %s key '%s'; expected "
                               "'descr', 'fortran_order' and 'shape' once each", c->label,
                               bit ? "a repeated" : "an unknown", key);
    *seen |= bit;
    return bit == KEY_DESCR     ? parse_descr(c, h)
           : bit == KEY_FORTRAN ? parse_bool(c, &h->fortran_order)
                                : parse_shape(c, h);
}

/* The product of the shape and the data size, refusing counts that cannot be
 * held in memory as 8-byte items. */
static cgdml_status header_sizes(const char *label, npy_header *h)
{
    size_t count = 1;
    for (size_t k = 0; k < h->ndim; k++) {
        if (h->shape[k] != 0 && count > SIZE_MAX / 8 / h->shape[k])
            return cgdml_error_set(CGDML_ERR_FORMAT, "%s: the shape in the .npy header has more "
                                   "items than fit in memory", label);
        count *= h->shape[k];
    }
    h->count = count;
    if (h->itemsize != 0 && count > SIZE_MAX / h->itemsize)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: the .npy header describes more data than "
                               "fits in memory", label);
    h->data_bytes = count * h->itemsize;
    return CGDML_OK;
}

/* Parse the header dict, e.g. "{'descr': '<f8', 'fortran_order': False,
 * 'shape': (4, 5, 3), }", as np.save writes it. */
static cgdml_status parse_header_dict(const char *text, size_t len, const char *label,
                                      npy_header *h)
{
    cursor c = {text, text, text + len, label};
    unsigned seen = 0;
    if (!accept(&c, '{'))
        return malformed(&c, "'{'");
    while (!accept(&c, '}')) {
        cgdml_status st = parse_entry(&c, h, &seen);
        if (st)
            return st;
        if (!accept(&c, ',')) {
            if (!accept(&c, '}'))
                return malformed(&c, "',' or '}'");
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end)
        return malformed(&c, "the end of the header after '}'");
    if (seen != KEYS_ALL)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: .npy header lacks '%s'; expected 'descr', "
                               "'fortran_order' and 'shape'", label,
                               !(seen & KEY_DESCR) ? "descr"
                               : !(seen & KEY_FORTRAN) ? "fortran_order" : "shape");
    return header_sizes(label, h);
}

static const unsigned char NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Read the magic, the version, the header length and the header dict. */
static cgdml_status read_header(npy_stream *s, npy_header *h)
{
    unsigned char pre[8], len[4];
    size_t have = s->out_left < sizeof pre ? (size_t)s->out_left : sizeof pre;
    cgdml_status st = stream_read(s, pre, have, "magic");
    if (st)
        return st;
    if (have < sizeof pre || memcmp(pre, NPY_MAGIC, sizeof NPY_MAGIC) != 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: not a .npy file (it does not start with "
                               "the NumPy magic \\x93NUMPY)", s->label);
    size_t len_bytes = pre[6] == 1 ? 2 : pre[6] == 2 || pre[6] == 3 ? 4 : 0;
    if (len_bytes == 0 || pre[7] != 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: .npy format version %u.%u is not "
                               "supported; expected 1.0, 2.0 or 3.0", s->label, pre[6], pre[7]);
    st = stream_read(s, len, len_bytes, "header");
    if (st)
        return st;
    size_t header_len = len_bytes == 2 ? le16(len) : le32(len);
    if (header_len > CGDML_NPY_HEADER_MAX)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: .npy header of %zu bytes is longer than "
                               "the %d-byte limit", s->label, header_len, CGDML_NPY_HEADER_MAX);
    char text[CGDML_NPY_HEADER_MAX];
    st = stream_read(s, text, header_len, "header");
    return st ? st : parse_header_dict(text, header_len, s->label, h);
}

/* ---- arrays ------------------------------------------------------------------ */

typedef struct {
    npy_stream s;
    npy_header h; /* parsed; the stream is positioned at the data */
} npy_array;

/* Allowed item sizes as a bit set: bit n means n bytes. */
enum { SIZES_FLOAT = 1 << 4 | 1 << 8, SIZES_INT = 1 << 1 | 1 << 2 | 1 << 4 | 1 << 8 };

static cgdml_status array_open_file(npy_array *a, const char *path)
{
    snprintf(a->s.label, sizeof a->s.label, "%s", path);
    a->s.region = "file";
    cgdml_status st = stream_open(&a->s, path, 0);
    if (!st)
        st = file_size(a->s.file, path, &a->s.out_left);
    a->s.in_left = a->s.out_left;
    return st ? st : read_header(&a->s, &a->h);
}

/* Open member `name` of the archive; *found = 0 (and CGDML_OK) if it is absent. */
static cgdml_status array_open_member(npy_array *a, const zip_archive *z, const char *name,
                                      int *found)
{
    zip_member m;
    snprintf(a->s.label, sizeof a->s.label, "%.*s[%s]", CGDML_PATH_MAX, z->path, name);
    a->s.region = "zip member";
    cgdml_status st = zip_find(z, name, &m, found);
    if (st || !*found)
        return st;
    st = stream_open(&a->s, z->path, m.data_offset);
    if (!st && m.method == ZIP_METHOD_DEFLATED)
        st = stream_start_inflate(&a->s);
    a->s.deflated = m.method == ZIP_METHOD_DEFLATED;
    a->s.in_left = m.csize;
    a->s.out_left = m.usize;
    a->s.check_crc = 1;
    a->s.crc_expected = m.crc;
    return st ? st : read_header(&a->s, &a->h);
}

static void array_close(npy_array *a) { stream_close(&a->s); }

static const char *kind_name(char kind)
{
    switch (kind) {
    case 'f': return "floating point";
    case 'i': return "signed integer";
    case 'u': return "unsigned integer";
    case 'b': return "boolean";
    case 'c': return "complex";
    case 'O': return "Python objects";
    case 'U': return "unicode string";
    case 'S': case 'a': return "byte string";
    case 'M': case 'm': return "date/time";
    default: return "unsupported kind";
    }
}

static void format_shape(const npy_header *h, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (size_t k = 0; k < h->ndim && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%zu", k ? ", " : "", h->shape[k]);
    if (n < cap)
        snprintf(buf + n, cap - n, "%s)", h->ndim == 1 ? "," : "");
}

/* Refuse anything but little-endian items of one of `kinds` with a size in
 * `sizes`; `expected` spells the accepted dtypes for the message. */
static cgdml_status expect_dtype(const npy_array *a, const char *kinds, unsigned sizes,
                                 const char *expected)
{
    const npy_header *h = &a->h;
    int little = h->order == '<' || (h->order == '|' && h->itemsize == 1);
    int size_ok = h->itemsize <= 8 && (sizes >> h->itemsize & 1);
    int plain = strlen(h->descr) == 3; /* no suffix such as a datetime unit */
    if (little && size_ok && plain && h->kind && strchr(kinds, h->kind))
        return CGDML_OK;
    if (h->order == '>' && h->itemsize > 1)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: dtype '%s' (big-endian) is not "
                               "supported; expected %s", a->s.label, h->descr, expected);
    return cgdml_error_set(CGDML_ERR_FORMAT, "%s: dtype '%s' (%s) is not supported; expected %s",
                           a->s.label, h->descr, kind_name(h->kind), expected);
}

/* The data must fill the rest of the file or member exactly. */
static cgdml_status expect_data_size(const npy_array *a)
{
    if (a->h.data_bytes == a->s.out_left)
        return CGDML_OK;
    char shape[256];
    format_shape(&a->h, shape, sizeof shape);
    return cgdml_error_set(CGDML_ERR_FORMAT, "%s: the header describes %zu bytes of data (shape "
                           "%s, dtype '%s') but the %s holds %llu bytes after the header%s",
                           a->s.label, a->h.data_bytes, shape, a->h.descr, a->s.region,
                           (ull)a->s.out_left,
                           a->h.data_bytes > a->s.out_left ? ": truncated" : "");
}

static cgdml_status expect_frames(const npy_array *a)
{
    const npy_header *h = &a->h;
    char shape[256];
    format_shape(h, shape, sizeof shape);
    cgdml_status st = expect_dtype(a, "f", SIZES_FLOAT, "'<f4' or '<f8'");
    if (st)
        return st;
    if (h->fortran_order)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: array is in Fortran order (fortran_order: "
                               "True); expected C order (save np.ascontiguousarray(x))",
                               a->s.label);
    if (h->ndim != 3 || h->shape[2] != 3)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: array has shape %s; expected (frames, "
                               "beads, 3)", a->s.label, shape);
    if (h->shape[0] == 0 || h->shape[1] == 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: array has shape %s, no %s; expected at "
                               "least one frame and one bead", a->s.label, shape,
                               h->shape[0] == 0 ? "frames" : "beads");
    return expect_data_size(a);
}

/* A non-empty 1-D integer array (Fortran order means nothing in 1-D). */
static cgdml_status expect_integers(const npy_array *a)
{
    char shape[256];
    format_shape(&a->h, shape, sizeof shape);
    cgdml_status st = expect_dtype(a, "iu", SIZES_INT,
                                   "an integer dtype ('<i4', '<i8', '<u4' or '<u8')");
    if (st)
        return st;
    if (a->h.ndim != 1 || a->h.count == 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: array has shape %s; expected a non-empty "
                               "1-D array", a->s.label, shape);
    return expect_data_size(a);
}

/* Allocate 8 bytes per item, after checking the memory budget. */
static cgdml_status array_alloc(const npy_array *a, void **buf)
{
    char what[LABEL_MAX + 16];
    snprintf(what, sizeof what, "reading %s", a->s.label);
    size_t bytes = a->h.count * 8;
    cgdml_status st = cgdml_memory_check(bytes, what);
    if (st)
        return st;
    *buf = malloc(bytes ? bytes : 1);
    if (!*buf)
        return cgdml_error_set(CGDML_ERR_NOMEM, "%s: cannot allocate %zu bytes", a->s.label, bytes);
    return CGDML_OK;
}

/* Read the data into the last count * itemsize bytes of dst (which holds
 * count * 8), where array_read() widens it front to back: item i is
 * written to bytes [8i, 8i+8), which never reach item i+1 or later. */
static cgdml_status array_read_raw(npy_array *a, void *dst, const unsigned char **raw)
{
    unsigned char *at = (unsigned char *)dst + a->h.count * (8 - a->h.itemsize);
    cgdml_status st = stream_read(&a->s, at, a->h.data_bytes, "data");
    *raw = at;
    return st ? st : stream_finish(&a->s);
}

static uint64_t load_le(const unsigned char *p, size_t size)
{
    uint64_t v = 0;
    for (size_t i = size; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* Converts one little-endian item (its `size` bytes as bits) into the 8 bytes at
 * out; returns 0, or -1 if the value is refused. */
typedef int (*item_widener)(uint64_t bits, size_t size, int is_signed, unsigned char *out);

static int widen_float(uint64_t bits, size_t size, int is_signed, unsigned char *out)
{
    double v;
    if (size == 4) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        v = f;
    } else
        memcpy(&v, &bits, sizeof v);
    memcpy(out, &v, sizeof v);
    return 0;
}

static int64_t as_signed(uint64_t bits, size_t size)
{
    if (size < 8 && (bits >> (8 * size - 1) & 1))
        bits |= UINT64_MAX << (8 * size);
    int64_t v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Integers become size_t; negative ones are refused. */
static int widen_size(uint64_t bits, size_t size, int is_signed, unsigned char *out)
{
    if (is_signed && as_signed(bits, size) < 0)
        return -1;
    size_t v = bits;
    memcpy(out, &v, sizeof v);
    return 0;
}

/* Read the data into dst (8 bytes per item) and widen it in place. */
static cgdml_status array_read(npy_array *a, void *dst, item_widener widen)
{
    const unsigned char *raw;
    size_t size = a->h.itemsize;
    cgdml_status st = array_read_raw(a, dst, &raw);
    for (size_t i = 0; !st && i < a->h.count; i++) {
        uint64_t bits = load_le(raw + i * size, size);
        if (widen(bits, size, a->h.kind == 'i', (unsigned char *)dst + 8 * i) != 0)
            return cgdml_error_set(CGDML_ERR_FORMAT, "%s: entry %zu is %lld; expected "
                                   "non-negative integers", a->s.label, i,
                                   (long long)as_signed(bits, size));
    }
    return st;
}

/* ---- public: readers ----------------------------------------------------- */

typedef cgdml_status (*array_check)(const npy_array *a);

/* Open, check, allocate and read a whole .npy file; *h receives its header. */
static cgdml_status load_file(const char *path, array_check check, item_widener widen,
                              void **out, npy_header *h)
{
    npy_array a = {0};
    void *buf = NULL;
    *out = NULL;
    cgdml_status st = array_open_file(&a, path);
    if (!st)
        st = check(&a);
    if (!st)
        st = array_alloc(&a, &buf);
    if (!st)
        st = array_read(&a, buf, widen);
    array_close(&a);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *h = a.h;
    return CGDML_OK;
}

cgdml_status cgdml_npy_read_frames(const char *path, double **out, size_t *n_frames,
                                   size_t *n_beads)
{
    npy_header h;
    void *buf;
    cgdml_status st = load_file(path, expect_frames, widen_float, &buf, &h);
    *out = buf;
    if (!st) {
        *n_frames = h.shape[0];
        *n_beads = h.shape[1];
    }
    return st;
}

cgdml_status cgdml_npy_read_indices(const char *path, size_t **out, size_t *n)
{
    npy_header h;
    void *buf;
    cgdml_status st = load_file(path, expect_integers, widen_size, &buf, &h);
    *out = buf;
    if (!st)
        *n = h.count;
    return st;
}

/* Coordinates and forces, both checked by expect_frames, into a new dataset. */
static cgdml_status load_pair(npy_array *r, npy_array *f, cgdml_dataset **out)
{
    char rs[256], fs[256], what[LABEL_MAX + 32];
    format_shape(&r->h, rs, sizeof rs);
    format_shape(&f->h, fs, sizeof fs);
    if (r->h.shape[0] != f->h.shape[0] || r->h.shape[1] != f->h.shape[1])
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s has shape %s but %s has shape %s; expected "
                               "coordinates and forces of the same shape", r->s.label, rs,
                               f->s.label, fs);
    size_t n_frames = r->h.shape[0], n_beads = r->h.shape[1];
    snprintf(what, sizeof what, "the dataset from %s", r->s.label);
    cgdml_status st = cgdml_memory_check(cgdml_dataset_bytes(n_frames, n_beads), what);
    if (!st)
        st = cgdml_dataset_alloc(n_frames, n_beads, out);
    if (!st)
        st = array_read(r, (*out)->coords, widen_float);
    if (!st)
        st = array_read(f, (*out)->forces, widen_float);
    if (st) {
        cgdml_dataset_free(*out);
        *out = NULL;
    }
    return st;
}

cgdml_status cgdml_npy_import(const char *coords_path, const char *forces_path,
                              cgdml_dataset **out)
{
    npy_array r = {0}, f = {0};
    *out = NULL;
    cgdml_status st = array_open_file(&r, coords_path);
    if (!st)
        st = expect_frames(&r);
    if (!st)
        st = array_open_file(&f, forces_path);
    if (!st)
        st = expect_frames(&f);
    if (!st)
        st = load_pair(&r, &f, out);
    array_close(&r);
    array_close(&f);
    return st;
}

/* ---- public: sGDML datasets ---------------------------------------------- */

/* Element symbols by atomic number (IUPAC), for naming beads from sGDML's z. */
static const char *const ELEMENTS[] = {
    "",   "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
    "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
    "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
    "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
    "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
    "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
    "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
};
enum { N_ELEMENTS = sizeof ELEMENTS / sizeof ELEMENTS[0] };

/* sGDML's unit members are single strings: '<U3' for 'Ang'. */
enum { UNIT_MAX_BYTES = 256 };

static cgdml_status open_member(npy_array *a, const zip_archive *z, const char *name)
{
    int found;
    cgdml_status st = array_open_member(a, z, name, &found);
    if (!st && !found)
        st = cgdml_error_set(CGDML_ERR_FORMAT, "%s has no member '%s'; expected an sGDML "
                             "dataset with R, F and z", z->path, name);
    return st;
}

/* R and F checked as frames, z as one integer per bead. */
static cgdml_status sgdml_open_members(const zip_archive *z, npy_array m[3])
{
    cgdml_status st = open_member(&m[0], z, "R.npy");
    if (!st)
        st = expect_frames(&m[0]);
    if (!st)
        st = open_member(&m[1], z, "F.npy");
    if (!st)
        st = expect_frames(&m[1]);
    if (!st)
        st = open_member(&m[2], z, "z.npy");
    if (!st)
        st = expect_integers(&m[2]);
    if (!st && m[2].h.count != m[0].h.shape[1])
        st = cgdml_error_set(CGDML_ERR_FORMAT, "%s holds %zu atomic numbers but %s has %zu "
                             "beads; expected one per bead", m[2].s.label, m[2].h.count,
                             m[0].s.label, m[0].h.shape[1]);
    return st;
}

/* Read a single-string member (unicode or bytes) as ASCII into text. */
static cgdml_status read_unit_text(npy_array *a, char *text, size_t cap)
{
    unsigned char raw[UNIT_MAX_BYTES];
    int ucs4 = a->h.kind == 'U';
    if ((a->h.kind != 'U' && a->h.kind != 'S') || a->h.count != 1 ||
        a->h.itemsize > sizeof raw)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: dtype '%s' with %zu items; expected one "
                               "string", a->s.label, a->h.descr, a->h.count);
    cgdml_status st = expect_data_size(a);
    if (!st)
        st = stream_read(&a->s, raw, a->h.data_bytes, "data");
    if (!st)
        st = stream_finish(&a->s);
    size_t n = 0;
    for (size_t i = 0; !st && i < a->h.itemsize && n + 1 < cap; i += ucs4 ? 4 : 1) {
        uint64_t ch = load_le(raw + i, ucs4 ? 4 : 1);
        if (ch == 0)
            break;
        text[n++] = ch < 128 ? (char)ch : '?';
    }
    text[n] = '\0';
    return st;
}

/* If the optional unit member `name` is present it must read `expected`. */
static cgdml_status sgdml_check_unit(const zip_archive *z, const char *name, const char *expected)
{
    npy_array a = {0};
    char text[UNIT_MAX_BYTES];
    int found;
    cgdml_status st = array_open_member(&a, z, name, &found);
    if (!st && found)
        st = read_unit_text(&a, text, sizeof text);
    if (!st && found && strcmp(text, expected) != 0)
        st = cgdml_error_set(CGDML_ERR_FORMAT, "%s is '%s'; expected '%s' (cgdml works in Å "
                             "and kcal/mol: convert the dataset first)", a.s.label, text,
                             expected);
    array_close(&a);
    return st;
}

/* Name each bead by its element symbol, or "Z<n>" without one. */
static cgdml_status sgdml_name_beads(npy_array *za, cgdml_dataset *d)
{
    void *buf = NULL;
    cgdml_status st = array_alloc(za, &buf);
    if (!st)
        st = array_read(za, buf, widen_size);
    for (size_t b = 0; !st && b < d->n_beads; b++) {
        size_t zn = ((const size_t *)buf)[b];
        if (zn > 0 && zn < N_ELEMENTS)
            snprintf(d->bead_names[b], CGDML_NAME_MAX, "%s", ELEMENTS[zn]);
        else
            snprintf(d->bead_names[b], CGDML_NAME_MAX, "Z%zu", zn);
    }
    free(buf);
    return st;
}

cgdml_status cgdml_npz_read_sgdml(const char *path, cgdml_dataset **out)
{
    zip_archive z = {0};
    npy_array m[3]; /* R, F, z */
    memset(m, 0, sizeof m);
    *out = NULL;
    cgdml_status st = zip_open(&z, path);
    if (!st)
        st = sgdml_open_members(&z, m);
    if (!st)
        st = sgdml_check_unit(&z, "r_unit.npy", "Ang");
    if (!st)
        st = sgdml_check_unit(&z, "e_unit.npy", "kcal/mol");
    if (!st)
        st = load_pair(&m[0], &m[1], out);
    if (!st)
        st = sgdml_name_beads(&m[2], *out);
    if (st) {
        cgdml_dataset_free(*out);
        *out = NULL;
    }
    for (int k = 0; k < 3; k++)
        array_close(&m[k]);
    zip_close(&z);
    return st;
}

/* ---- public: writer ---------------------------------------------------------- */

enum {
    NPY_ALIGN = 64,              /* numpy.lib.format.ARRAY_ALIGN */
    NPY_GROWTH_AXIS_DIGITS = 21, /* numpy.lib.format.GROWTH_AXIS_MAX_DIGITS */
    NPY_WRITE_HEADER_MAX = 2048, /* room for CGDML_NPY_MAX_DIMS 20-digit dimensions */
    WRITE_CHUNK = 4096,          /* doubles encoded per fwrite */
};

/* The header np.save (NumPy 1.24) writes for a '<f8' C-order array: the dict, room
 * for the first axis to grow to 21 digits, then spaces and '\n' up to a multiple of
 * 64 bytes.  Returns its length. */
static size_t npy_format_header(const npy_header *h, unsigned char *out)
{
    char shape[NPY_WRITE_HEADER_MAX / 2], *dict = (char *)out + 10;
    format_shape(h, shape, sizeof shape);
    int n = snprintf(dict, NPY_WRITE_HEADER_MAX - 10,
                     "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", shape);
    size_t len = (size_t)n;
    if (h->ndim > 0) {
        int digits = snprintf(NULL, 0, "%zu", h->shape[0]);
        for (int k = digits; k < NPY_GROWTH_AXIS_DIGITS; k++)
            dict[len++] = ' ';
    }
    size_t pad = NPY_ALIGN - (10 + len + 1) % NPY_ALIGN;
    memset(dict + len, ' ', pad);
    len += pad;
    dict[len++] = '\n';
    memcpy(out, NPY_MAGIC, sizeof NPY_MAGIC);
    out[6] = 1;
    out[7] = 0;
    out[8] = (unsigned char)(len & 0xff);
    out[9] = (unsigned char)(len >> 8);
    return 10 + len;
}

static cgdml_status write_doubles(FILE *f, const double *data, size_t count)
{
    unsigned char buf[WRITE_CHUNK * 8];
    for (size_t done = 0; done < count;) {
        size_t n = count - done < WRITE_CHUNK ? count - done : WRITE_CHUNK;
        for (size_t i = 0; i < n; i++) {
            uint64_t bits;
            memcpy(&bits, &data[done + i], sizeof bits);
            for (int b = 0; b < 8; b++)
                buf[8 * i + (size_t)b] = (unsigned char)(bits >> (8 * b));
        }
        if (fwrite(buf, 8, n, f) != n)
            return CGDML_ERR_IO;
        done += n;
    }
    return CGDML_OK;
}

cgdml_status cgdml_npy_write(const char *path, const double *data, size_t ndim,
                             const size_t *shape)
{
    npy_header h = {.ndim = ndim, .itemsize = 8};
    if (ndim > CGDML_NPY_MAX_DIMS)
        return cgdml_error_set(CGDML_ERR_INVALID, "%s: %zu dimensions; .npy arrays have at most "
                               "%d", path, ndim, CGDML_NPY_MAX_DIMS);
    memcpy(h.shape, shape, ndim * sizeof *shape);
    if (header_sizes(path, &h))
        return CGDML_ERR_INVALID;
    unsigned char header[NPY_WRITE_HEADER_MAX];
    size_t header_len = npy_format_header(&h, header);
    cgdml_atomic a;
    FILE *f;
    cgdml_status st = cgdml_atomic_fopen(&a, path, &f);
    if (st)
        return st;
    int failed = fwrite(header, 1, header_len, f) != header_len ||
                 write_doubles(f, data, h.count) != CGDML_OK;
    return cgdml_atomic_fclose(&a, f, failed);
}
