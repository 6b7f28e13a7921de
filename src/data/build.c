/* build.c — datasets made from a program's own arrays (texts, table cells, dense values), with
 * no file or text to parse: a server's requests, an embedding program's rows. What goes in is
 * checked as a reader checks a file, and every message names the dataset and the row.
 * Not here: reading files (read_*.c), new datasets from other datasets (subset.c).
 */
#include "data.h"

#include <math.h>

/* s[*a..*n) without the blanks (spaces, tabs) around it, as the CSV reader trims a field. */
static void trim(const char *s, size_t *a, size_t *n) {
    while (*a < *n && (s[*a] == ' ' || s[*a] == '\t')) (*a)++;
    while (*n > *a && (s[*n - 1] == ' ' || s[*n - 1] == '\t')) (*n)--;
}

/* d->labels from labels (n; NULL: unlabelled): copied, blank ones refused. */
static int copy_labels(duet_data *d, const char *const *labels, int64_t n, duet_err *err) {
    if (!labels) return DUET_OK;
    if (!(d->labels = dt_calloc(d->ctx, (size_t)(n ? n : 1), sizeof(char *))))
        return dt_err(err, DUET_ENOMEM, "%s: out of memory", d->src);
    for (int64_t i = 0; i < n; i++) {
        const char *l = labels[i];
        size_t len = l ? strlen(l) : 0, a = 0, bad = 0;
        trim(l, &a, &len);
        if (a == len) return dt_err(err, DUET_EINVAL, "%s: row %lld: the label is missing", d->src, (long long)i + 1);
        if (!dt_utf8_valid(l + a, len - a, &bad))
            return dt_err(err, DUET_EINVAL, "%s: row %lld: the label is not UTF-8 (byte %zu)", d->src, (long long)i + 1, a + bad + 1);
        if (!(d->labels[i] = dt_pool_strndup(&d->pool, l + a, len - a))) return dt_err(err, DUET_ENOMEM, "%s: out of memory", d->src);
    }
    return DUET_OK;
}

/* The end of every builder: d gets its rows and labels and goes to *out, or is freed. */
static int finish(duet_data *d, int64_t rows, const char *const *labels, duet_data **out, duet_err *err) {
    d->N = rows;
    int rc = copy_labels(d, labels, rows, err);
    if (rc) {
        dt_data_free(d);
        return rc;
    }
    *out = d;
    return DUET_OK;
}

static int check_shape(const char *name, int64_t rows, int64_t cols, duet_err *err) {
    if (rows < 1) return dt_err(err, DUET_EINVAL, "%s: no rows", name);
    if (cols < 1) return dt_err(err, DUET_EINVAL, "%s: no columns", name);
    size_t cells;
    if (!dt_mul_ok((size_t)rows, (size_t)cols, &cells) || cells > (size_t)INT64_MAX / 8)
        return dt_err(err, DUET_EINVAL, "%s: %lld rows of %lld columns is more than memory can index", name, (long long)rows,
                      (long long)cols);
    return DUET_OK;
}

int dt_data_from_texts(duet_ctx *ctx, const char *name, const char *const *texts, int64_t n, const char *const *labels,
                       duet_data **out, duet_err *err) {
    *out = NULL;
    name = name ? name : "texts";
    if (!texts && n) return dt_err(err, DUET_EINVAL, "%s: texts is NULL", name);
    int rc = check_shape(name, n, 1, err);
    if (rc) return rc;
    duet_data *d = NULL;
    DT_TRY(dt_data_new(ctx, DUET_DATA_TEXT, name, &d, err));
    if (!(d->text = dt_calloc(ctx, (size_t)n, sizeof(char *)))) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", name));
    for (int64_t i = 0; i < n; i++) {
        const char *t = texts[i];
        size_t len = t ? strlen(t) : 0, k = 0, bad = 0;
        while (k < len && (t[k] == ' ' || (t[k] >= '\t' && t[k] <= '\r'))) k++;
        if (k == len) DT_TRY(dt_err(err, DUET_EINVAL, "%s: text %lld is empty", name, (long long)i + 1));
        if (!dt_utf8_valid(t, len, &bad))
            DT_TRY(dt_err(err, DUET_EINVAL, "%s: text %lld is not UTF-8 (byte %zu)", name, (long long)i + 1, bad + 1));
        if (!(d->text[i] = dt_pool_strdup(&d->pool, t))) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", name));
    }
    return finish(d, n, labels, out, err);
fail:
    dt_data_free(d);
    return rc;
}

int dt_data_from_table(duet_ctx *ctx, const char *name, const char *const *colnames, int64_t cols, const char *const *cells,
                       int64_t rows, const char *const *labels, duet_data **out, duet_err *err) {
    *out = NULL;
    name = name ? name : "table";
    if (!cells) return dt_err(err, DUET_EINVAL, "%s: cells is NULL", name);
    int rc = check_shape(name, rows, cols, err);
    if (rc) return rc;
    duet_data *d = NULL;
    DT_TRY(dt_data_new(ctx, DUET_DATA_TABLE, name, &d, err));
    size_t n = (size_t)rows * (size_t)cols;
    d->colnames = dt_calloc(ctx, (size_t)cols, sizeof(char *));
    d->cells = dt_calloc(ctx, n, sizeof(char *));
    if (!d->colnames || !d->cells) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", name));
    for (int64_t c = 0; c < cols; c++) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)c + 1);
        const char *nm = colnames && colnames[c] && colnames[c][0] ? colnames[c] : num;
        size_t bad = 0;
        if (!dt_utf8_valid(nm, strlen(nm), &bad))
            DT_TRY(dt_err(err, DUET_EINVAL, "%s: the name of column %lld is not UTF-8 (byte %zu)", name, (long long)c + 1, bad + 1));
        if (!(d->colnames[c] = dt_pool_strdup(&d->pool, nm))) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", name));
    }
    for (size_t k = 0; k < n; k++) {
        const char *v = cells[k];
        if (!v) continue; /* missing */
        size_t len = strlen(v), a = 0, bad = 0;
        trim(v, &a, &len);
        if (dt_cell_missing(v + a, len - a)) continue;
        if (!dt_utf8_valid(v + a, len - a, &bad))
            DT_TRY(dt_err(err, DUET_EINVAL, "%s: row %lld, column %lld is not UTF-8 (byte %zu)", name, (long long)(k / (size_t)cols) + 1,
                          (long long)(k % (size_t)cols) + 1, a + bad + 1));
        if (!(d->cells[k] = dt_pool_strndup(&d->pool, v + a, len - a))) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", name));
    }
    d->C = cols;
    return finish(d, rows, labels, out, err);
fail:
    dt_data_free(d);
    return rc;
}

int dt_data_from_dense(duet_ctx *ctx, const char *name, const float *x, int64_t rows, int64_t cols, const char *const *labels,
                       duet_data **out, duet_err *err) {
    *out = NULL;
    name = name ? name : "values";
    if (!x) return dt_err(err, DUET_EINVAL, "%s: x is NULL", name);
    int rc = check_shape(name, rows, cols, err);
    if (rc) return rc;
    size_t n = (size_t)rows * (size_t)cols;
    for (size_t k = 0; k < n; k++)
        if (!isfinite(x[k]))
            return dt_err(err, DUET_EINVAL, "%s: row %lld, column %lld is not a finite number", name, (long long)(k / (size_t)cols) + 1,
                          (long long)(k % (size_t)cols) + 1);
    duet_data *d = NULL;
    DT_TRY(dt_data_new(ctx, DUET_DATA_DENSE, name, &d, err));
    if (!(d->x = dt_alloc_e(ctx, n, sizeof(float), name, err))) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    memcpy(d->x, x, n * sizeof(float));
    d->D = cols;
    return finish(d, rows, labels, out, err);
fail:
    dt_data_free(d);
    return rc;
}
