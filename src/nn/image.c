/* image.c — the image layers around the convolutions: nearest-neighbour 2x upsampling, group
 * normalisation, point-wise activations and the sinusoidal time embedding (see conv.h). Each
 * loop over the batch is split over the threads; results do not depend on their count.
 */
#include "conv.h"

#include <math.h>

#include "vexp.h"

/* --- upsampling ------------------------------------------------------------------------------ */

void dt_upsample2x_fwd(int nth, const float *x, float *y, int B, int C, int H, int W) {
    (void)nth; /* unused without OpenMP */
    int64_t planes = (int64_t)B * C;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && planes * H * W > 16384)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + (size_t)p * (size_t)H * (size_t)W;
        float *yp = y + (size_t)p * (size_t)H * (size_t)W * 4;
        for (int h = 0; h < H; h++) {
            float *r0 = yp + (size_t)(2 * h) * (size_t)(2 * W), *r1 = r0 + 2 * W;
            const float *xr = xp + (size_t)h * (size_t)W;
            for (int w = 0; w < W; w++) r0[2 * w] = r0[2 * w + 1] = xr[w];
            memcpy(r1, r0, (size_t)(2 * W) * sizeof(float));
        }
    }
}

void dt_upsample2x_bwd(int nth, const float *dy, float *dx, int B, int C, int H, int W) {
    (void)nth; /* unused without OpenMP */
    int64_t planes = (int64_t)B * C;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && planes * H * W > 16384)
    for (int64_t p = 0; p < planes; p++) {
        const float *dyp = dy + (size_t)p * (size_t)H * (size_t)W * 4;
        float *dxp = dx + (size_t)p * (size_t)H * (size_t)W;
        for (int h = 0; h < H; h++) {
            const float *r0 = dyp + (size_t)(2 * h) * (size_t)(2 * W), *r1 = r0 + 2 * W;
            for (int w = 0; w < W; w++)
                dxp[(size_t)h * (size_t)W + (size_t)w] = (r0[2 * w] + r0[2 * w + 1]) + (r1[2 * w] + r1[2 * w + 1]);
        }
    }
}

/* --- group normalisation --------------------------------------------------------------------- */

/* Sums in double over n floats, 4 at a time in two registers when AVX2 is there (the lanes
 * added in a fixed order, so a result does not depend on the thread running it): of x (also the
 * convolutions' bias gradients and the U-Net's embedding gradient), of x * y, and of (x - mu)^2. */
double dt_sum_d(const float *x, size_t n) {
    size_t i = 0;
    double s = 0.0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(a0, a1));
    s = (l[0] + l[1]) + (l[2] + l[3]);
#endif
    for (; i < n; i++) s += x[i];
    return s;
}

static double dot_d(const float *x, const float *y, size_t n) {
    size_t i = 0;
    double s = 0.0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), _mm256_cvtps_pd(_mm_loadu_ps(y + i)), a0);
        a1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), _mm256_cvtps_pd(_mm_loadu_ps(y + i + 4)), a1);
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(a0, a1));
    s = (l[0] + l[1]) + (l[2] + l[3]);
#endif
    for (; i < n; i++) s += (double)x[i] * y[i];
    return s;
}

static double sqdev_d(const float *x, size_t n, double mu) {
    size_t i = 0;
    double s = 0.0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), m = _mm256_set1_pd(mu);
    for (; i + 8 <= n; i += 8) {
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), m);
        a0 = _mm256_fmadd_pd(d0, d0, a0);
        a1 = _mm256_fmadd_pd(d1, d1, a1);
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(a0, a1));
    s = (l[0] + l[1]) + (l[2] + l[3]);
#endif
    for (; i < n; i++) s += ((double)x[i] - mu) * ((double)x[i] - mu);
    return s;
}

void dt_groupnorm_fwd(int nth, const float *x, const float *gamma, const float *beta, float *y, float *mean,
                      float *rstd, int B, int C, int HW, int G, float eps) {
    (void)nth; /* unused without OpenMP */
    int cg = C / G;
    size_t n = (size_t)cg * (size_t)HW;
    int64_t tasks = (int64_t)B * G;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && (size_t)tasks * n > 16384)
    for (int64_t t = 0; t < tasks; t++) {
        const float *xg = x + (size_t)t * n;
        float *yg = y + (size_t)t * n;
        double mu = dt_sum_d(xg, n) / (double)n, ss = sqdev_d(xg, n, mu);
        float m = (float)mu, r = (float)(1.0 / sqrt(ss / (double)n + eps));
        mean[t] = m, rstd[t] = r;
        int c0 = (int)(t % G) * cg;
        for (int c = 0; c < cg; c++) {
            float a = gamma ? gamma[c0 + c] * r : r, bb = beta ? beta[c0 + c] : 0.0f;
            const float *xc = xg + (size_t)c * (size_t)HW;
            float *yc = yg + (size_t)c * (size_t)HW;
            for (int i = 0; i < HW; i++) yc[i] = (xc[i] - m) * a + bb;
        }
    }
}

/* With xhat = (x - m) r, a channel's sums of dy and dy xhat come from those of dy and dy x:
 * sum dy xhat = r (sum dy x - m sum dy). */
void dt_groupnorm_bwd(int nth, const float *dy, const float *x, const float *gamma, const float *mean,
                      const float *rstd, float *dx, float *dgamma, float *dbeta, int B, int C, int HW, int G) {
    int cg = C / G;
    size_t n = (size_t)cg * (size_t)HW;
    int64_t tasks = (int64_t)B * G;
    int big = nth > 1 && (size_t)tasks * n > 16384;
    (void)big; /* unused without OpenMP */
    /* parameter gradients first (dx may alias dy): each channel summed by one thread */
    if (dgamma || dbeta) {
#pragma omp parallel for schedule(static) num_threads(nth) if (big)
        for (int c = 0; c < C; c++) {
            double sg = 0.0, sb = 0.0;
            for (int b = 0; b < B; b++) {
                size_t off = ((size_t)b * (size_t)C + (size_t)c) * (size_t)HW;
                size_t t = (size_t)b * (size_t)G + (size_t)(c / cg);
                double sdy = dt_sum_d(dy + off, (size_t)HW);
                sg += rstd[t] * (dot_d(dy + off, x + off, (size_t)HW) - mean[t] * sdy);
                sb += sdy;
            }
            if (dgamma) dgamma[c] += (float)sg;
            if (dbeta) dbeta[c] += (float)sb;
        }
    }
#pragma omp parallel for schedule(static) num_threads(nth) if (big)
    for (int64_t t = 0; t < tasks; t++) {
        const float *xg = x + (size_t)t * n, *dyg = dy + (size_t)t * n;
        float *dxg = dx + (size_t)t * n;
        float m = mean[t], r = rstd[t];
        int c0 = (int)(t % G) * cg;
        double s1 = 0.0, s2 = 0.0; /* sum of g, sum of g * xhat, g = dy * gamma */
        for (int c = 0; c < cg; c++) {
            double ga = gamma ? gamma[c0 + c] : 1.0;
            const float *dc = dyg + (size_t)c * (size_t)HW, *xc = xg + (size_t)c * (size_t)HW;
            double sdy = dt_sum_d(dc, (size_t)HW);
            s1 += ga * sdy;
            s2 += ga * r * (dot_d(dc, xc, (size_t)HW) - m * sdy);
        }
        float a1 = (float)(s1 / (double)n), a2 = (float)(s2 / (double)n);
        for (int c = 0; c < cg; c++) {
            float ga = gamma ? gamma[c0 + c] : 1.0f;
            for (int i = 0; i < HW; i++) {
                size_t at = (size_t)c * (size_t)HW + (size_t)i;
                float xh = (xg[at] - m) * r;
                dxg[at] = r * (dyg[at] * ga - a1 - xh * a2);
            }
        }
    }
}

/* --- activations ----------------------------------------------------------------------------- */

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One element: the activation of v (dy NULL) or dy[0] times its derivative at v. */
static inline float act1(int kind, float v, const float *dy) {
    float y = v, d = 1.0f;
    switch (kind) {
    case DT_ACT_RELU: y = v > 0.0f ? v : 0.0f, d = v > 0.0f ? 1.0f : 0.0f; break;
    case DT_ACT_LEAKY: y = v > 0.0f ? v : 0.2f * v, d = v > 0.0f ? 1.0f : 0.2f; break;
    case DT_ACT_TANH: y = tanhf(v), d = 1.0f - y * y; break;
    case DT_ACT_SIGMOID: y = sigm(v), d = y * (1.0f - y); break;
    case DT_ACT_SILU: {
        float sg = sigm(v);
        y = v * sg, d = sg * (1.0f + v * (1.0f - sg));
        break;
    }
    default: break;
    }
    return dy ? dy[0] * d : y;
}

#if defined(__AVX2__) && defined(__FMA__)
/* Elements i..end 8 at a time where the kind has a vector form (SiLU with sigmoid8; ReLU and
 * LeakyReLU as max(v, 0) + a min(v, 0)); returns where the scalar tail starts. */
static size_t act8(int kind, const float *x, const float *dy, float *out, size_t i, size_t end) {
    __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps(), a = _mm256_set1_ps(kind == DT_ACT_LEAKY ? 0.2f : 0.0f);
    if (kind == DT_ACT_SILU)
        for (; i + 8 <= end; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), sg = sigmoid8(v);
            __m256 r = dy ? _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_mul_ps(sg, _mm256_fmadd_ps(v, _mm256_sub_ps(one, sg), one)))
                          : _mm256_mul_ps(v, sg);
            _mm256_storeu_ps(out + i, r);
        }
    if (kind == DT_ACT_RELU || kind == DT_ACT_LEAKY)
        for (; i + 8 <= end; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), r;
            if (dy) {
                __m256 d = _mm256_loadu_ps(dy + i);
                r = _mm256_blendv_ps(_mm256_mul_ps(a, d), d, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
            } else {
                r = _mm256_fmadd_ps(a, _mm256_min_ps(v, zero), _mm256_max_ps(v, zero));
            }
            _mm256_storeu_ps(out + i, r);
        }
    return i;
}
#endif

/* The activation (dy NULL) or its gradient over n elements, in blocks of 1024 over the threads. */
static void act_run(int nth, int kind, const float *x, const float *dy, float *out, size_t n) {
    (void)nth; /* unused without OpenMP */
    int64_t blocks = (int64_t)(n / 1024) + 1;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && n > 65536)
    for (int64_t blk = 0; blk < blocks; blk++) {
        size_t i = (size_t)blk * 1024, end = i + 1024 < n ? i + 1024 : n;
#if defined(__AVX2__) && defined(__FMA__)
        i = act8(kind, x, dy, out, i, end);
#endif
        for (; i < end; i++) out[i] = act1(kind, x[i], dy ? dy + i : NULL);
    }
}

void dt_act_fwd(int nth, int kind, const float *x, float *y, size_t n) { act_run(nth, kind, x, NULL, y, n); }

void dt_act_bwd(int nth, int kind, const float *dy, const float *x, float *dx, size_t n) { act_run(nth, kind, x, dy, dx, n); }

/* --- time embedding -------------------------------------------------------------------------- */

void dt_time_embedding(const float *t, int B, int dim, float *out) {
    int half = dim / 2;
    for (int i = 0; i < half; i++) {
        float f = half > 1 ? expf(-logf(10000.0f) * (float)i / (float)(half - 1)) : 1.0f;
        for (int b = 0; b < B; b++) {
            float a = t[b] * f;
            out[(size_t)b * (size_t)dim + (size_t)i] = (float)sin((double)a);
            out[(size_t)b * (size_t)dim + (size_t)half + (size_t)i] = (float)cos((double)a);
        }
    }
}
