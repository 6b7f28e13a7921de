/* metrics.c — classification metrics. Not here: predicting (models) or printing (the CLI).
 * Definitions follow scikit-learn's: precision/recall/F1 per class with 0 where undefined,
 * macro = unweighted mean over classes; log-loss with probabilities clipped to [1e-15, 1-1e-15];
 * ROC-AUC by the Mann-Whitney rank statistic with average ranks for ties. Regression: RMSE, MAE,
 * R^2 = 1 - SSE / SST (constant targets: 1 when predicted exactly, else 0, as scikit-learn),
 * MAPE over the rows whose target is not 0, RMSLE (of log(1 + x), predictions below 0 taken as
 * 0; NaN when a target is negative).
 */
#include "metrics.h"

#include <math.h>

typedef struct {
    double s;
    int64_t i;
} scored;

static int cmp_scored(const void *a, const void *b) {
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return x < y ? -1 : x > y ? 1 : 0;
}

double dt_roc_auc(duet_ctx *ctx, const double *s, const unsigned char *pos, int64_t n) {
    scored *v = dt_calloc(ctx, (size_t)(n ? n : 1), sizeof *v);
    if (!v) return NAN;
    for (int64_t i = 0; i < n; i++) v[i] = (scored){s[i], i};
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    double rank_sum = 0;
    int64_t npos = 0;
    for (int64_t a = 0; a < n;) {
        int64_t b = a;
        while (b < n && v[b].s == v[a].s) b++;
        double avg = 0.5 * (double)(a + 1 + b); /* mean of ranks a+1..b */
        for (int64_t k = a; k < b; k++)
            if (pos[v[k].i]) {
                rank_sum += avg;
                npos++;
            }
        a = b;
    }
    dt_free(ctx, v);
    int64_t nneg = n - npos;
    if (npos == 0 || nneg == 0) return NAN;
    return (rank_sum - 0.5 * (double)npos * (double)(npos + 1)) / ((double)npos * (double)nneg);
}

void duet_metrics_free(duet_ctx *ctx, duet_metrics *m) {
    if (!m) return;
    if (m->class_names)
        for (int k = 0; k < m->K; k++) dt_free(ctx, m->class_names[k]);
    dt_free(ctx, m->class_names);
    dt_free(ctx, m->class_precision);
    dt_free(ctx, m->class_recall);
    dt_free(ctx, m->class_f1);
    dt_free(ctx, m->support);
    dt_free(ctx, m->confusion);
    dt_free(ctx, m);
}

int dt_metrics_compute(duet_ctx *ctx, int K, int64_t n, const int32_t *ytrue, const int32_t *ypred,
                       const float *proba, char *const *class_names, duet_metrics **out,
                       duet_err *err) {
    *out = NULL;
    if (K < 1 || n < 1) return dt_err(err, DUET_EINVAL, "metrics: nothing to evaluate (%lld rows)", (long long)n);
    duet_metrics *m = dt_calloc(ctx, 1, sizeof *m);
    if (!m) return dt_err(err, DUET_ENOMEM, "metrics: out of memory");
    m->K = K;
    m->n = n;
    m->rmse = m->mae = m->r2 = m->mape = m->rmsle = m->rmse_std = NAN;
    size_t kk = (size_t)K;
    m->class_precision = dt_calloc(ctx, kk, sizeof(double));
    m->class_recall = dt_calloc(ctx, kk, sizeof(double));
    m->class_f1 = dt_calloc(ctx, kk, sizeof(double));
    m->support = dt_calloc(ctx, kk, sizeof(int64_t));
    m->confusion = dt_calloc(ctx, kk * kk, sizeof(int64_t));
    m->class_names = dt_calloc(ctx, kk, sizeof(char *));
    if (!m->class_precision || !m->class_recall || !m->class_f1 || !m->support || !m->confusion ||
        !m->class_names)
        goto oom;
    for (int k = 0; k < K; k++) {
        m->class_names[k] = dt_strdup(ctx, class_names[k]);
        if (!m->class_names[k]) goto oom;
    }
    int64_t correct = 0;
    double ll = 0;
    for (int64_t i = 0; i < n; i++) {
        int t = ytrue[i], p = ypred[i];
        DT_ASSERT(t >= 0 && t < K && p >= 0 && p < K);
        m->confusion[(size_t)t * kk + (size_t)p]++;
        m->support[t]++;
        correct += t == p;
        if (proba) {
            double q = proba[(size_t)i * kk + (size_t)t];
            if (q < 1e-15) q = 1e-15;
            if (q > 1 - 1e-15) q = 1 - 1e-15;
            ll -= log(q);
        }
    }
    m->accuracy = (double)correct / (double)n;
    m->log_loss = proba ? ll / (double)n : NAN;
    for (int k = 0; k < K; k++) {
        int64_t tp = m->confusion[(size_t)k * kk + (size_t)k], pred = 0;
        for (int t = 0; t < K; t++) pred += m->confusion[(size_t)t * kk + (size_t)k];
        double pr = pred ? (double)tp / (double)pred : 0, rc = m->support[k] ? (double)tp / (double)m->support[k] : 0;
        m->class_precision[k] = pr;
        m->class_recall[k] = rc;
        m->class_f1[k] = pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0;
        m->precision += pr / K;
        m->recall += rc / K;
        m->f1 += m->class_f1[k] / K;
    }
    m->roc_auc = NAN;
    if (K == 2 && proba) {
        double *s = dt_calloc(ctx, (size_t)n, sizeof(double));
        unsigned char *pos = dt_calloc(ctx, (size_t)n, 1);
        if (!s || !pos) {
            dt_free(ctx, s);
            dt_free(ctx, pos);
            goto oom;
        }
        for (int64_t i = 0; i < n; i++) {
            s[i] = proba[(size_t)i * 2 + 1];
            pos[i] = ytrue[i] == 1;
        }
        m->roc_auc = dt_roc_auc(ctx, s, pos, n);
        dt_free(ctx, s);
        dt_free(ctx, pos);
    }
    *out = m;
    return DUET_OK;
oom:
    duet_metrics_free(ctx, m);
    return dt_err(err, DUET_ENOMEM, "metrics: out of memory");
}

int dt_metrics_regression(duet_ctx *ctx, int64_t n, const double *t, const double *v, duet_metrics **out, duet_err *err) {
    *out = NULL;
    if (n < 1) return dt_err(err, DUET_EINVAL, "metrics: nothing to evaluate (%lld rows)", (long long)n);
    duet_metrics *m = dt_calloc(ctx, 1, sizeof *m);
    if (!m) return dt_err(err, DUET_ENOMEM, "metrics: out of memory");
    m->K = 0;
    m->n = n;
    m->accuracy = m->f1 = m->precision = m->recall = m->log_loss = m->roc_auc = NAN;
    m->accuracy_std = m->f1_std = m->rmse_std = NAN;
    double mean = 0, sse = 0, sae = 0, sst = 0, ape = 0;
    int64_t nz = 0;
    for (int64_t i = 0; i < n; i++) mean += t[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double e = v[i] - t[i];
        sse += e * e;
        sae += fabs(e);
        sst += (t[i] - mean) * (t[i] - mean);
        if (t[i] != 0) ape += fabs(e / t[i]), nz++;
    }
    m->rmse = sqrt(sse / (double)n);
    m->mae = sae / (double)n;
    m->r2 = sst > 0 ? 1 - sse / sst : sse == 0 ? 1 : 0;
    m->mape = nz ? ape / (double)nz : NAN;
    double sle = 0;
    for (int64_t i = 0; i < n && isfinite(sle); i++) {
        double p = v[i] > 0 ? v[i] : 0; /* a count predicted below 0 counts as 0 */
        sle = t[i] >= 0 ? sle + (log1p(p) - log1p(t[i])) * (log1p(p) - log1p(t[i])) : NAN;
    }
    m->rmsle = sqrt(sle / (double)n);
    *out = m;
    return DUET_OK;
}
