/* linreg.c — linear regression: least squares with an L2 (ridge), L1 (lasso) or elastic-net
 * penalty, by cyclic coordinate descent over the features' columns with the intercept
 * unpenalised (dense features of modest width: on the centred Gram matrix, and ridge exactly by
 * Cholesky). Objectives, as scikit-learn states them (s_i the sample weights, r the residuals):
 *   ridge:       sum_i s_i r_i^2 + alpha ||w||^2                      (Ridge)
 *   lasso / EN:  1/(2 sum s) sum_i s_i r_i^2 + alpha rho ||w||_1 + alpha (1 - rho)/2 ||w||^2
 *                (Lasso: rho = 1; ElasticNet: l1_ratio rho)
 * Without alpha, it is chosen by K-fold cross-validation (mean squared error) along a path of
 * 20 values from strong to weak, each fit starting from the previous one (a warm start), as
 * scikit-learn's RidgeCV and LassoCV choose it.
 * Not here: the shared linear state, explanations and files (linear.c).
 */
#include <math.h>

#include "linear.h"

#define PATH_N 20

/* The problem in columns: xt (D, N) for dense features, or CSC. */
typedef struct lr_cols {
    int64_t N, D;
    float *xt;
    int64_t *cp;
    int32_t *ci;
    float *cv;
} lr_cols;

static void cols_free(duet_ctx *ctx, lr_cols *c) {
    dt_free(ctx, c->xt);
    dt_free(ctx, c->cp);
    dt_free(ctx, c->ci);
    dt_free(ctx, c->cv);
    memset(c, 0, sizeof *c);
}

/* The rows rows (n; NULL: all) of X as columns. */
static int to_cols(duet_ctx *ctx, const dt_mat *X, const int64_t *rows, int64_t n, lr_cols *c, duet_err *err) {
    int64_t D = X->D;
    c->N = n, c->D = D;
    if (X->x) {
        size_t cells;
        if (!dt_mul_ok((size_t)n, (size_t)D, &cells) || !(c->xt = dt_alloc_e(ctx, cells ? cells : 1, sizeof(float), "linear", err)))
            return DUET_ENOMEM;
        for (int64_t k = 0; k < n; k++) {
            const float *r = X->x + (size_t)(rows ? rows[k] : k) * (size_t)D;
            for (int64_t j = 0; j < D; j++) c->xt[(size_t)j * (size_t)n + (size_t)k] = r[j];
        }
        return DUET_OK;
    }
    int64_t nnz = 0;
    c->cp = dt_calloc(ctx, (size_t)D + 1, sizeof(int64_t));
    if (!c->cp) return dt_err(err, DUET_ENOMEM, "linear: out of memory");
    for (int64_t k = 0; k < n; k++) {
        int64_t i = rows ? rows[k] : k;
        for (int64_t p = X->rowptr[i]; p < X->rowptr[i + 1]; p++) c->cp[X->col[p] + 1]++, nnz++;
    }
    for (int64_t j = 0; j < D; j++) c->cp[j + 1] += c->cp[j];
    c->ci = dt_alloc_e(ctx, (size_t)nnz + 1, sizeof(int32_t), "linear", err);
    c->cv = dt_alloc_e(ctx, (size_t)nnz + 1, sizeof(float), "linear", err);
    int64_t *pos = dt_alloc_e(ctx, (size_t)D + 1, sizeof(int64_t), "linear", err);
    if (!c->ci || !c->cv || !pos || n > INT32_MAX) {
        dt_free(ctx, pos);
        return n > INT32_MAX ? dt_err(err, DUET_ERANGE, "linear: too many rows") : DUET_ENOMEM;
    }
    memcpy(pos, c->cp, (size_t)D * sizeof(int64_t));
    for (int64_t k = 0; k < n; k++) {
        int64_t i = rows ? rows[k] : k;
        for (int64_t p = X->rowptr[i]; p < X->rowptr[i + 1]; p++) {
            int64_t q = pos[X->col[p]]++;
            c->ci[q] = (int32_t)k;
            c->cv[q] = X->val[p];
        }
    }
    dt_free(ctx, pos);
    return DUET_OK;
}

/* Penalties in the solvers' form: 1/2 sum s r^2 + l1 ||w||_1 + l2/2 ||w||^2. */
static void penalties(const duet_train_params *p, double alpha, double S, double *l1, double *l2) {
    if (p->penalty == DUET_PENALTY_L2 && !(p->l1_ratio > 0)) {
        *l1 = 0, *l2 = alpha; /* ridge: (sum s r^2 + alpha ||w||^2) / 2 */
        return;
    }
    double rho = p->penalty == DUET_PENALTY_L1 && !(p->l1_ratio > 0) ? 1 : p->l1_ratio;
    *l1 = S * alpha * rho, *l2 = S * alpha * (1 - rho);
}


/* Solves M z = b (m, m) by Cholesky in place (M destroyed, z may alias b); 0 when M is not
 * positive definite. */
static int chol_solve(double *M, const double *b, int64_t m, double *z) {
    for (int64_t j = 0; j < m; j++) {
        double d = M[j * m + j];
        for (int64_t k = 0; k < j; k++) d -= M[j * m + k] * M[j * m + k];
        if (!(d > 0)) return 0;
        d = sqrt(d);
        M[j * m + j] = d;
        for (int64_t i = j + 1; i < m; i++) {
            double v = M[i * m + j];
            for (int64_t k = 0; k < j; k++) v -= M[i * m + k] * M[j * m + k];
            M[i * m + j] = v / d;
        }
    }
    for (int64_t i = 0; i < m; i++) {
        double v = b[i];
        for (int64_t k = 0; k < i; k++) v -= M[i * m + k] * z[k];
        z[i] = v / M[i * m + i];
    }
    for (int64_t i = m - 1; i >= 0; i--) {
        double v = z[i];
        for (int64_t k = i + 1; k < m; k++) v -= M[k * m + i] * z[k];
        z[i] = v / M[i * m + i];
    }
    return 1;
}

/* Coordinate descent from w (D + 1, the intercept last) to a largest weight change below tol
 * times the largest weight; r (N) must hold t - Xw - b on entry and is kept so. */
static int solve(duet_ctx *ctx, const lr_cols *c, const double *t, const double *s, double l1, double l2, double tol,
                 int max_iter, const double *sq, double *w, double *r, duet_err *err) {
    int64_t N = c->N, D = c->D;
    double S = 0;
    for (int64_t i = 0; i < N; i++) S += s ? s[i] : 1;
    (void)t;
    for (int it = 0; it < max_iter; it++) {
        double dmax = 0, wmax = 0;
        /* intercept */
        double m = 0;
        for (int64_t i = 0; i < N; i++) m += (s ? s[i] : 1) * r[i];
        m /= S;
        w[D] += m;
        for (int64_t i = 0; i < N; i++) r[i] -= m;
        for (int64_t j = 0; j < D; j++) {
            if (sq[j] == 0) continue;
            double rho = 0, old = w[j];
            if (c->xt) {
                const float *x = c->xt + (size_t)j * (size_t)N;
                for (int64_t i = 0; i < N; i++) rho += (s ? s[i] : 1) * x[i] * r[i];
            } else {
                for (int64_t q = c->cp[j]; q < c->cp[j + 1]; q++) rho += (s ? s[c->ci[q]] : 1) * c->cv[q] * r[c->ci[q]];
            }
            rho += sq[j] * old;
            double nw = rho > l1 ? (rho - l1) / (sq[j] + l2) : rho < -l1 ? (rho + l1) / (sq[j] + l2) : 0;
            double d = nw - old;
            if (d != 0) {
                if (c->xt) {
                    const float *x = c->xt + (size_t)j * (size_t)N;
                    for (int64_t i = 0; i < N; i++) r[i] -= d * x[i];
                } else {
                    for (int64_t q = c->cp[j]; q < c->cp[j + 1]; q++) r[c->ci[q]] -= d * c->cv[q];
                }
                w[j] = nw;
            }
            dmax = fabs(d) > dmax ? fabs(d) : dmax;
            wmax = fabs(nw) > wmax ? fabs(nw) : wmax;
        }
        if (dmax <= tol * (wmax > 0 ? wmax : 1)) return DUET_OK;
        if ((it & 63) == 63) {
            int rc = dt_check_abort(ctx, "linear", err);
            if (rc) return rc;
        }
    }
    return DUET_OK; /* the iteration cap: as close as it got */
}

/* Weighted squared column norms sq (D). */
static void col_norms(const lr_cols *c, const double *s, double *sq) {
    for (int64_t j = 0; j < c->D; j++) {
        double v = 0;
        if (c->xt) {
            const float *x = c->xt + (size_t)j * (size_t)c->N;
            for (int64_t i = 0; i < c->N; i++) v += (s ? s[i] : 1) * (double)x[i] * x[i];
        } else {
            for (int64_t q = c->cp[j]; q < c->cp[j + 1]; q++) v += (s ? s[c->ci[q]] : 1) * (double)c->cv[q] * c->cv[q];
        }
        sq[j] = v;
    }
}

/* Column j's weighted statistics about the (weighted) target mean tm, S the weight sum: *cov =
 * sum s (x - xm)(t - tm) and *var = sum s (x - xm)^2, centred for dense columns (their intercept
 * absorbs the mean), about 0 for sparse ones (kept sparse); *sq0 = sum s x^2, uncentred. */
static void col_centred(const lr_cols *c, int64_t j, const double *s, double S, const double *t, double tm, double *cov,
                        double *var, double *sq0) {
    double g = 0, v = 0, u = 0;
    if (c->xt) {
        const float *x = c->xt + (size_t)j * (size_t)c->N;
        double xm = 0;
        for (int64_t i = 0; i < c->N; i++) xm += (s ? s[i] : 1) * x[i];
        xm /= S;
        for (int64_t i = 0; i < c->N; i++) {
            double w = s ? s[i] : 1, d = x[i] - xm;
            g += w * d * (t[i] - tm), v += w * d * d, u += w * (double)x[i] * x[i];
        }
    } else {
        for (int64_t q = c->cp[j]; q < c->cp[j + 1]; q++) {
            double w = s ? s[c->ci[q]] : 1;
            g += w * c->cv[q] * (t[c->ci[q]] - tm), v += w * (double)c->cv[q] * c->cv[q];
        }
        u = v;
    }
    *cov = g, *var = v, *sq0 = u;
}

/* The path of alphas, strongest first: for an L1 share, from the smallest alpha that keeps every
 * weight at 0 down by 10^3 (elastic-net: further, until its L2 part falls below the columns'
 * uncentred scale); for ridge, 10 down to 10^-6 times the mean squared column norm (after centring), so
 * that the path spans from "the mean" to "least squares" whatever the features' scale. */
static void alpha_path(const duet_train_params *p, const lr_cols *c, const double *t, const double *s, double *path) {
    int64_t N = c->N, D = c->D;
    double S = 0, tm = 0, amax = 0, sq = 0, un = 0, l1, l2;
    for (int64_t i = 0; i < N; i++) S += s ? s[i] : 1, tm += (s ? s[i] : 1) * t[i];
    tm /= S;
    penalties(p, 1, S, &l1, &l2);
    for (int64_t j = 0; j < D; j++) {
        double cov, var, sq0;
        col_centred(c, j, s, S, t, tm, &cov, &var, &sq0);
        if (l1 > 0 && fabs(cov) / l1 > amax) amax = fabs(cov) / l1;
        sq += var, un += sq0;
    }
    sq = D > 0 && sq > 0 ? sq / (double)D : 1;
    if (l1 > 0) {
        if (!(amax > 0)) amax = 1;
        double amin = amax * 1e-3;
        un = D ? un / (double)D : 1; /* the mean squared column norm, uncentred */
        if (l2 > 0 && un > 0 && 1e-3 * un / l2 < amin) amin = 1e-3 * un / l2;
        for (int k = 0; k < PATH_N; k++) path[k] = amax * pow(amin / amax, (double)k / (PATH_N - 1));
        return;
    }
    for (int k = 0; k < PATH_N; k++) path[k] = sq * pow(10, 1 - 7.0 * k / (PATH_N - 1));
}

/* Residuals t - Xw - b of columns c. */
static void residuals(const lr_cols *c, const double *t, const double *w, double *r) {
    int64_t N = c->N, D = c->D;
    for (int64_t i = 0; i < N; i++) r[i] = t[i] - w[D];
    for (int64_t j = 0; j < D; j++) {
        if (w[j] == 0) continue;
        if (c->xt) {
            const float *x = c->xt + (size_t)j * (size_t)N;
            for (int64_t i = 0; i < N; i++) r[i] -= w[j] * x[i];
        } else {
            for (int64_t q = c->cp[j]; q < c->cp[j + 1]; q++) r[c->ci[q]] -= w[j] * c->cv[q];
        }
    }
}

/* Dense features of modest width: the weighted, centred Gram matrix G (D, D) and q = Xc' S tc,
 * with the means xm (D) and *tm; each alpha is then solved in D^2 per sweep (coordinate descent
 * on G) or, for ridge, exactly by a Cholesky factorisation of G + alpha I. */
#define GRAM_MAX_D 2048

static void gram(const dt_mat *X, const int64_t *rows, int64_t n, const double *t, const double *s, double *G, double *q,
                 double *xm, double *tm) {
    int64_t D = X->D;
    double S = 0;
    memset(xm, 0, (size_t)D * sizeof(double));
    *tm = 0;
    for (int64_t k = 0; k < n; k++) {
        const float *x = X->x + (size_t)(rows ? rows[k] : k) * (size_t)D;
        double w = s ? s[k] : 1;
        S += w;
        *tm += w * t[k];
        for (int64_t j = 0; j < D; j++) xm[j] += w * x[j];
    }
    *tm /= S;
    for (int64_t j = 0; j < D; j++) xm[j] /= S;
    memset(G, 0, (size_t)D * (size_t)D * sizeof(double));
    memset(q, 0, (size_t)D * sizeof(double));
    double *xc = q + D; /* scratch after q: the caller gives 2D */
    for (int64_t k = 0; k < n; k++) {
        const float *x = X->x + (size_t)(rows ? rows[k] : k) * (size_t)D;
        double w = s ? s[k] : 1, tc = t[k] - *tm;
        for (int64_t j = 0; j < D; j++) xc[j] = x[j] - xm[j];
        for (int64_t j = 0; j < D; j++) {
            double a = w * xc[j];
            q[j] += a * tc;
            double *g = G + (size_t)j * (size_t)D;
            for (int64_t l = 0; l <= j; l++) g[l] += a * xc[l];
        }
    }
    for (int64_t j = 0; j < D; j++)
        for (int64_t l = 0; l < j; l++) G[(size_t)l * (size_t)D + (size_t)j] = G[(size_t)j * (size_t)D + (size_t)l];
}

/* (G + l2 I) w = q by Cholesky (A: D^2 scratch); 0 when not positive definite. */
static int ridge_solve(const double *G, const double *q, int64_t D, double l2, double *A, double *w) {
    for (int64_t i = 0; i < D * D; i++) A[i] = G[i];
    for (int64_t j = 0; j < D; j++) A[j * D + j] += l2;
    return chol_solve(A, q, D, w);
}

/* Coordinate descent on the Gram form: 1/2 w'Gw - q'w + l1 |w|_1 + l2/2 |w|^2, from w. */
static void gram_cd(duet_ctx *ctx, const double *G, const double *q, int64_t D, double l1, double l2, double tol, int max_iter,
                    double *w) {
    (void)ctx;
    for (int it = 0; it < max_iter; it++) {
        double dmax = 0, wmax = 0;
        for (int64_t j = 0; j < D; j++) {
            double gjj = G[j * D + j];
            if (gjj <= 0) continue;
            const double *g = G + (size_t)j * (size_t)D;
            double rho = q[j];
            for (int64_t k = 0; k < D; k++) rho -= g[k] * w[k];
            rho += gjj * w[j];
            double nw = rho > l1 ? (rho - l1) / (gjj + l2) : rho < -l1 ? (rho + l1) / (gjj + l2) : 0;
            dmax = fabs(nw - w[j]) > dmax ? fabs(nw - w[j]) : dmax;
            wmax = fabs(nw) > wmax ? fabs(nw) : wmax;
            w[j] = nw;
        }
        if (dmax <= tol * (wmax > 0 ? wmax : 1)) return;
    }
}

/* The Gram form's objective at w. */
static double gram_obj(const double *G, const double *q, int64_t D, double l1, double l2, const double *w) {
    double f = 0;
    for (int64_t j = 0; j < D; j++) {
        double gw = 0;
        for (int64_t k = 0; k < D; k++) gw += G[j * D + k] * w[k];
        f += 0.5 * w[j] * gw - q[j] * w[j] + l1 * fabs(w[j]) + 0.5 * l2 * w[j] * w[j];
    }
    return f;
}

/* Coordinate descent slows to a crawl on nearly collinear columns (scikit-learn's own needs
 * 500,000 sweeps on such a pair). Its active set and signs are right long before its values, so
 * the optimum on them is solved exactly and kept when it satisfies the optimality conditions
 * (the signs hold, no inactive feature's gradient exceeds l1) and lowers the objective. */
static void gram_polish(duet_ctx *ctx, const double *G, const double *q, int64_t D, double l1, double l2, double *w) {
    int64_t m = 0;
    for (int64_t j = 0; j < D; j++) m += w[j] != 0;
    if (!m) return;
    int64_t *A = dt_alloc(ctx, (size_t)m * sizeof(int64_t));
    double *M = dt_alloc(ctx, (size_t)m * (size_t)m * sizeof(double)), *z = dt_alloc(ctx, (size_t)D * sizeof(double));
    if (A && M && z) {
        int64_t k = 0;
        for (int64_t j = 0; j < D; j++)
            if (w[j] != 0) A[k++] = j;
        for (int64_t a = 0; a < m; a++) {
            for (int64_t b = 0; b < m; b++) M[a * m + b] = G[A[a] * D + A[b]] + (a == b ? l2 : 0);
            z[a] = q[A[a]] - l1 * (w[A[a]] > 0 ? 1 : -1);
        }
        int ok = chol_solve(M, z, m, z);
        for (int64_t a = 0; ok && a < m; a++) ok = (z[a] > 0) == (w[A[a]] > 0) && z[a] != 0;
        if (ok) {
            double *cand = dt_calloc(ctx, (size_t)D, sizeof(double));
            if (cand) {
                for (int64_t a = 0; a < m; a++) cand[A[a]] = z[a];
                for (int64_t j = 0; j < D && ok; j++) {
                    if (cand[j] != 0) continue;
                    double g = q[j];
                    for (int64_t b = 0; b < D; b++) g -= G[j * D + b] * cand[b];
                    ok = fabs(g) <= l1 * (1 + 1e-9) + 1e-12 * fabs(q[j]);
                }
                if (ok && gram_obj(G, q, D, l1, l2, cand) <= gram_obj(G, q, D, l1, l2, w)) memcpy(w, cand, (size_t)D * sizeof(double));
                dt_free(ctx, cand);
            }
        }
    }
    dt_free(ctx, A);
    dt_free(ctx, M);
    dt_free(ctx, z);
}

/* Column j of c times v (N), weighted by s: sum_i s_i x_ij v_i. */
static double col_dot(const lr_cols *c, int64_t j, const double *s, const double *v) {
    double g = 0;
    if (c->xt) {
        const float *x = c->xt + (size_t)j * (size_t)c->N;
        for (int64_t i = 0; i < c->N; i++) g += (s ? s[i] : 1) * x[i] * v[i];
    } else {
        for (int64_t q = c->cp[j]; q < c->cp[j + 1]; q++) g += (s ? s[c->ci[q]] : 1) * c->cv[q] * v[c->ci[q]];
    }
    return g;
}

/* gram_polish for the column form (the intercept among the unknowns), at most 256 active
 * features; r (N) holds the residuals of w and is kept so. */
static void col_polish(duet_ctx *ctx, const lr_cols *c, const double *t, const double *s, double l1, double l2, double *w,
                       double *r) {
    int64_t N = c->N, D = c->D, m = 0;
    for (int64_t j = 0; j < D; j++) m += w[j] != 0;
    if (m > 256) return;
    int64_t m1 = m + 1;
    int64_t *A = dt_alloc(ctx, (size_t)m1 * sizeof(int64_t));
    double *M = dt_alloc(ctx, (size_t)m1 * (size_t)m1 * sizeof(double)), *z = dt_alloc(ctx, (size_t)m1 * sizeof(double));
    double *col = dt_calloc(ctx, (size_t)N, sizeof(double)), *rn = dt_alloc(ctx, (size_t)N * sizeof(double));
    double *cand = dt_calloc(ctx, (size_t)D + 1, sizeof(double));
    if (!A || !M || !z || !col || !rn || !cand) goto done;
    int64_t k = 0;
    for (int64_t j = 0; j < D; j++)
        if (w[j] != 0) A[k++] = j;
    double S = 0, St = 0;
    for (int64_t i = 0; i < N; i++) S += s ? s[i] : 1, St += (s ? s[i] : 1) * t[i];
    for (int64_t a = 0; a < m; a++) { /* column a dense in col, then its products */
        if (c->xt) {
            const float *x = c->xt + (size_t)A[a] * (size_t)N;
            for (int64_t i = 0; i < N; i++) col[i] = x[i];
        } else {
            for (int64_t q = c->cp[A[a]]; q < c->cp[A[a] + 1]; q++) col[c->ci[q]] = c->cv[q];
        }
        for (int64_t b = 0; b < m; b++) M[a * m1 + b] = col_dot(c, A[b], s, col) + (a == b ? l2 : 0);
        double sx = 0;
        for (int64_t i = 0; i < N; i++) sx += (s ? s[i] : 1) * col[i];
        M[a * m1 + m] = M[m * m1 + a] = sx;
        z[a] = col_dot(c, A[a], s, t) - l1 * (w[A[a]] > 0 ? 1 : -1);
        if (!c->xt)
            for (int64_t q = c->cp[A[a]]; q < c->cp[A[a] + 1]; q++) col[c->ci[q]] = 0;
    }
    M[m * m1 + m] = S;
    z[m] = St;
    int ok = chol_solve(M, z, m1, z);
    for (int64_t a = 0; ok && a < m; a++) ok = z[a] != 0 && (z[a] > 0) == (w[A[a]] > 0);
    if (!ok) goto done;
    for (int64_t a = 0; a < m; a++) cand[A[a]] = z[a];
    cand[D] = z[m];
    residuals(c, t, cand, rn);
    for (int64_t j = 0; j < D && ok; j++)
        if (cand[j] == 0) ok = fabs(col_dot(c, j, s, rn)) <= l1 * (1 + 1e-9);
    double fo = 0, fn = 0;
    for (int64_t i = 0; i < N; i++) fo += 0.5 * (s ? s[i] : 1) * r[i] * r[i], fn += 0.5 * (s ? s[i] : 1) * rn[i] * rn[i];
    for (int64_t j = 0; j < D; j++)
        fo += l1 * fabs(w[j]) + 0.5 * l2 * w[j] * w[j], fn += l1 * fabs(cand[j]) + 0.5 * l2 * cand[j] * cand[j];
    if (ok && fn <= fo) {
        memcpy(w, cand, ((size_t)D + 1) * sizeof(double));
        memcpy(r, rn, (size_t)N * sizeof(double));
    }
done:
    dt_free(ctx, A);
    dt_free(ctx, M);
    dt_free(ctx, z);
    dt_free(ctx, col);
    dt_free(ctx, rn);
    dt_free(ctx, cand);
}

/* Fits alpha on rows (n; NULL all) into w (D + 1), warm from w's contents. */
static int fit_rows(duet_ctx *ctx, const dt_fit_args *a, const int64_t *rows, int64_t n, const double *alphas, int na,
                    double *w, double *mse_out, const int64_t *test, int64_t nte, duet_err *err) {
    const duet_train_params *p = a->p;
    int64_t D = a->X->D;
    lr_cols c = {0};
    double *t = dt_alloc_e(ctx, (size_t)n + 1, sizeof(double), "linear", err);
    double *s = a->sw ? dt_alloc_e(ctx, (size_t)n + 1, sizeof(double), "linear", err) : NULL;
    double *r = dt_alloc_e(ctx, (size_t)n + 1, sizeof(double), "linear", err);
    double *sq = dt_alloc_e(ctx, (size_t)D + 1, sizeof(double), "linear", err);
    int rc = DUET_OK;
    if (!t || !r || !sq || (a->sw && !s)) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t i = rows ? rows[k] : k;
        t[k] = a->t[i];
        if (s) s[k] = a->sw[i];
    }
    double tol = p->tol ? p->tol : 1e-7;
    int max_iter = p->max_iter ? p->max_iter : 10000;
    if (a->X->x && D <= GRAM_MAX_D) {
        size_t DD = (size_t)D * (size_t)D;
        double *G = dt_alloc_e(ctx, DD + 1, sizeof(double), "linear", err);
        double *A = dt_alloc_e(ctx, DD + 1, sizeof(double), "linear", err);
        double *q = dt_alloc_e(ctx, 2 * (size_t)D + 1, sizeof(double), "linear", err);
        double *xm = dt_alloc_e(ctx, (size_t)D + 1, sizeof(double), "linear", err);
        if (!G || !A || !q || !xm) rc = DUET_ENOMEM;
        double tm = 0, S = 0;
        if (!rc) gram(a->X, rows, n, t, s, G, q, xm, &tm);
        for (int64_t k = 0; k < n; k++) S += s ? s[k] : 1;
        for (int g = 0; !rc && g < na; g++) {
            double l1, l2;
            penalties(p, alphas[g], S, &l1, &l2);
            /* ridge exactly; near-singular systems (one-hot columns beside the intercept) fall back
             * to coordinate descent */
            if (l1 > 0 || !ridge_solve(G, q, D, l2, A, w)) {
                gram_cd(ctx, G, q, D, l1, l2, tol, max_iter, w);
                gram_polish(ctx, G, q, D, l1, l2, w);
            }
            w[D] = tm;
            for (int64_t j = 0; j < D; j++) w[D] -= xm[j] * w[j];
            if (mse_out) {
                double e = 0;
                for (int64_t k = 0; k < nte; k++) {
                    int64_t i = test[k];
                    double z = dt_mat_dot(a->X, i, w) + w[D] - a->t[i];
                    e += (a->sw ? a->sw[i] : 1) * z * z;
                }
                mse_out[g] += e;
            }
            rc = dt_check_abort(ctx, "linear", err);
        }
        dt_free(ctx, G);
        dt_free(ctx, A);
        dt_free(ctx, q);
        dt_free(ctx, xm);
        goto fail;
    }
    DT_TRY(to_cols(ctx, a->X, rows, n, &c, err));
    col_norms(&c, s, sq);
    double S = 0;
    for (int64_t k = 0; k < n; k++) S += s ? s[k] : 1;
    for (int g = 0; g < na; g++) {
        double l1, l2;
        penalties(p, alphas[g], S, &l1, &l2);
        residuals(&c, t, w, r);
        DT_TRY(solve(ctx, &c, t, s, l1, l2, tol, max_iter, sq, w, r, err));
        col_polish(ctx, &c, t, s, l1, l2, w, r);
        if (mse_out) { /* held-out squared error of this alpha */
            double e = 0;
            for (int64_t k = 0; k < nte; k++) {
                int64_t i = test[k];
                double z = dt_mat_dot(a->X, i, w) + w[D] - a->t[i];
                e += (a->sw ? a->sw[i] : 1) * z * z;
            }
            mse_out[g] += e;
        }
    }
fail:
    cols_free(ctx, &c);
    dt_free(ctx, t);
    dt_free(ctx, s);
    dt_free(ctx, r);
    dt_free(ctx, sq);
    return rc;
}

static int linreg_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    const duet_train_params *p = a->p;
    if (a->K != 0) return dt_err(err, DUET_EINVAL, "linear regression learns a number; for classes use logreg");
    if (!(p->l1_ratio >= 0 && p->l1_ratio < 1)) return dt_err(err, DUET_EINVAL, "l1-ratio must be in [0, 1) (got %g)", p->l1_ratio);
    if (p->l1_ratio > 0 && p->penalty == DUET_PENALTY_L1)
        return dt_err(err, DUET_EINVAL, "an l1-ratio makes an elastic-net from the L2 penalty; with --penalty l1 it is the lasso");
    int64_t N = a->X->N, D = a->X->D;
    int rc = DUET_OK;
    dt_linear *l = NULL;
    double *w = NULL, *mse = NULL;
    int64_t *perm = NULL, *tr = NULL, *te = NULL;
    DT_TRY(dt_linear_new(ctx, 1, D, &l, err));
    double alpha = p->alpha;
    if (alpha == 0) { /* cross-validation along the path */
        int folds = p->cv_folds ? p->cv_folds : 5;
        if (N < 2 * folds) folds = N >= 4 ? 2 : 0;
        double path[PATH_N];
        lr_cols c = {0};
        rc = to_cols(ctx, a->X, NULL, N, &c, err);
        if (!rc) alpha_path(p, &c, a->t, a->sw, path);
        cols_free(ctx, &c);
        if (rc) goto fail;
        int best = PATH_N - 1;
        if (folds) {
            w = dt_calloc(ctx, (size_t)D + 1, sizeof(double));
            mse = dt_calloc(ctx, PATH_N, sizeof(double));
            perm = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "linear", err);
            tr = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "linear", err);
            te = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "linear", err);
            if (!w || !mse || !perm || !tr || !te) {
                rc = dt_err(err, DUET_ENOMEM, "linear: out of memory");
                goto fail;
            }
            dt_shuffled_rows(ctx->seed ^ 0x11aea5ULL, N, perm);
            for (int f = 0; f < folds; f++) {
                int64_t ntr, nte;
                dt_fold_split(perm, N, folds, f, tr, &ntr, te, &nte);
                memset(w, 0, ((size_t)D + 1) * sizeof(double));
                DT_TRY(fit_rows(ctx, a, tr, ntr, path, PATH_N, w, mse, te, nte, err));
            }
            best = 0;
            for (int g = 1; g < PATH_N; g++)
                if (mse[g] < mse[best] * (1 - 1e-12)) best = g;
            double S = 0;
            for (int64_t i = 0; i < N; i++) S += a->sw ? a->sw[i] : 1;
            if (a->verbose) {
                dt_model_meta_set(m, "alpha", "%.6g", path[best]);
                dt_model_meta_set(m, "cv", "%d-fold on %lld rows, a path of %d alphas: RMSE %.6g", folds, (long long)N, PATH_N,
                                  sqrt(mse[best] / S));
                dt_log(ctx, 0, "linear: alpha=%.4g chosen by %d-fold cross-validation (RMSE %.6g)", path[best], folds,
                       sqrt(mse[best] / S));
            }
        }
        alpha = path[best];
        /* the final fit walks the path down to the chosen alpha, each step warm */
        memset(l->W, 0, ((size_t)D + 1) * sizeof(double));
        DT_TRY(fit_rows(ctx, a, NULL, N, path, best + 1, l->W, NULL, NULL, 0, err));
    } else {
        if (a->verbose) dt_model_meta_set(m, "alpha", "%.6g", alpha);
        DT_TRY(fit_rows(ctx, a, NULL, N, &alpha, 1, l->W, NULL, NULL, 0, err));
    }
    if (a->verbose) {
        const char *pen = p->l1_ratio > 0 ? "elastic-net" : p->penalty == DUET_PENALTY_L1 ? "lasso (L1)" : "ridge (L2)";
        dt_model_meta_set(m, "penalty", "%s%s", pen, "");
        if (p->l1_ratio > 0) dt_model_meta_set(m, "l1_ratio", "%g", p->l1_ratio);
    }
    if (m->state) dt_linear_free(ctx, m->state);
    m->state = l;
    l = NULL;
fail:
    dt_linear_free(ctx, l);
    dt_free(ctx, w);
    dt_free(ctx, mse);
    dt_free(ctx, perm);
    dt_free(ctx, tr);
    dt_free(ctx, te);
    return rc;
}

static int linreg_values(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *v, duet_err *err) {
    (void)ctx, (void)err;
    dt_linear_decision(m->state, X, v);
    return DUET_OK;
}

double dt_linreg_objective(const duet_train_params *p, double alpha, const dt_mat *X, const double *t, const double *sw,
                           const double *w) {
    int64_t N = X->N, D = X->D;
    double S = 0, rss = 0, n1 = 0, n2 = 0, l1, l2;
    for (int64_t i = 0; i < N; i++) {
        double z = t[i] - dt_mat_dot(X, i, w) - w[D], s = sw ? sw[i] : 1;
        rss += s * z * z;
        S += s;
    }
    for (int64_t j = 0; j < D; j++) n1 += fabs(w[j]), n2 += w[j] * w[j];
    penalties(p, alpha, S, &l1, &l2);
    double f = 0.5 * rss + l1 * n1 + 0.5 * l2 * n2; /* the solver's form; scikit-learn's: */
    return l1 > 0 || (p->penalty == DUET_PENALTY_L1) ? f / S : 2 * f;
}

static const dt_option linreg_options[] = {
    {"--alpha", "penalty weight, as scikit-learn's (default: chosen by cross-validation along a path)"},
    {"--penalty", "l2: ridge (default), l1: lasso"},
    {"--l1-ratio", "elastic-net: the L1 share of the penalty, in (0, 1)"},
    {"--tol", "coordinate descent's tolerance (default 1e-7)"},
    {"--max-iter", "coordinate-descent sweeps (default 10000)"},
    {NULL, NULL},
};

const dt_model_ops dt_linreg_ops = {
    .name = "linear",
    .options = linreg_options,
    .learns = "E[y|x]",
    .caps = DUET_CAN_PREDICT | DUET_CAN_EXPLAIN,
    .about = "linear regression: least squares with a ridge, lasso or elastic-net penalty (coordinate descent)",
    .fit = linreg_fit,
    .predict_values = linreg_values,
    .explain = dt_linear_explain,
    .feature_weights = dt_linear_weights,
    .save = dt_linear_save,
    .load = dt_linear_load,
    .free_state = dt_linear_free,
    .title = "linear regression",
    .targets = DT_TARGET_NUMBER,
    .roles = DT_ROLE_REGRESS,
    .quick = 1,
};
