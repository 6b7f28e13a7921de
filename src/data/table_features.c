/* table_features.c — tables, dense vectors (images) and sparse vectors to feature matrices.
 * Tables: a column is numeric when every non-missing training value parses as a finite
 * double (strtod over the whole cell, surrounding spaces allowed), else categorical.
 * Numeric columns are standardised with the training mean and population std (std 0 -> 1)
 * unless no_scale; a missing value becomes the mean (0 after scaling) and, when training had
 * missing values there, sets a "name?" indicator feature. Categorical columns are one-hot over
 * the sorted training categories ("name=value"); unknown categories give all zeros; missing
 * ones set "name?". A missing cell is NULL (or empty).
 * Raw features (DT_FEATURES_RAW, for trees): one feature per column instead, numbers as they are
 * and categories as their index among the sorted training categories, a missing cell (or an
 * unknown category) NaN; no indicators.
 * Dense: values / 255 unless no_scale (or raw). Sparse: passed through, columns >= D dropped (the
 * dataset's own arrays, borrowed, when nothing is dropped).
 * Not here: text (text_features.c), dispatch and model-file string lists (pipe.c).
 */
#include <ctype.h>
#include <math.h>

#include "features.h"

static int missing(const char *s) { return !s || !s[0]; }

/* A whole cell as a finite double. */
static int parse_num(const char *s, double *out) {
    size_t n = strlen(s);
    double v;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n || !dt_parse_double(s, n, &v) || !isfinite(v)) return 0; /* strtod's number, fast */
    *out = v;
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Features of a column and the next column's first feature. */
static int64_t col_width(const dt_table_pipe *t, const dt_table_col *c) {
    return t->codes ? 1 : (c->categorical ? c->ncat : 1) + c->missing;
}

static int set_layout(dt_pipe *p, const char *where, int code, duet_err *err) {
    int64_t D = 0;
    for (int64_t c = 0; c < p->table.C; c++) {
        p->table.cols[c].first = D;
        D += col_width(&p->table, &p->table.cols[c]);
        if (D > DT_PIPE_MAX_DIM)
            return dt_err(err, code, "%s: more than %lld table features", where, (long long)DT_PIPE_MAX_DIM);
    }
    if (D < 1) return dt_err(err, code, "%s: the table gives no features", where);
    p->D = D;
    return DUET_OK;
}

/* Column c's kind and statistics from every cell: missing cells, whether all others are
 * numbers, and then their range, whether whole, mean and population std (scaled features). */
static void scan_column(dt_table_pipe *t, const duet_data *d, int64_t c) {
    dt_table_col *col = &t->cols[c];
    double sum = 0, v;
    int64_t n = 0;
    col->lo = INFINITY, col->hi = -INFINITY, col->integral = 1;
    for (int64_t i = 0; i < d->N; i++) {
        const char *s = d->cells[i * d->C + c];
        if (missing(s)) col->missing = 1;
        else if (!col->categorical) {
            if (parse_num(s, &v)) {
                sum += v;
                n++;
                col->lo = v < col->lo ? v : col->lo;
                col->hi = v > col->hi ? v : col->hi;
                col->integral &= v == floor(v) && fabs(v) < 1e15;
            } else col->categorical = 1;
        }
    }
    if (!n) col->lo = 1, col->hi = 0, col->integral = 0;
    col->mean = 0, col->std = 1;
    if (col->categorical || t->codes) return; /* raw numbers: no mean or scale to learn */
    col->mean = n ? sum / (double)n : 0;
    double ss = 0;
    for (int64_t i = 0; i < d->N; i++) {
        const char *s = d->cells[i * d->C + c];
        if (!missing(s) && parse_num(s, &v)) ss += (v - col->mean) * (v - col->mean);
    }
    col->std = n ? sqrt(ss / (double)n) : 1;
    if (!(col->std > 0) || !isfinite(col->std)) col->std = 1;
}

int dt_table_fit(dt_pipe *p, const duet_data *d, const duet_train_params *tp, int features, duet_err *err) {
    dt_table_pipe *t = &p->table;
    const char *src = d->src ? d->src : "data";
    if (d->C < 1 || d->C > DT_PIPE_MAX_DIM) return dt_err(err, DUET_EINVAL, "%s: %lld columns", src, (long long)d->C);
    t->C = d->C;
    t->codes = features == DT_FEATURES_RAW;
    t->scale = !tp->no_scale && !t->codes;
    t->cols = dt_calloc(p->ctx, (size_t)t->C, sizeof(dt_table_col));
    const char **vals = dt_calloc(p->ctx, (size_t)d->N, sizeof(char *));
    int rc = DUET_OK;
    if (!t->cols || !vals) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", src);
        goto fail;
    }
    /* every cell of every column parsed: columns in parallel (nothing allocated in there) */
#pragma omp parallel for schedule(dynamic, 1) num_threads(dt_threads(p->ctx)) if (d->N * t->C > 100000)
    for (int64_t c = 0; c < t->C; c++) scan_column(t, d, c);
    for (int64_t c = 0; c < t->C; c++) {
        dt_table_col *col = &t->cols[c];
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)c + 1);
        col->name = dt_pool_strdup(&t->pool, d->colnames && d->colnames[c] ? d->colnames[c] : num);
        if (!col->name) goto oom;
        if (!col->categorical) continue;
        size_t m = 0;
        for (int64_t i = 0; i < d->N; i++) {
            const char *s = d->cells[i * d->C + c];
            if (!missing(s)) vals[m++] = s;
        }
        qsort(vals, m, sizeof *vals, cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < m; i++)
            if (!u || strcmp(vals[u - 1], vals[i]) != 0) vals[u++] = vals[i];
        col->ncat = (int64_t)u;
        col->mean = 0;
        col->std = 1;
        col->cats = dt_pool_alloc(&t->pool, (u ? u : 1) * sizeof(char *));
        if (!col->cats) goto oom;
        for (size_t i = 0; i < u; i++)
            if (!(col->cats[i] = dt_pool_strdup(&t->pool, vals[i]))) goto oom;
    }
    rc = set_layout(p, src, DUET_EINVAL, err);
    dt_free(p->ctx, vals);
    return rc;
oom:
    rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", src);
fail:
    dt_free(p->ctx, vals);
    return rc;
}

int dt_pipe_raw_numbers(duet_ctx *ctx, const char *const *names, int64_t C, dt_pipe **out, duet_err *err) {
    *out = NULL;
    if (C < 1 || C > DT_PIPE_MAX_DIM) return dt_err(err, DUET_EINVAL, "a table of %lld columns", (long long)C);
    dt_pipe *p = dt_calloc(ctx, 1, sizeof *p);
    if (!p) return dt_err(err, DUET_ENOMEM, "feature pipeline: out of memory");
    p->ctx = ctx;
    p->kind = DUET_DATA_TABLE;
    dt_pool_init(&p->table.pool, ctx);
    dt_table_pipe *t = &p->table;
    t->C = C;
    t->codes = 1;
    int rc = DUET_OK;
    if (!(t->cols = dt_calloc(ctx, (size_t)C, sizeof(dt_table_col)))) {
        rc = dt_err(err, DUET_ENOMEM, "feature pipeline: out of memory");
        goto fail;
    }
    for (int64_t c = 0; c < C; c++) {
        dt_table_col *col = &t->cols[c];
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)c + 1);
        col->name = dt_pool_strdup(&t->pool, names && names[c] ? names[c] : num);
        col->cats = dt_pool_alloc(&t->pool, sizeof(char *));
        if (!col->name || !col->cats) {
            rc = dt_err(err, DUET_ENOMEM, "feature pipeline: out of memory");
            goto fail;
        }
        col->mean = 0, col->std = 1, col->lo = 1, col->hi = 0; /* range unknown */
    }
    DT_TRY(set_layout(p, "table", DUET_EINVAL, err));
    *out = p;
    return DUET_OK;
fail:
    dt_pipe_free(p);
    return rc;
}

static int64_t find_cat(const dt_table_col *c, const char *s) {
    int64_t lo = 0, hi = c->ncat - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int r = strcmp(c->cats[mid], s);
        if (!r) return mid;
        if (r < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* map (t->C): the data's column for each training column: by name when every training column
 * is there, else by position (same count). */
static int column_map(const dt_table_pipe *t, const duet_data *d, int64_t *map, duet_err *err) {
    int64_t found = 0;
    for (int64_t c = 0; c < t->C; c++) {
        map[c] = -1;
        for (int64_t k = 0; d->colnames && k < d->C; k++)
            if (d->colnames[k] && strcmp(d->colnames[k], t->cols[c].name) == 0) {
                map[c] = k;
                found++;
                break;
            }
    }
    if (found < t->C) {
        if (d->C != t->C) {
            int64_t c = 0;
            while (c < t->C && map[c] >= 0) c++;
            return dt_err(err, DUET_EINVAL, "%s: the table has %lld columns and no column '%s'; the model expects %lld columns",
                          d->src ? d->src : "data", (long long)d->C, t->cols[c].name, (long long)t->C);
        }
        for (int64_t c = 0; c < t->C; c++) map[c] = c;
    }
    return DUET_OK;
}

int dt_pipe_table_missing(const dt_pipe *p, const duet_data *d, unsigned char *miss, duet_err *err) {
    if (!p || p->kind != DUET_DATA_TABLE || d->kind != DUET_DATA_TABLE)
        return dt_err(err, DUET_EINVAL, "%s: missing values are looked for in tables", d->src ? d->src : "data");
    const dt_table_pipe *t = &p->table;
    int64_t *map = dt_calloc(p->ctx, (size_t)t->C, sizeof(int64_t));
    if (!map) return dt_err(err, DUET_ENOMEM, "out of memory");
    int rc = column_map(t, d, map, err);
    for (int64_t i = 0; !rc && i < d->N; i++)
        for (int64_t c = 0; c < t->C; c++) miss[(size_t)i * (size_t)t->C + (size_t)c] = missing(d->cells[i * d->C + map[c]]);
    dt_free(p->ctx, map);
    return rc;
}

int dt_table_apply(const dt_pipe *p, const duet_data *d, dt_mat *out, duet_err *err) {
    const dt_table_pipe *t = &p->table;
    const char *src = d->src ? d->src : "data";
    int rc = DUET_OK;
    int64_t *map = dt_calloc(p->ctx, (size_t)t->C, sizeof(int64_t));
    if (!map) return dt_err(err, DUET_ENOMEM, "%s: out of memory", src);
    DT_TRY(column_map(t, d, map, err));
    out->N = d->N;
    out->D = p->D;
    out->x = dt_calloc(p->ctx, (size_t)(d->N ? d->N : 1), (size_t)p->D * sizeof(float));
    if (!out->x) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory for %lld x %lld features", src, (long long)d->N, (long long)p->D);
        goto fail;
    }
    /* rows in parallel; the first row with a cell that is not a number is the one named */
    int64_t bad = d->N, bad_col = 0;
#pragma omp parallel for schedule(static) num_threads(dt_threads(p->ctx)) if (d->N * t->C > 100000)
    for (int64_t i = 0; i < d->N; i++) {
        float *x = out->x + (size_t)i * (size_t)p->D;
        for (int64_t c = 0; c < t->C; c++) {
            const dt_table_col *col = &t->cols[c];
            const char *s = d->cells[i * d->C + map[c]];
            float *f = x + col->first;
            if (missing(s)) {
                if (t->codes) f[0] = NAN;
                else if (!col->categorical) f[0] = t->scale ? 0.0f : (float)col->mean;
                if (col->missing && !t->codes) f[col_width(t, col) - 1] = 1;
                continue;
            }
            if (col->categorical) {
                int64_t k = find_cat(col, s);
                if (t->codes) f[0] = k >= 0 ? (float)k : NAN;
                else if (k >= 0) f[k] = 1;
                continue;
            }
            double v;
            if (!parse_num(s, &v)) {
#pragma omp critical(dt_table_bad)
                if (i < bad) bad = i, bad_col = c;
                break;
            }
            f[0] = (float)(t->scale ? (v - col->mean) / col->std : v);
        }
    }
    if (bad < d->N)
        rc = dt_err(err, DUET_EFORMAT, "%s: row %lld, column %s: '%.40s' is not a number", src, (long long)bad + 1,
                    t->cols[bad_col].name, d->cells[bad * d->C + map[bad_col]]);
fail:
    dt_free(p->ctx, map);
    if (rc) dt_mat_free(p->ctx, out);
    return rc;
}

static int64_t col_of(const dt_table_pipe *t, int64_t j) {
    int64_t lo = 0, hi = t->C - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (t->cols[mid].first <= j) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

const char *dt_table_feature_name(const dt_pipe *p, int64_t j, char *buf, size_t len) {
    const dt_table_col *col = &p->table.cols[col_of(&p->table, j)];
    int64_t k = j - col->first;
    if (p->table.codes) snprintf(buf, len, "%s", col->name);
    else if (col->missing && k == col_width(&p->table, col) - 1) snprintf(buf, len, "%s?", col->name);
    else if (col->categorical) snprintf(buf, len, "%s=%s", col->name, col->cats[k]);
    else snprintf(buf, len, "%s", col->name);
    return buf;
}

/* Appends s to buf as one CSV field. */
static int put_field(char *buf, size_t len, size_t *pos, const char *s, int first) {
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    size_t need = strlen(s) + 3 + (first ? 0 : 1);
    for (const char *q = s; quote && *q; q++) need += *q == '"';
    if (*pos + need >= len) return 0;
    if (!first) buf[(*pos)++] = ',';
    if (quote) buf[(*pos)++] = '"';
    for (const char *q = s; *q; q++) {
        if (quote && *q == '"') buf[(*pos)++] = '"';
        buf[(*pos)++] = *q;
    }
    if (quote) buf[(*pos)++] = '"';
    buf[*pos] = 0;
    return 1;
}

int64_t dt_pipe_table_cols(const dt_pipe *p) { return p && p->kind == DUET_DATA_TABLE ? p->table.C : 0; }

const char *dt_pipe_table_colname(const dt_pipe *p, int64_t c) {
    return p && p->kind == DUET_DATA_TABLE && c >= 0 && c < p->table.C ? p->table.cols[c].name : NULL;
}

int64_t dt_pipe_categories(const dt_pipe *p, int64_t j) {
    if (!p || p->kind != DUET_DATA_TABLE || !p->table.codes || j < 0 || j >= p->table.C) return 0;
    return p->table.cols[j].categorical ? p->table.cols[j].ncat : 0;
}

const char *dt_pipe_category(const dt_pipe *p, int64_t j, int64_t k) {
    if (!dt_pipe_categories(p, j) || k < 0 || k >= p->table.cols[j].ncat) return NULL;
    return p->table.cols[j].cats[k];
}

int dt_pipe_table_col(const dt_pipe *p, int64_t c, int *categorical, int64_t *first, int64_t *n, int64_t *miss) {
    if (!p || p->kind != DUET_DATA_TABLE || p->table.codes || c < 0 || c >= p->table.C) return 0;
    const dt_table_col *col = &p->table.cols[c];
    *categorical = col->categorical;
    *first = col->first;
    *n = col->categorical ? col->ncat : 1;
    *miss = col->missing ? col->first + *n : -1;
    return 1;
}

int dt_pipe_table_row(const dt_pipe *p, const float *x, char *buf, size_t len, duet_err *err) {
    if (!p || p->kind != DUET_DATA_TABLE || p->table.codes)
        return dt_err(err, DUET_EINVAL, "dt_pipe_table_row: not a table pipeline of scaled and one-hot features");
    if (!buf || !len) return dt_err(err, DUET_ERANGE, "dt_pipe_table_row: no buffer");
    const dt_table_pipe *t = &p->table;
    size_t pos = 0;
    buf[0] = 0;
    for (int64_t c = 0; c < t->C; c++) {
        const dt_table_col *col = &t->cols[c];
        const float *f = x + col->first;
        char num[64];
        const char *s = "";
        if (col->categorical) {
            int64_t best = -1;
            float bv = 0;
            for (int64_t k = 0; k < col_width(t, col); k++)
                if (best < 0 || f[k] > bv) {
                    best = k;
                    bv = f[k];
                }
            if (best >= 0 && best < col->ncat) s = col->cats[best];
        } else if (!(col->missing && f[1] > 0.5f)) {
            /* back to the column's units, within its training range, whole when it was */
            double v = t->scale ? (double)f[0] * col->std + col->mean : (double)f[0];
            if (col->lo <= col->hi) v = v < col->lo ? col->lo : v > col->hi ? col->hi : v;
            if (col->integral) snprintf(num, sizeof num, "%.0f", round(v));
            else snprintf(num, sizeof num, "%g", v);
            s = num;
        }
        if (!put_field(buf, len, &pos, s, c == 0))
            return dt_err(err, DUET_ERANGE, "table row: buffer of %zu bytes is too small", len);
    }
    return DUET_OK;
}

// --- model file ---------------------------------------------------------------------------------

int dt_table_save(const dt_pipe *p, dt_st_writer *w, duet_err *err) {
    const dt_table_pipe *t = &p->table;
    duet_ctx *ctx = p->ctx;
    size_t C = (size_t)t->C;
    int64_t total = 0;
    for (int64_t c = 0; c < t->C; c++) total += t->cols[c].ncat;
    char **names = dt_calloc(ctx, C, sizeof(char *));
    char **cats = dt_calloc(ctx, (size_t)(total ? total : 1), sizeof(char *));
    int32_t *flags = dt_calloc(ctx, C, sizeof(int32_t));
    int64_t *ncat = dt_calloc(ctx, C, sizeof(int64_t));
    double *mean = dt_calloc(ctx, C, sizeof(double)), *sd = dt_calloc(ctx, C, sizeof(double));
    double *range = dt_calloc(ctx, 2 * C, sizeof(double));
    int rc = DUET_OK;
    if (!names || !cats || !flags || !ncat || !mean || !sd || !range) {
        rc = dt_err(err, DUET_ENOMEM, "table features: out of memory");
        goto fail;
    }
    int64_t k = 0;
    for (size_t c = 0; c < C; c++) {
        const dt_table_col *col = &t->cols[c];
        names[c] = col->name;
        flags[c] = (col->categorical ? 1 : 0) | (col->missing ? 2 : 0) | (col->integral && !col->categorical ? 4 : 0);
        range[2 * c] = col->lo, range[2 * c + 1] = col->hi;
        ncat[c] = col->ncat;
        mean[c] = col->mean;
        sd[c] = col->std;
        for (int64_t i = 0; i < col->ncat; i++) cats[k++] = col->cats[i];
    }
    DT_TRY(dt_st_metaf(w, err, "pipe.C", "%lld", (long long)t->C));
    DT_TRY(dt_st_metaf(w, err, "pipe.scale", "%d", t->scale));
    if (t->codes) DT_TRY(dt_st_metaf(w, err, "pipe.codes", "%d", t->codes));
    DT_TRY(dt_st_metaf(w, err, "pipe.ncat", "%lld", (long long)total));
    DT_TRY(dt_pipe_strings_save(ctx, w, "pipe.colnames", names, t->C, err));
    if (total) DT_TRY(dt_pipe_strings_save(ctx, w, "pipe.cats", cats, total, err));
    DT_TRY(dt_st_add1(w, "pipe.col_flags", DT_I32, t->C, flags, err));
    DT_TRY(dt_st_add1(w, "pipe.col_ncat", DT_I64, t->C, ncat, err));
    DT_TRY(dt_st_add1(w, "pipe.mean", DT_F64, t->C, mean, err));
    DT_TRY(dt_st_add1(w, "pipe.std", DT_F64, t->C, sd, err));
    DT_TRY(dt_st_add1(w, "pipe.range", DT_F64, 2 * t->C, range, err));
fail:
    dt_free(ctx, range);
    dt_free(ctx, names);
    dt_free(ctx, cats);
    dt_free(ctx, flags);
    dt_free(ctx, ncat);
    dt_free(ctx, mean);
    dt_free(ctx, sd);
    return rc;
}

int dt_table_load(dt_pipe *p, const dt_st_file *f, duet_err *err) {
    dt_table_pipe *t = &p->table;
    const char *fn = dt_st_name(f);
    int64_t scale, total, codes = 0, sum = 0;
    int rc = DUET_OK;
    DT_TRY(dt_st_meta_i64(f, "pipe.C", 1, DT_PIPE_MAX_DIM, &t->C, err));
    DT_TRY(dt_st_meta_i64(f, "pipe.scale", 0, 1, &scale, err));
    if (dt_st_meta_get(f, "pipe.codes")) DT_TRY(dt_st_meta_i64(f, "pipe.codes", 0, 1, &codes, err));
    t->codes = (int)codes;
    DT_TRY(dt_st_meta_i64(f, "pipe.ncat", 0, DT_PIPE_MAX_DIM, &total, err));
    t->scale = (int)scale;
    const void *fl, *nc, *mn, *sd;
    const char *nb, *cb = NULL;
    const int64_t *no, *co = NULL;
    DT_TRY(dt_st_get(f, "pipe.col_flags", DT_I32, 1, &t->C, &fl, NULL, err));
    DT_TRY(dt_st_get(f, "pipe.col_ncat", DT_I64, 1, &t->C, &nc, NULL, err));
    DT_TRY(dt_st_get(f, "pipe.mean", DT_F64, 1, &t->C, &mn, NULL, err));
    DT_TRY(dt_st_get(f, "pipe.std", DT_F64, 1, &t->C, &sd, NULL, err));
    DT_TRY(dt_pipe_strings_load(f, "pipe.colnames", t->C, 0, &nb, &no, err));
    if (total) DT_TRY(dt_pipe_strings_load(f, "pipe.cats", total, 0, &cb, &co, err));
    const int32_t *flags = fl;
    const int64_t *ncat = nc;
    const double *mean = mn, *sdv = sd, *range = NULL; /* the range is absent from older files */
    if (dt_st_has(f, "pipe.range")) {
        int64_t n2 = 2 * t->C;
        const void *rg;
        DT_TRY(dt_st_get(f, "pipe.range", DT_F64, 1, &n2, &rg, NULL, err));
        range = rg;
    }
    t->cols = dt_calloc(p->ctx, (size_t)t->C, sizeof(dt_table_col));
    if (!t->cols) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", fn);
        goto fail;
    }
    for (int64_t c = 0; c < t->C; c++) {
        dt_table_col *col = &t->cols[c];
        if (flags[c] < 0 || flags[c] > 7 || ncat[c] < 0 || ncat[c] > total - sum || (!(flags[c] & 1) && ncat[c]) ||
            !isfinite(mean[c]) || !isfinite(sdv[c]) || !(sdv[c] > 0) || (range && (isnan(range[2 * c]) || isnan(range[2 * c + 1])))) {
            rc = dt_err(err, DUET_EFORMAT, "%s: table column %lld has invalid settings", fn, (long long)c + 1);
            goto fail;
        }
        col->categorical = flags[c] & 1;
        col->missing = (flags[c] >> 1) & 1;
        col->integral = (flags[c] >> 2) & 1;
        col->lo = range ? range[2 * c] : 1, col->hi = range ? range[2 * c + 1] : 0;
        col->mean = mean[c];
        col->std = sdv[c];
        col->ncat = ncat[c];
        col->name = dt_pool_strdup(&t->pool, nb + no[c]);
        col->cats = dt_pool_alloc(&t->pool, (size_t)(col->ncat ? col->ncat : 1) * sizeof(char *));
        if (!col->name || !col->cats) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", fn);
            goto fail;
        }
        for (int64_t i = 0; i < col->ncat; i++) {
            int64_t g = sum + i;
            if (i > 0 && strcmp(cb + co[g - 1], cb + co[g]) >= 0) {
                rc = dt_err(err, DUET_EFORMAT, "%s: categories of table column '%s' are not sorted and distinct", fn,
                            col->name);
                goto fail;
            }
            if (!(col->cats[i] = dt_pool_strdup(&t->pool, cb + co[g]))) {
                rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", fn);
                goto fail;
            }
        }
        sum += col->ncat;
    }
    if (sum != total) {
        rc = dt_err(err, DUET_EFORMAT, "%s: pipe.ncat = %lld but the columns hold %lld categories", fn, (long long)total,
                    (long long)sum);
        goto fail;
    }
    int64_t D = p->D;
    DT_TRY(set_layout(p, fn, DUET_EFORMAT, err));
    if (p->D != D) {
        rc = dt_err(err, DUET_EFORMAT, "%s: pipe.D = %lld but the table columns make %lld features", fn, (long long)D,
                    (long long)p->D);
        goto fail;
    }
fail:
    return rc; /* partial state is released by dt_pipe_free */
}

void dt_table_free(dt_pipe *p) {
    dt_free(p->ctx, p->table.cols);
    p->table.cols = NULL;
    dt_pool_clear(&p->table.pool);
}

// --- dense and sparse vectors --------------------------------------------------------------------

int dt_dense_apply(const dt_pipe *p, const duet_data *d, dt_mat *out, duet_err *err) {
    const char *src = d->src ? d->src : "data";
    if (d->D != p->D) {
        if (d->H > 0 && d->W > 0)
            return dt_err(err, DUET_EINVAL, "%s: images are %lldx%lld = %lld values, model expects %lld", src,
                          (long long)d->H, (long long)d->W, (long long)d->D, (long long)p->D);
        return dt_err(err, DUET_EINVAL, "%s: rows have %lld values, model expects %lld", src, (long long)d->D,
                      (long long)p->D);
    }
    size_t n;
    if (!dt_mul_ok((size_t)d->N, (size_t)p->D, &n)) return dt_err(err, DUET_ERANGE, "%s: too many values", src);
    out->N = d->N;
    out->D = p->D;
    out->x = dt_alloc_e(p->ctx, n ? n : 1, sizeof(float), "features", err);
    if (!out->x) return DUET_ENOMEM;
    float s = p->scale ? 1.0f / 255.0f : 1.0f;
    for (size_t i = 0; i < n; i++) out->x[i] = d->x[i] * s;
    return DUET_OK;
}

int dt_sparse_apply(const dt_pipe *p, const duet_data *d, dt_mat *out, duet_err *err) {
    const char *src = d->src ? d->src : "data";
    int64_t base = d->N ? d->rowptr[0] : 0;
    int64_t nnz = d->N ? d->rowptr[d->N] - base : 0;
    if (nnz < 0) return dt_err(err, DUET_EINVAL, "%s: bad row offsets", src);
    out->N = d->N;
    out->D = p->D;
    /* every column in range and offsets from 0 (the training data itself): the matrix is the
     * dataset's arrays, not a copy */
    int in_range = base == 0;
    uint32_t D32 = p->D < INT32_MAX ? (uint32_t)p->D : (uint32_t)INT32_MAX;
    for (int64_t q = 0; q < nnz && in_range; q += 256) { /* branch-free blocks: negatives wrap above D */
        int64_t e = q + 256 < nnz ? q + 256 : nnz;
        uint32_t bad = 0;
        for (int64_t t = q; t < e; t++) bad |= (uint32_t)d->col[t] >= D32;
        in_range = !bad;
    }
    if (in_range && d->N > 0) {
        out->rowptr = d->rowptr;
        out->col = d->col;
        out->val = d->val;
        out->borrowed = 1;
        return DUET_OK;
    }
    out->rowptr = dt_alloc_e(p->ctx, (size_t)d->N + 1, sizeof(int64_t), "features", err);
    out->col = dt_alloc_e(p->ctx, (size_t)(nnz ? nnz : 1), sizeof(int32_t), "features", err);
    out->val = dt_alloc_e(p->ctx, (size_t)(nnz ? nnz : 1), sizeof(float), "features", err);
    if (!out->rowptr || !out->col || !out->val) {
        dt_mat_free(p->ctx, out);
        return DUET_ENOMEM;
    }
    int64_t k = 0;
    out->rowptr[0] = 0;
    for (int64_t i = 0; i < d->N; i++) {
        for (int64_t q = d->rowptr[i]; q < d->rowptr[i + 1]; q++) {
            if (d->col[q] < 0 || d->col[q] >= p->D) continue;
            out->col[k] = d->col[q];
            out->val[k++] = d->val[q];
        }
        out->rowptr[i + 1] = k;
    }
    return DUET_OK;
}
