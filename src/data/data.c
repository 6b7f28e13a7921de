/* data.c — dataset lifetime (dt_data_new, dt_data_free), whole-file reading with transparent
 * gunzip, UTF-8 validation and decoding, and the feature-matrix helpers dt_mat_free and
 * dt_mat_rows: what every reader shares.
 * Not here: choosing a reader (load.c), the readers (read_*.c), splits (subset.c),
 * featurizing (pipe.c).
 */
#include <errno.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data.h"

// --- lifetime --------------------------------------------------------------------------------

int dt_data_new(duet_ctx *ctx, int kind, const char *src, duet_data **out, duet_err *err) {
    *out = NULL;
    duet_data *d = dt_calloc(ctx, 1, sizeof *d);
    if (!d) return dt_err(err, DUET_ENOMEM, "%s: out of memory", src ? src : "data");
    d->ctx = ctx;
    d->kind = kind;
    dt_pool_init(&d->pool, ctx);
    d->src = dt_pool_strdup(&d->pool, src ? src : "data");
    if (!d->src) {
        dt_free(ctx, d);
        return dt_err(err, DUET_ENOMEM, "%s: out of memory", src ? src : "data");
    }
    *out = d;
    return DUET_OK;
}

void dt_data_free(duet_data *d) {
    if (!d) return;
    duet_ctx *ctx = d->ctx;
    dt_free(ctx, d->labels);
    dt_free(ctx, d->text);
    dt_free(ctx, d->colnames);
    dt_free(ctx, d->cells);
    dt_free(ctx, d->x);
    void *arr[3] = {d->rowptr, d->col, d->val};
    for (int i = 0; i < 3; i++) { /* a streamed reader may fail between mapping and handing over */
        if (d->map[i]) munmap(d->map[i], d->map_len[i]);
        if (arr[i] != d->map[i]) dt_free(ctx, arr[i]);
    }
    dt_pool_clear(&d->pool);
    dt_free(ctx, d);
}

// --- whole files and gzip --------------------------------------------------------------------

int dt_is_gzip(const char *buf, size_t len) {
    return len >= 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b;
}

/* Inflates gzip data (one or more members) into a new NUL-terminated buffer. */
int dt_gunzip_mem(duet_ctx *ctx, const char *name, const char *in, size_t in_len, char **out,
                  size_t *out_len, duet_err *err) {
    *out = NULL;
    *out_len = 0;
    size_t cap = in_len < ((size_t)1 << 28) ? in_len * 4 + 64 : in_len + 64;
    if (in_len >= 18) { /* ISIZE: the last member's size mod 2^32, a good hint for one member */
        const unsigned char *t = (const unsigned char *)in + in_len - 4;
        size_t hint = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
        if (hint + 1 > cap && hint < ((size_t)1 << 31)) cap = hint + 1;
    }
    char *buf = dt_alloc(ctx, cap);
    if (!buf) return dt_err(err, DUET_ENOMEM, "%s: out of memory (%zu bytes) for gunzip", name, cap);
    size_t used = 0, pos = 0;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        dt_free(ctx, buf);
        return dt_err(err, DUET_ENOMEM, "%s: cannot start zlib", name);
    }
    int rc = DUET_OK;
    for (;;) {
        if (cap - used < 2) {
            void *p = buf;
            rc = dt_grow(ctx, &p, &cap, cap + 1, 1, err);
            if (rc) {
                dt_err_prefix(err, rc, "%s: gunzip", name);
                break;
            }
            buf = p;
        }
        size_t in_chunk = in_len - pos < (size_t)1 << 30 ? in_len - pos : (size_t)1 << 30;
        size_t out_chunk = cap - used - 1 < (size_t)1 << 30 ? cap - used - 1 : (size_t)1 << 30;
        zs.next_in = (Bytef *)(uintptr_t)(in + pos);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = (Bytef *)(buf + used);
        zs.avail_out = (uInt)out_chunk;
        int zr = inflate(&zs, Z_NO_FLUSH);
        pos += in_chunk - zs.avail_in;
        used += out_chunk - zs.avail_out;
        if (zr == Z_STREAM_END) {
            /* another member follows? (skip trailing zero padding) */
            size_t q = pos;
            while (q < in_len && in[q] == 0) q++;
            if (q < in_len && dt_is_gzip(in + q, in_len - q)) {
                pos = q;
                inflateReset(&zs);
                continue;
            }
            break;
        }
        if (zr == Z_OK) continue;
        if (zr == Z_BUF_ERROR && zs.avail_out == 0) continue;
        if (zr == Z_BUF_ERROR && pos >= in_len) {
            rc = dt_err(err, DUET_EFORMAT, "%s: truncated gzip data (ends after %zu bytes)", name, in_len);
        } else if (zr == Z_MEM_ERROR) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory in zlib", name);
        } else {
            rc = dt_err(err, DUET_EFORMAT, "%s: corrupt gzip data at offset %zu (%s)", name, pos,
                        zs.msg ? zs.msg : "zlib error");
        }
        break;
    }
    inflateEnd(&zs);
    if (rc) {
        dt_free(ctx, buf);
        return rc;
    }
    buf[used] = 0;
    *out = buf;
    *out_len = used;
    return DUET_OK;
}

int dt_read_file(duet_ctx *ctx, const char *path, char **buf, size_t *len, duet_err *err) {
    *buf = NULL;
    *len = 0;
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return dt_err(err, DUET_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16;
    struct stat st;
    if (!is_stdin) {
        if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
            fclose(f);
            return dt_err(err, DUET_EIO, "%s: is a folder, not a file", path);
        }
        if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
            (uint64_t)st.st_size < SIZE_MAX - 2)
            cap = (size_t)st.st_size + 1;
    }
    int rc = DUET_OK;
    char *data = dt_alloc(ctx, cap);
    size_t used = 0;
    if (!data) { /* a file larger than memory is refused here, saying how much it needs */
        rc = dt_err_nomem(ctx, err, name, cap);
        goto done;
    }
    for (;;) {
        if (cap - used < 2) {
            void *p = data;
            rc = dt_grow(ctx, &p, &cap, cap + 1, 1, err);
            if (rc) {
                dt_err_prefix(err, rc, "%s", name);
                goto done;
            }
            data = p;
        }
        size_t n = fread(data + used, 1, cap - used - 1, f);
        used += n;
        if (n == 0) {
            if (ferror(f)) rc = dt_err(err, DUET_EIO, "%s: read error: %s", name, strerror(errno));
            break;
        }
    }
done:
    if (!is_stdin) fclose(f);
    if (rc) {
        dt_free(ctx, data);
        return rc;
    }
    data[used] = 0;
    if (dt_is_gzip(data, used)) {
        char *plain = NULL;
        size_t plen = 0;
        rc = dt_gunzip_mem(ctx, name, data, used, &plain, &plen, err);
        dt_free(ctx, data);
        if (rc) return rc;
        data = plain;
        used = plen;
    }
    *buf = data;
    *len = used;
    return DUET_OK;
}

// --- UTF-8 ------------------------------------------------------------------------------------

int dt_utf8_valid(const char *s, size_t n, size_t *bad) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else goto invalid;
        if (n - i <= k) goto invalid; /* truncated sequence */
        if (u[i + 1] < lo || u[i + 1] > hi) goto invalid;
        for (size_t j = 2; j <= k; j++)
            if (u[i + j] < 0x80 || u[i + j] > 0xBF) goto invalid;
        i += k + 1;
        continue;
    invalid:
        if (bad) *bad = i;
        return 0;
    }
    return 1;
}

/* A pool copy of s[0..n) as UTF-8: as is when valid and !latin1, else decoded from Latin-1.
 * NULL when out of memory. */
char *dt_text_utf8(dt_pool *pool, const char *s, size_t n, int latin1) {
    if (!latin1 && dt_utf8_valid(s, n, NULL)) return dt_pool_strndup(pool, s, n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += (unsigned char)s[i] >= 0x80 ? 2 : 1;
    char *d = dt_pool_alloc(pool, m + 1);
    if (!d) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) d[k++] = (char)c;
        else {
            d[k++] = (char)(0xC0 | (c >> 6));
            d[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    d[k] = 0;
    return d;
}

// --- feature matrices -------------------------------------------------------------------------

void dt_mat_free(duet_ctx *ctx, dt_mat *m) {
    if (!m) return;
    if (m->borrowed) {
        memset(m, 0, sizeof *m);
        return;
    }
    dt_free(ctx, m->x);
    dt_free(ctx, m->rowptr);
    dt_free(ctx, m->col);
    dt_free(ctx, m->val);
    memset(m, 0, sizeof *m);
}

int dt_mat_rows(duet_ctx *ctx, const dt_mat *m, const int64_t *idx, int64_t n, dt_mat *out,
                duet_err *err) {
    memset(out, 0, sizeof *out);
    if (n < 0) return dt_err(err, DUET_EINVAL, "dt_mat_rows: negative row count %lld", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= m->N)
            return dt_err(err, DUET_ERANGE, "dt_mat_rows: row %lld out of range (%lld rows)",
                          (long long)idx[i], (long long)m->N);
    out->N = n;
    out->D = m->D;
    if (m->x) {
        size_t total;
        if (!dt_mul_ok((size_t)n, (size_t)m->D, &total))
            return dt_err(err, DUET_ERANGE, "dt_mat_rows: %lld x %lld overflows", (long long)n, (long long)m->D);
        out->x = dt_alloc_e(ctx, total ? total : 1, sizeof(float), "feature matrix", err);
        if (!out->x) return err ? err->code : DUET_ENOMEM;
        size_t D = (size_t)m->D;
        for (int64_t i = 0; i < n; i++)
            if (D) memcpy(out->x + (size_t)i * D, m->x + (size_t)idx[i] * D, D * sizeof(float));
        return DUET_OK;
    }
    size_t nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += (size_t)(m->rowptr[idx[i] + 1] - m->rowptr[idx[i]]);
    out->rowptr = dt_alloc_e(ctx, (size_t)n + 1, sizeof(int64_t), "feature matrix", err);
    if (out->rowptr) out->col = dt_alloc_e(ctx, nnz ? nnz : 1, sizeof(int32_t), "feature matrix", err);
    if (out->col) out->val = dt_alloc_e(ctx, nnz ? nnz : 1, sizeof(float), "feature matrix", err);
    if (!out->val) {
        int code = err ? err->code : DUET_ENOMEM;
        dt_mat_free(ctx, out);
        return code;
    }
    int64_t p = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t a = m->rowptr[idx[i]], b = m->rowptr[idx[i] + 1];
        if (b > a) {
            memcpy(out->col + p, m->col + a, (size_t)(b - a) * sizeof(int32_t));
            memcpy(out->val + p, m->val + a, (size_t)(b - a) * sizeof(float));
        }
        p += b - a;
        out->rowptr[i + 1] = p;
    }
    return DUET_OK;
}
