/* logreg.c — logistic regression, binary and multinomial, L2 or L1 penalty.
 * Objective as LIBLINEAR states it (the bias is a feature of value 1 and is regularised too):
 *   L2: 0.5 ||w||^2 + C sum_i s_i loss_i        L1: ||w||_1 + C sum_i s_i loss_i
 * with loss_i = log(1 + exp(-y_i w.x_i)) for two classes (or one-vs-rest) and
 * loss_i = logsumexp_k(w_k.x_i) - w_{y_i}.x_i for the multinomial model; s_i are class weights.
 * Minimised to a relative gradient of tol (default 1e-4) by trust-region Newton (optim.c,
 * LIBLINEAR's own method; L2 on sparse features, by default) or L-BFGS / OWL-QN (dense
 * features, L1), which reach LIBLINEAR's optimum (tests compare the objective with
 * liblinear-tools'). Newton's Hessian-vector product reuses the gradient's two passes:
 *   H v = v + C X^T (W (X v)),  W_i = s_i p_i (1 - p_i) (binary), or per row the K x K block
 *   s_i (diag(p_i) - p_i p_i^T) for the softmax.
 * The linear SVM's primal (squared hinge, LIBLINEAR's -s 2) is the same problem with another
 * loss, so it is solved here too (dt_svm_primal): loss_i = max(0, 1 - y_i w.x_i)^2, whose
 * generalised Hessian weights are W_i = 2 s_i on the rows with a positive margin loss.
 * Not here: features (pipeline), storage and explanations (linear.c), choosing C (api.c).
 */
#include "../core/gemm.h"
#include "linear.h"
#include "optim.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct lr_problem {
    duet_ctx *ctx;
    const dt_mat *X;
    const int32_t *y;
    const double *sw;
    double C;
    int l2;        /* 1: add 0.5||w||^2 to the smooth part */
    int K;         /* classes in the softmax, or 1 for a binary / one-vs-rest vector */
    int pos;       /* binary: the class that is +1 (1 for two classes, v for one-vs-rest) */
    int sqhinge;   /* binary with the squared hinge loss (the SVM's primal) instead of the logistic */
    int64_t D1;    /* D + 1 */
    double *z;     /* (N, K) scratch */
    double *hw;    /* (N, K) Hessian weights at the latest evaluation (Newton only, else NULL):
                      binary s_i p_i (1 - p_i); softmax p_ik */
    double *gbuf;  /* (threads, K * D1) per-thread gradients */
    int threads;
    const double *xd; /* dense X in double (N, D) for BLAS, or NULL */
    const float *xf;  /* large dense X in float (N, D) for BLAS (half the memory traffic), or NULL */
    float *fw, *fz, *fg; /* float scratch for xf: weights (K, D1), z (N, K), gradient (K, D) */
} lr_problem;

/* z (N, K) = X w^T + b for the K vectors of w: one matrix product when X is dense and BLAS is
 * there, row by row otherwise. */
static void linear_part(lr_problem *pb, const double *w) {
    const dt_mat *X = pb->X;
    int64_t N = X->N, D = pb->D1 - 1;
    int K = pb->K;
#ifdef DT_HAVE_BLAS
    if (pb->xf) {
        size_t nw = (size_t)K * (size_t)pb->D1;
        for (size_t j = 0; j < nw; j++) pb->fw[j] = (float)w[j];
        dt_gemm(pb->ctx, pb->fz, K, pb->xf, D, 0, pb->fw, pb->D1, 1, 1.0f, 0.0f, N, K, D);
        for (int64_t i = 0; i < N; i++)
            for (int k = 0; k < K; k++)
                pb->z[(size_t)i * (size_t)K + (size_t)k] =
                    (double)pb->fz[(size_t)i * (size_t)K + (size_t)k] + w[(size_t)k * (size_t)pb->D1 + (size_t)D];
        return;
    }
    if (pb->xd) {
        dt_dgemm(pb->ctx, pb->z, K, pb->xd, D, 0, w, pb->D1, 1, 1.0, 0.0, N, K, D);
        for (int64_t i = 0; i < N; i++)
            for (int k = 0; k < K; k++) pb->z[(size_t)i * (size_t)K + (size_t)k] += w[(size_t)k * (size_t)pb->D1 + (size_t)D];
        return;
    }
#endif
#pragma omp parallel for schedule(static) num_threads(pb->threads)
    for (int64_t i = 0; i < N; i++)
        for (int k = 0; k < K; k++) {
            const double *wk = w + (size_t)k * (size_t)pb->D1;
            pb->z[(size_t)i * (size_t)K + (size_t)k] = dt_mat_dot(X, i, wk) + wk[D];
        }
}

/* A double copy of X for the BLAS path: dense input, or CSR input that is at least a quarter
 * full (pixels written as LIBSVM). *out stays NULL (row loops) otherwise, without BLAS, or for
 * sizes BLAS's int cannot index or that would take over 8 GB. Fails only when out of memory. */
static int dense_copy(duet_ctx *ctx, const dt_mat *X, double **out, duet_err *err) {
    *out = NULL;
#ifdef DT_HAVE_BLAS
    double cells = (double)X->N * (double)X->D;
    if (X->N == 0 || X->N >= INT32_MAX || X->D >= INT32_MAX || cells >= 1e9) return DUET_OK;
    if (!X->x && (double)X->rowptr[X->N] < 0.25 * cells) return DUET_OK;
    size_t n = (size_t)X->N * (size_t)X->D;
    double *xd = X->x ? dt_alloc_e(ctx, n, sizeof(double), "logreg: dense copy", err)
                      : dt_calloc(ctx, n, sizeof(double));
    if (!xd) return X->x ? DUET_ENOMEM : dt_err(err, DUET_ENOMEM, "logreg: dense copy: out of memory");
    if (X->x)
        for (size_t i = 0; i < n; i++) xd[i] = X->x[i];
    else
        for (int64_t i = 0; i < X->N; i++)
            for (int64_t q = X->rowptr[i]; q < X->rowptr[i + 1]; q++) xd[(size_t)i * (size_t)X->D + (size_t)X->col[q]] = X->val[q];
    *out = xd;
#else
    (void)ctx;
    (void)X;
    (void)err;
#endif
    return DUET_OK;
}

/* Jacobi preconditioner for L-BFGS: the inverse of the Hessian's diagonal at w = 0 (where
 * p(1-p) = 1/4), 1 / (1 + C/4 sum_i s_i x_ij^2), repeated for each of the K vectors. It leaves
 * the objective alone and fixes the slow progress on features of very different scales
 * (border pixels, rare terms). */
static int jacobi(duet_ctx *ctx, const lr_problem *pb, double **out, duet_err *err) {
    const dt_mat *X = pb->X;
    int64_t D = pb->D1 - 1;
    double *P = dt_alloc_e(ctx, (size_t)pb->K, (size_t)pb->D1 * sizeof(double), "logreg", err);
    *out = NULL;
    if (!P) return DUET_ENOMEM;
    memset(P, 0, (size_t)pb->D1 * sizeof(double));
    for (int64_t i = 0; i < X->N; i++) {
        double s = pb->sw ? pb->sw[i] : 1;
        if (X->x) {
            const float *r = X->x + (size_t)i * (size_t)D;
            for (int64_t j = 0; j < D; j++) P[j] += s * (double)r[j] * r[j];
        } else {
            for (int64_t q = X->rowptr[i]; q < X->rowptr[i + 1]; q++) P[X->col[q]] += s * (double)X->val[q] * X->val[q];
        }
        P[D] += s;
    }
    int rc = dt_reduce(ctx, P, (size_t)pb->D1, err);
    if (rc) {
        dt_free(ctx, P);
        return rc;
    }
    for (int64_t j = 0; j <= D; j++) P[j] = 1 / (1 + 0.25 * pb->C * P[j]);
    for (int k = 1; k < pb->K; k++) memcpy(P + (size_t)k * (size_t)pb->D1, P, (size_t)pb->D1 * sizeof(double));
    *out = P;
    return DUET_OK;
}

/* For large dense problems (>= 4M values) the BLAS path runs in float: X as it is (or a float
 * densified copy of quarter-full CSR input) and float scratch in one block *fbuf; the sums
 * that follow stay in double. Leaves pb->xf NULL when it does not apply. */
static int float_mode(duet_ctx *ctx, lr_problem *pb, float **own, float **fbuf, duet_err *err) {
    *own = *fbuf = NULL;
#ifdef DT_HAVE_BLAS
    const dt_mat *X = pb->X;
    double cells = (double)X->N * (double)X->D;
    if (cells < 4e6 || X->N >= INT32_MAX || X->D >= INT32_MAX || cells >= 2e9) return DUET_OK;
    if (!X->x && (double)X->rowptr[X->N] < 0.25 * cells) return DUET_OK;
    size_t K = (size_t)pb->K, D = (size_t)X->D, N = (size_t)X->N;
    *fbuf = dt_alloc_e(ctx, K * (D + 1) + N * K + K * D, sizeof(float), "logreg: float scratch", err);
    if (!*fbuf) return DUET_ENOMEM;
    if (!X->x) {
        *own = dt_calloc(ctx, N * D, sizeof(float));
        if (!*own) return dt_err(err, DUET_ENOMEM, "logreg: dense copy: out of memory");
        for (size_t i = 0; i < N; i++)
            for (int64_t q = X->rowptr[i]; q < X->rowptr[i + 1]; q++) (*own)[i * D + (size_t)X->col[q]] = X->val[q];
    }
    pb->xf = X->x ? X->x : *own;
    pb->fw = *fbuf;
    pb->fz = pb->fw + K * (D + 1);
    pb->fg = pb->fz + N * K;
#else
    (void)ctx;
    (void)pb;
    (void)err;
#endif
    return DUET_OK;
}

static double log1pexp(double t) { return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t)); }

/* f and gradient of the loss part for a binary vector w (D1): the logistic loss, or with
 * pb->sqhinge the squared hinge s max(0, 1 - y z)^2, d/dz = -2 s y max(0, 1 - y z). */
static double fg_binary(lr_problem *pb, const double *w) {
    int64_t N = pb->X->N;
    double f = 0;
    linear_part(pb, w);
#pragma omp parallel for schedule(static) reduction(+ : f) num_threads(pb->xd || pb->xf ? 1 : pb->threads)
    for (int64_t i = 0; i < N; i++) {
        double s = pb->sw ? pb->sw[i] : 1;
        double yi = pb->y[i] == pb->pos ? 1 : -1;
        double t = yi * pb->z[i];
        if (pb->sqhinge) {
            double m = t < 1 ? 1 - t : 0;
            f += s * m * m;
            pb->z[i] = -2 * s * yi * m;
            if (pb->hw) pb->hw[i] = m > 0 ? 2 * s : 0;
            continue;
        }
        f += s * log1pexp(-t);
        /* d loss / d (w.x) = -y sigma(-t) */
        double q = 1 / (1 + exp(t));
        pb->z[i] = -s * yi * q;
        if (pb->hw) pb->hw[i] = s * q * (1 - q);
    }
    return f;
}

static double fg_softmax(lr_problem *pb, const double *w) {
    int64_t N = pb->X->N;
    int K = pb->K;
    double f = 0;
    linear_part(pb, w);
#pragma omp parallel for schedule(static) reduction(+ : f) num_threads(pb->xd || pb->xf ? 1 : pb->threads)
    for (int64_t i = 0; i < N; i++) {
        double *zi = pb->z + (size_t)i * (size_t)K;
        double mx = -INFINITY;
        for (int k = 0; k < K; k++)
            if (zi[k] > mx) mx = zi[k];
        double se = 0;
        for (int k = 0; k < K; k++) se += exp(zi[k] - mx);
        double lse = mx + log(se);
        double s = pb->sw ? pb->sw[i] : 1;
        f += s * (lse - zi[pb->y[i]]);
        double *hi = pb->hw ? pb->hw + (size_t)i * (size_t)K : NULL;
        for (int k = 0; k < K; k++) {
            double pk = exp(zi[k] - lse);
            if (hi) hi[k] = pk;
            zi[k] = s * (pk - (k == pb->y[i]));
        }
    }
    return f;
}

/* g = C * X^T z (K vectors of D1, bias last), summed per thread in a fixed order. */
static void grad_from_z(lr_problem *pb, double *g) {
    const dt_mat *X = pb->X;
    int64_t N = X->N, D = pb->D1 - 1;
    int K = pb->K;
    size_t len = (size_t)K * (size_t)pb->D1;
    int T = pb->threads;
#ifdef DT_HAVE_BLAS
    if (pb->xf) { /* the same in float */
        size_t nz = (size_t)N * (size_t)K;
        for (size_t t = 0; t < nz; t++) pb->fz[t] = (float)pb->z[t];
        dt_gemm(pb->ctx, pb->fg, D, pb->fz, K, 1, pb->xf, D, 0, (float)pb->C, 0.0f, K, D, N);
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int64_t j = 0; j < D; j++) g[(size_t)k * (size_t)pb->D1 + (size_t)j] = pb->fg[(size_t)k * (size_t)D + (size_t)j];
            for (int64_t i = 0; i < N; i++) s += pb->z[(size_t)i * (size_t)K + (size_t)k];
            g[(size_t)k * (size_t)pb->D1 + (size_t)D] = pb->C * s;
        }
        return;
    }
    if (pb->xd) { /* G = C z^T X, bias = C sum_i z_i */
        dt_dgemm(pb->ctx, g, pb->D1, pb->z, K, 1, pb->xd, D, 0, pb->C, 0.0, K, D, N);
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int64_t i = 0; i < N; i++) s += pb->z[(size_t)i * (size_t)K + (size_t)k];
            g[(size_t)k * (size_t)pb->D1 + (size_t)D] = pb->C * s;
        }
        return;
    }
#endif
    if (T == 1) { /* straight into g */
        memset(g, 0, len * sizeof *g);
        for (int64_t i = 0; i < N; i++)
            for (int k = 0; k < K; k++) {
                double a = pb->C * pb->z[(size_t)i * (size_t)K + (size_t)k];
                if (a == 0) continue;
                double *gk = g + (size_t)k * (size_t)pb->D1;
                dt_mat_axpy(X, i, a, gk);
                gk[D] += a;
            }
        return;
    }
#pragma omp parallel num_threads(T)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double *gt = pb->gbuf + (size_t)t * len;
        memset(gt, 0, len * sizeof *gt);
        int64_t lo = N * t / T, hi = N * (t + 1) / T;
        for (int64_t i = lo; i < hi; i++)
            for (int k = 0; k < K; k++) {
                double a = pb->z[(size_t)i * (size_t)K + (size_t)k];
                if (a == 0) continue;
                double *gk = gt + (size_t)k * (size_t)pb->D1;
                dt_mat_axpy(X, i, a, gk);
                gk[D] += a;
            }
    }
    for (size_t j = 0; j < len; j++) {
        double s = 0;
        for (int t = 0; t < T; t++) s += pb->gbuf[(size_t)t * len + j];
        g[j] = pb->C * s;
    }
}

static int lr_fg(void *user, const double *w, double *g, double *fout, duet_err *err) {
    lr_problem *pb = user;
    double f = pb->K == 1 ? fg_binary(pb, w) : fg_softmax(pb, w);
    f *= pb->C;
    grad_from_z(pb, g);
    int rc = dt_reduce(pb->ctx, g, (size_t)pb->K * (size_t)pb->D1, err); /* the data terms of every process's rows */
    if (!rc) rc = dt_reduce(pb->ctx, &f, 1, err);
    if (rc) return rc;
    if (pb->l2) {
        size_t len = (size_t)pb->K * (size_t)pb->D1;
        double r = 0;
        for (size_t j = 0; j < len; j++) {
            r += w[j] * w[j];
            g[j] += w[j];
        }
        f += 0.5 * r;
    }
    *fout = f;
    return DUET_OK;
}

/* hv = H v at the latest evaluation: the two passes of the gradient around the Hessian
 * weights (see the top of the file); the L2 term adds v. */
static int lr_hv(void *user, const double *v, double *hv, duet_err *err) {
    lr_problem *pb = user;
    int64_t N = pb->X->N;
    int K = pb->K;
    linear_part(pb, v);
    if (K == 1) {
        for (int64_t i = 0; i < N; i++) pb->z[i] *= pb->hw[i];
    } else {
        for (int64_t i = 0; i < N; i++) {
            double *zi = pb->z + (size_t)i * (size_t)K;
            const double *p = pb->hw + (size_t)i * (size_t)K;
            double m = 0, s = pb->sw ? pb->sw[i] : 1;
            for (int k = 0; k < K; k++) m += p[k] * zi[k];
            for (int k = 0; k < K; k++) zi[k] = s * p[k] * (zi[k] - m);
        }
    }
    grad_from_z(pb, hv);
    size_t len = (size_t)K * (size_t)pb->D1;
    int rc = dt_reduce(pb->ctx, hv, len, err);
    if (rc) return rc;
    for (size_t j = 0; j < len; j++) hv[j] += v[j];
    return DUET_OK;
}

/* The Hessian's diagonal at the latest evaluation, 1 + C sum_i c_ik x_ij^2 (bias: x = 1),
 * with c_ik = W_i (binary) or s_i p_ik (1 - p_ik) (softmax). */
static int lr_hdiag(void *user, double *M, duet_err *err) {
    lr_problem *pb = user;
    const dt_mat *X = pb->X;
    int64_t N = X->N, D = pb->D1 - 1;
    int K = pb->K;
    size_t len = (size_t)K * (size_t)pb->D1;
    memset(M, 0, len * sizeof *M);
    for (int64_t i = 0; i < N; i++) {
        double s = pb->sw ? pb->sw[i] : 1;
        for (int k = 0; k < K; k++) {
            double c = K == 1 ? pb->hw[i] : s * pb->hw[(size_t)i * (size_t)K + (size_t)k] *
                                                (1 - pb->hw[(size_t)i * (size_t)K + (size_t)k]);
            double *Mk = M + (size_t)k * (size_t)pb->D1;
            if (X->x) {
                const float *r = X->x + (size_t)i * (size_t)D;
                for (int64_t j = 0; j < D; j++) Mk[j] += c * (double)r[j] * r[j];
            } else {
                for (int64_t q = X->rowptr[i]; q < X->rowptr[i + 1]; q++) Mk[X->col[q]] += c * (double)X->val[q] * X->val[q];
            }
            Mk[D] += c;
        }
    }
    int rc = dt_reduce(pb->ctx, M, len, err);
    if (rc) return rc;
    for (size_t j = 0; j < len; j++) M[j] = 1 + pb->C * M[j];
    return DUET_OK;
}

/* Threads for one problem's passes over X (K vectors): the context's, but one for a pass over
 * fewer than ~4M stored values, which is quicker alone than with a thread team's start and
 * barriers on every evaluation. X NULL: the context's threads. */
static int pass_threads(const duet_ctx *ctx, const dt_mat *X, int K) {
    int t = dt_threads(ctx);
#ifdef _OPENMP
    if (t > omp_get_max_threads()) t = omp_get_max_threads();
#endif
    double work = X ? (X->x ? (double)X->N * (double)X->D : (double)X->rowptr[X->N]) * (double)K : 1e300;
    return work < 4e6 ? 1 : t;
}

/* One problem's minimisation by the solver chosen for it (pb->hw set: Newton). */
static int solve(duet_ctx *ctx, lr_problem *pb, int64_t n, double *w, dt_opt *o, duet_err *err) {
    if (pb->hw) return dt_tron(ctx, n, w, lr_fg, lr_hv, lr_hdiag, pb, o, err);
    return dt_lbfgs(ctx, n, w, lr_fg, pb, o, err);
}

/* One-vs-rest with the classes spread over threads, each solving its own binary problem
 * single-threaded (the per-class results do not depend on the thread count). */
static int fit_ovr_parallel(duet_ctx *ctx, const lr_problem *pb, const dt_opt *o, dt_linear *l, int V, int verbose,
                            duet_err *err) {
    int *rcs = dt_calloc(ctx, (size_t)V, sizeof(int)), *iters = dt_calloc(ctx, (size_t)V, sizeof(int));
    int64_t inner = 0;
    duet_err *errs = dt_calloc(ctx, (size_t)V, sizeof(duet_err));
    if (!rcs || !errs || !iters) {
        dt_free(ctx, rcs);
        dt_free(ctx, iters);
        dt_free(ctx, errs);
        return dt_err(err, DUET_ENOMEM, "logreg: out of memory");
    }
#pragma omp parallel num_threads(pb->threads)
    {
        /* per thread: scratch reused for every class it solves */
        duet_err e0;
        lr_problem q = *pb;
        q.threads = 1;
        q.z = dt_alloc_e(ctx, (size_t)pb->X->N, sizeof(double), "logreg", &e0);
        q.gbuf = dt_alloc_e(ctx, (size_t)pb->D1, sizeof(double), "logreg", &e0);
        q.hw = pb->hw ? dt_alloc_e(ctx, (size_t)pb->X->N, sizeof(double), "logreg", &e0) : NULL;
        dt_opt ov = *o;
        ov.work = dt_alloc_e(ctx, dt_opt_work(pb->D1, o->memory, pb->hw != NULL), sizeof(double), "logreg", &e0);
#pragma omp for schedule(dynamic, 1)
        for (int v = 0; v < V; v++) {
            q.pos = v;
            if (!q.z || !q.gbuf || !ov.work || (pb->hw && !q.hw)) {
                rcs[v] = DUET_ENOMEM;
                errs[v] = e0;
                continue;
            }
            rcs[v] = solve(ctx, &q, pb->D1, l->W + (size_t)v * (size_t)pb->D1, &ov, &errs[v]);
            iters[v] = ov.iters;
#pragma omp atomic
            inner += ov.inner;
        }
        dt_free(ctx, q.z);
        dt_free(ctx, q.gbuf);
        dt_free(ctx, q.hw);
        dt_free(ctx, ov.work);
    }
    if (verbose) {
        int lo = iters[0], hi = iters[0];
        for (int v = 1; v < V; v++) {
            lo = iters[v] < lo ? iters[v] : lo;
            hi = iters[v] > hi ? iters[v] : hi;
        }
        dt_log(ctx, 0, "logreg: one-vs-rest, %d classes, C=%g: %d-%d %s", V, pb->C, lo, hi,
               pb->hw ? "Newton steps" : "iterations");
        if (pb->hw) dt_log(ctx, 0, "logreg: %lld Hessian-vector products", (long long)inner);
    }
    int rc = DUET_OK;
    for (int v = 0; v < V && !rc; v++)
        if (rcs[v]) {
            rc = rcs[v];
            if (err) *err = errs[v];
        }
    dt_free(ctx, rcs);
    dt_free(ctx, iters);
    dt_free(ctx, errs);
    return rc;
}

static int lr_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    const duet_train_params *p = a->p;
    double C = p->C > 0 ? p->C : 1.0;
    /* L-BFGS keeps 2 x 10 vectors of the size of W: past 4M weights one-vs-rest needs far
     * less memory (and time) than the softmax */
    int big = (double)a->K * (double)(a->X->D + 1) > 4e6;
    int softmax = a->K > 2 && (p->multinomial > 0 || (p->multinomial == 0 && !big));
    if (a->verbose && a->K > 2 && p->multinomial == 0 && big)
        dt_log(ctx, 0, "logreg: %d classes x %lld features: one-vs-rest instead of softmax (--softmax forces it)", a->K,
               (long long)a->X->D);
    int V = a->K == 2 ? 1 : a->K;
    int rc = DUET_OK;
    dt_linear *l = NULL;
    lr_problem pb = {0};
    dt_opt o = {0};
    double *xd = NULL, *precond = NULL;
    float *xf_own = NULL, *fbuf = NULL;
    DT_TRY(dt_linear_new(ctx, V, a->X->D, &l, err));
    l->softmax = softmax;
    const dt_linear *prev = m->state; /* warm start from an earlier fit of the same shape */
    if (prev && prev->V == V && prev->D == a->X->D && prev->softmax == softmax)
        memcpy(l->W, prev->W, (size_t)V * (size_t)(a->X->D + 1) * sizeof(double));
    pb.ctx = ctx;
    pb.X = a->X;
    pb.y = a->y;
    pb.sw = a->sw;
    pb.C = C;
    pb.l2 = p->penalty != DUET_PENALTY_L1;
    pb.K = softmax ? a->K : 1;
    pb.D1 = a->X->D + 1;
    pb.threads = V == 1 ? pass_threads(ctx, a->X, pb.K) : pass_threads(ctx, NULL, 0);
    /* data-parallel: the processes combine sums at each evaluation, so they solve the classes
     * of one-vs-rest one after another, in the same order, and all in double (float mode
     * depends on the size of each process's share) */
    int dist = dt_distributed(ctx);
    pb.z = dt_alloc_e(ctx, (size_t)a->X->N, (size_t)pb.K * sizeof(double), "logreg", err);
    pb.gbuf = dt_alloc_e(ctx, (size_t)pb.threads * (size_t)pb.K, (size_t)pb.D1 * sizeof(double), "logreg", err);
    if (!pb.z || !pb.gbuf) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    if ((softmax || V == 1) && !dist) DT_TRY(float_mode(ctx, &pb, &xf_own, &fbuf, err)); /* not shared by OvR threads */
    if (!pb.xf) DT_TRY(dense_copy(ctx, a->X, &xd, err));
    pb.xd = xd;
    /* Newton where each Hessian product is cheap next to L-BFGS's vector passes: sparse rows */
    int newton = pb.l2 && (p->solver == DUET_SOLVER_NEWTON || (p->solver == DUET_SOLVER_AUTO && !pb.xd && !pb.xf && !a->X->x));
    if (newton && !(pb.hw = dt_alloc_e(ctx, (size_t)a->X->N, (size_t)pb.K * sizeof(double), "logreg", err))) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    if (pb.l2 && !newton) DT_TRY(jacobi(ctx, &pb, &precond, err));
    o.precond = precond;
    o.l1 = pb.l2 ? 0 : 1;
    o.tol = p->tol > 0 ? p->tol : 1e-4;
    o.max_iter = p->max_iter > 0 ? p->max_iter : 1000;
    o.memory = 10;
    o.what = "logreg";
    o.quiet = !a->verbose;
    if (pb.xf && o.tol < 1e-3) o.tol = 1e-3; /* float products: gradients below that are noise */
    if (softmax) {
        DT_TRY(solve(ctx, &pb, (int64_t)a->K * pb.D1, l->W, &o, err));
        if (a->verbose)
            dt_log(ctx, 0, "logreg: multinomial, %d classes, C=%g: %d %s, objective %.6g", a->K, C, o.iters,
                   newton ? "Newton steps" : "iterations", o.f);
        if (a->verbose && newton) dt_log(ctx, 0, "logreg: %d Hessian-vector products", o.inner);
    } else if (V > 1 && pb.threads > 1 && !dist) {
        DT_TRY(fit_ovr_parallel(ctx, &pb, &o, l, V, a->verbose, err));
    } else {
        if (V > 1 && !(o.work = dt_alloc_e(ctx, dt_opt_work(pb.D1, o.memory, newton), sizeof(double), "logreg", err))) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        for (int v = 0; v < V; v++) {
            pb.pos = V == 1 ? 1 : v;
            DT_TRY(solve(ctx, &pb, pb.D1, l->W + (size_t)v * (size_t)pb.D1, &o, err));
            if (a->verbose)
                dt_log(ctx, 0, "logreg: %s C=%g: %d %s, objective %.6g", V == 1 ? "two classes," : "one-vs-rest,", C,
                       o.iters, newton ? "Newton steps" : "iterations", o.f);
            if (a->verbose && newton) dt_log(ctx, 0, "logreg: %d Hessian-vector products", o.inner);
        }
    }
    dt_linear_free(ctx, m->state);
    m->state = l;
    l = NULL;
fail:
    dt_linear_free(ctx, l);
    dt_free(ctx, pb.z);
    dt_free(ctx, pb.gbuf);
    dt_free(ctx, pb.hw);
    dt_free(ctx, o.work);
    dt_free(ctx, xd);
    dt_free(ctx, precond);
    dt_free(ctx, xf_own);
    dt_free(ctx, fbuf);
    return rc;
}

static double sigmoid(double t) { return t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t)); }

static int lr_predict(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *P, duet_err *err) {
    const dt_linear *l = m->state;
    double *z = dt_alloc_e(ctx, (size_t)X->N, (size_t)l->V * sizeof(double), "logreg predict", err);
    if (!z) return DUET_ENOMEM;
    dt_linear_decision(l, X, z);
    int K = m->K;
    for (int64_t i = 0; i < X->N; i++) {
        const double *zi = z + (size_t)i * (size_t)l->V;
        float *pi = P + (size_t)i * (size_t)K;
        if (l->V == 1) {
            double p1 = sigmoid(zi[0]);
            pi[0] = (float)(1 - p1);
            pi[1] = (float)p1;
        } else if (l->softmax) {
            double mx = -INFINITY, s = 0;
            for (int k = 0; k < K; k++) mx = zi[k] > mx ? zi[k] : mx;
            for (int k = 0; k < K; k++) s += exp(zi[k] - mx);
            for (int k = 0; k < K; k++) pi[k] = (float)(exp(zi[k] - mx) / s);
        } else { /* one-vs-rest: normalised sigmoids, as LIBLINEAR does */
            double s = 0;
            for (int k = 0; k < K; k++) s += sigmoid(zi[k]);
            for (int k = 0; k < K; k++) pi[k] = (float)(sigmoid(zi[k]) / s);
        }
    }
    dt_free(ctx, z);
    return DUET_OK;
}

static const double c_grid[] = {0.1, 1, 10, 100, 1000};

/* weights, gradient and L-BFGS's history (10 pairs) or Newton's conjugate-gradient vectors */
static double lr_fit_bytes(const duet_model *m, const dt_fit_args *a) {
    (void)m;
    return 28.0 * 8.0 * (a->K == 2 ? 1.0 : (double)a->K) * ((double)a->X->D + 1);
}

static const dt_option logreg_options[] = {
    {"--C", "inverse regularisation (default: chosen by cross-validation)"},
    {"--penalty", "l2 (default) or l1"},
    {"--solver", "newton (trust region) or lbfgs (default: newton for L2 on sparse features, else lbfgs; L1 takes lbfgs)"},
    {"--tol", "solver tolerance (default 1e-4)"},
    {"--max-iter", "solver iterations (default 1000)"},
    {"--ovr", "more than two classes: one-vs-rest instead of softmax"},
    {"--softmax", "softmax even when the weights are many (default: one-vs-rest past 4M weights)"},
    {NULL, NULL},
};

const dt_model_ops dt_logreg_ops = {
    .name = "logreg",
    .options = logreg_options,
    .learns = "p(y|x)",
    .caps = DUET_CAN_PREDICT | DUET_CAN_EXPLAIN,
    .about = "logistic regression (binary or multinomial; L2 or L1), the LIBLINEAR objective",
    .fit = lr_fit,
    .fit_bytes = lr_fit_bytes,
    .distributed = 1,
    .predict_proba = lr_predict,
    .explain = dt_linear_explain,
    .feature_weights = dt_linear_weights,
    .save = dt_linear_save,
    .load = dt_linear_load,
    .free_state = dt_linear_free,
    .tune = "C",
    .tune_field = offsetof(duet_train_params, C),
    .tune_grid = c_grid,
    .tune_n = (int)(sizeof c_grid / sizeof *c_grid),
    .title = "logistic regression",
    .roles = DT_ROLE_DEFAULT,
    .compare_on = (1u << DUET_DATA_DENSE) | (1u << DUET_DATA_SPARSE) | (1u << DUET_DATA_TEXT) | (1u << DUET_DATA_TABLE),
    .quick = 1,
    .solvers = (1u << DUET_SOLVER_NEWTON) | (1u << DUET_SOLVER_LBFGS),
};

int dt_svm_primal(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int pos, double C, double tol,
                  int max_iter, int verbose, double *w, duet_err *err) {
    lr_problem pb = {0};
    dt_opt o = {0};
    double *xd = NULL;
    int rc = DUET_OK;
    pb.ctx = ctx;
    pb.X = X;
    pb.y = y;
    pb.sw = sw;
    pb.C = C;
    pb.l2 = 1;
    pb.K = 1;
    pb.pos = pos;
    pb.sqhinge = 1;
    pb.D1 = X->D + 1;
    pb.threads = pass_threads(ctx, X, 1);
    pb.z = dt_alloc_e(ctx, (size_t)X->N + 1, sizeof(double), "svm", err); /* a process may hold no rows of a fold */
    pb.hw = dt_alloc_e(ctx, (size_t)X->N + 1, sizeof(double), "svm", err);
    pb.gbuf = dt_alloc_e(ctx, (size_t)pb.threads, (size_t)pb.D1 * sizeof(double), "svm", err);
    if (!pb.z || !pb.hw || !pb.gbuf) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    DT_TRY(dense_copy(ctx, X, &xd, err));
    pb.xd = xd;
    o.tol = tol;
    o.max_iter = max_iter;
    o.what = "svm";
    o.quiet = !verbose;
    memset(w, 0, (size_t)pb.D1 * sizeof *w);
    DT_TRY(dt_tron(ctx, pb.D1, w, lr_fg, lr_hv, lr_hdiag, &pb, &o, err));
    if (verbose) dt_log(ctx, 0, "svm: primal, C=%g: %d Newton steps, %d Hessian-vector products, objective %.6g", C, o.iters, o.inner, o.f);
fail:
    dt_free(ctx, pb.z);
    dt_free(ctx, pb.hw);
    dt_free(ctx, pb.gbuf);
    dt_free(ctx, xd);
    return rc;
}

/* A single-threaded problem for the test entry points; scratch for the Hessian when hw. */
static int test_problem(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int K, int pos, double C,
                        int l2, int hw, lr_problem *pb, double **xd, duet_err *err) {
    memset(pb, 0, sizeof *pb);
    pb->ctx = ctx;
    pb->X = X;
    pb->y = y;
    pb->sw = sw;
    pb->C = C;
    pb->l2 = l2;
    pb->K = K;
    pb->pos = pos;
    pb->D1 = X->D + 1;
    pb->threads = 1;
    *xd = NULL;
    pb->z = dt_alloc_e(ctx, (size_t)X->N, (size_t)K * sizeof(double), "logreg", err);
    pb->gbuf = dt_alloc_e(ctx, (size_t)K, (size_t)pb->D1 * sizeof(double), "logreg", err);
    if (hw) pb->hw = dt_alloc_e(ctx, (size_t)X->N, (size_t)K * sizeof(double), "logreg", err);
    if (!pb->z || !pb->gbuf || (hw && !pb->hw) || dense_copy(ctx, X, xd, err) != DUET_OK) return DUET_ENOMEM;
    pb->xd = *xd;
    return DUET_OK;
}

static void test_problem_free(duet_ctx *ctx, lr_problem *pb, double *xd) {
    dt_free(ctx, pb->z);
    dt_free(ctx, pb->gbuf);
    dt_free(ctx, pb->hw);
    dt_free(ctx, xd);
}

int dt_logreg_objective(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int K, int pos,
                        double C, int l2, const double *w, double *g, double *f, duet_err *err) {
    lr_problem pb;
    double *xd;
    int rc = test_problem(ctx, X, y, sw, K, pos, C, l2, 0, &pb, &xd, err);
    if (rc == DUET_OK) {
        rc = lr_fg(&pb, w, g, f, err);
        if (!rc && !l2) {
            size_t n = (size_t)K * (size_t)pb.D1;
            for (size_t j = 0; j < n; j++) *f += fabs(w[j]);
        }
    }
    test_problem_free(ctx, &pb, xd);
    return rc;
}

int dt_logreg_hessian(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int K, int pos,
                      double C, const double *w, const double *v, double *hv, double *diag, duet_err *err) {
    lr_problem pb;
    double *xd, *g = dt_alloc_e(ctx, (size_t)K, (size_t)(X->D + 1) * sizeof(double), "logreg", err);
    int rc = g ? test_problem(ctx, X, y, sw, K, pos, C, 1, 1, &pb, &xd, err) : DUET_ENOMEM;
    if (rc == DUET_OK) {
        double f;
        rc = lr_fg(&pb, w, g, &f, err);
        if (!rc && v && hv) rc = lr_hv(&pb, v, hv, err);
        if (!rc && diag) rc = lr_hdiag(&pb, diag, err);
    }
    if (g) test_problem_free(ctx, &pb, xd);
    dt_free(ctx, g);
    return rc;
}
