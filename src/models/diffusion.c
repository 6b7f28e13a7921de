/* diffusion.c — a denoising diffusion probabilistic model for images (Ho et al. 2020), class-
 * conditional with classifier-free guidance (Ho & Salimans 2022) when --conditional.
 *
 * Forward process: T = 1000 steps, betas linear from 1e-4 to 0.02, abar_t = prod (1 - beta_s);
 * x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps with pixels mapped from [0, 1] to [-1, 1].
 * The network predicts eps; the loss is its mean squared error over pixels and the batch.
 *
 * Network: a small U-Net for H, W multiples of 4, base width C (--hidden, default 32):
 *   conv3x3 1->C; Res(C)                                  [skip a, H x W]
 *   conv3x3 stride 2 C->2C; Res(2C)                       [skip b, H/2]
 *   conv3x3 stride 2 2C->2C; Res(2C)                      (middle, H/4)
 *   upsample2x + conv3x3 2C->2C; concat b; conv3x3 4C->2C; Res(2C)
 *   upsample2x + conv3x3 2C->C;  concat a; conv3x3 2C->C;  Res(C)
 *   GroupNorm + SiLU; conv3x3 C->1
 * Res(x, e) = x + conv(SiLU(GN(conv(SiLU(GN(x))) + Linear(e)))), GN with the largest group
 * count <= 8 that divides the channels (eps 1e-5); e = SiLU(emb), emb = Linear(SiLU(Linear(
 * sinusoidal(t) (C), 4C)), 4C) + a learned class table of K+1 rows (row K = "no class"; an
 * unconditional model always uses it). One ResBlock per level (the simplification allowed).
 *
 * Training: Adam (lr 1e-3, linear warm-up over min(500, a quarter of the steps)), gradient
 * norm clipped to 1, the class dropped to the null row with probability 0.1 when
 * conditional; an exponential moving average of the weights (decay min(0.999, (1+s)/(10+s)))
 * is what is kept, saved and sampled from. Output conv and every ResBlock's second conv start
 * at zero, so the network starts as the identity plus a zero prediction (loss ~1).
 *
 * Sampling (one image per call, the api's contract): DDPM ancestral steps (all T, or a
 * strided schedule of o->steps) with the posterior variance and x0 clipped to [-1, 1], or
 * DDIM with eta 0 (o->ddim, default 50 steps); timesteps t_i = floor((i+1) T / S) - 1.
 * Guidance: eps = (1 + w) eps(x, t, y) - w eps(x, t, null), w = o->guidance or 2.
 * Not here: the layers (src/nn/conv.c), the pixel scaling (the feature pipeline).
 */
#include "diffusion.h"

#include <math.h>

#include "../core/gemm.h"
#include "../nn/conv.h"
#include "../nn/nn.h"
#include "model.h"

#define DF_T 1000
#define DF_MAXSEG 96

/* offsets of one ResBlock's parameters: GN1 (gamma, beta), conv1 (w, b), Linear(E -> ch) (w, b),
 * GN2, conv2 */
typedef struct rb_par {
    size_t g1, be1, w1, b1, lw, lb, g2, be2, w2, b2;
} rb_par;

typedef struct df_net {
    int H, W, C, K, T, E; /* image, base width, classes (0: unconditional), steps, embedding size */
    size_t tw1, tb1, tw2, tb2, cls;          /* time MLP (E, C) (E) (E, E) (E); class table (K+1, E) */
    size_t in_w, in_b;                        /* conv 1 -> C */
    rb_par rb[5];                             /* C @ H; 2C @ H/2; 2C @ H/4; 2C @ H/2; C @ H */
    size_t d1_w, d1_b, d2_w, d2_b;            /* down convs */
    size_t u1_w, u1_b, k1_w, k1_b;            /* up 2C -> 2C, merge 4C -> 2C */
    size_t u2_w, u2_b, k2_w, k2_b;            /* up 2C -> C, merge 2C -> C */
    size_t go_g, go_b, out_w, out_b;          /* final GN, conv C -> 1 */
    size_t n;
    size_t seg[DF_MAXSEG + 1];                /* tensor starts, seg[nseg] = n (gradient check) */
    int nseg;
} df_net;

typedef struct df_state {
    df_net nt;
    float *theta; /* the moving average of the trained weights */
} df_state;

static size_t take(df_net *t, size_t n) {
    size_t o = t->n;
    if (t->nseg < DF_MAXSEG) t->seg[t->nseg++] = o;
    t->n += n;
    t->seg[t->nseg] = t->n;
    return o;
}

static int rb_ch(const df_net *t, int i) { return i == 0 || i == 4 ? t->C : 2 * t->C; }
static int rb_hw(const df_net *t, int i) {
    int hw = t->H * t->W;
    return i == 0 || i == 4 ? hw : i == 2 ? hw / 16 : hw / 4;
}
static int rb_h(const df_net *t, int i) { return i == 0 || i == 4 ? t->H : i == 2 ? t->H / 4 : t->H / 2; }
static int rb_w(const df_net *t, int i) { return i == 0 || i == 4 ? t->W : i == 2 ? t->W / 4 : t->W / 2; }

static int groups(int ch) {
    for (int g = 8; g > 1; g--)
        if (ch % g == 0) return g;
    return 1;
}

static void layout(df_net *t) {
    size_t C = (size_t)t->C, E = (size_t)t->E;
    t->n = 0, t->nseg = 0;
    t->tw1 = take(t, E * C), t->tb1 = take(t, E), t->tw2 = take(t, E * E), t->tb2 = take(t, E);
    t->cls = take(t, (size_t)(t->K + 1) * E);
    t->in_w = take(t, C * 9), t->in_b = take(t, C);
    for (int i = 0; i < 5; i++) {
        size_t c = (size_t)rb_ch(t, i);
        rb_par *r = &t->rb[i];
        r->g1 = take(t, c), r->be1 = take(t, c), r->w1 = take(t, c * c * 9), r->b1 = take(t, c);
        r->lw = take(t, c * E), r->lb = take(t, c);
        r->g2 = take(t, c), r->be2 = take(t, c), r->w2 = take(t, c * c * 9), r->b2 = take(t, c);
    }
    t->d1_w = take(t, 2 * C * C * 9), t->d1_b = take(t, 2 * C);
    t->d2_w = take(t, 4 * C * C * 9), t->d2_b = take(t, 2 * C);
    t->u1_w = take(t, 4 * C * C * 9), t->u1_b = take(t, 2 * C);
    t->k1_w = take(t, 8 * C * C * 9), t->k1_b = take(t, 2 * C);
    t->u2_w = take(t, 2 * C * C * 9), t->u2_b = take(t, C);
    t->k2_w = take(t, 2 * C * C * 9), t->k2_b = take(t, C);
    t->go_g = take(t, C), t->go_b = take(t, C);
    t->out_w = take(t, C * 9), t->out_b = take(t, 1);
}

static dt_conv_shape cs(int B, int Ci, int H, int W, int Co, int stride) {
    return (dt_conv_shape){B, Ci, H, W, Co, 3, 3, stride, 1};
}

/* Activations of one ResBlock (B, ch, hw each) and its group statistics. */
typedef struct rb_work {
    float *n1, *a1, *c1, *n2, *a2, *out, *lin;
    float *m1, *r1, *m2, *r2;
} rb_work;

typedef struct df_work {
    int B;
    float *xin, *tt, *sin, *e1, *s1, *emb, *semb; /* input, times, embedding chain */
    float *h0, *d1, *d2, *up1, *u1, *cat1, *k1, *up2, *u2, *cat2, *k2, *gno, *so, *out, *gm, *gr;
    rb_work rb[5];
    float *gA, *gB, *s1b, *s2b, *ds1, *ds2, *dout; /* gradients */
    float *dsemb, *demb, *ds1e, *de1;
    float *conv;
    float *mem;
} df_work;

static int work_new(duet_ctx *ctx, const df_net *t, int B, df_work *w, duet_err *err) {
    memset(w, 0, sizeof *w);
    size_t b = (size_t)B, C = (size_t)t->C, E = (size_t)t->E, hw = (size_t)t->H * (size_t)t->W, q = hw / 4,
           r = hw / 16, M = b * 2 * C * hw;
    dt_conv_shape sh[] = {cs(B, 1, t->H, t->W, t->C, 1),           cs(B, t->C, t->H, t->W, t->C, 1),
                          cs(B, t->C, t->H, t->W, 2 * t->C, 2),    cs(B, 2 * t->C, t->H / 2, t->W / 2, 2 * t->C, 1),
                          cs(B, 2 * t->C, t->H / 2, t->W / 2, 2 * t->C, 2), cs(B, 2 * t->C, t->H / 4, t->W / 4, 2 * t->C, 1),
                          cs(B, 4 * t->C, t->H / 2, t->W / 2, 2 * t->C, 1), cs(B, 2 * t->C, t->H, t->W, t->C, 1),
                          cs(B, t->C, t->H, t->W, 1, 1)};
    size_t cw = 0;
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) cw = dt_conv_work(&sh[i]) > cw ? dt_conv_work(&sh[i]) : cw;
    size_t G = 8;
    struct { float **p; size_t n; } parts[128]; /* 90 used */
    size_t np = 0;
#define PART(ptr, cnt) (parts[np].p = &(ptr), parts[np].n = (cnt), np++)
    PART(w->xin, b * hw), PART(w->tt, b), PART(w->sin, b * C), PART(w->e1, b * E), PART(w->s1, b * E);
    PART(w->emb, b * E), PART(w->semb, b * E);
    PART(w->h0, b * C * hw), PART(w->d1, b * 2 * C * q), PART(w->d2, b * 2 * C * r), PART(w->up1, b * 2 * C * q);
    PART(w->u1, b * 2 * C * q), PART(w->cat1, b * 4 * C * q), PART(w->k1, b * 2 * C * q), PART(w->up2, b * 2 * C * hw);
    PART(w->u2, b * C * hw), PART(w->cat2, b * 2 * C * hw), PART(w->k2, b * C * hw), PART(w->gno, b * C * hw);
    PART(w->so, b * C * hw), PART(w->out, b * hw), PART(w->gm, b * G), PART(w->gr, b * G);
    for (int i = 0; i < 5; i++) {
        size_t n = b * (size_t)rb_ch(t, i) * (size_t)rb_hw(t, i);
        rb_work *k = &w->rb[i];
        PART(k->n1, n), PART(k->a1, n), PART(k->c1, n), PART(k->n2, n), PART(k->a2, n), PART(k->out, n);
        PART(k->lin, b * (size_t)rb_ch(t, i));
        PART(k->m1, b * G), PART(k->r1, b * G), PART(k->m2, b * G), PART(k->r2, b * G);
    }
    PART(w->gA, M), PART(w->gB, M), PART(w->s1b, M), PART(w->s2b, M), PART(w->ds1, b * C * hw);
    PART(w->ds2, b * 2 * C * q), PART(w->dout, b * hw);
    PART(w->dsemb, b * E), PART(w->demb, b * E), PART(w->ds1e, b * E), PART(w->de1, b * E);
    PART(w->conv, cw);
#undef PART
    size_t total = 0;
    for (size_t i = 0; i < np; i++) total += parts[i].n;
    w->mem = dt_alloc_e(ctx, total, sizeof(float), "diffusion batch", err);
    if (!w->mem) return DUET_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < np; i++) *parts[i].p = w->mem + off, off += parts[i].n;
    w->B = B;
    return DUET_OK;
}

/* y (B, out) = x (B, in) W^T + b */
static void dense(const duet_ctx *ctx, float *y, const float *x, const float *W, const float *b, int B, int in, int out) {
    for (int i = 0; i < B; i++) memcpy(y + (size_t)i * (size_t)out, b, (size_t)out * sizeof(float));
    dt_gemm(ctx, y, out, x, in, 0, W, in, 1, 1.0f, 1.0f, B, out, in);
}

/* dW (out, in) += dy^T x; db += column sums of dy; dx (B, in) = dy W (+= when acc). */
static void dense_bwd(const duet_ctx *ctx, const float *dy, const float *x, const float *W, float *dW, float *db,
                      float *dx, int acc, int B, int in, int out) {
    dt_gemm(ctx, dW, in, dy, out, 1, x, in, 0, 1.0f, 1.0f, out, in, B);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < out; j++) db[j] += dy[(size_t)i * (size_t)out + (size_t)j];
    if (dx) dt_gemm(ctx, dx, in, dy, out, 0, W, in, 0, 1.0f, acc ? 1.0f : 0.0f, B, in, out);
}

static void rb_fwd(const duet_ctx *ctx, const df_net *t, const float *th, df_work *w, int i, const float *x, int B) {
    const rb_par *p = &t->rb[i];
    rb_work *k = &w->rb[i];
    int nth = dt_threads(ctx), ch = rb_ch(t, i), hw = rb_hw(t, i), G = groups(ch);
    size_t n = (size_t)B * (size_t)ch * (size_t)hw;
    dt_conv_shape s = cs(B, ch, rb_h(t, i), rb_w(t, i), ch, 1);
    dt_groupnorm_fwd(nth, x, th + p->g1, th + p->be1, k->n1, k->m1, k->r1, B, ch, hw, G, 1e-5f);
    dt_act_fwd(nth, DT_ACT_SILU, k->n1, k->a1, n);
    dt_conv2d_fwd(ctx, &s, k->a1, th + p->w1, th + p->b1, k->c1, w->conv);
    dense(ctx, k->lin, w->semb, th + p->lw, th + p->lb, B, t->E, ch);
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < ch; c++) {
            float v = k->lin[(size_t)b * (size_t)ch + (size_t)c], *q = k->c1 + ((size_t)b * (size_t)ch + (size_t)c) * (size_t)hw;
            for (int j = 0; j < hw; j++) q[j] += v;
        }
    dt_groupnorm_fwd(nth, k->c1, th + p->g2, th + p->be2, k->n2, k->m2, k->r2, B, ch, hw, G, 1e-5f);
    dt_act_fwd(nth, DT_ACT_SILU, k->n2, k->a2, n);
    dt_conv2d_fwd(ctx, &s, k->a2, th + p->w2, th + p->b2, k->out, w->conv);
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (size_t j = 0; j < n; j++) k->out[j] += x[j];
}

/* dx = dout + the block's share; dx may be dout; x is the block's input. */
static void rb_bwd(const duet_ctx *ctx, const df_net *t, const float *th, float *g, df_work *w, int i, const float *x,
                   const float *dout, float *dx, int B) {
    const rb_par *p = &t->rb[i];
    rb_work *k = &w->rb[i];
    int nth = dt_threads(ctx), ch = rb_ch(t, i), hw = rb_hw(t, i), G = groups(ch);
    size_t n = (size_t)B * (size_t)ch * (size_t)hw;
    dt_conv_shape s = cs(B, ch, rb_h(t, i), rb_w(t, i), ch, 1);
    float *s1 = w->s1b, *s2 = w->s2b;
    dt_conv2d_bwd(ctx, &s, dout, k->a2, th + p->w2, s1, g + p->w2, g + p->b2, w->conv);
    dt_act_bwd(nth, DT_ACT_SILU, s1, k->n2, s1, n);
    dt_groupnorm_bwd(nth, s1, k->c1, th + p->g2, k->m2, k->r2, s2, g + p->g2, g + p->be2, B, ch, hw, G);
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < ch; c++) {
            const float *q = s2 + ((size_t)b * (size_t)ch + (size_t)c) * (size_t)hw;
            k->lin[(size_t)b * (size_t)ch + (size_t)c] = (float)dt_sum_d(q, (size_t)hw); /* now d lin */
        }
    dense_bwd(ctx, k->lin, w->semb, th + p->lw, g + p->lw, g + p->lb, w->dsemb, 1, B, t->E, ch);
    dt_conv2d_bwd(ctx, &s, s2, k->a1, th + p->w1, s1, g + p->w1, g + p->b1, w->conv);
    dt_act_bwd(nth, DT_ACT_SILU, s1, k->n1, s1, n);
    dt_groupnorm_bwd(nth, s1, x, th + p->g1, k->m1, k->r1, s2, g + p->g1, g + p->be1, B, ch, hw, G);
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (size_t j = 0; j < n; j++) dx[j] = dout[j] + s2[j];
}

/* dst (B, ca + cb, hw) = [a (B, ca, hw), b (B, cb, hw)] */
static void concat(int nth, float *dst, const float *a, int ca, const float *b, int cb, int B, int hw) {
    size_t na = (size_t)ca * (size_t)hw, nb = (size_t)cb * (size_t)hw;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (int i = 0; i < B; i++) {
        memcpy(dst + (size_t)i * (na + nb), a + (size_t)i * na, na * sizeof(float));
        memcpy(dst + (size_t)i * (na + nb) + na, b + (size_t)i * nb, nb * sizeof(float));
    }
}

static void split(int nth, const float *src, float *a, int ca, float *b, int cb, int B, int hw) {
    size_t na = (size_t)ca * (size_t)hw, nb = (size_t)cb * (size_t)hw;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (int i = 0; i < B; i++) {
        memcpy(a + (size_t)i * na, src + (size_t)i * (na + nb), na * sizeof(float));
        memcpy(b + (size_t)i * nb, src + (size_t)i * (na + nb) + na, nb * sizeof(float));
    }
}

/* eps prediction w->out (B, 1, H, W) for w->xin at times w->tt and class rows y (0..K). */
static void net_fwd(const duet_ctx *ctx, const df_net *t, const float *th, df_work *w, const int32_t *y, int B) {
    int nth = dt_threads(ctx), C = t->C, E = t->E, H = t->H, W = t->W, hw = H * W;
    dt_time_embedding(w->tt, B, C, w->sin);
    dense(ctx, w->e1, w->sin, th + t->tw1, th + t->tb1, B, C, E);
    dt_act_fwd(nth, DT_ACT_SILU, w->e1, w->s1, (size_t)B * (size_t)E);
    dense(ctx, w->emb, w->s1, th + t->tw2, th + t->tb2, B, E, E);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < E; j++) w->emb[(size_t)b * (size_t)E + (size_t)j] += th[t->cls + (size_t)y[b] * (size_t)E + (size_t)j];
    dt_act_fwd(nth, DT_ACT_SILU, w->emb, w->semb, (size_t)B * (size_t)E);

    dt_conv_shape s;
    s = cs(B, 1, H, W, C, 1), dt_conv2d_fwd(ctx, &s, w->xin, th + t->in_w, th + t->in_b, w->h0, w->conv);
    rb_fwd(ctx, t, th, w, 0, w->h0, B);
    s = cs(B, C, H, W, 2 * C, 2), dt_conv2d_fwd(ctx, &s, w->rb[0].out, th + t->d1_w, th + t->d1_b, w->d1, w->conv);
    rb_fwd(ctx, t, th, w, 1, w->d1, B);
    s = cs(B, 2 * C, H / 2, W / 2, 2 * C, 2), dt_conv2d_fwd(ctx, &s, w->rb[1].out, th + t->d2_w, th + t->d2_b, w->d2, w->conv);
    rb_fwd(ctx, t, th, w, 2, w->d2, B);
    dt_upsample2x_fwd(nth, w->rb[2].out, w->up1, B, 2 * C, H / 4, W / 4);
    s = cs(B, 2 * C, H / 2, W / 2, 2 * C, 1), dt_conv2d_fwd(ctx, &s, w->up1, th + t->u1_w, th + t->u1_b, w->u1, w->conv);
    concat(nth, w->cat1, w->u1, 2 * C, w->rb[1].out, 2 * C, B, hw / 4);
    s = cs(B, 4 * C, H / 2, W / 2, 2 * C, 1), dt_conv2d_fwd(ctx, &s, w->cat1, th + t->k1_w, th + t->k1_b, w->k1, w->conv);
    rb_fwd(ctx, t, th, w, 3, w->k1, B);
    dt_upsample2x_fwd(nth, w->rb[3].out, w->up2, B, 2 * C, H / 2, W / 2);
    s = cs(B, 2 * C, H, W, C, 1), dt_conv2d_fwd(ctx, &s, w->up2, th + t->u2_w, th + t->u2_b, w->u2, w->conv);
    concat(nth, w->cat2, w->u2, C, w->rb[0].out, C, B, hw);
    s = cs(B, 2 * C, H, W, C, 1), dt_conv2d_fwd(ctx, &s, w->cat2, th + t->k2_w, th + t->k2_b, w->k2, w->conv);
    rb_fwd(ctx, t, th, w, 4, w->k2, B);
    dt_groupnorm_fwd(nth, w->rb[4].out, th + t->go_g, th + t->go_b, w->gno, w->gm, w->gr, B, C, hw, groups(C), 1e-5f);
    dt_act_fwd(nth, DT_ACT_SILU, w->gno, w->so, (size_t)B * (size_t)C * (size_t)hw);
    s = cs(B, C, H, W, 1, 1), dt_conv2d_fwd(ctx, &s, w->so, th + t->out_w, th + t->out_b, w->out, w->conv);
}

/* Gradients of every parameter added into g from w->dout (after net_fwd). */
static void net_bwd(const duet_ctx *ctx, const df_net *t, const float *th, float *g, df_work *w, const int32_t *y, int B) {
    int nth = dt_threads(ctx), C = t->C, E = t->E, H = t->H, W = t->W, hw = H * W;
    size_t nE = (size_t)B * (size_t)E;
    float *gA = w->gA, *gB = w->gB;
    memset(w->dsemb, 0, nE * sizeof(float));
    dt_conv_shape s;
    s = cs(B, C, H, W, 1, 1), dt_conv2d_bwd(ctx, &s, w->dout, w->so, th + t->out_w, gA, g + t->out_w, g + t->out_b, w->conv);
    dt_act_bwd(nth, DT_ACT_SILU, gA, w->gno, gA, (size_t)B * (size_t)C * (size_t)hw);
    dt_groupnorm_bwd(nth, gA, w->rb[4].out, th + t->go_g, w->gm, w->gr, gB, g + t->go_g, g + t->go_b, B, C, hw, groups(C));
    rb_bwd(ctx, t, th, g, w, 4, w->k2, gB, gA, B);
    s = cs(B, 2 * C, H, W, C, 1), dt_conv2d_bwd(ctx, &s, gA, w->cat2, th + t->k2_w, gB, g + t->k2_w, g + t->k2_b, w->conv);
    split(nth, gB, gA, C, w->ds1, C, B, hw);
    s = cs(B, 2 * C, H, W, C, 1), dt_conv2d_bwd(ctx, &s, gA, w->up2, th + t->u2_w, gB, g + t->u2_w, g + t->u2_b, w->conv);
    dt_upsample2x_bwd(nth, gB, gA, B, 2 * C, H / 2, W / 2);
    rb_bwd(ctx, t, th, g, w, 3, w->k1, gA, gB, B);
    s = cs(B, 4 * C, H / 2, W / 2, 2 * C, 1), dt_conv2d_bwd(ctx, &s, gB, w->cat1, th + t->k1_w, gA, g + t->k1_w, g + t->k1_b, w->conv);
    split(nth, gA, gB, 2 * C, w->ds2, 2 * C, B, hw / 4);
    s = cs(B, 2 * C, H / 2, W / 2, 2 * C, 1), dt_conv2d_bwd(ctx, &s, gB, w->up1, th + t->u1_w, gA, g + t->u1_w, g + t->u1_b, w->conv);
    dt_upsample2x_bwd(nth, gA, gB, B, 2 * C, H / 4, W / 4);
    rb_bwd(ctx, t, th, g, w, 2, w->d2, gB, gA, B);
    s = cs(B, 2 * C, H / 2, W / 2, 2 * C, 2), dt_conv2d_bwd(ctx, &s, gA, w->rb[1].out, th + t->d2_w, gB, g + t->d2_w, g + t->d2_b, w->conv);
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (size_t j = 0; j < (size_t)B * 2 * (size_t)C * (size_t)hw / 4; j++) gB[j] += w->ds2[j];
    rb_bwd(ctx, t, th, g, w, 1, w->d1, gB, gA, B);
    s = cs(B, C, H, W, 2 * C, 2), dt_conv2d_bwd(ctx, &s, gA, w->rb[0].out, th + t->d1_w, gB, g + t->d1_w, g + t->d1_b, w->conv);
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (size_t j = 0; j < (size_t)B * (size_t)C * (size_t)hw; j++) gB[j] += w->ds1[j];
    rb_bwd(ctx, t, th, g, w, 0, w->h0, gB, gA, B);
    s = cs(B, 1, H, W, C, 1), dt_conv2d_bwd(ctx, &s, gA, w->xin, th + t->in_w, NULL, g + t->in_w, g + t->in_b, w->conv);
    /* the embedding */
    dt_act_bwd(nth, DT_ACT_SILU, w->dsemb, w->emb, w->demb, nE);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < E; j++) g[t->cls + (size_t)y[b] * (size_t)E + (size_t)j] += w->demb[(size_t)b * (size_t)E + (size_t)j];
    dense_bwd(ctx, w->demb, w->s1, th + t->tw2, g + t->tw2, g + t->tb2, w->ds1e, 0, B, E, E);
    dt_act_bwd(nth, DT_ACT_SILU, w->ds1e, w->e1, w->de1, nE);
    dense_bwd(ctx, w->de1, w->sin, th + t->tw1, g + t->tw1, g + t->tb1, NULL, 0, B, C, E);
}

/* Noise-prediction loss of x0 (B, hw in [-1, 1]) at times tt with noise eps and class rows y:
 * the mean squared error; with g, its gradient added into g. */
static double loss_step(const duet_ctx *ctx, const df_net *t, const float *th, float *g, df_work *w, const double *abar,
                        const float *x0, const float *eps, const int32_t *tt, const int32_t *y, int B) {
    size_t hw = (size_t)t->H * (size_t)t->W;
    for (int b = 0; b < B; b++) {
        float sa = (float)sqrt(abar[tt[b]]), sn = (float)sqrt(1.0 - abar[tt[b]]);
        for (size_t j = 0; j < hw; j++) w->xin[(size_t)b * hw + j] = sa * x0[(size_t)b * hw + j] + sn * eps[(size_t)b * hw + j];
        w->tt[b] = (float)tt[b];
    }
    net_fwd(ctx, t, th, w, y, B);
    double loss = 0.0;
    float sc = 2.0f / (float)((size_t)B * hw);
    for (size_t j = 0; j < (size_t)B * hw; j++) {
        float d = w->out[j] - eps[j];
        loss += (double)d * d;
        w->dout[j] = sc * d;
    }
    if (g) net_bwd(ctx, t, th, g, w, y, B);
    return loss / (double)((size_t)B * hw);
}

static void schedule(int T, double *abar) {
    double a = 1.0;
    for (int i = 0; i < T; i++) {
        double beta = 1e-4 + (0.02 - 1e-4) * i / (T > 1 ? T - 1 : 1);
        a *= 1.0 - beta;
        abar[i] = a;
    }
}

static void init_uniform(dt_rng *r, float *p, size_t n, size_t fan_in) {
    double b = 1.0 / sqrt((double)fan_in);
    for (size_t i = 0; i < n; i++) p[i] = (float)((2 * dt_rng_uniform(r) - 1) * b);
}

/* PyTorch's defaults: U(+-1/sqrt(fan_in)) for convs and linears, GN gamma 1 beta 0, the class
 * table N(0, 1); the output conv and each ResBlock's second conv start at zero. */
static void init_params(const df_net *t, float *th, dt_rng *r) {
    size_t C = (size_t)t->C, E = (size_t)t->E;
    memset(th, 0, t->n * sizeof(float));
    init_uniform(r, th + t->tw1, E * C, C), init_uniform(r, th + t->tb1, E, C);
    init_uniform(r, th + t->tw2, E * E, E), init_uniform(r, th + t->tb2, E, E);
    for (size_t i = 0; i < (size_t)(t->K + 1) * E; i++) th[t->cls + i] = (float)dt_rng_normal(r);
    init_uniform(r, th + t->in_w, C * 9, 9), init_uniform(r, th + t->in_b, C, 9);
    for (int i = 0; i < 5; i++) {
        size_t c = (size_t)rb_ch(t, i);
        const rb_par *p = &t->rb[i];
        for (size_t j = 0; j < c; j++) th[p->g1 + j] = th[p->g2 + j] = 1.0f;
        init_uniform(r, th + p->w1, c * c * 9, c * 9), init_uniform(r, th + p->b1, c, c * 9);
        init_uniform(r, th + p->lw, c * E, E), init_uniform(r, th + p->lb, c, E);
    }
    struct { size_t w, b, co, ci; } cv[] = {{t->d1_w, t->d1_b, 2 * C, C}, {t->d2_w, t->d2_b, 2 * C, 2 * C},
                                           {t->u1_w, t->u1_b, 2 * C, 2 * C}, {t->k1_w, t->k1_b, 2 * C, 4 * C},
                                           {t->u2_w, t->u2_b, C, 2 * C}, {t->k2_w, t->k2_b, C, 2 * C}};
    for (int i = 0; i < 6; i++)
        init_uniform(r, th + cv[i].w, cv[i].co * cv[i].ci * 9, cv[i].ci * 9), init_uniform(r, th + cv[i].b, cv[i].co, cv[i].ci * 9);
    for (size_t j = 0; j < C; j++) th[t->go_g + j] = 1.0f;
}

static void df_free_state(duet_ctx *ctx, void *st) {
    df_state *s = st;
    if (!s) return;
    dt_free(ctx, s->theta);
    dt_free(ctx, s);
}

/* Image size from the pipeline, checked: multiples of 4. */
static int image_size(const duet_model *m, int *H, int *W, duet_err *err) {
    int64_t h = 0, w = 0;
    float unscale;
    if (!dt_pipe_image(m->pipe, &h, &w, &unscale))
        return dt_err(err, DUET_EINVAL, "diffusion models images (IDX or PNG data); this data is not images");
    if (h % 4 || w % 4 || h < 4 || w < 4 || h > 4096 || w > 4096)
        return dt_err(err, DUET_EINVAL, "diffusion draws images whose height and width are multiples of 4 (got %lldx%lld)",
                      (long long)h, (long long)w);
    *H = (int)h, *W = (int)w;
    return DUET_OK;
}

static int df_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    const duet_train_params *p = a->p;
    const dt_mat *X = a->X;
    int H, W, rc = image_size(m, &H, &W, err);
    if (rc) return rc;
    if (!X->x || X->D != (int64_t)H * W) return dt_err(err, DUET_EINVAL, "diffusion: dense images of %dx%d pixels expected", H, W);
    for (size_t i = 0; i < (size_t)X->N * (size_t)X->D; i++)
        if (!(X->x[i] >= 0.0f && X->x[i] <= 1.0f))
            return dt_err(err, DUET_EINVAL, "diffusion models intensities in [0, 1]; this data has a value %g", (double)X->x[i]);
    int C = p->hidden ? p->hidden : 32;
    if (C < 2 || C % 2 || C > 1024) return dt_err(err, DUET_EINVAL, "diffusion: width (--hidden) must be even, 2..1024 (got %d)", C);
    int epochs = p->epochs ? p->epochs : 10, bs = p->batch ? p->batch : 64;
    if (epochs < 0 || bs < 1) return dt_err(err, DUET_EINVAL, "diffusion: epochs >= 0 and batch >= 1 expected");
    double lr = p->lr ? p->lr : 1e-3;
    /* data-parallel: every process walks one order of all processes' images and makes the same
     * draws (noise, time step, label drop) for every row of a batch, keeping its own rows'; the
     * gradients and losses are added */
    int dist = dt_distributed(ctx);
    int64_t N = X->N;
    if ((rc = dt_reduce_count(ctx, &N, err))) return rc; /* from here on N counts every process's images */
    if (N < 1) return dt_err(err, DUET_EINVAL, "diffusion: no images to train on");
    if (bs > N) bs = (int)N;
    size_t hw = (size_t)H * (size_t)W;
    float *th = NULL, *g = NULL, *mo = NULL, *ve = NULL, *x0 = NULL, *eps = NULL;
    double *abar = NULL, *gd = NULL;
    int64_t *order = NULL;
    int32_t *yb = NULL, *tb = NULL;
    df_work w = {0};
    df_state *s = NULL;
    dt_ckpt ck = {0};
    if (p->resume) { /* the U-Net (EMA and raw weights), optimizer and position come from the checkpoint */
        ck.nbuf = 4;
        ck.buf[0] = (dt_ckpt_buf){"opt.raw", DT_F32, NULL, 0};
        ck.buf[1] = (dt_ckpt_buf){"opt.m", DT_F32, NULL, 0};
        ck.buf[2] = (dt_ckpt_buf){"opt.v", DT_F32, NULL, 0};
        ck.buf[3] = (dt_ckpt_buf){"opt.order", DT_I64, NULL, (size_t)N};
        void *st = NULL;
        rc = dt_ckpt_read(ctx, m, p->resume, &ck, &st, err);
        m->state = s = st;
        th = ck.buf[0].data, mo = ck.buf[1].data, ve = ck.buf[2].data, order = ck.buf[3].data;
        if (rc) goto fail;
        if (ck.buf[0].n != s->nt.n || ck.buf[1].n != s->nt.n || ck.buf[2].n != s->nt.n) {
            rc = dt_err(err, DUET_EFORMAT, "%s: training weights or Adam moments that do not match the U-Net's size", p->resume);
            goto fail;
        }
        if (s->nt.H != H || s->nt.W != W) {
            rc = dt_err(err, DUET_EINVAL, "%s: a U-Net for %dx%d images; these are %dx%d", p->resume, s->nt.H, s->nt.W, H, W);
            goto fail;
        }
        DT_TRY(dt_ckpt_check_epoch(ctx, &ck, order, N, epochs, p->resume, err));
        for (size_t j = 0; j < s->nt.n; j++)
            if (!isfinite(th[j])) {
                rc = dt_err(err, DUET_EFORMAT, "%s: tensor 'opt.raw' holds a value that is not finite", p->resume);
                goto fail;
            }
        dt_log(ctx, 0, "diffusion: resuming %s at epoch %lld, image %lld", p->resume, (long long)ck.epoch, (long long)ck.pos);
    } else {
        if (!(s = dt_calloc(ctx, 1, sizeof *s))) return dt_err(err, DUET_ENOMEM, "diffusion: out of memory");
        m->state = s;
        df_net *t0 = &s->nt;
        t0->H = H, t0->W = W, t0->C = C, t0->E = 4 * C, t0->T = DF_T, t0->K = p->conditional ? a->K : 0;
        layout(t0);
        s->theta = dt_alloc_e(ctx, t0->n, sizeof(float), "diffusion", err);
        th = dt_alloc_e(ctx, t0->n, sizeof(float), "diffusion", err);
        mo = dt_calloc(ctx, t0->n, sizeof(float));
        ve = dt_calloc(ctx, t0->n, sizeof(float));
        order = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "diffusion", err);
    }
    df_net *t = &s->nt;
    g = dt_alloc_e(ctx, t->n, sizeof(float), "diffusion", err);
    x0 = dt_alloc_e(ctx, (size_t)bs, hw * sizeof(float), "diffusion", err);
    eps = dt_alloc_e(ctx, (size_t)bs, hw * sizeof(float), "diffusion", err);
    abar = dt_alloc_e(ctx, DF_T, sizeof(double), "diffusion", err);
    yb = dt_alloc_e(ctx, (size_t)bs, sizeof(int32_t), "diffusion", err);
    tb = dt_alloc_e(ctx, (size_t)bs, sizeof(int32_t), "diffusion", err);
    if (dist) gd = dt_alloc_e(ctx, t->n + 1, sizeof(double), "diffusion", err);
    if (!s->theta || !th || !g || !mo || !ve || !x0 || !eps || !abar || !order || !yb || !tb || (dist && !gd)) {
        rc = dt_err(err, DUET_ENOMEM, "diffusion: out of memory");
        goto fail;
    }
    DT_TRY(work_new(ctx, t, bs, &w, err));
    schedule(DF_T, abar);
    dt_ckpt_start(&ck, p->resume != NULL, ctx->seed);
    dt_rng r = ck.rng;
    int64_t step = ck.step, pos0 = ck.pos;
    int ep0 = (int)ck.epoch;
    if (!p->resume) {
        init_params(t, th, &r);
        memcpy(s->theta, th, t->n * sizeof(float));
        for (int64_t i = 0; i < N; i++) order[i] = i;
    }
    int64_t per_epoch = (N + bs - 1) / bs, total = per_epoch * epochs, warm = total / 4 < 500 ? total / 4 : 500;
    double t0 = dt_now(), loss = NAN, first = NAN;
    int64_t seen = 0;
    int nth = dt_threads(ctx);
    for (int ep = ep0; ep <= epochs; ep++) {
        int cont = ep == ep0 && pos0 > 0; /* an epoch a checkpoint stopped in goes on */
        if (!cont) dt_rng_shuffle(&r, order, N);
        double sum = cont ? ck.sum[0] : 0.0;
        for (int64_t b0 = cont ? pos0 : 0; b0 < N; b0 += bs) {
            int B = (int)(N - b0 < bs ? N - b0 : bs), Bw = 0; /* Bw: the rows worked on here */
            for (int i = 0; i < B; i++) {
                int64_t li;
                int here = dt_row_here(ctx, order[b0 + i], &li);
                for (size_t j = 0; j < hw; j++) eps[(size_t)Bw * hw + j] = (float)dt_rng_normal(&r);
                int32_t tt = (int32_t)dt_rng_below(&r, DF_T);
                int drop = dt_rng_uniform(&r) < 0.1;
                if (!here) continue; /* another process's row: its draws are made, not kept */
                const float *src = X->x + (size_t)li * hw;
                for (size_t j = 0; j < hw; j++) x0[(size_t)Bw * hw + j] = 2.0f * src[j] - 1.0f;
                tb[Bw] = tt;
                yb[Bw] = t->K && !drop ? a->y[li] : t->K;
                Bw++;
            } /* a shorter last batch uses a prefix of every buffer (sizes grow with B only) */
            memset(g, 0, t->n * sizeof(float));
            double bsum = Bw > 0 ? loss_step(ctx, t, th, g, &w, abar, x0, eps, tb, yb, Bw) * Bw : 0.0;
            if (dist) { /* the mean over this process's rows, as a share of the whole batch's */
                float share = (float)Bw / (float)B;
                for (size_t j = 0; j < t->n; j++) g[j] *= share;
                DT_TRY(dt_reduce_f32(ctx, g, t->n, &bsum, gd, err));
            }
            sum += bsum;
            double gn = dt_norm2(nth, g, t->n), clip = gn > 1.0 ? 1.0 / gn : 1.0;
            if (clip < 1.0)
                for (size_t j = 0; j < t->n; j++) g[j] *= (float)clip;
            step++;
            double lr_t = warm > 0 && step < warm ? lr * (double)step / (double)warm : lr;
            dt_adamw o = {(float)lr_t, 0.9f, 0.999f, 1e-8f, 0.0f, step};
            dt_adamw_step(nth, &o, th, g, mo, ve, t->n, 0);
            float d = (float)fmin(0.999, (1.0 + (double)step) / (10.0 + (double)step));
            for (size_t j = 0; j < t->n; j++) s->theta[j] = d * s->theta[j] + (1.0f - d) * th[j];
            seen += B;
            if (p->checkpoint && p->checkpoint_every > 0 && step % p->checkpoint_every == 0 && ctx->dist_rank == 0) {
                dt_ckpt c = {.step = step, .epoch = ep, .pos = b0 + B, .sum = {sum, 0}, .rng = r, .nbuf = 4};
                c.buf[0] = (dt_ckpt_buf){"opt.raw", DT_F32, th, t->n};
                c.buf[1] = (dt_ckpt_buf){"opt.m", DT_F32, mo, t->n};
                c.buf[2] = (dt_ckpt_buf){"opt.v", DT_F32, ve, t->n};
                c.buf[3] = (dt_ckpt_buf){"opt.order", DT_I64, order, (size_t)N};
                DT_TRY(dt_ckpt_write(ctx, m, &c, p->checkpoint, err));
            }
            DT_TRY(dt_check_abort(ctx, "diffusion training", err));
            if (a->verbose)
                dt_log(ctx, 2, "diffusion: epoch %d/%d  %lld/%lld images  loss %.4f  %.1f s", ep, epochs, (long long)(b0 + B),
                       (long long)N, sum / (double)(b0 + B), dt_now() - t0);
        }
        loss = sum / (double)N;
        if (ep == 1) first = loss;
        if (a->verbose) dt_log(ctx, 0, "diffusion: epoch %d/%d  loss %.4f (%.1f s)", ep, epochs, loss, dt_now() - t0);
    }
    double secs = dt_now() - t0;
    dt_model_meta_set(m, "epochs", "%d", epochs);
    dt_model_meta_set(m, "loss", "%.4f", loss);
    if (ep0 == 1) dt_model_meta_set(m, "first_epoch_loss", "%.4f", first);
    if (seen) dt_model_meta_set(m, "images_per_second", "%.1f", secs > 0 ? (double)seen / secs : 0.0);
    dt_model_meta_set(m, "architecture", "U-Net width %d, %dx%d, T %d%s", t->C, H, W, DF_T, t->K ? ", conditional" : "");
fail:
    dt_free(ctx, gd);
    dt_free(ctx, th);
    dt_free(ctx, g);
    dt_free(ctx, mo);
    dt_free(ctx, ve);
    dt_free(ctx, x0);
    dt_free(ctx, eps);
    dt_free(ctx, abar);
    dt_free(ctx, order);
    dt_free(ctx, yb);
    dt_free(ctx, tb);
    dt_free(ctx, w.mem);
    return rc;
}

static int df_sample(duet_ctx *ctx, const duet_model *m, int *k, dt_rng *r, const duet_sample_opts *o, float *x,
                     duet_err *err) {
    const df_state *s = m->state;
    const df_net *t = &s->nt;
    if (*k < 0) *k = (int)dt_rng_below(r, (uint64_t)m->K);
    int guided = t->K > 0, B = guided ? 2 : 1, S = o->steps > 0 ? o->steps : o->ddim ? 50 : t->T;
    if (S > t->T) S = t->T;
    double gw = o->guidance > 0 ? o->guidance : 2.0;
    size_t hw = (size_t)t->H * (size_t)t->W;
    df_work w;
    double *abar = dt_alloc_e(ctx, (size_t)t->T, sizeof(double), "diffusion", err);
    float *xt = dt_alloc_e(ctx, hw, sizeof(float), "diffusion", err);
    int rc = abar && xt ? work_new(ctx, t, B, &w, err) : DUET_ENOMEM;
    if (rc) {
        dt_free(ctx, abar);
        dt_free(ctx, xt);
        return rc;
    }
    schedule(t->T, abar);
    int32_t y[2] = {guided ? *k : t->K, t->K};
    for (size_t j = 0; j < hw; j++) xt[j] = (float)dt_rng_normal(r);
    for (int i = S - 1; i >= 0 && !rc; i--) {
        int ti = (int)floor((double)(i + 1) * t->T / S) - 1, tp = i > 0 ? (int)floor((double)i * t->T / S) - 1 : -1;
        double ab = abar[ti], abp = tp >= 0 ? abar[tp] : 1.0;
        for (int b = 0; b < B; b++) {
            memcpy(w.xin + (size_t)b * hw, xt, hw * sizeof(float));
            w.tt[b] = (float)ti;
        }
        net_fwd(ctx, t, s->theta, &w, y, B);
        double sa = sqrt(ab), sn = sqrt(1.0 - ab), al = ab / abp, beta = 1.0 - al;
        double c0 = sqrt(abp) * beta / (1.0 - ab), ct = sqrt(al) * (1.0 - abp) / (1.0 - ab);
        double sd = i > 0 ? sqrt(beta * (1.0 - abp) / (1.0 - ab)) : 0.0;
        for (size_t j = 0; j < hw; j++) {
            double e = guided ? (1.0 + gw) * w.out[j] - gw * w.out[hw + j] : w.out[j];
            double x0 = (xt[j] - sn * e) / sa;
            x0 = x0 < -1.0 ? -1.0 : x0 > 1.0 ? 1.0 : x0;
            double nx;
            if (o->ddim) nx = sqrt(abp) * x0 + sqrt(1.0 - abp) * ((xt[j] - sa * x0) / sn);
            else nx = c0 * x0 + ct * xt[j];
            xt[j] = (float)nx;
        }
        if (!o->ddim && i > 0)
            for (size_t j = 0; j < hw; j++) xt[j] += (float)(sd * dt_rng_normal(r));
        rc = dt_check_abort(ctx, "diffusion sampling", err);
    }
    for (size_t j = 0; j < hw; j++) {
        float v = 0.5f * (xt[j] + 1.0f);
        x[j] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    }
    dt_free(ctx, abar);
    dt_free(ctx, xt);
    dt_free(ctx, w.mem);
    return rc;
}

static int df_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const df_state *s = m->state;
    int rc = DUET_OK;
    DT_TRY(dt_st_metaf(w, err, "model.width", "%d", s->nt.C));
    DT_TRY(dt_st_metaf(w, err, "model.T", "%d", s->nt.T));
    DT_TRY(dt_st_metaf(w, err, "model.conditional", "%d", s->nt.K > 0));
    DT_TRY(dt_st_add1(w, "model.theta", DT_F32, (int64_t)s->nt.n, s->theta, err));
fail:
    return rc;
}

static int df_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    int64_t C, T, cond;
    int H, W, rc;
    if ((rc = dt_st_meta_i64(f, "model.width", 2, 1024, &C, err)) || (rc = dt_st_meta_i64(f, "model.T", DF_T, DF_T, &T, err)) ||
        (rc = dt_st_meta_i64(f, "model.conditional", 0, 1, &cond, err)))
        return rc;
    if (C % 2) return dt_err(err, DUET_EFORMAT, "%s: model.width %lld is odd", dt_st_name(f), (long long)C);
    if (image_size(m, &H, &W, err)) return dt_err(err, DUET_EFORMAT, "%s: a diffusion model without an image pipeline", dt_st_name(f));
    df_state *s = dt_calloc(ctx, 1, sizeof *s);
    if (!s) return dt_err(err, DUET_ENOMEM, "diffusion: out of memory");
    s->nt.H = H, s->nt.W = W, s->nt.C = (int)C, s->nt.E = 4 * (int)C, s->nt.T = (int)T, s->nt.K = cond ? m->K : 0;
    layout(&s->nt);
    int64_t shape[1] = {(int64_t)s->nt.n};
    const void *data;
    rc = dt_st_get(f, "model.theta", DT_F32, 1, shape, &data, NULL, err);
    if (!rc) {
        s->theta = dt_alloc_e(ctx, s->nt.n, sizeof(float), "diffusion", err);
        if (!s->theta) rc = DUET_ENOMEM;
        else memcpy(s->theta, data, s->nt.n * sizeof(float));
    }
    if (rc) {
        df_free_state(ctx, s);
        return rc;
    }
    m->state = s;
    return DUET_OK;
}

/* --- the variational bound ------------------------------------------------------------------------
 * -log p(x0) <= L_T + sum_{t=2..T} L_{t-1} + L_0 (Ho et al. 2020, eq. 5), in nats per image, for
 * the unconditional model (the null class row):
 *   L_T = KL(q(x_T | x0) || N(0, I)), in closed form;
 *   L_{t-1} = E ||mu~_t - mu_theta||^2 / (2 s_t^2) with the sampler's variance s_t^2 = beta~_t,
 *           = beta_t^2 / (2 beta~_t alpha_t (1 - abar_t)) E ||eps - eps_theta(x_t, t)||^2;
 *   L_0 = -log of the mass a Gaussian (mean mu_theta(x_1, 1), variance beta_1) puts on each
 *         pixel's bin of width 2/255 in [-1, 1] (the end bins open), as the paper's decoder.
 * The sum over t is estimated per image: t = 2..1+DF_VLB_EXACT exactly (one eps each; most of
 * the bound is there), the rest by one t drawn in each of DF_VLB_STRATA equal strata weighted
 * by the stratum's length; draws from the context's seed and the row's index.
 * DF_VLB_EXACT + DF_VLB_STRATA + 1 network passes per image. */
#define DF_VLB_EXACT 20
#define DF_VLB_STRATA 30

/* log of the probability a N(mu, sd^2) puts on the 2/255-wide bin of x in [-1, 1] */
static double log_bin(double x, double mu, double sd) {
    double h = 1.0 / 255.0, r2 = 1.0 / (sd * sqrt(2.0));
    double lo = x <= -1.0 + 1e-6 ? 0.0 : 0.5 * erfc(-(x - h - mu) * r2); /* Phi(lo edge) */
    double hi = x >= 1.0 - 1e-6 ? 1.0 : 0.5 * erfc(-(x + h - mu) * r2);
    double pm = hi - lo;
    if (x <= -1.0 + 1e-6) pm = 0.5 * erfc(-(x + h - mu) * r2);       /* Phi(hi edge) */
    else if (x >= 1.0 - 1e-6) pm = 0.5 * erfc((x - h - mu) * r2);    /* 1 - Phi(lo edge) */
    return log(pm > 1e-300 ? pm : 1e-300);
}

/* The bound's estimate (full 0) or its exact sum over every t (full 1, tests) for each row. */
static int vlb_rows(duet_ctx *ctx, const df_state *s, const dt_mat *X, int full, double *logp, duet_err *err) {
    const df_net *t = &s->nt;
    size_t hw = (size_t)t->H * (size_t)t->W;
    if (!X->x || X->D != (int64_t)hw) return dt_err(err, DUET_EINVAL, "diffusion: dense images of %dx%d pixels expected", t->H, t->W);
    enum { B = DF_VLB_EXACT + DF_VLB_STRATA + 1 };
    int T = t->T, n = full ? T : B;
    df_work w;
    double *abar = dt_alloc_e(ctx, (size_t)T + 1, sizeof(double), "diffusion", err);
    double *wt = dt_alloc_e(ctx, (size_t)n, sizeof(double), "diffusion", err);
    int *ts = dt_alloc_e(ctx, (size_t)n, sizeof(int), "diffusion", err);
    float *eps = dt_alloc_e(ctx, (size_t)B * hw, sizeof(float), "diffusion", err);
    float *x0 = dt_alloc_e(ctx, hw, sizeof(float), "diffusion", err);
    int32_t y[B];
    int rc = abar && wt && ts && eps && x0 ? work_new(ctx, t, B, &w, err) : DUET_ENOMEM;
    if (rc) goto done;
    abar[0] = 1.0; /* abar[t] for t = 0..T (the schedule is 0-based from t = 1) */
    schedule(T, abar + 1);
    for (int b = 0; b < B; b++) y[b] = t->K; /* the null class: p(x) */
    int lo = 2 + DF_VLB_EXACT, span = T - lo + 1;
    for (int64_t i = 0; i < X->N && !rc; i++) {
        dt_rng r;
        dt_rng_seed(&r, ctx->seed ^ (0x5c0e0000ULL + (uint64_t)i * 0x9e3779b97f4a7c15ULL));
        for (int k = 0; k < n; k++) ts[k] = k + 1, wt[k] = 1.0;
        for (int k = 0; !full && k < DF_VLB_STRATA; k++) {
            int a = lo + (int)((int64_t)span * k / DF_VLB_STRATA), e = lo + (int)((int64_t)span * (k + 1) / DF_VLB_STRATA);
            ts[1 + DF_VLB_EXACT + k] = a + (int)dt_rng_below(&r, (uint64_t)(e - a));
            wt[1 + DF_VLB_EXACT + k] = (double)(e - a);
        }
        const float *xi = X->x + (size_t)i * hw;
        for (size_t j = 0; j < hw; j++) x0[j] = 2.0f * (xi[j] < 0.0f ? 0.0f : xi[j] > 1.0f ? 1.0f : xi[j]) - 1.0f;
        double L = 0.0, abT = abar[T];
        for (size_t j = 0; j < hw; j++) /* L_T */
            L += 0.5 * (abT * x0[j] * x0[j] + (1.0 - abT) - 1.0 - log(1.0 - abT));
        for (int c0 = 0; c0 < n && !rc; c0 += B) {
            int nb = n - c0 < B ? n - c0 : B;
            for (int b = 0; b < nb; b++) {
                double ab = abar[ts[c0 + b]], sa = sqrt(ab), sn = sqrt(1.0 - ab);
                for (size_t j = 0; j < hw; j++) {
                    float e = (float)dt_rng_normal(&r);
                    eps[(size_t)b * hw + j] = e;
                    w.xin[(size_t)b * hw + j] = (float)(sa * x0[j] + sn * e);
                }
                w.tt[b] = (float)(ts[c0 + b] - 1);
            }
            net_fwd(ctx, t, s->theta, &w, y, nb);
            for (int b = 0; b < nb; b++) {
                int tb = ts[c0 + b];
                double ab = abar[tb], beta = 1.0 - ab / abar[tb - 1], al = 1.0 - beta;
                const float *eo = w.out + (size_t)b * hw, *ep = eps + (size_t)b * hw, *xt = w.xin + (size_t)b * hw;
                if (tb == 1) { /* L_0: the decoder */
                    double sd = sqrt(beta), c = beta / sqrt(1.0 - ab);
                    for (size_t j = 0; j < hw; j++) L -= log_bin(x0[j], (xt[j] - c * eo[j]) / sqrt(al), sd);
                    continue;
                }
                double bt = beta * (1.0 - abar[tb - 1]) / (1.0 - ab), sq = 0.0;
                for (size_t j = 0; j < hw; j++) {
                    double d = (double)ep[j] - eo[j];
                    sq += d * d;
                }
                L += wt[c0 + b] * beta * beta / (2.0 * bt * al * (1.0 - ab)) * sq;
            }
            rc = dt_check_abort(ctx, "diffusion score", err);
        }
        logp[i] = -L;
    }
    dt_free(ctx, w.mem);
done:
    dt_free(ctx, abar);
    dt_free(ctx, wt);
    dt_free(ctx, ts);
    dt_free(ctx, eps);
    dt_free(ctx, x0);
    return rc;
}

static int df_score(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *logp, duet_err *err) {
    return vlb_rows(ctx, m->state, X, 0, logp, err);
}

int dt_diffusion_vlb_exact(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *logp, duet_err *err) {
    return vlb_rows(ctx, m->state, X, 1, logp, err);
}

/* --- gradient check (tests) ------------------------------------------------------------------ */

int dt_diffusion_gradcheck(duet_ctx *ctx, int H, int W, int C, int K, double *worst, duet_err *err) {
    enum { B = 3 };
    df_net t = {.H = H, .W = W, .C = C, .E = 4 * C, .K = K, .T = DF_T};
    layout(&t);
    size_t hw = (size_t)H * (size_t)W;
    df_work w = {0};
    float *th = dt_calloc(ctx, t.n, sizeof(float)), *g = dt_calloc(ctx, t.n, sizeof(float));
    float *x0 = dt_calloc(ctx, B * hw, sizeof(float)), *eps = dt_calloc(ctx, B * hw, sizeof(float));
    double *abar = dt_calloc(ctx, DF_T, sizeof(double));
    int rc = th && g && x0 && eps && abar ? work_new(ctx, &t, B, &w, err) : dt_err(err, DUET_ENOMEM, "diffusion: out of memory");
    if (!rc) {
        dt_rng r;
        dt_rng_seed(&r, 11);
        init_params(&t, th, &r);
        for (size_t i = 0; i < t.n; i++) th[i] += (float)(0.2 * dt_rng_normal(&r)); /* no zero tensors */
        for (size_t i = 0; i < B * hw; i++) x0[i] = (float)(2 * dt_rng_uniform(&r) - 1), eps[i] = (float)dt_rng_normal(&r);
        schedule(DF_T, abar);
        int32_t tt[B] = {5, 400, 999}, y[B] = {0, K > 1 ? 1 : 0, K};
        if (!K) y[0] = y[1] = 0;
        loss_step(ctx, &t, th, g, &w, abar, x0, eps, tt, y, B);
        double bad = 0.0;
        for (int sg = 0; sg < t.nseg; sg++) {
            size_t lo = t.seg[sg], n = t.seg[sg + 1] - lo;
            for (int rep = 0; rep < 3; rep++) {
                size_t i = lo + (size_t)dt_rng_below(&r, n);
                float keep = th[i];
                th[i] = keep + 1e-3f;
                double up = loss_step(ctx, &t, th, NULL, &w, abar, x0, eps, tt, y, B);
                th[i] = keep - 1e-3f;
                double dn = loss_step(ctx, &t, th, NULL, &w, abar, x0, eps, tt, y, B);
                th[i] = keep;
                double num = (up - dn) / 2e-3, e = fabs(num - g[i]) / (2e-3 + 3e-2 * fabs(g[i]));
                if (e > bad) bad = e;
            }
        }
        *worst = bad;
    }
    dt_free(ctx, w.mem);
    dt_free(ctx, th);
    dt_free(ctx, g);
    dt_free(ctx, x0);
    dt_free(ctx, eps);
    dt_free(ctx, abar);
    return rc;
}

static const dt_option diffusion_options[] = {
    {"--conditional", "learn p(x|y): draw a chosen class (classifier-free guidance)"},
    {"--hidden", "the U-Net's base channels (default 32)"},
    {"--epochs", "epochs (default 10)"},
    {"--batch", "mini-batch (default 64)"},
    {"--lr", "AdamW step (default 1e-3)"},
    {"--checkpoint", "checkpoint file (weights, optimizer, position, random state)"},
    {"--checkpoint-every", "write --checkpoint every N optimizer steps (default 500)"},
    {"--resume", "continue training from a checkpoint (same data and settings): ends as an uninterrupted run"},
    {NULL, NULL},
};

const dt_model_ops dt_diffusion_ops = {
    .options = diffusion_options,
    .distributed = 1,
    .name = "diffusion",
    .learns = "p(x) (p(x|y) when conditional)",
    .caps = DUET_CAN_SAMPLE | DUET_CAN_SCORE,
    .about = "denoising diffusion model (DDPM) with a small U-Net for images; --conditional adds classifier-free guidance",
    .fit = df_fit,
    .sample = df_sample,
    .score = df_score,
    .score_name = "vlb",
    .save = df_save,
    .load = df_load,
    .free_state = df_free_state,
    .resumable = 1,
    .compare_conditional = 1,
};
