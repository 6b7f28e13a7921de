/* read_libsvm.c — LIBSVM / SVMlight files (DUET_DATA_SPARSE): "label idx:val idx:val ...",
 * 1-based strictly increasing indices, '#' comments, qid: ignored.
 * Not here: choosing the format (data.c), scaling (pipe.c).
 */
#include <math.h>

#include "data.h"

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

int dt_read_libsvm(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                   const duet_load_opts *o, duet_data **out, duet_err *err) {
    *out = NULL;
    int rc = DUET_OK;
    duet_data *d = NULL;
    size_t lab_cap = 0, row_cap = 0, nz_cap = 0, nnz = 0, N = 0;
    int64_t maxcol = -1;
    DT_TRY(dt_data_new(ctx, DUET_DATA_SPARSE, name, &d, err));
    void *a = d->rowptr;
    DT_TRY(dt_grow(ctx, &a, &row_cap, 1, sizeof(int64_t), err));
    d->rowptr = a;
    d->rowptr[0] = 0;

    size_t pos = 0;
    int64_t line = 0;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) pos = 3;
    while (pos < len && !(o->limit > 0 && (int64_t)N >= o->limit)) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        const char *e = nl ? nl : buf + len;
        pos = (size_t)(e - buf) + 1;
        line++;
        const char *hash = memchr(s, '#', (size_t)(e - s));
        if (hash) e = hash;
        const char *p = s;
        while (p < e && is_ws(*p)) p++;
        if (p == e) continue;

        /* label: the first token, unless unlabelled data starts with idx:val */
        const char *t = p;
        while (p < e && !is_ws(*p)) p++;
        int has_label = !memchr(t, ':', (size_t)(p - t));
        if (!has_label && !o->unlabelled)
            DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: expected a label before '%.*s'", name,
                          (long long)line, (int)(p - t > 20 ? 20 : p - t), t));
        if (!has_label) p = t;
        if (!o->unlabelled) {
            a = d->labels;
            DT_TRY(dt_grow(ctx, &a, &lab_cap, N + 1, sizeof(char *), err));
            d->labels = a;
            d->labels[N] = dt_pool_strndup(&d->pool, t, (size_t)(p - t));
            if (!d->labels[N]) DT_TRY(dt_err(err, DUET_ENOMEM, "%s:%lld: out of memory", name, (long long)line));
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
                DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: expected idx:value, got '%.*s'", name,
                              (long long)line, (int)(tl > 20 ? 20 : tl), t));
            if (colon - t == 3 && !memcmp(t, "qid", 3)) continue;
            int64_t idx = 0;
            const char *q = t;
            for (; q < colon; q++) {
                if (*q < '0' || *q > '9' || idx > INT32_MAX) break;
                idx = idx * 10 + (*q - '0');
            }
            if (q != colon || q == t)
                DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: bad feature index '%.*s'", name,
                              (long long)line, (int)(colon - t > 20 ? 20 : colon - t), t));
            if (idx < 1 || idx > INT32_MAX)
                DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: feature index %lld out of range (1..%d)", name,
                              (long long)line, (long long)idx, INT32_MAX));
            if (idx <= prev)
                DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: feature index %lld not increasing (prev %lld)",
                              name, (long long)line, (long long)idx, (long long)prev));
            prev = idx;
            size_t vl = (size_t)(p - colon - 1);
            double v = 0;
            if (vl == 0 || !dt_parse_double(colon + 1, vl, &v) || !isfinite(v) || fabs(v) > 3.4e38)
                DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: bad value '%.*s' for feature %lld", name, (long long)line,
                              (int)(vl > 40 ? 40 : vl), colon + 1, (long long)idx));
            if (nnz == nz_cap) {
                size_t cap = nz_cap;
                a = d->col;
                DT_TRY(dt_grow(ctx, &a, &cap, nnz + 1, sizeof(int32_t), err));
                d->col = a;
                cap = nz_cap;
                a = d->val;
                DT_TRY(dt_grow(ctx, &a, &cap, nnz + 1, sizeof(float), err));
                d->val = a;
                nz_cap = cap;
            }
            d->col[nnz] = (int32_t)(idx - 1);
            d->val[nnz] = (float)v;
            nnz++;
            if (idx - 1 > maxcol) maxcol = idx - 1;
        }
        a = d->rowptr;
        DT_TRY(dt_grow(ctx, &a, &row_cap, N + 2, sizeof(int64_t), err));
        d->rowptr = a;
        d->rowptr[++N] = (int64_t)nnz;
    }
    if (N == 0) DT_TRY(dt_err(err, DUET_EFORMAT, "%s: no examples", name));
    if (!d->col) { /* keep col/val non-NULL even with no stored values */
        d->col = dt_alloc_e(ctx, 1, sizeof(int32_t), name, err);
        d->val = dt_alloc_e(ctx, 1, sizeof(float), name, err);
        if (!d->col || !d->val) DT_TRY(err ? err->code : DUET_ENOMEM);
    }
    d->N = (int64_t)N;
    d->D = maxcol + 1;
    *out = d;
    return DUET_OK;
fail:
    dt_data_free(d);
    return rc;
}
