/* subset.c — new datasets made of chosen rows of others (splits, folds, real rows joined by
 * synthetic ones), and one-row views.
 * Not here: reading files (read_*.c) or featurizing (pipe.c).
 */
#include "data.h"

static char *pool_copy(dt_pool *pool, const char *s, int *oom) {
    if (!s) return NULL;
    char *c = dt_pool_strdup(pool, s);
    if (!c) *oom = 1;
    return c;
}

/* Rows idx[0..n) of d (all rows when idx is NULL), one part of a gather. */
typedef struct {
    const duet_data *d;
    const int64_t *idx;
    int64_t n;
} part;

static int64_t row_of(const part *p, int64_t i) { return p->idx ? p->idx[i] : i; }

/* A new dataset of the rows of parts[0..np), in order; every part has ps[0]'s kind and shape. */
static int gather(duet_ctx *ctx, const part *ps, int np, duet_data **out, duet_err *err) {
    *out = NULL;
    const duet_data *d0 = ps[0].d;
    duet_data *s = NULL;
    int rc = dt_data_new(ctx, d0->kind, d0->src ? d0->src : "data", &s, err);
    if (rc) return rc;
    int oom = 0, labelled = 1;
    int64_t n = 0;
    size_t nnz = 0;
    for (int j = 0; j < np; j++) {
        n += ps[j].n;
        labelled &= ps[j].d->labels != NULL;
        if (d0->kind == DUET_DATA_SPARSE)
            for (int64_t i = 0; i < ps[j].n; i++) {
                int64_t r = row_of(&ps[j], i);
                nnz += (size_t)(ps[j].d->rowptr[r + 1] - ps[j].d->rowptr[r]);
            }
    }
    size_t nn = (size_t)(n ? n : 1), C = (size_t)(d0->C ? d0->C : 1), D = (size_t)d0->D, cells;
    s->N = n;
    s->C = d0->C;
    s->D = d0->D;
    s->H = d0->H;
    s->W = d0->W;
    if (labelled && !(s->labels = dt_calloc(ctx, nn, sizeof(char *)))) goto oom;
    switch (d0->kind) {
    case DUET_DATA_TEXT:
        if (!(s->text = dt_calloc(ctx, nn, sizeof(char *)))) goto oom;
        break;
    case DUET_DATA_TABLE:
        if (!dt_mul_ok(nn, C, &cells)) goto oom;
        s->colnames = dt_calloc(ctx, C, sizeof(char *));
        s->cells = dt_calloc(ctx, cells, sizeof(char *));
        if (!s->colnames || !s->cells) goto oom;
        for (int64_t c = 0; c < d0->C; c++) s->colnames[c] = pool_copy(&s->pool, d0->colnames[c], &oom);
        break;
    case DUET_DATA_DENSE:
        if (!(s->x = dt_alloc_e(ctx, nn, (D ? D : 1) * sizeof(float), "subset", err))) goto oom;
        break;
    case DUET_DATA_SPARSE:
        s->rowptr = dt_calloc(ctx, nn + 1, sizeof(int64_t));
        s->col = dt_calloc(ctx, nnz ? nnz : 1, sizeof(int32_t));
        s->val = dt_calloc(ctx, nnz ? nnz : 1, sizeof(float));
        if (!s->rowptr || !s->col || !s->val) goto oom;
        break;
    default:
        break;
    }
    int64_t o = 0, p = 0;
    for (int j = 0; j < np; j++) {
        const duet_data *d = ps[j].d;
        for (int64_t i = 0; i < ps[j].n; i++, o++) {
            int64_t r = row_of(&ps[j], i);
            if (s->labels) s->labels[o] = pool_copy(&s->pool, d->labels[r], &oom);
            switch (d0->kind) {
            case DUET_DATA_TEXT:
                s->text[o] = pool_copy(&s->pool, d->text[r], &oom);
                break;
            case DUET_DATA_TABLE:
                for (int64_t c = 0; c < d0->C; c++) s->cells[o * d0->C + c] = pool_copy(&s->pool, d->cells[r * d0->C + c], &oom);
                break;
            case DUET_DATA_DENSE:
                memcpy(s->x + (size_t)o * D, d->x + (size_t)r * D, D * sizeof(float));
                break;
            case DUET_DATA_SPARSE:
                for (int64_t q = d->rowptr[r]; q < d->rowptr[r + 1]; q++, p++) {
                    s->col[p] = d->col[q];
                    s->val[p] = d->val[q];
                }
                s->rowptr[o + 1] = p;
                if (d->D > s->D) s->D = d->D;
                break;
            default:
                break;
            }
        }
    }
    if (oom) goto oom;
    *out = s;
    return DUET_OK;
oom:
    dt_data_free(s);
    return dt_err(err, DUET_ENOMEM, "%s: out of memory copying %lld rows", d0->src ? d0->src : "data", (long long)n);
}

int dt_data_subset(duet_ctx *ctx, const duet_data *d, const int64_t *idx, int64_t n, duet_data **out, duet_err *err) {
    part p = {d, idx, n};
    return gather(ctx, &p, 1, out, err);
}

int dt_data_concat(duet_ctx *ctx, const duet_data *a, const duet_data *b, duet_data **out, duet_err *err) {
    *out = NULL;
    if (a->kind != b->kind) return dt_err(err, DUET_EINVAL, "%s and %s: different kinds of data cannot be joined", a->src, b->src);
    if ((a->kind == DUET_DATA_TABLE && a->C != b->C) || (a->kind == DUET_DATA_DENSE && a->D != b->D))
        return dt_err(err, DUET_EINVAL, "%s has %lld columns, %s %lld: they cannot be joined", a->src,
                      (long long)(a->kind == DUET_DATA_TABLE ? a->C : a->D), b->src,
                      (long long)(b->kind == DUET_DATA_TABLE ? b->C : b->D));
    if (!a->labels != !b->labels) return dt_err(err, DUET_EINVAL, "%s and %s: only one is labelled", a->src, b->src);
    part p[2] = {{a, NULL, a->N}, {b, NULL, b->N}};
    return gather(ctx, p, 2, out, err);
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
