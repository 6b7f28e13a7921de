/* test_nb.c — naive Bayes against scikit-learn 1.2 (MultinomialNB, BernoulliNB, GaussianNB
 * predict_proba and log-likelihoods to 1e-6), dense and CSR input alike, sample weights,
 * explanations, sampling, model files (round trip and corrupt tensors), failing allocations,
 * and one end-to-end run through the public API. */
#include "models/model.h"
#include "test.h"
#include "test_mat.h"

/* The count matrix of the golden tests (N=8, D=5, K=3) and three test rows. */
static float CX[8 * 5] = {2, 0, 1, 0, 3, 0, 1, 0, 4, 0, 1, 1, 0, 0, 2, 0, 3, 1, 2, 0,
                                5, 0, 0, 1, 1, 0, 0, 2, 0, 0, 1, 0, 3, 1, 0, 0, 2, 0, 0, 1};
static const int32_t CY[8] = {0, 1, 0, 1, 0, 2, 2, 1};
static const double CSW[8] = {1, 2, 1, 0.5, 1, 3, 1, 1};
static float CT[3 * 5] = {1, 0, 2, 0, 1, 0, 2, 0, 1, 0, 3, 1, 0, 0, 0};

/* A continuous matrix (N=7, D=3, K=2) and three test rows. */
static float GX[7 * 3] = {1.2f, -0.5f, 3.0f, 0.7f, 0.1f, 2.5f, 1.9f, -1.2f, 3.3f, -0.3f, 2.0f,
                                0.1f, -1.0f, 1.4f, 0.4f, 0.1f, 2.2f, -0.2f, 2.5f, 0.0f, 1.0f};
static const int32_t GY[7] = {0, 0, 0, 1, 1, 1, 0};
static const double GSW[7] = {1, 2, 1, 1, 3, 1, 0.5};
static float GT[3 * 3] = {1.0f, 0.0f, 2.0f, 0.0f, 1.0f, 0.5f, 0.5f, 0.5f, 1.5f};

/* Golden values, from /usr/bin/python3 with scikit-learn 1.2:
 *   X, y, sw, T as above (np.array(..., float));
 *   MultinomialNB(alpha=0.5).fit(X,y).predict_proba(T)                      -> MNB
 *   logsumexp(MultinomialNB(alpha=0.5).fit(X,y)._joint_log_likelihood(T),1) -> MNB_SCORE
 *   MultinomialNB(alpha=0.5).fit(X,y,sample_weight=sw).predict_proba(T)     -> MNBW
 *   BernoulliNB(alpha=1.0).fit(X,y).predict_proba(T)                        -> BNB
 *   GaussianNB().fit(G,gy).predict_proba(GT)                                -> GNB
 *   logsumexp(GaussianNB().fit(G,gy)._joint_log_likelihood(GT),1)           -> GNB_SCORE
 *   GaussianNB().fit(G,gy,sample_weight=gw).predict_proba(GT)               -> GNBW */
static const double MNB[9] = {0.31384010823, 0.00831074763192, 0.677849144139, 0.00735544560694, 0.987932522319,
                              0.00471203207419, 0.977134987636, 0.00168125104044, 0.0211837613233};
static const double MNB_SCORE[3] = {-6.88081692645, -3.76336298421, -6.01369304565};
static const double MNBW[9] = {0.239863209199, 0.00208405139206, 0.758052739409, 0.00714822743895, 0.989660255885,
                               0.00319151667599, 0.988332676656, 0.00115881658735, 0.0105085067567};
static const double BNB[9] = {0.779975879652, 0.021665996657, 0.198358123691, 0.0256183598245, 0.922260953683,
                              0.052120686492, 0.427517743656, 0.427517743656, 0.144964512687};
static const double GNB[6] = {1, 2.87576287852e-21, 0.00356549294956, 0.99643450705, 0.999999999387, 6.12614297009e-10};
static const double GNB_SCORE[3] = {-2.93430388638, -5.29694029999, -5.49153744876};
static const double GNBW[6] = {1, 2.2992299415e-19, 0.000147838404569, 0.999852161595, 0.999999979503, 2.04972751125e-08};

static duet_ctx CTX = {.n_threads = 2, .seed = 42};
static const duet_sample_opts SO = {0, 0, 0}; /* the samplers' defaults */

static dt_mat dense(float *x, int64_t N, int64_t D) {
    dt_mat m = {N, D, x, NULL, NULL, NULL, 0};
    return m;
}

/* A CSR copy of a dense matrix (zeros dropped); free with free_csr. */
static void model_init(duet_model *m, duet_ctx *ctx, int K, int64_t D) {
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->ops = &dt_nb_ops;
    m->K = K;
    m->D = D;
    dt_pool_init(&m->pool, ctx);
}

static void model_clear(duet_model *m) {
    if (m->state) m->ops->free_state(m->ctx, m->state);
    m->state = NULL;
    dt_pool_clear(&m->pool);
}

static int fit(duet_model *m, const dt_mat *X, const int32_t *y, int K, const double *sw, int kind, double alpha,
               duet_err *err) {
    duet_train_params p = duet_train_params_default();
    p.nb_kind = kind;
    p.alpha = alpha;
    dt_fit_args a = {X, y, K, sw, &p, 0, NULL};
    return m->ops->fit(m->ctx, m, &a, err);
}

static void check_proba(const duet_model *m, const dt_mat *T, const double *want, double tol) {
    float P[16];
    duet_err err = {0, ""};
    CHECK_OK(m->ops->predict_proba(&CTX, m, T, P, &err));
    for (int64_t t = 0; t < T->N * m->K; t++) CHECK_NEAR(P[t], want[t], tol);
}

static void test_multinomial_golden(void) {
    duet_err err = {0, ""};
    dt_mat X = dense(CX, 8, 5), T = dense(CT, 3, 5);
    dt_mat Xs = t_to_csr(CX, 8, 5), Ts = t_to_csr(CT, 3, 5);
    duet_model m;
    model_init(&m, &CTX, 3, 5);
    CHECK_OK(fit(&m, &X, CY, 3, NULL, DUET_NB_MULTINOMIAL, 0.5, &err));
    check_proba(&m, &T, MNB, 1e-6);
    check_proba(&m, &Ts, MNB, 1e-6);
    double lp[3];
    CHECK_OK(m.ops->score(&CTX, &m, &T, lp, &err));
    for (int i = 0; i < 3; i++) CHECK_NEAR(lp[i], MNB_SCORE[i], 1e-6);
    model_clear(&m);
    /* AUTO on CSR counts is multinomial */
    CHECK_OK(fit(&m, &Xs, CY, 3, NULL, DUET_NB_AUTO, 0.5, &err));
    check_proba(&m, &Ts, MNB, 1e-6);
    model_clear(&m);
    CHECK_OK(fit(&m, &Xs, CY, 3, CSW, DUET_NB_AUTO, 0.5, &err));
    check_proba(&m, &T, MNBW, 1e-6);
    model_clear(&m);
    t_free_csr(&Xs);
    t_free_csr(&Ts);
}

static void test_bernoulli_golden(void) {
    duet_err err = {0, ""};
    dt_mat X = dense(CX, 8, 5), T = dense(CT, 3, 5);
    dt_mat Xs = t_to_csr(CX, 8, 5), Ts = t_to_csr(CT, 3, 5);
    duet_model m;
    model_init(&m, &CTX, 3, 5);
    CHECK_OK(fit(&m, &X, CY, 3, NULL, DUET_NB_BERNOULLI, 0, &err)); /* alpha 0 -> 1 */
    check_proba(&m, &T, BNB, 1e-6);
    check_proba(&m, &Ts, BNB, 1e-6);
    model_clear(&m);
    CHECK_OK(fit(&m, &Xs, CY, 3, NULL, DUET_NB_BERNOULLI, 1.0, &err));
    check_proba(&m, &T, BNB, 1e-6);
    model_clear(&m);
    t_free_csr(&Xs);
    t_free_csr(&Ts);
}

static void test_gaussian_golden(void) {
    duet_err err = {0, ""};
    dt_mat X = dense(GX, 7, 3), T = dense(GT, 3, 3);
    dt_mat Xs = t_to_csr(GX, 7, 3), Ts = t_to_csr(GT, 3, 3);
    duet_model m;
    model_init(&m, &CTX, 2, 3);
    CHECK_OK(fit(&m, &X, GY, 2, NULL, DUET_NB_AUTO, 0, &err)); /* dense -> Gaussian, alpha ignored */
    check_proba(&m, &T, GNB, 1e-6);
    check_proba(&m, &Ts, GNB, 1e-6);
    double lp[3];
    CHECK_OK(m.ops->score(&CTX, &m, &T, lp, &err));
    for (int i = 0; i < 3; i++) CHECK_NEAR(lp[i], GNB_SCORE[i], 1e-6);
    model_clear(&m);
    /* CSR with negative values: AUTO falls back to Gaussian; same model as dense */
    CHECK_OK(fit(&m, &Xs, GY, 2, NULL, DUET_NB_AUTO, 0.3, &err));
    check_proba(&m, &T, GNB, 1e-6);
    CHECK_OK(m.ops->score(&CTX, &m, &Ts, lp, &err));
    for (int i = 0; i < 3; i++) CHECK_NEAR(lp[i], GNB_SCORE[i], 1e-6);
    model_clear(&m);
    CHECK_OK(fit(&m, &X, GY, 2, GSW, DUET_NB_GAUSSIAN, 0, &err));
    check_proba(&m, &T, GNBW, 1e-6);
    model_clear(&m);
    t_free_csr(&Xs);
    t_free_csr(&Ts);
}

static void test_bad_input(void) {
    duet_err err = {0, ""};
    float neg[4 * 2] = {1, 0, 0, -2, 3, 1, 0, 1};
    int32_t y[4] = {0, 1, 0, 1};
    dt_mat X = dense(neg, 4, 2);
    duet_model m;
    model_init(&m, &CTX, 2, 2);
    CHECK_ERR(fit(&m, &X, y, 2, NULL, DUET_NB_MULTINOMIAL, 1, &err), &err, DUET_EINVAL, "counts >= 0");
    CHECK_ERR(fit(&m, &X, y, 2, NULL, 7, 1, &err), &err, DUET_EINVAL, "unknown kind");
    CHECK_ERR(fit(&m, &X, y, 2, NULL, DUET_NB_BERNOULLI, -1, &err), &err, DUET_EINVAL, "alpha");
    neg[0] = NAN;
    CHECK_ERR(fit(&m, &X, y, 2, NULL, DUET_NB_GAUSSIAN, 1, &err), &err, DUET_EINVAL, "not a finite number");
    CHECK(m.state == NULL);
    neg[0] = 1;
    CHECK_OK(fit(&m, &X, y, 2, NULL, DUET_NB_GAUSSIAN, 1, &err));
    dt_mat T = dense(CT, 3, 5);
    float P[6];
    CHECK_ERR(m.ops->predict_proba(&CTX, &m, &T, P, &err), &err, DUET_EINVAL, "features");
    model_clear(&m);
}

static void test_explain_and_weights(void) {
    duet_err err = {0, ""};
    dt_mat Xs = t_to_csr(CX, 8, 5), Ts = t_to_csr(CT, 3, 5);
    duet_model m;
    model_init(&m, &CTX, 3, 5);
    CHECK_OK(fit(&m, &Xs, CY, 3, NULL, DUET_NB_MULTINOMIAL, 0.5, &err));
    double w[5], val[5];
    int64_t feat[5], n = 0;
    CHECK_OK(m.ops->feature_weights(&CTX, &m, 0, w, &err));
    CHECK_OK(m.ops->explain(&CTX, &m, &Ts, 0, 0, feat, val, &n, &err));
    CHECK(n == 3); /* row 0 stores features 0, 2, 4 */
    for (int64_t t = 0; t < n; t++) CHECK_NEAR(val[t], CT[feat[t]] * w[feat[t]], 1e-12);
    /* the contributions explain the log-odds of class 0 against the mean of the others, up to
     * the priors: sum_j ratio_j = jll_0 - mean(jll_1, jll_2) - (prior terms) */
    CHECK(w[0] > 0 && w[4] > 0); /* features 0 and 4 are class 0's words */
    CHECK_ERR(m.ops->explain(&CTX, &m, &Ts, 5, 0, feat, val, &n, &err), &err, DUET_ERANGE, "out of range");
    CHECK_ERR(m.ops->feature_weights(&CTX, &m, 3, w, &err), &err, DUET_ERANGE, "out of range");
    model_clear(&m);
    t_free_csr(&Xs);
    t_free_csr(&Ts);
}

static void test_sample(void) {
    duet_err err = {0, ""};
    dt_mat X = dense(CX, 8, 5), G = dense(GX, 7, 3);
    static const int kinds[3] = {DUET_NB_MULTINOMIAL, DUET_NB_BERNOULLI, DUET_NB_GAUSSIAN};
    for (int t = 0; t < 3; t++) {
        duet_model m;
        int gauss = kinds[t] == DUET_NB_GAUSSIAN;
        model_init(&m, &CTX, gauss ? 2 : 3, gauss ? 3 : 5);
        CHECK_OK(fit(&m, gauss ? &G : &X, gauss ? GY : CY, m.K, NULL, kinds[t], 1, &err));
        float a[5 * 20], b[5 * 20];
        dt_rng r1, r2;
        dt_rng_seed(&r1, 99);
        dt_rng_seed(&r2, 99);
        for (int s = 0; s < 20; s++) {
            int k = s % 4 - 1; /* -1: drawn from the prior */
            if (k >= m.K) k = 0;
            int k1 = k, k2 = k;
            CHECK_OK(m.ops->sample(&CTX, &m, &k1, &r1, &SO, a + s * m.D, &err));
            CHECK_OK(m.ops->sample(&CTX, &m, &k2, &r2, &SO, b + s * m.D, &err));
            CHECK(k1 == k2 && k1 >= 0 && k1 < m.K); /* the drawn class is reported */
        }
        CHECK(memcmp(a, b, sizeof(float) * (size_t)(20 * m.D)) == 0);
        int ok = 1;
        for (int64_t q = 0; q < 20 * m.D; q++) {
            if (!isfinite(a[q])) ok = 0;
            if (!gauss && (a[q] < 0 || a[q] != floorf(a[q]))) ok = 0;
        }
        CHECK(ok);
        int k9 = 9;
        CHECK_ERR(m.ops->sample(&CTX, &m, &k9, &r1, &SO, a, &err), &err, DUET_ERANGE, "out of range");
        model_clear(&m);
    }
    /* multinomial samples of class 0 look like class 0: features 0 and 4 dominate */
    duet_model m;
    model_init(&m, &CTX, 3, 5);
    CHECK_OK(fit(&m, &X, CY, 3, NULL, DUET_NB_MULTINOMIAL, 0.1, &err));
    double tot[5] = {0};
    dt_rng r;
    dt_rng_seed(&r, 5);
    float x[5];
    for (int s = 0; s < 500; s++) {
        int k0 = 0;
        CHECK_OK(m.ops->sample(&CTX, &m, &k0, &r, &SO, x, &err));
        for (int j = 0; j < 5; j++) tot[j] += x[j];
    }
    CHECK(tot[0] > tot[1] && tot[4] > tot[3]);
    CHECK_NEAR((tot[0] + tot[1] + tot[2] + tot[3] + tot[4]) / 500, 16.0 / 3, 0.6); /* mean length */
    model_clear(&m);
}

/* Saves m to a temporary file and loads it into m2 (K, D given). */
static int roundtrip(duet_model *m, duet_model *m2, duet_err *err) {
    dt_st_writer *w = NULL;
    dt_st_file *f = NULL;
    char path[256];
    snprintf(path, sizeof path, "/tmp/duet_test_nb_%d.safetensors", (int)getpid());
    int rc = dt_st_writer_new(&CTX, &w, err);
    if (!rc) rc = m->ops->save(m, w, err);
    if (!rc) rc = dt_st_write(w, path, err);
    if (!rc) rc = dt_st_open(&CTX, path, &f, err);
    if (!rc) rc = m2->ops->load(&CTX, m2, f, err);
    dt_st_writer_free(w);
    dt_st_close(f);
    unlink(path);
    return rc;
}

static void test_save_load(void) {
    duet_err err = {0, ""};
    dt_mat X = dense(CX, 8, 5), T = dense(CT, 3, 5), G = dense(GX, 7, 3), GTm = dense(GT, 3, 3);
    static const int kinds[3] = {DUET_NB_MULTINOMIAL, DUET_NB_BERNOULLI, DUET_NB_GAUSSIAN};
    for (int t = 0; t < 3; t++) {
        int gauss = kinds[t] == DUET_NB_GAUSSIAN;
        duet_model m, m2;
        model_init(&m, &CTX, gauss ? 2 : 3, gauss ? 3 : 5);
        model_init(&m2, &CTX, m.K, m.D);
        CHECK_OK(fit(&m, gauss ? &G : &X, gauss ? GY : CY, m.K, NULL, kinds[t], 0.5, &err));
        CHECK_OK(roundtrip(&m, &m2, &err));
        float P1[9], P2[9];
        CHECK_OK(m.ops->predict_proba(&CTX, &m, gauss ? &GTm : &T, P1, &err));
        CHECK_OK(m2.ops->predict_proba(&CTX, &m2, gauss ? &GTm : &T, P2, &err));
        CHECK(memcmp(P1, P2, sizeof(float) * (size_t)(3 * m.K)) == 0);
        /* the file's K must be the model's */
        duet_model m3;
        model_init(&m3, &CTX, m.K + 1, m.D);
        CHECK_ERR(roundtrip(&m, &m3, &err), &err, DUET_EFORMAT, "model.class_log_prior");
        CHECK(m3.state == NULL);
        model_clear(&m);
        model_clear(&m2);
        model_clear(&m3);
    }
}

/* Writes a hand-made nb file and loads it as a (K=2, D=2) model; returns load's status. */
static int load_crafted(const char *kind, const double *flp, const double *prior, int64_t D, duet_err *err) {
    dt_st_writer *w = NULL;
    dt_st_file *f = NULL;
    char path[256];
    snprintf(path, sizeof path, "/tmp/duet_test_nbc_%d.safetensors", (int)getpid());
    int64_t shape[2] = {2, D};
    double len[2] = {1, 1};
    int rc = dt_st_writer_new(&CTX, &w, err);
    if (!rc && kind) rc = dt_st_meta(w, "model.kind", kind, err);
    if (!rc) rc = dt_st_add1(w, "model.class_log_prior", DT_F64, 2, prior, err);
    if (!rc) rc = dt_st_add1(w, "model.doc_len", DT_F64, 2, len, err);
    if (!rc) rc = dt_st_add(w, "model.feature_log_prob", DT_F64, 2, shape, flp, err);
    if (!rc) rc = dt_st_add(w, "model.theta", DT_F64, 2, shape, flp, err);
    if (!rc) rc = dt_st_add(w, "model.var", DT_F64, 2, shape, flp, err);
    if (!rc) rc = dt_st_write(w, path, err);
    if (!rc) rc = dt_st_open(&CTX, path, &f, err);
    duet_model m;
    model_init(&m, &CTX, 2, 2);
    if (!rc) rc = m.ops->load(&CTX, &m, f, err);
    model_clear(&m);
    dt_st_writer_free(w);
    dt_st_close(f);
    unlink(path);
    return rc;
}

static void test_corrupt_files(void) {
    duet_err err = {0, ""};
    double good[6] = {-0.5, -1.0, -0.2, -2.0, -1.0, -1.0}, prior[2] = {-0.7, -0.7};
    CHECK_OK(load_crafted("multinomial", good, prior, 2, &err));
    CHECK_OK(load_crafted("bernoulli", good, prior, 2, &err));
    CHECK_ERR(load_crafted(NULL, good, prior, 2, &err), &err, DUET_EFORMAT, "model.kind");
    CHECK_ERR(load_crafted("poisson", good, prior, 2, &err), &err, DUET_EFORMAT, "model.kind");
    CHECK_ERR(load_crafted("gaussian", good, prior, 2, &err), &err, DUET_EFORMAT, "model.var"); /* var < 0 */
    double bad[6] = {-0.5, NAN, -0.2, -2.0, -1, -1};
    CHECK_ERR(load_crafted("multinomial", bad, prior, 2, &err), &err, DUET_EFORMAT, "model.feature_log_prob");
    bad[1] = 0.5; /* a log probability above 0 */
    CHECK_ERR(load_crafted("multinomial", bad, prior, 2, &err), &err, DUET_EFORMAT, "element 1");
    CHECK_ERR(load_crafted("multinomial", good, prior, 3, &err), &err, DUET_EFORMAT, "model.feature_log_prob");
    double pinf[2] = {-INFINITY, -INFINITY};
    CHECK_ERR(load_crafted("multinomial", good, pinf, 2, &err), &err, DUET_EFORMAT, "class_log_prior");
}

static void test_failing_alloc(void) {
    dt_mat X = dense(CX, 8, 5), G = dense(GX, 7, 3);
    dt_mat Gs = t_to_csr(GX, 7, 3);
    for (int t = 0; t < 3; t++) {
        int failures = 0, leaks = 0;
        for (long k = 1; k < 40; k++) {
            t_failalloc fa = {0, k, 0};
            duet_ctx c = {.n_threads = 2, .seed = 1, .alloc = t_failalloc_fn, .alloc_user = &fa};
            duet_err err = {0, ""};
            duet_model m;
            model_init(&m, &c, t == 0 ? 3 : 2, t == 0 ? 5 : 3);
            int rc = fit(&m, t == 0 ? &X : t == 1 ? &G : &Gs, t == 0 ? CY : GY, m.K, NULL, DUET_NB_AUTO, 1, &err);
            float P[8 * 3];
            if (rc == DUET_OK) rc = m.ops->predict_proba(&c, &m, t == 0 ? &X : &G, P, &err);
            if (rc != DUET_OK) {
                failures++;
                if (rc != DUET_ENOMEM || !strstr(err.msg, "out of memory")) leaks += 1000;
            }
            model_clear(&m);
            leaks += fa.live != 0;
        }
        CHECK(failures > 0);
        CHECK(leaks == 0);
    }
    t_free_csr(&Gs);
}

static void test_public_api(void) {
    const char *iris = t_shared("sklearn_small/iris.csv");
    const char *sms = t_shared("sms_spam/SMSSpamCollection");
    if (!iris) SKIP("sklearn_small/iris.csv missing");
    duet_ctx *ctx = NULL;
    duet_err err = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &err));
    duet_train_params p = duet_train_params_default();
    p.model = "nb";
    if (iris) {
        duet_data *d = NULL, *tr = NULL, *te = NULL;
        duet_model *m = NULL;
        duet_metrics *mt = NULL;
        int rc = duet_data_load(ctx, iris, NULL, &d, &err);
        CHECK(rc == DUET_OK);
        if (rc == DUET_OK) {
            CHECK_OK(duet_data_split_every(d, 5, &tr, &te, &err));
            rc = duet_model_train(ctx, tr, &p, &m, &err);
            if (rc) fprintf(stderr, "iris nb: %s\n", err.msg);
            CHECK(rc == DUET_OK);
            if (m) {
                CHECK_OK(duet_model_eval(ctx, m, te, &mt, &err));
                if (mt) {
                    fprintf(stderr, "  iris gaussian nb held-out accuracy %.3f\n", mt->accuracy);
                    CHECK(mt->accuracy > 0.85);
                }
            }
        }
        duet_metrics_free(ctx, mt);
        duet_model_free(m);
        duet_data_free(d);
        duet_data_free(tr);
        duet_data_free(te);
    }
    if (!sms) {
        SKIP("sms_spam/SMSSpamCollection missing");
    } else {
        duet_data *d = NULL;
        duet_model *m = NULL;
        duet_load_opts o = duet_load_opts_default();
        o.limit = 1500;
        int rc = duet_data_load(ctx, sms, &o, &d, &err);
        if (rc) fprintf(stderr, "sms load: %s\n", err.msg);
        CHECK(rc == DUET_OK);
        if (rc == DUET_OK) {
            duet_data *tr = NULL, *te = NULL;
            duet_metrics *mt = NULL;
            CHECK_OK(duet_data_split_every(d, 5, &tr, &te, &err));
            rc = duet_model_train(ctx, tr, &p, &m, &err);
            if (rc) fprintf(stderr, "sms nb: %s\n", err.msg);
            CHECK(rc == DUET_OK);
            if (m) {
                CHECK_OK(duet_model_eval(ctx, m, te, &mt, &err));
                if (mt) {
                    fprintf(stderr, "  sms multinomial nb held-out accuracy %.3f\n", mt->accuracy);
                    CHECK(mt->accuracy > 0.93);
                }
                duet_data *s = NULL;
                rc = duet_model_sample(ctx, m, "spam", 3, 7, &s, &err);
                if (rc) fprintf(stderr, "sms sample: %s\n", err.msg);
                CHECK(rc == DUET_OK && s && duet_data_rows(s) == 3);
                if (s && duet_data_rows(s) == 3) fprintf(stderr, "  sampled spam: %.100s\n", s->text[0]);
                duet_data_free(s);
            }
            duet_metrics_free(ctx, mt);
            duet_data_free(tr);
            duet_data_free(te);
        }
        duet_model_free(m);
        duet_data_free(d);
    }
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_multinomial_golden);
    RUN(test_bernoulli_golden);
    RUN(test_gaussian_golden);
    RUN(test_bad_input);
    RUN(test_explain_and_weights);
    RUN(test_sample);
    RUN(test_save_load);
    RUN(test_corrupt_files);
    RUN(test_failing_alloc);
    RUN(test_public_api);
    TEST_END();
}
