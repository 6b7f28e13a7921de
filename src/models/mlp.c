/* mlp.c — a multilayer perceptron classifier: p(y|x) = softmax(W_L relu(... relu(x W_0 + b_0)
 * ...) + b_L), trained on the sample-weighted cross-entropy plus 0.5 l2 ||W||^2 with Adam
 * (Kingma & Ba 2015, bias-corrected moments) on shuffled mini-batches, with early stopping on
 * a held-out share of the rows (the best weights by validation loss are kept).
 * Sparse (CSR) input, e.g. TF-IDF text with 100k+ features, trains W_0 with "lazy" Adam (as
 * TensorFlow's LazyAdam and PyTorch's SparseAdam): a batch updates only the rows of W_0 whose
 * feature occurs in it — their gradient rows are zeroed and accumulated, their L2 term added,
 * their moments and weights stepped with the global step's bias correction — and leaves the
 * other rows' weights, moments and weight decay alone until a batch uses them. This makes a
 * step cost O(nonzeros x H + rows touched x H) instead of O(D x H) (4460 SMS texts, 113k
 * features, 256 hidden, ~17% of rows touched per batch of 128: 60 s -> 13 s on a busy 2-core
 * box, 130 s -> 6 s on 2 idle cores), at a small change in the optimum (rare features decay
 * less); the gradient (dt_mlp_loss_grad) is the exact, full one. The W0 gradient rows are
 * cleared by the step that uses them, so no O(D x H) pass remains per batch. Dense input and
 * the other layers use plain Adam on every parameter.
 * Parameters: He-initialised (He et al. 2015) from a generator seeded by the context, one
 * float array laid out as mlp.h says. Dense layers run on dt_gemm; a CSR input's first layer
 * is computed from its stored values directly (no densified batch); where rows add into the
 * same gradient rows, threads split the columns and add rows in order, so that the same seed
 * gives the same model whatever the threads.
 * Not here: features (pipeline), the file format (io/safetensors.c).
 */
#include "mlp.h"

#include <math.h>

#include "../core/gemm.h"

#ifdef __AVX__
#include <immintrin.h>
#endif

#define PRED_ROWS 256 /* rows per forward pass at prediction */

typedef struct net {
    int nw;                                  /* weight matrices = hidden layers + 1 */
    int64_t size[DT_MLP_MAX_LAYERS + 2];     /* D, hidden..., K */
    size_t offW[DT_MLP_MAX_LAYERS + 1], offb[DT_MLP_MAX_LAYERS + 1];
    size_t n;                                /* parameters */
    int64_t maxw;                            /* largest of size[1..nw] */
    int reg;                                 /* 1: a regressor: one linear output, squared loss */
} net;

typedef struct mlp_state {
    net nt;
    float *theta;                            /* (nt.n) */
    double tmean, tstd;                      /* regressors: the output is (target - tmean) / tstd */
} mlp_state;

/* Scratch for one batch of up to cap rows. */
typedef struct work {
    int64_t cap;
    float *act[DT_MLP_MAX_LAYERS + 2];       /* act[0] (cap, D) dense rows or NULL (CSR);
                                                act[l] (cap, size[l]); act[nw]: probabilities */
    float *d0, *d1;                          /* (cap, maxw) gradients of pre-activations */
    float *blk;
} work;

/* y[0..n) += a x[0..n) */
static inline void axpy(float *restrict y, float a, const float *restrict x, int64_t n) {
    int64_t o = 0;
#ifdef __AVX__
    __m256 va = _mm256_set1_ps(a);
    for (; o + 8 <= n; o += 8) {
#ifdef __FMA__
        __m256 r = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + o), _mm256_loadu_ps(y + o));
#else
        __m256 r = _mm256_add_ps(_mm256_mul_ps(va, _mm256_loadu_ps(x + o)), _mm256_loadu_ps(y + o));
#endif
        _mm256_storeu_ps(y + o, r);
    }
#endif
    for (; o < n; o++) y[o] += a * x[o];
}

static int net_init(net *nt, const int64_t *size, int nw, duet_err *err) {
    memset(nt, 0, sizeof *nt);
    if (nw < 1 || nw > DT_MLP_MAX_LAYERS + 1) return dt_err(err, DUET_EINVAL, "mlp: %d layers (1..%d)", nw - 1, DT_MLP_MAX_LAYERS);
    nt->nw = nw;
    size_t n = 0;
    for (int l = 0; l <= nw; l++) {
        if (size[l] < 1) return dt_err(err, DUET_EINVAL, "mlp: layer %d has %lld units", l, (long long)size[l]);
        nt->size[l] = size[l];
        if (l > 0 && size[l] > nt->maxw) nt->maxw = size[l];
    }
    for (int l = 0; l < nw; l++) {
        size_t w;
        if (!dt_mul_ok((size_t)size[l], (size_t)size[l + 1], &w) || w > SIZE_MAX / 8 - n - (size_t)size[l + 1])
            return dt_err(err, DUET_ERANGE, "mlp: a %lld x %lld layer is too large", (long long)size[l], (long long)size[l + 1]);
        nt->offW[l] = n;
        n += w;
        nt->offb[l] = n;
        n += (size_t)size[l + 1];
    }
    nt->n = n;
    return DUET_OK;
}

size_t dt_mlp_param_count(const int64_t *size, int nw) {
    net nt;
    return net_init(&nt, size, nw, NULL) == DUET_OK ? nt.n : 0;
}

static void work_free(duet_ctx *ctx, work *w) {
    dt_free(ctx, w->blk);
    memset(w, 0, sizeof *w);
}

static int work_new(duet_ctx *ctx, const net *nt, int64_t cap, int dense, work *w, duet_err *err) {
    memset(w, 0, sizeof *w);
    size_t total = 0, part;
    size_t sizes[DT_MLP_MAX_LAYERS + 4];
    int ns = 0;
    sizes[ns++] = dense ? (size_t)nt->size[0] : 0;
    for (int l = 1; l <= nt->nw; l++) sizes[ns++] = (size_t)nt->size[l];
    sizes[ns++] = (size_t)nt->maxw;
    sizes[ns++] = (size_t)nt->maxw;
    for (int t = 0; t < ns; t++) {
        if (!dt_mul_ok((size_t)cap, sizes[t], &part) || part > SIZE_MAX / 8 - total)
            return dt_err(err, DUET_ERANGE, "mlp: batch of %lld rows is too large", (long long)cap);
        total += part;
    }
    w->blk = dt_calloc(ctx, total, sizeof(float));
    if (!w->blk) return dt_err(err, DUET_ENOMEM, "mlp: out of memory for a batch (%zu floats)", total);
    w->cap = cap;
    float *p = w->blk;
    w->act[0] = dense ? p : NULL;
    p += (size_t)cap * sizes[0];
    for (int l = 1; l <= nt->nw; l++) {
        w->act[l] = p;
        p += (size_t)cap * (size_t)nt->size[l];
    }
    w->d0 = p;
    w->d1 = p + (size_t)cap * (size_t)nt->maxw;
    return DUET_OK;
}

/* Forward pass over rows[0..B): leaves softmax probabilities in act[nw]; when y is given,
 * *lsum = sum_i s_i (-log p_i[y_i]) and *wsum = sum_i s_i. */
static void forward(duet_ctx *ctx, const net *nt, const float *theta, const dt_mat *X, const int64_t *rows,
                    int64_t B, work *w, const int32_t *y, const double *t, const double *sw, double *lsum, double *wsum) {
    int nw = nt->nw;
    for (int l = 0; l < nw; l++) {
        int64_t I = nt->size[l], O = nt->size[l + 1];
        const float *W = theta + nt->offW[l], *b = theta + nt->offb[l];
        float *z = w->act[l + 1];
        for (int64_t i = 0; i < B; i++) memcpy(z + (size_t)i * (size_t)O, b, (size_t)O * sizeof(float));
        if (l > 0) {
            dt_gemm(ctx, z, O, w->act[l], I, 0, W, O, 0, 1.0f, 1.0f, B, O, I);
        } else if (X->x) {
            for (int64_t i = 0; i < B; i++)
                memcpy(w->act[0] + (size_t)i * (size_t)I, X->x + (size_t)rows[i] * (size_t)I, (size_t)I * sizeof(float));
            dt_gemm(ctx, z, O, w->act[0], I, 0, W, O, 0, 1.0f, 1.0f, B, O, I);
        } else {
            int64_t nnz = 0;
            for (int64_t i = 0; i < B; i++) nnz += X->rowptr[rows[i] + 1] - X->rowptr[rows[i]];
            int nth = nnz * O > (1 << 20) ? dt_threads(ctx) : 1;
            (void)nth;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) num_threads(nth) if (nth > 1)
#endif
            for (int64_t i = 0; i < B; i++) {
                float *zi = z + (size_t)i * (size_t)O;
                for (int64_t p = X->rowptr[rows[i]]; p < X->rowptr[rows[i] + 1]; p++)
                    axpy(zi, X->val[p], W + (size_t)X->col[p] * (size_t)O, O);
            }
        }
        if (l + 1 < nw)
            for (size_t q = 0; q < (size_t)B * (size_t)O; q++) z[q] = z[q] > 0 ? z[q] : 0;
    }
    int64_t K = nt->size[nw];
    double ls = 0, ws = 0;
    if (nt->reg) { /* the output as it is; loss 1/2 (z - t)^2 */
        for (int64_t i = 0; t && i < B; i++) {
            double s = sw ? sw[rows[i]] : 1.0, e = (double)w->act[nw][i] - t[rows[i]];
            ls += s * 0.5 * e * e;
            ws += s;
        }
        if (lsum) *lsum = ls;
        if (wsum) *wsum = ws;
        return;
    }
    for (int64_t i = 0; i < B; i++) {
        float *z = w->act[nw] + (size_t)i * (size_t)K;
        double mx = z[0], se = 0;
        for (int64_t k = 1; k < K; k++)
            if (z[k] > mx) mx = z[k];
        for (int64_t k = 0; k < K; k++) se += exp((double)z[k] - mx);
        double lse = mx + log(se);
        if (y) {
            double s = sw ? sw[rows[i]] : 1.0;
            ls += s * (lse - (double)z[y[rows[i]]]);
            ws += s;
        }
        for (int64_t k = 0; k < K; k++) z[k] = (float)exp((double)z[k] - lse);
    }
    if (lsum) *lsum = ls;
    if (wsum) *wsum = ws;
}

/* Gradient of sum_i s_i loss_i / wsum + 0.5 l2 ||W||^2 after forward() on the same rows. With
 * lazy0 and CSR input, W0's part is only the data term added to the rows of the features used,
 * into a gradient that must be zero there (adam_update adds the L2 term and clears it). */
static void backward(duet_ctx *ctx, const net *nt, const float *theta, const dt_mat *X, const int64_t *rows,
                     int64_t B, work *w, const int32_t *y, const double *t, const double *sw, double wsum, double l2,
                     int lazy0, float *grad) {
    int nw = nt->nw;
    int64_t K = nt->size[nw];
    float *d = w->d0, *dn = w->d1;
    for (int64_t i = 0; i < B; i++) {
        const float *p = w->act[nw] + (size_t)i * (size_t)K;
        float *di = d + (size_t)i * (size_t)K;
        double c = wsum > 0 ? (sw ? sw[rows[i]] : 1.0) / wsum : 0;
        if (nt->reg) di[0] = (float)(c * ((double)p[0] - t[rows[i]]));
        else
            for (int64_t k = 0; k < K; k++) di[k] = (float)(c * ((double)p[k] - (k == y[rows[i]])));
    }
    for (int l = nw - 1; l >= 0; l--) {
        int64_t I = nt->size[l], O = nt->size[l + 1];
        const float *W = theta + nt->offW[l];
        float *gW = grad + nt->offW[l], *gb = grad + nt->offb[l];
        int lazy = l == 0 && !X->x && lazy0;
        if (l == 0 && !X->x) {
            if (!lazy) memset(gW, 0, (size_t)I * (size_t)O * sizeof(float));
            int64_t nnz = 0, nblk = (O + 31) / 32;
            for (int64_t i = 0; i < B; i++) nnz += X->rowptr[rows[i] + 1] - X->rowptr[rows[i]];
            int nth = nnz * O > (1 << 20) && nblk > 1 ? dt_threads(ctx) : 1;
            (void)nth;
            /* rows add into shared rows of gW: each task takes 32 columns and adds the rows in
             * order, so the sums do not depend on the threads */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth) if (nth > 1)
#endif
            for (int64_t blk = 0; blk < nblk; blk++) {
                int64_t o0 = blk * 32, no = O - o0 < 32 ? O - o0 : 32;
                for (int64_t i = 0; i < B; i++)
                    for (int64_t p = X->rowptr[rows[i]]; p < X->rowptr[rows[i] + 1]; p++)
                        axpy(gW + (size_t)X->col[p] * (size_t)O + o0, X->val[p], d + (size_t)i * (size_t)O + o0, no);
            }
        } else {
            dt_gemm(ctx, gW, O, w->act[l], I, 1, d, O, 0, 1.0f, 0.0f, I, O, B);
        }
        if (l2 > 0 && !lazy) {
            float c = (float)l2;
            size_t n = (size_t)I * (size_t)O;
            for (size_t q = 0; q < n; q++) gW[q] += c * W[q];
        }
        for (int64_t o = 0; o < O; o++) {
            double s = 0;
            for (int64_t i = 0; i < B; i++) s += d[(size_t)i * (size_t)O + (size_t)o];
            gb[o] = (float)s;
        }
        if (l == 0) break;
        dt_gemm(ctx, dn, I, d, O, 0, W, O, 1, 1.0f, 0.0f, B, I, O);
        const float *a = w->act[l];
        for (size_t q = 0; q < (size_t)B * (size_t)I; q++)
            if (!(a[q] > 0)) dn[q] = 0;
        float *tmp = d;
        d = dn;
        dn = tmp;
    }
}

static double l2_term(const net *nt, const float *theta, double l2) {
    if (!(l2 > 0)) return 0;
    double s = 0;
    for (int l = 0; l < nt->nw; l++) {
        size_t n = (size_t)nt->size[l] * (size_t)nt->size[l + 1];
        const float *W = theta + nt->offW[l];
        for (size_t t = 0; t < n; t++) s += (double)W[t] * W[t];
    }
    return 0.5 * l2 * s;
}

int dt_mlp_loss_grad(duet_ctx *ctx, const int64_t *size, int nw, const float *theta, const dt_mat *X,
                     const int64_t *rows, int64_t B, const int32_t *y, const double *t, const double *sw, double l2,
                     double *loss, float *grad, duet_err *err) {
    net nt;
    work w;
    int rc = net_init(&nt, size, nw, err);
    if (rc) return rc;
    nt.reg = t != NULL;
    if (nt.reg && size[nw] != 1) return dt_err(err, DUET_EINVAL, "mlp: a regressor has one output");
    if (X->D != size[0] || B < 1) return dt_err(err, DUET_EINVAL, "mlp: %lld features for %lld inputs, %lld rows", (long long)X->D, (long long)size[0], (long long)B);
    rc = work_new(ctx, &nt, B, X->x != NULL, &w, err);
    if (rc) return rc;
    double ls, ws;
    forward(ctx, &nt, theta, X, rows, B, &w, y, t, sw, &ls, &ws);
    *loss = (ws > 0 ? ls / ws : 0) + l2_term(&nt, theta, l2);
    if (grad) backward(ctx, &nt, theta, X, rows, B, &w, y, t, sw, ws, l2, 0, grad);
    work_free(ctx, &w);
    return DUET_OK;
}

/* The distinct features (W0 rows) that CSR rows rows[0..B) use, in order of first use, into
 * list; seen (D, all zero) is left all zero again. Returns how many. */
static int64_t touched_rows(const dt_mat *X, const int64_t *rows, int64_t B, uint8_t *seen, int32_t *list) {
    int64_t cnt = 0;
    for (int64_t i = 0; i < B; i++)
        for (int64_t p = X->rowptr[rows[i]]; p < X->rowptr[rows[i] + 1]; p++) {
            int32_t c = X->col[p];
            if (!seen[c]) {
                seen[c] = 1;
                list[cnt++] = c;
            }
        }
    for (int64_t k = 0; k < cnt; k++) seen[list[k]] = 0;
    return cnt;
}

typedef struct adam_k {
    float b1, b2, c1, c2, lr, eps;
} adam_k;

static inline void adam1(const adam_k *k, float *th, float *am, float *av, float g) {
    *am = k->b1 * *am + (1 - k->b1) * g;
    *av = k->b2 * *av + (1 - k->b2) * g * g;
    *th -= k->lr * (*am * k->c1) / (sqrtf(*av * k->c2) + k->eps);
}

/* Adam on one W0 row of n: the gradient is g + l2 w, and g is cleared for the next batch. */
static void adam_row(const adam_k *k, float l2, float *th, float *am, float *av, float *g, size_t n) {
    size_t o = 0;
#ifdef __AVX__
    __m256 b1 = _mm256_set1_ps(k->b1), b2 = _mm256_set1_ps(k->b2), a1 = _mm256_set1_ps(1 - k->b1),
           a2 = _mm256_set1_ps(1 - k->b2), c1 = _mm256_set1_ps(k->c1), c2 = _mm256_set1_ps(k->c2),
           lr = _mm256_set1_ps(k->lr), eps = _mm256_set1_ps(k->eps), wd = _mm256_set1_ps(l2);
    for (; o + 8 <= n; o += 8) {
        __m256 w = _mm256_loadu_ps(th + o);
        __m256 gg = _mm256_add_ps(_mm256_loadu_ps(g + o), _mm256_mul_ps(wd, w));
        __m256 m = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(am + o)), _mm256_mul_ps(a1, gg));
        __m256 v = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(av + o)), _mm256_mul_ps(_mm256_mul_ps(a2, gg), gg));
        __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(v, c2)), eps);
        w = _mm256_sub_ps(w, _mm256_div_ps(_mm256_mul_ps(lr, _mm256_mul_ps(m, c1)), den));
        _mm256_storeu_ps(am + o, m);
        _mm256_storeu_ps(av + o, v);
        _mm256_storeu_ps(th + o, w);
        _mm256_storeu_ps(g + o, _mm256_setzero_ps());
    }
#endif
    for (; o < n; o++) {
        adam1(k, th + o, am + o, av + o, g[o] + l2 * th[o]);
        g[o] = 0;
    }
}

/* One Adam step (b1 0.9, b2 0.999, eps 1e-8; p1 = b1^t, p2 = b2^t at step t) of every
 * parameter from grad, or with touched (lazy, grad from backward(lazy0)): of the rows
 * touched[0..ntouched) of W0, whose L2 term l2 w is added here and whose gradient is cleared,
 * and of every other parameter; the other W0 rows keep their weights and moments. */
static void adam_update(const net *nt, float *theta, float *grad, float *am, float *av, const int32_t *touched,
                        int64_t ntouched, double l2, double p1, double p2, double lr, int threads) {
    adam_k k = {0.9f, 0.999f, (float)(1 / (1 - p1)), (float)(1 / (1 - p2)), (float)lr, 1e-8f};
    size_t from = 0;
    if (touched) {
        size_t O = (size_t)nt->size[1];
        float wd = (float)l2;
        int nth = (size_t)ntouched * O > (1 << 18) ? threads : 1;
        (void)nth;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64) num_threads(nth) if (nth > 1)
#endif
        for (int64_t r = 0; r < ntouched; r++) {
            size_t base = nt->offW[0] + (size_t)touched[r] * O;
            adam_row(&k, wd, theta + base, am + base, av + base, grad + base, O);
        }
        from = nt->offb[0];
    }
    size_t n = nt->n;
    int nth = n - from > 65536 ? threads : 1;
    (void)nth;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
#endif
    for (size_t t = from; t < n; t++) adam1(&k, theta + t, am + t, av + t, grad[t]);
}

int dt_mlp_adam_step(duet_ctx *ctx, const int64_t *size, int nw, float *theta, float *m, float *v, int64_t t,
                     double lr, const dt_mat *X, const int64_t *rows, int64_t B, const int32_t *y, const double *sw,
                     double l2, duet_err *err) {
    net nt;
    work w = {0};
    float *grad = NULL;
    uint8_t *seen = NULL;
    int32_t *touched = NULL;
    int rc = net_init(&nt, size, nw, err);
    if (rc) return rc;
    if (X->D != size[0] || B < 1 || t < 1)
        return dt_err(err, DUET_EINVAL, "mlp: %lld features for %lld inputs, %lld rows, step %lld", (long long)X->D,
                      (long long)size[0], (long long)B, (long long)t);
    DT_TRY(work_new(ctx, &nt, B, X->x != NULL, &w, err));
    grad = dt_calloc(ctx, nt.n, sizeof(float));
    if (!X->x) {
        seen = dt_calloc(ctx, (size_t)X->D, 1);
        touched = dt_calloc(ctx, (size_t)X->D, sizeof(int32_t));
    }
    if (!grad || (!X->x && (!seen || !touched))) {
        rc = dt_err(err, DUET_ENOMEM, "mlp: out of memory for %zu parameters", nt.n);
        goto fail;
    }
    int64_t ntouched = touched ? touched_rows(X, rows, B, seen, touched) : 0;
    double ls, ws;
    forward(ctx, &nt, theta, X, rows, B, &w, y, NULL, sw, &ls, &ws);
    if (ws > 0) {
        backward(ctx, &nt, theta, X, rows, B, &w, y, NULL, sw, ws, l2 > 0 ? l2 : 0, touched != NULL, grad);
        adam_update(&nt, theta, grad, m, v, touched, ntouched, l2 > 0 ? l2 : 0, pow(0.9, (double)t), pow(0.999, (double)t), lr,
                    dt_threads(ctx));
    }
fail:
    work_free(ctx, &w);
    dt_free(ctx, grad);
    dt_free(ctx, seen);
    dt_free(ctx, touched);
    return rc;
}

// --- training -------------------------------------------------------------------------------------

static void mlp_free(duet_ctx *ctx, void *state) {
    mlp_state *s = state;
    if (!s) return;
    dt_free(ctx, s->theta);
    dt_free(ctx, s);
}

/* x[0..n) = sd N(0, 1), two draws per pair of uniforms (Box-Muller: cos and sin). */
static void normal_fill(dt_rng *r, float *x, size_t n, double sd) {
    size_t t = 0;
    for (; t + 1 < n; t += 2) {
        double u1 = dt_rng_uniform(r), u2 = dt_rng_uniform(r);
        double rad = sd * sqrt(-2.0 * log(u1 > 1e-300 ? u1 : 1e-300)), a = 6.283185307179586 * u2;
        x[t] = (float)(rad * cos(a));
        x[t + 1] = (float)(rad * sin(a));
    }
    if (t < n) x[t] = (float)(sd * dt_rng_normal(r));
}

typedef struct hyper {
    int hidden, layers, epochs, batch, patience;
    double lr, l2, val_split;
} hyper;

static int read_params(const duet_train_params *p, hyper *h, duet_err *err) {
    h->hidden = p->hidden ? p->hidden : 256;
    h->layers = p->layers ? p->layers : 1;
    h->epochs = p->epochs ? p->epochs : 30;
    h->batch = p->batch ? p->batch : 128;
    h->patience = p->patience ? p->patience : 5;
    h->lr = p->lr != 0 ? p->lr : 1e-3;
    h->l2 = p->l2 != 0 ? p->l2 : 1e-4;
    h->val_split = p->val_split != 0 ? p->val_split : 0.1;
    if (h->hidden < 1 || h->hidden > 65536) return dt_err(err, DUET_EINVAL, "mlp: hidden units must be in 1..65536 (got %d)", p->hidden);
    if (h->layers < 1 || h->layers > DT_MLP_MAX_LAYERS)
        return dt_err(err, DUET_EINVAL, "mlp: layers must be in 1..%d (got %d)", DT_MLP_MAX_LAYERS, p->layers);
    if (h->epochs < 1 || h->epochs > 100000) return dt_err(err, DUET_EINVAL, "mlp: epochs must be in 1..100000 (got %d)", p->epochs);
    if (h->batch < 1 || h->batch > (1 << 20)) return dt_err(err, DUET_EINVAL, "mlp: batch must be in 1..1048576 (got %d)", p->batch);
    if (h->patience < 1 || h->patience > 100000) return dt_err(err, DUET_EINVAL, "mlp: patience must be in 1..100000 (got %d)", p->patience);
    if (!(h->lr > 0) || h->lr > 10) return dt_err(err, DUET_EINVAL, "mlp: learning rate must be in (0, 10] (got %g)", p->lr);
    if (isnan(h->l2) || isinf(h->l2)) return dt_err(err, DUET_EINVAL, "mlp: l2 must be a number (got %g)", p->l2);
    if (isnan(h->val_split) || h->val_split >= 0.9)
        return dt_err(err, DUET_EINVAL, "mlp: validation share must be below 0.9, or negative for none (got %g)", p->val_split);
    return DUET_OK;
}

/* Weighted loss sum and weight sum of rows[0..n) in batches (no gradient). */
static void eval_loss(duet_ctx *ctx, const net *nt, const float *theta, const dt_mat *X, const int64_t *rows,
                      int64_t n, work *w, const int32_t *y, const double *t, const double *sw, double *ls, double *ws) {
    *ls = *ws = 0;
    for (int64_t b0 = 0; b0 < n; b0 += w->cap) {
        int64_t B = n - b0 < w->cap ? n - b0 : w->cap;
        double l, s;
        forward(ctx, nt, theta, X, rows + b0, B, w, y, t, sw, &l, &s);
        *ls += l;
        *ws += s;
    }
}

/* Data-parallel: this process's rows among global rows g[0..n) (local indices), into out;
 * how many. */
static int64_t local_rows(const duet_ctx *ctx, const int64_t *g, int64_t n, int64_t *out) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += dt_row_here(ctx, g[i], &out[k]);
    return k;
}

/* Data-parallel with sparse input (lazy Adam): the union of the W0 rows the processes touched,
 * which becomes touched[0..*nt) everywhere, and the gradient added across processes on those
 * rows and on every other parameter (the rest of W0 is zero on every process). mask (D) and
 * buf (n) are scratch. */
static int reduce_sparse(duet_ctx *ctx, const net *nt, float *grad, double *buf, double *mask, int32_t *touched,
                         int64_t *ntouched, duet_err *err) {
    size_t D = (size_t)nt->size[0], O = (size_t)nt->size[1], n = nt->n, rest = n - nt->offb[0];
    memset(mask, 0, D * sizeof *mask);
    for (int64_t r = 0; r < *ntouched; r++) mask[touched[r]] = 1;
    int rc = dt_reduce(ctx, mask, D, err);
    if (rc) return rc;
    int64_t u = 0;
    for (size_t c = 0; c < D; c++)
        if (mask[c] > 0) touched[u++] = (int32_t)c;
    *ntouched = u;
    size_t k = 0; /* pack: the union's rows of W0, then everything after W0 */
    for (int64_t r = 0; r < u; r++)
        for (size_t o = 0; o < O; o++) buf[k++] = grad[nt->offW[0] + (size_t)touched[r] * O + o];
    for (size_t j = 0; j < rest; j++) buf[k++] = grad[nt->offb[0] + j];
    if ((rc = dt_reduce(ctx, buf, k, err))) return rc;
    k = 0;
    for (int64_t r = 0; r < u; r++)
        for (size_t o = 0; o < O; o++) grad[nt->offW[0] + (size_t)touched[r] * O + o] = (float)buf[k++];
    for (size_t j = 0; j < rest; j++) grad[nt->offb[0] + j] = (float)buf[k++];
    return DUET_OK;
}

static int mlp_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    const dt_mat *X = a->X;
    int64_t N = X->N;
    hyper h;
    int rc = read_params(a->p, &h, err);
    if (rc) return rc;
    if (a->K == 1 || a->K < 0 || N < 1 || X->D < 1)
        return dt_err(err, DUET_EINVAL, "mlp: need 2+ classes or a number, rows and features (K=%d, N=%lld, D=%lld)", a->K,
                      (long long)N, (long long)X->D);
    int dist = dt_distributed(ctx);
    int64_t size[DT_MLP_MAX_LAYERS + 2];
    int nw = h.layers + 1;
    size[0] = X->D;
    for (int l = 1; l < nw; l++) size[l] = h.hidden;
    size[nw] = a->K ? a->K : 1;
    mlp_state *s = NULL;
    double *ts = NULL; /* regressors: the targets, standardised */
    float *opt = NULL, *best = NULL; /* grad, Adam m and v: 3n (zeroed); the best theta: n */
    int64_t *perm = NULL, *lrows = NULL; /* lrows: data-parallel, this process's rows of a batch */
    double *gd = NULL;                    /* data-parallel: the gradient while it is added */
    double *umask = NULL;                 /* data-parallel, sparse input: the W0 rows any process's rows touch */
    uint8_t *seen = NULL;    /* CSR: (D) marks while collecting a batch's features */
    int32_t *touched = NULL; /* CSR: (D) the W0 rows a batch touches */
    work w = {0};
    s = dt_calloc(ctx, 1, sizeof *s);
    if (!s) return dt_err(err, DUET_ENOMEM, "mlp: out of memory");
    DT_TRY(net_init(&s->nt, size, nw, err));
    s->nt.reg = a->K == 0;
    const net *nt = &s->nt;
    /* data-parallel: the batches are drawn from all processes' rows, the same on each, and
     * every process works on its own rows of each batch; losses and gradients are added */
    int64_t Ng = N;
    DT_TRY(dt_reduce_count(ctx, &Ng, err));
    if (nt->reg) { /* targets scaled to mean 0 and variance 1 over all processes' rows */
        double sums[3] = {0, 0, 0};
        for (int64_t i = 0; i < N; i++) sums[0] += a->t[i], sums[1] += a->t[i] * a->t[i], sums[2] += 1;
        DT_TRY(dt_reduce(ctx, sums, 3, err));
        s->tmean = sums[0] / sums[2];
        double var = sums[1] / sums[2] - s->tmean * s->tmean;
        s->tstd = var > 0 ? sqrt(var) : 1;
        ts = dt_alloc_e(ctx, (size_t)N, sizeof(double), "mlp targets", err);
        if (!ts) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        for (int64_t i = 0; i < N; i++) ts[i] = (a->t[i] - s->tmean) / s->tstd;
    }
    size_t n = nt->n, n3;
    if (!dt_mul_ok(n, 4, &n3) || !dt_mul_ok(n, 3, &n3)) {
        rc = dt_err(err, DUET_ERANGE, "mlp: %zu parameters is too many", n);
        goto fail;
    }
    s->theta = dt_alloc(ctx, n * sizeof(float)); /* every value is set below */
    opt = dt_calloc(ctx, n3, sizeof(float));
    best = dt_alloc(ctx, n * sizeof(float));
    perm = dt_calloc(ctx, (size_t)Ng, sizeof(int64_t));
    if (dist) {
        lrows = dt_calloc(ctx, (size_t)Ng, sizeof(int64_t));
        gd = dt_calloc(ctx, n, sizeof(double));
        if (!X->x) umask = dt_calloc(ctx, (size_t)X->D, sizeof(double));
        if (!lrows || !gd || (!X->x && !umask)) {
            rc = dt_err(err, DUET_ENOMEM, "mlp: out of memory for %zu parameters", n);
            goto fail;
        }
    }
    if (!X->x) {
        seen = dt_calloc(ctx, (size_t)X->D, 1);
        touched = dt_calloc(ctx, (size_t)X->D, sizeof(int32_t));
    }
    if (!s->theta || !opt || !best || !perm || (!X->x && (!seen || !touched))) {
        rc = dt_err(err, DUET_ENOMEM, "mlp: out of memory for %zu parameters", n);
        goto fail;
    }
    float *grad = opt, *am = opt + n, *av = opt + 2 * n;
    dt_rng rng;
    dt_rng_seed(&rng, ctx->seed ^ 0x6d6c70ULL);
    for (int l = 0; l < nw; l++) { /* He: N(0, 2 / fan_in); biases 0 */
        normal_fill(&rng, s->theta + nt->offW[l], (size_t)size[l] * (size_t)size[l + 1], sqrt(2.0 / (double)size[l]));
        memset(s->theta + nt->offb[l], 0, (size_t)size[l + 1] * sizeof(float));
    }
    for (int64_t i = 0; i < Ng; i++) perm[i] = i;
    dt_rng_shuffle(&rng, perm, Ng);
    int64_t nv = h.val_split > 0 && Ng >= 10 ? (int64_t)(h.val_split * (double)Ng + 0.5) : 0;
    if (nv < 0 || nv >= Ng) nv = 0;
    int64_t *vrows = perm, *trows = perm + nv, ntr = Ng - nv;
    int64_t cap = h.batch < ntr ? h.batch : ntr;
    DT_TRY(work_new(ctx, nt, cap, X->x != NULL, &w, err));
    memcpy(best, s->theta, n * sizeof(float));
    double best_loss = INFINITY, p1 = 1, p2 = 1;
    int best_epoch = 0, bad = 0, epoch = 0;
    double t0 = dt_now();
    for (epoch = 1; epoch <= h.epochs; epoch++) {
        dt_rng_shuffle(&rng, trows, ntr);
        double tl = 0, tw = 0;
        for (int64_t b0 = 0; b0 < ntr; b0 += h.batch) {
            int64_t B = ntr - b0 < h.batch ? ntr - b0 : h.batch;
            const int64_t *rb = trows + b0;
            if (dist) B = local_rows(ctx, trows + b0, B, lrows), rb = lrows;
            double ls = 0, ws = 0;
            if (B > 0) forward(ctx, nt, s->theta, X, rb, B, &w, a->y, ts, a->sw, &ls, &ws);
            if (dist) {
                double v[2] = {ls, ws};
                DT_TRY(dt_reduce(ctx, v, 2, err));
                ls = v[0], ws = v[1];
            }
            tl += ls;
            tw += ws;
            if (!(ws > 0)) continue;
            int64_t ntouched = touched ? touched_rows(X, rb, B, seen, touched) : 0;
            double l2 = h.l2 > 0 && ctx->dist_rank == 0 ? h.l2 : 0; /* data-parallel: the penalty's gradient once */
            if (B > 0) {
                backward(ctx, nt, s->theta, X, rb, B, &w, a->y, ts, a->sw, ws, l2, touched != NULL, grad);
            } else { /* no rows here this time: only the penalty */
                memset(grad, 0, n * sizeof(float));
                for (int l = touched ? 1 : 0; l < nw && l2 > 0; l++) /* lazy W0: its penalty comes with Adam */
                    for (size_t t = 0; t < (size_t)size[l] * (size_t)size[l + 1]; t++)
                        grad[nt->offW[l] + t] = (float)l2 * s->theta[nt->offW[l] + t];
            }
            if (dist && touched) { /* lazy Adam: the rows of W0 that the whole batch touches */
                DT_TRY(reduce_sparse(ctx, nt, grad, gd, umask, touched, &ntouched, err));
            } else {
                DT_TRY(dt_reduce_f32(ctx, grad, n, NULL, gd, err));
            }
            p1 *= 0.9;
            p2 *= 0.999;
            adam_update(nt, s->theta, grad, am, av, touched, ntouched, h.l2 > 0 ? h.l2 : 0, p1, p2, h.lr,
                        dt_threads(ctx));
        }
        double train_loss = tw > 0 ? tl / tw : 0, val_loss = train_loss;
        if (nv > 0) {
            double v[2];
            if (dist) {
                eval_loss(ctx, nt, s->theta, X, lrows, local_rows(ctx, vrows, nv, lrows), &w, a->y, ts, a->sw, &v[0], &v[1]);
                DT_TRY(dt_reduce(ctx, v, 2, err));
            } else {
                eval_loss(ctx, nt, s->theta, X, vrows, nv, &w, a->y, ts, a->sw, &v[0], &v[1]);
            }
            val_loss = v[1] > 0 ? v[0] / v[1] : 0;
        }
        if (!isfinite(train_loss) || !isfinite(val_loss)) {
            rc = dt_err(err, DUET_ERANGE, "mlp: the loss diverged at epoch %d (learning rate %g too large?)", epoch, h.lr);
            goto fail;
        }
        if (a->verbose)
            dt_log(ctx, 2, "mlp: epoch %d/%d train loss %.4f%s%.4f (%.1fs)", epoch, h.epochs, train_loss,
                   nv > 0 ? " validation loss " : "", nv > 0 ? val_loss : train_loss, dt_now() - t0);
        if (nv > 0) {
            if (val_loss < best_loss) {
                best_loss = val_loss;
                best_epoch = epoch;
                bad = 0;
                memcpy(best, s->theta, n * sizeof(float));
            } else if (++bad >= h.patience) {
                break;
            }
        } else {
            best_loss = val_loss;
            best_epoch = epoch;
        }
        DT_TRY(dt_check_abort(ctx, "mlp training", err));
    }
    if (epoch > h.epochs) epoch = h.epochs;
    if (nv > 0) memcpy(s->theta, best, n * sizeof(float));
    if (a->verbose) {
        dt_log(ctx, 0, "mlp: %d epochs, best %s loss %.4f at epoch %d", epoch, nv > 0 ? "validation" : "training",
               best_loss, best_epoch);
        char arch[256];
        int pos = snprintf(arch, sizeof arch, "%lld", (long long)size[0]);
        for (int l = 1; l <= nw && pos > 0 && (size_t)pos < sizeof arch; l++)
            pos += snprintf(arch + pos, sizeof arch - (size_t)pos, "-%lld", (long long)size[l]);
        dt_model_meta_set(m, "network", "%s relu, %s", arch, nt->reg ? "linear output (squared error)" : "softmax");
        dt_model_meta_set(m, "epochs", "%d (best %d, %s loss %.4f)", epoch, best_epoch, nv > 0 ? "validation" : "training", best_loss);
    }
    if (m->state) mlp_free(ctx, m->state);
    m->state = s;
    s = NULL;
fail:
    mlp_free(ctx, s);
    dt_free(ctx, ts);
    dt_free(ctx, opt);
    dt_free(ctx, best);
    dt_free(ctx, perm);
    dt_free(ctx, lrows);
    dt_free(ctx, gd);
    dt_free(ctx, umask);
    dt_free(ctx, seen);
    dt_free(ctx, touched);
    work_free(ctx, &w);
    return rc;
}

// --- prediction -----------------------------------------------------------------------------------

/* Activations of layer `layer` (1..nw; nw: the class probabilities) for every row of X into
 * out (N, size[layer]), PRED_ROWS rows at a time. */
static int layer_rows(duet_ctx *ctx, const mlp_state *s, const dt_mat *X, int layer, float *out, duet_err *err) {
    const net *nt = &s->nt;
    if (X->D != nt->size[0])
        return dt_err(err, DUET_EINVAL, "mlp: input has %lld features, the model %lld", (long long)X->D, (long long)nt->size[0]);
    if (X->N < 1) return DUET_OK;
    int64_t cap = X->N < PRED_ROWS ? X->N : PRED_ROWS, width = nt->size[layer];
    int64_t rows[PRED_ROWS];
    work w;
    int rc = work_new(ctx, nt, cap, X->x != NULL, &w, err);
    if (rc) return rc;
    for (int64_t b0 = 0; b0 < X->N; b0 += cap) {
        int64_t B = X->N - b0 < cap ? X->N - b0 : cap;
        for (int64_t i = 0; i < B; i++) rows[i] = b0 + i;
        forward(ctx, nt, s->theta, X, rows, B, &w, NULL, NULL, NULL, NULL, NULL);
        memcpy(out + (size_t)b0 * (size_t)width, w.act[layer], (size_t)B * (size_t)width * sizeof(float));
    }
    work_free(ctx, &w);
    return DUET_OK;
}

static int mlp_predict_proba(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *P, duet_err *err) {
    const mlp_state *s = m->state;
    if (!s) return dt_err(err, DUET_EINVAL, "mlp: the model is not fitted");
    return layer_rows(ctx, s, X, s->nt.nw, P, err);
}

/* The last hidden layer (after ReLU): act[nw - 1]. */
static int mlp_values(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *v, duet_err *err) {
    const mlp_state *s = m->state;
    if (!s || !s->nt.reg) return dt_err(err, DUET_EINVAL, "mlp: this model predicts classes, not a number");
    float *z = dt_alloc_e(ctx, (size_t)(X->N ? X->N : 1), sizeof(float), "mlp predictions", err);
    if (!z) return DUET_ENOMEM;
    int rc = layer_rows(ctx, s, X, s->nt.nw, z, err);
    for (int64_t i = 0; !rc && i < X->N; i++) v[i] = (double)z[i] * s->tstd + s->tmean;
    dt_free(ctx, z);
    return rc;
}

static int mlp_embed(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *E, int64_t *dim, duet_err *err) {
    const mlp_state *s = m->state;
    int last = s->nt.nw - 1;
    if (last < 1) return dt_err(err, DUET_EUNSUPPORTED, "mlp: no hidden layer to take features from");
    *dim = s->nt.size[last];
    return E ? layer_rows(ctx, s, X, last, E, err) : DUET_OK;
}

// --- files ----------------------------------------------------------------------------------------

static int mlp_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const mlp_state *s = m->state;
    if (!s) return dt_err(err, DUET_EINVAL, "mlp: the model is not fitted");
    const net *nt = &s->nt;
    int rc = DUET_OK;
    char name[64];
    DT_TRY(dt_st_metaf(w, err, "model.layers", "%d", nt->nw - 1));
    DT_TRY(dt_st_metaf(w, err, "model.hidden", "%lld", (long long)(nt->nw > 1 ? nt->size[1] : 0)));
    if (nt->reg) {
        DT_TRY(dt_st_metaf(w, err, "model.target_mean", "%.17g", s->tmean));
        DT_TRY(dt_st_metaf(w, err, "model.target_std", "%.17g", s->tstd));
    }
    for (int l = 0; l < nt->nw; l++) {
        int64_t shape[2] = {nt->size[l], nt->size[l + 1]};
        snprintf(name, sizeof name, "model.W%d", l);
        DT_TRY(dt_st_add(w, name, DT_F32, 2, shape, s->theta + nt->offW[l], err));
        snprintf(name, sizeof name, "model.b%d", l);
        DT_TRY(dt_st_add1(w, name, DT_F32, shape[1], s->theta + nt->offb[l], err));
    }
fail:
    return rc;
}

static int mlp_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    int64_t layers, hidden;
    int rc = dt_st_meta_i64(f, "model.layers", 1, DT_MLP_MAX_LAYERS, &layers, err);
    if (!rc) rc = dt_st_meta_i64(f, "model.hidden", 1, 65536, &hidden, err);
    if (rc) return rc;
    int64_t size[DT_MLP_MAX_LAYERS + 2];
    int nw = (int)layers + 1;
    size[0] = m->D;
    for (int l = 1; l < nw; l++) size[l] = hidden;
    size[nw] = m->K ? m->K : 1;
    mlp_state *s = dt_calloc(ctx, 1, sizeof *s);
    if (!s) return dt_err(err, DUET_ENOMEM, "mlp: out of memory");
    rc = net_init(&s->nt, size, nw, err);
    s->nt.reg = m->K == 0;
    if (!rc && s->nt.reg) {
        rc = dt_st_meta_f64(f, "model.target_mean", &s->tmean, err);
        if (!rc) rc = dt_st_meta_f64(f, "model.target_std", &s->tstd, err);
        if (!rc && (!isfinite(s->tmean) || !(s->tstd > 0) || !isfinite(s->tstd))) {
            rc = dt_err(err, DUET_EFORMAT, "%s: the target's mean and scale are not finite numbers", dt_st_name(f));
            goto fail;
        }
        if (rc) goto fail;
    }
    if (rc) {
        dt_err_prefix(err, DUET_EFORMAT, "%s", dt_st_name(f));
        if (err) err->code = DUET_EFORMAT;
        rc = DUET_EFORMAT;
        goto fail;
    }
    s->theta = dt_calloc(ctx, s->nt.n, sizeof(float));
    if (!s->theta) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory for %zu parameters", dt_st_name(f), s->nt.n);
        goto fail;
    }
    char name[64];
    for (int l = 0; l < nw; l++) {
        int64_t shape[2] = {size[l], size[l + 1]};
        const void *data;
        for (int t = 0; t < 2; t++) {
            size_t cnt = t == 0 ? (size_t)shape[0] * (size_t)shape[1] : (size_t)shape[1];
            float *dst = s->theta + (t == 0 ? s->nt.offW[l] : s->nt.offb[l]);
            snprintf(name, sizeof name, "model.%c%d", t == 0 ? 'W' : 'b', l);
            DT_TRY(dt_st_get(f, name, DT_F32, t == 0 ? 2 : 1, t == 0 ? shape : shape + 1, &data, NULL, err));
            memcpy(dst, data, cnt * sizeof(float));
            for (size_t q = 0; q < cnt; q++)
                if (!isfinite(dst[q])) {
                    rc = dt_err(err, DUET_EFORMAT, "%s: tensor '%s' element %zu is not finite", dt_st_name(f), name, q);
                    goto fail;
                }
        }
    }
    snprintf(name, sizeof name, "model.W%d", nw);
    if (dt_st_has(f, name)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: tensor '%s' is more layers than model.layers=%d says", dt_st_name(f), name, nw - 1);
        goto fail;
    }
    if (m->state) mlp_free(ctx, m->state);
    m->state = s;
    return DUET_OK;
fail:
    mlp_free(ctx, s);
    return rc;
}

/* the first layer's weights dominate: weights, gradient and Adam's two moments, in floats */
static double mlp_fit_bytes(const duet_model *m, const dt_fit_args *a) {
    (void)m;
    double h = a->p->hidden ? a->p->hidden : 256;
    return 4.0 * 4.0 * h * ((double)a->X->D + (double)(a->K ? a->K : 1) + h * (a->p->layers > 1 ? a->p->layers - 1 : 0));
}

static const dt_option mlp_options[] = {
    {"--hidden", "units per hidden layer (default 256)"},
    {"--layers", "hidden layers (default 1)"},
    {"--epochs", "epochs (default 30)"},
    {"--batch", "mini-batch (default 128)"},
    {"--lr", "Adam step (default 1e-3)"},
    {"--l2", "weight decay (default 1e-4; 0 none)"},
    {"--val-split", "share held out for early stopping (default 0.1)"},
    {"--patience", "epochs without improvement before stopping (default 5)"},
    {NULL, NULL},
};

const dt_model_ops dt_mlp_ops = {
    .name = "mlp",
    .options = mlp_options,
    .learns = "p(y|x)",
    .caps = DUET_CAN_PREDICT,
    .about = "multilayer perceptron: ReLU hidden layers, softmax output (a linear one for numbers), Adam, early stopping",
    .fit = mlp_fit,
    .fit_bytes = mlp_fit_bytes,
    .distributed = 1,
    .predict_proba = mlp_predict_proba,
    .predict_values = mlp_values,
    .save = mlp_save,
    .load = mlp_load,
    .free_state = mlp_free,
    .embed = mlp_embed,
    .title = "the MLP",
    .targets = DT_TARGET_CLASS | DT_TARGET_NUMBER,
    .compare_on = (1u << DUET_DATA_DENSE) | (1u << DUET_DATA_SPARSE) | (1u << DUET_DATA_TEXT) | (1u << DUET_DATA_TABLE),
};
