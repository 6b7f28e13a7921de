/* svm.c — linear support vector machine: L2-regularised squared hinge loss
 *   0.5 ||w||^2 + C sum_i s_i max(0, 1 - y_i w.x_i)^2      (bias as a feature of value 1)
 * solved in the dual by coordinate descent (Hsieh et al. 2008; LIBLINEAR's -s 1), one vector
 * per class against the rest when there are more than two; or in the primal by trust-region
 * Newton (LIBLINEAR's -s 2; logreg.c's solver) with --solver newton and always when training
 * data-parallel, since its sums split by rows where the dual's sequential updates do not.
 * Probabilities come from Platt scaling: a sigmoid of the decision value fitted on out-of-fold
 * decisions (3 folds over all the rows, every process's included).
 * Not here: storage and explanations (linear.c), choosing C (api.c).
 */
#include "linear.h"

#include <math.h>

#define CAL_FOLDS 3

/* Dual coordinate descent for vector w (D+1) on rows of X, +1 where y == pos. */
static int dcd(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int V, int pos,
               double C, double tol, int max_iter, int verbose, double *w, duet_err *err) {
    int64_t N = X->N, D = X->D;
    int rc = DUET_OK;
    double *alpha = dt_calloc(ctx, (size_t)N, sizeof(double));
    double *qd = dt_calloc(ctx, (size_t)N, sizeof(double));
    int64_t *order = dt_calloc(ctx, (size_t)N, sizeof(int64_t));
    if (!alpha || !qd || !order) {
        rc = dt_err(err, DUET_ENOMEM, "svm: out of memory for %lld rows", (long long)N);
        goto fail;
    }
    memset(w, 0, (size_t)(D + 1) * sizeof *w);
    for (int64_t i = 0; i < N; i++) {
        double Ci = C * (sw ? sw[i] : 1);
        qd[i] = dt_mat_sqnorm(X, i) + 1 + 0.5 / Ci;
        order[i] = i;
    }
    dt_rng r;
    dt_rng_seed(&r, ctx->seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(pos + 1));
    int it;
    for (it = 0; it < max_iter; it++) {
        dt_rng_shuffle(&r, order, N);
        double pgmax = -INFINITY, pgmin = INFINITY;
        for (int64_t t = 0; t < N; t++) {
            int64_t i = order[t];
            double yi = dt_linear_sign(V, pos, y[i]);
            double Ci = C * (sw ? sw[i] : 1);
            double G = yi * (dt_mat_dot(X, i, w) + w[D]) - 1 + alpha[i] * 0.5 / Ci;
            double PG = alpha[i] == 0 ? (G < 0 ? G : 0) : G;
            if (PG > pgmax) pgmax = PG;
            if (PG < pgmin) pgmin = PG;
            if (fabs(PG) > 1e-12) {
                double old = alpha[i];
                alpha[i] = fmax(old - G / qd[i], 0);
                double d = (alpha[i] - old) * yi;
                dt_mat_axpy(X, i, d, w);
                w[D] += d;
            }
        }
        if (pgmax - pgmin <= tol) break;
        DT_TRY(dt_check_abort(ctx, "svm", err));
    }
    if (it == max_iter && verbose) dt_log(ctx, 1, "svm: stopped after %d passes before reaching tolerance %g", it, tol);
fail:
    dt_free(ctx, alpha);
    dt_free(ctx, qd);
    dt_free(ctx, order);
    return rc;
}

/* The primal when asked for or when the rows are spread over processes; the dual otherwise. */
static int primal(const duet_ctx *ctx, const duet_train_params *p) {
    return p->solver == DUET_SOLVER_NEWTON || dt_distributed(ctx);
}

static int train_all(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int V,
                     const duet_train_params *p, int verbose, double *W, duet_err *err) {
    double C = p->C > 0 ? p->C : 1;
    int max_iter = p->max_iter > 0 ? p->max_iter : 1000;
    for (int v = 0; v < V; v++) {
        double *w = W + (size_t)v * (size_t)(X->D + 1);
        int pos = V == 1 ? 1 : v;
        int rc = primal(ctx, p) ? dt_svm_primal(ctx, X, y, sw, pos, C, p->tol > 0 ? p->tol : 1e-4, max_iter, verbose, w, err)
                                : dcd(ctx, X, y, sw, V, pos, C, p->tol > 0 ? p->tol : 0.01, max_iter, verbose, w, err);
        if (rc) return rc;
    }
    return DUET_OK;
}

/* Platt's sigmoid p = 1 / (1 + exp(A f + B)) fitted to decisions f and targets t (0/1) by
 * Newton's method with backtracking (Lin, Lin & Weng 2007), with Platt's smoothed targets.
 * Every sum covers all processes' rows, so each process reaches the same A and B. */
static double platt_loss(const double *f, const int *t, int64_t n, double hi, double lo, double a, double b) {
    double v = 0;
    for (int64_t i = 0; i < n; i++) {
        double ti = t[i] ? hi : lo, z = f[i] * a + b;
        v += z >= 0 ? ti * z + log1p(exp(-z)) : (ti - 1) * z + log1p(exp(z));
    }
    return v;
}

static int platt_fit(const duet_ctx *ctx, const double *f, const int *t, int64_t n, double *A, double *B, duet_err *err) {
    double c[2] = {0, 0}; /* positives, negatives */
    for (int64_t i = 0; i < n; i++) c[t[i] ? 0 : 1]++;
    int rc = dt_reduce(ctx, c, 2, err);
    if (rc) return rc;
    double np = c[0], nn = c[1];
    double hi = (np + 1) / (np + 2), lo = 1 / (nn + 2);
    double a = 0, b = log((nn + 1) / (np + 1));
    for (int it = 0; it < 100; it++) {
        double s[6] = {0}; /* h11, h22, h21, g1, g2, f */
        for (int64_t i = 0; i < n; i++) {
            double ti = t[i] ? hi : lo, z = f[i] * a + b;
            double p = z >= 0 ? exp(-z) / (1 + exp(-z)) : 1 / (1 + exp(z));
            double q = 1 - p, d2 = p * q, d1 = ti - p;
            s[0] += f[i] * f[i] * d2;
            s[1] += d2;
            s[2] += f[i] * d2;
            s[3] += f[i] * d1;
            s[4] += d1;
        }
        s[5] = platt_loss(f, t, n, hi, lo, a, b);
        if ((rc = dt_reduce(ctx, s, 6, err))) return rc;
        double h11 = s[0] + 1e-12, h22 = s[1] + 1e-12, h21 = s[2], g1 = s[3], g2 = s[4], fval = s[5];
        if (fabs(g1) < 1e-5 && fabs(g2) < 1e-5) break;
        double det = h11 * h22 - h21 * h21;
        double da = -(h22 * g1 - h21 * g2) / det, db = -(-h21 * g1 + h11 * g2) / det;
        double gd = g1 * da + g2 * db, step = 1;
        while (step >= 1e-10) {
            double na = a + step * da, nb = b + step * db, nf = platt_loss(f, t, n, hi, lo, na, nb);
            if ((rc = dt_reduce(ctx, &nf, 1, err))) return rc;
            if (nf < fval + 1e-4 * step * gd) {
                a = na;
                b = nb;
                break;
            }
            step /= 2;
        }
        if (step < 1e-10) break;
    }
    *A = a;
    *B = b;
    return DUET_OK;
}

static int svm_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    const dt_mat *X = a->X;
    int64_t N = X->N, D1 = X->D + 1, Ng = N;
    int V = a->K == 2 ? 1 : a->K;
    int rc = dt_reduce_count(ctx, &Ng, err); /* rows over all processes */
    if (rc) return rc;
    dt_linear *l = NULL;
    dt_mat Xtr = {0}, Xte = {0};
    int64_t *perm = dt_calloc(ctx, (size_t)Ng, sizeof(int64_t));
    int64_t *tr = dt_calloc(ctx, (size_t)N + 1, sizeof(int64_t));
    int64_t *te = dt_calloc(ctx, (size_t)N + 1, sizeof(int64_t));
    int32_t *ytr = dt_calloc(ctx, (size_t)N + 1, sizeof(int32_t));
    double *swtr = a->sw ? dt_calloc(ctx, (size_t)N + 1, sizeof(double)) : NULL;
    double *dec = dt_calloc(ctx, (size_t)N * (size_t)V + 1, sizeof(double));
    double *ztmp = dt_calloc(ctx, (size_t)N * (size_t)V + 1, sizeof(double));
    double *fv = dt_calloc(ctx, (size_t)N + 1, sizeof(double));
    int *tv = dt_calloc(ctx, (size_t)N + 1, sizeof(int));
    if (!perm || !tr || !te || !ytr || (a->sw && !swtr) || !dec || !ztmp || !fv || !tv) {
        rc = dt_err(err, DUET_ENOMEM, "svm: out of memory for %lld rows", (long long)N);
        goto fail;
    }
    DT_TRY(dt_linear_new(ctx, V, X->D, &l, err));
    l->platt = dt_calloc(ctx, (size_t)V * 2, sizeof(double));
    if (!l->platt) {
        rc = dt_err(err, DUET_ENOMEM, "svm: out of memory");
        goto fail;
    }
    /* out-of-fold decision values for the calibration: one shuffle of all the rows (every
     * process's), fold = shuffled position mod CAL_FOLDS, so the folds do not depend on how
     * many processes share the rows */
    dt_rng r;
    dt_rng_seed(&r, ctx->seed ^ 0xca1b7a7eULL);
    for (int64_t i = 0; i < Ng; i++) perm[i] = i;
    dt_rng_shuffle(&r, perm, Ng);
    for (int f = 0; f < CAL_FOLDS && Ng >= 2 * CAL_FOLDS; f++) {
        int64_t ntr = 0, nte = 0, i;
        for (int64_t j = 0; j < Ng; j++) {
            if (!dt_row_here(ctx, perm[j], &i)) continue;
            if (j % CAL_FOLDS == f) te[nte++] = i;
            else tr[ntr++] = i;
        }
        DT_TRY(dt_fit_rows(ctx, a, tr, ntr, &Xtr, ytr, swtr, err));
        DT_TRY(dt_mat_rows(ctx, X, te, nte, &Xte, err));
        DT_TRY(train_all(ctx, &Xtr, ytr, swtr, V, a->p, 0, l->W, err));
        dt_linear_decision(l, &Xte, ztmp);
        for (int64_t k = 0; k < nte; k++)
            memcpy(dec + (size_t)te[k] * (size_t)V, ztmp + (size_t)k * (size_t)V, (size_t)V * sizeof(double));
        dt_mat_free(ctx, &Xtr);
        dt_mat_free(ctx, &Xte);
    }
    DT_TRY(train_all(ctx, X, a->y, a->sw, V, a->p, a->verbose, l->W, err));
    if (Ng < 2 * CAL_FOLDS) dt_linear_decision(l, X, dec); /* too few rows to hold any out */
    for (int v = 0; v < V; v++) {
        for (int64_t i = 0; i < N; i++) {
            fv[i] = dec[(size_t)i * (size_t)V + (size_t)v];
            tv[i] = dt_linear_sign(V, V == 1 ? 1 : v, a->y[i]) > 0;
        }
        DT_TRY(platt_fit(ctx, fv, tv, N, &l->platt[2 * v], &l->platt[2 * v + 1], err));
    }
    if (a->verbose)
        dt_log(ctx, 0, "svm: %d vector(s) of %lld weights, C=%g, %s, calibrated on %d folds", V, (long long)D1,
               a->p->C > 0 ? a->p->C : 1, primal(ctx, a->p) ? "primal" : "dual", CAL_FOLDS);
    dt_linear_free(ctx, m->state);
    m->state = l;
    l = NULL;
fail:
    dt_linear_free(ctx, l);
    dt_mat_free(ctx, &Xtr);
    dt_mat_free(ctx, &Xte);
    dt_free(ctx, perm);
    dt_free(ctx, tr);
    dt_free(ctx, te);
    dt_free(ctx, ytr);
    dt_free(ctx, swtr);
    dt_free(ctx, dec);
    dt_free(ctx, ztmp);
    dt_free(ctx, fv);
    dt_free(ctx, tv);
    return rc;
}

static int svm_predict(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *P, duet_err *err) {
    const dt_linear *l = m->state;
    double *z = dt_alloc_e(ctx, (size_t)X->N, (size_t)l->V * sizeof(double), "svm predict", err);
    if (!z) return DUET_ENOMEM;
    dt_linear_decision(l, X, z);
    int K = m->K;
    for (int64_t i = 0; i < X->N; i++) {
        float *pi = P + (size_t)i * (size_t)K;
        double s = 0;
        for (int v = 0; v < l->V; v++) {
            double t = z[(size_t)i * (size_t)l->V + (size_t)v] * l->platt[2 * v] + l->platt[2 * v + 1];
            double p = t >= 0 ? exp(-t) / (1 + exp(-t)) : 1 / (1 + exp(t));
            if (l->V == 1) {
                pi[0] = (float)(1 - p);
                pi[1] = (float)p;
            } else {
                pi[v] = (float)p;
                s += p;
            }
        }
        if (l->V > 1) /* one-vs-rest: the calibrated probabilities normalised */
            for (int k = 0; k < K; k++) pi[k] = (float)(pi[k] / (s > 0 ? s : 1));
    }
    dt_free(ctx, z);
    return DUET_OK;
}

static const double c_grid[] = {0.01, 0.1, 1, 10, 100};

/* weights, their running copy and the per-class bookkeeping, in doubles, and the primal
 * solver's nine vectors of one class's weights */
static double svm_fit_bytes(const duet_model *m, const dt_fit_args *a) {
    (void)m;
    return 8.0 * (4.0 * (a->K == 2 ? 1.0 : (double)a->K) + 9.0) * ((double)a->X->D + 1);
}

static const dt_option svm_options[] = {
    {"--C", "inverse regularisation (default: chosen by cross-validation)"},
    {"--solver", "newton solves the primal (default: dual coordinate descent)"},
    {"--tol", "solver tolerance (default 0.01)"},
    {"--max-iter", "solver iterations (default 1000)"},
    {NULL, NULL},
};

const dt_model_ops dt_svm_ops = {
    .name = "svm",
    .options = svm_options,
    .learns = "p(y|x)",
    .caps = DUET_CAN_PREDICT | DUET_CAN_EXPLAIN,
    .about = "linear SVM (squared hinge; dual coordinate descent, or primal Newton) with Platt-calibrated probabilities",
    .fit = svm_fit,
    .fit_bytes = svm_fit_bytes,
    .distributed = 1,
    .predict_proba = svm_predict,
    .explain = dt_linear_explain,
    .feature_weights = dt_linear_weights,
    .save = dt_linear_save,
    .load = dt_linear_load,
    .free_state = dt_linear_free,
    .tune = "C",
    .tune_field = offsetof(duet_train_params, C),
    .tune_grid = c_grid,
    .tune_n = (int)(sizeof c_grid / sizeof *c_grid),
    .title = "the linear SVM",
    .compare_on = (1u << DUET_DATA_SPARSE) | (1u << DUET_DATA_TEXT) | (1u << DUET_DATA_TABLE),
    .quick = 1,
    .solvers = 1u << DUET_SOLVER_NEWTON,
};
