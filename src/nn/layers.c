/* layers.c — forward and backward passes of the transformer's layers, and AdamW (see nn.h).
 * Parallel loops give each output element to one thread, so results do not depend on the
 * thread count. Not here: weights, shapes of a whole model, training loops (src/models/gpt.c).
 */
#include "nn.h"
#include "vexp.h"

#include <math.h>

/* --- RMS normalisation ---------------------------------------------------------------------- */

void dt_rmsnorm_fwd(int nth, const float *x, const float *g, float *y, float *rstd, int64_t N, int64_t C,
                    float eps) {
    (void)nth; /* read by OpenMP's pragmas alone */
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && N * C > 16384)
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * (size_t)C;
        float *yi = y + (size_t)i * (size_t)C;
        float ss = 0.0f;
        for (int64_t c = 0; c < C; c++) ss += xi[c] * xi[c];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        if (rstd) rstd[i] = r;
        for (int64_t c = 0; c < C; c++) yi[c] = xi[c] * r * g[c];
    }
}

void dt_rmsnorm_bwd(int nth, const float *dy, const float *x, const float *g, const float *rstd, float *dx,
                    float *dg, int64_t N, int64_t C) {
    (void)nth; /* read by OpenMP's pragmas alone */
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && N * C > 16384)
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * (size_t)C, *dyi = dy + (size_t)i * (size_t)C;
        float *dxi = dx + (size_t)i * (size_t)C;
        float r = rstd[i], dot = 0.0f;
        for (int64_t c = 0; c < C; c++) dot += dyi[c] * g[c] * xi[c];
        float k = r * r * r * dot / (float)C;
        for (int64_t c = 0; c < C; c++) dxi[c] += r * dyi[c] * g[c] - k * xi[c];
    }
    /* dg by columns: each column summed by one thread in row order */
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && N * C > 16384)
    for (int64_t c = 0; c < C; c++) {
        float s = 0.0f;
        for (int64_t i = 0; i < N; i++) s += dy[(size_t)i * (size_t)C + (size_t)c] * x[(size_t)i * (size_t)C + (size_t)c] * rstd[i];
        dg[c] += s;
    }
}

/* --- RoPE ----------------------------------------------------------------------------------- */

void dt_rope_table(float *cs, float *sn, int64_t T, int hd, float theta) {
    int half = hd / 2;
    for (int64_t t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            double freq = pow((double)theta, -2.0 * j / hd);
            double a = (double)t * freq;
            cs[(size_t)t * (size_t)half + (size_t)j] = (float)cos(a);
            sn[(size_t)t * (size_t)half + (size_t)j] = (float)sin(a);
        }
}

void dt_rope(int nth, float *x, int64_t N, int nh, int hd, int64_t pos0, int64_t period, const float *cs,
             const float *sn, int inverse) {
    (void)nth; /* read by OpenMP's pragmas alone */
    int half = hd / 2;
    float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && N * nh * hd > 16384)
    for (int64_t i = 0; i < N; i++) {
        int64_t pos = pos0 + i % period;
        const float *c = cs + (size_t)pos * (size_t)half, *s = sn + (size_t)pos * (size_t)half;
        for (int h = 0; h < nh; h++) {
            float *v = x + (size_t)i * (size_t)nh * (size_t)hd + (size_t)h * (size_t)hd;
            for (int j = 0; j < half; j++) {
                float v0 = v[2 * j], v1 = v[2 * j + 1], sj = sign * s[j];
                v[2 * j] = v0 * c[j] - v1 * sj;
                v[2 * j + 1] = v0 * sj + v1 * c[j];
            }
        }
    }
}

/* --- attention ------------------------------------------------------------------------------ */

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
static inline float dot(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#else
static inline float dot(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int t = 0; t < 8; t++) s[t] += a[i + t] * b[i + t];
    for (; i < n; i++) s[i & 7] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
#endif


/* y[0..n) += a * x[0..n) */
static inline void axpy(float *restrict y, float a, const float *restrict x, int n) {
    int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 va = _mm256_set1_ps(a);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#endif
    for (; i < n; i++) y[i] += a * x[i];
}

/* One query row: probabilities into p (len), output into o (hd). */
static void attend(const float *q, const float *k, const float *v, int64_t krow, int64_t len, int hd,
                   float scale, float *p, float *o) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < len; j++) {
        p[j] = dot(q, k + (size_t)j * (size_t)krow, hd) * scale;
        if (p[j] > mx) mx = p[j];
    }
    float sum = 0.0f;
    int64_t j0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 vs = _mm256_setzero_ps(), vm = _mm256_set1_ps(mx);
    for (; j0 + 8 <= len; j0 += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + j0), vm));
        _mm256_storeu_ps(p + j0, e);
        vs = _mm256_add_ps(vs, e);
    }
    float part[8];
    _mm256_storeu_ps(part, vs);
    for (int t = 0; t < 8; t++) sum += part[t];
#endif
    for (int64_t j = j0; j < len; j++) {
        p[j] = expf(p[j] - mx);
        sum += p[j];
    }
    float inv = 1.0f / sum;
    for (int d = 0; d < hd; d++) o[d] = 0.0f;
    for (int64_t j = 0; j < len; j++) {
        p[j] *= inv;
        axpy(o, p[j], v + (size_t)j * (size_t)krow, hd);
    }
}

void dt_attn_fwd(int nth, const dt_attn_shape *s, const float *q, const float *k, const float *v, float *o,
                 float *att) {
    (void)nth; /* read by OpenMP's pragmas alone */
    int64_t Tk = s->pos0 + s->n, qrow = (int64_t)s->nh * s->hd, krow = (int64_t)s->nkv * s->hd;
    int grp = s->nh / s->nkv;
    float scale = 1.0f / sqrtf((float)s->hd);
    int64_t tasks = (int64_t)s->B * s->nh * s->n;
#pragma omp parallel for schedule(dynamic, 8) num_threads(nth) if (nth > 1 && tasks > 1 && tasks * Tk * s->hd > 65536)
    for (int64_t task = 0; task < tasks; task++) {
        int64_t i = task % s->n, bh = task / s->n;
        int h = (int)(bh % s->nh), b = (int)(bh / s->nh);
        int64_t len = s->pos0 + i + 1;
        const float *qi = q + ((size_t)b * (size_t)s->n + (size_t)i) * (size_t)qrow + (size_t)h * (size_t)s->hd;
        size_t koff = (size_t)b * (size_t)s->ldk * (size_t)krow + (size_t)(h / grp) * (size_t)s->hd;
        float *p = att + ((size_t)bh * (size_t)s->n + (size_t)i) * (size_t)Tk;
        float *oi = o + ((size_t)b * (size_t)s->n + (size_t)i) * (size_t)qrow + (size_t)h * (size_t)s->hd;
        attend(qi, k + koff, v + koff, krow, len, s->hd, scale, p, oi);
        for (int64_t j = len; j < Tk; j++) p[j] = 0.0f;
    }
}

void dt_attn_fwd_ref(const dt_attn_shape *s, const float *q, const float *k, const float *v, float *o,
                     float *att) {
    int64_t Tk = s->pos0 + s->n, qrow = (int64_t)s->nh * s->hd, krow = (int64_t)s->nkv * s->hd;
    int grp = s->nh / s->nkv;
    double scale = 1.0 / sqrt((double)s->hd);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->nh; h++)
            for (int64_t i = 0; i < s->n; i++) {
                float *p = att + (((size_t)b * (size_t)s->nh + (size_t)h) * (size_t)s->n + (size_t)i) * (size_t)Tk;
                const float *qi = q + ((size_t)b * (size_t)s->n + (size_t)i) * (size_t)qrow + (size_t)h * (size_t)s->hd;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < Tk; j++) {
                    if (j > s->pos0 + i) {
                        p[j] = 0.0f;
                        continue;
                    }
                    const float *kj = k + ((size_t)b * (size_t)s->ldk + (size_t)j) * (size_t)krow + (size_t)(h / grp) * (size_t)s->hd;
                    double d = 0.0;
                    for (int c = 0; c < s->hd; c++) d += (double)qi[c] * kj[c];
                    p[j] = (float)(d * scale);
                    if (p[j] > mx) mx = p[j];
                }
                for (int64_t j = 0; j <= s->pos0 + i; j++) sum += exp(p[j] - mx);
                for (int64_t j = 0; j <= s->pos0 + i; j++) p[j] = (float)(exp(p[j] - mx) / sum);
                float *oi = o + ((size_t)b * (size_t)s->n + (size_t)i) * (size_t)qrow + (size_t)h * (size_t)s->hd;
                for (int c = 0; c < s->hd; c++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j <= s->pos0 + i; j++)
                        acc += (double)p[j] * v[((size_t)b * (size_t)s->ldk + (size_t)j) * (size_t)krow + (size_t)(h / grp) * (size_t)s->hd + (size_t)c];
                    oi[c] = (float)acc;
                }
            }
}

void dt_attn_bwd(int nth, const dt_attn_shape *s, const float *d_o, const float *q, const float *k,
                 const float *v, const float *o, const float *att, float *dq, float *dk, float *dv) {
    (void)nth; /* read by OpenMP's pragmas alone */
    int64_t n = s->n, qrow = (int64_t)s->nh * s->hd, krow = (int64_t)s->nkv * s->hd;
    int grp = s->nh / s->nkv, hd = s->hd;
    float scale = 1.0f / sqrtf((float)hd);
    int64_t tasks = (int64_t)s->B * s->nkv;
    /* one task per (sequence, key head): it owns that slice of dk and dv */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth) if (nth > 1 && tasks > 1)
    for (int64_t task = 0; task < tasks; task++) {
        int g = (int)(task % s->nkv), b = (int)(task / s->nkv);
        size_t koff = (size_t)b * (size_t)s->ldk * (size_t)krow + (size_t)g * (size_t)hd;
        const float *kb = k + koff, *vb = v + koff;
        float *dkb = dk + koff, *dvb = dv + koff;
        for (int64_t j = 0; j < n; j++) {
            memset(dkb + (size_t)j * (size_t)krow, 0, (size_t)hd * sizeof(float));
            memset(dvb + (size_t)j * (size_t)krow, 0, (size_t)hd * sizeof(float));
        }
        for (int h = g * grp; h < (g + 1) * grp; h++) {
            for (int64_t i = 0; i < n; i++) {
                size_t qoff = ((size_t)b * (size_t)n + (size_t)i) * (size_t)qrow + (size_t)h * (size_t)hd;
                const float *doi = d_o + qoff, *qi = q + qoff;
                float *dqi = dq + qoff;
                const float *p = att + (((size_t)b * (size_t)s->nh + (size_t)h) * (size_t)n + (size_t)i) * (size_t)n;
                /* sum_j p_j (do_i . v_j) = do_i . o_i, since o_i = sum_j p_j v_j */
                float sum = dot(doi, o + qoff, hd);
                for (int c = 0; c < hd; c++) dqi[c] = 0.0f;
                for (int64_t j = 0; j <= i; j++) {
                    if (p[j] == 0.0f) continue;
                    const float *vj = vb + (size_t)j * (size_t)krow, *kj = kb + (size_t)j * (size_t)krow;
                    float ds = p[j] * (dot(doi, vj, hd) - sum) * scale;
                    axpy(dqi, ds, kj, hd);
                    axpy(dkb + (size_t)j * (size_t)krow, ds, qi, hd);
                    axpy(dvb + (size_t)j * (size_t)krow, p[j], doi, hd);
                }
            }
        }
    }
}

void dt_attn_bwd_ref(const dt_attn_shape *s, const float *d_o, const float *q, const float *k,
                     const float *v, const float *att, float *dq, float *dk, float *dv) {
    /* the plain way: dp_j = do_i . v_j, ds_j = p_j (dp_j - sum_l p_l dp_l) */
    int64_t n = s->n, qrow = (int64_t)s->nh * s->hd, krow = (int64_t)s->nkv * s->hd;
    int grp = s->nh / s->nkv, hd = s->hd;
    double scale = 1.0 / sqrt((double)hd);
    for (int b = 0; b < s->B; b++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t c = 0; c < krow; c++) {
                dk[((size_t)b * (size_t)s->ldk + (size_t)j) * (size_t)krow + (size_t)c] = 0.0f;
                dv[((size_t)b * (size_t)s->ldk + (size_t)j) * (size_t)krow + (size_t)c] = 0.0f;
            }
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->nh; h++)
            for (int64_t i = 0; i < n; i++) {
                size_t qoff = ((size_t)b * (size_t)n + (size_t)i) * (size_t)qrow + (size_t)h * (size_t)hd;
                const float *p = att + (((size_t)b * (size_t)s->nh + (size_t)h) * (size_t)n + (size_t)i) * (size_t)n;
                double dp[4096], sum = 0.0; /* tests use n <= 4096 */
                for (int64_t j = 0; j <= i; j++) {
                    size_t koff = ((size_t)b * (size_t)s->ldk + (size_t)j) * (size_t)krow + (size_t)(h / grp) * (size_t)hd;
                    double d = 0.0;
                    for (int c = 0; c < hd; c++) d += (double)d_o[qoff + (size_t)c] * v[koff + (size_t)c];
                    dp[j] = d;
                    sum += p[j] * d;
                }
                for (int c = 0; c < hd; c++) dq[qoff + (size_t)c] = 0.0f;
                for (int64_t j = 0; j <= i; j++) {
                    size_t koff = ((size_t)b * (size_t)s->ldk + (size_t)j) * (size_t)krow + (size_t)(h / grp) * (size_t)hd;
                    double ds = p[j] * (dp[j] - sum) * scale;
                    for (int c = 0; c < hd; c++) {
                        dq[qoff + (size_t)c] += (float)(ds * k[koff + (size_t)c]);
                        dk[koff + (size_t)c] += (float)(ds * q[qoff + (size_t)c]);
                        dv[koff + (size_t)c] += (float)(p[j] * d_o[qoff + (size_t)c]);
                    }
                }
            }
}

/* --- SwiGLU ----------------------------------------------------------------------------------- */

/* Both passes run over blocks of 1024 elements: 8 at a time with sigmoid8, the tail with expf. */
void dt_swiglu_fwd(int nth, const float *a, const float *b, float *h, int64_t n) {
    (void)nth; /* read by OpenMP's pragmas alone */
    int64_t blocks = n / 1024 + 1;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && n > 65536)
    for (int64_t blk = 0; blk < blocks; blk++) {
        int64_t i = blk * 1024, end = i + 1024 < n ? i + 1024 : n;
#if defined(__AVX2__) && defined(__FMA__)
        for (; i + 8 <= end; i += 8) {
            __m256 ai = _mm256_loadu_ps(a + i);
            __m256 sg = sigmoid8(ai);
            _mm256_storeu_ps(h + i, _mm256_mul_ps(_mm256_mul_ps(ai, sg), _mm256_loadu_ps(b + i)));
        }
#endif
        for (; i < end; i++) h[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
    }
}

void dt_swiglu_bwd(int nth, const float *dh, const float *a, const float *b, float *da, float *db, int64_t n) {
    (void)nth; /* read by OpenMP's pragmas alone */
    int64_t blocks = n / 1024 + 1;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && n > 65536)
    for (int64_t blk = 0; blk < blocks; blk++) {
        int64_t i = blk * 1024, end = i + 1024 < n ? i + 1024 : n;
#if defined(__AVX2__) && defined(__FMA__)
        __m256 one = _mm256_set1_ps(1.0f);
        for (; i + 8 <= end; i += 8) {
            __m256 ai = _mm256_loadu_ps(a + i), bi = _mm256_loadu_ps(b + i), di = _mm256_loadu_ps(dh + i);
            __m256 sg = sigmoid8(ai);
            __m256 silu = _mm256_mul_ps(ai, sg);
            /* da = dh b sg (1 + a (1 - sg)), db = dh silu */
            __m256 t = _mm256_fmadd_ps(ai, _mm256_sub_ps(one, sg), one);
            _mm256_storeu_ps(da + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(di, bi), sg), t));
            _mm256_storeu_ps(db + i, _mm256_mul_ps(di, silu));
        }
#endif
        for (; i < end; i++) {
            float sg = 1.0f / (1.0f + expf(-a[i]));
            float silu = a[i] * sg;
            da[i] = dh[i] * b[i] * sg * (1.0f + a[i] * (1.0f - sg));
            db[i] = dh[i] * silu;
        }
    }
}

/* --- cross-entropy ---------------------------------------------------------------------------- */

void dt_xent(int nth, float *logits, const int32_t *target, double *loss, int64_t N, int64_t V, float scale,
             int grad) {
    (void)nth; /* read by OpenMP's pragmas alone */
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && N * V > 16384)
    for (int64_t i = 0; i < N; i++) {
        float *z = logits + (size_t)i * (size_t)V;
        float mx = z[0];
        for (int64_t j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0.0;
        for (int64_t j = 0; j < V; j++) sum += exp((double)(z[j] - mx));
        loss[i] = log(sum) + mx - z[target[i]];
        if (!grad) continue;
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < V; j++) z[j] = scale * expf(z[j] - mx) * inv;
        z[target[i]] -= scale;
    }
}

/* --- AdamW ---------------------------------------------------------------------------------- */

void dt_adamw_step(int nth, const dt_adamw *o, float *p, const float *g, float *m, float *v, size_t n,
                   int decay) {
    (void)nth; /* read by OpenMP's pragmas alone */
    double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = 1.0 - pow(o->beta2, (double)o->t);
    float step = (float)(o->lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
    float shrink = decay ? 1.0f - o->lr * o->wd : 1.0f;
    float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    size_t blocks = n / 1024 + 1; /* blocks of 1024, each vectorised by hand, the tail scalar */
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && n > 65536)
    for (size_t blk = 0; blk < blocks; blk++) {
        size_t i = blk * 1024, end = i + 1024 < n ? i + 1024 : n;
#if defined(__AVX2__) && defined(__FMA__)
        __m256 vb1 = _mm256_set1_ps(b1), vc1 = _mm256_set1_ps(1.0f - b1), vb2 = _mm256_set1_ps(b2),
               vc2 = _mm256_set1_ps(1.0f - b2), vsh = _mm256_set1_ps(shrink), vst = _mm256_set1_ps(step),
               vr = _mm256_set1_ps(rbc2), ve = _mm256_set1_ps(eps);
        for (; i + 8 <= end; i += 8) {
            __m256 gi = _mm256_loadu_ps(g + i);
            __m256 mi = _mm256_fmadd_ps(vb1, _mm256_loadu_ps(m + i), _mm256_mul_ps(vc1, gi));
            __m256 vi = _mm256_fmadd_ps(vb2, _mm256_loadu_ps(v + i), _mm256_mul_ps(vc2, _mm256_mul_ps(gi, gi)));
            __m256 den = _mm256_fmadd_ps(_mm256_sqrt_ps(vi), vr, ve);
            __m256 pi = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), vsh), _mm256_div_ps(_mm256_mul_ps(vst, mi), den));
            _mm256_storeu_ps(m + i, mi);
            _mm256_storeu_ps(v + i, vi);
            _mm256_storeu_ps(p + i, pi);
        }
#endif
        for (; i < end; i++) {
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            p[i] = p[i] * shrink - step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
        }
    }
}

double dt_lr_cosine(int64_t step, int64_t warmup, int64_t total, double lr, double min_lr) {
    if (step < warmup) return lr * (double)(step + 1) / (double)(warmup + 1);
    if (step >= total) return min_lr;
    double r = (double)(step - warmup) / (double)(total - warmup);
    return min_lr + 0.5 * (1.0 + cos(M_PI * r)) * (lr - min_lr);
}

double dt_norm2(int nth, const float *g, size_t n) {
    (void)nth; /* read by OpenMP's pragmas alone */
    double s = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : s) num_threads(nth) if (nth > 1 && n > 65536)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}
