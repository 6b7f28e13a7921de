/* read_libsvm.c — LIBSVM / SVMlight files (DUET_DATA_SPARSE): "label idx:val idx:val ...",
 * 1-based strictly increasing indices, '#' comments, qid: ignored. Read whole from memory, or
 * streamed from disk (dt_read_libsvm_stream): the file in blocks, its values written as they
 * are parsed to three unlinked files in $TMPDIR (/var/tmp by default) that are then mapped
 * read-only, so the values live in the page cache, which the kernel fills from disk and
 * evicts as it needs, rather than in the process's memory.
 * Not here: choosing the format (data.c), scaling (pipe.c).
 */
#include <errno.h>
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "data.h"

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* The reader's state: d's arrays hold the rows parsed since the last spill (all of them when
 * reading from memory); d->rowptr holds nrp offsets, counted from the file's first value. */
typedef struct lsvm {
    duet_ctx *ctx;
    const char *name;
    const duet_load_opts *o;
    duet_data *d;
    size_t lab_cap, row_cap, nz_cap;
    size_t nnz, nrp;     /* values and offsets in d's arrays */
    int64_t base;        /* values spilled before them */
    int64_t N, line, maxcol;
    FILE *spill[3];      /* streaming: offsets, columns, values; NULL when reading from memory */
} lsvm;

/* One line [s, e) into the arrays. */
static int parse_line(lsvm *st, const char *s, const char *e, duet_err *err) {
    duet_ctx *ctx = st->ctx;
    const char *name = st->name;
    duet_data *d = st->d;
    long long line = (long long)st->line;
    int rc = DUET_OK;
    void *a;
    const char *hash = memchr(s, '#', (size_t)(e - s));
    if (hash) e = hash;
    const char *p = s;
    while (p < e && is_ws(*p)) p++;
    if (p == e) return DUET_OK;

    /* label: the first token, unless unlabelled data starts with idx:val */
    const char *t = p;
    while (p < e && !is_ws(*p)) p++;
    int has_label = !memchr(t, ':', (size_t)(p - t));
    if (!has_label && !st->o->unlabelled)
        return dt_err(err, DUET_EFORMAT, "%s:%lld: expected a label before '%.*s'", name, line,
                      (int)(p - t > 20 ? 20 : p - t), t);
    if (!has_label) p = t;
    if (!st->o->unlabelled) {
        a = d->labels;
        DT_TRY(dt_grow(ctx, &a, &st->lab_cap, (size_t)st->N + 1, sizeof(char *), err));
        d->labels = a;
        d->labels[st->N] = dt_pool_strndup(&d->pool, t, (size_t)(p - t));
        if (!d->labels[st->N]) return dt_err(err, DUET_ENOMEM, "%s:%lld: out of memory", name, line);
    }

    int64_t prev = 0;
    for (;;) {
        while (p < e && is_ws(*p)) p++;
        if (p >= e) break;
        t = p;
        while (p < e && !is_ws(*p)) p++;
        size_t tl = (size_t)(p - t);
        const char *colon = memchr(t, ':', tl);
        if (!colon)
            return dt_err(err, DUET_EFORMAT, "%s:%lld: expected idx:value, got '%.*s'", name, line, (int)(tl > 20 ? 20 : tl), t);
        if (colon - t == 3 && !memcmp(t, "qid", 3)) continue;
        int64_t idx = 0;
        const char *q = t;
        for (; q < colon; q++) {
            if (*q < '0' || *q > '9' || idx > INT32_MAX) break;
            idx = idx * 10 + (*q - '0');
        }
        if (q != colon || q == t)
            return dt_err(err, DUET_EFORMAT, "%s:%lld: bad feature index '%.*s'", name, line,
                          (int)(colon - t > 20 ? 20 : colon - t), t);
        if (idx < 1 || idx > INT32_MAX)
            return dt_err(err, DUET_EFORMAT, "%s:%lld: feature index %lld out of range (1..%d)", name, line, (long long)idx,
                          INT32_MAX);
        if (idx <= prev)
            return dt_err(err, DUET_EFORMAT, "%s:%lld: feature index %lld not increasing (prev %lld)", name, line,
                          (long long)idx, (long long)prev);
        prev = idx;
        size_t vl = (size_t)(p - colon - 1);
        double v = 0;
        if (vl == 0 || !dt_parse_double(colon + 1, vl, &v) || !isfinite(v) || fabs(v) > 3.4e38)
            return dt_err(err, DUET_EFORMAT, "%s:%lld: bad value '%.*s' for feature %lld", name, line, (int)(vl > 40 ? 40 : vl),
                          colon + 1, (long long)idx);
        if (st->nnz == st->nz_cap) {
            size_t cap = st->nz_cap;
            a = d->col;
            DT_TRY(dt_grow(ctx, &a, &cap, st->nnz + 1, sizeof(int32_t), err));
            d->col = a;
            cap = st->nz_cap;
            a = d->val;
            DT_TRY(dt_grow(ctx, &a, &cap, st->nnz + 1, sizeof(float), err));
            d->val = a;
            st->nz_cap = cap;
        }
        d->col[st->nnz] = (int32_t)(idx - 1);
        d->val[st->nnz] = (float)v;
        st->nnz++;
        if (idx - 1 > st->maxcol) st->maxcol = idx - 1;
    }
    a = d->rowptr;
    DT_TRY(dt_grow(ctx, &a, &st->row_cap, st->nrp + 1, sizeof(int64_t), err));
    d->rowptr = a;
    d->rowptr[st->nrp++] = st->base + (int64_t)st->nnz;
    st->N++;
fail:
    return rc;
}

/* Every complete line of buf[0, len) (and the last one too when final); *used: bytes taken. */
static int parse_block(lsvm *st, const char *buf, size_t len, int final, size_t *used, duet_err *err) {
    size_t pos = 0;
    while (pos < len && !(st->o->limit > 0 && st->N >= st->o->limit)) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        if (!nl && !final) break;
        const char *e = nl ? nl : buf + len;
        st->line++;
        int rc = parse_line(st, s, e, err);
        if (rc) return rc;
        pos = (size_t)(e - buf) + 1;
    }
    *used = pos < len ? pos : len;
    return DUET_OK;
}

static int start(duet_ctx *ctx, const char *name, const duet_load_opts *o, lsvm *st, duet_err *err) {
    memset(st, 0, sizeof *st);
    st->ctx = ctx, st->name = name, st->o = o, st->maxcol = -1;
    int rc = dt_data_new(ctx, DUET_DATA_SPARSE, name, &st->d, err);
    if (rc) return rc;
    void *a = NULL;
    if ((rc = dt_grow(ctx, &a, &st->row_cap, 1, sizeof(int64_t), err))) return rc;
    st->d->rowptr = a;
    st->d->rowptr[st->nrp++] = 0;
    return DUET_OK;
}

/* The examples read: keeps col/val non-NULL even with no stored values. */
static int finish(lsvm *st, duet_data **out, duet_err *err) {
    duet_data *d = st->d;
    if (st->N == 0) return dt_err(err, DUET_EFORMAT, "%s: no examples", st->name);
    if (!d->col) {
        d->col = dt_alloc_e(st->ctx, 1, sizeof(int32_t), st->name, err);
        d->val = dt_alloc_e(st->ctx, 1, sizeof(float), st->name, err);
        if (!d->col || !d->val) return DUET_ENOMEM;
    }
    d->N = st->N;
    d->D = st->maxcol + 1;
    *out = d;
    st->d = NULL;
    return DUET_OK;
}

int dt_read_libsvm(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                   const duet_load_opts *o, duet_data **out, duet_err *err) {
    *out = NULL;
    lsvm st;
    size_t used;
    int rc = start(ctx, name, o, &st, err);
    if (!rc && len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) buf += 3, len -= 3;
    if (!rc) rc = parse_block(&st, buf, len, 1, &used, err);
    if (!rc) rc = finish(&st, out, err);
    dt_data_free(st.d);
    return rc;
}

// --- streaming from disk ---------------------------------------------------------------------

/* The rows parsed since the last spill appended to the spill files; the arrays start over. */
static int spill(lsvm *st, duet_err *err) {
    duet_data *d = st->d;
    if ((st->nrp && fwrite(d->rowptr, sizeof(int64_t), st->nrp, st->spill[0]) != st->nrp) ||
        (st->nnz && (fwrite(d->col, sizeof(int32_t), st->nnz, st->spill[1]) != st->nnz ||
                     fwrite(d->val, sizeof(float), st->nnz, st->spill[2]) != st->nnz)))
        return dt_err(err, DUET_EIO, "%s: writing the values to a temporary file failed: %s (is $TMPDIR full?)", st->name,
                      strerror(errno));
    st->base += (int64_t)st->nnz;
    st->nnz = st->nrp = 0;
    return DUET_OK;
}

/* An unlinked temporary file in $TMPDIR (else /var/tmp, which is on disk where /tmp may be
 * memory). */
static FILE *spill_file(void) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/var/tmp";
    char path[4096];
    if (snprintf(path, sizeof path, "%s/duet-stream-XXXXXX", dir) >= (int)sizeof path) return NULL;
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (!f) close(fd);
    return f;
}

/* The spill file i mapped read-only into *p (NULL and DUET_OK when it is empty). */
static int map_spill(lsvm *st, int i, void **p, duet_err *err) {
    *p = NULL;
    if (fflush(st->spill[i]) != 0) return dt_err(err, DUET_EIO, "%s: writing a temporary file: %s", st->name, strerror(errno));
    off_t n = ftello(st->spill[i]);
    if (n <= 0) return DUET_OK;
    void *m = mmap(NULL, (size_t)n, PROT_READ, MAP_SHARED, fileno(st->spill[i]), 0);
    if (m == MAP_FAILED) return dt_err(err, DUET_EIO, "%s: mapping %lld bytes of a temporary file: %s", st->name, (long long)n, strerror(errno));
    st->d->map[i] = m;
    st->d->map_len[i] = (size_t)n;
    *p = m;
    return DUET_OK;
}

int dt_read_libsvm_stream(duet_ctx *ctx, const char *path, const duet_load_opts *o, duet_data **out, duet_err *err) {
    *out = NULL;
    lsvm st;
    char *buf = NULL;
    size_t cap = 0, have = 0;
    int rc = start(ctx, path, o, &st, err);
    FILE *in = rc ? NULL : fopen(path, "rb");
    if (!rc && !in) rc = dt_err(err, DUET_EIO, "%s: cannot open: %s", path, strerror(errno));
    for (int i = 0; i < 3 && !rc; i++)
        if (!(st.spill[i] = spill_file()))
            rc = dt_err(err, DUET_EIO, "%s: cannot make a temporary file in %s: %s", path,
                        getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp", strerror(errno));
    /* blocks of 4 MiB (or a sixteenth of the memory limit), grown only for a longer line */
    size_t block = ctx->mem_limit && ctx->mem_limit / 16 < ((size_t)4 << 20) ? ctx->mem_limit / 16 : (size_t)4 << 20;
    if (block < 4096) block = 4096;
    int first = 1, eof = 0;
    while (!rc && !eof && !(o->limit > 0 && st.N >= o->limit)) {
        if (cap - have < block / 2 || !buf) {
            void *a = buf;
            if ((rc = dt_grow(ctx, &a, &cap, have + block, 1, err))) break;
            buf = a;
        }
        size_t got = fread(buf + have, 1, cap - have, in);
        if (got == 0 && ferror(in)) {
            rc = dt_err(err, DUET_EIO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        eof = got == 0 || feof(in);
        have += got;
        size_t skip = 0, used = 0;
        if (first && have >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) skip = 3;
        first = 0;
        if ((rc = parse_block(&st, buf + skip, have - skip, eof, &used, err))) break;
        used += skip;
        memmove(buf, buf + used, have - used);
        have -= used;
        if ((rc = spill(&st, err))) break;
        DT_TRY(dt_check_abort(ctx, path, err));
    }
    if (!rc) {
        void *m[3];
        for (int i = 0; i < 3 && !rc; i++) rc = map_spill(&st, i, &m[i], err);
        if (!rc) {
            dt_free(ctx, st.d->rowptr);
            dt_free(ctx, st.d->col);
            dt_free(ctx, st.d->val);
            st.d->rowptr = m[0], st.d->col = m[1], st.d->val = m[2];
            rc = finish(&st, out, err);
        }
    }
fail:
    if (in) fclose(in);
    for (int i = 0; i < 3; i++)
        if (st.spill[i]) fclose(st.spill[i]); /* the mappings stay */
    dt_free(ctx, buf);
    dt_data_free(st.d);
    return rc;
}
