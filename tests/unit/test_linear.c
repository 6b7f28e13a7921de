/* test_linear.c — logistic regression and the linear SVM: gradients and Hessian-vector
 * products against central finite differences, the optimum against LIBLINEAR's
 * (liblinear-tools, run on the same problem), both solvers against each other, trust-region
 * Newton on a quadratic, L1 optimality, class weights, save/load of the weights.
 */
#include <math.h>

#include "models/linear.h"
#include "models/optim.h"
#include "test.h"

/* A random problem: N rows, D features, dense and CSR copies (about half the entries 0). */
typedef struct problem {
    dt_mat dense, sparse;
    int32_t *y;
    int64_t N, D;
} problem;

static void make_problem(duet_ctx *ctx, int64_t N, int64_t D, int K, uint64_t seed, problem *p) {
    dt_rng r;
    dt_rng_seed(&r, seed);
    p->N = N;
    p->D = D;
    p->dense = (dt_mat){N, D, dt_calloc(ctx, (size_t)(N * D), sizeof(float)), NULL, NULL, NULL, 0};
    p->sparse = (dt_mat){N, D, NULL, dt_calloc(ctx, (size_t)N + 1, sizeof(int64_t)),
                         dt_calloc(ctx, (size_t)(N * D), sizeof(int32_t)), dt_calloc(ctx, (size_t)(N * D), sizeof(float)), 0};
    p->y = dt_calloc(ctx, (size_t)N, sizeof(int32_t));
    double *truth = dt_calloc(ctx, (size_t)(K * D), sizeof(double));
    for (int64_t j = 0; j < K * D; j++) truth[j] = dt_rng_normal(&r);
    int64_t nnz = 0;
    for (int64_t i = 0; i < N; i++) {
        double best = -1e300;
        for (int64_t j = 0; j < D; j++)
            if (dt_rng_uniform(&r) < 0.5) {
                float v = (float)dt_rng_normal(&r);
                p->dense.x[i * D + j] = v;
                p->sparse.col[nnz] = (int32_t)j;
                p->sparse.val[nnz++] = v;
            }
        p->sparse.rowptr[i + 1] = nnz;
        for (int k = 0; k < K; k++) {
            double s = dt_rng_normal(&r) * 1.5; /* noise: not separable */
            for (int64_t j = 0; j < D; j++) s += truth[k * D + j] * p->dense.x[i * D + j];
            if (s > best) {
                best = s;
                p->y[i] = k;
            }
        }
    }
    dt_free(ctx, truth);
}

static void free_problem(duet_ctx *ctx, problem *p) {
    dt_mat_free(ctx, &p->dense);
    dt_mat_free(ctx, &p->sparse);
    dt_free(ctx, p->y);
}

/* Central differences of the objective against its gradient, for K=1 (binary) and softmax. */
static void test_gradients(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    problem p;
    make_problem(ctx, 9, 5, 3, 11, &p);
    double sw[9];
    for (int i = 0; i < 9; i++) sw[i] = 0.5 + 0.25 * i;
    for (int K = 1; K <= 3; K += 2)
        for (int sparse = 0; sparse < 2; sparse++) {
            int64_t n = (int64_t)K * (p.D + 1);
            double w[32], g[32], g2[32], f, fp, fm;
            dt_rng r;
            dt_rng_seed(&r, 5);
            for (int64_t j = 0; j < n; j++) w[j] = 0.3 * dt_rng_normal(&r);
            const dt_mat *X = sparse ? &p.sparse : &p.dense;
            CHECK_OK(dt_logreg_objective(ctx, X, p.y, sw, K, 2, 0.7, 1, w, g, &f, &e));
            double worst = 0;
            for (int64_t j = 0; j < n; j++) {
                double h = 1e-5, keep = w[j];
                w[j] = keep + h;
                dt_logreg_objective(ctx, X, p.y, sw, K, 2, 0.7, 1, w, g2, &fp, &e);
                w[j] = keep - h;
                dt_logreg_objective(ctx, X, p.y, sw, K, 2, 0.7, 1, w, g2, &fm, &e);
                w[j] = keep;
                double fd = (fp - fm) / (2 * h);
                double rel = fabs(fd - g[j]) / fmax(1, fabs(g[j]));
                if (rel > worst) worst = rel;
            }
            CHECK(worst < 1e-6);
            if (worst >= 1e-6) fprintf(stderr, "K=%d sparse=%d worst relative gradient error %g\n", K, sparse, worst);
        }
    free_problem(ctx, &p);
    duet_ctx_free(ctx);
}

/* Hessian-vector products against central differences of the gradient, and the diagonal
 * against products with unit vectors; binary and softmax, dense and sparse, weighted rows. */
static void test_hessian(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    problem p;
    make_problem(ctx, 11, 5, 3, 12, &p);
    double sw[11];
    for (int i = 0; i < 11; i++) sw[i] = 0.5 + 0.2 * i;
    for (int K = 1; K <= 3; K += 2)
        for (int sparse = 0; sparse < 2; sparse++) {
            int64_t n = (int64_t)K * (p.D + 1);
            double w[32], v[32], hv[32], diag[32], gp[32], gm[32], wp[32], wm[32], f;
            dt_rng r;
            dt_rng_seed(&r, 6);
            for (int64_t j = 0; j < n; j++) {
                w[j] = 0.4 * dt_rng_normal(&r);
                v[j] = dt_rng_normal(&r);
            }
            const dt_mat *X = sparse ? &p.sparse : &p.dense;
            CHECK_OK(dt_logreg_hessian(ctx, X, p.y, sw, K, 2, 0.7, w, v, hv, diag, &e));
            double h = 1e-5, worst = 0;
            for (int64_t j = 0; j < n; j++) {
                wp[j] = w[j] + h * v[j];
                wm[j] = w[j] - h * v[j];
            }
            dt_logreg_objective(ctx, X, p.y, sw, K, 2, 0.7, 1, wp, gp, &f, &e);
            dt_logreg_objective(ctx, X, p.y, sw, K, 2, 0.7, 1, wm, gm, &f, &e);
            for (int64_t j = 0; j < n; j++) worst = fmax(worst, fabs((gp[j] - gm[j]) / (2 * h) - hv[j]) / fmax(1, fabs(hv[j])));
            CHECK(worst < 1e-6);
            if (worst >= 1e-6) fprintf(stderr, "K=%d sparse=%d worst relative Hv error %g\n", K, sparse, worst);
            double dworst = 0;
            for (int64_t j = 0; j < n; j++) {
                double ej[32] = {0}, hej[32];
                ej[j] = 1;
                dt_logreg_hessian(ctx, X, p.y, sw, K, 2, 0.7, w, ej, hej, NULL, &e);
                dworst = fmax(dworst, fabs(hej[j] - diag[j]));
            }
            CHECK(dworst < 1e-9);
        }
    free_problem(ctx, &p);
    duet_ctx_free(ctx);
}

/* f = 0.5 sum_i a_i (x_i - c_i)^2 + 0.25 sum_i x_i^4 / (1 + i): strictly convex, badly scaled
 * (a from 1e-3 to 1e3), far from its optimum at the start, so the trust region binds. */
typedef struct quartic {
    int n;
    double a[40], c[40], x[40];
} quartic;

static int quartic_fg(void *user, const double *x, double *g, double *fout, duet_err *err) {
    quartic *q = user;
    double f = 0;
    (void)err;
    for (int i = 0; i < q->n; i++) {
        double d = x[i] - q->c[i];
        f += 0.5 * q->a[i] * d * d + 0.25 * pow(x[i], 4) / (1 + i);
        g[i] = q->a[i] * d + pow(x[i], 3) / (1 + i);
        q->x[i] = x[i];
    }
    *fout = f;
    return DUET_OK;
}

static int quartic_hv(void *user, const double *v, double *hv, duet_err *err) {
    quartic *q = user;
    (void)err;
    for (int i = 0; i < q->n; i++) hv[i] = (q->a[i] + 3 * q->x[i] * q->x[i] / (1 + i)) * v[i];
    return DUET_OK;
}

static int quartic_diag(void *user, double *d, duet_err *err) {
    quartic *q = user;
    (void)err;
    for (int i = 0; i < q->n; i++) d[i] = q->a[i] + 3 * q->x[i] * q->x[i] / (1 + i);
    return DUET_OK;
}

/* the quartic whose objective fails (as a sum across processes can) on its fifth call */
typedef struct failing {
    quartic q;
    int calls;
} failing;

static int failing_fg(void *user, const double *x, double *g, double *f, duet_err *err) {
    failing *fq = user;
    if (++fq->calls == 5) return dt_err(err, DUET_EIO, "combining sums failed (test)");
    return quartic_fg(&fq->q, x, g, f, err);
}

static int failing_hv(void *user, const double *v, double *hv, duet_err *err) {
    return quartic_hv(&((failing *)user)->q, v, hv, err);
}

/* a callback's failure stops either optimiser with its status and message */
static void test_optim_callback_fails(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    for (int newton = 0; newton < 2; newton++) {
        failing fq = {.q = {.n = 40}};
        double x[40];
        for (int i = 0; i < 40; i++) fq.q.a[i] = 1 + i, fq.q.c[i] = i, x[i] = 100;
        dt_opt o = {.tol = 1e-12, .max_iter = 500, .what = "quartic", .quiet = 1};
        int rc = newton ? dt_tron(ctx, 40, x, failing_fg, failing_hv, NULL, &fq, &o, &e)
                        : dt_lbfgs(ctx, 40, x, failing_fg, &fq, &o, &e);
        CHECK(rc == DUET_EIO);
        CHECK(strstr(e.msg, "combining sums failed") != NULL);
        CHECK(fq.calls == 5);
    }
    duet_ctx_free(ctx);
}

static void test_tron(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    for (int pre = 0; pre < 2; pre++) {
        quartic q = {.n = 40};
        double x[40], g[40];
        for (int i = 0; i < q.n; i++) {
            q.a[i] = pow(10, -3 + 6.0 * i / (q.n - 1));
            q.c[i] = 5 * sin(i + 1.0);
            x[i] = 100;
        }
        dt_opt o = {.tol = 1e-10, .max_iter = 500, .what = "quartic", .quiet = 1};
        CHECK_OK(dt_tron(ctx, q.n, x, quartic_fg, quartic_hv, pre ? quartic_diag : NULL, &q, &o, &e));
        double f;
        CHECK_OK(quartic_fg(&q, x, g, &f, &e));
        double gmax = 0;
        for (int i = 0; i < q.n; i++) gmax = fmax(gmax, fabs(g[i]));
        CHECK(gmax < 1e-6);
        CHECK(o.iters < 100 && o.inner > 0);
        if (gmax >= 1e-6) fprintf(stderr, "tron (precondition %d): gradient %g after %d steps\n", pre, gmax, o.iters);
    }
    duet_ctx_free(ctx);
}

static int fit_with(duet_ctx *ctx, const dt_model_ops *ops, const problem *p, const dt_mat *X, int K, double C,
                    int penalty, double tol, int solver, int multinomial, const double *sw, duet_model *m, duet_err *e) {
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->ops = ops;
    m->K = K;
    m->D = p->D;
    duet_train_params tp = duet_train_params_default();
    tp.C = C;
    tp.penalty = penalty;
    tp.tol = tol;
    tp.max_iter = 100000;
    tp.solver = solver;
    tp.multinomial = multinomial;
    dt_fit_args a = {X, p->y, K, sw, &tp, 0, NULL};
    return ops->fit(ctx, m, &a, e);
}

/* Newton and L-BFGS reach the same optimum: binary, softmax and one-vs-rest, dense and
 * sparse, with weighted rows, on one thread and two. */
static void test_solvers_agree(void) {
    problem p;
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    make_problem(ctx, 300, 20, 3, 21, &p);
    double sw[300];
    for (int i = 0; i < 300; i++) sw[i] = p.y[i] == 0 ? 2.0 : 1.0;
    for (int threads = 1; threads <= 2; threads++) {
        duet_ctx_set_threads(ctx, threads);
        for (int K = 2; K <= 3; K++)
            for (int mn = -1; mn <= (K == 3 ? 1 : -1); mn += 2)
                for (int sparse = 0; sparse < 2; sparse++) {
                    const dt_mat *X = sparse ? &p.sparse : &p.dense;
                    problem q = p;
                    int32_t y2[300];
                    if (K == 2) { /* two classes: 0 against the rest */
                        for (int i = 0; i < 300; i++) y2[i] = p.y[i] != 0;
                        q.y = y2;
                    }
                    duet_model a, b;
                    CHECK_OK(fit_with(ctx, &dt_logreg_ops, &q, X, K, 3.0, DUET_PENALTY_L2, 1e-9, DUET_SOLVER_NEWTON, mn, sw, &a, &e));
                    CHECK_OK(fit_with(ctx, &dt_logreg_ops, &q, X, K, 3.0, DUET_PENALTY_L2, 1e-9, DUET_SOLVER_LBFGS, mn, sw, &b, &e));
                    const dt_linear *la = a.state, *lb = b.state;
                    CHECK(la->V == lb->V && la->softmax == lb->softmax);
                    double dw = 0;
                    for (int64_t j = 0; j < (int64_t)la->V * (p.D + 1); j++) dw = fmax(dw, fabs(la->W[j] - lb->W[j]));
                    CHECK(dw < 1e-5);
                    if (dw >= 1e-5) fprintf(stderr, "K=%d mn=%d sparse=%d threads=%d: weights differ by %g\n", K, mn, sparse, threads, dw);
                    dt_linear_free(ctx, a.state);
                    dt_linear_free(ctx, b.state);
                }
    }
    free_problem(ctx, &p);
    duet_ctx_free(ctx);
}

static int fit(duet_ctx *ctx, const dt_model_ops *ops, const problem *p, const dt_mat *X, int K, double C,
               int penalty, double tol, duet_model *m, duet_err *e) {
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->ops = ops;
    m->K = K;
    m->D = p->D;
    duet_train_params tp = duet_train_params_default();
    tp.C = C;
    tp.penalty = penalty;
    tp.tol = tol;
    tp.max_iter = 100000;
    dt_fit_args a = {X, p->y, K, NULL, &tp, 0, NULL};
    return ops->fit(ctx, m, &a, e);
}

/* Writes the problem as a LIBSVM file (labels as 0/1 in the order of the first row) and runs
 * liblinear-train; returns its weights (D+1) as the vector of class 1. 1 when it ran, -1 when
 * liblinear-train is not installed (a skip), 0 when it is and something failed (a failure). */
static int liblinear(const problem *p, const char *solver, double C, double *w) {
    if (system("command -v liblinear-train >/dev/null 2>&1") != 0) return -1;
    char data[] = "/tmp/duet_ll_XXXXXX";
    int fd = mkstemp(data);
    if (fd < 0) return 0;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(data);
        return 0;
    }
    for (int64_t i = 0; i < p->N; i++) {
        fprintf(f, "%d", p->y[i]);
        for (int64_t q = p->sparse.rowptr[i]; q < p->sparse.rowptr[i + 1]; q++)
            fprintf(f, " %d:%.9g", p->sparse.col[q] + 1, (double)p->sparse.val[q]);
        fputc('\n', f);
    }
    fclose(f);
    char model[64], cmd[512];
    snprintf(model, sizeof model, "%s.model", data);
    snprintf(cmd, sizeof cmd, "liblinear-train -q -s %s -c %g -B 1 -e 1e-8 %s %s", solver, C, data, model);
    int ok = system(cmd) == 0;
    f = ok ? fopen(model, "r") : NULL;
    ok = 0;
    if (f) {
        char line[256];
        int first = -1, in_w = 0;
        int64_t j = 0;
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "label ", 6) == 0) first = atoi(line + 6);
            else if (strncmp(line, "w", 1) == 0 && line[1] == '\n') in_w = 1;
            else if (in_w && j <= p->D) w[j++] = atof(line);
        }
        fclose(f);
        if (first == 0) /* liblinear's vector is for its first label */
            for (int64_t t = 0; t < j; t++) w[t] = -w[t];
        ok = j == p->D + 1;
    }
    unlink(data);
    unlink(model);
    return ok;
}

static double svm_objective(const problem *p, const double *w, double C) {
    double f = 0;
    for (int64_t j = 0; j <= p->D; j++) f += 0.5 * w[j] * w[j];
    for (int64_t i = 0; i < p->N; i++) {
        double y = p->y[i] == 1 ? 1 : -1;
        double m = 1 - y * (dt_mat_dot(&p->sparse, i, w) + w[p->D]);
        if (m > 0) f += C * m * m;
    }
    return f;
}

static void test_vs_liblinear(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    problem p;
    make_problem(ctx, 400, 30, 2, 3, &p);
    double ref[64], f_ref, f_ours, g[64];
    duet_model m;
    /* L2 logistic regression, -s 0 */
    int have = liblinear(&p, "0", 2.0, ref);
    if (have < 0) {
        SKIP("liblinear-train not installed (apt-get install liblinear-tools)");
    } else if (have == 0) {
        CHECK(!"liblinear-train ran and gave its weights");
    } else {
        for (int sparse = 0; sparse < 2; sparse++) {
            CHECK_OK(fit(ctx, &dt_logreg_ops, &p, sparse ? &p.sparse : &p.dense, 2, 2.0, DUET_PENALTY_L2, 1e-8, &m, &e));
            const dt_linear *l = m.state;
            dt_logreg_objective(ctx, &p.sparse, p.y, NULL, 1, 1, 2.0, 1, ref, g, &f_ref, &e);
            dt_logreg_objective(ctx, &p.sparse, p.y, NULL, 1, 1, 2.0, 1, l->W, g, &f_ours, &e);
            CHECK(f_ours <= f_ref * (1 + 1e-9));
            CHECK_NEAR(f_ours / f_ref, 1, 1e-6);
            double dw = 0;
            for (int64_t j = 0; j <= p.D; j++) dw = fmax(dw, fabs(l->W[j] - ref[j]));
            CHECK(dw < 1e-3);
            /* the same predictions on >= 99.5% of fresh rows */
            problem q;
            make_problem(ctx, 2000, 30, 2, 77, &q);
            int64_t agree = 0;
            for (int64_t i = 0; i < q.N; i++) {
                double a = dt_mat_dot(&q.sparse, i, l->W) + l->W[q.D], b = dt_mat_dot(&q.sparse, i, ref) + ref[q.D];
                agree += (a > 0) == (b > 0);
            }
            CHECK(agree >= 0.995 * (double)q.N);
            free_problem(ctx, &q);
            dt_linear_free(ctx, m.state);
        }
        /* L2-loss SVM, dual, -s 1 */
        CHECK(liblinear(&p, "1", 0.5, ref) == 1);
        CHECK_OK(fit(ctx, &dt_svm_ops, &p, &p.sparse, 2, 0.5, DUET_PENALTY_L2, 1e-6, &m, &e));
        const dt_linear *l = m.state;
        f_ref = svm_objective(&p, ref, 0.5);
        f_ours = svm_objective(&p, l->W, 0.5);
        CHECK_NEAR(f_ours / f_ref, 1, 1e-4);
        CHECK(l->platt && l->platt[0] < 0); /* larger decision value -> larger P(class 1) */
        dt_linear_free(ctx, m.state);
        /* the same SVM in the primal by trust-region Newton (-s 2; data-parallel training's solver) */
        CHECK(liblinear(&p, "2", 0.5, ref) == 1);
        for (int sparse = 0; sparse < 2; sparse++) {
            CHECK_OK(fit_with(ctx, &dt_svm_ops, &p, sparse ? &p.sparse : &p.dense, 2, 0.5, DUET_PENALTY_L2, 1e-8,
                              DUET_SOLVER_NEWTON, 0, NULL, &m, &e));
            l = m.state;
            f_ref = svm_objective(&p, ref, 0.5);
            f_ours = svm_objective(&p, l->W, 0.5);
            CHECK(f_ours <= f_ref * (1 + 1e-9));
            CHECK_NEAR(f_ours / f_ref, 1, 1e-7);
            double dw = 0;
            for (int64_t j = 0; j <= p.D; j++) dw = fmax(dw, fabs(l->W[j] - ref[j]));
            CHECK(dw < 1e-4);
            CHECK(l->platt && l->platt[0] < 0);
            dt_linear_free(ctx, m.state);
        }
    }
    /* L1: the pseudo-gradient vanishes at OWL-QN's optimum and some weights are exactly 0 */
    CHECK_OK(fit(ctx, &dt_logreg_ops, &p, &p.sparse, 2, 0.05, DUET_PENALTY_L1, 1e-8, &m, &e));
    const dt_linear *l = m.state;
    double f;
    dt_logreg_objective(ctx, &p.sparse, p.y, NULL, 1, 1, 0.05, 0, l->W, g, &f, &e);
    int zeros = 0;
    double worst = 0;
    for (int64_t j = 0; j <= p.D; j++) {
        double pg = l->W[j] > 0 ? g[j] + 1 : l->W[j] < 0 ? g[j] - 1 : fmax(0, fabs(g[j]) - 1);
        worst = fmax(worst, fabs(pg));
        zeros += l->W[j] == 0;
    }
    CHECK(worst < 1e-4);
    CHECK(zeros > 0);
    dt_linear_free(ctx, m.state);
    free_problem(ctx, &p);
    duet_ctx_free(ctx);
}

/* Multinomial: the optimum's gradient is ~0, and predictions are probabilities. */
static void test_multinomial(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    problem p;
    make_problem(ctx, 300, 12, 4, 9, &p);
    duet_model m;
    CHECK_OK(fit(ctx, &dt_logreg_ops, &p, &p.dense, 4, 1.0, DUET_PENALTY_L2, 1e-10, &m, &e));
    const dt_linear *l = m.state;
    CHECK(l->softmax == 1 && l->V == 4);
    double g[64], f, gn = 0;
    dt_logreg_objective(ctx, &p.dense, p.y, NULL, 4, 0, 1.0, 1, l->W, g, &f, &e);
    for (int j = 0; j < 4 * 13; j++) gn = fmax(gn, fabs(g[j]));
    CHECK(gn < 1e-4);
    if (gn >= 1e-4) fprintf(stderr, "multinomial: max gradient %g at f=%g\n", gn, f);
    float *P = calloc(300 * 4, sizeof(float));
    CHECK_OK(dt_logreg_ops.predict_proba(ctx, &m, &p.dense, P, &e));
    int correct = 0;
    for (int i = 0; i < 300; i++) {
        float s = 0;
        int best = 0;
        for (int k = 0; k < 4; k++) {
            s += P[i * 4 + k];
            if (P[i * 4 + k] > P[i * 4 + best]) best = k;
        }
        CHECK_NEAR(s, 1, 1e-5);
        correct += best == p.y[i];
    }
    CHECK(correct > 200); /* the truth is linear with noise */
    /* the SVM one-vs-rest on the same data also beats chance by far */
    duet_model ms;
    CHECK_OK(fit(ctx, &dt_svm_ops, &p, &p.dense, 4, 1.0, DUET_PENALTY_L2, 0, &ms, &e));
    CHECK_OK(dt_svm_ops.predict_proba(ctx, &ms, &p.dense, P, &e));
    int c2 = 0;
    for (int i = 0; i < 300; i++) {
        int best = 0;
        for (int k = 1; k < 4; k++)
            if (P[i * 4 + k] > P[i * 4 + best]) best = k;
        c2 += best == p.y[i];
    }
    CHECK(c2 > 180);
    free(P);
    dt_linear_free(ctx, m.state);
    dt_linear_free(ctx, ms.state);
    free_problem(ctx, &p);
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_gradients);
    RUN(test_hessian);
    RUN(test_tron);
    RUN(test_optim_callback_fails);
    RUN(test_solvers_agree);
    RUN(test_vs_liblinear);
    RUN(test_multinomial);
    TEST_END();
}
