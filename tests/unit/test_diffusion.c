/* test_diffusion.c — the diffusion model: its U-Net's backward pass against central
 * differences, training on a small synthetic set of bars (the loss falls; conditional samples
 * of both samplers have the asked-for orientation; same seed, same images; save and load keep
 * them), and bad input (image sizes, non-image data).
 */
#include <math.h>

#include "../../src/data/data.h"
#include "../../src/models/diffusion.h"
#include "../../src/models/model.h"
#include "test.h"
#include "test_images.h"

/* Fraction of the 8x8 samples whose column means vary more than their row means (a vertical
 * bar), from pixels in 0..255. */
static double vertical_share(const duet_data *s) {
    int n = (int)duet_data_rows(s), vert = 0;
    for (int i = 0; i < n; i++) {
        const float *p = s->x + (size_t)i * 64;
        double cm[8] = {0}, rm[8] = {0}, mc = 0, mr = 0, vc = 0, vr = 0;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) cm[x] += p[y * 8 + x] / 8, rm[y] += p[y * 8 + x] / 8;
        for (int j = 0; j < 8; j++) mc += cm[j] / 8, mr += rm[j] / 8;
        for (int j = 0; j < 8; j++) vc += (cm[j] - mc) * (cm[j] - mc), vr += (rm[j] - mr) * (rm[j] - mr);
        vert += vc > vr;
    }
    return n ? (double)vert / n : 0;
}

static void test_gradients(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_ctx_set_threads(ctx, 2);
    double worst = 99;
    CHECK_OK(dt_diffusion_gradcheck(ctx, 8, 8, 8, 2, &worst, NULL)); /* conditional */
    CHECK(worst <= 1.0);
    fprintf(stderr, "  worst gradient error %.3f x tolerance\n", worst);
    worst = 99;
    CHECK_OK(dt_diffusion_gradcheck(ctx, 8, 12, 4, 0, &worst, NULL)); /* unconditional, not square */
    CHECK(worst <= 1.0);
    if (worst > 1.0) fprintf(stderr, "  worst gradient error %.3f x tolerance\n", worst);
    duet_ctx_free(ctx);
}

static int same_images(const duet_data *a, const duet_data *b) {
    return a && b && duet_data_rows(a) == duet_data_rows(b) &&
           memcmp(a->x, b->x, (size_t)duet_data_rows(a) * 64 * sizeof(float)) == 0;
}

/* The variational bound (score "vlb", nats): on average over a few images the estimate is near
 * the sum over all T steps (both draw the noise, one per step: single images differ by up to
 * ~10 %), it is the same twice, and real bars score far higher than noise. */
static void test_bound(duet_ctx *ctx, const duet_model *m, const duet_data *d) {
    duet_err e;
    CHECK(strcmp(duet_model_score_name(m), "vlb") == 0 && (duet_model_caps(m) & DUET_CAN_SCORE));
    duet_data *real = NULL, *rest = NULL, *noise = NULL;
    CHECK_OK(duet_data_split_every(d, 50, &rest, &real, &e)); /* real: every 50th of the bars, 8 */
    if (!real) return;
    int64_t n = duet_data_rows(real);
    double *a = calloc((size_t)n, sizeof *a), *b = calloc((size_t)n, sizeof *b), *x = calloc((size_t)n, sizeof *x);
    double *z = calloc((size_t)n, sizeof *z);
    CHECK_OK(duet_model_score(ctx, m, real, a, &e));
    CHECK_OK(duet_model_score(ctx, m, real, b, &e));
    dt_mat X = {0};
    CHECK_OK(dt_pipe_apply(ctx, m->pipe, real, &X, &e));
    CHECK_OK(dt_diffusion_vlb_exact(ctx, m, &X, x, &e));
    noise = load_bars(ctx, (int)n, 8, 1);
    if (noise) {
        dt_rng r;
        dt_rng_seed(&r, 5);
        for (int64_t i = 0; i < n * 64; i++) noise->x[i] = (float)dt_rng_below(&r, 256);
        CHECK_OK(duet_model_score(ctx, m, noise, z, &e));
    }
    double ma = 0, mx = 0, mz = 0;
    for (int64_t i = 0; i < n; i++) {
        CHECK(isfinite(a[i]) && a[i] < 0 && a[i] == b[i]);
        CHECK(z[i] < a[i] - 50);
        ma += a[i] / (double)n, mx += x[i] / (double)n, mz += z[i] / (double)n;
    }
    fprintf(stderr, "  bound on %lld bars: estimate %.1f, sum over all steps %.1f nats; noise %.1f\n", (long long)n, ma, mx, mz);
    CHECK(n == 8 && fabs(ma - mx) <= 0.06 * fabs(mx));
    dt_mat_free(ctx, &X);
    free(a), free(b), free(x), free(z);
    duet_data_free(real);
    duet_data_free(rest);
    duet_data_free(noise);
}

static void test_train(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_ctx_set_threads(ctx, 1); /* small layers: threads would mostly wait on each other */
    duet_data *d = load_bars(ctx, 400, 8, 1);
    if (!d) return;
    duet_train_params p = duet_train_params_default();
    p.model = "diffusion";
    p.conditional = 1;
    p.hidden = 16;
    p.epochs = 20;
    p.batch = 32;
    duet_model *m = NULL, *m2 = NULL;
    duet_err e;
    CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    if (!m) return;
    const char *l0 = dt_model_meta_get(m, "first_epoch_loss"), *l1 = dt_model_meta_get(m, "loss");
    CHECK(l0 && l1);
    if (!l0 || !l1) return;
    fprintf(stderr, "  loss %s -> %s, %s images/s\n", l0, l1, dt_model_meta_get(m, "images_per_second"));
    CHECK(atof(l1) < 0.6 * atof(l0)); /* starts near 1 (a zero prediction) */
    /* both samplers draw vertical bars for class "1" and horizontal ones for "0" */
    duet_sample_opts ddpm = {0, 100, 0}, ddim = {0, 0, 1};
    duet_data *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;
    CHECK_OK(duet_model_sample_ex(ctx, m, "1", 8, 7, &ddpm, &s1, &e));
    CHECK_OK(duet_model_sample_ex(ctx, m, "1", 8, 7, &ddim, &s2, &e));
    CHECK_OK(duet_model_sample_ex(ctx, m, "0", 8, 7, &ddim, &s3, &e));
    if (s1 && s2 && s3) {
        double v1 = vertical_share(s1), v2 = vertical_share(s2), v3 = vertical_share(s3);
        fprintf(stderr, "  vertical: ddpm '1' %.2f, ddim '1' %.2f, ddim '0' %.2f\n", v1, v2, v3);
        CHECK(v1 >= 0.75);
        CHECK(v2 >= 0.75);
        CHECK(v3 <= 0.25);
        for (int64_t i = 0; i < 8 * 64; i++) CHECK(s1->x[i] >= 0 && s1->x[i] <= 255);
    }
    /* same seed, same images */
    CHECK_OK(duet_model_sample_ex(ctx, m, "1", 8, 7, &ddim, &s4, &e));
    CHECK(same_images(s2, s4));
    duet_data_free(s4);
    s4 = NULL;
    /* save and load: the same samples */
    const char *path = t_path("diffusion.duet");
    CHECK_OK(duet_model_save(ctx, m, path, &e));
    CHECK_OK(duet_model_load(ctx, path, &m2, &e));
    if (m2) CHECK_OK(duet_model_sample_ex(ctx, m2, "1", 8, 7, &ddpm, &s4, &e));
    CHECK(same_images(s1, s4));
    remove(path);
    /* a stronger guidance weight changes the images; the class is drawn when none is asked */
    duet_sample_opts strong = {5, 0, 1};
    duet_data *s5 = NULL, *s6 = NULL;
    CHECK_OK(duet_model_sample_ex(ctx, m, "1", 8, 7, &strong, &s5, &e));
    CHECK(s5 && !same_images(s2, s5));
    CHECK_OK(duet_model_sample_ex(ctx, m, NULL, 4, 7, &ddim, &s6, &e));
    CHECK(s6 && duet_data_rows(s6) == 4 && duet_data_label(s6, 0));
    duet_data_free(s5);
    duet_data_free(s6);
    test_bound(ctx, m, d);
    /* unconditional: trains and draws */
    duet_model *mu = NULL;
    duet_data *su = NULL;
    p.conditional = 0;
    p.hidden = 4;
    p.epochs = 2;
    CHECK_OK(duet_model_train(ctx, d, &p, &mu, &e));
    if (mu) CHECK_OK(duet_model_sample_ex(ctx, mu, NULL, 2, 1, &ddim, &su, &e));
    CHECK(su && duet_data_rows(su) == 2 && su->x[0] >= 0 && su->x[0] <= 255);
    duet_data_free(su);
    duet_model_free(mu);
    duet_data_free(s1);
    duet_data_free(s2);
    duet_data_free(s3);
    duet_data_free(s4);
    duet_model_free(m);
    duet_model_free(m2);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

static void test_bad_input(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_train_params p = duet_train_params_default();
    p.model = "diffusion";
    p.hidden = 4;
    p.epochs = 1;
    duet_model *m = NULL;
    duet_err e;
    duet_data *d6 = load_bars(ctx, 20, 6, 3); /* 6x6: not a multiple of 4 */
    if (d6) CHECK_ERR(duet_model_train(ctx, d6, &p, &m, &e), &e, DUET_EINVAL, "multiples of 4 (got 6x6)");
    duet_data_free(d6);
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_CSV;
    duet_data *tab = NULL;
    const char *csv = "a,b,label\n0.3,0.4,x\n0.5,0.6,y\n0.1,0.2,x\n0.7,0.9,y\n";
    CHECK_OK(duet_data_load_mem(ctx, "t.csv", csv, strlen(csv), &o, &tab, &e));
    if (tab) CHECK_ERR(duet_model_train(ctx, tab, &p, &m, &e), &e, DUET_EINVAL, "not images");
    duet_data_free(tab);
    CHECK(m == NULL);
    duet_ctx_free(ctx);
}

/* Every allocation failing in turn: training and sampling end in DUET_ENOMEM and free all. */
static const char *g_img, *g_lab;

static int alloc_body(duet_ctx *ctx, long k, duet_err *e) {
    (void)k;
    duet_load_opts o = duet_load_opts_default();
    o.labels_path = g_lab;
    duet_data *d = NULL, *s = NULL;
    duet_model *m = NULL;
    duet_train_params p = duet_train_params_default();
    p.model = "diffusion";
    p.conditional = 1;
    p.hidden = 4;
    p.epochs = 1;
    p.batch = 8;
    duet_sample_opts so = {0, 2, 1};
    int rc = duet_data_load(ctx, g_img, &o, &d, e);
    if (!rc) rc = duet_model_train(ctx, d, &p, &m, e);
    if (!rc) rc = duet_model_sample_ex(ctx, m, "1", 1, 3, &so, &s, e);
    duet_data_free(s);
    duet_model_free(m);
    duet_data_free(d);
    return rc;
}

static void test_alloc_failures(void) {
    write_bars(12, 8, &g_img, &g_lab, 4);
    long total = 0;
    CHECK(t_each_alloc_failure(alloc_body, &total) == 0);
    CHECK(total > 10);
}

int main(void) {
    RUN(test_gradients);
    RUN(test_bad_input);
    RUN(test_alloc_failures);
    RUN(test_train);
    TEST_END();
}
