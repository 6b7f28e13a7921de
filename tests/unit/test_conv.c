/* test_conv.c — the image layers (src/nn/conv.c): fast convolutions against their plain twins on
 * odd shapes (1 and 2 threads, identical results), every backward pass against central finite
 * differences, and everything against PyTorch golden values.
 *
 * Tolerances:
 *   fast vs _ref (float vs double sums of at most a few hundred O(1) terms): max |diff| <= 1e-4
 *   finite differences (float, step 1e-2): 2e-3 absolute plus 2e-2 relative, as test_nn.c
 *   PyTorch (tests/fixtures/conv_torch.safetensors, written by
 *            /usr/bin/python3 tools/conv_torch_fixture.py, torch 1.13 CPU float32; committed, so a
 *            missing fixture is a failure): max |duet - torch| <= 1e-5 * (1 + max |torch|)
 * Tests run from the repository root.
 */
#include <math.h>

#include "../../src/io/safetensors.h"
#include "../../src/nn/conv.h"
#include "test.h"

static duet_ctx CTX1 = {.n_threads = 1, .seed = 42}, CTX2 = {.n_threads = 2, .seed = 42};

static void fill(dt_rng *r, float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(dt_rng_normal(r) * scale);
}

static double maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > m || e != e) m = e;
    }
    return m;
}

static double maxabs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

/* The fast result's worst difference from the plain one, relative to 1 + the plain one's
 * largest value (the phases' Winograd products round to about 1e-5 of the values). */
static double refdiff(const float *a, const float *ref, size_t n) { return maxdiff(a, ref, n) / (1 + maxabs(ref, n)); }

static double wsum(const float *w, const float *y, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)w[i] * y[i];
    return s;
}

#define FD_STEP 1e-2f
/* A convolution's sum(dy * y) is linear in each of x, w and b: central differences are exact at
 * any step, and a large one drowns the rounding of the forward passes (the phases' Winograd
 * products round to about 1e-5 of the values) */
#define CONV_FD_STEP 0.5f
#define FD_OK(num, ana) (fabs((num) - (ana)) <= 2e-3 + 2e-2 * fabs(ana))
#define REF_TOL 2e-5

/* --- convolution and transposed convolution: fast vs plain vs finite differences ------------- */

typedef struct conv_case {
    int B, C, H, W, K, kh, kw, stride, pad, opad, transposed;
} conv_case;

static void fwd(const duet_ctx *ctx, const conv_case *c, const dt_conv_shape *s, const float *x, const float *w,
                const float *b, float *y, float *work) {
    if (c->transposed) {
        if (ctx) dt_convt2d_fwd(ctx, s, c->opad, x, w, b, y, work);
        else dt_convt2d_fwd_ref(s, c->opad, x, w, b, y);
    } else {
        if (ctx) dt_conv2d_fwd(ctx, s, x, w, b, y, work);
        else dt_conv2d_fwd_ref(s, x, w, b, y);
    }
}

static void bwd(const duet_ctx *ctx, const conv_case *c, const dt_conv_shape *s, const float *dy, const float *x,
                const float *w, float *dx, float *dw, float *db, float *work) {
    if (c->transposed) {
        if (ctx) dt_convt2d_bwd(ctx, s, c->opad, dy, x, w, dx, dw, db, work);
        else dt_convt2d_bwd_ref(s, c->opad, dy, x, w, dx, dw, db);
    } else {
        if (ctx) dt_conv2d_bwd(ctx, s, dy, x, w, dx, dw, db, work);
        else dt_conv2d_bwd_ref(s, dy, x, w, dx, dw, db);
    }
}

static void run_case(const conv_case *c) {
    dt_conv_shape s = {c->B, c->C, c->H, c->W, c->K, c->kh, c->kw, c->stride, c->pad};
    int Ho, Wo;
    if (c->transposed) dt_convt_out(&s, c->opad, &Ho, &Wo);
    else dt_conv_out(&s, &Ho, &Wo);
    size_t nx = (size_t)c->B * c->C * c->H * c->W, nw = (size_t)c->K * c->C * c->kh * c->kw;
    size_t ny = (size_t)c->B * c->K * Ho * Wo, nwork = dt_conv_work(&s);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)c->K * 4), *dy = malloc(ny * 4);
    float *y0 = malloc(ny * 4), *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *work = malloc(nwork * 4);
    float *dx0 = malloc(nx * 4), *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4);
    float *dw0 = malloc(nw * 4), *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4);
    float *db0 = malloc((size_t)c->K * 4), *db1 = malloc((size_t)c->K * 4), *db2 = malloc((size_t)c->K * 4);
    dt_rng r;
    dt_rng_seed(&r, (uint64_t)(c->B * 7919 + c->C * 613 + c->H * 37 + c->kh * 5 + c->transposed));
    fill(&r, x, nx, 1.0);
    fill(&r, w, nw, 0.5);
    fill(&r, b, (size_t)c->K, 0.5);
    fill(&r, dy, ny, 1.0);

    fwd(NULL, c, &s, x, w, b, y0, NULL);
    fwd(&CTX1, c, &s, x, w, b, y1, work);
    fwd(&CTX2, c, &s, x, w, b, y2, work);
    double e = refdiff(y1, y0, ny);
    CHECK(e <= REF_TOL);
    if (e > REF_TOL) fprintf(stderr, "  forward %s B%d C%d K%d k%dx%d s%d p%d: %g\n", c->transposed ? "convT" : "conv",
                             c->B, c->C, c->K, c->kh, c->kw, c->stride, c->pad, e);
    if (c->B > 1) CHECK(memcmp(y1, y2, ny * 4) == 0); /* thread count does not change a bit */

    /* weight gradients are added to what is there: start from 1 */
    for (size_t i = 0; i < nw; i++) dw0[i] = dw1[i] = dw2[i] = 1.0f;
    for (int k = 0; k < c->K; k++) db0[k] = db1[k] = db2[k] = 1.0f;
    for (size_t i = 0; i < nx; i++) dx1[i] = dx2[i] = NAN; /* dx is written, not added */
    bwd(NULL, c, &s, dy, x, w, dx0, dw0, db0, NULL);
    bwd(&CTX1, c, &s, dy, x, w, dx1, dw1, db1, work);
    bwd(&CTX2, c, &s, dy, x, w, dx2, dw2, db2, work);
    CHECK(refdiff(dx1, dx0, nx) <= REF_TOL);
    CHECK(refdiff(dw1, dw0, nw) <= REF_TOL);
    CHECK(refdiff(db1, db0, (size_t)c->K) <= REF_TOL);
    if (c->B > 1) {
        CHECK(memcmp(dx1, dx2, nx * 4) == 0);
        CHECK(memcmp(dw1, dw2, nw * 4) == 0);
        CHECK(memcmp(db1, db2, (size_t)c->K * 4) == 0);
    }
    /* NULL dx and db: the weight gradient alone */
    for (size_t i = 0; i < nw; i++) dw2[i] = 1.0f;
    bwd(&CTX2, c, &s, dy, x, w, NULL, dw2, NULL, work);
    CHECK(refdiff(dw2, dw0, nw) <= REF_TOL);

    /* finite differences of sum(dy * y) on a sample of x, w and b (the fast backward, minus the
     * starting 1 of dw and db) */
    int bad = 0;
    float *arrs[3] = {x, w, b};
    size_t lens[3] = {nx, nw, (size_t)c->K};
    for (int t = 0; t < 3; t++)
        for (int m = 0; m < 10; m++) {
            size_t i = (size_t)dt_rng_below(&r, lens[t]);
            float keep = arrs[t][i];
            arrs[t][i] = keep + CONV_FD_STEP;
            fwd(&CTX1, c, &s, x, w, b, y0, work);
            double up = wsum(dy, y0, ny);
            arrs[t][i] = keep - CONV_FD_STEP;
            fwd(&CTX1, c, &s, x, w, b, y0, work);
            double num = (up - wsum(dy, y0, ny)) / (2 * CONV_FD_STEP);
            arrs[t][i] = keep;
            double ana = t == 0 ? dx1[i] : t == 1 ? dw1[i] - 1.0 : db1[i] - 1.0;
            if (!FD_OK(num, ana)) {
                bad++;
                fprintf(stderr, "  fd %d[%zu]: numeric %g, analytic %g\n", t, i, num, ana);
            }
        }
    CHECK(bad == 0);
    free(x), free(w), free(b), free(dy), free(y0), free(y1), free(y2), free(work);
    free(dx0), free(dx1), free(dx2), free(dw0), free(dw1), free(dw2), free(db0), free(db1), free(db2);
}

static void test_conv2d(void) {
    static const conv_case cs[] = {
        /* B C  H  W  K kh kw s p */
        {2, 3, 7, 5, 5, 3, 3, 1, 1, 0, 0},
        {3, 5, 9, 8, 7, 4, 4, 2, 1, 0, 0},
        {1, 4, 6, 7, 3, 1, 1, 1, 0, 0, 0},  /* 1x1, one image: dt_gemm gets the threads */
        {2, 2, 11, 6, 9, 5, 5, 2, 2, 0, 0},
        {11, 3, 5, 5, 4, 3, 3, 2, 0, 0, 0}, /* more images than groups, uneven groups */
        {2, 6, 8, 9, 10, 5, 3, 1, 2, 0, 0}, /* 5x3 kernel */
        {1, 9, 10, 10, 17, 3, 3, 1, 1, 0, 0},
        {37, 3, 5, 5, 4, 4, 4, 2, 1, 0, 0}, /* groups of 4 and 5 images */
        {19, 6, 6, 7, 8, 2, 3, 1, 0, 0, 0}, /* groups of 2 and 3 images side by side, stride 1 */
        {19, 40, 12, 14, 40, 3, 3, 2, 1, 0, 0}, /* 2 images' columns per chunk: chunks of 2 and 1 */
        /* stride-1 "same" convolutions go by shifted products, not im2col */
        {11, 4, 6, 5, 6, 3, 3, 1, 1, 0, 0}, /* more images than groups */
        {3, 2, 7, 9, 3, 5, 5, 1, 2, 0, 0},  /* 5x5, pad 2 */
        {2, 16, 7, 7, 8, 3, 3, 1, 1, 0, 0}, /* wider than tall */
        /* 3x3 ones with at least 8 channels each side go by Winograd's F(2x2, 3x3) */
        {3, 8, 17, 18, 9, 3, 3, 1, 1, 0, 0},  /* odd height; rows of 16 columns and a part */
        {5, 10, 9, 19, 8, 3, 3, 1, 1, 0, 0},  /* odd width past 16 */
        {37, 8, 3, 5, 8, 3, 3, 1, 1, 0, 0},   /* tiny images: a row's vector reads into the next channels */
        {2, 12, 28, 28, 10, 3, 3, 1, 1, 0, 0}, /* the U-Net's size */
        {1, 8, 1, 1, 8, 3, 3, 1, 1, 0, 0},    /* one pixel */
        /* 4x4 stride-2 with at least 16 channels each side: Winograd on the phases */
        {3, 16, 14, 14, 16, 4, 4, 2, 1, 0, 0},  /* the VAE's second layer's size: 7x7 out, tiles past the edge */
        {37, 17, 8, 12, 16, 4, 4, 2, 1, 0, 0},  /* 4x6 out; 4 groups of 9 and 10 images: chunks of 8 and 1 or 2 */
        {80, 16, 6, 6, 18, 4, 4, 2, 1, 0, 0},   /* 4 groups of 20 images: chunks of 8, 8 and 4 */
        {2, 16, 18, 34, 16, 4, 4, 2, 1, 0, 0},  /* 9x17 out: more tiles than a chunk's columns */
        {1, 16, 2, 2, 16, 4, 4, 2, 1, 0, 0},    /* one output pixel */
        {2, 16, 7, 8, 16, 4, 4, 2, 1, 0, 0},    /* odd height: unfolds */
        {2, 15, 8, 8, 16, 4, 4, 2, 1, 0, 0},    /* 15 channels in: unfolds */
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) run_case(&cs[i]);
}

static void test_convt2d(void) {
    static const conv_case cs[] = {
        /* B C  H  W  K kh kw s p opad */
        {2, 3, 4, 3, 5, 4, 4, 2, 1, 0, 1},
        {3, 4, 3, 5, 2, 3, 3, 2, 1, 1, 1},
        {1, 5, 5, 4, 3, 3, 3, 1, 1, 0, 1},
        {9, 2, 3, 3, 3, 5, 5, 2, 2, 1, 1},
        {2, 3, 4, 4, 2, 1, 1, 2, 0, 1, 1}, /* 1x1 at stride 2: every other output pixel is bias */
        {2, 7, 4, 5, 6, 4, 4, 2, 1, 0, 1},
        {37, 3, 4, 4, 5, 4, 4, 2, 1, 0, 1}, /* groups of 4 and 5 images */
        {19, 6, 5, 4, 4, 3, 3, 1, 0, 0, 1}, /* groups of 2 and 3 images side by side, stride 1 */
        {19, 6, 10, 11, 48, 3, 3, 2, 1, 1, 1}, /* 2 images' columns per chunk: chunks of 2 and 1 */
        {2, 1, 6, 6, 8, 3, 3, 1, 1, 0, 1},  /* stride-1 "same" shape: unfolds, its columns larger than the shifted scratch */
        /* 4x4 stride-2 with at least 16 channels each side and no output padding: Winograd on the phases */
        {3, 16, 7, 7, 16, 4, 4, 2, 1, 0, 1},   /* the VAE's third layer's size */
        {37, 16, 4, 6, 17, 4, 4, 2, 1, 0, 1},  /* 4 groups of 9 and 10 images */
        {80, 18, 3, 3, 16, 4, 4, 2, 1, 0, 1},  /* 4 groups of 20 images: chunks of 8, 8 and 4 */
        {2, 16, 9, 17, 16, 4, 4, 2, 1, 0, 1},  /* more tiles than a chunk's columns */
        {1, 16, 1, 1, 16, 4, 4, 2, 1, 0, 1},   /* one input pixel */
        {2, 16, 3, 4, 16, 4, 4, 2, 1, 1, 1},   /* output padding: unfolds */
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) run_case(&cs[i]);
}

/* --- upsampling -------------------------------------------------------------------------------- */

static void test_upsample(void) {
    enum { B = 2, C = 3, H = 5, W = 4 };
    float x[B * C * H * W], y[B * C * 4 * H * W], dy[B * C * 4 * H * W], dx[B * C * H * W];
    dt_rng r;
    dt_rng_seed(&r, 9);
    fill(&r, x, sizeof x / 4, 1.0);
    fill(&r, dy, sizeof dy / 4, 1.0);
    dt_upsample2x_fwd(2, x, y, B, C, H, W);
    int bad = 0;
    for (int p = 0; p < B * C; p++)
        for (int i = 0; i < 2 * H; i++)
            for (int j = 0; j < 2 * W; j++)
                bad += y[(p * 2 * H + i) * 2 * W + j] != x[(p * H + i / 2) * W + j / 2];
    CHECK(bad == 0);
    dt_upsample2x_bwd(2, dy, dx, B, C, H, W);
    /* the adjoint: <up(x), dy> = <x, up'(dy)> */
    CHECK_NEAR(wsum(dy, y, sizeof y / 4), wsum(x, dx, sizeof x / 4), 1e-4);
    CHECK_NEAR(dx[0], dy[0] + dy[1] + dy[2 * W] + dy[2 * W + 1], 1e-6);
}

/* --- group norm -------------------------------------------------------------------------------- */

static void test_groupnorm(void) {
    enum { B = 3, C = 6, HW = 7, G = 3, N = B * C * HW };
    dt_rng r;
    dt_rng_seed(&r, 10);
    float x[N], y[N], dy[N], dx[N], g[C], be[C], mean[B * G], rstd[B * G], dg[C] = {0}, dbe[C] = {0};
    fill(&r, x, N, 2.0);
    for (int i = 0; i < N; i++) x[i] += 1.0f;
    fill(&r, dy, N, 1.0);
    for (int c = 0; c < C; c++) g[c] = 1.0f + 0.3f * (float)dt_rng_normal(&r), be[c] = 0.3f * (float)dt_rng_normal(&r);
    dt_groupnorm_fwd(2, x, g, be, y, mean, rstd, B, C, HW, G, 1e-5f);
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int q = 0; q < G; q++) {
            const float *xg = x + (b * G + q) * (C / G) * HW;
            double s = 0, ss = 0;
            for (int i = 0; i < C / G * HW; i++) s += xg[i];
            s /= C / G * HW;
            for (int i = 0; i < C / G * HW; i++) ss += (xg[i] - s) * (xg[i] - s);
            double rs = 1 / sqrt(ss / (C / G * HW) + 1e-5);
            for (int i = 0; i < C / G * HW; i++) {
                int c = q * (C / G) + i / HW;
                worst = fmax(worst, fabs((xg[i] - s) * rs * g[c] + be[c] - y[(b * G + q) * (C / G) * HW + i]));
            }
        }
    CHECK(worst < 1e-5);
    dt_groupnorm_bwd(2, dy, x, g, mean, rstd, dx, dg, dbe, B, C, HW, G);
    int bad = 0;
    float *arrs[3] = {x, g, be}, *grads[3] = {dx, dg, dbe};
    int lens[3] = {N, C, C};
    float m2[B * G], r2[B * G];
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < lens[t]; i++) {
            float keep = arrs[t][i];
            arrs[t][i] = keep + FD_STEP;
            dt_groupnorm_fwd(1, x, g, be, y, m2, r2, B, C, HW, G, 1e-5f);
            double up = wsum(dy, y, N);
            arrs[t][i] = keep - FD_STEP;
            dt_groupnorm_fwd(1, x, g, be, y, m2, r2, B, C, HW, G, 1e-5f);
            double num = (up - wsum(dy, y, N)) / (2 * FD_STEP);
            arrs[t][i] = keep;
            bad += !FD_OK(num, grads[t][i]);
        }
    CHECK(bad == 0);
    /* no affine: the same as gamma 1, beta 0 */
    float y2[N], dx2[N], one[C], zero[C] = {0};
    for (int c = 0; c < C; c++) one[c] = 1.0f;
    dt_groupnorm_fwd(1, x, one, zero, y, mean, rstd, B, C, HW, G, 1e-5f);
    dt_groupnorm_fwd(1, x, NULL, NULL, y2, mean, rstd, B, C, HW, G, 1e-5f);
    CHECK(maxdiff(y, y2, N) == 0);
    dt_groupnorm_bwd(1, dy, x, one, mean, rstd, dx, NULL, NULL, B, C, HW, G);
    dt_groupnorm_bwd(1, dy, x, NULL, mean, rstd, dx2, NULL, NULL, B, C, HW, G);
    CHECK(maxdiff(dx, dx2, N) == 0);
    /* in place: y may be x, and dx may be dy */
    memcpy(y2, x, sizeof x);
    dt_groupnorm_fwd(1, y2, g, be, y2, mean, rstd, B, C, HW, G, 1e-5f);
    dt_groupnorm_fwd(1, x, g, be, y, mean, rstd, B, C, HW, G, 1e-5f);
    CHECK(maxdiff(y, y2, N) == 0);
    memcpy(dx2, dy, sizeof dy);
    dt_groupnorm_bwd(1, dx2, x, g, mean, rstd, dx2, NULL, NULL, B, C, HW, G);
    dt_groupnorm_bwd(1, dy, x, g, mean, rstd, dx, NULL, NULL, B, C, HW, G);
    CHECK(maxdiff(dx, dx2, N) == 0);
}

/* --- activations -------------------------------------------------------------------------------- */

static void test_act(void) {
    enum { N = 41 };
    static const int kinds[] = {DT_ACT_RELU, DT_ACT_SILU, DT_ACT_LEAKY, DT_ACT_TANH, DT_ACT_SIGMOID};
    dt_rng r;
    dt_rng_seed(&r, 11);
    float x[N], y[N], dy[N], dx[N];
    fill(&r, x, N, 2.0);
    fill(&r, dy, N, 1.0);
    for (int i = 0; i < N; i++)
        if (fabsf(x[i]) < 0.05f) x[i] = 0.5f; /* ReLU's kink stays out of the finite differences */
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        int kind = kinds[k], bad = 0;
        dt_act_fwd(2, kind, x, y, N);
        double worst = 0;
        for (int i = 0; i < N; i++) {
            double v = x[i], want = kind == DT_ACT_RELU    ? fmax(v, 0)
                                    : kind == DT_ACT_SILU  ? v / (1 + exp(-v))
                                    : kind == DT_ACT_LEAKY ? (v > 0 ? v : 0.2 * v)
                                    : kind == DT_ACT_TANH  ? tanh(v)
                                                           : 1 / (1 + exp(-v));
            worst = fmax(worst, fabs(want - y[i]));
        }
        CHECK(worst < 1e-6);
        dt_act_bwd(2, kind, dy, x, dx, N);
        for (int i = 0; i < N; i++) {
            float keep = x[i], t;
            x[i] = keep + FD_STEP;
            dt_act_fwd(1, kind, x + i, &t, 1);
            double up = t;
            x[i] = keep - FD_STEP;
            dt_act_fwd(1, kind, x + i, &t, 1);
            x[i] = keep;
            bad += !FD_OK((up - t) / (2 * FD_STEP) * dy[i], dx[i]);
        }
        CHECK(bad == 0);
        float z[N];
        memcpy(z, x, sizeof x);
        dt_act_fwd(1, kind, z, z, N); /* in place */
        CHECK(maxdiff(z, y, N) == 0);
    }
    /* a long row split over threads, and the gradient in place over dy: the same bits as one
     * thread */
    enum { L = 70001 };
    float *a = malloc(L * sizeof(float)), *b1 = malloc(L * sizeof(float)), *b2 = malloc(L * sizeof(float));
    float *g = malloc(L * sizeof(float));
    fill(&r, a, L, 3.0);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        int kind = kinds[k];
        dt_act_fwd(1, kind, a, b1, L);
        dt_act_fwd(2, kind, a, b2, L);
        CHECK(maxdiff(b1, b2, L) == 0);
        fill(&r, g, L, 1.0);
        dt_act_bwd(1, kind, g, a, b1, L);
        dt_act_bwd(2, kind, g, a, g, L);
        CHECK(maxdiff(b1, g, L) == 0);
    }
    free(a), free(b1), free(b2), free(g);
}

/* --- PyTorch golden values ------------------------------------------------------------------------ */

typedef struct golden {
    dt_st_file *f;
    double worst; /* max |duet - torch| / (1 + max |torch|) over every check */
} golden;

/* Tensor `name` of any rank (1..4) holding n floats, or NULL (a failed check). */
static const float *get(golden *gd, const char *name, size_t n) {
    duet_err err = {0, ""};
    const void *d = NULL;
    int64_t any[4] = {-1, -1, -1, -1}, real[4], count = 0;
    int rc = DUET_EFORMAT;
    for (int nd = 1; nd <= 4 && rc; nd++) {
        rc = dt_st_get(gd->f, name, DT_F32, nd, any, &d, real, &err);
        if (!rc) {
            count = 1;
            for (int i = 0; i < nd; i++) count *= real[i];
        }
    }
    if (rc || (size_t)count != n) {
        fprintf(stderr, "  %s: %s (want %zu values)\n", name, rc ? err.msg : "wrong size", n);
        CHECK(0);
        return NULL;
    }
    return d;
}

static void gcheck(golden *gd, const char *name, const float *mine, size_t n) {
    const float *want = get(gd, name, n);
    if (!want) return;
    double e = maxdiff(mine, want, n), rel = e / (1 + maxabs(want, n));
    gd->worst = fmax(gd->worst, rel);
    if (!(rel <= 1e-5)) fprintf(stderr, "  %s: max diff %g (max |torch| %g)\n", name, e, maxabs(want, n));
    CHECK(rel <= 1e-5);
}

static void golden_conv(golden *gd, const char *cs, int transposed) {
    duet_err err = {0, ""};
    const char *m = dt_st_meta_get(gd->f, cs);
    int v[10];
    if (!m || sscanf(m, "%d %d %d %d %d %d %d %d %d %d", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                     &v[8], &v[9]) != 10) {
        fprintf(stderr, "  metadata '%s' missing or bad %s\n", cs, err.msg);
        CHECK(0);
        return;
    }
    dt_conv_shape s = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
    int opad = v[9], Ho, Wo;
    if (transposed) dt_convt_out(&s, opad, &Ho, &Wo);
    else dt_conv_out(&s, &Ho, &Wo);
    size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)s.K * s.C * s.kh * s.kw, ny = (size_t)s.B * s.K * Ho * Wo;
    char nm[64];
#define G(field, n) (snprintf(nm, sizeof nm, "%s.%s", cs, field), get(gd, nm, n))
    const float *x = G("x", nx), *w = G("w", nw), *b = G("b", (size_t)s.K), *dy = G("dy", ny);
    if (!x || !w || !b || !dy) return;
    float *y = calloc(ny, 4), *dx = calloc(nx, 4), *dw = calloc(nw, 4), *db = calloc((size_t)s.K, 4);
    float *work = malloc(dt_conv_work(&s) * 4);
    for (int t = 0; t < 2; t++) { /* 1 and 2 threads */
        const duet_ctx *ctx = t ? &CTX2 : &CTX1;
        memset(dw, 0, nw * 4), memset(db, 0, (size_t)s.K * 4);
        if (transposed) {
            dt_convt2d_fwd(ctx, &s, opad, x, w, b, y, work);
            dt_convt2d_bwd(ctx, &s, opad, dy, x, w, dx, dw, db, work);
        } else {
            dt_conv2d_fwd(ctx, &s, x, w, b, y, work);
            dt_conv2d_bwd(ctx, &s, dy, x, w, dx, dw, db, work);
        }
        snprintf(nm, sizeof nm, "%s.y", cs), gcheck(gd, nm, y, ny);
        snprintf(nm, sizeof nm, "%s.dx", cs), gcheck(gd, nm, dx, nx);
        snprintf(nm, sizeof nm, "%s.dw", cs), gcheck(gd, nm, dw, nw);
        snprintf(nm, sizeof nm, "%s.db", cs), gcheck(gd, nm, db, (size_t)s.K);
    }
    /* the plain twins too */
    memset(dw, 0, nw * 4), memset(db, 0, (size_t)s.K * 4);
    if (transposed) {
        dt_convt2d_fwd_ref(&s, opad, x, w, b, y);
        dt_convt2d_bwd_ref(&s, opad, dy, x, w, dx, dw, db);
    } else {
        dt_conv2d_fwd_ref(&s, x, w, b, y);
        dt_conv2d_bwd_ref(&s, dy, x, w, dx, dw, db);
    }
    snprintf(nm, sizeof nm, "%s.y", cs), gcheck(gd, nm, y, ny);
    snprintf(nm, sizeof nm, "%s.dx", cs), gcheck(gd, nm, dx, nx);
    snprintf(nm, sizeof nm, "%s.dw", cs), gcheck(gd, nm, dw, nw);
    snprintf(nm, sizeof nm, "%s.db", cs), gcheck(gd, nm, db, (size_t)s.K);
#undef G
    free(y), free(dx), free(dw), free(db), free(work);
}

static void test_torch(void) {
    const char *path = "tests/fixtures/conv_torch.safetensors";
    duet_err err = {0, ""};
    golden gd = {NULL, 0};
    int rc = dt_st_open(&CTX1, path, &gd.f, &err);
    if (rc) {
        fprintf(stderr, "  %s (the fixture is committed; regenerate: /usr/bin/python3 tools/conv_torch_fixture.py)\n",
                err.msg);
        CHECK(rc == DUET_OK);
        return;
    }
    golden_conv(&gd, "c1", 0);
    golden_conv(&gd, "c2", 0);
    golden_conv(&gd, "t1", 1);
    golden_conv(&gd, "t2", 1);
    golden_conv(&gd, "w1", 0); /* by Winograd's F(2x2, 3x3) */

    /* GroupNorm(2, 6) on (2, 6, 5, 4) */
    {
        enum { B = 2, C = 6, HW = 20, G = 2, N = B * C * HW };
        const float *x = get(&gd, "gn.x", N), *g = get(&gd, "gn.gamma", C), *be = get(&gd, "gn.beta", C);
        const float *dy = get(&gd, "gn.dy", N);
        if (x && g && be && dy) {
            float y[N], dx[N], mean[B * G], rstd[B * G], dg[C] = {0}, dbe[C] = {0};
            dt_groupnorm_fwd(2, x, g, be, y, mean, rstd, B, C, HW, G, 1e-5f);
            dt_groupnorm_bwd(2, dy, x, g, mean, rstd, dx, dg, dbe, B, C, HW, G);
            gcheck(&gd, "gn.y", y, N);
            gcheck(&gd, "gn.dx", dx, N);
            gcheck(&gd, "gn.dgamma", dg, C);
            gcheck(&gd, "gn.dbeta", dbe, C);
        }
    }
    /* activations */
    {
        enum { N = 64 };
        static const struct {
            const char *name;
            int kind;
        } acts[] = {{"silu", DT_ACT_SILU}, {"relu", DT_ACT_RELU}, {"leaky", DT_ACT_LEAKY},
                    {"tanh", DT_ACT_TANH}, {"sigmoid", DT_ACT_SIGMOID}};
        const float *x = get(&gd, "act.x", N), *dy = get(&gd, "act.dy", N);
        for (size_t k = 0; x && dy && k < sizeof acts / sizeof *acts; k++) {
            float y[N], dx[N];
            char nm[64];
            dt_act_fwd(1, acts[k].kind, x, y, N);
            dt_act_bwd(1, acts[k].kind, dy, x, dx, N);
            snprintf(nm, sizeof nm, "act.%s.y", acts[k].name), gcheck(&gd, nm, y, N);
            snprintf(nm, sizeof nm, "act.%s.dx", acts[k].name), gcheck(&gd, nm, dx, N);
        }
    }
    /* time embedding: t = 0, 1, 17, 999; dim 16 */
    {
        const float *t = get(&gd, "temb.t", 4);
        if (t) {
            float out[4 * 16];
            dt_time_embedding(t, 4, 16, out);
            gcheck(&gd, "temb.out", out, 4 * 16);
        }
    }
    fprintf(stderr, "  torch: worst max|duet - torch| / (1 + max|torch|) = %.3g\n", gd.worst);
    dt_st_close(gd.f);
}

static void test_time_embedding(void) {
    float t[2] = {3.0f, 250.0f}, out[2 * 8];
    dt_time_embedding(t, 2, 8, out);
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 4; i++) {
            double f = pow(10000.0, -i / 3.0);
            CHECK_NEAR(out[b * 8 + i], sin(t[b] * f), 1e-4);
            CHECK_NEAR(out[b * 8 + 4 + i], cos(t[b] * f), 1e-4);
        }
    float one = 2.0f, o2[2];
    dt_time_embedding(&one, 1, 2, o2); /* dim 2: the single frequency is 1 */
    CHECK_NEAR(o2[0], sin(2.0), 1e-6);
    CHECK_NEAR(o2[1], cos(2.0), 1e-6);
}

int main(void) {
    RUN(test_conv2d);
    RUN(test_convt2d);
    RUN(test_upsample);
    RUN(test_groupnorm);
    RUN(test_act);
    RUN(test_time_embedding);
    RUN(test_torch);
    TEST_END();
}
