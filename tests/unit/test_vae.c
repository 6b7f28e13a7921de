/* test_vae.c — image generative models and their tools: the VAE on a small synthetic image set
 * (it learns, draws the class asked for, classifies by Bayes' rule, scores an ELBO, survives
 * save/load), PNG grids written and read back, the symmetric eigensolver and the Fréchet
 * distance against closed forms, judging generated images, and bad input.
 */
#include <math.h>

#include "../../src/core/linalg.h"
#include "../../src/io/png.h"
#include "../../src/models/model.h"
#include "test.h"
#include "test_images.h"

static void vae_case(int arch) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_ctx_set_threads(ctx, 2);
    duet_data *d = load_bars(ctx, 400, 8, 1), *t = load_bars(ctx, 100, 8, 2);
    if (!d || !t) return;
    duet_train_params p = duet_train_params_default();
    p.model = "vae";
    p.conditional = 1;
    p.hidden = 64;
    p.latent = 4;
    p.epochs = 60;
    p.batch = 32;
    p.lr = 3e-3;
    p.arch = arch;
    duet_model *m = NULL, *m2 = NULL;
    duet_err e;
    CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    if (!m) return;
    CHECK(strcmp(duet_model_score_name(m), "elbo") == 0);
    /* it learned: the ELBO of fresh images is far above that of a model of noise (64 pixels of
     * Bernoulli(0.5) cost 64 log 2 = 44 nats) */
    double lp[100], lp2[100];
    CHECK_OK(duet_model_score(ctx, m, t, lp, &e));
    double mean = 0;
    for (int i = 0; i < 100; i++) mean += lp[i] / 100;
    CHECK(mean > -30 && mean < 0);
    if (!(mean > -30 && mean < 0)) fprintf(stderr, "  arch %d: mean ELBO %.2f\n", arch, mean);
    /* a conditional VAE classifies by Bayes' rule */
    duet_metrics *mt = NULL;
    CHECK_OK(duet_model_eval(ctx, m, t, &mt, &e));
    CHECK(mt && mt->accuracy >= 0.95);
    duet_metrics_free(ctx, mt);
    /* it draws the class asked for: bars of the right orientation */
    duet_data *s = NULL;
    CHECK_OK(duet_model_sample(ctx, m, "1", 20, 7, &s, &e));
    CHECK(s && duet_data_kind(s) == DUET_DATA_DENSE && duet_data_rows(s) == 20);
    if (s) {
        duet_model *clf = NULL;
        duet_train_params cp = duet_train_params_default();
        cp.model = "mlp";
        cp.hidden = 16;
        cp.epochs = 60;
        CHECK_OK(duet_model_train(ctx, d, &cp, &clf, &e));
        duet_judgement j;
        if (clf) CHECK_OK(duet_judge(ctx, clf, s, t, &j, &e));
        CHECK(clf && j.n == 20 && j.accuracy >= 0.9);
        CHECK(clf && isfinite(j.frechet) && j.frechet >= 0 && j.dim == 16);
        /* real images judged against themselves: all right and at distance ~0 */
        duet_judgement jr;
        if (clf) CHECK_OK(duet_judge(ctx, clf, t, t, &jr, &e));
        CHECK(clf && jr.accuracy >= 0.9 && fabs(jr.frechet) < 1e-3);
        duet_model_free(clf);
        const char *png = "/tmp/duet_test_grid.png";
        CHECK_OK(duet_data_write_png(ctx, s, png, 5, &e));
        uint8_t *pix = NULL;
        int W = 0, H = 0, C = 0;
        CHECK_OK(dt_png_read(ctx, png, &pix, &W, &H, &C, &e));
        CHECK(W == 5 * 10 + 2 && H == 4 * 10 + 2 && C == 1); /* 5 x 4 tiles of 8 px, 2 px gaps */
        duet_free(ctx, pix);
        remove(png);
        CHECK_ERR(duet_data_write_png(ctx, d, "/nonexistent/dir/x.png", 0, &e), &e, DUET_EIO, "/nonexistent/dir/x.png");
    }
    duet_data_free(s);
    /* save and load: the same scores */
    const char *path = arch ? "/tmp/duet_test_cvae.duet" : "/tmp/duet_test_vae.duet";
    CHECK_OK(duet_model_save(ctx, m, path, &e));
    CHECK_OK(duet_model_load(ctx, path, &m2, &e));
    if (m2) CHECK_OK(duet_model_score(ctx, m2, t, lp2, &e));
    CHECK(m2 && memcmp(lp, lp2, sizeof lp) == 0);
    remove(path);
    /* bad input */
    duet_data *s2 = NULL;
    CHECK_ERR(duet_model_sample(ctx, m, "7", 3, 1, &s2, &e), &e, DUET_EINVAL, "'7' is not one of");
    CHECK_ERR(duet_model_sample(ctx, m, NULL, 0, 1, &s2, &e), &e, DUET_EINVAL, "count");
    CHECK_ERR(duet_model_sample(ctx, m, NULL, 100000000, 1, &s2, &e), &e, DUET_EINVAL, "count");
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_CSV;
    duet_data *tab = NULL;
    const char *csv = "a,b,label\n3,4,x\n5,6,y\n1,2,x\n7,9,y\n";
    CHECK_OK(duet_data_load_mem(ctx, "t.csv", csv, strlen(csv), &o, &tab, &e));
    duet_model *bad = NULL;
    p.no_scale = 1;
    if (tab) CHECK_ERR(duet_model_train(ctx, tab, &p, &bad, &e), &e, DUET_EINVAL, "[0, 1]");
    duet_data_free(tab);
    duet_model_free(m);
    duet_model_free(m2);
    duet_data_free(d);
    duet_data_free(t);
    duet_ctx_free(ctx);
}

static void test_vae(void) { vae_case(DUET_ARCH_MLP); }
static void test_vae_conv(void) { vae_case(DUET_ARCH_CONV); }

/* the VAE's backward pass, MLP and convolutional, against central differences */
static void test_vae_gradients(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    for (int conv = 0; conv < 2; conv++)
        for (int K = 0; K <= 3; K += 3) {
            double worst = 99;
            CHECK_OK(dt_vae_gradcheck(ctx, conv, K, &worst, NULL));
            CHECK(worst <= 1.0);
            if (worst > 1.0) fprintf(stderr, "  conv %d K %d: worst gradient error %.3f x tolerance\n", conv, K, worst);
        }
    duet_ctx_free(ctx);
}

static void test_linalg(void) {
    /* eigenvalues of a known symmetric matrix: [[2,1,0],[1,2,0],[0,0,5]] -> 1, 3, 5 */
    double A[9] = {2, 1, 0, 1, 2, 0, 0, 0, 5}, w[3], V[9];
    dt_eig_sym(A, 3, w, V);
    CHECK_NEAR(w[0], 1, 1e-12);
    CHECK_NEAR(w[1], 3, 1e-12);
    CHECK_NEAR(w[2], 5, 1e-12);
    CHECK_NEAR(fabs(V[0 * 3 + 2]) + fabs(V[1 * 3 + 2]), 0, 1e-12); /* the eigenvector of 5 is e3 */
    CHECK_NEAR(fabs(V[2 * 3 + 2]), 1, 1e-12);
    /* Fréchet distance: equal Gaussians 0; diagonal ones in closed form
     * sum (m1-m2)^2 + sum (sqrt(a) - sqrt(b))^2 */
    double m1[2] = {0, 1}, m2[2] = {3, 1}, S1[4] = {4, 0, 0, 1}, S2[4] = {1, 0, 0, 9}, f;
    CHECK_OK(dt_frechet(NULL, m1, S1, m1, S1, 2, &f, NULL));
    CHECK_NEAR(f, 0, 1e-10);
    CHECK_OK(dt_frechet(NULL, m1, S1, m2, S2, 2, &f, NULL));
    CHECK_NEAR(f, 9 + 1 + 4, 1e-10);
    /* a rotated pair: S1 = R diag(4, 1) R^T, S2 = diag(4, 1); scipy: 2 * (5 - tr sqrtm(S1^1/2 S2 S1^1/2)) */
    double c = cos(0.3), s = sin(0.3), R1[4] = {4 * c * c + s * s, 3 * c * s, 3 * c * s, 4 * s * s + c * c};
    double S3[4] = {4, 0, 0, 1}, z[2] = {0, 0};
    CHECK_OK(dt_frechet(NULL, z, R1, z, S3, 2, &f, NULL));
    /* /usr/bin/python3 -c "import numpy as n,scipy.linalg as l; c,s=n.cos(.3),n.sin(.3);
     *   R=n.array([[c,-s],[s,c]]); A=R@n.diag([4,1])@R.T; B=n.diag([4,1]);
     *   print(n.trace(A+B-2*l.sqrtm(l.sqrtm(A)@B@l.sqrtm(A))).real)" -> 0.158453319301167 */
    CHECK_NEAR(f, 0.158453319301167, 1e-9);
}

/* the GAN's generator and discriminator backward passes against central differences */
static void test_gan_gradients(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    double worst = 99;
    CHECK_OK(dt_gan_gradcheck(ctx, 8, 12, 0, &worst, NULL));
    CHECK(worst <= 1.0);
    if (worst > 1.0) fprintf(stderr, "  worst gradient error %.3f x tolerance\n", worst);
    CHECK_OK(dt_gan_gradcheck(ctx, 8, 8, 3, &worst, NULL)); /* conditional */
    CHECK(worst <= 1.0);
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_linalg);
    RUN(test_gan_gradients);
    RUN(test_vae_gradients);
    RUN(test_vae_conv);
    RUN(test_vae);
    TEST_END();
}
