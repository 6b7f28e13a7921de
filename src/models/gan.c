/* gan.c — a DCGAN-style generative adversarial network for images (Radford et al. 2016):
 *   generator      z (Z) [+ one-hot class] -> linear -> ReLU -> (C1, H/4, W/4)
 *                  -> 4x4 transposed conv, stride 2 -> ReLU -> (C2, H/2, W/2)
 *                  -> 4x4 transposed conv, stride 2 -> sigmoid -> (1, H, W)
 *   discriminator  image [+ one constant plane per class] -> 4x4 conv, stride 2 -> LeakyReLU(0.2)
 *                  -> 4x4 conv, stride 2 -> LeakyReLU(0.2) -> linear -> logit
 * trained with the non-saturating loss (D: real -> 1, fake -> 0; G: fake -> 1) and Adam
 * (lr 2e-4, beta1 0.5), one discriminator and one generator step per batch. With
 * --conditional both networks see the class, so the generator draws the class asked for.
 * A GAN learns p(x) only implicitly: it samples, but has no likelihood to score.
 * Not here: the layers (src/nn/conv.c), features (pixels scaled to [0, 1] by the pipeline).
 */
#include <math.h>

#include "../core/gemm.h"
#include "../nn/conv.h"
#include "../nn/nn.h"
#include "model.h"

#define C1 64
#define C2 32
#define D1 32
#define D2 64

typedef struct gan_net {
    int H, W, Z, K;           /* image size, noise size, classes seen (0: unconditional) */
    /* generator: fc (C1*H/4*W/4, Z+K) + b; t1 (C1, C2, 4, 4) + b (C2); t2 (C2, 1, 4, 4) + b (1)
     * discriminator: c1 (D1, 1+K, 4, 4) + b; c2 (D2, D1, 4, 4) + b; fc (1, D2*H/4*W/4) + b */
    size_t g_fc, g_fcb, g_t1, g_t1b, g_t2, g_t2b, ng;
    size_t d_c1, d_c1b, d_c2, d_c2b, d_fc, d_fcb, nd;
} gan_net;

typedef struct gan_state {
    gan_net nt;
    float *g, *d; /* parameters */
} gan_state;

static void layout(gan_net *t) {
    size_t h4 = (size_t)(t->H / 4) * (size_t)(t->W / 4), o = 0;
    t->g_fc = o, o += (size_t)C1 * h4 * (size_t)(t->Z + t->K);
    t->g_fcb = o, o += (size_t)C1 * h4;
    t->g_t1 = o, o += (size_t)C1 * C2 * 16;
    t->g_t1b = o, o += C2;
    t->g_t2 = o, o += (size_t)C2 * 16;
    t->g_t2b = o, o += 1;
    t->ng = o;
    o = 0;
    t->d_c1 = o, o += (size_t)D1 * (size_t)(1 + t->K) * 16;
    t->d_c1b = o, o += D1;
    t->d_c2 = o, o += (size_t)D2 * D1 * 16;
    t->d_c2b = o, o += D2;
    t->d_fc = o, o += (size_t)D2 * h4;
    t->d_fcb = o, o += 1;
    t->nd = o;
}

/* Buffers for a batch of B. */
typedef struct gan_work {
    int B;
    float *zin, *a0, *r0, *a1, *r1, *a2, *img; /* generator: pre-activations, ReLU outputs, image */
    float *din, *c1, *l1, *c2, *l2, *logit; /* discriminator */
    float *dimg, *da2, *da1, *da0, *dzin;   /* gradients */
    float *ddin, *dc1, *dc2, *dlogit;
    float *conv;                            /* conv scratch */
    float *mem;
} gan_work;

static dt_conv_shape s_t1(const gan_net *t, int B) { return (dt_conv_shape){B, C1, t->H / 4, t->W / 4, C2, 4, 4, 2, 1}; }
static dt_conv_shape s_t2(const gan_net *t, int B) { return (dt_conv_shape){B, C2, t->H / 2, t->W / 2, 1, 4, 4, 2, 1}; }
static dt_conv_shape s_c1(const gan_net *t, int B) { return (dt_conv_shape){B, 1 + t->K, t->H, t->W, D1, 4, 4, 2, 1}; }
static dt_conv_shape s_c2(const gan_net *t, int B) { return (dt_conv_shape){B, D1, t->H / 2, t->W / 2, D2, 4, 4, 2, 1}; }

static int work_new(duet_ctx *ctx, const gan_net *t, int B, gan_work *w, duet_err *err) {
    memset(w, 0, sizeof *w);
    size_t b = (size_t)B, hw = (size_t)t->H * (size_t)t->W, h2 = hw / 4, h4 = hw / 16;
    dt_conv_shape sh[4] = {s_t1(t, B), s_t2(t, B), s_c1(t, B), s_c2(t, B)};
    size_t cw = 0;
    for (int i = 0; i < 4; i++) cw = dt_conv_work(&sh[i]) > cw ? dt_conv_work(&sh[i]) : cw;
    struct { float **p; size_t n; } parts[] = {
        {&w->zin, b * (size_t)(t->Z + t->K)}, {&w->a0, b * C1 * h4}, {&w->r0, b * C1 * h4}, {&w->a1, b * C2 * h2},
        {&w->r1, b * C2 * h2}, {&w->a2, b * hw},
        {&w->img, b * hw}, {&w->din, b * (size_t)(1 + t->K) * hw}, {&w->c1, b * D1 * h2}, {&w->l1, b * D1 * h2},
        {&w->c2, b * D2 * h4}, {&w->l2, b * D2 * h4}, {&w->logit, b}, {&w->dimg, b * hw}, {&w->da2, b * hw},
        {&w->da1, b * C2 * h2}, {&w->da0, b * C1 * h4}, {&w->dzin, b * (size_t)(t->Z + t->K)},
        {&w->ddin, b * (size_t)(1 + t->K) * hw}, {&w->dc1, b * D1 * h2}, {&w->dc2, b * D2 * h4}, {&w->dlogit, b},
        {&w->conv, cw},
    };
    size_t total = 0, np = sizeof parts / sizeof parts[0];
    for (size_t i = 0; i < np; i++) total += parts[i].n;
    w->mem = dt_alloc_e(ctx, total, sizeof(float), "gan batch", err);
    if (!w->mem) return DUET_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < np; i++) *parts[i].p = w->mem + off, off += parts[i].n;
    w->B = B;
    return DUET_OK;
}

/* Noise and one-hot classes y (B) into w->zin. */
static void draw_z(const gan_net *t, gan_work *w, const int32_t *y, int B, dt_rng *r) {
    int ZK = t->Z + t->K;
    for (int i = 0; i < B; i++) {
        float *z = w->zin + (size_t)i * (size_t)ZK;
        for (int j = 0; j < t->Z; j++) z[j] = (float)dt_rng_normal(r);
        for (int k = 0; k < t->K; k++) z[t->Z + k] = y[i] == k;
    }
}

static void gen_fwd(const duet_ctx *ctx, const gan_net *t, const float *g, gan_work *w, int B) {
    int nth = dt_threads(ctx), ZK = t->Z + t->K;
    size_t h4 = (size_t)(t->H / 4) * (size_t)(t->W / 4), out = (size_t)C1 * h4;
    for (int i = 0; i < B; i++) memcpy(w->a0 + (size_t)i * out, g + t->g_fcb, out * sizeof(float));
    dt_gemm(ctx, w->a0, (int64_t)out, w->zin, ZK, 0, g + t->g_fc, ZK, 1, 1.0f, 1.0f, B, (int64_t)out, ZK);
    dt_act_fwd(nth, DT_ACT_RELU, w->a0, w->r0, (size_t)B * out);
    dt_conv_shape s1 = s_t1(t, B), s2 = s_t2(t, B);
    dt_convt2d_fwd(ctx, &s1, 0, w->r0, g + t->g_t1, g + t->g_t1b, w->a1, w->conv);
    size_t n1 = (size_t)B * C2 * (size_t)(t->H / 2) * (size_t)(t->W / 2);
    dt_act_fwd(nth, DT_ACT_RELU, w->a1, w->r1, n1);
    dt_convt2d_fwd(ctx, &s2, 0, w->r1, g + t->g_t2, g + t->g_t2b, w->a2, w->conv);
    dt_act_fwd(nth, DT_ACT_SIGMOID, w->a2, w->img, (size_t)B * (size_t)t->H * (size_t)t->W);
}

/* Discriminator logits of images x (B, 1, H, W) of classes y. */
static void disc_fwd(const duet_ctx *ctx, const gan_net *t, const float *d, gan_work *w, const float *x,
                     const int32_t *y, int B) {
    int nth = dt_threads(ctx);
    size_t hw = (size_t)t->H * (size_t)t->W, h4 = hw / 16, C = (size_t)(1 + t->K);
    for (int i = 0; i < B; i++) {
        float *p = w->din + (size_t)i * C * hw;
        memcpy(p, x + (size_t)i * hw, hw * sizeof(float));
        for (int k = 0; k < t->K; k++)
            for (size_t j = 0; j < hw; j++) p[(size_t)(1 + k) * hw + j] = y[i] == k;
    }
    dt_conv_shape s1 = s_c1(t, B), s2 = s_c2(t, B);
    dt_conv2d_fwd(ctx, &s1, w->din, d + t->d_c1, d + t->d_c1b, w->c1, w->conv);
    dt_act_fwd(nth, DT_ACT_LEAKY, w->c1, w->l1, (size_t)B * D1 * hw / 4);
    dt_conv2d_fwd(ctx, &s2, w->l1, d + t->d_c2, d + t->d_c2b, w->c2, w->conv);
    dt_act_fwd(nth, DT_ACT_LEAKY, w->c2, w->l2, (size_t)B * D2 * h4);
    for (int i = 0; i < B; i++) w->logit[i] = d[t->d_fcb];
    dt_gemm(ctx, w->logit, 1, w->l2, (int64_t)(D2 * h4), 0, d + t->d_fc, (int64_t)(D2 * h4), 1, 1.0f, 1.0f, B, 1,
            (int64_t)(D2 * h4));
}

/* Backward of the discriminator from w->dlogit: weight gradients added into gd (a scratch
 * buffer when the discriminator is frozen) and the gradient of its input image into dx (when
 * not NULL). */
static void disc_bwd(const duet_ctx *ctx, const gan_net *t, const float *d, float *gd, gan_work *w, float *dx, int B) {
    int nth = dt_threads(ctx);
    size_t hw = (size_t)t->H * (size_t)t->W, h4 = hw / 16, F = (size_t)D2 * h4, C = (size_t)(1 + t->K);
    float *dl2 = w->dc2; /* gradient of l2, then of c2 in place */
    for (int i = 0; i < B; i++)
        for (size_t j = 0; j < F; j++) dl2[(size_t)i * F + j] = w->dlogit[i] * d[t->d_fc + j];
    for (int i = 0; i < B; i++) {
        gd[t->d_fcb] += w->dlogit[i];
        for (size_t j = 0; j < F; j++) gd[t->d_fc + j] += w->dlogit[i] * w->l2[(size_t)i * F + j];
    }
    dt_act_bwd(nth, DT_ACT_LEAKY, dl2, w->c2, w->dc2, (size_t)B * F);
    dt_conv_shape s1 = s_c1(t, B), s2 = s_c2(t, B);
    dt_conv2d_bwd(ctx, &s2, w->dc2, w->l1, d + t->d_c2, w->dc1, gd + t->d_c2, gd + t->d_c2b, w->conv);
    dt_act_bwd(nth, DT_ACT_LEAKY, w->dc1, w->c1, w->dc1, (size_t)B * D1 * hw / 4);
    dt_conv2d_bwd(ctx, &s1, w->dc1, w->din, d + t->d_c1, dx ? w->ddin : NULL, gd + t->d_c1, gd + t->d_c1b, w->conv);
    if (dx)
        for (int i = 0; i < B; i++) memcpy(dx + (size_t)i * hw, w->ddin + (size_t)i * C * hw, hw * sizeof(float));
}

static void gen_bwd(const duet_ctx *ctx, const gan_net *t, const float *g, float *gg, gan_work *w, int B) {
    int nth = dt_threads(ctx), ZK = t->Z + t->K;
    size_t hw = (size_t)t->H * (size_t)t->W, h4 = hw / 16, out = (size_t)C1 * h4, n1 = (size_t)B * C2 * hw / 4;
    /* d img -> d a2 through the sigmoid: img (1 - img) */
    for (size_t i = 0; i < (size_t)B * hw; i++) w->da2[i] = w->dimg[i] * w->img[i] * (1.0f - w->img[i]);
    dt_conv_shape s1 = s_t1(t, B), s2 = s_t2(t, B);
    dt_convt2d_bwd(ctx, &s2, 0, w->da2, w->r1, g + t->g_t2, w->da1, gg + t->g_t2, gg + t->g_t2b, w->conv);
    dt_act_bwd(nth, DT_ACT_RELU, w->da1, w->a1, w->da1, n1);
    dt_convt2d_bwd(ctx, &s1, 0, w->da1, w->r0, g + t->g_t1, w->da0, gg + t->g_t1, gg + t->g_t1b, w->conv);
    dt_act_bwd(nth, DT_ACT_RELU, w->da0, w->a0, w->da0, (size_t)B * out);
    dt_gemm(ctx, gg + t->g_fc, ZK, w->da0, (int64_t)out, 1, w->zin, ZK, 0, 1.0f, 1.0f, (int64_t)out, ZK, B);
    for (int i = 0; i < B; i++)
        for (size_t j = 0; j < out; j++) gg[t->g_fcb + j] += w->da0[(size_t)i * out + j];
}

/* Binary cross-entropy of logits against target (0/1), mean over B; d/dlogit into w->dlogit. */
static double bce_logits(gan_work *w, int B, float target, float scale) {
    double loss = 0.0;
    for (int i = 0; i < B; i++) {
        float z = w->logit[i];
        loss += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - (double)target * z;
        w->dlogit[i] = scale * (1.0f / (1.0f + expf(-z)) - target) / (float)B;
    }
    return loss / B;
}

static void gan_free_state(duet_ctx *ctx, void *st) {
    gan_state *s = st;
    if (!s) return;
    dt_free(ctx, s->g);
    dt_free(ctx, s->d);
    dt_free(ctx, s);
}

static void init_uniform(dt_rng *r, float *p, size_t n, size_t fan_in) {
    double b = 1.0 / sqrt((double)fan_in);
    for (size_t i = 0; i < n; i++) p[i] = (float)((2 * dt_rng_uniform(r) - 1) * b);
}

static int gan_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    const duet_train_params *p = a->p;
    const dt_mat *X = a->X;
    int64_t H = 0, W = 0;
    float unscale;
    if (!dt_pipe_image(m->pipe, &H, &W, &unscale) || H % 4 || W % 4 || H < 4 || W < 4)
        return dt_err(err, DUET_EINVAL, "gan draws images whose height and width are multiples of 4 (got %lldx%lld)",
                      (long long)H, (long long)W);
    if (!X->x) return dt_err(err, DUET_EINVAL, "gan: images expected");
    for (size_t i = 0; i < (size_t)X->N * (size_t)X->D; i++)
        if (!(X->x[i] >= 0.0f && X->x[i] <= 1.0f))
            return dt_err(err, DUET_EINVAL, "gan draws intensities in [0, 1]; this data has a value %g", (double)X->x[i]);
    int epochs = p->epochs ? p->epochs : 10, bs = p->batch ? p->batch : 64;
    double lr = p->lr ? p->lr : 2e-4;
    int rc = DUET_OK;
    /* data-parallel: every process walks one order of all processes' images and draws the same
     * noise for every row of a batch; each works on its own rows, and the gradients (means over
     * the whole batch) and losses are added before each network's step */
    int dist = dt_distributed(ctx);
    int64_t N = X->N;
    if ((rc = dt_reduce_count(ctx, &N, err))) return rc; /* from here on N counts every process's images */
    size_t hw = (size_t)H * (size_t)W;
    double *gsum = NULL;
    int32_t *yall = NULL;
    int *lpos = NULL;
    float *gg = NULL, *gd = NULL, *mg = NULL, *vg = NULL, *md = NULL, *vd = NULL, *real = NULL, *gjunk = NULL;
    int64_t *order = NULL;
    int32_t *yb = NULL;
    gan_work w = {0};
    gan_state *s = NULL;
    dt_ckpt ck = {0};
    if (N < bs) return dt_err(err, DUET_EINVAL, "gan: %lld images is less than one batch of %d", (long long)N, bs);
    if (p->resume) { /* networks, optimizer and position come from the checkpoint */
        const char *names[4] = {"opt.g.m", "opt.g.v", "opt.d.m", "opt.d.v"};
        ck.nbuf = 5;
        for (int i = 0; i < 4; i++) ck.buf[i] = (dt_ckpt_buf){names[i], DT_F32, NULL, 0};
        ck.buf[4] = (dt_ckpt_buf){"opt.order", DT_I64, NULL, (size_t)N};
        void *st = NULL;
        rc = dt_ckpt_read(ctx, m, p->resume, &ck, &st, err);
        m->state = s = st;
        mg = ck.buf[0].data, vg = ck.buf[1].data, md = ck.buf[2].data, vd = ck.buf[3].data, order = ck.buf[4].data;
        if (rc) goto fail;
        if (ck.buf[0].n != s->nt.ng || ck.buf[1].n != s->nt.ng || ck.buf[2].n != s->nt.nd || ck.buf[3].n != s->nt.nd) {
            rc = dt_err(err, DUET_EFORMAT, "%s: Adam moments that do not match the networks' sizes", p->resume);
            goto fail;
        }
        DT_TRY(dt_ckpt_check_epoch(ctx, &ck, order, N, epochs, p->resume, err));
        dt_log(ctx, 0, "gan: resuming %s at epoch %lld, image %lld", p->resume, (long long)ck.epoch, (long long)ck.pos);
    } else {
        if (!(s = dt_calloc(ctx, 1, sizeof *s))) return dt_err(err, DUET_ENOMEM, "gan: out of memory");
        m->state = s;
        s->nt.H = (int)H, s->nt.W = (int)W, s->nt.Z = p->latent ? p->latent : 64, s->nt.K = p->conditional ? a->K : 0;
        layout(&s->nt);
        s->g = dt_alloc_e(ctx, s->nt.ng, sizeof(float), "gan", err);
        s->d = dt_alloc_e(ctx, s->nt.nd, sizeof(float), "gan", err);
        mg = dt_alloc_e(ctx, s->nt.ng, sizeof(float), "gan", err);
        vg = dt_alloc_e(ctx, s->nt.ng, sizeof(float), "gan", err);
        md = dt_alloc_e(ctx, s->nt.nd, sizeof(float), "gan", err);
        vd = dt_alloc_e(ctx, s->nt.nd, sizeof(float), "gan", err);
        order = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "gan", err);
    }
    gan_net *t = &s->nt;
    gg = dt_alloc_e(ctx, t->ng, sizeof(float), "gan", err);
    gd = dt_alloc_e(ctx, t->nd, sizeof(float), "gan", err);
    gjunk = dt_alloc_e(ctx, t->nd, sizeof(float), "gan", err);
    real = dt_alloc_e(ctx, (size_t)bs, hw * sizeof(float), "gan", err);
    yb = dt_alloc_e(ctx, (size_t)bs, sizeof(int32_t), "gan", err);
    if (dist) {
        gsum = dt_alloc_e(ctx, (t->ng > t->nd ? t->ng : t->nd) + 1, sizeof(double), "gan", err);
        yall = dt_alloc_e(ctx, (size_t)bs, sizeof(int32_t), "gan", err);
        lpos = dt_alloc_e(ctx, (size_t)bs, sizeof(int), "gan", err);
    }
    if (!s->g || !s->d || !gg || !mg || !vg || !gd || !md || !vd || !gjunk || !real || !order || !yb ||
        (dist && (!gsum || !yall || !lpos))) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    DT_TRY(work_new(ctx, t, bs, &w, err));
    dt_ckpt_start(&ck, p->resume != NULL, ctx->seed);
    dt_rng r = ck.rng;
    int64_t step = ck.step, pos0 = ck.pos;
    int ep0 = (int)ck.epoch;
    if (!p->resume) {
        size_t h4 = hw / 16;
        init_uniform(&r, s->g + t->g_fc, (size_t)C1 * h4 * (size_t)(t->Z + t->K), (size_t)(t->Z + t->K));
        init_uniform(&r, s->g + t->g_fcb, (size_t)C1 * h4, (size_t)(t->Z + t->K));
        init_uniform(&r, s->g + t->g_t1, (size_t)C1 * C2 * 16, (size_t)C2 * 16);
        init_uniform(&r, s->g + t->g_t1b, C2, (size_t)C2 * 16);
        init_uniform(&r, s->g + t->g_t2, (size_t)C2 * 16, 16);
        init_uniform(&r, s->g + t->g_t2b, 1, 16);
        init_uniform(&r, s->d + t->d_c1, (size_t)D1 * (size_t)(1 + t->K) * 16, (size_t)(1 + t->K) * 16);
        init_uniform(&r, s->d + t->d_c1b, D1, (size_t)(1 + t->K) * 16);
        init_uniform(&r, s->d + t->d_c2, (size_t)D2 * D1 * 16, (size_t)D1 * 16);
        init_uniform(&r, s->d + t->d_c2b, D2, (size_t)D1 * 16);
        init_uniform(&r, s->d + t->d_fc, (size_t)D2 * h4, (size_t)D2 * h4);
        init_uniform(&r, s->d + t->d_fcb, 1, (size_t)D2 * h4);
        for (int64_t i = 0; i < N; i++) order[i] = i;
    }
    double t0 = dt_now(), ld = 0.0, lg = 0.0;
    int64_t seen = 0;
    int nth = dt_threads(ctx);
    for (int ep = ep0; ep <= epochs; ep++) {
        int cont = ep == ep0 && pos0 > 0; /* an epoch a checkpoint stopped in goes on */
        if (!cont) dt_rng_shuffle(&r, order, N);
        double sd = cont ? ck.sum[0] : 0.0, sg = cont ? ck.sum[1] : 0.0;
        int64_t nb = cont ? pos0 / bs : 0;
        for (int64_t b0 = cont ? pos0 : 0; b0 + bs <= N; b0 += bs, nb++) { /* whole batches only */
            int B = bs, Bw = 0; /* Bw: the rows worked on here */
            for (int i = 0; i < B; i++) {
                int64_t li;
                if (dist) yall[i] = 0;
                if (!dt_row_here(ctx, order[b0 + i], &li)) continue;
                memcpy(real + (size_t)Bw * hw, X->x + (size_t)li * hw, hw * sizeof(float));
                yb[Bw] = a->y[li];
                if (dist) lpos[Bw] = i, yall[i] = yb[Bw];
                Bw++;
            }
            float sh = (float)Bw / (float)B; /* this process's share of the batch: losses are means over B */
            step++;
            /* discriminator: real -> 1, fake -> 0 */
            memset(gd, 0, t->nd * sizeof(float));
            double l = 0;
            if (Bw > 0) {
                disc_fwd(ctx, t, s->d, &w, real, yb, Bw);
                l = sh * bce_logits(&w, Bw, 1.0f, sh);
                disc_bwd(ctx, t, s->d, gd, &w, NULL, Bw);
            }
            draw_z(t, &w, dist ? yall : yb, B, &r); /* the whole batch's noise, then this process's rows */
            for (int i = 0; dist && i < Bw; i++)
                memmove(w.zin + (size_t)i * (size_t)(t->Z + t->K), w.zin + (size_t)lpos[i] * (size_t)(t->Z + t->K),
                        (size_t)(t->Z + t->K) * sizeof(float));
            if (Bw > 0) {
                gen_fwd(ctx, t, s->g, &w, Bw);
                disc_fwd(ctx, t, s->d, &w, w.img, yb, Bw);
                l += sh * bce_logits(&w, Bw, 0.0f, sh);
                disc_bwd(ctx, t, s->d, gd, &w, NULL, Bw);
            }
            DT_TRY(dt_reduce_f32(ctx, gd, t->nd, &l, gsum, err));
            dt_adamw od = {(float)lr, 0.5f, 0.999f, 1e-8f, 0.0f, step};
            dt_adamw_step(nth, &od, s->d, gd, md, vd, t->nd, 0);
            sd += l;
            /* generator: fake -> 1 through the updated discriminator */
            memset(gg, 0, t->ng * sizeof(float));
            double lgen = 0;
            if (Bw > 0) {
                disc_fwd(ctx, t, s->d, &w, w.img, yb, Bw);
                lgen = sh * bce_logits(&w, Bw, 1.0f, sh);
                disc_bwd(ctx, t, s->d, gjunk, &w, w.dimg, Bw); /* the discriminator's share is discarded */
                gen_bwd(ctx, t, s->g, gg, &w, Bw);
            }
            DT_TRY(dt_reduce_f32(ctx, gg, t->ng, &lgen, gsum, err));
            sg += lgen;
            dt_adamw og = {(float)lr, 0.5f, 0.999f, 1e-8f, 0.0f, step};
            dt_adamw_step(nth, &og, s->g, gg, mg, vg, t->ng, 0);
            seen += B;
            if (p->checkpoint && p->checkpoint_every > 0 && step % p->checkpoint_every == 0 && ctx->dist_rank == 0) {
                dt_ckpt c = {.step = step, .epoch = ep, .pos = b0 + B, .sum = {sd, sg}, .rng = r, .nbuf = 5};
                c.buf[0] = (dt_ckpt_buf){"opt.g.m", DT_F32, mg, t->ng};
                c.buf[1] = (dt_ckpt_buf){"opt.g.v", DT_F32, vg, t->ng};
                c.buf[2] = (dt_ckpt_buf){"opt.d.m", DT_F32, md, t->nd};
                c.buf[3] = (dt_ckpt_buf){"opt.d.v", DT_F32, vd, t->nd};
                c.buf[4] = (dt_ckpt_buf){"opt.order", DT_I64, order, (size_t)N};
                DT_TRY(dt_ckpt_write(ctx, m, &c, p->checkpoint, err));
            }
            DT_TRY(dt_check_abort(ctx, "gan training", err));
            if (a->verbose)
                dt_log(ctx, 2, "gan: epoch %d/%d  %lld/%lld images  D %.3f  G %.3f  %.1f s", ep, epochs,
                       (long long)(b0 + B), (long long)N, sd / (double)(nb + 1), sg / (double)(nb + 1), dt_now() - t0);
        }
        ld = nb ? sd / (double)nb : NAN, lg = nb ? sg / (double)nb : NAN;
        if (a->verbose) dt_log(ctx, 0, "gan: epoch %d/%d  D loss %.3f  G loss %.3f (%.1f s)", ep, epochs, ld, lg, dt_now() - t0);
    }
    dt_model_meta_set(m, "epochs", "%d", epochs);
    dt_model_meta_set(m, "d_loss", "%.4f", ld);
    dt_model_meta_set(m, "g_loss", "%.4f", lg);
    if (seen) dt_model_meta_set(m, "images_per_second", "%.0f", (double)seen / (dt_now() - t0));
fail:
    dt_free(ctx, gsum);
    dt_free(ctx, yall);
    dt_free(ctx, lpos);
    dt_free(ctx, gg);
    dt_free(ctx, gd);
    dt_free(ctx, mg);
    dt_free(ctx, vg);
    dt_free(ctx, md);
    dt_free(ctx, vd);
    dt_free(ctx, gjunk);
    dt_free(ctx, real);
    dt_free(ctx, order);
    dt_free(ctx, yb);
    dt_free(ctx, w.mem);
    return rc;
}

static int gan_sample(duet_ctx *ctx, const duet_model *m, int *k, dt_rng *r, const duet_sample_opts *o, float *x,
                      duet_err *err) {
    (void)o;
    const gan_state *s = m->state;
    const gan_net *t = &s->nt;
    if (*k < 0) *k = (int)dt_rng_below(r, (uint64_t)m->K);
    gan_work w;
    int rc = work_new(ctx, t, 1, &w, err);
    if (rc) return rc;
    int32_t y = *k;
    draw_z(t, &w, &y, 1, r);
    gen_fwd(ctx, t, s->g, &w, 1);
    memcpy(x, w.img, (size_t)t->H * (size_t)t->W * sizeof(float));
    dt_free(ctx, w.mem);
    return DUET_OK;
}

static int gan_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const gan_state *s = m->state;
    int rc = DUET_OK;
    DT_TRY(dt_st_metaf(w, err, "model.noise", "%d", s->nt.Z));
    DT_TRY(dt_st_metaf(w, err, "model.conditional", "%d", s->nt.K > 0));
    DT_TRY(dt_st_add1(w, "model.generator", DT_F32, (int64_t)s->nt.ng, s->g, err));
    DT_TRY(dt_st_add1(w, "model.discriminator", DT_F32, (int64_t)s->nt.nd, s->d, err));
fail:
    return rc;
}

static int gan_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    int64_t Z, cond, H = 0, W = 0;
    float unscale;
    int rc;
    if ((rc = dt_st_meta_i64(f, "model.noise", 1, 1 << 16, &Z, err)) || (rc = dt_st_meta_i64(f, "model.conditional", 0, 1, &cond, err)))
        return rc;
    if (!dt_pipe_image(m->pipe, &H, &W, &unscale) || H % 4 || W % 4)
        return dt_err(err, DUET_EFORMAT, "%s: a gan model without an image pipeline", dt_st_name(f));
    gan_state *s = dt_calloc(ctx, 1, sizeof *s);
    if (!s) return dt_err(err, DUET_ENOMEM, "gan: out of memory");
    s->nt = (gan_net){.H = (int)H, .W = (int)W, .Z = (int)Z, .K = cond ? m->K : 0};
    layout(&s->nt);
    int64_t sg[1] = {(int64_t)s->nt.ng}, sd[1] = {(int64_t)s->nt.nd};
    const void *pg, *pd;
    rc = dt_st_get(f, "model.generator", DT_F32, 1, sg, &pg, NULL, err);
    if (!rc) rc = dt_st_get(f, "model.discriminator", DT_F32, 1, sd, &pd, NULL, err);
    if (!rc) {
        s->g = dt_alloc_e(ctx, s->nt.ng, sizeof(float), "gan", err);
        s->d = dt_alloc_e(ctx, s->nt.nd, sizeof(float), "gan", err);
        if (!s->g || !s->d) rc = DUET_ENOMEM;
        else {
            memcpy(s->g, pg, s->nt.ng * sizeof(float));
            memcpy(s->d, pd, s->nt.nd * sizeof(float));
        }
    }
    if (rc) {
        gan_free_state(ctx, s);
        return rc;
    }
    m->state = s;
    return DUET_OK;
}

/* --- gradient check (tests) ------------------------------------------------------------------ */

/* Discriminator loss (real -> 1 and fake -> 0) and generator loss (fake -> 1) of one batch,
 * from fixed noise; with gd / gg, their gradients. */
static double d_loss(const duet_ctx *ctx, const gan_net *t, const gan_state *s, gan_work *w, const float *real,
                     const int32_t *y, const float *z, int B, float *gd) {
    memcpy(w->zin, z, (size_t)B * (size_t)(t->Z + t->K) * sizeof(float));
    disc_fwd(ctx, t, s->d, w, real, y, B);
    double l = bce_logits(w, B, 1.0f, 1.0f);
    if (gd) disc_bwd(ctx, t, s->d, gd, w, NULL, B);
    gen_fwd(ctx, t, s->g, w, B);
    disc_fwd(ctx, t, s->d, w, w->img, y, B);
    l += bce_logits(w, B, 0.0f, 1.0f);
    if (gd) disc_bwd(ctx, t, s->d, gd, w, NULL, B);
    return l;
}

static double g_loss(const duet_ctx *ctx, const gan_net *t, const gan_state *s, gan_work *w, const int32_t *y,
                     const float *z, int B, float *gg, float *junk) {
    memcpy(w->zin, z, (size_t)B * (size_t)(t->Z + t->K) * sizeof(float));
    gen_fwd(ctx, t, s->g, w, B);
    disc_fwd(ctx, t, s->d, w, w->img, y, B);
    double l = bce_logits(w, B, 1.0f, 1.0f);
    if (gg) {
        disc_bwd(ctx, t, s->d, junk, w, w->dimg, B);
        gen_bwd(ctx, t, s->g, gg, w, B);
    }
    return l;
}

int dt_gan_gradcheck(duet_ctx *ctx, int H, int W, int K, double *worst, duet_err *err) {
    gan_state s = {{.H = H, .W = W, .Z = 5, .K = K}, NULL, NULL};
    gan_net *t = &s.nt;
    layout(t);
    enum { B = 3 };
    gan_work w = {0};
    size_t hw = (size_t)H * (size_t)W;
    float *gd = dt_calloc(ctx, t->nd, sizeof(float)), *gg = dt_calloc(ctx, t->ng, sizeof(float));
    float *junk = dt_calloc(ctx, t->nd, sizeof(float)), *real = dt_calloc(ctx, B * hw, sizeof(float));
    float *z = dt_calloc(ctx, (size_t)B * (size_t)(t->Z + t->K), sizeof(float));
    s.g = dt_calloc(ctx, t->ng, sizeof(float));
    s.d = dt_calloc(ctx, t->nd, sizeof(float));
    int rc = gd && gg && junk && real && z && s.g && s.d ? work_new(ctx, t, B, &w, err) : dt_err(err, DUET_ENOMEM, "gan: out of memory");
    if (!rc) {
        dt_rng r;
        dt_rng_seed(&r, 5);
        for (size_t i = 0; i < t->ng; i++) s.g[i] = (float)(dt_rng_normal(&r) * 0.3);
        for (size_t i = 0; i < t->nd; i++) s.d[i] = (float)(dt_rng_normal(&r) * 0.3);
        for (size_t i = 0; i < B * hw; i++) real[i] = (float)dt_rng_uniform(&r);
        int32_t y[B] = {0, K > 1 ? 1 : 0, 0};
        gan_work *pw = &w;
        float *zz = z;
        for (int i = 0; i < B; i++) {
            for (int j = 0; j < t->Z; j++) zz[i * (t->Z + t->K) + j] = (float)dt_rng_normal(&r);
            for (int k = 0; k < t->K; k++) zz[i * (t->Z + t->K) + t->Z + k] = y[i] == k;
        }
        d_loss(ctx, t, &s, pw, real, y, z, B, gd);
        g_loss(ctx, t, &s, pw, y, z, B, gg, junk);
        double bad = 0.0;
        for (int pass = 0; pass < 2; pass++) {
            float *P = pass ? s.g : s.d, *G = pass ? gg : gd;
            size_t n = pass ? t->ng : t->nd;
            for (int m = 0; m < 40; m++) {
                size_t i = (size_t)dt_rng_below(&r, n);
                float keep = P[i];
                P[i] = keep + 1e-3f;
                double up = pass ? g_loss(ctx, t, &s, pw, y, z, B, NULL, NULL) : d_loss(ctx, t, &s, pw, real, y, z, B, NULL);
                P[i] = keep - 1e-3f;
                double dn = pass ? g_loss(ctx, t, &s, pw, y, z, B, NULL, NULL) : d_loss(ctx, t, &s, pw, real, y, z, B, NULL);
                P[i] = keep;
                /* the absolute part allows for the loss's rounding over the step: about 5e-6
                 * with the 4x4 stride-2 layers' Winograd products, 1e-6 unfolded */
                double num = (up - dn) / 2e-3, e = fabs(num - G[i]) / (5e-3 + 3e-2 * fabs(G[i]));
                if (e > bad) bad = e;
            }
        }
        *worst = bad; /* <= 1: every sampled gradient within tolerance */
    }
    dt_free(ctx, w.mem);
    dt_free(ctx, gd);
    dt_free(ctx, gg);
    dt_free(ctx, junk);
    dt_free(ctx, real);
    dt_free(ctx, z);
    dt_free(ctx, s.g);
    dt_free(ctx, s.d);
    return rc;
}

static const dt_option gan_options[] = {
    {"--latent", "noise dimensions (default 64)"},
    {"--conditional", "learn p(x|y): draw a chosen class"},
    {"--epochs", "epochs (default 10)"},
    {"--batch", "mini-batch (default 64)"},
    {"--lr", "Adam step (default 2e-4)"},
    {"--checkpoint", "checkpoint file (weights, optimizer, position, random state)"},
    {"--checkpoint-every", "write --checkpoint every N optimizer steps (default 500)"},
    {"--resume", "continue training from a checkpoint (same data and settings): ends as an uninterrupted run"},
    {NULL, NULL},
};

const dt_model_ops dt_gan_ops = {
    .options = gan_options,
    .distributed = 1,
    .name = "gan",
    .learns = "p(x) implicitly (p(x|y) when conditional)",
    .caps = DUET_CAN_SAMPLE,
    .about = "DCGAN-style generative adversarial network for images; --conditional draws a chosen class",
    .fit = gan_fit,
    .sample = gan_sample,
    .save = gan_save,
    .load = gan_load,
    .free_state = gan_free_state,
    .resumable = 1,
    .compare_conditional = 1,
};
