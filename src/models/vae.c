/* vae.c — a variational autoencoder (Kingma & Welling 2014) for images with values in [0, 1]:
 * encoder x -> ReLU(H) -> (mu, log sigma^2) of q(z|x) in Z dimensions, decoder z -> ReLU(H) ->
 * Bernoulli logits of every pixel. Trained on the negative evidence lower bound
 *   -ELBO(x) = BCE(decoder(z), x) + KL(q(z|x) || N(0, I)),  z = mu + sigma * eps,
 * summed over pixels and averaged over a mini-batch, with Adam (the setting of PyTorch's
 * examples/vae: 784-400-20, lr 1e-3, batch 128). Intensities in between 0 and 1 are treated as
 * Bernoulli probabilities, as that example and most papers on MNIST do.
 * With --arch conv the encoder's first layer is two 4x4 stride-2 convolutions (32 and 64 channels,
 * ReLU) and the decoder's last is two 4x4 stride-2 transposed convolutions (64 -> 32 -> 1), the
 * DCGAN-style shapes of gan.c: H is then the 64 x H/4 x W/4 feature map between them.
 * With --conditional the decoder also sees the class (one-hot), so it learns p(x|y): it draws
 * images of a chosen class, and by Bayes' rule with the ELBO standing in for log p(x|y) it is a
 * classifier too.
 * The model's score is the ELBO in nats (one posterior sample per image, from a generator
 * seeded by the context, so the same call gives the same figure); sample decodes z ~ N(0, I)
 * and returns the pixel probabilities (the mean image).
 * Not here: the features (pixels are scaled to [0, 1] by the pipeline), files (safetensors).
 */
#include <math.h>

#include "../core/gemm.h"
#include "../nn/conv.h"
#include "../nn/vexp.h"
#include "../nn/nn.h"
#include "model.h"

#define VAE_MAX_WORKERS 64
#define VC1 32 /* conv: channels after the first (transposed) convolution */
#define VC2 64 /* ... and after the second */

typedef struct vae_net {
    int64_t D, H, Z, K;  /* pixels, hidden units, latent size, classes fed to the decoder (0: none) */
    int conv;            /* 1: convolutional encoder and decoder ends (H = VC2 * IH/4 * IW/4) */
    int IH, IW;          /* conv: image height and width (multiples of 4) */
    /* offsets into the parameter array: encoder W1 (H, D) b1 (H), Wmu (Z, H) bmu, Wlv (Z, H) blv,
     * decoder W3 (H, Z+K) b3 (H), W4 (D, H) b4 (D); conv: W1 b1 are c1 (VC1, 1, 4, 4) c1b (VC1)
     * c2 (VC2, VC1, 4, 4) c2b (VC2), and W4 b4 are t1 (VC2, VC1, 4, 4) t1b (VC1) t2 (VC1, 1, 4, 4)
     * t2b (1) */
    size_t W1, b1, Wmu, bmu, Wlv, blv, W3, b3, W4, b4, n;
    size_t c1, c1b, c2, c2b, t1, t1b, t2, t2b;
} vae_net;

typedef struct vae_state {
    vae_net nt;
    float *theta;
} vae_state;

static void layout(vae_net *t) {
    if (t->conv) t->H = (int64_t)VC2 * (t->IH / 4) * (t->IW / 4);
    size_t o = 0, D = (size_t)t->D, H = (size_t)t->H, Z = (size_t)t->Z, ZK = (size_t)(t->Z + t->K);
    if (t->conv) {
        t->W1 = t->c1 = o, o += (size_t)VC1 * 16;
        t->b1 = t->c1b = o, o += VC1;
        t->c2 = o, o += (size_t)VC2 * VC1 * 16;
        t->c2b = o, o += VC2;
    } else {
        t->W1 = o, o += H * D;
        t->b1 = o, o += H;
    }
    t->Wmu = o, o += Z * H;
    t->bmu = o, o += Z;
    t->Wlv = o, o += Z * H;
    t->blv = o, o += Z;
    t->W3 = o, o += H * ZK;
    t->b3 = o, o += H;
    if (t->conv) {
        t->W4 = t->t1 = o, o += (size_t)VC2 * VC1 * 16;
        t->t1b = o, o += VC1;
        t->t2 = o, o += (size_t)VC1 * 16;
        t->b4 = t->t2b = o, o += 1;
    } else {
        t->W4 = o, o += D * H;
        t->b4 = o, o += D;
    }
    t->n = o;
}

/* The four convolutions of the conv architecture for a batch of B. */
static dt_conv_shape s_c1(const vae_net *t, int B) { return (dt_conv_shape){B, 1, t->IH, t->IW, VC1, 4, 4, 2, 1}; }
static dt_conv_shape s_c2(const vae_net *t, int B) { return (dt_conv_shape){B, VC1, t->IH / 2, t->IW / 2, VC2, 4, 4, 2, 1}; }
static dt_conv_shape s_t1(const vae_net *t, int B) { return (dt_conv_shape){B, VC2, t->IH / 4, t->IW / 4, VC1, 4, 4, 2, 1}; }
static dt_conv_shape s_t2(const vae_net *t, int B) { return (dt_conv_shape){B, VC1, t->IH / 2, t->IW / 2, 1, 4, 4, 2, 1}; }

/* Activations and gradients of one batch of up to cap rows. */
typedef struct vae_work {
    int64_t cap;
    float *h1, *mu, *lv, *eps, *zin, *h2, *logit, *d_logit, *dh2, *dzin, *dmu, *dlv, *dh1;
    float *r1, *rd, *g1, *conv; /* conv: the maps after the first convolution and before the last,
                                   a gradient of that size, convolution scratch */
    float *mem;
} vae_work;

static int work_new(duet_ctx *ctx, const vae_net *t, int64_t cap, vae_work *w, duet_err *err) {
    memset(w, 0, sizeof *w);
    size_t B = (size_t)cap, H = (size_t)t->H, Z = (size_t)t->Z, ZK = (size_t)(t->Z + t->K), D = (size_t)t->D;
    struct { float **p; size_t n; } parts[] = {
        {&w->h1, B * H}, {&w->mu, B * Z}, {&w->lv, B * Z}, {&w->eps, B * Z}, {&w->zin, B * ZK},
        {&w->h2, B * H}, {&w->logit, B * D}, {&w->d_logit, B * D}, {&w->dh2, B * H}, {&w->dzin, B * ZK},
        {&w->dmu, B * Z}, {&w->dlv, B * Z}, {&w->dh1, B * H}, {&w->r1, 0}, {&w->rd, 0}, {&w->g1, 0}, {&w->conv, 0},
    };
    if (t->conv) {
        size_t m = B * VC1 * (size_t)(t->IH / 2) * (size_t)(t->IW / 2), cw = 0;
        dt_conv_shape sh[4] = {s_c1(t, (int)cap), s_c2(t, (int)cap), s_t1(t, (int)cap), s_t2(t, (int)cap)};
        for (int i = 0; i < 4; i++) cw = dt_conv_work(&sh[i]) > cw ? dt_conv_work(&sh[i]) : cw;
        parts[13].n = parts[14].n = parts[15].n = m;
        parts[16].n = cw;
    }
    size_t total = 0, np = sizeof parts / sizeof parts[0];
    for (size_t i = 0; i < np; i++) total += parts[i].n;
    w->mem = dt_alloc_e(ctx, total, sizeof(float), "vae batch", err);
    if (!w->mem) return DUET_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < np; i++) *parts[i].p = w->mem + off, off += parts[i].n;
    w->cap = cap;
    return DUET_OK;
}

/* y (B, out) = x (B, in) W^T + b, then ReLU when relu. */
static void dense(const duet_ctx *ctx, float *y, const float *x, const float *W, const float *b, int64_t B, int64_t in,
                  int64_t out, int relu) {
    for (int64_t i = 0; i < B; i++) memcpy(y + (size_t)i * (size_t)out, b, (size_t)out * sizeof(float));
    dt_gemm(ctx, y, out, x, in, 0, W, in, 1, 1.0f, 1.0f, B, out, in);
    if (relu)
        for (size_t i = 0; i < (size_t)B * (size_t)out; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

/* dW (out, in) = dy^T x; db (out) = column sums of dy; dx (B, in) = dy W (when dx). Every
 * parameter has one use per batch, so its gradient is written, not added. */
static void dense_bwd(const duet_ctx *ctx, const float *dy, const float *x, const float *W, float *dW, float *db,
                      float *dx, int64_t B, int64_t in, int64_t out) {
    dt_gemm(ctx, dW, in, dy, out, 1, x, in, 0, 1.0f, 0.0f, out, in, B);
    memset(db, 0, (size_t)out * sizeof(float));
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < out; j++) db[j] += dy[(size_t)i * (size_t)out + (size_t)j];
    if (dx) dt_gemm(ctx, dx, in, dy, out, 0, W, in, 0, 1.0f, 0.0f, B, in, out);
}

/* softplus(z) - x z: the Bernoulli negative log-likelihood of x given logit z, stably */
static inline float bce(float z, float x) { return (z > 0.0f ? z : 0.0f) + log1pf(expf(-fabsf(z))) - x * z; }

/* The sum of bce over a row of n pixels: 8 at a time with softplus8, the tail with bce. */
static double bce_row(const float *z, const float *x, int64_t n) {
    double rec = 0.0;
    int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) {
        __m256 zj = _mm256_loadu_ps(z + j);
        acc = _mm256_add_ps(acc, _mm256_fnmadd_ps(_mm256_loadu_ps(x + j), zj, softplus8(zj)));
    }
    float l[8];
    _mm256_storeu_ps(l, acc);
    for (int k = 0; k < 8; k++) rec += l[k];
#endif
    for (; j < n; j++) rec += bce(z[j], x[j]);
    return rec;
}

/* d = s (sigmoid(z) - x) over n pixels: the gradient of s times bce in z */
static void bce_grad(float *d, const float *z, const float *x, size_t n, float s) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 vs = _mm256_set1_ps(s);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_mul_ps(vs, _mm256_sub_ps(sigmoid8(_mm256_loadu_ps(z + i)), _mm256_loadu_ps(x + i))));
#endif
    for (; i < n; i++) d[i] = s * (1.0f / (1.0f + expf(-z[i])) - x[i]);
}

/* B standard normal draws per latent dimension into w->eps, in row order. */
static void draw_eps(const vae_net *t, vae_work *w, int64_t B, dt_rng *r) {
    for (size_t a = 0; a < (size_t)B * (size_t)t->Z; a++) w->eps[a] = (float)dt_rng_normal(r);
}

/* The encoder's features h1 (B, H) of X (B, D): ReLU(W1 x + b1), or the two ReLU convolutions. */
static void encode(const duet_ctx *ctx, const vae_net *t, const float *th, vae_work *w, const float *X, int64_t B) {
    if (!t->conv) {
        dense(ctx, w->h1, X, th + t->W1, th + t->b1, B, t->D, t->H, 1);
        return;
    }
    int nth = dt_threads(ctx);
    dt_conv_shape a = s_c1(t, (int)B), b = s_c2(t, (int)B);
    dt_conv2d_fwd(ctx, &a, X, th + t->c1, th + t->c1b, w->r1, w->conv);
    dt_act_fwd(nth, DT_ACT_RELU, w->r1, w->r1, (size_t)B * VC1 * (size_t)(t->IH / 2) * (size_t)(t->IW / 2));
    dt_conv2d_fwd(ctx, &b, w->r1, th + t->c2, th + t->c2b, w->h1, w->conv);
    dt_act_fwd(nth, DT_ACT_RELU, w->h1, w->h1, (size_t)B * (size_t)t->H);
}

/* The decoder from w->zin: h2 = ReLU(W3 zin + b3), then the pixel logits (B, D): W4 h2 + b4, or
 * the two transposed convolutions (ReLU between). */
static void decode(const duet_ctx *ctx, const vae_net *t, const float *th, vae_work *w, int64_t B) {
    dense(ctx, w->h2, w->zin, th + t->W3, th + t->b3, B, t->Z + t->K, t->H, 1);
    if (!t->conv) {
        dense(ctx, w->logit, w->h2, th + t->W4, th + t->b4, B, t->H, t->D, 0);
        return;
    }
    dt_conv_shape a = s_t1(t, (int)B), b = s_t2(t, (int)B);
    dt_convt2d_fwd(ctx, &a, 0, w->h2, th + t->t1, th + t->t1b, w->rd, w->conv);
    dt_act_fwd(dt_threads(ctx), DT_ACT_RELU, w->rd, w->rd, (size_t)B * VC1 * (size_t)(t->IH / 2) * (size_t)(t->IW / 2));
    dt_convt2d_fwd(ctx, &b, 0, w->rd, th + t->t2, th + t->t2b, w->logit, w->conv);
}

/* Forward pass of B rows of X (dense, D) with labels y (or NULL) and the noise already in
 * w->eps: fills w and writes each row's negative ELBO (reconstruction + KL) into nelbo (B)
 * when not NULL. */
static void forward(const duet_ctx *ctx, const vae_net *t, const float *th, vae_work *w, const float *X,
                    const int32_t *y, int64_t B, double *nelbo) {
    int64_t D = t->D, H = t->H, Z = t->Z, ZK = t->Z + t->K;
    encode(ctx, t, th, w, X, B);
    dense(ctx, w->mu, w->h1, th + t->Wmu, th + t->bmu, B, H, Z, 0);
    dense(ctx, w->lv, w->h1, th + t->Wlv, th + t->blv, B, H, Z, 0);
    for (int64_t i = 0; i < B; i++) {
        float *zi = w->zin + (size_t)i * (size_t)ZK;
        for (int64_t j = 0; j < Z; j++) {
            size_t a = (size_t)i * (size_t)Z + (size_t)j;
            zi[j] = w->mu[a] + expf(0.5f * w->lv[a]) * w->eps[a];
        }
        for (int64_t k = 0; k < t->K; k++) zi[Z + k] = y && y[i] == k ? 1.0f : 0.0f;
    }
    decode(ctx, t, th, w, B);
    if (!nelbo) return;
    for (int64_t i = 0; i < B; i++) {
        double rec = bce_row(w->logit + (size_t)i * (size_t)D, X + (size_t)i * (size_t)D, D), kl = 0.0;
        for (int64_t j = 0; j < Z; j++) {
            size_t a = (size_t)i * (size_t)Z + (size_t)j;
            kl += -0.5 * (1.0 + w->lv[a] - (double)w->mu[a] * w->mu[a] - exp(w->lv[a]));
        }
        nelbo[i] = rec + kl;
    }
}

/* Gradient of s times the sum over the B rows of -ELBO into g (written; after forward). */
static void backward(const duet_ctx *ctx, const vae_net *t, const float *th, float *g, vae_work *w, const float *X,
                     int64_t B, float s) {
    int64_t D = t->D, H = t->H, Z = t->Z, ZK = t->Z + t->K;
    int nth = dt_threads(ctx);
    bce_grad(w->d_logit, w->logit, X, (size_t)B * (size_t)D, s);
    size_t m = (size_t)B * VC1 * (size_t)(t->IH / 2) * (size_t)(t->IW / 2);
    if (t->conv) { /* the convolutions add into their gradients: start them at zero */
        memset(g + t->c1, 0, (t->Wmu - t->c1) * sizeof(float));
        memset(g + t->t1, 0, (t->n - t->t1) * sizeof(float));
        dt_conv_shape a = s_t1(t, (int)B), b = s_t2(t, (int)B);
        dt_convt2d_bwd(ctx, &b, 0, w->d_logit, w->rd, th + t->t2, w->g1, g + t->t2, g + t->t2b, w->conv);
        dt_act_bwd(nth, DT_ACT_RELU, w->g1, w->rd, w->g1, m); /* y > 0 where x > 0 */
        dt_convt2d_bwd(ctx, &a, 0, w->g1, w->h2, th + t->t1, w->dh2, g + t->t1, g + t->t1b, w->conv);
    } else {
        dense_bwd(ctx, w->d_logit, w->h2, th + t->W4, g + t->W4, g + t->b4, w->dh2, B, H, D);
    }
    dt_act_bwd(nth, DT_ACT_RELU, w->dh2, w->h2, w->dh2, (size_t)B * (size_t)H);
    dense_bwd(ctx, w->dh2, w->zin, th + t->W3, g + t->W3, g + t->b3, w->dzin, B, ZK, H);
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < Z; j++) {
            size_t a = (size_t)i * (size_t)Z + (size_t)j;
            float dz = w->dzin[(size_t)i * (size_t)ZK + (size_t)j], sd = expf(0.5f * w->lv[a]);
            w->dmu[a] = dz + s * w->mu[a];
            w->dlv[a] = dz * w->eps[a] * 0.5f * sd + s * 0.5f * (sd * sd - 1.0f);
        }
    dense_bwd(ctx, w->dmu, w->h1, th + t->Wmu, g + t->Wmu, g + t->bmu, w->dh1, B, H, Z);
    float *tmp = w->dh2; /* dh2 is no longer needed: dlv's share of dh1 goes there */
    dense_bwd(ctx, w->dlv, w->h1, th + t->Wlv, g + t->Wlv, g + t->blv, tmp, B, H, Z);
    for (size_t i = 0; i < (size_t)B * (size_t)H; i++) w->dh1[i] += tmp[i];
    dt_act_bwd(nth, DT_ACT_RELU, w->dh1, w->h1, w->dh1, (size_t)B * (size_t)H);
    if (t->conv) {
        dt_conv_shape a = s_c1(t, (int)B), b = s_c2(t, (int)B);
        dt_conv2d_bwd(ctx, &b, w->dh1, w->r1, th + t->c2, w->g1, g + t->c2, g + t->c2b, w->conv);
        dt_act_bwd(nth, DT_ACT_RELU, w->g1, w->r1, w->g1, m);
        dt_conv2d_bwd(ctx, &a, w->g1, X, th + t->c1, NULL, g + t->c1, g + t->c1b, w->conv);
    } else {
        dense_bwd(ctx, w->dh1, X, th + t->W1, g + t->W1, g + t->b1, NULL, B, D, H);
    }
}

/* Rows rows[0..n) of X as a dense block (X dense: copied; CSR: expanded). */
static void gather(const dt_mat *X, const int64_t *rows, int64_t n, float *out) {
    int64_t D = X->D;
    for (int64_t i = 0; i < n; i++) {
        float *o = out + (size_t)i * (size_t)D;
        int64_t r = rows ? rows[i] : i;
        if (X->x) memcpy(o, X->x + (size_t)r * (size_t)D, (size_t)D * sizeof(float));
        else {
            memset(o, 0, (size_t)D * sizeof(float));
            for (int64_t p = X->rowptr[r]; p < X->rowptr[r + 1]; p++) o[X->col[p]] = X->val[p];
        }
    }
}

static void vae_free_state(duet_ctx *ctx, void *st) {
    vae_state *s = st;
    if (!s) return;
    dt_free(ctx, s->theta);
    dt_free(ctx, s);
}

static int check_range(const dt_mat *X, duet_err *err) {
    size_t n = X->x ? (size_t)X->N * (size_t)X->D : (size_t)X->rowptr[X->N];
    const float *v = X->x ? X->x : X->val;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] >= 0.0f && v[i] <= 1.0f))
            return dt_err(err, DUET_EINVAL,
                          "vae models intensities in [0, 1] (images); this data has a feature value %g", (double)v[i]);
    return DUET_OK;
}

/* PyTorch's initialisation of nn.Linear, Conv2d and ConvTranspose2d: weights and biases
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in (x 16 for a 4x4 kernel; a transposed
 * convolution's counts its output channels, as PyTorch reads its weight's shape). */
typedef struct init_layer {
    size_t W, b;         /* offsets of the weights and the bias */
    int64_t nw, nb, fan; /* their sizes, and the fan-in */
} init_layer;

static void init_params(const vae_net *t, float *th, dt_rng *r) {
    init_layer L[7];
    int n = 0;
    if (t->conv) {
        L[n++] = (init_layer){t->c1, t->c1b, VC1 * 16, VC1, 16};
        L[n++] = (init_layer){t->c2, t->c2b, (int64_t)VC2 * VC1 * 16, VC2, VC1 * 16};
    } else {
        L[n++] = (init_layer){t->W1, t->b1, t->H * t->D, t->H, t->D};
    }
    L[n++] = (init_layer){t->Wmu, t->bmu, t->Z * t->H, t->Z, t->H};
    L[n++] = (init_layer){t->Wlv, t->blv, t->Z * t->H, t->Z, t->H};
    L[n++] = (init_layer){t->W3, t->b3, t->H * (t->Z + t->K), t->H, t->Z + t->K};
    if (t->conv) {
        L[n++] = (init_layer){t->t1, t->t1b, (int64_t)VC2 * VC1 * 16, VC1, VC1 * 16};
        L[n++] = (init_layer){t->t2, t->t2b, VC1 * 16, 1, 16};
    } else {
        L[n++] = (init_layer){t->W4, t->b4, t->D * t->H, t->D, t->H};
    }
    for (int l = 0; l < n; l++) {
        double bound = 1.0 / sqrt((double)L[l].fan);
        for (size_t i = 0; i < (size_t)L[l].nw; i++) th[L[l].W + i] = (float)((2 * dt_rng_uniform(r) - 1) * bound);
        for (size_t i = 0; i < (size_t)L[l].nb; i++) th[L[l].b + i] = (float)((2 * dt_rng_uniform(r) - 1) * bound);
    }
}

/* The conv architecture's image size, from the pipeline: multiples of 4. */
static int conv_size(const duet_model *m, const dt_mat *X, vae_net *t, duet_err *err) {
    int64_t H = 0, W = 0;
    float unscale;
    if (!dt_pipe_image(m->pipe, &H, &W, &unscale) || H % 4 || W % 4 || H < 4 || W < 4 || H > 4096 || W > 4096 ||
        H * W != X->D)
        return dt_err(err, DUET_EINVAL, "vae --arch conv needs images whose height and width are multiples of 4 (got %lldx%lld)",
                      (long long)H, (long long)W);
    t->conv = 1, t->IH = (int)H, t->IW = (int)W;
    return DUET_OK;
}

/* The Adam moments and row order of a checkpoint into mo, ve, order (allocated here) and its
 * model into *sp, for resuming; checks their sizes against the model and the data. */
static int resume_from(duet_ctx *ctx, const duet_model *m, const char *path, int64_t N, int epochs, vae_state **sp,
                       float **mo, float **ve, int64_t **order, dt_ckpt *c, duet_err *err) {
    c->nbuf = 3;
    c->buf[0] = (dt_ckpt_buf){"opt.m", DT_F32, NULL, 0};
    c->buf[1] = (dt_ckpt_buf){"opt.v", DT_F32, NULL, 0};
    c->buf[2] = (dt_ckpt_buf){"opt.order", DT_I64, NULL, (size_t)N};
    void *st = NULL;
    int rc = dt_ckpt_read(ctx, m, path, c, &st, err);
    *sp = st;
    *mo = c->buf[0].data, *ve = c->buf[1].data, *order = c->buf[2].data;
    if (!rc && (c->buf[0].n != (*sp)->nt.n || c->buf[1].n != (*sp)->nt.n))
        rc = dt_err(err, DUET_EFORMAT, "%s: Adam moments of %zu values for %zu parameters", path, c->buf[0].n, (*sp)->nt.n);
    if (!rc) rc = dt_ckpt_check_epoch(ctx, c, *order, N, epochs, path, err);
    return rc;
}

static int vae_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    const duet_train_params *p = a->p;
    const dt_mat *X = a->X;
    int rc = check_range(X, err);
    if (rc) return rc;
    int epochs = p->epochs ? p->epochs : 10, bs = p->batch ? p->batch : 128;
    double lr = p->lr ? p->lr : 1e-3;
    /* data-parallel: every process walks the same order of all processes' rows and draws the
     * same noise, works on its own rows of each batch, and the gradients are added */
    int dist = dt_distributed(ctx);
    int64_t N = X->N;
    if ((rc = dt_reduce_count(ctx, &N, err))) return rc; /* from here on N counts every process's rows */
    float *g = NULL, *mo = NULL, *ve = NULL, *xb = NULL, *eps = NULL, *gw[VAE_MAX_WORKERS] = {0};
    double *nel = NULL, *gd = NULL;
    int64_t *order = NULL, *lrow = NULL, *lpos = NULL;
    int32_t *yb = NULL;
    vae_state *s = NULL;
    dt_ckpt ck = {0};
    vae_work w[VAE_MAX_WORKERS];
    memset(w, 0, sizeof w);
    if (p->resume) { /* the architecture, weights and optimizer come from the checkpoint */
        rc = resume_from(ctx, m, p->resume, N, epochs, &s, &mo, &ve, &order, &ck, err);
        m->state = s;
        if (rc) goto fail;
        dt_log(ctx, 0, "vae: resuming %s at epoch %lld, image %lld", p->resume, (long long)ck.epoch, (long long)ck.pos);
    } else {
        if (!(s = dt_calloc(ctx, 1, sizeof *s))) return dt_err(err, DUET_ENOMEM, "vae: out of memory");
        m->state = s;
        s->nt.D = X->D;
        s->nt.H = p->hidden ? p->hidden : 400;
        s->nt.Z = p->latent ? p->latent : 20;
        s->nt.K = p->conditional ? a->K : 0;
        if (p->arch == DUET_ARCH_CONV) DT_TRY(conv_size(m, X, &s->nt, err));
        layout(&s->nt);
        s->theta = dt_alloc_e(ctx, s->nt.n, sizeof(float), "vae parameters", err);
        mo = dt_alloc_e(ctx, s->nt.n, sizeof(float), "vae", err);
        ve = dt_alloc_e(ctx, s->nt.n, sizeof(float), "vae", err);
        order = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "vae", err);
    }
    vae_net *t = &s->nt;
    /* data parallel: each worker (thread) takes a share of the batch's rows with its own
     * activations and gradient, which are summed; the noise is drawn for the whole batch first,
     * so the same seed gives the same model whatever the threads */
    int nw = dt_threads(ctx) < VAE_MAX_WORKERS ? dt_threads(ctx) : VAE_MAX_WORKERS;
    if (nw > bs / 16) nw = bs / 16 > 1 ? bs / 16 : 1;
    g = dt_alloc_e(ctx, t->n, sizeof(float), "vae gradient", err);
    xb = dt_alloc_e(ctx, (size_t)bs, (size_t)t->D * sizeof(float), "vae batch", err);
    yb = dt_alloc_e(ctx, (size_t)bs, sizeof(int32_t), "vae", err);
    nel = dt_alloc_e(ctx, (size_t)bs, sizeof(double), "vae", err);
    if (dist) {
        lrow = dt_alloc_e(ctx, (size_t)bs, sizeof(int64_t), "vae", err);
        lpos = dt_alloc_e(ctx, (size_t)bs, sizeof(int64_t), "vae", err);
        gd = dt_alloc_e(ctx, t->n + 1, sizeof(double), "vae", err);
    }
    if (!s->theta || !g || !mo || !ve || !xb || !order || !yb || !nel || (dist && (!lrow || !lpos || !gd))) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < nw; i++) {
        DT_TRY(work_new(ctx, t, (bs + nw - 1) / nw, &w[i], err));
        if (i && !(gw[i] = dt_alloc_e(ctx, t->n, sizeof(float), "vae gradient", err))) {
            rc = DUET_ENOMEM;
            goto fail;
        }
    }
    gw[0] = g;
    duet_ctx one = *ctx;
    one.n_threads = 1;
    const duet_ctx *wctx = nw > 1 ? &one : ctx;
    if (!(eps = dt_alloc_e(ctx, (size_t)bs, (size_t)t->Z * sizeof(float), "vae", err))) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    dt_ckpt_start(&ck, p->resume != NULL, ctx->seed);
    dt_rng r = ck.rng;
    int64_t step = ck.step, pos0 = ck.pos;
    int ep0 = (int)ck.epoch;
    if (!p->resume) {
        init_params(t, s->theta, &r);
        for (int64_t i = 0; i < N; i++) order[i] = i;
    }
    double t0 = dt_now(), loss = 0.0;
    int64_t seen = 0;
    for (int ep = ep0; ep <= epochs; ep++) {
        int cont = ep == ep0 && pos0 > 0; /* an epoch a checkpoint stopped in: its order and sum go on */
        if (!cont) dt_rng_shuffle(&r, order, N);
        double sum = cont ? ck.sum[0] : 0.0;
        for (int64_t b0 = cont ? pos0 : 0; b0 < N; b0 += bs) {
            int64_t B = N - b0 < bs ? N - b0 : bs, Bw = B; /* Bw: the rows worked on here */
            const int64_t *rows = order + b0;
            if (dist) { /* this process's rows of the batch */
                Bw = 0;
                for (int64_t i = 0; i < B; i++)
                    if (dt_row_here(ctx, order[b0 + i], &lrow[Bw])) lpos[Bw++] = i;
                rows = lrow;
            }
            gather(X, rows, Bw, xb);
            for (int64_t i = 0; i < Bw; i++) yb[i] = a->y[rows[i]];
            for (size_t i = 0; i < (size_t)B * (size_t)t->Z; i++) eps[i] = (float)dt_rng_normal(&r);
            for (int64_t i = 0; dist && i < Bw; i++) /* each row keeps the noise drawn for its place (lpos[i] >= i) */
                memmove(eps + (size_t)i * (size_t)t->Z, eps + (size_t)lpos[i] * (size_t)t->Z, (size_t)t->Z * sizeof(float));
#pragma omp parallel for schedule(static, 1) num_threads(nw) if (nw > 1)
            for (int i = 0; i < nw; i++) {
                int64_t r0 = Bw * i / nw, r1 = Bw * (i + 1) / nw;
                memcpy(w[i].eps, eps + (size_t)r0 * (size_t)t->Z, (size_t)(r1 - r0) * (size_t)t->Z * sizeof(float));
                const float *xi = xb + (size_t)r0 * (size_t)t->D;
                forward(wctx, t, s->theta, &w[i], xi, t->K ? yb + r0 : NULL, r1 - r0, nel + r0);
                backward(wctx, t, s->theta, gw[i], &w[i], xi, r1 - r0, 1.0f / (float)B);
            }
            if (nw > 1) {
#pragma omp parallel for schedule(static) num_threads(nw)
                for (size_t j = 0; j < t->n; j++)
                    for (int i = 1; i < nw; i++) g[j] += gw[i][j];
            }
            double bsum = 0;
            for (int64_t i = 0; i < Bw; i++) bsum += nel[i];
            if (dist && Bw == 0) memset(g, 0, t->n * sizeof(float));
            DT_TRY(dt_reduce_f32(ctx, g, t->n, &bsum, gd, err));
            sum += bsum;
            dt_adamw o = {(float)lr, 0.9f, 0.999f, 1e-8f, 0.0f, ++step};
            dt_adamw_step(dt_threads(ctx), &o, s->theta, g, mo, ve, t->n, 0);
            seen += B;
            if (p->checkpoint && p->checkpoint_every > 0 && step % p->checkpoint_every == 0 && ctx->dist_rank == 0) {
                dt_ckpt c = {.step = step, .epoch = ep, .pos = b0 + B, .sum = {sum, 0}, .rng = r, .nbuf = 3};
                c.buf[0] = (dt_ckpt_buf){"opt.m", DT_F32, mo, t->n};
                c.buf[1] = (dt_ckpt_buf){"opt.v", DT_F32, ve, t->n};
                c.buf[2] = (dt_ckpt_buf){"opt.order", DT_I64, order, (size_t)N};
                DT_TRY(dt_ckpt_write(ctx, m, &c, p->checkpoint, err));
            }
            DT_TRY(dt_check_abort(ctx, "vae training", err));
            if (a->verbose)
                dt_log(ctx, 2, "vae: epoch %d/%d  %lld/%lld images  %.1f s", ep, epochs, (long long)(b0 + B), (long long)N,
                       dt_now() - t0);
        }
        loss = sum / (double)N;
        if (a->verbose) dt_log(ctx, 0, "vae: epoch %d/%d train -ELBO %.2f nats/image (%.1f s)", ep, epochs, loss, dt_now() - t0);
    }
    dt_model_meta_set(m, "epochs", "%d", epochs);
    if (seen) dt_model_meta_set(m, "images_per_second", "%.0f", (double)seen / (dt_now() - t0));
    dt_model_meta_set(m, "train_nelbo", "%.3f", loss);
    if (t->conv)
        dt_model_meta_set(m, "architecture", "conv %dx%d -> %d -> %d x %d x %d -> %lld, and back%s", t->IH, t->IW, VC1, VC2,
                          t->IH / 4, t->IW / 4, (long long)t->Z, t->K ? ", conditional" : "");
    else
        dt_model_meta_set(m, "architecture", "%lld-%lld-%lld%s", (long long)t->D, (long long)t->H, (long long)t->Z,
                          t->K ? " conditional" : "");
fail:
    for (int i = 0; i < VAE_MAX_WORKERS; i++) {
        dt_free(ctx, w[i].mem);
        if (i) dt_free(ctx, gw[i]);
    }
    dt_free(ctx, eps);
    dt_free(ctx, g);
    dt_free(ctx, mo);
    dt_free(ctx, ve);
    dt_free(ctx, xb);
    dt_free(ctx, order);
    dt_free(ctx, yb);
    dt_free(ctx, nel);
    dt_free(ctx, lrow);
    dt_free(ctx, lpos);
    dt_free(ctx, gd);
    return rc;
}

/* -ELBO of every row of X for label y (all rows the same label k, or the row's own when k < 0
 * and labels are given), in chunks. */
static int nelbo_rows(duet_ctx *ctx, const duet_model *m, const dt_mat *X, int k, double *out, duet_err *err) {
    const vae_state *s = m->state;
    const vae_net *t = &s->nt;
    if (X->D != t->D) return dt_err(err, DUET_EINVAL, "vae: %lld features, the model has %lld", (long long)X->D, (long long)t->D);
    enum { CH = 256 };
    vae_work w;
    float *xb = dt_alloc_e(ctx, CH, (size_t)t->D * sizeof(float), "vae", err);
    int32_t yb[CH];
    int rc = xb ? work_new(ctx, t, CH, &w, err) : DUET_ENOMEM;
    if (rc) {
        dt_free(ctx, xb);
        return rc;
    }
    dt_rng r;
    dt_rng_seed(&r, ctx->seed ^ 0xe1b0u);
    for (int64_t b0 = 0; b0 < X->N; b0 += CH) {
        int64_t B = X->N - b0 < CH ? X->N - b0 : CH;
        for (int64_t i = 0; i < B; i++) {
            int64_t row = b0 + i;
            gather(X, &row, 1, xb + (size_t)i * (size_t)t->D);
            yb[i] = k < 0 ? 0 : k;
        }
        draw_eps(t, &w, B, &r);
        forward(ctx, t, s->theta, &w, xb, t->K ? yb : NULL, B, out + b0);
    }
    dt_free(ctx, xb);
    dt_free(ctx, w.mem);
    return DUET_OK;
}

/* For a conditional model, the ELBO of every row under every class: log-mean-exp over classes
 * into logp (log p(x) with a uniform prior over classes; may be NULL) and the posterior over
 * classes into P (N, K; may be NULL). */
static int class_elbos(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *logp, float *P, duet_err *err) {
    int K = (int)((const vae_state *)m->state)->nt.K;
    size_t N = (size_t)X->N;
    double *e = dt_alloc_e(ctx, N * (size_t)K, sizeof(double), "vae", err);
    if (!e) return DUET_ENOMEM;
    int rc = DUET_OK;
    for (int k = 0; k < K && !rc; k++) rc = nelbo_rows(ctx, m, X, k, e + (size_t)k * N, err);
    for (size_t i = 0; !rc && i < N; i++) {
        double mx = -INFINITY, sum = 0.0;
        for (int k = 0; k < K; k++) mx = fmax(mx, -e[(size_t)k * N + i]);
        for (int k = 0; k < K; k++) sum += exp(-e[(size_t)k * N + i] - mx);
        if (logp) logp[i] = mx + log(sum / K);
        for (int k = 0; P && k < K; k++) P[i * (size_t)K + (size_t)k] = (float)(exp(-e[(size_t)k * N + i] - mx) / sum);
    }
    dt_free(ctx, e);
    return rc;
}

static int vae_score(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *logp, duet_err *err) {
    const vae_state *s = m->state;
    if (s->nt.K) return class_elbos(ctx, m, X, logp, NULL, err); /* log sum_k p(k) exp(ELBO(x, k)) */
    int rc = nelbo_rows(ctx, m, X, -1, logp, err);
    for (int64_t i = 0; !rc && i < X->N; i++) logp[i] = -logp[i];
    return rc;
}

/* Conditional models classify by Bayes' rule: p(k|x) proportional to p(k) exp(ELBO(x, k)). */
static int vae_predict_proba(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *P, duet_err *err) {
    const vae_state *s = m->state;
    if (!s->nt.K) return dt_err(err, DUET_EUNSUPPORTED, "an unconditional vae cannot classify (train with --conditional)");
    return class_elbos(ctx, m, X, NULL, P, err);
}

static int vae_sample(duet_ctx *ctx, const duet_model *m, int *k, dt_rng *r, const duet_sample_opts *o, float *x,
                      duet_err *err) {
    (void)o;
    const vae_state *s = m->state;
    const vae_net *t = &s->nt;
    if (*k < 0) *k = (int)dt_rng_below(r, (uint64_t)m->K);
    vae_work w;
    int rc = work_new(ctx, t, 1, &w, err);
    if (rc) return rc;
    for (int64_t j = 0; j < t->Z; j++) w.zin[j] = (float)dt_rng_normal(r);
    for (int64_t c = 0; c < t->K; c++) w.zin[t->Z + c] = c == *k ? 1.0f : 0.0f;
    decode(ctx, t, s->theta, &w, 1);
    for (int64_t j = 0; j < t->D; j++) x[j] = 1.0f / (1.0f + expf(-w.logit[j]));
    dt_free(ctx, w.mem);
    return DUET_OK;
}

static int vae_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const vae_state *s = m->state;
    int rc = DUET_OK;
    DT_TRY(dt_st_metaf(w, err, "model.hidden", "%lld", (long long)s->nt.H));
    DT_TRY(dt_st_metaf(w, err, "model.latent", "%lld", (long long)s->nt.Z));
    DT_TRY(dt_st_metaf(w, err, "model.conditional", "%d", s->nt.K > 0));
    DT_TRY(dt_st_meta(w, "model.arch", s->nt.conv ? "conv" : "mlp", err));
    DT_TRY(dt_st_add1(w, "model.theta", DT_F32, (int64_t)s->nt.n, s->theta, err));
fail:
    return rc;
}

static int vae_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    int64_t H, Z, cond;
    int rc;
    if ((rc = dt_st_meta_i64(f, "model.hidden", 1, 1 << 20, &H, err)) || (rc = dt_st_meta_i64(f, "model.latent", 1, 1 << 16, &Z, err)) ||
        (rc = dt_st_meta_i64(f, "model.conditional", 0, 1, &cond, err)))
        return rc;
    const char *arch = dt_st_meta_get(f, "model.arch"); /* absent in files before the conv VAE: mlp */
    if (arch && strcmp(arch, "mlp") != 0 && strcmp(arch, "conv") != 0)
        return dt_err(err, DUET_EFORMAT, "%s: metadata 'model.arch' is '%s', not mlp or conv", dt_st_name(f), arch);
    vae_net nt = {.D = m->D, .H = H, .Z = Z, .K = cond ? m->K : 0};
    if (arch && strcmp(arch, "conv") == 0) {
        int64_t ih = 0, iw = 0;
        float unscale;
        if (!dt_pipe_image(m->pipe, &ih, &iw, &unscale) || ih % 4 || iw % 4 || ih < 4 || iw < 4 || ih > 4096 ||
            iw > 4096 || ih * iw != m->D)
            return dt_err(err, DUET_EFORMAT, "%s: a convolutional vae without an image pipeline of multiples of 4",
                          dt_st_name(f));
        nt.conv = 1, nt.IH = (int)ih, nt.IW = (int)iw;
    }
    layout(&nt);
    if (nt.H != H) return dt_err(err, DUET_EFORMAT, "%s: 'model.hidden' %lld does not fit the conv shapes (%lld)", dt_st_name(f),
                                 (long long)H, (long long)nt.H);
    vae_state *s = dt_calloc(ctx, 1, sizeof *s);
    if (!s) return dt_err(err, DUET_ENOMEM, "vae: out of memory");
    s->nt = nt;
    int64_t shape[1] = {(int64_t)s->nt.n};
    const void *data;
    rc = dt_st_get(f, "model.theta", DT_F32, 1, shape, &data, NULL, err);
    if (!rc) {
        s->theta = dt_alloc_e(ctx, s->nt.n, sizeof(float), "vae parameters", err);
        if (!s->theta) rc = DUET_ENOMEM;
        else memcpy(s->theta, data, s->nt.n * sizeof(float));
    }
    if (rc) {
        vae_free_state(ctx, s);
        return rc;
    }
    m->state = s;
    return DUET_OK;
}

/* --- gradient check (tests) ------------------------------------------------------------------ */

/* Sum over a batch of the -ELBO with fixed noise, and its gradient into g (when not NULL). */
static double batch_loss(const duet_ctx *ctx, const vae_net *t, const float *th, vae_work *w, const float *X,
                         const int32_t *y, const float *eps, int64_t B, float *g) {
    double nel[4], sum = 0.0;
    memcpy(w->eps, eps, (size_t)B * (size_t)t->Z * sizeof(float));
    forward(ctx, t, th, w, X, t->K ? y : NULL, B, nel);
    for (int64_t i = 0; i < B; i++) sum += nel[i];
    if (g) backward(ctx, t, th, g, w, X, B, 1.0f);
    return sum;
}

int dt_vae_gradcheck(duet_ctx *ctx, int conv, int K, double *worst, duet_err *err) {
    enum { B = 3, S = 8 };
    vae_net t = {.D = S * S, .H = 6, .Z = 3, .K = K, .conv = conv, .IH = S, .IW = S};
    layout(&t);
    vae_work w = {0};
    float *th = dt_calloc(ctx, t.n, sizeof(float)), *g = dt_calloc(ctx, t.n, sizeof(float));
    float *X = dt_calloc(ctx, B * S * S, sizeof(float)), *eps = dt_calloc(ctx, B * (size_t)t.Z, sizeof(float));
    int rc = th && g && X && eps ? work_new(ctx, &t, B, &w, err) : dt_err(err, DUET_ENOMEM, "vae: out of memory");
    if (!rc) {
        dt_rng r;
        dt_rng_seed(&r, 11);
        init_params(&t, th, &r);
        for (size_t i = 0; i < B * S * S; i++) X[i] = (float)dt_rng_uniform(&r);
        for (size_t i = 0; i < B * (size_t)t.Z; i++) eps[i] = (float)dt_rng_normal(&r);
        int32_t y[B] = {0, K > 1 ? 1 : 0, 0};
        double f0 = batch_loss(ctx, &t, th, &w, X, y, eps, B, g), bad = 0.0;
        int checked = 0;
        for (int m = 0; m < 200 && checked < 60; m++) {
            size_t i = m < 20 ? (size_t)m * t.n / 20 : (size_t)dt_rng_below(&r, t.n);
            const float h = 1e-2f;
            float keep = th[i];
            th[i] = keep + h;
            double up = batch_loss(ctx, &t, th, &w, X, y, eps, B, NULL);
            th[i] = keep - h;
            double dn = batch_loss(ctx, &t, th, &w, X, y, eps, B, NULL);
            th[i] = keep;
            /* a ReLU that switches inside [-h, h] bends the loss there: the two one-sided slopes
             * then disagree, and the parameter is left out (the sum is smooth elsewhere) */
            if (fabs((up - f0) - (f0 - dn)) > 0.05 * fabs(up - dn) + 3e-4) continue;
            checked++;
            double num = (up - dn) / (2 * h), e = fabs(num - g[i]) / (2e-2 + 3e-2 * fabs(g[i]));
            if (e > bad) bad = e;
        }
        *worst = checked >= 30 ? bad : 99; /* <= 1: every sampled gradient within tolerance */
    }
    dt_free(ctx, w.mem);
    dt_free(ctx, th);
    dt_free(ctx, g);
    dt_free(ctx, X);
    dt_free(ctx, eps);
    return rc;
}

static const dt_option vae_options[] = {
    {"--latent", "latent dimensions (default 20)"},
    {"--arch", "mlp (default: PyTorch examples' 784-400-20) or conv (4x4 stride-2 convolutions)"},
    {"--conditional", "learn p(x|y): draw a chosen class, and classify by Bayes' rule"},
    {"--hidden", "hidden units (default 400)"},
    {"--epochs", "epochs (default 10)"},
    {"--batch", "mini-batch (default 128)"},
    {"--lr", "Adam step (default 1e-3)"},
    {"--checkpoint", "checkpoint file (weights, optimizer, position, random state)"},
    {"--checkpoint-every", "write --checkpoint every N optimizer steps (default 500)"},
    {"--resume", "continue training from a checkpoint (same data and settings): ends as an uninterrupted run"},
    {NULL, NULL},
};

const dt_model_ops dt_vae_ops = {
    .options = vae_options,
    .distributed = 1,
    .name = "vae",
    .learns = "p(x), or p(x|y)p(y) when conditional",
    .caps = DUET_CAN_SAMPLE | DUET_CAN_SCORE | DUET_CAN_PREDICT,
    .score_name = "elbo",
    .about = "variational autoencoder for images (MLP or --arch conv encoder and decoder, Bernoulli pixels); --conditional learns p(x|y)",
    .fit = vae_fit,
    .predict_proba = vae_predict_proba,
    .score = vae_score,
    .sample = vae_sample,
    .save = vae_save,
    .load = vae_load,
    .free_state = vae_free_state,
    .resumable = 1,
    .title = "the conditional VAE",
    .compare_on = 1u << DUET_DATA_DENSE,
    .compare_conditional = 1,
    .archs = 1,
};
