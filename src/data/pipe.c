/* pipe.c — the feature pipeline's front door: fit, apply, names, description, save and load,
 * dispatched by the kind of data (text -> text_features.c, tables and vectors ->
 * table_features.c), and the string-list helpers used to store vocabularies in a model file.
 * Model file layout: metadata "pipe.kind" (text, table, images, sparse) and "pipe.D", then
 * each kind's own "pipe.*" metadata and tensors.
 * Not here: tokenizing or vocabulary building (text_features.c), column statistics
 * (table_features.c).
 */
#include "features.h"

/* 1 when the arrays of data's kind are present. */
static int has_arrays(const duet_data *d) {
    if (d->N == 0) return 1;
    switch (d->kind) {
    case DUET_DATA_TEXT: return d->text != NULL;
    case DUET_DATA_TABLE: return d->cells != NULL;
    case DUET_DATA_DENSE: return d->x != NULL;
    case DUET_DATA_SPARSE: return d->rowptr && d->col && d->val;
    default: return 0;
    }
}

static const char *kind_word(int kind) {
    switch (kind) {
    case DUET_DATA_TEXT: return "text";
    case DUET_DATA_TABLE: return "table";
    case DUET_DATA_DENSE: return "images";
    case DUET_DATA_SPARSE: return "sparse";
    default: return NULL;
    }
}

int dt_pipe_fit(duet_ctx *ctx, const duet_data *data, const duet_train_params *tp, int features, dt_pipe **out,
                duet_err *err) {
    *out = NULL;
    if (!ctx || !data || !tp) return dt_err(err, DUET_EINVAL, "dt_pipe_fit: ctx, data and params are required");
    const char *src = data->src ? data->src : "data";
    if (data->N < 1) return dt_err(err, DUET_EINVAL, "%s: no examples to fit the features on", src);
    if (!kind_word(data->kind) || !has_arrays(data))
        return dt_err(err, DUET_EINVAL, "%s: unknown kind of data %d or missing examples", src, data->kind);
    dt_pipe *p = dt_calloc(ctx, 1, sizeof *p);
    if (!p) return dt_err(err, DUET_ENOMEM, "feature pipeline: out of memory");
    p->ctx = ctx;
    p->kind = data->kind;
    dt_pool_init(&p->table.pool, ctx);
    int rc = DUET_OK;
    switch (data->kind) {
    case DUET_DATA_TEXT: DT_TRY(dt_text_fit(p, data, tp, err)); break;
    case DUET_DATA_TABLE: DT_TRY(dt_table_fit(p, data, tp, features, err)); break;
    case DUET_DATA_DENSE:
        if (data->D < 1 || data->D > DT_PIPE_MAX_DIM) {
            rc = dt_err(err, DUET_EINVAL, "%s: %lld values per example (must be 1..%lld)", src, (long long)data->D,
                        (long long)DT_PIPE_MAX_DIM);
            goto fail;
        }
        p->D = data->D;
        if (data->H > 0 && data->W > 0 && data->H * data->W == data->D) {
            p->H = data->H;
            p->W = data->W;
        }
        p->scale = !tp->no_scale && features != DT_FEATURES_RAW;
        break;
    case DUET_DATA_SPARSE:
        if (data->D < 1 || data->D > DT_PIPE_MAX_DIM) {
            rc = dt_err(err, DUET_EINVAL, "%s: %lld features (must be 1..%lld)", src, (long long)data->D,
                        (long long)DT_PIPE_MAX_DIM);
            goto fail;
        }
        p->D = data->D;
        break;
    }
    *out = p;
    return DUET_OK;
fail:
    dt_pipe_free(p);
    return rc;
}

int dt_pipe_apply(duet_ctx *ctx, const dt_pipe *pipe, const duet_data *data, dt_mat *out,
                  duet_err *err) {
    memset(out, 0, sizeof *out);
    if (!ctx || !pipe || !data) return dt_err(err, DUET_EINVAL, "dt_pipe_apply: ctx, pipe and data are required");
    if (data->kind != pipe->kind)
        return dt_err(err, DUET_EINVAL, "%s: %s data, but the features were fitted on %s data",
                      data->src ? data->src : "data", kind_word(data->kind) ? kind_word(data->kind) : "unknown",
                      kind_word(pipe->kind));
    if (data->N < 0 || !has_arrays(data))
        return dt_err(err, DUET_EINVAL, "%s: negative row count or missing examples", data->src ? data->src : "data");
    switch (pipe->kind) {
    case DUET_DATA_TEXT: return dt_text_apply(pipe, data, out, err);
    case DUET_DATA_TABLE: return dt_table_apply(pipe, data, out, err);
    case DUET_DATA_DENSE: return dt_dense_apply(pipe, data, out, err);
    case DUET_DATA_SPARSE: return dt_sparse_apply(pipe, data, out, err);
    default: return dt_err(err, DUET_EINVAL, "feature pipeline of unknown kind %d", pipe->kind);
    }
}

int64_t dt_pipe_dim(const dt_pipe *pipe) { return pipe ? pipe->D : 0; }
int dt_pipe_kind(const dt_pipe *pipe) { return pipe ? pipe->kind : 0; }

int dt_pipe_image(const dt_pipe *pipe, int64_t *H, int64_t *W, float *scale) {
    if (!pipe || pipe->kind != DUET_DATA_DENSE || pipe->H <= 0) return 0;
    *H = pipe->H;
    *W = pipe->W;
    *scale = pipe->scale ? 255.0f : 1.0f;
    return 1;
}
int dt_pipe_text_mode(const dt_pipe *pipe) {
    return pipe && pipe->kind == DUET_DATA_TEXT ? pipe->text.mode : -1;
}

/* Copies s into buf, truncating on a UTF-8 boundary. */
static const char *copy_name(const char *s, size_t n, char *buf, size_t len) {
    if (!len) return buf;
    if (n >= len) {
        n = len - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    return buf;
}

const char *dt_pipe_feature_name(const dt_pipe *pipe, int64_t j, char *buf, size_t len) {
    if (!buf || !len) return buf;
    buf[0] = 0;
    if (!pipe || j < 0 || j >= pipe->D) {
        snprintf(buf, len, "?");
        return buf;
    }
    switch (pipe->kind) {
    case DUET_DATA_TEXT: {
        const dt_text_pipe *t = &pipe->text;
        if (t->hash_dims > 0) {
            snprintf(buf, len, "hash[%lld]", (long long)j);
            return buf;
        }
        const char *s = t->terms + t->off[j];
        size_t n = (size_t)(t->off[j + 1] - t->off[j] - 1);
        if (n && s[0] == '\x01') { /* character n-gram: shown in double quotes */
            if (len < 4) return copy_name("\"", 1, buf, len);
            buf[0] = '"';
            copy_name(s + 1, n - 1, buf + 1, len - 2);
            size_t k = strlen(buf);
            buf[k] = '"';
            buf[k + 1] = 0;
            return buf;
        }
        return copy_name(s, n, buf, len);
    }
    case DUET_DATA_TABLE: return dt_table_feature_name(pipe, j, buf, len);
    case DUET_DATA_DENSE:
        if (pipe->H > 0 && pipe->W > 0) snprintf(buf, len, "pixel[%lld,%lld]", (long long)(j / pipe->W), (long long)(j % pipe->W));
        else snprintf(buf, len, "x[%lld]", (long long)j);
        return buf;
    default: snprintf(buf, len, "%lld", (long long)j + 1); return buf; /* LIBSVM index, 1-based as in the file */
    }
}

const char *dt_pipe_describe(const dt_pipe *pipe, char *buf, size_t len) {
    if (!buf || !len) return buf;
    buf[0] = 0;
    if (!pipe) return buf;
    switch (pipe->kind) {
    case DUET_DATA_TEXT: {
        const dt_text_pipe *t = &pipe->text;
        static const char *modes[] = {"tfidf", "counts", "binary"};
        char chars[64] = "";
        if (t->char_max > 0) snprintf(chars, sizeof chars, " + char %d-%d-grams", t->char_min, t->char_max);
        if (t->hash_dims > 0)
            snprintf(buf, len, "%s%s word %d-%d-grams%s, hashed into %lld columns", modes[t->mode],
                     t->sublinear ? " (sublinear tf)" : "", t->ngram_min, t->ngram_max, chars, (long long)t->hash_dims);
        else
            snprintf(buf, len, "%s%s word %d-%d-grams%s, %lld terms", modes[t->mode], t->sublinear ? " (sublinear tf)" : "",
                     t->ngram_min, t->ngram_max, chars, (long long)t->V);
        return buf;
    }
    case DUET_DATA_TABLE: {
        int64_t num = 0, cat = 0;
        for (int64_t c = 0; c < pipe->table.C; c++) {
            if (pipe->table.cols[c].categorical) cat++;
            else num++;
        }
        if (pipe->table.codes)
            snprintf(buf, len, "table: %lld numeric, %lld categorical (as category codes) -> %lld features", (long long)num,
                     (long long)cat, (long long)pipe->D);
        else
            snprintf(buf, len, "table: %lld numeric%s, %lld categorical -> %lld features", (long long)num,
                     pipe->table.scale ? "" : " (unscaled)", (long long)cat, (long long)pipe->D);
        return buf;
    }
    case DUET_DATA_DENSE:
        if (pipe->H > 0) snprintf(buf, len, "pixels %lldx%lld%s", (long long)pipe->H, (long long)pipe->W, pipe->scale ? " scaled to [0,1]" : "");
        else snprintf(buf, len, "%lld values%s", (long long)pipe->D, pipe->scale ? " scaled by 1/255" : "");
        return buf;
    case DUET_DATA_SPARSE: snprintf(buf, len, "sparse vectors, %lld features", (long long)pipe->D); return buf;
    default: return buf;
    }
}

int dt_pipe_is_ngram(const dt_pipe *pipe, int64_t j) {
    const char *s = dt_pipe_term(pipe, j);
    return s && s[0] != '\x01' && !strchr(s, ' ');
}

const char *dt_pipe_term(const dt_pipe *pipe, int64_t j) {
    if (!pipe || pipe->kind != DUET_DATA_TEXT || pipe->text.hash_dims > 0 || j < 0 || j >= pipe->text.V) return NULL;
    const char *s = pipe->text.terms + pipe->text.off[j];
    return s[0] == '\x01' ? NULL : s;
}

void dt_pipe_free(dt_pipe *pipe) {
    if (!pipe) return;
    dt_text_free(pipe);
    dt_table_free(pipe);
    dt_free(pipe->ctx, pipe);
}

// --- save and load ------------------------------------------------------------------------------

int dt_pipe_save(const dt_pipe *pipe, struct dt_st_writer *w, duet_err *err) {
    if (!pipe || !w) return dt_err(err, DUET_EINVAL, "dt_pipe_save: pipe and writer are required");
    int rc = DUET_OK;
    DT_TRY(dt_st_meta(w, "pipe.kind", kind_word(pipe->kind), err));
    DT_TRY(dt_st_metaf(w, err, "pipe.D", "%lld", (long long)pipe->D));
    switch (pipe->kind) {
    case DUET_DATA_TEXT: DT_TRY(dt_text_save(pipe, w, err)); break;
    case DUET_DATA_TABLE: DT_TRY(dt_table_save(pipe, w, err)); break;
    case DUET_DATA_DENSE:
        DT_TRY(dt_st_metaf(w, err, "pipe.H", "%lld", (long long)pipe->H));
        DT_TRY(dt_st_metaf(w, err, "pipe.W", "%lld", (long long)pipe->W));
        DT_TRY(dt_st_metaf(w, err, "pipe.scale", "%d", pipe->scale));
        break;
    default: break;
    }
fail:
    return rc;
}

int dt_pipe_load(duet_ctx *ctx, const struct dt_st_file *f, dt_pipe **out, duet_err *err) {
    *out = NULL;
    const char *k = dt_st_meta_get(f, "pipe.kind");
    if (!k) return dt_err(err, DUET_EFORMAT, "%s: metadata 'pipe.kind' is missing", dt_st_name(f));
    int kind = 0;
    for (int i = DUET_DATA_TEXT; i <= DUET_DATA_SPARSE; i++)
        if (strcmp(k, kind_word(i)) == 0) kind = i;
    if (!kind) return dt_err(err, DUET_EFORMAT, "%s: metadata 'pipe.kind' = '%s' is not text, table, images or sparse", dt_st_name(f), k);
    dt_pipe *p = dt_calloc(ctx, 1, sizeof *p);
    if (!p) return dt_err(err, DUET_ENOMEM, "feature pipeline: out of memory");
    p->ctx = ctx;
    p->kind = kind;
    dt_pool_init(&p->table.pool, ctx);
    int rc = DUET_OK;
    DT_TRY(dt_st_meta_i64(f, "pipe.D", 1, DT_PIPE_MAX_DIM, &p->D, err));
    switch (kind) {
    case DUET_DATA_TEXT: DT_TRY(dt_text_load(p, f, err)); break;
    case DUET_DATA_TABLE: DT_TRY(dt_table_load(p, f, err)); break;
    case DUET_DATA_DENSE: {
        int64_t s;
        DT_TRY(dt_st_meta_i64(f, "pipe.H", 0, DT_PIPE_MAX_DIM, &p->H, err));
        DT_TRY(dt_st_meta_i64(f, "pipe.W", 0, DT_PIPE_MAX_DIM, &p->W, err));
        DT_TRY(dt_st_meta_i64(f, "pipe.scale", 0, 1, &s, err));
        p->scale = (int)s;
        if ((p->H > 0) != (p->W > 0) || (p->H > 0 && p->H * p->W != p->D)) {
            rc = dt_err(err, DUET_EFORMAT, "%s: image size %lldx%lld does not match pipe.D = %lld", dt_st_name(f),
                        (long long)p->H, (long long)p->W, (long long)p->D);
            goto fail;
        }
        break;
    }
    default: break;
    }
    *out = p;
    return DUET_OK;
fail:
    dt_pipe_free(p);
    return rc;
}

// --- string lists ---------------------------------------------------------------------------------

int dt_pipe_blob_save(dt_st_writer *w, const char *name, const char *bytes, int64_t nbytes,
                      const int64_t *off, int64_t n, duet_err *err) {
    char key[128];
    int rc = dt_st_add1(w, name, DT_U8, nbytes, bytes, err);
    if (rc) return rc;
    snprintf(key, sizeof key, "%s_off", name);
    return dt_st_add1(w, key, DT_I64, n + 1, off, err);
}

int dt_pipe_strings_save(duet_ctx *ctx, dt_st_writer *w, const char *name, char *const *s, int64_t n,
                         duet_err *err) {
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) total += strlen(s[i]) + 1;
    int rc = DUET_OK;
    char *bytes = dt_alloc(ctx, total ? total : 1);
    int64_t *off = dt_alloc(ctx, (size_t)(n + 1) * sizeof *off);
    if (!bytes || !off) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory (%zu bytes)", name, total);
        goto fail;
    }
    size_t pos = 0;
    off[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t l = strlen(s[i]) + 1;
        memcpy(bytes + pos, s[i], l);
        pos += l;
        off[i + 1] = (int64_t)pos;
    }
    rc = dt_pipe_blob_save(w, name, bytes, (int64_t)total, off, n, err);
fail:
    dt_free(ctx, bytes);
    dt_free(ctx, off);
    return rc;
}

int dt_pipe_strings_load(const dt_st_file *f, const char *name, int64_t n, int64_t min_len,
                         const char **bytes, const int64_t **off, duet_err *err) {
    *bytes = NULL;
    *off = NULL;
    char key[128];
    const void *b, *o;
    int64_t nb, no = n + 1;
    int rc = dt_st_get(f, name, DT_U8, 1, NULL, &b, &nb, err);
    if (rc) return rc;
    snprintf(key, sizeof key, "%s_off", name);
    rc = dt_st_get(f, key, DT_I64, 1, &no, &o, NULL, err);
    if (rc) return rc;
    const char *s = b;
    const int64_t *of = o;
    if (of[0] != 0) return dt_err(err, DUET_EFORMAT, "%s: '%s' does not start at offset 0", dt_st_name(f), key);
    for (int64_t i = 0; i < n; i++) {
        if (of[i + 1] <= of[i] || of[i + 1] > nb || of[i + 1] - of[i] < min_len + 1)
            return dt_err(err, DUET_EFORMAT, "%s: '%s' offset %lld = %lld is out of range (previous %lld, %lld bytes)",
                          dt_st_name(f), key, (long long)(i + 1), (long long)of[i + 1], (long long)of[i], (long long)nb);
        size_t l = (size_t)(of[i + 1] - of[i]);
        if (s[of[i + 1] - 1] != 0 || memchr(s + of[i], 0, l - 1))
            return dt_err(err, DUET_EFORMAT, "%s: '%s' string %lld is not NUL-terminated", dt_st_name(f), name, (long long)i);
    }
    if (of[n] != nb)
        return dt_err(err, DUET_EFORMAT, "%s: '%s' ends at %lld but '%s' has %lld bytes", dt_st_name(f), key,
                      (long long)of[n], name, (long long)nb);
    *bytes = s;
    *off = of;
    return DUET_OK;
}
