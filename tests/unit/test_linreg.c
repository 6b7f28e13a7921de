/* test_linreg.c — regression: the linear model (ridge, lasso, elastic-net) against scikit-learn,
 * alpha by cross-validation, the MLP regressor's gradient, and the public API's contract for
 * numeric targets.
 *
 * Golden values: tests/fixtures/linreg/data.csv (120 rows: x0 not centred, x1 and x2 nearly
 * collinear, a one-hot group g0..g2, sample weights s, target y) and golden.txt (scikit-learn's
 * Ridge / Lasso / ElasticNet(l1_ratio 0.5) coefficients and objectives for 4 alphas each, one of
 * them with sample weights), both written by
 *     /usr/bin/python3 tools/golden_linreg.py        (from the repository root; scikit-learn 1.2.1)
 * which documents the format. The fixtures are committed; this test runs no Python. duet fits the
 * same float32 features (dense, and a CSR copy for the coordinate descent without the Gram
 * matrix) and must reach scikit-learn's objective: within 1e-6 relative, and never more than
 * 1e-9 relative above it, with duet's defaults (tol 1e-7 on the weight step, 10^4 sweeps) and
 * with scikit-learn's own settings (tol 1e-12, 10^6 sweeps).
 */
#include <math.h>

#include "models/linear.h"
#include "models/mlp.h"
#include "test.h"
#include "test_mat.h"

#define FIX_DATA "tests/fixtures/linreg/data.csv"
#define FIX_GOLD "tests/fixtures/linreg/golden.txt"
#define FN 120
#define FD 6
#define MAX_GOLD 32

typedef struct golden {
    char kind[8]; /* ridge, lasso, enet */
    double alpha, obj, b, w[FD];
    int weighted;
} golden;

static float FX[FN * FD];
static double FS[FN], FY[FN];
static golden G[MAX_GOLD];
static int NG;

/* Reads both fixtures; 0 (and a failed check) when either is missing or malformed. */
static int read_fixtures(void) {
    FILE *f = fopen(FIX_DATA, "r");
    if (!f) {
        fprintf(stderr, "  %s is missing (committed; regenerate: /usr/bin/python3 tools/golden_linreg.py)\n", FIX_DATA);
        CHECK(0);
        return 0;
    }
    char line[1024];
    int ok = fgets(line, sizeof line, f) != NULL && strncmp(line, "x0,x1,x2,g0,g1,g2,s,y", 21) == 0;
    int n = 0;
    while (ok && n < FN && fgets(line, sizeof line, f)) {
        char *p = line, *end;
        for (int j = 0; j < FD + 2 && ok; j++) {
            double v = strtod(p, &end);
            ok = end != p && (*end == ',' || *end == '\n' || *end == 0);
            if (j < FD) FX[n * FD + j] = (float)v;
            else if (j == FD) FS[n] = v;
            else FY[n] = v;
            p = end + 1;
        }
        n++;
    }
    fclose(f);
    CHECK(ok && n == FN);
    f = fopen(FIX_GOLD, "r");
    if (!f) {
        fprintf(stderr, "  %s is missing\n", FIX_GOLD);
        CHECK(0);
        return 0;
    }
    NG = 0;
    while (NG < MAX_GOLD && fgets(line, sizeof line, f)) {
        golden *g = &G[NG];
        int got = sscanf(line, "%7s %lf %d %lf %lf %lf %lf %lf %lf %lf %lf", g->kind, &g->alpha, &g->weighted, &g->obj, &g->b,
                         &g->w[0], &g->w[1], &g->w[2], &g->w[3], &g->w[4], &g->w[5]);
        if (got != 5 + FD) break;
        NG++;
    }
    fclose(f);
    CHECK(NG == 12);
    return ok && n == FN && NG == 12;
}

static duet_train_params params_for(const golden *g) {
    duet_train_params p = duet_train_params_default();
    p.model = "linear";
    p.alpha = g->alpha;
    if (!strcmp(g->kind, "lasso")) p.penalty = DUET_PENALTY_L1;
    if (!strcmp(g->kind, "enet")) p.l1_ratio = 0.5;
    return p;
}

/* scikit-learn's objective computed here, independently of dt_linreg_objective. */
static double sk_objective(const golden *g, const dt_mat *X, const double *sw, const double *w) {
    double rss = 0, S = 0, n1 = 0, n2 = 0;
    for (int64_t i = 0; i < X->N; i++) {
        double z = FY[i] - w[FD];
        for (int j = 0; j < FD; j++) z -= (double)FX[i * FD + j] * w[j];
        double s = sw ? sw[i] : 1;
        rss += s * z * z, S += s;
    }
    for (int j = 0; j < FD; j++) n1 += fabs(w[j]), n2 += w[j] * w[j];
    if (!strcmp(g->kind, "ridge")) return rss + g->alpha * n2;
    double rho = !strcmp(g->kind, "lasso") ? 1 : 0.5;
    return rss / (2 * S) + g->alpha * rho * n1 + g->alpha * (1 - rho) / 2 * n2;
}

/* Fits golden case g on X (dense or CSR) with tolerance tol and max_iter (0: the defaults) through
 * dt_linreg_ops.fit; w (D + 1) receives the weights, bias last. */
static int fit_direct(duet_ctx *ctx, const golden *g, const dt_mat *X, double tol, int max_iter, double *w, duet_err *e) {
    duet_train_params p = params_for(g);
    p.tol = tol;
    p.max_iter = max_iter;
    duet_model *m = NULL;
    int rc = dt_model_new(ctx, &dt_linreg_ops, &m, e);
    if (rc) return rc;
    m->K = 0;
    m->D = FD;
    dt_fit_args a = {X, NULL, 0, g->weighted ? FS : NULL, &p, 0, FY};
    rc = dt_linreg_ops.fit(ctx, m, &a, e);
    if (!rc) {
        const dt_linear *l = m->state;
        CHECK(l && l->V == 1 && l->D == FD);
        memcpy(w, l->W, (FD + 1) * sizeof(double));
    }
    dt_model_free(m);
    return rc;
}

/* duet's objective at duet's solution against scikit-learn's at its own. */
static void compare_one(duet_ctx *ctx, const golden *g, const dt_mat *X, double tol, int max_iter, const char *what) {
    duet_err e = {0, ""};
    double w[FD + 1];
    int rc = fit_direct(ctx, g, X, tol, max_iter, w, &e);
    CHECK(rc == DUET_OK);
    if (rc) {
        fprintf(stderr, "  %s %s alpha %g: %s\n", what, g->kind, g->alpha, e.msg);
        return;
    }
    duet_train_params p = params_for(g);
    const double *sw = g->weighted ? FS : NULL;
    double f = dt_linreg_objective(&p, g->alpha, X, FY, sw, w);
    double rel = (f - g->obj) / fabs(g->obj);
    CHECK(fabs(rel) <= 1e-6);
    CHECK(rel <= 1e-9);
    CHECK_NEAR(f, sk_objective(g, X, sw, w), 1e-11 * fabs(f));
    if (fabs(rel) > 1e-6 || rel > 1e-9)
        fprintf(stderr, "  %s %s alpha %g%s tol %g max_iter %d: duet %.15g scikit-learn %.15g (relative %+.3g)\n", what,
                g->kind, g->alpha, g->weighted ? " weighted" : "", tol, max_iter, f, g->obj, rel);
    /* what scikit-learn's lasso sets to exactly 0 (large alpha), duet does too */
    if (!strcmp(g->kind, "lasso") && g->alpha >= 0.5) {
        int zeros = 0;
        for (int j = 0; j < FD; j++) zeros += g->w[j] == 0 && w[j] == 0;
        CHECK(zeros == 2);
    }
    /* ridge is strictly convex and solved exactly: the coefficients themselves agree */
    if (!strcmp(g->kind, "ridge") && X->x) {
        double worst = 0;
        for (int j = 0; j < FD; j++) worst = fmax(worst, fabs(w[j] - g->w[j]) / (1 + fabs(g->w[j])));
        worst = fmax(worst, fabs(w[FD] - g->b) / (1 + fabs(g->b)));
        CHECK(worst < 1e-8);
    }
}

static void test_sklearn_dense(void) {
    if (!read_fixtures()) return;
    duet_ctx *ctx;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    dt_mat X = {FN, FD, FX, NULL, NULL, NULL, 0};
    /* the objective itself, at scikit-learn's coefficients */
    for (int k = 0; k < NG; k++) {
        duet_train_params p = params_for(&G[k]);
        double w[FD + 1];
        memcpy(w, G[k].w, sizeof G[k].w);
        w[FD] = G[k].b;
        double f = dt_linreg_objective(&p, G[k].alpha, &X, FY, G[k].weighted ? FS : NULL, w);
        CHECK_NEAR(f, G[k].obj, 1e-10 * fabs(G[k].obj));
    }
    /* duet's fit with its defaults, then with scikit-learn's settings (tol 1e-12, 10^6 sweeps:
     * the lasso at alpha 0.5 splits the weight of the nearly collinear x1, x2 along a direction
     * of curvature about 1e-5 of the largest, and scikit-learn itself takes 492,416 sweeps) */
    for (int k = 0; k < NG; k++) compare_one(ctx, &G[k], &X, 0, 0, "dense");
    for (int k = 0; k < NG; k++) compare_one(ctx, &G[k], &X, 1e-12, 1000000, "dense");
    duet_ctx_free(ctx);
}

/* The coordinate descent without the Gram matrix (CSR features: not centred, the intercept
 * updated as a coordinate of its own). */
static void test_sklearn_sparse(void) {
    if (!NG && !read_fixtures()) return;
    duet_ctx *ctx;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    dt_mat Xs = t_to_csr(FX, FN, FD);
    for (int k = 0; k < NG; k++) compare_one(ctx, &G[k], &Xs, 0, 0, "sparse");
    for (int k = 0; k < NG; k++) compare_one(ctx, &G[k], &Xs, 1e-12, 1000000, "sparse");
    t_free_csr(&Xs);
    duet_ctx_free(ctx);
}

/* --- the public API ------------------------------------------------------------------------- */

typedef struct labels {
    int64_t n;
    char (*buf)[40];
    const char **p;
} labels;

static labels labels_new(int64_t n) {
    labels l = {n, calloc((size_t)n, 40), calloc((size_t)n, sizeof(char *))};
    for (int64_t i = 0; i < n; i++) l.p[i] = l.buf[i];
    return l;
}

static void labels_free(labels *l) {
    free(l->buf);
    free(l->p);
}

/* A noisy linear problem: x (n, D) standard normal (column 2 scaled by 10), t = 1 + x.beta +
 * sigma N(0, 1); *oracle receives the RMSE of the true function. */
#define PD 5
static const double BETA[PD] = {1.5, -2.0, 0.05, 0.0, 0.7};

static void noisy(uint64_t seed, int64_t n, double sigma, float *x, double *t, labels *l, double *oracle) {
    dt_rng r;
    dt_rng_seed(&r, seed);
    double e2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = 1;
        for (int j = 0; j < PD; j++) {
            x[i * PD + j] = (float)(dt_rng_normal(&r) * (j == 2 ? 10 : 1));
            s += BETA[j] * x[i * PD + j];
        }
        double z = sigma * dt_rng_normal(&r);
        t[i] = s + z;
        e2 += z * z;
        snprintf(l->buf[i], 40, "%.17g", t[i]);
    }
    *oracle = sqrt(e2 / (double)n);
}

static const char *meta(const duet_model *m, const char *key) {
    for (int i = 0; duet_model_meta_key(m, i); i++)
        if (!strcmp(duet_model_meta_key(m, i), key)) return duet_model_meta_value(m, i);
    return NULL;
}

static void test_cv_alpha(void) {
    enum { NTR = 300, NTE = 200 };
    const double sigma = 0.5;
    static float xtr[NTR * PD], xte[NTE * PD];
    static double ttr[NTR], tte[NTE], v[NTE], v2[NTE];
    labels ltr = labels_new(NTR), lte = labels_new(NTE);
    double otr, ote;
    noisy(1, NTR, sigma, xtr, ttr, &ltr, &otr);
    noisy(2, NTE, sigma, xte, tte, &lte, &ote);
    duet_ctx *ctx;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    duet_ctx_set_seed(ctx, 7);
    duet_data *dtr = NULL, *dte = NULL;
    CHECK_OK(duet_data_from_values(ctx, "noisy", xtr, NTR, PD, ltr.p, &dtr, &e));
    CHECK_OK(duet_data_from_values(ctx, "noisy-test", xte, NTE, PD, lte.p, &dte, &e));
    if (!dtr || !dte) goto done;
    /* values from duet_data_from_values are scaled by 1/255 as pixels unless no_scale: both */
    const char *pens[3] = {"ridge", "lasso", "enet"};
    for (int ns = 0; ns < 2; ns++)
    for (int pk = 0; pk < 3; pk++) {
        duet_train_params p = duet_train_params_default();
        p.model = "linear";
        p.no_scale = ns;
        if (pk == 1) p.penalty = DUET_PENALTY_L1;
        if (pk == 2) p.l1_ratio = 0.5;
        duet_model *m = NULL, *m2 = NULL;
        int rc = duet_model_train(ctx, dtr, &p, &m, &e);
        CHECK(rc == DUET_OK);
        if (rc) {
            fprintf(stderr, "  %s%s: %s\n", pens[pk], ns ? " (no_scale)" : "", e.msg);
            continue;
        }
        CHECK(duet_model_task(m) == DUET_TASK_REGRESSION);
        const char *a = meta(m, "alpha");
        CHECK(a != NULL);
        double alpha = a ? strtod(a, NULL) : -1;
        CHECK(alpha > 0 && isfinite(alpha));
        CHECK(meta(m, "cv") != NULL);
        CHECK_OK(duet_model_predict_values(ctx, m, dte, v, &e));
        double se = 0;
        int finite = 1;
        for (int i = 0; i < NTE; i++) finite &= isfinite(v[i]) != 0, se += (v[i] - tte[i]) * (v[i] - tte[i]);
        CHECK(finite);
        double rmse = sqrt(se / NTE);
        fprintf(stderr, "  %s%s: alpha %s, held-out RMSE %.4f (noise %.4f)\n", pens[pk], ns ? " (no_scale)" : "", a ? a : "?",
                rmse, ote);
        CHECK(rmse < 1.1 * ote);
        CHECK(rmse > 0.8 * sigma && rmse < 1.2 * sigma);
        /* the same seed: the same alpha and the same predictions */
        CHECK_OK(duet_model_train(ctx, dtr, &p, &m2, &e));
        if (m2) {
            const char *a2 = meta(m2, "alpha");
            CHECK(a && a2 && !strcmp(a, a2));
            CHECK_OK(duet_model_predict_values(ctx, m2, dte, v2, &e));
            CHECK(!memcmp(v, v2, sizeof v));
        }
        duet_model_free(m);
        duet_model_free(m2);
    }
    /* a regressor's model file: the same numbers back */
    {
        duet_train_params p = duet_train_params_default();
        p.alpha = 0.1;
        duet_model *m = NULL, *m2 = NULL;
        CHECK_OK(duet_model_train(ctx, dtr, &p, &m, &e));
        const char *path = t_path("linreg.duet");
        if (m) CHECK_OK(duet_model_save(ctx, m, path, &e));
        CHECK_OK(duet_model_load(ctx, path, &m2, &e));
        if (m && m2) {
            CHECK(!strcmp(duet_model_name(m2), "linear"));
            CHECK(duet_model_task(m2) == DUET_TASK_REGRESSION && duet_model_classes(m2) == 0);
            CHECK_OK(duet_model_predict_values(ctx, m, dte, v, &e));
            CHECK_OK(duet_model_predict_values(ctx, m2, dte, v2, &e));
            double worst = 0;
            for (int i = 0; i < NTE; i++) worst = fmax(worst, fabs(v[i] - v2[i]) / (1 + fabs(v[i])));
            CHECK(worst < 1e-6);
        }
        unlink(path);
        duet_model_free(m);
        duet_model_free(m2);
    }
done:
    duet_data_free(dtr);
    duet_data_free(dte);
    labels_free(&ltr);
    labels_free(&lte);
    duet_ctx_free(ctx);
}

/* --- the MLP regressor's gradient ------------------------------------------------------------ */

static void test_mlp_regression_gradient(void) {
    enum { D = 5, H = 4, B = 7 };
    duet_ctx *ctx;
    duet_err err = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &err));
    duet_ctx_set_threads(ctx, 2);
    float x[B * D];
    double t[B] = {0.3, -1.2, 2.5, 0.0, 0.8, -0.4, 1.7};
    double sw[B] = {1, 0.5, 2, 1, 1.5, 1, 0.25};
    int64_t rows[B] = {5, 0, 3, 1, 6, 4, 2};
    dt_rng r;
    dt_rng_seed(&r, 17);
    for (int q = 0; q < B * D; q++) x[q] = (q % 3 == 1) ? 0.0f : (float)dt_rng_normal(&r);
    dt_mat X = {B, D, x, NULL, NULL, NULL, 0}, Xs = t_to_csr(x, B, D);
    double l2 = 0.05;

    /* no hidden layer: the loss and gradient by hand */
    {
        int64_t size[2] = {D, 1};
        size_t n = dt_mlp_param_count(size, 1);
        CHECK(n == D + 1);
        float th[D + 1], g[D + 1];
        for (int j = 0; j <= D; j++) th[j] = (float)(0.5 * dt_rng_normal(&r));
        double loss = 0, S = 0, lw = 0, gh[D + 1] = {0};
        for (int i = 0; i < B; i++) {
            double z = th[D] - t[i];
            for (int j = 0; j < D; j++) z += (double)th[j] * x[i * D + j];
            loss += sw[i] * 0.5 * z * z, S += sw[i];
            for (int j = 0; j < D; j++) gh[j] += sw[i] * z * x[i * D + j];
            gh[D] += sw[i] * z;
        }
        for (int j = 0; j < D; j++) lw += (double)th[j] * th[j], gh[j] = gh[j] / S + l2 * th[j];
        gh[D] /= S;
        loss = loss / S + 0.5 * l2 * lw;
        for (int sparse = 0; sparse < 2; sparse++) {
            double f;
            CHECK_OK(dt_mlp_loss_grad(ctx, size, 1, th, sparse ? &Xs : &X, rows, B, NULL, t, sw, l2, &f, g, &err));
            CHECK_NEAR(f, loss, 1e-5 * (1 + loss));
            double worst = 0;
            for (int j = 0; j <= D; j++) worst = fmax(worst, fabs(g[j] - gh[j]) / (1 + fabs(gh[j])));
            CHECK(worst < 1e-5);
        }
        /* a regressor has one output */
        int64_t size2[2] = {D, 2};
        float th2[2 * D + 2] = {0}, g2[2 * D + 2];
        double f;
        CHECK_ERR(dt_mlp_loss_grad(ctx, size2, 1, th2, &X, rows, B, NULL, t, sw, l2, &f, g2, &err), &err, DUET_EINVAL,
                  "one output");
    }

    /* two hidden layers: central differences, dense and CSR */
    int64_t size[4] = {D, H, H, 1};
    int nw = 3;
    size_t n = dt_mlp_param_count(size, nw);
    CHECK(n == (size_t)(D * H + H + H * H + H + H + 1));
    float *theta = calloc(n, sizeof(float)), *grad = calloc(n, sizeof(float)), *grad2 = calloc(n, sizeof(float));
    for (size_t q = 0; q < n; q++) theta[q] = (float)(0.7 * dt_rng_normal(&r));
    double loss, loss2;
    CHECK_OK(dt_mlp_loss_grad(ctx, size, nw, theta, &X, rows, B, NULL, t, sw, l2, &loss, grad, &err));
    CHECK_OK(dt_mlp_loss_grad(ctx, size, nw, theta, &Xs, rows, B, NULL, t, sw, l2, &loss2, grad2, &err));
    CHECK_NEAR(loss, loss2, 1e-6);
    CHECK(loss > 0);
    int bad = 0, bad_sparse = 0, nonzero = 0;
    double worst = 0;
    for (int sparse = 0; sparse < 2; sparse++)
        for (size_t q = 0; q < n; q++) {
            /* between ReLU kinks the loss is a polynomial of degree 2 or 4 in one parameter, so
             * the central difference is nearly exact; a ReLU that changes sides within eps bends
             * it, an error that vanishes as eps shrinks where an error of the gradient does not:
             * the first step that agrees counts (here a unit of the first layer sits within 1e-3 of
             * its kink for one row; 3e-4 is still above the float rounding of the loss) */
            const dt_mat *Xq = sparse ? &Xs : &X;
            static const double steps[3] = {1e-2, 1e-3, 3e-4};
            double fd = 0, g = sparse ? grad2[q] : grad[q], rel = 0;
            int agree = 0;
            for (int k = 0; k < 3 && !agree; k++) {
                float keep = theta[q];
                double eps = steps[k], lp, lm;
                theta[q] = keep + (float)eps;
                double up = (double)theta[q] - keep;
                dt_mlp_loss_grad(ctx, size, nw, theta, Xq, rows, B, NULL, t, sw, l2, &lp, NULL, &err);
                theta[q] = keep - (float)eps;
                double down = keep - (double)theta[q];
                dt_mlp_loss_grad(ctx, size, nw, theta, Xq, rows, B, NULL, t, sw, l2, &lm, NULL, &err);
                theta[q] = keep;
                fd = (lp - lm) / (up + down);
                rel = fabs(fd - g) / (1e-3 + fabs(fd) + fabs(g));
                agree = fabs(fd - g) <= 3e-4 + 2e-3 * fabs(fd);
            }
            worst = fmax(worst, rel);
            if (!agree) {
                bad++;
                fprintf(stderr, "  %s param %zu: analytic %.6g finite difference %.6g\n", sparse ? "CSR" : "dense", q, g, fd);
            }
            if (!sparse) {
                nonzero += grad[q] != 0;
                if (fabs((double)grad2[q] - grad[q]) > 1e-5) bad_sparse++;
            }
        }
    fprintf(stderr, "  %zu parameters, worst relative gradient error %.2e\n", n, worst);
    CHECK(bad == 0);
    CHECK(bad_sparse == 0);
    CHECK(nonzero > (int)n / 2);
    /* the weights matter: all weight on one row is that row's squared error alone */
    double one[B] = {0}, f1, f2;
    one[3] = 2.0; /* row 3 is rows[2] */
    CHECK_OK(dt_mlp_loss_grad(ctx, size, nw, theta, &X, rows, B, NULL, t, one, 0, &f1, NULL, &err));
    int64_t row3[1] = {3};
    CHECK_OK(dt_mlp_loss_grad(ctx, size, nw, theta, &X, row3, 1, NULL, t, NULL, 0, &f2, NULL, &err));
    CHECK_NEAR(f1, f2, 1e-9 * (1 + f2));
    t_free_csr(&Xs);
    free(theta);
    free(grad);
    free(grad2);
    duet_ctx_free(ctx);
}

/* --- the public contract for numbers ---------------------------------------------------------- */

/* Metrics of predictions v against targets t by their definitions (duet.h). */
static void hand_metrics(const double *t, const double *v, int n, double *rmse, double *mae, double *r2, double *mape,
                         double *rmsle) {
    double mean = 0, sse = 0, sae = 0, sst = 0, ape = 0, sle = 0;
    int nz = 0, neg = 0;
    for (int i = 0; i < n; i++) mean += t[i] / n;
    for (int i = 0; i < n; i++) {
        sse += (v[i] - t[i]) * (v[i] - t[i]);
        sae += fabs(v[i] - t[i]);
        sst += (t[i] - mean) * (t[i] - mean);
        if (t[i] != 0) ape += fabs((v[i] - t[i]) / t[i]), nz++;
        double p = v[i] < 0 ? 0 : v[i];
        if (t[i] < 0) neg = 1;
        else sle += (log(1 + p) - log(1 + t[i])) * (log(1 + p) - log(1 + t[i]));
    }
    *rmse = sqrt(sse / n), *mae = sae / n, *r2 = 1 - sse / sst;
    *mape = nz ? ape / nz : NAN;
    *rmsle = neg ? NAN : sqrt(sle / n);
}

static int data_1col(duet_ctx *ctx, const double *x, const double *t, int n, duet_data **out, duet_err *e) {
    float xf[64];
    char buf[64][40];
    const char *lab[64];
    for (int i = 0; i < n; i++) {
        xf[i] = (float)x[i];
        snprintf(buf[i], 40, "%.17g", t[i]);
        lab[i] = buf[i];
    }
    return duet_data_from_values(ctx, "tiny", xf, n, 1, lab, out, e);
}

static int data_labels(duet_ctx *ctx, int n, const char *const *lab, duet_data **out, duet_err *e) {
    float xf[200 * 2];
    dt_rng r;
    dt_rng_seed(&r, 3);
    for (int i = 0; i < 2 * n; i++) xf[i] = (float)dt_rng_normal(&r);
    return duet_data_from_values(ctx, "labels", xf, n, 2, lab, out, e);
}

static void test_api_eval(void) {
    duet_ctx *ctx;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    /* a regressor that is the line 2x + 0.5 (almost no penalty, exact data) */
    double x[20], t[20];
    for (int i = 0; i < 20; i++) x[i] = i, t[i] = 2 * i + 0.5;
    duet_data *d = NULL;
    CHECK_OK(data_1col(ctx, x, t, 20, &d, &e));
    duet_train_params p = duet_train_params_default();
    p.alpha = 1e-9;
    duet_model *m = NULL;
    CHECK(duet_model_chosen(ctx, d, &p) && !strcmp(duet_model_chosen(ctx, d, &p), "linear"));
    CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    if (!m) goto done;
    CHECK(!strcmp(duet_model_name(m), "linear"));
    CHECK(duet_model_task(m) == DUET_TASK_REGRESSION);
    CHECK(duet_model_classes(m) == 0);
    int32_t lab[20];
    float proba[40];
    CHECK_ERR(duet_model_predict(ctx, m, d, lab, proba, &e), &e, DUET_EINVAL, "predicts a number");

    /* three evaluation sets: errors -1, 0, 1, -2; a target 0 (left out of MAPE) and a prediction
     * below 0 (RMSLE takes it as 0); a negative target (RMSLE NaN) */
    static const double ex[3][4] = {{0, 1, 2, 3}, {-1, 0, 1}, {0, 1, 2}};
    static const double et[3][4] = {{1.5, 2.5, 3.5, 8.5}, {1, 0, 4.5}, {-1, 3, 4}};
    static const int en[3] = {4, 3, 3};
    for (int s = 0; s < 3; s++) {
        duet_data *de = NULL;
        duet_metrics *mt = NULL;
        double v[4], pv[4], rmse, mae, r2, mape, rmsle;
        for (int i = 0; i < en[s]; i++) pv[i] = 2 * ex[s][i] + 0.5;
        hand_metrics(et[s], pv, en[s], &rmse, &mae, &r2, &mape, &rmsle);
        CHECK_OK(data_1col(ctx, ex[s], et[s], en[s], &de, &e));
        CHECK_OK(duet_model_predict_values(ctx, m, de, v, &e));
        for (int i = 0; i < en[s]; i++) CHECK_NEAR(v[i], pv[i], 1e-5);
        CHECK_OK(duet_model_eval(ctx, m, de, &mt, &e));
        if (mt) {
            CHECK(mt->K == 0 && mt->n == en[s]);
            CHECK_NEAR(mt->rmse, rmse, 1e-5);
            CHECK_NEAR(mt->mae, mae, 1e-5);
            CHECK_NEAR(mt->r2, r2, 1e-5);
            CHECK_NEAR(mt->mape, mape, 1e-5);
            if (isnan(rmsle)) CHECK(isnan(mt->rmsle));
            else CHECK_NEAR(mt->rmsle, rmsle, 1e-5);
            CHECK(isnan(mt->accuracy) && isnan(mt->f1) && isnan(mt->log_loss));
        }
        if (s == 0) { /* the numbers themselves */
            CHECK_NEAR(rmse, sqrt(1.5), 1e-12);
            CHECK_NEAR(mae, 1.0, 1e-12);
            CHECK_NEAR(r2, 1 - 6.0 / 29.0, 1e-12);
            CHECK_NEAR(mape, (1 / 1.5 + 1 / 3.5 + 2 / 8.5) / 4, 1e-12);
        }
        if (s == 1) CHECK_NEAR(mape, (2.5 / 1 + 2 / 4.5) / 2, 1e-12);
        duet_metrics_free(ctx, mt);
        duet_data_free(de);
    }

    /* a classifier refuses predict_values */
    {
        const char *cl[20];
        for (int i = 0; i < 20; i++) cl[i] = i < 10 ? "a" : "b";
        duet_data *dc = NULL;
        duet_model *mc = NULL;
        double v[20];
        CHECK_OK(data_labels(ctx, 20, cl, &dc, &e));
        duet_train_params pc = duet_train_params_default();
        pc.C = 1;
        CHECK_OK(duet_model_train(ctx, dc, &pc, &mc, &e));
        if (mc) {
            CHECK(duet_model_task(mc) == DUET_TASK_CLASSIFICATION);
            CHECK_ERR(duet_model_predict_values(ctx, mc, dc, v, &e), &e, DUET_EINVAL, "predicts classes");
        }
        duet_model_free(mc);
        duet_data_free(dc);
    }
done:
    duet_model_free(m);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

static void test_api_cv(void) {
    enum { N = 150 };
    static float x[N * PD];
    static double t[N];
    labels l = labels_new(N);
    double oracle;
    noisy(5, N, 0.3, x, t, &l, &oracle);
    duet_ctx *ctx;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    duet_data *d = NULL;
    CHECK_OK(duet_data_from_values(ctx, "cv", x, N, PD, l.p, &d, &e));
    duet_train_params p = duet_train_params_default(); /* alpha chosen inside every fold */
    duet_metrics *mt = NULL;
    if (d) CHECK_OK(duet_cross_validate(ctx, d, &p, 5, &mt, &e));
    if (mt) {
        CHECK(mt->K == 0);
        CHECK(mt->n == N);
        CHECK(isfinite(mt->rmse) && mt->rmse > 0.2 && mt->rmse < 0.45);
        CHECK(isfinite(mt->rmse_std) && mt->rmse_std >= 0);
        CHECK(mt->r2 > 0.95 && mt->r2 <= 1);
        CHECK(isfinite(mt->mae) && mt->mae <= mt->rmse);
        CHECK(isnan(mt->accuracy));
        CHECK(mt->class_names == NULL && mt->confusion == NULL);
    }
    duet_metrics_free(ctx, mt);
    duet_data_free(d);
    labels_free(&l);
    duet_ctx_free(ctx);
}

static void test_api_task(void) {
    duet_ctx *ctx;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    enum { N = 120 };
    labels codes = labels_new(N), frac = labels_new(N), many = labels_new(N), few = labels_new(N);
    for (int i = 0; i < N; i++) {
        snprintf(codes.buf[i], 40, "%d", i % 3);
        snprintf(frac.buf[i], 40, "%g", 0.25 * (i % 7) - 0.5);
        snprintf(many.buf[i], 40, "%d", 1000 + (i * 37) % 60); /* 60 distinct whole numbers */
        snprintf(few.buf[i], 40, "%d", 10 * (i % 50));         /* 50: still class codes */
    }
    duet_data *dc = NULL, *df = NULL, *dm = NULL, *dw = NULL;
    CHECK_OK(data_labels(ctx, N, codes.p, &dc, &e));
    CHECK_OK(data_labels(ctx, N, frac.p, &df, &e));
    CHECK_OK(data_labels(ctx, N, many.p, &dm, &e));
    CHECK_OK(data_labels(ctx, N, few.p, &dw, &e));
    if (!dc || !df || !dm || !dw) goto done;
    duet_train_params p = duet_train_params_default();
    const char *c;
    c = duet_model_chosen(ctx, dc, &p);
    CHECK(c && !strcmp(c, "logreg"));
    c = duet_model_chosen(ctx, df, &p);
    CHECK(c && !strcmp(c, "linear"));
    c = duet_model_chosen(ctx, dm, &p);
    CHECK(c && !strcmp(c, "linear"));
    c = duet_model_chosen(ctx, dw, &p);
    CHECK(c && !strcmp(c, "logreg"));
    c = duet_model_chosen(ctx, df, NULL);
    CHECK(c && !strcmp(c, "linear"));
    /* --task classification forces classes */
    p.task = DUET_TASK_CLASSIFICATION;
    c = duet_model_chosen(ctx, df, &p);
    CHECK(c && !strcmp(c, "logreg"));
    duet_model *m = NULL;
    p.C = 1;
    CHECK_OK(duet_model_train(ctx, df, &p, &m, &e));
    if (m) CHECK(duet_model_task(m) == DUET_TASK_CLASSIFICATION && duet_model_classes(m) == 7);
    duet_model_free(m);
    m = NULL;
    /* trained: class codes are classes, fractions a number */
    p = duet_train_params_default();
    p.C = 1, p.alpha = 0.1;
    CHECK_OK(duet_model_train(ctx, dc, &p, &m, &e));
    if (m) CHECK(duet_model_task(m) == DUET_TASK_CLASSIFICATION && duet_model_classes(m) == 3);
    duet_model_free(m);
    m = NULL;
    CHECK_OK(duet_model_train(ctx, dm, &p, &m, &e));
    if (m) CHECK(duet_model_task(m) == DUET_TASK_REGRESSION && !strcmp(duet_model_name(m), "linear"));
    duet_model_free(m);
    m = NULL;
    /* a model that learns only numbers takes class codes as numbers */
    p.model = "linear";
    CHECK_OK(duet_model_train(ctx, dc, &p, &m, &e));
    if (m) CHECK(duet_model_task(m) == DUET_TASK_REGRESSION);
    duet_model_free(m);
    m = NULL;
    /* the MLP learns either, by the labels */
    p.model = "mlp";
    p.hidden = 8, p.epochs = 3;
    CHECK_OK(duet_model_train(ctx, df, &p, &m, &e));
    if (m) {
        int32_t lab[N];
        double v[N];
        CHECK(duet_model_task(m) == DUET_TASK_REGRESSION && duet_model_classes(m) == 0);
        CHECK_ERR(duet_model_predict(ctx, m, df, lab, NULL, &e), &e, DUET_EINVAL, "predicts a number");
        CHECK_OK(duet_model_predict_values(ctx, m, df, v, &e));
        int finite = 1;
        for (int i = 0; i < N; i++) finite &= isfinite(v[i]) != 0;
        CHECK(finite);
    }
    duet_model_free(m);
    m = NULL;
    CHECK_OK(duet_model_train(ctx, dc, &p, &m, &e));
    if (m) CHECK(duet_model_task(m) == DUET_TASK_CLASSIFICATION && duet_model_classes(m) == 3);
    duet_model_free(m);
    m = NULL;

    /* refusals */
    p = duet_train_params_default();
    p.model = "logreg";
    p.task = DUET_TASK_REGRESSION;
    CHECK(duet_model_chosen(ctx, df, &p) == NULL);
    CHECK_ERR(duet_model_train(ctx, df, &p, &m, &e), &e, DUET_EINVAL, "models that learn numbers: ");
    CHECK(m == NULL);
    {
        const char *list = strstr(e.msg, "models that learn numbers: ");
        list = list ? list + strlen("models that learn numbers: ") : "";
        CHECK(strstr(list, "linear") && strstr(list, "mlp") && strstr(list, "gbdt"));
        CHECK(!strstr(list, "logreg") && !strstr(list, "svm"));
    }
    p.model = "linear";
    p.task = DUET_TASK_CLASSIFICATION;
    CHECK_ERR(duet_model_train(ctx, dc, &p, &m, &e), &e, DUET_EINVAL, "learns a number, not classes");
    p = duet_train_params_default();
    p.model = "linear";
    p.l1_ratio = 1.5;
    CHECK_ERR(duet_model_train(ctx, df, &p, &m, &e), &e, DUET_EINVAL, "l1-ratio must be in [0, 1)");
    p.l1_ratio = -0.25;
    CHECK_ERR(duet_model_train(ctx, df, &p, &m, &e), &e, DUET_EINVAL, "l1-ratio");
    p.l1_ratio = NAN;
    CHECK_ERR(duet_model_train(ctx, df, &p, &m, &e), &e, DUET_EINVAL, "l1-ratio");
    p.l1_ratio = 0.5;
    p.penalty = DUET_PENALTY_L1;
    CHECK_ERR(duet_model_train(ctx, df, &p, &m, &e), &e, DUET_EINVAL, "it is the lasso");
    p.l1_ratio = 0;
    p.alpha = -1;
    CHECK_ERR(duet_model_train(ctx, df, &p, &m, &e), &e, DUET_EINVAL, "alpha must be >= 0");
    p.alpha = 0;
    p.class_weight_balanced = 1;
    CHECK_ERR(duet_model_train(ctx, df, &p, &m, &e), &e, DUET_EINVAL, "class weights are for classes");
    CHECK(m == NULL);
done:
    duet_data_free(dc);
    duet_data_free(df);
    duet_data_free(dm);
    duet_data_free(dw);
    labels_free(&codes);
    labels_free(&frac);
    labels_free(&many);
    labels_free(&few);
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_sklearn_dense);
    RUN(test_sklearn_sparse);
    RUN(test_cv_alpha);
    RUN(test_mlp_regression_gradient);
    RUN(test_api_eval);
    RUN(test_api_cv);
    RUN(test_api_task);
    TEST_END();
}
