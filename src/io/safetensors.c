/* safetensors.c — duet's model files: the safetensors container, written atomically and read
 * as hostile input. Not here: what the tensors mean (models and the pipeline decide that).
 * Reference: the safetensors format description (8-byte little-endian header size, JSON header
 * with dtype/shape/data_offsets per tensor and a string-to-string "__metadata__", then a byte
 * buffer that the tensors index entirely, without holes).
 *
 * Reading validates, before trusting anything: the header size against the file size, the JSON,
 * each dtype and shape (overflow-checked element counts), that data_offsets match the shape and
 * lie inside the buffer, and that metadata values are strings. duet's own files carry the
 * CRC-32 (zlib's) of their byte buffer in the metadata entry "duet.crc32", which reading checks:
 * a damaged model or checkpoint is refused rather than half-trusted. Foreign files have none.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#define ST_MAX_HEADER (256u << 20) /* a header larger than 256 MiB is refused */
#define ST_MAX_DIMS 8
#define ST_CRC_KEY "duet.crc32"    /* metadata: CRC-32 of the byte buffer, 8 hex digits */

static const struct {
    const char *name;
    int dtype;
    size_t size;
} dtypes[] = {{"F32", DT_F32, 4}, {"F64", DT_F64, 8}, {"I32", DT_I32, 4}, {"I64", DT_I64, 8},
              {"U8", DT_U8, 1}};

size_t dt_dtype_size(int dtype) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dtype == dtype) return dtypes[i].size;
    return 0;
}

static const char *dtype_name(int dtype) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dtype == dtype) return dtypes[i].name;
    return "?";
}

// --- types -----------------------------------------------------------------------------------

typedef struct st_tensor {
    char *name;
    int dtype, ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    unsigned char *data; /* writer: own copy; reader: into the buffer or an aligned copy */
    int owned;           /* reader: data is a private copy */
} st_tensor;

struct dt_st_writer {
    duet_ctx *ctx;
    st_tensor *t;
    size_t n, cap;
    char **key, **val;
    size_t nmeta, capmeta;
};

struct dt_st_file {
    duet_ctx *ctx;
    char *name;
    unsigned char *buf; /* the byte buffer after the header */
    size_t buflen;
    st_tensor *t;
    size_t n;
    char **key, **val;
    size_t nmeta;
};

// --- writer ----------------------------------------------------------------------------------

int dt_st_writer_new(duet_ctx *ctx, dt_st_writer **out, duet_err *err) {
    *out = NULL;
    dt_st_writer *w = dt_calloc(ctx, 1, sizeof *w);
    if (!w) return dt_err(err, DUET_ENOMEM, "model writer: out of memory");
    w->ctx = ctx;
    *out = w;
    return DUET_OK;
}

void dt_st_writer_free(dt_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        dt_free(w->ctx, w->t[i].name);
        dt_free(w->ctx, w->t[i].data);
    }
    for (size_t i = 0; i < w->nmeta; i++) {
        dt_free(w->ctx, w->key[i]);
        dt_free(w->ctx, w->val[i]);
    }
    dt_free(w->ctx, w->t);
    dt_free(w->ctx, w->key);
    dt_free(w->ctx, w->val);
    dt_free(w->ctx, w);
}

int dt_st_add(dt_st_writer *w, const char *name, int dtype, int ndim, const int64_t *shape,
              const void *data, duet_err *err) {
    size_t es = dt_dtype_size(dtype);
    if (!es) return dt_err(err, DUET_EINVAL, "tensor '%s': unknown dtype %d", name, dtype);
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return dt_err(err, DUET_EINVAL, "tensor '%s': %d dimensions", name, ndim);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return dt_err(err, DUET_EINVAL, "tensor '%s' added twice", name);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !dt_mul_ok(count, (size_t)shape[i], &count))
            return dt_err(err, DUET_ERANGE, "tensor '%s': bad shape", name);
    }
    size_t nbytes;
    if (!dt_mul_ok(count, es, &nbytes)) return dt_err(err, DUET_ERANGE, "tensor '%s': too large", name);
    int rc = dt_grow(w->ctx, (void **)&w->t, &w->cap, w->n + 1, sizeof *w->t, err);
    if (rc) return rc;
    st_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = dt_strdup(w->ctx, name);
    t->data = nbytes ? dt_alloc(w->ctx, nbytes) : NULL;
    if (!t->name || (nbytes && !t->data)) {
        dt_free(w->ctx, t->name);
        dt_free(w->ctx, t->data);
        return dt_err(err, DUET_ENOMEM, "tensor '%s': out of memory (%zu bytes)", name, nbytes);
    }
    if (nbytes) memcpy(t->data, data, nbytes);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = nbytes;
    w->n++;
    return DUET_OK;
}

int dt_st_add1(dt_st_writer *w, const char *name, int dtype, int64_t n, const void *data,
               duet_err *err) {
    return dt_st_add(w, name, dtype, 1, &n, data, err);
}

int dt_st_meta(dt_st_writer *w, const char *key, const char *value, duet_err *err) {
    char *v = dt_strdup(w->ctx, value);
    if (!v) return dt_err(err, DUET_ENOMEM, "metadata '%s': out of memory", key);
    for (size_t i = 0; i < w->nmeta; i++) {
        if (strcmp(w->key[i], key) == 0) {
            dt_free(w->ctx, w->val[i]);
            w->val[i] = v;
            return DUET_OK;
        }
    }
    size_t cap = w->capmeta;
    int rc = dt_grow(w->ctx, (void **)&w->key, &cap, w->nmeta + 1, sizeof(char *), err);
    if (rc == DUET_OK) rc = dt_grow(w->ctx, (void **)&w->val, &w->capmeta, w->nmeta + 1, sizeof(char *), err);
    char *k = rc == DUET_OK ? dt_strdup(w->ctx, key) : NULL;
    if (!k) {
        dt_free(w->ctx, v);
        return rc ? rc : dt_err(err, DUET_ENOMEM, "metadata '%s': out of memory", key);
    }
    w->key[w->nmeta] = k;
    w->val[w->nmeta] = v;
    w->nmeta++;
    return DUET_OK;
}

int dt_st_metaf(dt_st_writer *w, duet_err *err, const char *key, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return dt_err(err, DUET_ERANGE, "metadata '%s': value too long", key);
    return dt_st_meta(w, key, buf, err);
}

/* A growable text buffer for the JSON header. */
typedef struct sbuf {
    duet_ctx *ctx;
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = dt_realloc(b->ctx, b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* Tensors are laid out by falling element size, so every offset is a multiple of its element
 * size; with the header padded to 64 bytes each tensor is aligned in a mapped file. */
static void write_order(const dt_st_writer *w, size_t *order) {
    size_t k = 0;
    for (size_t es = 8; es >= 1; es /= 2)
        for (size_t i = 0; i < w->n; i++)
            if (dt_dtype_size(w->t[i].dtype) == es) order[k++] = i;
}

/* The header (checksum entry added, padded so that the buffer starts 64-byte aligned) into b,
 * and the tensors' order into order (w->n). */
static int build_header(dt_st_writer *w, size_t *order, sbuf *b, const char *path, duet_err *err) {
    write_order(w, order);
    /* the checksum of the byte buffer, which loading verifies */
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t k = 0; k < w->n; k++) crc = crc32_z(crc, w->t[order[k]].data, w->t[order[k]].nbytes);
    int rc = dt_st_metaf(w, err, ST_CRC_KEY, "%08lx", (unsigned long)crc);
    if (rc) return rc;
    sb_str(b, "{\"__metadata__\":{");
    for (size_t i = 0; i < w->nmeta; i++) {
        if (i) sb_str(b, ",");
        sb_json(b, w->key[i]);
        sb_str(b, ":");
        sb_json(b, w->val[i]);
    }
    sb_str(b, "}");
    size_t off = 0;
    for (size_t k = 0; k < w->n; k++) {
        const st_tensor *t = &w->t[order[k]];
        char num[64];
        sb_str(b, ",");
        sb_json(b, t->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, dtype_name(t->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            sb_str(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + t->nbytes);
        sb_str(b, num);
        off += t->nbytes;
    }
    sb_str(b, "}");
    while (!b->oom && (8 + b->n) % 64 != 0) sb_put(b, " ", 1);
    if (b->oom) return dt_err(err, DUET_ENOMEM, "%s: out of memory for the header", path);
    return DUET_OK;
}

int dt_st_size(dt_st_writer *w, size_t *bytes, duet_err *err) {
    sbuf b = {w->ctx, NULL, 0, 0, 0};
    size_t *order = dt_calloc(w->ctx, w->n ? w->n : 1, sizeof *order);
    int rc = order ? build_header(w, order, &b, "model", err) : dt_err(err, DUET_ENOMEM, "model: out of memory");
    if (!rc) {
        *bytes = 8 + b.n;
        for (size_t k = 0; k < w->n; k++) *bytes += w->t[k].nbytes;
    }
    dt_free(w->ctx, b.s);
    dt_free(w->ctx, order);
    return rc;
}

int dt_st_write(dt_st_writer *w, const char *path, duet_err *err) {
    int rc = DUET_OK;
    sbuf b = {w->ctx, NULL, 0, 0, 0};
    size_t *order = NULL;
    char *tmp = NULL;
    FILE *fp = NULL;
    order = dt_calloc(w->ctx, w->n ? w->n : 1, sizeof *order);
    size_t tlen = strlen(path) + 32;
    tmp = dt_alloc(w->ctx, tlen);
    if (!order || !tmp) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    DT_TRY(build_header(w, order, &b, path, err));
    /* one name per target, so that a write killed half-way leaves one stale file, which the
     * next write replaces, however often training is killed */
    snprintf(tmp, tlen, "%s.tmp", path);
    fp = fopen(tmp, "wb");
    if (!fp) {
        rc = dt_err(err, DUET_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    unsigned char len8[8];
    uint64_t hl = b.n;
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(b.s, 1, b.n, fp) == b.n;
    for (size_t k = 0; ok && k < w->n; k++) {
        const st_tensor *t = &w->t[order[k]];
        if (t->nbytes) ok = fwrite(t->data, 1, t->nbytes, fp) == t->nbytes;
    }
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    if (fclose(fp) != 0) ok = 0;
    fp = NULL;
    if (!ok) {
        rc = dt_err(err, DUET_EIO, "%s: write failed: %s", tmp, strerror(errno));
        remove(tmp);
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = dt_err(err, DUET_EIO, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        remove(tmp);
        goto fail;
    }
fail:
    if (fp) fclose(fp);
    dt_free(w->ctx, b.s);
    dt_free(w->ctx, order);
    dt_free(w->ctx, tmp);
    return rc;
}

// --- reader ----------------------------------------------------------------------------------

void dt_st_close(dt_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        dt_free(f->ctx, f->t[i].name);
        if (f->t[i].owned) dt_free(f->ctx, f->t[i].data);
    }
    for (size_t i = 0; i < f->nmeta; i++) {
        dt_free(f->ctx, f->key[i]);
        dt_free(f->ctx, f->val[i]);
    }
    dt_free(f->ctx, f->t);
    dt_free(f->ctx, f->key);
    dt_free(f->ctx, f->val);
    dt_free(f->ctx, f->buf);
    dt_free(f->ctx, f->name);
    dt_free(f->ctx, f);
}

static int parse_meta(dt_st_file *f, const cJSON *meta, duet_err *err) {
    if (!cJSON_IsObject(meta))
        return dt_err(err, DUET_EFORMAT, "%s: __metadata__ is not an object", f->name);
    size_t n = 0;
    for (const cJSON *it = meta->child; it; it = it->next) n++;
    if (n == 0) return DUET_OK;
    f->key = dt_calloc(f->ctx, n, sizeof(char *));
    f->val = dt_calloc(f->ctx, n, sizeof(char *));
    if (!f->key || !f->val) return dt_err(err, DUET_ENOMEM, "%s: out of memory", f->name);
    for (const cJSON *it = meta->child; it; it = it->next) {
        if (!cJSON_IsString(it))
            return dt_err(err, DUET_EFORMAT, "%s: metadata '%s' is not a string", f->name,
                          it->string ? it->string : "?");
        f->key[f->nmeta] = dt_strdup(f->ctx, it->string ? it->string : "");
        f->val[f->nmeta] = dt_strdup(f->ctx, it->valuestring);
        if (!f->key[f->nmeta] || !f->val[f->nmeta]) {
            f->nmeta++;
            return dt_err(err, DUET_ENOMEM, "%s: out of memory", f->name);
        }
        f->nmeta++;
    }
    return DUET_OK;
}

/* An exact non-negative integer from a JSON number, or -1. */
static int64_t json_index(const cJSON *v) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(int64_t)d) return -1;
    return (int64_t)d;
}

static int parse_tensor(dt_st_file *f, const cJSON *it, st_tensor *t, duet_err *err) {
    const char *nm = it->string ? it->string : "?";
    t->name = dt_strdup(f->ctx, nm);
    if (!t->name) return dt_err(err, DUET_ENOMEM, "%s: out of memory", f->name);
    if (!cJSON_IsObject(it)) return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' is not an object", f->name, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets", f->name, nm);
    t->dtype = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dt->valuestring, dtypes[i].name) == 0) t->dtype = dtypes[i].dtype;
    if (!t->dtype)
        return dt_err(err, DUET_EUNSUPPORTED, "%s: tensor '%s' has dtype %s, which duet does not read",
                      f->name, nm, dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS) return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' has %d dimensions", f->name, nm, nd);
    t->ndim = nd;
    size_t count = 1;
    int d = 0;
    for (const cJSON *e = sh->child; e; e = e->next, d++) {
        int64_t v = json_index(e);
        if (v < 0 || !dt_mul_ok(count, (size_t)v, &count))
            return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' has a bad shape", f->name, nm);
        t->shape[d] = v;
    }
    if (cJSON_GetArraySize(off) != 2)
        return dt_err(err, DUET_EFORMAT, "%s: tensor '%s': data_offsets needs 2 numbers", f->name, nm);
    int64_t b = json_index(off->child), e = json_index(off->child->next);
    size_t es = dt_dtype_size(t->dtype), nbytes = 0;
    if (b < 0 || e < b || (uint64_t)e > f->buflen)
        return dt_err(err, DUET_EFORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] outside the %zu-byte buffer",
                      f->name, nm, (long long)b, (long long)e, f->buflen);
    if (!dt_mul_ok(count, es, &nbytes) || nbytes != (size_t)(e - b))
        return dt_err(err, DUET_EFORMAT, "%s: tensor '%s': %lld bytes for a shape needing %zu", f->name, nm,
                      (long long)(e - b), nbytes);
    t->nbytes = nbytes;
    t->data = f->buf + b;
    if ((uintptr_t)t->data % es != 0) { /* misaligned in a foreign file: copy */
        unsigned char *c = dt_alloc(f->ctx, nbytes);
        if (!c) return dt_err(err, DUET_ENOMEM, "%s: out of memory", f->name);
        memcpy(c, t->data, nbytes);
        t->data = c;
        t->owned = 1;
    }
    return DUET_OK;
}

int dt_st_open_mem(duet_ctx *ctx, const char *name, const void *mem, size_t len, dt_st_file **out,
                   duet_err *err) {
    int rc = DUET_OK;
    cJSON *root = NULL;
    char *hdr = NULL;
    const unsigned char *p = mem;
    *out = NULL;
    dt_st_file *f = dt_calloc(ctx, 1, sizeof *f);
    if (!f) return dt_err(err, DUET_ENOMEM, "%s: out of memory", name);
    f->ctx = ctx;
    f->name = dt_strdup(ctx, name);
    if (!f->name) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    if (len < 8) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %zu bytes, too short for a safetensors file", name, len);
        goto fail;
    }
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)p[i] << (8 * i);
    if (hl < 2 || hl > ST_MAX_HEADER || hl > len - 8) {
        rc = dt_err(err, DUET_EFORMAT, "%s: header length %llu does not fit the %zu-byte file (not a safetensors file?)",
                    name, (unsigned long long)hl, len);
        goto fail;
    }
    hdr = dt_strndup(ctx, (const char *)p + 8, (size_t)hl);
    f->buflen = len - 8 - (size_t)hl;
    f->buf = dt_alloc(ctx, f->buflen ? f->buflen : 1);
    if (!hdr || !f->buf) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    if (memchr(p + 8, 0, (size_t)hl)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: NUL byte inside the JSON header", name);
        goto fail;
    }
    memcpy(f->buf, p + 8 + hl, f->buflen);
    root = cJSON_ParseWithLength(hdr, (size_t)hl);
    if (!root || !cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        long pos = at && at >= hdr && at <= hdr + hl ? (long)(at - hdr) : -1;
        rc = dt_err(err, DUET_EFORMAT, "%s: header is not a JSON object (offset %ld)", name, pos + 8);
        goto fail;
    }
    size_t n = 0;
    for (const cJSON *it = root->child; it; it = it->next)
        if (!it->string || strcmp(it->string, "__metadata__") != 0) n++;
    if (n) {
        f->t = dt_calloc(ctx, n, sizeof *f->t);
        if (!f->t) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", name);
            goto fail;
        }
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        if (it->string && strcmp(it->string, "__metadata__") == 0) {
            DT_TRY(parse_meta(f, it, err));
            continue;
        }
        rc = parse_tensor(f, it, &f->t[f->n], err);
        f->n++;
        if (rc) goto fail;
    }
    for (size_t i = 0; i < f->n; i++)
        for (size_t j = i + 1; j < f->n; j++)
            if (strcmp(f->t[i].name, f->t[j].name) == 0) {
                rc = dt_err(err, DUET_EFORMAT, "%s: tensor '%s' appears twice", name, f->t[i].name);
                goto fail;
            }
    const char *crc = dt_st_meta_get(f, ST_CRC_KEY);
    if (crc) { /* duet's files carry the checksum of their byte buffer */
        char want[16];
        snprintf(want, sizeof want, "%08lx", (unsigned long)crc32_z(crc32(0L, Z_NULL, 0), f->buf, f->buflen));
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        want[0] = 0, crc = want; /* fuzzing: let damaged tensors through to the checks behind this one */
#endif
        if (strcmp(crc, want) != 0) {
            rc = dt_err(err, DUET_EFORMAT, "%s: checksum mismatch (stored %.16s, the data gives %s): the file is damaged",
                        name, crc, want);
            goto fail;
        }
    }
    cJSON_Delete(root);
    dt_free(ctx, hdr);
    *out = f;
    return DUET_OK;
fail:
    cJSON_Delete(root);
    dt_free(ctx, hdr);
    dt_st_close(f);
    return rc;
}

int dt_st_open(duet_ctx *ctx, const char *path, dt_st_file **out, duet_err *err) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return dt_err(err, DUET_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc = DUET_OK;
    unsigned char *mem = NULL;
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        rc = dt_err(err, DUET_EIO, "%s: cannot determine the file size", path);
        goto done;
    }
    mem = dt_alloc(ctx, (size_t)size + 1);
    if (!mem) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory (%ld bytes)", path, size);
        goto done;
    }
    if (fread(mem, 1, (size_t)size, fp) != (size_t)size) {
        rc = dt_err(err, DUET_EIO, "%s: read failed", path);
        goto done;
    }
    rc = dt_st_open_mem(ctx, path, mem, (size_t)size, out, err);
done:
    dt_free(ctx, mem);
    fclose(fp);
    return rc;
}

const char *dt_st_name(const dt_st_file *f) { return f->name; }

const char *dt_st_meta_get(const dt_st_file *f, const char *key) {
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->key[i], key) == 0) return f->val[i];
    return NULL;
}

int dt_st_meta_count(const dt_st_file *f) { return (int)f->nmeta; }
const char *dt_st_meta_key(const dt_st_file *f, int i) { return i >= 0 && (size_t)i < f->nmeta ? f->key[i] : NULL; }
const char *dt_st_meta_value(const dt_st_file *f, int i) { return i >= 0 && (size_t)i < f->nmeta ? f->val[i] : NULL; }

static const st_tensor *find(const dt_st_file *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

int dt_st_has(const dt_st_file *f, const char *name) { return find(f, name) != NULL; }

int dt_st_get(const dt_st_file *f, const char *name, int dtype, int ndim, const int64_t *shape,
              const void **data, int64_t *shape_out, duet_err *err) {
    *data = NULL;
    const st_tensor *t = find(f, name);
    if (!t) return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' is missing", f->name, name);
    if (t->dtype != dtype)
        return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' is %s, expected %s", f->name, name,
                      dtype_name(t->dtype), dtype_name(dtype));
    if (t->ndim != ndim)
        return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' has %d dimensions, expected %d", f->name, name,
                      t->ndim, ndim);
    for (int i = 0; i < ndim; i++) {
        if (shape && shape[i] >= 0 && shape[i] != t->shape[i])
            return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' dimension %d is %lld, expected %lld", f->name,
                          name, i, (long long)t->shape[i], (long long)shape[i]);
        if (shape_out) shape_out[i] = t->shape[i];
    }
    *data = t->data;
    return DUET_OK;
}

int dt_st_meta_i64(const dt_st_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   duet_err *err) {
    const char *v = dt_st_meta_get(f, key);
    if (!v) return dt_err(err, DUET_EFORMAT, "%s: metadata '%s' is missing", f->name, key);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) return dt_err(err, DUET_EFORMAT, "%s: metadata '%s' = '%s' is not an integer", f->name, key, v);
    if (x < lo || x > hi)
        return dt_err(err, DUET_EFORMAT, "%s: metadata '%s' = %lld is outside [%lld, %lld]", f->name, key, x,
                      (long long)lo, (long long)hi);
    *out = x;
    return DUET_OK;
}

int dt_st_meta_f64(const dt_st_file *f, const char *key, double *out, duet_err *err) {
    const char *v = dt_st_meta_get(f, key);
    if (!v) return dt_err(err, DUET_EFORMAT, "%s: metadata '%s' is missing", f->name, key);
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || x != x)
        return dt_err(err, DUET_EFORMAT, "%s: metadata '%s' = '%s' is not a number", f->name, key, v);
    *out = x;
    return DUET_OK;
}
