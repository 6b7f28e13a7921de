/* subset.c — new datasets made of chosen rows of another (splits, folds), and one-row views.
 * Not here: reading files (read_*.c) or featurizing (pipe.c).
 */
#include "data.h"

static char *pool_copy(dt_pool *pool, const char *s, int *oom) {
    if (!s) return NULL;
    char *c = dt_pool_strdup(pool, s);
    if (!c) *oom = 1;
    return c;
}

int dt_data_subset(duet_ctx *ctx, const duet_data *d, const int64_t *idx, int64_t n,
                   duet_data **out, duet_err *err) {
    *out = NULL;
    duet_data *s = NULL;
    int rc = dt_data_new(ctx, d->kind, d->src ? d->src : "data", &s, err);
    if (rc) return rc;
    int oom = 0;
    size_t nn = (size_t)(n ? n : 1);
    s->N = n;
    s->C = d->C;
    s->D = d->D;
    s->H = d->H;
    s->W = d->W;
    if (d->labels) {
        s->labels = dt_calloc(ctx, nn, sizeof(char *));
        if (!s->labels) goto oom;
        for (int64_t i = 0; i < n; i++) s->labels[i] = pool_copy(&s->pool, d->labels[idx[i]], &oom);
    }
    switch (d->kind) {
    case DUET_DATA_TEXT:
        s->text = dt_calloc(ctx, nn, sizeof(char *));
        if (!s->text) goto oom;
        for (int64_t i = 0; i < n; i++) s->text[i] = pool_copy(&s->pool, d->text[idx[i]], &oom);
        break;
    case DUET_DATA_TABLE: {
        size_t cells;
        if (!dt_mul_ok(nn, (size_t)(d->C ? d->C : 1), &cells)) goto oom;
        s->colnames = dt_calloc(ctx, (size_t)(d->C ? d->C : 1), sizeof(char *));
        s->cells = dt_calloc(ctx, cells, sizeof(char *));
        if (!s->colnames || !s->cells) goto oom;
        for (int64_t c = 0; c < d->C; c++) s->colnames[c] = pool_copy(&s->pool, d->colnames[c], &oom);
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < d->C; c++)
                s->cells[i * d->C + c] = pool_copy(&s->pool, d->cells[idx[i] * d->C + c], &oom);
        break;
    }
    case DUET_DATA_DENSE:
        s->x = dt_calloc(ctx, nn * (size_t)(d->D ? d->D : 1), sizeof(float));
        if (!s->x) goto oom;
        for (int64_t i = 0; i < n; i++)
            memcpy(s->x + (size_t)i * (size_t)d->D, d->x + (size_t)idx[i] * (size_t)d->D, (size_t)d->D * sizeof(float));
        break;
    case DUET_DATA_SPARSE: {
        size_t nnz = 0;
        for (int64_t i = 0; i < n; i++) nnz += (size_t)(d->rowptr[idx[i] + 1] - d->rowptr[idx[i]]);
        s->rowptr = dt_calloc(ctx, nn + 1, sizeof(int64_t));
        s->col = dt_calloc(ctx, nnz ? nnz : 1, sizeof(int32_t));
        s->val = dt_calloc(ctx, nnz ? nnz : 1, sizeof(float));
        if (!s->rowptr || !s->col || !s->val) goto oom;
        int64_t p = 0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t q = d->rowptr[idx[i]]; q < d->rowptr[idx[i] + 1]; q++, p++) {
                s->col[p] = d->col[q];
                s->val[p] = d->val[q];
            }
            s->rowptr[i + 1] = p;
        }
        break;
    }
    default:
        break;
    }
    if (oom) goto oom;
    *out = s;
    return DUET_OK;
oom:
    dt_data_free(s);
    return dt_err(err, DUET_ENOMEM, "%s: out of memory copying %lld rows", d->src ? d->src : "data", (long long)n);
}

void dt_data_view_row(const duet_data *d, int64_t i, duet_data *v) {
    *v = *d;
    v->N = 1;
    v->pool.head = NULL;
    if (d->labels) v->labels = d->labels + i;
    if (d->text) v->text = d->text + i;
    if (d->cells) v->cells = d->cells + i * d->C;
    if (d->x) v->x = d->x + (size_t)i * (size_t)d->D;
    if (d->rowptr) v->rowptr = d->rowptr + i;
}
