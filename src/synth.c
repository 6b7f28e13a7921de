/* synth.c — generative models put to work on data: synthetic training sets
 * (duet_model_synthesize: drawn examples written in the format they were read from, so that
 * `duet train` reads them back) and missing values filled from a model's conditional
 * distribution (duet_model_impute).
 * Formats: a table as CSV with a header and the label last; text as label<TAB>text; images as
 * an IDX pair (the images file and its labels beside it), a PNG grid (.png) or a folder of PNGs
 * (a path ending in /). Files are written to a temporary name and renamed.
 * Not here: sampling and the conditionals themselves (each model), featurizing (the pipeline).
 */
#include <errno.h>
#include <math.h>

#include "core/dt.h"
#include "data/data.h"
#include "models/model.h"

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* One CSV field, quoted when it holds a separator, quote or line break. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The header row of a table (the label's column last, named "label"); none when the columns
 * are only numbered ("1", "2", ...: the data had no header, and a row of numbers would read
 * back as data). */
static void header(FILE *f, const dt_pipe *p, int labelled) {
    int64_t C = dt_pipe_table_cols(p);
    int numbered = 1;
    for (int64_t c = 0; c < C && numbered; c++) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)c + 1);
        numbered = !strcmp(dt_pipe_table_colname(p, c), num);
    }
    if (numbered) return;
    for (int64_t c = 0; c < C; c++) {
        if (c) fputc(',', f);
        csv_field(f, dt_pipe_table_colname(p, c));
    }
    fputs(labelled ? ",label\n" : "\n", f);
}

/* Table samples (rows that are CSV text already) with a header and the label last. */
static void table_rows(FILE *f, const duet_model *m, const duet_data *s) {
    header(f, m->pipe, 1);
    for (int64_t i = 0; i < s->N; i++) {
        fputs(s->text[i], f);
        fputc(',', f);
        csv_field(f, s->labels[i]);
        fputc('\n', f);
    }
}

int dt_samples_table(duet_ctx *ctx, const duet_model *m, const duet_data *s, duet_data **out, duet_err *err) {
    *out = NULL;
    if (dt_pipe_kind(m->pipe) != DUET_DATA_TABLE || s->kind != DUET_DATA_TEXT || !s->labels)
        return dt_err(err, DUET_EINVAL, "%s: not a model's labelled table samples", s->src);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return dt_err(err, DUET_ENOMEM, "samples: out of memory");
    table_rows(f, m, s);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        free(buf);
        return dt_err(err, DUET_ENOMEM, "samples: out of memory");
    }
    char label[32];
    snprintf(label, sizeof label, "%lld", (long long)dt_pipe_table_cols(m->pipe) + 1);
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_CSV;
    o.sep = ',';
    o.label = label;
    int rc = dt_read_csv(ctx, "synthetic rows", buf, len, &o, out, err);
    free(buf); /* open_memstream's buffer comes from malloc */
    return rc;
}

static int finish_file(FILE *f, const char *tmp, const char *path, duet_err *err) {
    int bad = ferror(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return dt_err(err, DUET_EIO, "%s: write failed", path);
    }
    return DUET_OK;
}

/* The byte an IDX label file holds for class name `name` (class index k): the number it
 * spells (0..255), its Fashion-MNIST index, or k. */
static unsigned char idx_label(const char *name, int k) {
    static const char *const fashion[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                            "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};
    char *end;
    long v = strtol(name, &end, 10);
    if (end != name && !*end && v >= 0 && v <= 255) return (unsigned char)v;
    for (int i = 0; i < 10; i++)
        if (!strcmp(name, fashion[i])) return (unsigned char)i;
    return (unsigned char)k;
}

/* Images (N, H, W; values 0..255) as an IDX3 file at path and their labels as an IDX1 file at
 * path with "images" replaced by "labels" and "idx3" by "idx1" (or path + ".labels"). */
static int write_idx(duet_ctx *ctx, const duet_model *m, const duet_data *s, const char *path, duet_err *err) {
    char lpath[4096], tmp[4200];
    const char *at = strstr(path, "images");
    if (strlen(path) > 4000) return dt_err(err, DUET_EINVAL, "%s: path too long", path);
    if (at) snprintf(lpath, sizeof lpath, "%.*slabels%s", (int)(at - path), path, at + 6);
    else snprintf(lpath, sizeof lpath, "%s.labels", path);
    char *i3 = strstr(lpath, "idx3"); /* the MNIST naming: ...-images-idx3-ubyte, ...-labels-idx1-ubyte */
    if (i3) i3[3] = '1';
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass ? lpath : path;
        snprintf(tmp, sizeof tmp, "%s.tmp", p);
        FILE *f = fopen(tmp, "wb");
        if (!f) return dt_err(err, DUET_EIO, "%s: cannot write: %s", tmp, strerror(errno));
        unsigned char h[16] = {0, 0, 8, pass ? 1 : 3};
        uint32_t dims[3] = {(uint32_t)s->N, (uint32_t)s->H, (uint32_t)s->W};
        for (int d = 0; d < (pass ? 1 : 3); d++)
            for (int b = 0; b < 4; b++) h[4 + 4 * d + b] = (unsigned char)(dims[d] >> (24 - 8 * b));
        fwrite(h, 1, pass ? 8 : 16, f);
        for (int64_t i = 0; i < s->N; i++) {
            if (pass) {
                int k = 0;
                while (k < m->K - 1 && strcmp(m->classes[k], s->labels[i]) != 0) k++;
                fputc(idx_label(s->labels[i], k), f);
                continue;
            }
            for (int64_t j = 0; j < s->D; j++) {
                float v = s->x[(size_t)i * (size_t)s->D + (size_t)j];
                fputc(v <= 0 ? 0 : v >= 255 ? 255 : (int)lroundf(v), f);
            }
        }
        int rc = finish_file(f, tmp, p, err);
        if (rc) return rc;
    }
    (void)ctx;
    return DUET_OK;
}

int duet_model_synthesize(duet_ctx *ctx, const duet_model *m, const char *label, int64_t count, uint64_t seed,
                          const duet_sample_opts *opts, const char *path, duet_err *err) {
    if (!ctx || !m || !path || !path[0]) return dt_err(err, DUET_EINVAL, "duet_model_synthesize: missing argument");
    if (strlen(path) > 4000) return dt_err(err, DUET_EINVAL, "%s: path too long", path);
    int kind = dt_pipe_kind(m->pipe);
    if (kind != DUET_DATA_TABLE && kind != DUET_DATA_TEXT && kind != DUET_DATA_DENSE)
        return dt_err(err, DUET_EUNSUPPORTED, "%s: synthetic data is written for tables, text and images", m->ops->name);
    duet_data *s = NULL;
    int rc = duet_model_sample_ex(ctx, m, label, count, seed, opts, &s, err);
    if (rc) return rc;
    if (kind == DUET_DATA_DENSE) {
        rc = ends_with(path, ".png") || ends_with(path, "/") ? duet_data_write_png(ctx, s, path, 0, err)
                                                             : write_idx(ctx, m, s, path, err);
        dt_data_free(s);
        return rc;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        dt_data_free(s);
        return dt_err(err, DUET_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    if (kind == DUET_DATA_TABLE) {
        table_rows(f, m, s);
    } else {
        for (int64_t i = 0; i < s->N; i++) fprintf(f, "%s\t%s\n", s->labels[i], s->text[i]);
    }
    dt_data_free(s);
    return finish_file(f, tmp, path, err);
}

int duet_model_impute(duet_ctx *ctx, const duet_model *m, const duet_data *d, int draw, uint64_t seed, const char *path,
                      int64_t *filled, duet_err *err) {
    if (!ctx || !m || !d || !path || !filled) return dt_err(err, DUET_EINVAL, "duet_model_impute: missing argument");
    *filled = 0;
    if (!m->ops->impute) return dt_err(err, DUET_EUNSUPPORTED, "%s cannot fill missing values (naive Bayes on a table can)", m->ops->name);
    if (dt_pipe_kind(m->pipe) != DUET_DATA_TABLE || d->kind != DUET_DATA_TABLE)
        return dt_err(err, DUET_EINVAL, "%s: missing values are filled in tables, with a model trained on one", d->src);
    if (strlen(path) > 4000) return dt_err(err, DUET_EINVAL, "%s: path too long", path);
    int64_t C = dt_pipe_table_cols(m->pipe), D = m->D;
    dt_mat X = {0};
    unsigned char *miss = dt_calloc(ctx, (size_t)(d->N ? d->N : 1), (size_t)C);
    float *row = dt_alloc_e(ctx, (size_t)D, sizeof(float), "impute", err);
    char *buf = dt_alloc_e(ctx, 1 << 16, 1, "impute", err);
    FILE *f = NULL;
    char tmp[4200];
    int rc = DUET_OK;
    if (!miss || !row || !buf) {
        rc = dt_err(err, DUET_ENOMEM, "impute: out of memory");
        goto fail;
    }
    DT_TRY(dt_pipe_table_missing(m->pipe, d, miss, err));
    DT_TRY(dt_pipe_apply(ctx, m->pipe, d, &X, err));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w"))) {
        rc = dt_err(err, DUET_EIO, "%s: cannot write: %s", tmp, strerror(errno));
        goto fail;
    }
    header(f, m->pipe, d->labels != NULL);
    dt_rng r;
    dt_rng_seed(&r, seed);
    for (int64_t i = 0; i < d->N; i++) {
        const unsigned char *mi = miss + (size_t)i * (size_t)C;
        int k = d->labels ? dt_model_class(m, d->labels[i]) : -1; /* a label the model lacks: unknown */
        const float *x = X.x + (size_t)i * (size_t)D;
        int any = 0;
        for (int64_t c = 0; c < C; c++) any += mi[c];
        if (any) DT_TRY(m->ops->impute(ctx, m, x, mi, k, draw, &r, row, err));
        else memcpy(row, x, (size_t)D * sizeof(float));
        *filled += any;
        DT_TRY(dt_pipe_table_row(m->pipe, row, buf, 1 << 16, err));
        fputs(buf, f);
        if (d->labels) {
            fputc(',', f);
            csv_field(f, d->labels[i]);
        }
        fputc('\n', f);
    }
    rc = finish_file(f, tmp, path, err);
    f = NULL;
fail:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    dt_mat_free(ctx, &X);
    dt_free(ctx, miss);
    dt_free(ctx, row);
    dt_free(ctx, buf);
    return rc;
}

/* --- generate, then filter ----------------------------------------------------------------------- */

/* Appends rows idx[0..n) of src (DENSE or TEXT samples, labelled) to dst, growing its arrays. */
static int append_rows(duet_data *dst, const duet_data *src, const int64_t *idx, int64_t n, int64_t *cap, duet_err *err) {
    duet_ctx *ctx = dst->ctx;
    if (dst->N + n > *cap) {
        int64_t nc = (dst->N + n) * 2;
        void *p;
        if (src->kind == DUET_DATA_DENSE) {
            if (!(p = dt_realloc(ctx, dst->x, (size_t)nc * (size_t)src->D * sizeof(float)))) goto oom;
            dst->x = p;
        } else {
            if (!(p = dt_realloc(ctx, dst->text, (size_t)nc * sizeof(char *)))) goto oom;
            dst->text = p;
        }
        if (!(p = dt_realloc(ctx, dst->labels, (size_t)nc * sizeof(char *)))) goto oom;
        dst->labels = p;
        *cap = nc;
    }
    for (int64_t t = 0; t < n; t++) {
        int64_t i = idx[t], o = dst->N;
        if (src->kind == DUET_DATA_DENSE)
            memcpy(dst->x + (size_t)o * (size_t)src->D, src->x + (size_t)i * (size_t)src->D, (size_t)src->D * sizeof(float));
        else if (!(dst->text[o] = dt_pool_strdup(&dst->pool, src->text[i])))
            goto oom;
        if (!(dst->labels[o] = dt_pool_strdup(&dst->pool, src->labels[i]))) goto oom;
        dst->N++;
    }
    return DUET_OK;
oom:
    return dt_err(err, DUET_ENOMEM, "filter: out of memory");
}

int duet_model_sample_filtered(duet_ctx *ctx, const duet_model *m, const char *label, int64_t count, uint64_t seed,
                               const duet_sample_opts *opts, const duet_model *clf, const char *keep, double min_prob,
                               int64_t max_draws, duet_data **out, int64_t *drawn, duet_err *err) {
    if (!out || !drawn) return dt_err(err, DUET_EINVAL, "duet_model_sample_filtered: out and drawn are required");
    *out = NULL;
    *drawn = 0;
    if (!ctx || !m || !clf || !keep) return dt_err(err, DUET_EINVAL, "duet_model_sample_filtered: missing argument");
    if (!(clf->ops->caps & DUET_CAN_PREDICT)) return dt_err(err, DUET_EINVAL, "the filter %s cannot classify", clf->ops->name);
    int k = dt_model_class(clf, keep);
    if (k < 0) return dt_err(err, DUET_EINVAL, "'%s' is not one of the filter's classes", keep);
    if (!(min_prob >= 0 && min_prob <= 1)) return dt_err(err, DUET_EINVAL, "min-prob must be in [0, 1] (got %g)", min_prob);
    if (count < 1 || count > 10000000) return dt_err(err, DUET_EINVAL, "count must be in 1..10000000 (got %lld)", (long long)count);
    if (max_draws <= 0) max_draws = 100 * count;
    duet_data *acc = NULL, *s = NULL;
    int32_t *lab = NULL;
    float *P = NULL;
    int64_t *idx = NULL, cap = 0;
    int rc = DUET_OK;
    for (uint64_t round = 0; (acc ? acc->N : 0) < count && *drawn < max_draws; round++) {
        int64_t need = count - (acc ? acc->N : 0), b = need * 2 < 16 ? 16 : need * 2;
        if (b > max_draws - *drawn) b = max_draws - *drawn;
        DT_TRY(duet_model_sample_ex(ctx, m, label, b, seed + 0x9e3779b97f4a7c15ull * round, opts, &s, err));
        *drawn += b;
        if (!acc) {
            DT_TRY(dt_data_new(ctx, s->kind, "filtered samples", &acc, err));
            acc->D = s->D, acc->H = s->H, acc->W = s->W;
        }
        lab = dt_alloc_e(ctx, (size_t)b, sizeof(int32_t), "filter", err);
        P = dt_alloc_e(ctx, (size_t)b, (size_t)clf->K * sizeof(float), "filter", err);
        idx = dt_alloc_e(ctx, (size_t)b, sizeof(int64_t), "filter", err);
        if (!lab || !P || !idx) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        DT_TRY(duet_model_predict(ctx, clf, s, lab, P, err));
        int64_t n = 0;
        for (int64_t i = 0; i < b && n < need; i++)
            if (P[(size_t)i * (size_t)clf->K + (size_t)k] >= min_prob) idx[n++] = i;
        DT_TRY(append_rows(acc, s, idx, n, &cap, err));
        dt_data_free(s), s = NULL;
        dt_free(ctx, lab), lab = NULL;
        dt_free(ctx, P), P = NULL;
        dt_free(ctx, idx), idx = NULL;
        DT_TRY(dt_check_abort(ctx, "filter", err));
    }
    *out = acc;
    acc = NULL;
fail:
    dt_data_free(acc);
    dt_data_free(s);
    dt_free(ctx, lab);
    dt_free(ctx, P);
    dt_free(ctx, idx);
    return rc;
}
