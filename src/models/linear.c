/* linear.c — the parts of logreg and svm that are the same: decision values, explanations by
 * weight x value, and the model file tensors "model.W" and "model.platt".
 * Not here: fitting (logreg.c, svm.c) or turning decision values into probabilities.
 */
#include "linear.h"

#include <math.h>

int dt_linear_new(duet_ctx *ctx, int V, int64_t D, dt_linear **out, duet_err *err) {
    dt_linear *l = dt_calloc(ctx, 1, sizeof *l);
    size_t n;
    if (!l || !dt_mul_ok((size_t)V, (size_t)D + 1, &n) || !(l->W = dt_calloc(ctx, n, sizeof(double)))) {
        dt_free(ctx, l);
        return dt_err(err, DUET_ENOMEM, "linear model: out of memory for %d x %lld weights", V, (long long)D + 1);
    }
    l->V = V;
    l->D = D;
    *out = l;
    return DUET_OK;
}

void dt_linear_decision(const dt_linear *l, const dt_mat *X, double *z) {
    int64_t D1 = l->D + 1;
#pragma omp parallel for schedule(static) if (X->N * D1 * l->V > 100000)
    for (int64_t i = 0; i < X->N; i++)
        for (int v = 0; v < l->V; v++) {
            const double *w = l->W + (size_t)v * (size_t)D1;
            z[i * l->V + v] = dt_mat_dot(X, i, w) + w[l->D];
        }
}

/* Weight of feature j for class k: the class's vector, or +-w for two classes (a regressor's
 * one vector, K 0, as it is). */
static double weight(const dt_linear *l, int K, int k, int64_t j) {
    int64_t D1 = l->D + 1;
    if (l->V == 1) return K == 2 && k == 0 ? -l->W[j] : l->W[j];
    return l->W[(size_t)k * (size_t)D1 + (size_t)j];
}

int dt_linear_explain(duet_ctx *ctx, const duet_model *m, const dt_mat *X, int64_t i, int k,
                      int64_t *feat, double *val, int64_t *n, duet_err *err) {
    (void)ctx;
    (void)err;
    const dt_linear *l = m->state;
    int64_t c = 0;
    if (X->x) {
        const float *r = X->x + (size_t)i * (size_t)X->D;
        for (int64_t j = 0; j < X->D; j++)
            if (r[j] != 0) {
                feat[c] = j;
                val[c++] = weight(l, m->K, k, j) * r[j];
            }
    } else {
        for (int64_t p = X->rowptr[i]; p < X->rowptr[i + 1]; p++) {
            feat[c] = X->col[p];
            val[c++] = weight(l, m->K, k, X->col[p]) * X->val[p];
        }
    }
    *n = c;
    return DUET_OK;
}

int dt_linear_weights(duet_ctx *ctx, const duet_model *m, int k, double *val, duet_err *err) {
    (void)ctx;
    (void)err;
    const dt_linear *l = m->state;
    for (int64_t j = 0; j < l->D; j++) val[j] = weight(l, m->K, k, j);
    return DUET_OK;
}

int dt_linear_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const dt_linear *l = m->state;
    int64_t shape[2] = {l->V, l->D + 1};
    int rc = dt_st_add(w, "model.W", DT_F64, 2, shape, l->W, err);
    if (rc) return rc;
    if ((rc = dt_st_meta(w, "model.softmax", l->softmax ? "1" : "0", err))) return rc;
    if (l->platt) {
        int64_t ps[2] = {l->V, 2};
        rc = dt_st_add(w, "model.platt", DT_F64, 2, ps, l->platt, err);
    }
    return rc;
}

int dt_linear_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    int V = m->K <= 2 ? 1 : m->K; /* one vector for two classes or a number */
    int64_t shape[2] = {V, m->D + 1}, got[8];
    const void *W = NULL, *P = NULL;
    int rc = dt_st_get(f, "model.W", DT_F64, 2, shape, &W, got, err);
    if (rc) return rc;
    dt_linear *l = NULL;
    if ((rc = dt_linear_new(ctx, V, m->D, &l, err))) return rc;
    size_t n = (size_t)V * (size_t)(m->D + 1);
    memcpy(l->W, W, n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        if (!isfinite(l->W[i])) {
            dt_linear_free(ctx, l);
            return dt_err(err, DUET_EFORMAT, "model.W holds a non-finite weight at %zu", i);
        }
    const char *sm = dt_st_meta_get(f, "model.softmax");
    l->softmax = sm && strcmp(sm, "1") == 0;
    if (strcmp(m->ops->name, "svm") == 0) { /* the SVM needs its calibration */
        int64_t ps[2] = {V, 2};
        if ((rc = dt_st_get(f, "model.platt", DT_F64, 2, ps, &P, got, err))) {
            dt_linear_free(ctx, l);
            return rc;
        }
        l->platt = dt_calloc(ctx, (size_t)V * 2, sizeof(double));
        if (!l->platt) {
            dt_linear_free(ctx, l);
            return dt_err(err, DUET_ENOMEM, "model.platt: out of memory");
        }
        memcpy(l->platt, P, (size_t)V * 2 * sizeof(double));
        for (int i = 0; i < 2 * V; i++)
            if (!isfinite(l->platt[i])) {
                dt_linear_free(ctx, l);
                return dt_err(err, DUET_EFORMAT, "model.platt holds a non-finite value");
            }
    }
    m->state = l;
    return DUET_OK;
}

void dt_linear_free(duet_ctx *ctx, void *state) {
    dt_linear *l = state;
    if (!l) return;
    dt_free(ctx, l->W);
    dt_free(ctx, l->platt);
    dt_free(ctx, l);
}
