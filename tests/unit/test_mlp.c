/* test_mlp.c — the MLP: analytic gradient against central finite differences (dense and CSR
 * input, two hidden layers, weights and L2), the lazy Adam step on CSR input, same seed -> same model, early stopping, abort,
 * parameter checks, model files (round trip and corrupt tensors), failing allocations and
 * accuracy on generated blobs and, through the public API, on iris, digits and SMS spam. */
#include "models/mlp.h"
#include "test.h"
#include "test_mat.h"

static duet_ctx CTX = {.n_threads = 4, .seed = 42};

static void model_init(duet_model *m, duet_ctx *ctx, int K, int64_t D) {
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->ops = &dt_mlp_ops;
    m->K = K;
    m->D = D;
    dt_pool_init(&m->pool, ctx);
}

static void model_clear(duet_model *m) {
    if (m->state) m->ops->free_state(m->ctx, m->state);
    m->state = NULL;
    dt_pool_clear(&m->pool);
}

static void test_gradient_check(void) {
    enum { D = 5, H = 4, K = 3, B = 6 };
    int64_t size[4] = {D, H, H, K};
    int nw = 3;
    size_t n = dt_mlp_param_count(size, nw);
    CHECK(n == (size_t)(D * H + H + H * H + H + H * K + K));
    float *theta = calloc(n, sizeof(float)), *grad = calloc(n, sizeof(float)), *grad2 = calloc(n, sizeof(float));
    float x[B * D];
    int32_t y[B] = {0, 1, 2, 1, 0, 2};
    double sw[B] = {1, 0.5, 2, 1, 1.5, 1};
    int64_t rows[B] = {5, 0, 3, 1, 4, 2};
    dt_rng r;
    dt_rng_seed(&r, 11);
    for (size_t t = 0; t < n; t++) theta[t] = (float)(0.7 * dt_rng_normal(&r));
    for (int t = 0; t < B * D; t++) x[t] = (t % 3 == 1) ? 0.0f : (float)dt_rng_normal(&r);
    dt_mat X = {B, D, x, NULL, NULL, NULL, 0};
    dt_mat Xs = t_to_csr(x, B, D);
    duet_err err = {0, ""};
    double l2 = 0.05, loss, loss2;
    CHECK_OK(dt_mlp_loss_grad(&CTX, size, nw, theta, &X, rows, B, y, NULL, sw, l2, &loss, grad, &err));
    CHECK_OK(dt_mlp_loss_grad(&CTX, size, nw, theta, &Xs, rows, B, y, NULL, sw, l2, &loss2, grad2, &err));
    CHECK_NEAR(loss, loss2, 1e-6);
    CHECK(loss > 0);
    int bad = 0, bad_sparse = 0;
    double worst = 0;
    for (size_t t = 0; t < n; t++) {
        float keep = theta[t];
        double eps = 1e-2, lp, lm;
        theta[t] = keep + (float)eps;
        dt_mlp_loss_grad(&CTX, size, nw, theta, &X, rows, B, y, NULL, sw, l2, &lp, NULL, &err);
        theta[t] = keep - (float)eps;
        dt_mlp_loss_grad(&CTX, size, nw, theta, &X, rows, B, y, NULL, sw, l2, &lm, NULL, &err);
        theta[t] = keep;
        double fd = (lp - lm) / (2 * eps), g = grad[t];
        double e = fabs(fd - g) / (1e-3 + fabs(fd) + fabs(g));
        if (e > worst) worst = e;
        if (fabs(fd - g) > 2e-3 + 2e-2 * fabs(fd)) {
            bad++;
            fprintf(stderr, "  param %zu: analytic %.6g finite difference %.6g\n", t, g, fd);
        }
        if (fabs((double)grad2[t] - g) > 1e-5) bad_sparse++;
    }
    fprintf(stderr, "  %zu parameters, worst relative gradient error %.2e\n", n, worst);
    CHECK(bad == 0);
    CHECK(bad_sparse == 0);
    /* unit weights and no L2: still consistent, and zero weights give zero gradient */
    double zero[B] = {0};
    CHECK_OK(dt_mlp_loss_grad(&CTX, size, nw, theta, &X, rows, B, y, NULL, zero, 0, &loss, grad, &err));
    int nz = 0;
    for (size_t t = 0; t < n; t++) nz += grad[t] != 0;
    CHECK(nz == 0 && loss == 0);
    t_free_csr(&Xs);
    free(theta);
    free(grad);
    free(grad2);
}

/* One optimizer step on CSR input is lazy for W0: rows of features the batch does not use keep
 * their weights and Adam moments bit for bit; the used rows and the other layers take the same
 * step as on the same input stored dense, where (L2 > 0) every W0 row moves. */
static void test_lazy_step(void) {
    enum { D = 8, H = 4, K = 3, N = 4, B = 3 };
    int64_t size[3] = {D, H, K};
    size_t n = dt_mlp_param_count(size, 2);
    float x[N * D] = {0};
    x[0 * D + 1] = 0.5f, x[0 * D + 4] = 1.0f; /* batch rows use features 1, 4 and 6 */
    x[1 * D + 7] = 2.0f;                      /* row 1 (not in the batch) uses feature 7 */
    x[2 * D + 4] = -0.7f, x[2 * D + 6] = 0.3f;
    x[3 * D + 1] = 1.5f;
    int32_t y[N] = {0, 1, 2, 1};
    int64_t rows[B] = {3, 0, 2};
    dt_mat X = {N, D, x, NULL, NULL, NULL, 0}, Xs = t_to_csr(x, N, D);
    float *th = calloc(n, sizeof(float)), *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
    float *th0 = calloc(n, sizeof(float)), *m0 = calloc(n, sizeof(float)), *v0 = calloc(n, sizeof(float));
    dt_rng r;
    dt_rng_seed(&r, 5);
    for (size_t t = 0; t < n; t++) {
        th0[t] = (float)dt_rng_normal(&r);
        m0[t] = (float)(0.1 * dt_rng_normal(&r));
        v0[t] = (float)(0.01 * dt_rng_uniform(&r));
    }
    duet_err err = {0, ""};
    int touched[D] = {0, 1, 0, 0, 1, 0, 1, 0};
    float *td = calloc(n, sizeof(float)), *md = calloc(n, sizeof(float)), *vd = calloc(n, sizeof(float));
    memcpy(td, th0, n * sizeof(float));
    memcpy(md, m0, n * sizeof(float));
    memcpy(vd, v0, n * sizeof(float));
    CHECK_OK(dt_mlp_adam_step(&CTX, size, 2, td, md, vd, 3, 0.01, &X, rows, B, y, NULL, 0.1, &err));
    memcpy(th, th0, n * sizeof(float));
    memcpy(m, m0, n * sizeof(float));
    memcpy(v, v0, n * sizeof(float));
    CHECK_OK(dt_mlp_adam_step(&CTX, size, 2, th, m, v, 3, 0.01, &Xs, rows, B, y, NULL, 0.1, &err));
    int same_untouched = 0, moved_touched = 0, moved_dense = 0, far = 0;
    for (int j = 0; j < D; j++) {
        size_t o = (size_t)j * H, bytes = H * sizeof(float);
        int same = !memcmp(th + o, th0 + o, bytes) && !memcmp(m + o, m0 + o, bytes) && !memcmp(v + o, v0 + o, bytes);
        if (!touched[j]) same_untouched += same;
        for (int h = 0; h < H; h++) {
            if (touched[j]) {
                moved_touched += th[o + h] != th0[o + h] && m[o + h] != m0[o + h] && v[o + h] != v0[o + h];
                far += fabsf(th[o + h] - td[o + h]) > 1e-6f;
            }
            moved_dense += td[o + h] != th0[o + h];
        }
    }
    CHECK(same_untouched == D - 3);
    CHECK(moved_touched == 3 * H);
    CHECK(moved_dense == D * H);
    for (size_t t = (size_t)D * H; t < n; t++) far += fabsf(th[t] - td[t]) > 1e-6f || th[t] == th0[t];
    CHECK(far == 0);
    CHECK_ERR(dt_mlp_adam_step(&CTX, size, 2, th, m, v, 0, 0.01, &Xs, rows, B, y, NULL, 0.1, &err), &err, DUET_EINVAL,
              "step 0");
    t_free_csr(&Xs);
    free(th), free(m), free(v), free(th0), free(m0), free(v0), free(td), free(md), free(vd);
}

/* Three Gaussian blobs in D dimensions, N rows. */
static void blobs(float *x, int32_t *y, int64_t N, int64_t D, uint64_t seed) {
    dt_rng r;
    dt_rng_seed(&r, seed);
    for (int64_t i = 0; i < N; i++) {
        y[i] = (int32_t)(i % 3);
        for (int64_t j = 0; j < D; j++)
            x[i * D + j] = (float)(dt_rng_normal(&r) + (j % 3 == y[i] ? 1.5 : 0.0));
    }
}

static int fit(duet_model *m, const dt_mat *X, const int32_t *y, int K, const duet_train_params *p, int verbose,
               duet_err *err) {
    dt_fit_args a = {X, y, K, NULL, p, verbose, NULL};
    return m->ops->fit(m->ctx, m, &a, err);
}

static double accuracy(const duet_model *m, const dt_mat *X, const int32_t *y) {
    float *P = calloc((size_t)(X->N * m->K), sizeof(float));
    duet_err err = {0, ""};
    if (m->ops->predict_proba(m->ctx, m, X, P, &err) != DUET_OK) {
        free(P);
        return -1;
    }
    int64_t ok = 0;
    for (int64_t i = 0; i < X->N; i++) {
        int best = 0;
        for (int k = 1; k < m->K; k++)
            if (P[i * m->K + k] > P[i * m->K + best]) best = k;
        ok += best == y[i];
    }
    free(P);
    return (double)ok / (double)X->N;
}

static void test_blobs_deterministic(void) {
    enum { N = 600, D = 10 };
    float *x = malloc(sizeof(float) * N * D), *xt = malloc(sizeof(float) * N * D);
    int32_t y[N], yt[N];
    blobs(x, y, N, D, 1);
    blobs(xt, yt, N, D, 2);
    dt_mat X = {N, D, x, NULL, NULL, NULL, 0}, T = {N, D, xt, NULL, NULL, NULL, 0};
    duet_train_params p = duet_train_params_default();
    p.hidden = 32;
    p.layers = 2;
    p.epochs = 20;
    p.batch = 32;
    duet_err err = {0, ""};
    duet_model a, b, c;
    model_init(&a, &CTX, 3, D);
    model_init(&b, &CTX, 3, D);
    CHECK_OK(fit(&a, &X, y, 3, &p, 0, &err));
    CHECK_OK(fit(&b, &X, y, 3, &p, 0, &err));
    double acc = accuracy(&a, &T, yt);
    fprintf(stderr, "  blobs held-out accuracy %.3f\n", acc);
    CHECK(acc > 0.85);
    float *Pa = calloc(N * 3, sizeof(float)), *Pb = calloc(N * 3, sizeof(float));
    CHECK_OK(a.ops->predict_proba(&CTX, &a, &T, Pa, &err));
    CHECK_OK(b.ops->predict_proba(&CTX, &b, &T, Pb, &err));
    CHECK(memcmp(Pa, Pb, sizeof(float) * N * 3) == 0);
    /* another seed, another model */
    duet_ctx c2 = CTX;
    c2.seed = 7;
    model_init(&c, &c2, 3, D);
    CHECK_OK(fit(&c, &X, y, 3, &p, 0, &err));
    CHECK_OK(c.ops->predict_proba(&c2, &c, &T, Pb, &err));
    CHECK(memcmp(Pa, Pb, sizeof(float) * N * 3) != 0);
    /* CSR input gives the same kind of model */
    dt_mat Xs = t_to_csr(x, N, D), Ts = t_to_csr(xt, N, D);
    model_clear(&c);
    model_init(&c, &CTX, 3, D);
    CHECK_OK(fit(&c, &Xs, y, 3, &p, 0, &err));
    double accs = accuracy(&c, &Ts, yt);
    CHECK(accs > 0.85);
    CHECK_NEAR(accuracy(&c, &T, yt), accs, 1e-12); /* dense and CSR prediction agree */
    t_free_csr(&Xs);
    t_free_csr(&Ts);
    free(Pa);
    free(Pb);
    model_clear(&a);
    model_clear(&b);
    model_clear(&c);
    free(x);
    free(xt);
}

typedef struct logcap {
    int lines;
    char last[512];
} logcap;

static void capture(void *user, int level, const char *msg) {
    logcap *lc = user;
    (void)level;
    lc->lines++;
    snprintf(lc->last, sizeof lc->last, "%s", msg);
}

static int stop_now(void *user) { return ++*(int *)user > 2; }

static void test_early_stopping_and_abort(void) {
    enum { N = 200, D = 4 };
    float x[N * D];
    int32_t y[N];
    dt_rng r;
    dt_rng_seed(&r, 3);
    for (int i = 0; i < N * D; i++) x[i] = (float)dt_rng_normal(&r);
    for (int i = 0; i < N; i++) y[i] = (int32_t)dt_rng_below(&r, 2); /* pure noise: overfits */
    dt_mat X = {N, D, x, NULL, NULL, NULL, 0};
    duet_train_params p = duet_train_params_default();
    p.hidden = 64;
    p.epochs = 500;
    p.batch = 16;
    p.lr = 0.01;
    p.patience = 3;
    p.val_split = 0.3;
    logcap lc = {0, ""};
    duet_ctx c = CTX;
    c.log = capture;
    c.log_user = &lc;
    duet_err err = {0, ""};
    duet_model m;
    model_init(&m, &c, 2, D);
    CHECK_OK(fit(&m, &X, y, 2, &p, 1, &err));
    int epochs = 0, best = 0;
    CHECK(sscanf(lc.last, "mlp: %d epochs, best validation loss %*f at epoch %d", &epochs, &best) == 2);
    fprintf(stderr, "  %s\n", lc.last);
    CHECK(epochs < 500 && epochs == best + 3);
    CHECK(lc.lines == epochs + 1);
    CHECK(dt_model_meta_get(&m, "network") && strcmp(dt_model_meta_get(&m, "network"), "4-64-2 relu, softmax") == 0);
    model_clear(&m);
    int calls = 0;
    c.abort_fn = stop_now;
    c.abort_user = &calls;
    model_init(&m, &c, 2, D);
    CHECK_ERR(fit(&m, &X, y, 2, &p, 0, &err), &err, DUET_ECANCELLED, "cancelled");
    CHECK(m.state == NULL && calls == 3);
    model_clear(&m);
}

static void test_bad_params(void) {
    float x[8] = {0, 1, 1, 0, 1, 1, 0, 0};
    int32_t y[4] = {0, 1, 1, 0};
    dt_mat X = {4, 2, x, NULL, NULL, NULL, 0};
    duet_err err = {0, ""};
    duet_model m;
    model_init(&m, &CTX, 2, 2);
    duet_train_params p = duet_train_params_default();
    p.hidden = -3;
    CHECK_ERR(fit(&m, &X, y, 2, &p, 0, &err), &err, DUET_EINVAL, "hidden units");
    p = duet_train_params_default();
    p.layers = 99;
    CHECK_ERR(fit(&m, &X, y, 2, &p, 0, &err), &err, DUET_EINVAL, "layers");
    p = duet_train_params_default();
    p.lr = -1;
    CHECK_ERR(fit(&m, &X, y, 2, &p, 0, &err), &err, DUET_EINVAL, "learning rate");
    p = duet_train_params_default();
    p.val_split = 0.95;
    CHECK_ERR(fit(&m, &X, y, 2, &p, 0, &err), &err, DUET_EINVAL, "validation");
    p = duet_train_params_default();
    p.lr = 10; /* absurd step: diverges or not, but never crashes */
    p.epochs = 50;
    int rc = fit(&m, &X, y, 2, &p, 0, &err);
    CHECK(rc == DUET_OK || rc == DUET_ERANGE);
    model_clear(&m);
    /* XOR needs the hidden layer */
    p = duet_train_params_default();
    p.hidden = 16;
    p.epochs = 400;
    p.batch = 4;
    p.lr = 0.02;
    p.l2 = -1;
    model_init(&m, &CTX, 2, 2);
    CHECK_OK(fit(&m, &X, y, 2, &p, 0, &err));
    CHECK_NEAR(accuracy(&m, &X, y), 1.0, 1e-12);
    float P[8];
    dt_mat W = {4, 3, x, NULL, NULL, NULL, 0};
    CHECK_ERR(m.ops->predict_proba(&CTX, &m, &W, P, &err), &err, DUET_EINVAL, "features");
    model_clear(&m);
}

static const char *tmp_path(void) {
    static char path[256];
    snprintf(path, sizeof path, "/tmp/duet_test_mlp_%d.safetensors", (int)getpid());
    return path;
}

static int load_file(duet_model *m, duet_err *err) {
    dt_st_file *f = NULL;
    int rc = dt_st_open(&CTX, tmp_path(), &f, err);
    if (!rc) rc = m->ops->load(&CTX, m, f, err);
    dt_st_close(f);
    unlink(tmp_path());
    return rc;
}

/* Writes a (D=3, H=2, K=2) one-hidden-layer file with one thing changed; loads it. */
static int load_crafted(int what, duet_err *err) {
    float W0[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b0[2] = {0, 0}, W1[4] = {1, -1, 1, -1}, b1[2] = {0, 0};
    int64_t s0[2] = {3, 2}, s1[2] = {2, 2};
    dt_st_writer *w = NULL;
    int rc = dt_st_writer_new(&CTX, &w, err);
    if (!rc && what != 1) rc = dt_st_meta(w, "model.layers", what == 2 ? "x" : "1", err);
    if (!rc) rc = dt_st_meta(w, "model.hidden", "2", err);
    if (what == 3) s0[0] = 4;
    if (what == 4) W0[3] = NAN;
    if (!rc) rc = dt_st_add(w, "model.W0", DT_F32, 2, s0, W0, err);
    if (!rc) rc = dt_st_add1(w, "model.b0", DT_F32, 2, b0, err);
    if (!rc && what != 5) rc = dt_st_add(w, "model.W1", DT_F32, 2, s1, W1, err);
    if (!rc) rc = dt_st_add1(w, "model.b1", DT_F32, 2, b1, err);
    if (!rc && what == 6) rc = dt_st_add(w, "model.W2", DT_F32, 2, s1, W1, err);
    if (!rc) rc = dt_st_write(w, tmp_path(), err);
    dt_st_writer_free(w);
    duet_model m;
    model_init(&m, &CTX, 2, 3);
    if (!rc) rc = load_file(&m, err);
    if (!rc) {
        float x[3] = {1, 0, 0}, P[2];
        dt_mat X = {1, 3, x, NULL, NULL, NULL, 0};
        rc = m.ops->predict_proba(&CTX, &m, &X, P, err);
        if (!rc && fabs(P[0] + P[1] - 1) > 1e-6) rc = -100;
    }
    model_clear(&m);
    return rc;
}

static void test_save_load(void) {
    enum { N = 90, D = 6 };
    float x[N * D];
    int32_t y[N];
    blobs(x, y, N, D, 5);
    dt_mat X = {N, D, x, NULL, NULL, NULL, 0};
    duet_train_params p = duet_train_params_default();
    p.hidden = 8;
    p.layers = 2;
    p.epochs = 5;
    duet_err err = {0, ""};
    duet_model m, m2;
    model_init(&m, &CTX, 3, D);
    model_init(&m2, &CTX, 3, D);
    CHECK_OK(fit(&m, &X, y, 3, &p, 0, &err));
    dt_st_writer *w = NULL;
    CHECK_OK(dt_st_writer_new(&CTX, &w, &err));
    CHECK_OK(m.ops->save(&m, w, &err));
    CHECK_OK(dt_st_write(w, tmp_path(), &err));
    dt_st_writer_free(w);
    CHECK_OK(load_file(&m2, &err));
    float P1[N * 3], P2[N * 3];
    CHECK_OK(m.ops->predict_proba(&CTX, &m, &X, P1, &err));
    CHECK_OK(m2.ops->predict_proba(&CTX, &m2, &X, P2, &err));
    CHECK(memcmp(P1, P2, sizeof P1) == 0);
    model_clear(&m);
    model_clear(&m2);

    CHECK_OK(load_crafted(0, &err));
    CHECK_ERR(load_crafted(1, &err), &err, DUET_EFORMAT, "model.layers");
    CHECK_ERR(load_crafted(2, &err), &err, DUET_EFORMAT, "model.layers");
    CHECK_ERR(load_crafted(3, &err), &err, DUET_EFORMAT, "model.W0");
    CHECK_ERR(load_crafted(4, &err), &err, DUET_EFORMAT, "not finite");
    CHECK_ERR(load_crafted(5, &err), &err, DUET_EFORMAT, "model.W1");
    CHECK_ERR(load_crafted(6, &err), &err, DUET_EFORMAT, "model.W2");
}

static void test_failing_alloc(void) {
    enum { N = 40, D = 4 };
    float x[N * D];
    int32_t y[N];
    blobs(x, y, N, D, 9);
    dt_mat X = {N, D, x, NULL, NULL, NULL, 0};
    dt_mat Xs = t_to_csr(x, N, D);
    duet_train_params p = duet_train_params_default();
    p.hidden = 8;
    p.epochs = 2;
    int failures = 0, bad = 0;
    for (int sparse = 0; sparse < 2; sparse++)
        for (long k = 1; k < 12; k++) {
            t_failalloc fa = {0, k, 0};
            duet_ctx c = {.n_threads = 2, .seed = 1, .alloc = t_failalloc_fn, .alloc_user = &fa};
            duet_err err = {0, ""};
            duet_model m;
            model_init(&m, &c, 3, D);
            int rc = fit(&m, sparse ? &Xs : &X, y, 3, &p, 0, &err);
            float P[N * 3];
            if (rc == DUET_OK) rc = m.ops->predict_proba(&c, &m, &X, P, &err);
            if (rc != DUET_OK) {
                failures++;
                if (rc != DUET_ENOMEM || !strstr(err.msg, "out of memory")) bad++;
            }
            model_clear(&m);
            bad += fa.live != 0;
        }
    CHECK(failures > 0);
    CHECK(bad == 0);
    t_free_csr(&Xs);
}

/* Trains an MLP through the public API on every 5th row held out; returns accuracy or -1. */
static double api_accuracy(duet_ctx *ctx, const char *path, const duet_train_params *p, int64_t limit) {
    duet_data *d = NULL, *tr = NULL, *te = NULL;
    duet_model *m = NULL;
    duet_metrics *mt = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = duet_load_opts_default();
    o.limit = limit;
    double acc = -1;
    int rc = duet_data_load(ctx, path, &o, &d, &err);
    if (!rc) rc = duet_data_split_every(d, 5, &tr, &te, &err);
    if (!rc) rc = duet_model_train(ctx, tr, p, &m, &err);
    if (!rc) rc = duet_model_eval(ctx, m, te, &mt, &err);
    if (rc) fprintf(stderr, "  %s: %s\n", path, err.msg);
    else acc = mt->accuracy;
    duet_metrics_free(ctx, mt);
    duet_model_free(m);
    duet_data_free(d);
    duet_data_free(tr);
    duet_data_free(te);
    return acc;
}

static void test_public_api(void) {
    const char *iris = t_shared("sklearn_small/iris.csv");
    const char *digits = t_shared("sklearn_small/digits.csv.gz");
    const char *sms = t_shared("sms_spam/SMSSpamCollection");
    duet_ctx *ctx = NULL;
    duet_err err = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &err));
    duet_train_params p = duet_train_params_default();
    p.model = "mlp";
    if (!iris) SKIP("sklearn_small/iris.csv missing");
    else {
        duet_train_params q = p;
        q.epochs = 200;
        q.batch = 16;
        q.patience = 20;
        double acc = api_accuracy(ctx, iris, &q, 0);
        fprintf(stderr, "  iris mlp held-out accuracy %.3f\n", acc);
        CHECK(acc > 0.85);
    }
    if (!digits) SKIP("sklearn_small/digits.csv.gz missing");
    else {
        double acc = api_accuracy(ctx, digits, &p, 0);
        fprintf(stderr, "  digits mlp held-out accuracy %.3f\n", acc);
        CHECK(acc > 0.9);
    }
    if (!sms) SKIP("sms_spam/SMSSpamCollection missing");
    else {
        duet_train_params q = p;
        q.hidden = 32;
        q.epochs = 20;
        double acc = api_accuracy(ctx, sms, &q, 1500);
        fprintf(stderr, "  sms (tf-idf, CSR) mlp held-out accuracy %.3f\n", acc);
        CHECK(acc > 0.93);
    }
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_gradient_check);
    RUN(test_lazy_step);
    RUN(test_blobs_deterministic);
    RUN(test_early_stopping_and_abort);
    RUN(test_bad_params);
    RUN(test_save_load);
    RUN(test_failing_alloc);
    RUN(test_public_api);
    TEST_END();
}
