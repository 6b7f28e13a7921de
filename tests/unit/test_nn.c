/* test_nn.c — the transformer's layers (src/nn): fast kernels against their plain twins on odd
 * shapes, every backward pass against central finite differences, AdamW and the schedule
 * against their formulas.
 *
 * Finite differences run in float: step 1e-2 on O(1) inputs, tolerance 2e-3 absolute plus 2e-2
 * relative, which float rounding (about 1e-7 * sum size / step) stays far inside.
 */
#include <math.h>

#include "../../src/nn/nn.h"
#include "test.h"

static void fill(dt_rng *r, float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(dt_rng_normal(r) * scale);
}

static double maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* sum(w * y) — a scalar loss with a random upstream gradient w */
static double wsum(const float *w, const float *y, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)w[i] * y[i];
    return s;
}

#define FD_STEP 1e-2f
#define FD_OK(num, ana) (fabs((num) - (ana)) <= 2e-3 + 2e-2 * fabs(ana))

static void test_rmsnorm(void) {
    enum { N = 5, C = 13 };
    dt_rng r;
    dt_rng_seed(&r, 1);
    float x[N * C], g[C], y[N * C], rstd[N], w[N * C], dx[N * C] = {0}, dg[C] = {0};
    fill(&r, x, N * C, 1.0);
    fill(&r, w, N * C, 1.0);
    for (int c = 0; c < C; c++) g[c] = 1.0f + 0.3f * (float)dt_rng_normal(&r);
    dt_rmsnorm_fwd(2, x, g, y, rstd, N, C, 1e-5f);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double ss = 0;
        for (int c = 0; c < C; c++) ss += (double)x[i * C + c] * x[i * C + c];
        double rs = 1.0 / sqrt(ss / C + 1e-5);
        for (int c = 0; c < C; c++) worst = fmax(worst, fabs(x[i * C + c] * rs * g[c] - y[i * C + c]));
    }
    CHECK(worst < 1e-5);
    dt_rmsnorm_bwd(2, w, x, g, rstd, dx, dg, N, C);
    int bad = 0;
    for (int i = 0; i < N * C; i++) {
        float keep = x[i];
        x[i] = keep + FD_STEP;
        dt_rmsnorm_fwd(1, x, g, y, rstd, N, C, 1e-5f);
        double up = wsum(w, y, N * C);
        x[i] = keep - FD_STEP;
        dt_rmsnorm_fwd(1, x, g, y, rstd, N, C, 1e-5f);
        double num = (up - wsum(w, y, N * C)) / (2 * FD_STEP);
        x[i] = keep;
        bad += !FD_OK(num, dx[i]);
    }
    for (int c = 0; c < C; c++) {
        float keep = g[c];
        g[c] = keep + FD_STEP;
        dt_rmsnorm_fwd(1, x, g, y, rstd, N, C, 1e-5f);
        double up = wsum(w, y, N * C);
        g[c] = keep - FD_STEP;
        dt_rmsnorm_fwd(1, x, g, y, rstd, N, C, 1e-5f);
        double num = (up - wsum(w, y, N * C)) / (2 * FD_STEP);
        g[c] = keep;
        bad += !FD_OK(num, dg[c]);
    }
    CHECK(bad == 0);
}

static void test_rope(void) {
    enum { T = 9, NH = 3, HD = 10, N = 7 };
    float cs[T * HD / 2], sn[T * HD / 2], x[N * NH * HD], x0[N * NH * HD];
    dt_rope_table(cs, sn, T, HD, 10000.0f);
    dt_rng r;
    dt_rng_seed(&r, 2);
    fill(&r, x, sizeof x / sizeof *x, 1.0);
    memcpy(x0, x, sizeof x);
    dt_rope(2, x, N, NH, HD, 2, 4, cs, sn, 0); /* rows at positions 2 + i % 4 */
    double worst = 0;
    for (int i = 0; i < N; i++)
        for (int h = 0; h < NH; h++)
            for (int j = 0; j < HD / 2; j++) {
                double ang = (2 + i % 4) * pow(10000.0, -2.0 * j / HD);
                const float *a = x0 + (i * NH + h) * HD + 2 * j;
                const float *b = x + (i * NH + h) * HD + 2 * j;
                worst = fmax(worst, fabs(a[0] * cos(ang) - a[1] * sin(ang) - b[0]));
                worst = fmax(worst, fabs(a[0] * sin(ang) + a[1] * cos(ang) - b[1]));
            }
    CHECK(worst < 1e-5);
    dt_rope(2, x, N, NH, HD, 2, 4, cs, sn, 1); /* the inverse rotation undoes it */
    CHECK(maxdiff(x, x0, sizeof x / sizeof *x) < 1e-5);
}

/* attention: fast vs plain on odd shapes (also decoding with pos0 > 0), and backward vs
 * plain and vs finite differences */
static void attn_case(int B, int n, int pos0, int ldk, int nh, int nkv, int hd) {
    dt_attn_shape s = {B, n, pos0, ldk, nh, nkv, hd};
    size_t nq = (size_t)B * n * nh * hd, nk = (size_t)B * ldk * nkv * hd, na = (size_t)B * nh * n * (pos0 + n);
    float *q = calloc(nq, 4), *k = calloc(nk, 4), *v = calloc(nk, 4), *o1 = calloc(nq, 4), *o2 = calloc(nq, 4);
    float *a1 = calloc(na, 4), *a2 = calloc(na, 4), *w = calloc(nq, 4);
    float *dq1 = calloc(nq, 4), *dq2 = calloc(nq, 4), *dk1 = calloc(nk, 4), *dk2 = calloc(nk, 4);
    float *dv1 = calloc(nk, 4), *dv2 = calloc(nk, 4);
    dt_rng r;
    dt_rng_seed(&r, (uint64_t)(B * 1000 + n * 100 + hd));
    fill(&r, q, nq, 1.0);
    fill(&r, k, nk, 1.0);
    fill(&r, v, nk, 1.0);
    fill(&r, w, nq, 1.0);
    dt_attn_fwd(2, &s, q, k, v, o1, a1);
    dt_attn_fwd_ref(&s, q, k, v, o2, a2);
    CHECK(maxdiff(o1, o2, nq) < 1e-5);
    CHECK(maxdiff(a1, a2, na) < 1e-6);
    if (pos0 == 0) {
        dt_attn_bwd(2, &s, w, q, k, v, o1, a1, dq1, dk1, dv1);
        dt_attn_bwd_ref(&s, w, q, k, v, a2, dq2, dk2, dv2);
        CHECK(maxdiff(dq1, dq2, nq) < 1e-5);
        size_t used = (size_t)B * ldk * nkv * hd; /* rows >= n of each sequence are not written */
        double dkd = 0, dvd = 0;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < n; j++)
                for (int c = 0; c < nkv * hd; c++) {
                    size_t at = ((size_t)b * ldk + j) * nkv * hd + c;
                    dkd = fmax(dkd, fabs(dk1[at] - dk2[at]));
                    dvd = fmax(dvd, fabs(dv1[at] - dv2[at]));
                }
        (void)used;
        CHECK(dkd < 1e-5 && dvd < 1e-5);
        /* finite differences on a sample of q, k and v entries */
        int bad = 0, tried = 0;
        float *arrs[3] = {q, k, v}, *grads[3] = {dq1, dk1, dv1};
        size_t lens[3] = {nq, nk, nk};
        for (int t = 0; t < 3; t++)
            for (int m = 0; m < 12; m++) {
                size_t i = (size_t)dt_rng_below(&r, lens[t]);
                if (t > 0 && (int)((i / ((size_t)nkv * hd)) % (size_t)ldk) >= n) continue; /* unused row */
                float keep = arrs[t][i];
                arrs[t][i] = keep + FD_STEP;
                dt_attn_fwd_ref(&s, q, k, v, o2, a2);
                double up = wsum(w, o2, nq);
                arrs[t][i] = keep - FD_STEP;
                dt_attn_fwd_ref(&s, q, k, v, o2, a2);
                double num = (up - wsum(w, o2, nq)) / (2 * FD_STEP);
                arrs[t][i] = keep;
                bad += !FD_OK(num, grads[t][i]);
                tried++;
            }
        CHECK(tried > 10 && bad == 0);
    }
    free(q), free(k), free(v), free(o1), free(o2), free(a1), free(a2), free(w);
    free(dq1), free(dq2), free(dk1), free(dk2), free(dv1), free(dv2);
}

static void test_attention(void) {
    attn_case(2, 5, 0, 5, 6, 2, 6);   /* grouped heads, width below one vector */
    attn_case(3, 7, 0, 7, 4, 4, 40);  /* width 40: two 16-wide steps, one 8-wide, no tail */
    attn_case(1, 6, 0, 9, 2, 1, 19);  /* spare cache rows, odd width */
    attn_case(1, 1, 8, 12, 4, 2, 16); /* decoding: one query after 8 cached positions */
    attn_case(1, 3, 5, 8, 3, 3, 12);  /* a chunk of three after five */
}

static void test_swiglu(void) {
    enum { N = 23 };
    dt_rng r;
    dt_rng_seed(&r, 3);
    float a[N], b[N], h[N], w[N], da[N], db[N];
    fill(&r, a, N, 2.0);
    fill(&r, b, N, 1.0);
    fill(&r, w, N, 1.0);
    dt_swiglu_fwd(2, a, b, h, N);
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(a[i] / (1 + exp(-a[i])) * b[i] - h[i]));
    CHECK(worst < 1e-5);
    dt_swiglu_bwd(2, w, a, b, da, db, N);
    int bad = 0;
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < N; i++) {
            float *x = t ? b : a, keep = x[i];
            x[i] = keep + FD_STEP;
            dt_swiglu_fwd(1, a, b, h, N);
            double up = wsum(w, h, N);
            x[i] = keep - FD_STEP;
            dt_swiglu_fwd(1, a, b, h, N);
            double num = (up - wsum(w, h, N)) / (2 * FD_STEP);
            x[i] = keep;
            bad += !FD_OK(num, t ? db[i] : da[i]);
        }
    CHECK(bad == 0);
}

static void test_xent(void) {
    enum { N = 4, V = 9 };
    dt_rng r;
    dt_rng_seed(&r, 4);
    float z[N * V], g[N * V];
    int32_t t[N] = {0, 8, 3, 3};
    double loss[N];
    fill(&r, z, N * V, 2.0);
    memcpy(g, z, sizeof z);
    dt_xent(2, g, t, loss, N, V, 1.0f / N, 1);
    for (int i = 0; i < N; i++) {
        double mx = -1e30, s = 0;
        for (int j = 0; j < V; j++) mx = fmax(mx, z[i * V + j]);
        for (int j = 0; j < V; j++) s += exp(z[i * V + j] - mx);
        CHECK_NEAR(loss[i], log(s) + mx - z[i * V + t[i]], 1e-6);
    }
    int bad = 0;
    for (int i = 0; i < N * V; i++) {
        float keep = z[i], tmp[N * V];
        double l2[N], up = 0, dn = 0;
        z[i] = keep + FD_STEP;
        memcpy(tmp, z, sizeof z);
        dt_xent(1, tmp, t, l2, N, V, 1, 0);
        for (int j = 0; j < N; j++) up += l2[j] / N;
        z[i] = keep - FD_STEP;
        memcpy(tmp, z, sizeof z);
        dt_xent(1, tmp, t, l2, N, V, 1, 0);
        for (int j = 0; j < N; j++) dn += l2[j] / N;
        z[i] = keep;
        bad += !FD_OK((up - dn) / (2 * FD_STEP), g[i]);
    }
    CHECK(bad == 0);
}

static void test_adamw(void) {
    enum { N = 100003 }; /* large enough to run in parallel */
    float *p = malloc(N * 4), *g = malloc(N * 4), *m = calloc(N, 4), *v = calloc(N, 4);
    double *pd = malloc(N * 8), *md = calloc(N, 8), *vd = calloc(N, 8);
    dt_rng r;
    dt_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) pd[i] = p[i] = (float)dt_rng_normal(&r);
    double worst = 0;
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)dt_rng_normal(&r);
        dt_adamw o = {0.01f, 0.9f, 0.99f, 1e-8f, 0.1f, t};
        dt_adamw_step(2, &o, p, g, m, v, N, 1);
        for (int i = 0; i < N; i++) { /* PyTorch's AdamW, in double */
            pd[i] *= 1 - 0.01 * 0.1;
            md[i] = 0.9 * md[i] + 0.1 * g[i];
            vd[i] = 0.99 * vd[i] + 0.01 * (double)g[i] * g[i];
            double mh = md[i] / (1 - pow(0.9, t)), vh = vd[i] / (1 - pow(0.99, t));
            pd[i] -= 0.01 * mh / (sqrt(vh) + 1e-8);
            worst = fmax(worst, fabs(pd[i] - p[i]));
        }
    }
    CHECK(worst < 1e-5);
    free(p), free(g), free(m), free(v), free(pd), free(md), free(vd);
    /* schedule: nanoGPT's warm-up then cosine */
    CHECK_NEAR(dt_lr_cosine(0, 100, 2000, 1e-3, 1e-4), 1e-3 / 101, 1e-12);
    CHECK_NEAR(dt_lr_cosine(100, 100, 2000, 1e-3, 1e-4), 1e-3, 1e-12);
    CHECK_NEAR(dt_lr_cosine(1050, 100, 2000, 1e-3, 1e-4), 5.5e-4, 1e-12);
    CHECK_NEAR(dt_lr_cosine(2000, 100, 2000, 1e-3, 1e-4), 1e-4, 1e-12);
    float x[3] = {3, 4, 12};
    CHECK_NEAR(dt_norm2(1, x, 3), 13.0, 1e-9);
}

int main(void) {
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_attention);
    RUN(test_swiglu);
    RUN(test_xent);
    RUN(test_adamw);
    TEST_END();
}
