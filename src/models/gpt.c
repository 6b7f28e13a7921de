/* gpt.c — a decoder-only transformer language model: trained on a corpus, sampled one token
 * at a time with a key/value cache, and scored; also runs llama2.c checkpoints.
 *
 * Architecture (the one llama2.c's checkpoints use, so that imported and trained models share
 * one implementation): token embedding (+ learned positions when asked), L pre-norm blocks of
 * [RMSNorm -> causal multi-head attention with rotary positions and grouped key/value heads ->
 * residual] and [RMSNorm -> SwiGLU MLP -> residual], a final RMSNorm and the output layer (tied
 * to the token embedding by default). No biases.
 *
 * All parameters live in one float array; a model's forward pass handles B sequences of n new
 * positions starting at pos0, with keys and values kept per layer (the training batch, or the
 * generation cache), so training, scoring and generation run the same code.
 * Not here: the layers' arithmetic (src/nn), tokenizers (src/data/tokenizer.c).
 */
#include <math.h>

#include "../core/gemm.h"
#include "../data/tokenizer.h"
#include "../io/llama2c.h"
#include "../nn/nn.h"
#include "gpt.h"
#include "model.h"

typedef struct gpt_cfg {
    int V, C, L, NH, NKV, hd, F;
    int T;            /* context (positions) */
    int learned_pos;  /* 1: position embedding table; 0: RoPE */
    int tied;         /* 1: output layer = token embedding */
    float eps, theta;
} gpt_cfg;

typedef struct gpt {
    gpt_cfg c;
    size_t n;                     /* parameters */
    float *w;                     /* (n) all parameters */
    size_t o_tok, o_pos, o_head, o_layers, o_final, layer_size;
    size_t lo_attn_norm, lo_mlp_norm, lo_wq, lo_wk, lo_wv, lo_wo, lo_w1, lo_w3, lo_w2;
    size_t decay_end;             /* [0, decay_end) are embedding/head matrices */
    float *rope_cos, *rope_sin;   /* (T, hd/2) */
    dt_tok *tok;
} gpt;

#define LW(g, P, l, name) ((P) + (g)->o_layers + (size_t)(l) * (g)->layer_size + (g)->lo_##name)

static void gpt_layout(gpt *g) {
    const gpt_cfg *c = &g->c;
    size_t C = (size_t)c->C, qd = (size_t)c->NH * (size_t)c->hd, kvd = (size_t)c->NKV * (size_t)c->hd, F = (size_t)c->F;
    size_t o = 0;
    g->o_tok = o, o += (size_t)c->V * C;
    g->o_pos = o, o += c->learned_pos ? (size_t)c->T * C : 0;
    g->o_head = c->tied ? g->o_tok : o;
    if (!c->tied) o += (size_t)c->V * C;
    g->decay_end = o;
    g->o_layers = o;
    size_t lo = 0;
    g->lo_attn_norm = lo, lo += C;
    g->lo_mlp_norm = lo, lo += C;
    g->lo_wq = lo, lo += qd * C;
    g->lo_wk = lo, lo += kvd * C;
    g->lo_wv = lo, lo += kvd * C;
    g->lo_wo = lo, lo += C * qd;
    g->lo_w1 = lo, lo += F * C;
    g->lo_w3 = lo, lo += F * C;
    g->lo_w2 = lo, lo += C * F;
    g->layer_size = lo;
    o += (size_t)c->L * lo;
    g->o_final = o, o += C;
    g->n = o;
}

static void gpt_free(duet_ctx *ctx, gpt *g) {
    if (!g) return;
    dt_free(ctx, g->w);
    dt_free(ctx, g->rope_cos);
    dt_free(ctx, g->rope_sin);
    dt_tok_free(ctx, g->tok);
    dt_free(ctx, g);
}

static int cfg_check(const gpt_cfg *c, const char *where, duet_err *err) {
    if (c->V < 2 || c->V > (1 << 22) || c->C < 2 || c->C > 65536 || c->L < 1 || c->L > 1024 || c->NH < 1 ||
        c->NKV < 1 || c->NKV > c->NH || c->NH % c->NKV != 0 || c->C % c->NH != 0 || c->hd != c->C / c->NH ||
        c->hd % 2 != 0 || c->F < 1 || c->F > 1 << 20 || c->T < 2 || c->T > 1 << 20 || !(c->eps > 0) || !(c->theta > 0))
        return dt_err(err, DUET_EFORMAT,
                      "%s: invalid transformer shape (vocab %d, dim %d, layers %d, heads %d/%d, hidden %d, context %d): "
                      "dim must split into an even head width",
                      where, c->V, c->C, c->L, c->NH, c->NKV, c->F, c->T);
    size_t p = (size_t)c->V * (size_t)c->C * 2 + (size_t)c->L * ((size_t)c->C * (size_t)c->C * 4 + (size_t)c->F * (size_t)c->C * 3);
    if (p > ((size_t)1 << 34)) return dt_err(err, DUET_ERANGE, "%s: %zu parameters is more than duet handles", where, p);
    return DUET_OK;
}

static int gpt_new(duet_ctx *ctx, const gpt_cfg *c, gpt **out, duet_err *err) {
    *out = NULL;
    int rc = cfg_check(c, "gpt", err);
    if (rc) return rc;
    gpt *g = dt_calloc(ctx, 1, sizeof *g);
    if (!g) return dt_err(err, DUET_ENOMEM, "gpt: out of memory");
    g->c = *c;
    gpt_layout(g);
    size_t half = (size_t)c->T * (size_t)(c->hd / 2);
    g->w = dt_alloc_e(ctx, g->n, sizeof(float), "gpt parameters", err);
    g->rope_cos = dt_alloc_e(ctx, half, sizeof(float), "gpt", err);
    g->rope_sin = dt_alloc_e(ctx, half, sizeof(float), "gpt", err);
    if (!g->w || !g->rope_cos || !g->rope_sin) {
        gpt_free(ctx, g);
        return DUET_ENOMEM;
    }
    dt_rope_table(g->rope_cos, g->rope_sin, c->T, c->hd, c->theta);
    *out = g;
    return DUET_OK;
}

/* --- activations ------------------------------------------------------------------------------ */

typedef struct gpt_acts {
    int B;
    int64_t n, ldk;     /* positions per sequence in this batch; rows kept per sequence in k, v */
    int save;           /* 1: every layer's activations kept (training) */
    float *x, *xm, *h1, *h2, *rstd1, *rstd2, *q, *k, *v, *att, *o, *a, *b, *g, *hf, *rstdf, *logits;
    float *dx, *dh, *dq, *dk, *dv, *d_o, *da, *db, *dg, *dhf;
    double *loss;
    float *mem;
} gpt_acts;

static void acts_free(duet_ctx *ctx, gpt_acts *A) {
    dt_free(ctx, A->mem);
    dt_free(ctx, A->loss);
    memset(A, 0, sizeof *A);
}

/* Buffers for B sequences of up to n positions; keys and values for ldk positions each. */
static int acts_new(duet_ctx *ctx, const gpt *g, int B, int64_t n, int64_t ldk, int save, gpt_acts *A,
                    duet_err *err) {
    memset(A, 0, sizeof *A);
    const gpt_cfg *c = &g->c;
    size_t N = (size_t)B * (size_t)n, C = (size_t)c->C, L = (size_t)c->L, Ls = save ? L : 1;
    size_t qd = (size_t)c->NH * (size_t)c->hd, kvd = (size_t)c->NKV * (size_t)c->hd, F = (size_t)c->F;
    size_t att = (size_t)B * (size_t)c->NH * (size_t)n * (size_t)ldk;
    struct { float **p; size_t n; } parts[] = {
        {&A->x, (save ? L + 1 : 1) * N * C}, {&A->xm, save ? L * N * C : 0}, {&A->h1, Ls * N * C},
        {&A->h2, Ls * N * C}, {&A->rstd1, Ls * N}, {&A->rstd2, Ls * N}, {&A->q, Ls * N * qd},
        {&A->k, L * (size_t)B * (size_t)ldk * kvd}, {&A->v, L * (size_t)B * (size_t)ldk * kvd},
        {&A->att, Ls * att}, {&A->o, Ls * N * qd}, {&A->a, Ls * N * F}, {&A->b, Ls * N * F},
        {&A->g, Ls * N * F}, {&A->hf, N * C}, {&A->rstdf, N}, {&A->logits, N * (size_t)c->V},
        {&A->dx, save ? N * C : 0}, {&A->dh, save ? N * C : 0}, {&A->dq, save ? N * qd : 0},
        {&A->dk, save ? (size_t)B * (size_t)ldk * kvd : 0}, {&A->dv, save ? (size_t)B * (size_t)ldk * kvd : 0},
        {&A->d_o, save ? N * qd : 0}, {&A->da, save ? N * F : 0}, {&A->db, save ? N * F : 0},
        {&A->dg, save ? N * F : 0}, {&A->dhf, save ? N * C : 0},
    };
    size_t total = 0, np = sizeof parts / sizeof parts[0];
    for (size_t i = 0; i < np; i++) total += (parts[i].n + 15) & ~(size_t)15;
    A->mem = dt_alloc_e(ctx, total, sizeof(float), "gpt activations", err);
    A->loss = dt_alloc_e(ctx, N, sizeof(double), "gpt activations", err);
    if (!A->mem || !A->loss) {
        acts_free(ctx, A);
        return DUET_ENOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < np; i++) {
        *parts[i].p = parts[i].n ? A->mem + off : NULL;
        off += (parts[i].n + 15) & ~(size_t)15;
    }
    A->B = B, A->n = n, A->ldk = ldk, A->save = save;
    return DUET_OK;
}

/* --- forward and backward ---------------------------------------------------------------------- */

/* Y (N, out) = X (N, in) W^T + beta Y, W (out, in). */
static void lin(const duet_ctx *ctx, float *Y, const float *X, const float *W, int64_t N, int64_t in, int64_t out,
                float beta) {
    dt_gemm(ctx, Y, out, X, in, 0, W, in, 1, 1.0f, beta, N, out, in);
}
/* dW (out, in) += dY^T X. */
static void lin_dw(const duet_ctx *ctx, float *dW, const float *dY, const float *X, int64_t N, int64_t in, int64_t out) {
    dt_gemm(ctx, dW, in, dY, out, 1, X, in, 0, 1.0f, 1.0f, out, in, N);
}
/* dX (N, in) = dY W + beta dX. */
static void lin_dx(const duet_ctx *ctx, float *dX, const float *dY, const float *W, int64_t N, int64_t in, int64_t out,
                   float beta) {
    dt_gemm(ctx, dX, in, dY, out, 0, W, in, 0, 1.0f, beta, N, in, out);
}

/* Runs B sequences of n tokens (tok, (B, n)) from position pos0 through parameters P. With
 * last_only (B == 1), logits only for the last position (in A->logits row 0). Keys and values
 * land in the cache rows pos0.. of each layer. Requires B == 1 or (pos0 == 0 and n == ldk). */
static void forward(const duet_ctx *ctx, const gpt *g, const float *P, gpt_acts *A, const int32_t *tok, int B,
                    int64_t n, int64_t pos0, int last_only) {
    const gpt_cfg *c = &g->c;
    int nth = dt_threads(ctx);
    int64_t N = (int64_t)B * n, C = c->C, qd = (int64_t)c->NH * c->hd, kvd = (int64_t)c->NKV * c->hd, F = c->F;
    DT_ASSERT(B == 1 || (pos0 == 0 && n == A->ldk));
    DT_ASSERT(B <= A->B && n <= A->n && pos0 + n <= A->ldk);
    for (int64_t r = 0; r < N; r++) {
        float *xr = A->x + (size_t)r * (size_t)C;
        memcpy(xr, P + g->o_tok + (size_t)tok[r] * (size_t)C, (size_t)C * sizeof(float));
        if (c->learned_pos) {
            const float *pe = P + g->o_pos + (size_t)(pos0 + r % n) * (size_t)C;
            for (int64_t j = 0; j < C; j++) xr[j] += pe[j];
        }
    }
    for (int l = 0; l < c->L; l++) {
        size_t ls = A->save ? (size_t)l : 0;
        float *x = A->x + (A->save ? (size_t)l * (size_t)N * (size_t)C : 0);
        float *xm = A->save ? A->xm + (size_t)l * (size_t)N * (size_t)C : x;
        float *xo = A->save ? A->x + (size_t)(l + 1) * (size_t)N * (size_t)C : x;
        float *h1 = A->h1 + ls * (size_t)N * (size_t)C, *h2 = A->h2 + ls * (size_t)N * (size_t)C;
        float *q = A->q + ls * (size_t)N * (size_t)qd, *o = A->o + ls * (size_t)N * (size_t)qd;
        float *a = A->a + ls * (size_t)N * (size_t)F, *b = A->b + ls * (size_t)N * (size_t)F, *gg = A->g + ls * (size_t)N * (size_t)F;
        float *Kl = A->k + (size_t)l * (size_t)A->B * (size_t)A->ldk * (size_t)kvd;
        float *Vl = A->v + (size_t)l * (size_t)A->B * (size_t)A->ldk * (size_t)kvd;
        float *att = A->att + ls * (size_t)A->B * (size_t)c->NH * (size_t)A->n * (size_t)A->ldk;
        size_t kpos = (size_t)pos0 * (size_t)kvd;
        dt_rmsnorm_fwd(nth, x, LW(g, P, l, attn_norm), h1, A->rstd1 + ls * (size_t)N, N, C, c->eps);
        lin(ctx, q, h1, LW(g, P, l, wq), N, C, qd, 0.0f);
        lin(ctx, Kl + kpos, h1, LW(g, P, l, wk), N, C, kvd, 0.0f);
        lin(ctx, Vl + kpos, h1, LW(g, P, l, wv), N, C, kvd, 0.0f);
        if (!c->learned_pos) {
            dt_rope(nth, q, N, c->NH, c->hd, pos0, n, g->rope_cos, g->rope_sin, 0);
            dt_rope(nth, Kl + kpos, N, c->NKV, c->hd, pos0, n, g->rope_cos, g->rope_sin, 0);
        }
        dt_attn_shape s = {B, n, pos0, A->ldk, c->NH, c->NKV, c->hd};
        dt_attn_fwd(nth, &s, q, Kl, Vl, o, att);
        if (xm != x) memcpy(xm, x, (size_t)N * (size_t)C * sizeof(float));
        lin(ctx, xm, o, LW(g, P, l, wo), N, qd, C, 1.0f);
        dt_rmsnorm_fwd(nth, xm, LW(g, P, l, mlp_norm), h2, A->rstd2 + ls * (size_t)N, N, C, c->eps);
        lin(ctx, a, h2, LW(g, P, l, w1), N, C, F, 0.0f);
        lin(ctx, b, h2, LW(g, P, l, w3), N, C, F, 0.0f);
        dt_swiglu_fwd(nth, a, b, gg, N * F);
        if (xo != xm) memcpy(xo, xm, (size_t)N * (size_t)C * sizeof(float));
        lin(ctx, xo, gg, LW(g, P, l, w2), N, F, C, 1.0f);
    }
    const float *xl = A->x + (A->save ? (size_t)c->L * (size_t)N * (size_t)C : 0);
    int64_t rows = N;
    if (last_only) {
        xl += (size_t)(N - 1) * (size_t)C;
        rows = 1;
    }
    dt_rmsnorm_fwd(nth, xl, P + g->o_final, A->hf, A->rstdf, rows, C, c->eps);
    lin(ctx, A->logits, A->hf, P + g->o_head, rows, C, c->V, 0.0f);
}

/* Gradients of the loss whose d/dlogits is in A->logits (after dt_xent), added into G, for
 * the B sequences the forward pass ran. */
static void backward(const duet_ctx *ctx, const gpt *g, const float *P, float *G, gpt_acts *A, int B,
                     const int32_t *tok) {
    const gpt_cfg *c = &g->c;
    int nth = dt_threads(ctx);
    int64_t n = A->n, N = (int64_t)B * n, C = c->C, qd = (int64_t)c->NH * c->hd, kvd = (int64_t)c->NKV * c->hd, F = c->F;
    lin_dw(ctx, G + g->o_head, A->logits, A->hf, N, C, c->V);
    lin_dx(ctx, A->dhf, A->logits, P + g->o_head, N, C, c->V, 0.0f);
    memset(A->dx, 0, (size_t)N * (size_t)C * sizeof(float));
    dt_rmsnorm_bwd(nth, A->dhf, A->x + (size_t)c->L * (size_t)N * (size_t)C, P + g->o_final, A->rstdf, A->dx,
                   G + g->o_final, N, C);
    for (int l = c->L - 1; l >= 0; l--) {
        size_t NC = (size_t)N * (size_t)C, NF = (size_t)N * (size_t)F, NQ = (size_t)N * (size_t)qd;
        const float *x = A->x + (size_t)l * NC, *xm = A->xm + (size_t)l * NC;
        const float *h1 = A->h1 + (size_t)l * NC, *h2 = A->h2 + (size_t)l * NC;
        const float *q = A->q + (size_t)l * NQ, *o = A->o + (size_t)l * NQ;
        const float *a = A->a + (size_t)l * NF, *b = A->b + (size_t)l * NF, *gg = A->g + (size_t)l * NF;
        const float *Kl = A->k + (size_t)l * (size_t)A->B * (size_t)A->ldk * (size_t)kvd;
        const float *Vl = A->v + (size_t)l * (size_t)A->B * (size_t)A->ldk * (size_t)kvd;
        const float *att = A->att + (size_t)l * (size_t)A->B * (size_t)c->NH * (size_t)n * (size_t)A->ldk;
        /* MLP */
        lin_dx(ctx, A->dg, A->dx, LW(g, P, l, w2), N, F, C, 0.0f);
        lin_dw(ctx, LW(g, G, l, w2), A->dx, gg, N, F, C);
        dt_swiglu_bwd(nth, A->dg, a, b, A->da, A->db, N * F);
        lin_dw(ctx, LW(g, G, l, w1), A->da, h2, N, C, F);
        lin_dw(ctx, LW(g, G, l, w3), A->db, h2, N, C, F);
        lin_dx(ctx, A->dh, A->da, LW(g, P, l, w1), N, C, F, 0.0f);
        lin_dx(ctx, A->dh, A->db, LW(g, P, l, w3), N, C, F, 1.0f);
        dt_rmsnorm_bwd(nth, A->dh, xm, LW(g, P, l, mlp_norm), A->rstd2 + (size_t)l * (size_t)N, A->dx,
                       LW(g, G, l, mlp_norm), N, C);
        /* attention */
        lin_dx(ctx, A->d_o, A->dx, LW(g, P, l, wo), N, qd, C, 0.0f);
        lin_dw(ctx, LW(g, G, l, wo), A->dx, o, N, qd, C);
        dt_attn_shape s = {B, n, 0, A->ldk, c->NH, c->NKV, c->hd};
        dt_attn_bwd(nth, &s, A->d_o, q, Kl, Vl, o, att, A->dq, A->dk, A->dv);
        if (!c->learned_pos) {
            dt_rope(nth, A->dq, N, c->NH, c->hd, 0, n, g->rope_cos, g->rope_sin, 1);
            dt_rope(nth, A->dk, N, c->NKV, c->hd, 0, n, g->rope_cos, g->rope_sin, 1);
        }
        lin_dw(ctx, LW(g, G, l, wq), A->dq, h1, N, C, qd);
        lin_dw(ctx, LW(g, G, l, wk), A->dk, h1, N, C, kvd);
        lin_dw(ctx, LW(g, G, l, wv), A->dv, h1, N, C, kvd);
        lin_dx(ctx, A->dh, A->dq, LW(g, P, l, wq), N, C, qd, 0.0f);
        lin_dx(ctx, A->dh, A->dk, LW(g, P, l, wk), N, C, kvd, 1.0f);
        lin_dx(ctx, A->dh, A->dv, LW(g, P, l, wv), N, C, kvd, 1.0f);
        dt_rmsnorm_bwd(nth, A->dh, x, LW(g, P, l, attn_norm), A->rstd1 + (size_t)l * (size_t)N, A->dx,
                       LW(g, G, l, attn_norm), N, C);
    }
    for (int64_t r = 0; r < N; r++) {
        const float *d = A->dx + (size_t)r * (size_t)C;
        float *te = G + g->o_tok + (size_t)tok[r] * (size_t)C;
        for (int64_t j = 0; j < C; j++) te[j] += d[j];
        if (c->learned_pos) {
            float *pe = G + g->o_pos + (size_t)(r % n) * (size_t)C;
            for (int64_t j = 0; j < C; j++) pe[j] += d[j];
        }
    }
}

/* Mean cross-entropy of B windows (inputs tok, targets tgt, (B, T) each); with G, the
 * gradients (scaled by `scale`) are added into G. */
static double loss_and_grad(const duet_ctx *ctx, const gpt *g, const float *P, float *G, gpt_acts *A, int B,
                            const int32_t *tok, const int32_t *tgt, double scale) {
    int64_t N = (int64_t)B * A->n;
    forward(ctx, g, P, A, tok, B, A->n, 0, 0);
    dt_xent(dt_threads(ctx), A->logits, tgt, A->loss, N, g->c.V, (float)(scale / (double)N), G != NULL);
    double s = 0.0;
    for (int64_t i = 0; i < N; i++) s += A->loss[i];
    if (G) backward(ctx, g, P, G, A, B, tok);
    return s / (double)N;
}

/* Training runs data-parallel: each worker (one thread) takes a share of the batch's windows
 * with its own activations and gradient, and the gradients are summed. A small model's layers
 * are too small to split across threads profitably; whole windows are not. */
typedef struct gpt_worker {
    gpt_acts A;
    float *G;       /* (n) gradient of workers 1.. (worker 0 adds into the caller's) */
    double loss;
} gpt_worker;

typedef struct gpt_team {
    int nw;
    gpt_worker *w;
} gpt_team;

static void team_free(duet_ctx *ctx, gpt_team *t) {
    for (int i = 0; t->w && i < t->nw; i++) {
        acts_free(ctx, &t->w[i].A);
        dt_free(ctx, t->w[i].G);
    }
    dt_free(ctx, t->w);
    memset(t, 0, sizeof *t);
}

static int team_new(duet_ctx *ctx, const gpt *g, int B, int grads, gpt_team *t, duet_err *err) {
    memset(t, 0, sizeof *t);
    int nw = dt_threads(ctx) < B ? dt_threads(ctx) : B;
    t->w = dt_calloc(ctx, (size_t)nw, sizeof *t->w);
    if (!t->w) return dt_err(err, DUET_ENOMEM, "gpt: out of memory");
    t->nw = nw;
    for (int i = 0; i < nw; i++) {
        int rc = acts_new(ctx, g, (B + nw - 1) / nw, g->c.T, g->c.T, 1, &t->w[i].A, err);
        if (!rc && grads && i > 0 && !(t->w[i].G = dt_calloc(ctx, g->n, sizeof(float))))
            rc = dt_err(err, DUET_ENOMEM, "gpt: out of memory for gradients");
        if (rc) {
            team_free(ctx, t);
            return rc;
        }
    }
    return DUET_OK;
}

/* Mean loss of B windows split over the team; with G, gradients scaled by `scale` added. */
static double team_run(const duet_ctx *ctx, const gpt *g, gpt_team *t, int B, const int32_t *tok, const int32_t *tgt,
                       float *G, double scale) {
    int nw = t->nw;
    int64_t T = g->c.T;
    duet_ctx one = *ctx;
    one.n_threads = 1;
    const duet_ctx *wctx = nw > 1 ? &one : ctx;
#pragma omp parallel for schedule(static, 1) num_threads(nw) if (nw > 1)
    for (int i = 0; i < nw; i++) {
        int b0 = (int)((int64_t)i * B / nw), b1 = (int)((int64_t)(i + 1) * B / nw);
        double share = (double)(b1 - b0) / B;
        t->w[i].loss = 0.0;
        if (b1 > b0)
            t->w[i].loss = share * loss_and_grad(wctx, g, g->w, G ? (i ? t->w[i].G : G) : NULL, &t->w[i].A, b1 - b0,
                                                 tok + (size_t)b0 * (size_t)T, tgt + (size_t)b0 * (size_t)T, scale * share);
    }
    double loss = 0.0;
    for (int i = 0; i < nw; i++) loss += t->w[i].loss;
    if (G && nw > 1) {
        size_t n = g->n;
#pragma omp parallel for schedule(static) num_threads(nw)
        for (size_t j = 0; j < n; j++)
            for (int i = 1; i < nw; i++) {
                G[j] += t->w[i].G[j];
                t->w[i].G[j] = 0.0f;
            }
    }
    return loss;
}

/* --- initialisation and hyperparameters -------------------------------------------------------- */

static void fill_normal(dt_rng *r, float *p, size_t n, double std) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(dt_rng_normal(r) * std);
}

/* GPT-2's scheme: N(0, 0.02) everywhere, N(0, 0.02 / sqrt(2L)) for the two projections that
 * write into the residual stream, norms at 1. */
static void gpt_init(gpt *g, uint64_t seed) {
    const gpt_cfg *c = &g->c;
    dt_rng r;
    dt_rng_seed(&r, seed);
    size_t C = (size_t)c->C, qd = (size_t)c->NH * (size_t)c->hd, kvd = (size_t)c->NKV * (size_t)c->hd, F = (size_t)c->F;
    double std = 0.02, ostd = 0.02 / sqrt(2.0 * c->L);
    fill_normal(&r, g->w, g->decay_end, std);
    for (int l = 0; l < c->L; l++) {
        for (size_t j = 0; j < C; j++) LW(g, g->w, l, attn_norm)[j] = LW(g, g->w, l, mlp_norm)[j] = 1.0f;
        fill_normal(&r, LW(g, g->w, l, wq), qd * C, std);
        fill_normal(&r, LW(g, g->w, l, wk), kvd * C, std);
        fill_normal(&r, LW(g, g->w, l, wv), kvd * C, std);
        fill_normal(&r, LW(g, g->w, l, wo), C * qd, ostd);
        fill_normal(&r, LW(g, g->w, l, w1), F * C, std);
        fill_normal(&r, LW(g, g->w, l, w3), F * C, std);
        fill_normal(&r, LW(g, g->w, l, w2), C * F, ostd);
    }
    for (size_t j = 0; j < C; j++) g->w[g->o_final + j] = 1.0f;
}

typedef struct gpt_hp {
    int B, accum, warmup, eval_every, eval_batches;
    int64_t steps;
    double lr, min_lr, wd, clip, val_share;
} gpt_hp;

static int hp_resolve(const duet_train_params *p, gpt_cfg *c, gpt_hp *h, duet_err *err) {
    c->C = p->dim ? p->dim : 128;
    c->L = p->layers ? p->layers : 4;
    c->NH = p->heads ? p->heads : 4;
    c->NKV = c->NH;
    c->T = p->context ? p->context : 64;
    c->learned_pos = p->learned_pos != 0;
    c->tied = 1;
    c->eps = 1e-5f;
    c->theta = 10000.0f;
    if (c->C < 2 || c->NH < 1 || c->C % c->NH != 0 || (c->C / c->NH) % 2 != 0)
        return dt_err(err, DUET_EINVAL, "--dim %d must be a multiple of --heads %d with an even quotient", c->C, c->NH);
    c->hd = c->C / c->NH;
    /* SwiGLU width with the parameter count of a 4x GELU MLP, rounded to 8 */
    c->F = p->hidden ? p->hidden : (8 * c->C / 3 + 7) / 8 * 8;
    if (c->L < 1 || c->L > 1024) return dt_err(err, DUET_EINVAL, "--layers %d: expected 1..1024", c->L);
    if (c->T < 2 || c->T > 65536) return dt_err(err, DUET_EINVAL, "--context %d: expected 2..65536", c->T);
    h->B = p->batch ? p->batch : 12;
    h->accum = p->accum ? p->accum : 1;
    h->steps = p->steps ? p->steps : 2000;
    h->lr = p->lr ? p->lr : 1e-3;
    h->min_lr = p->min_lr ? p->min_lr : h->lr / 10;
    h->warmup = p->warmup > 0 ? p->warmup : p->warmup < 0 ? 0 : 100;
    if (h->warmup > h->steps) h->warmup = (int)h->steps;
    h->wd = p->l2 > 0 ? p->l2 : p->l2 < 0 ? 0.0 : 0.1;
    h->clip = p->grad_clip > 0 ? p->grad_clip : p->grad_clip < 0 ? 0.0 : 1.0;
    h->eval_every = p->eval_every ? p->eval_every : 250;
    h->eval_batches = p->eval_batches ? p->eval_batches : 20;
    h->val_share = p->val_share ? p->val_share : 0.1;
    if (h->B < 1 || h->B > 65536 || h->accum < 1 || h->accum > 65536)
        return dt_err(err, DUET_EINVAL, "--batch %d / --accum %d: expected positive values", h->B, h->accum);
    if (h->steps < 1 || !(h->lr > 0) || !(h->min_lr >= 0) || h->eval_every < 1 || h->eval_batches < 1)
        return dt_err(err, DUET_EINVAL, "--steps, --lr and the evaluation settings must be positive");
    if (!(h->val_share >= 0 && h->val_share < 0.9))
        return dt_err(err, DUET_EINVAL, "validation share %g: expected 0..0.9", h->val_share);
    return DUET_OK;
}

static int make_tokenizer(duet_ctx *ctx, const char *src, const char *text, size_t len, const duet_train_params *p,
                          dt_tok **out, duet_err *err) {
    const char *kind = p->tokenizer ? p->tokenizer : "char";
    if (strcmp(kind, "char") == 0) return dt_tok_train_char(ctx, src, text, len, out, err);
    if (strcmp(kind, "bpe") == 0) return dt_tok_train_bpe(ctx, src, text, len, p->vocab ? p->vocab : 512, out, err);
    char enc[4096], bpe[4096];
    if (snprintf(enc, sizeof enc, "%s/encoder.json", kind) >= (int)sizeof enc ||
        snprintf(bpe, sizeof bpe, "%s/vocab.bpe", kind) >= (int)sizeof bpe)
        return dt_err(err, DUET_EINVAL, "--tokenizer: path too long");
    FILE *fp = fopen(enc, "rb");
    if (!fp)
        return dt_err(err, DUET_EINVAL, "--tokenizer '%s': expected char, bpe, or a folder with GPT-2's encoder.json and vocab.bpe", kind);
    fclose(fp);
    return dt_tok_load_gpt2(ctx, enc, bpe, out, err);
}

/* --- saving and loading ---------------------------------------------------------------------- */

static const char *const layer_names[] = {"attn_norm", "mlp_norm", "wq", "wk", "wv", "wo", "w1", "w3", "w2"};

/* Name, offset and shape of tensor i of layer l (i < 9). */
static void layer_tensor(const gpt *g, int i, size_t *off, int64_t shape[2], int *ndim) {
    const gpt_cfg *c = &g->c;
    int64_t C = c->C, qd = (int64_t)c->NH * c->hd, kvd = (int64_t)c->NKV * c->hd, F = c->F;
    size_t offs[] = {g->lo_attn_norm, g->lo_mlp_norm, g->lo_wq, g->lo_wk, g->lo_wv, g->lo_wo, g->lo_w1, g->lo_w3, g->lo_w2};
    int64_t rows[] = {C, C, qd, kvd, kvd, C, F, F, C}, cols[] = {0, 0, C, C, C, qd, C, C, F};
    *off = offs[i];
    shape[0] = rows[i];
    shape[1] = cols[i];
    *ndim = cols[i] ? 2 : 1;
}

static int gpt_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const gpt *g = m->state;
    const gpt_cfg *c = &g->c;
    int rc = DUET_OK;
    DT_TRY(dt_st_metaf(w, err, "model.vocab", "%d", c->V));
    DT_TRY(dt_st_metaf(w, err, "model.dim", "%d", c->C));
    DT_TRY(dt_st_metaf(w, err, "model.layers", "%d", c->L));
    DT_TRY(dt_st_metaf(w, err, "model.heads", "%d", c->NH));
    DT_TRY(dt_st_metaf(w, err, "model.kv_heads", "%d", c->NKV));
    DT_TRY(dt_st_metaf(w, err, "model.hidden", "%d", c->F));
    DT_TRY(dt_st_metaf(w, err, "model.context", "%d", c->T));
    DT_TRY(dt_st_metaf(w, err, "model.learned_pos", "%d", c->learned_pos));
    DT_TRY(dt_st_metaf(w, err, "model.tied", "%d", c->tied));
    DT_TRY(dt_st_metaf(w, err, "model.norm_eps", "%.9g", (double)c->eps));
    DT_TRY(dt_st_metaf(w, err, "model.rope_theta", "%.9g", (double)c->theta));
    int64_t s2[2] = {c->V, c->C};
    DT_TRY(dt_st_add(w, "model.tok_emb", DT_F32, 2, s2, g->w + g->o_tok, err));
    if (c->learned_pos) {
        int64_t sp[2] = {c->T, c->C};
        DT_TRY(dt_st_add(w, "model.pos_emb", DT_F32, 2, sp, g->w + g->o_pos, err));
    }
    if (!c->tied) DT_TRY(dt_st_add(w, "model.head", DT_F32, 2, s2, g->w + g->o_head, err));
    for (int l = 0; l < c->L; l++)
        for (int i = 0; i < 9; i++) {
            char name[64];
            size_t off;
            int64_t shape[2];
            int nd;
            layer_tensor(g, i, &off, shape, &nd);
            snprintf(name, sizeof name, "model.layers.%d.%s", l, layer_names[i]);
            DT_TRY(dt_st_add(w, name, DT_F32, nd, shape, g->w + g->o_layers + (size_t)l * g->layer_size + off, err));
        }
    DT_TRY(dt_st_add1(w, "model.final_norm", DT_F32, c->C, g->w + g->o_final, err));
    DT_TRY(dt_tok_save(g->tok, w, err));
fail:
    return rc;
}

static int get_into(const dt_st_file *f, const char *name, int ndim, const int64_t *shape, float *dst, duet_err *err) {
    const void *data;
    int rc = dt_st_get(f, name, DT_F32, ndim, shape, &data, NULL, err);
    if (rc) return rc;
    size_t n = (size_t)shape[0] * (ndim > 1 ? (size_t)shape[1] : 1);
    memcpy(dst, data, n * sizeof(float));
    return DUET_OK;
}

static int gpt_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    const char *path = dt_st_name(f);
    int64_t v[9];
    static const char *const keys[] = {"model.vocab", "model.dim", "model.layers", "model.heads", "model.kv_heads",
                                       "model.hidden", "model.context", "model.learned_pos", "model.tied"};
    static const int64_t hi[] = {1 << 22, 65536, 1024, 65536, 65536, 1 << 20, 1 << 20, 1, 1};
    int rc = DUET_OK;
    for (int i = 0; i < 9; i++) {
        rc = dt_st_meta_i64(f, keys[i], i >= 7 ? 0 : 1, hi[i], &v[i], err);
        if (rc) return rc;
    }
    double eps, theta;
    if ((rc = dt_st_meta_f64(f, "model.norm_eps", &eps, err)) || (rc = dt_st_meta_f64(f, "model.rope_theta", &theta, err)))
        return rc;
    gpt_cfg c = {(int)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], v[3] ? (int)(v[1] / v[3]) : 0, (int)v[5],
                 (int)v[6], (int)v[7], (int)v[8], (float)eps, (float)theta};
    if ((rc = cfg_check(&c, path, err))) return rc;
    gpt *g = NULL;
    if ((rc = gpt_new(ctx, &c, &g, err))) return rc;
    int64_t s2[2] = {c.V, c.C};
    DT_TRY(get_into(f, "model.tok_emb", 2, s2, g->w + g->o_tok, err));
    if (c.learned_pos) {
        int64_t sp[2] = {c.T, c.C};
        DT_TRY(get_into(f, "model.pos_emb", 2, sp, g->w + g->o_pos, err));
    }
    if (!c.tied) DT_TRY(get_into(f, "model.head", 2, s2, g->w + g->o_head, err));
    for (int l = 0; l < c.L; l++)
        for (int i = 0; i < 9; i++) {
            char name[64];
            size_t off;
            int64_t shape[2];
            int nd;
            layer_tensor(g, i, &off, shape, &nd);
            snprintf(name, sizeof name, "model.layers.%d.%s", l, layer_names[i]);
            DT_TRY(get_into(f, name, nd, shape, g->w + g->o_layers + (size_t)l * g->layer_size + off, err));
        }
    int64_t s1[1] = {c.C};
    DT_TRY(get_into(f, "model.final_norm", 1, s1, g->w + g->o_final, err));
    DT_TRY(dt_tok_load(ctx, f, &g->tok, err));
    if (dt_tok_vocab(g->tok) != c.V) {
        rc = dt_err(err, DUET_EFORMAT, "%s: the tokenizer has %d tokens, the model %d", path, dt_tok_vocab(g->tok), c.V);
        goto fail;
    }
    m->state = g;
    return DUET_OK;
fail:
    gpt_free(ctx, g);
    return rc;
}

static void gpt_free_state(duet_ctx *ctx, void *state) { gpt_free(ctx, state); }

/* --- training ------------------------------------------------------------------------------------ */

typedef struct gpt_opt {
    float *G, *M, *V;   /* gradient and AdamW moments (n each) */
    int64_t step;       /* steps done */
    dt_rng rng;         /* batch sampling */
} gpt_opt;

/* B random windows of T+1 tokens from ids[lo, hi): inputs into tok, next tokens into tgt. */
static void draw_batch(dt_rng *r, const int32_t *ids, int64_t lo, int64_t hi, int B, int T, int32_t *tok, int32_t *tgt) {
    for (int b = 0; b < B; b++) {
        int64_t s = lo + (int64_t)dt_rng_below(r, (uint64_t)(hi - lo - T));
        memcpy(tok + (size_t)b * (size_t)T, ids + s, (size_t)T * sizeof(int32_t));
        memcpy(tgt + (size_t)b * (size_t)T, ids + s + 1, (size_t)T * sizeof(int32_t));
    }
}

/* Mean loss over `batches` random batches of ids[lo, hi), always the same ones (fixed seed). */
static double estimate(const duet_ctx *ctx, const gpt *g, gpt_team *t, int B, const int32_t *ids, int64_t lo,
                       int64_t hi, int batches, uint64_t seed, int32_t *tok, int32_t *tgt) {
    dt_rng r;
    dt_rng_seed(&r, seed);
    double s = 0.0;
    for (int i = 0; i < batches; i++) {
        draw_batch(&r, ids, lo, hi, B, g->c.T, tok, tgt);
        s += team_run(ctx, g, t, B, tok, tgt, NULL, 1.0);
    }
    return s / batches;
}

/* Mean loss over every whole window of T tokens in ids[lo, hi), B windows at a time (a tail
 * shorter than B windows is left out). */
static double full_loss(const duet_ctx *ctx, const gpt *g, gpt_team *t, int B, const int32_t *ids, int64_t lo,
                        int64_t hi, int32_t *tok, int32_t *tgt) {
    int64_t T = g->c.T, windows = (hi - lo - 1) / T, batches = windows / B;
    double s = 0.0;
    for (int64_t i = 0; i < batches; i++) {
        for (int b = 0; b < B; b++) {
            int64_t st = lo + (i * B + b) * T;
            memcpy(tok + (size_t)b * (size_t)T, ids + st, (size_t)T * sizeof(int32_t));
            memcpy(tgt + (size_t)b * (size_t)T, ids + st + 1, (size_t)T * sizeof(int32_t));
        }
        s += team_run(ctx, g, t, B, tok, tgt, NULL, 1.0);
    }
    return batches ? s / (double)batches : NAN;
}

static void opt_free(duet_ctx *ctx, gpt_opt *o) {
    dt_free(ctx, o->G);
    dt_free(ctx, o->M);
    dt_free(ctx, o->V);
    memset(o, 0, sizeof *o);
}

static int write_checkpoint(duet_ctx *ctx, const duet_model *m, const gpt_opt *o, const char *path, duet_err *err) {
    const gpt *g = m->state;
    dt_ckpt c = {.step = o->step, .rng = o->rng, .nbuf = 2};
    c.buf[0] = (dt_ckpt_buf){"opt.m", DT_F32, o->M, g->n};
    c.buf[1] = (dt_ckpt_buf){"opt.v", DT_F32, o->V, g->n};
    return dt_ckpt_write(ctx, m, &c, path, err);
}

/* Takes the model, optimizer moments, step and random state from a checkpoint; the moments'
 * buffers are allocated with the model's size (the gradient's too). */
static int read_checkpoint(duet_ctx *ctx, const duet_model *m, const char *path, gpt **gout, gpt_opt *o, duet_err *err) {
    dt_ckpt c = {.nbuf = 2};
    c.buf[0] = (dt_ckpt_buf){"opt.m", DT_F32, NULL, 0};
    c.buf[1] = (dt_ckpt_buf){"opt.v", DT_F32, NULL, 0};
    void *st = NULL;
    int rc = dt_ckpt_read(ctx, m, path, &c, &st, err);
    gpt *g = st;
    o->M = c.buf[0].data;
    o->V = c.buf[1].data;
    if (!rc && (c.buf[0].n != g->n || c.buf[1].n != g->n))
        rc = dt_err(err, DUET_EFORMAT, "%s: optimizer moments of %zu and %zu values for %zu parameters", path, c.buf[0].n,
                    c.buf[1].n, g->n);
    if (!rc && !(o->G = dt_calloc(ctx, g->n, sizeof(float)))) rc = dt_err(err, DUET_ENOMEM, "gpt: out of memory");
    if (rc) {
        gpt_free(ctx, g);
        return rc;
    }
    o->step = c.step;
    o->rng = c.rng;
    *gout = g;
    return DUET_OK;
}

static int alloc_opt(duet_ctx *ctx, size_t n, gpt_opt *o, duet_err *err) {
    o->G = dt_calloc(ctx, n, sizeof(float));
    o->M = dt_calloc(ctx, n, sizeof(float));
    o->V = dt_calloc(ctx, n, sizeof(float));
    if (!o->G || !o->M || !o->V) {
        opt_free(ctx, o);
        return dt_err(err, DUET_ENOMEM, "gpt: out of memory for the optimizer (%zu parameters)", n);
    }
    return DUET_OK;
}

/* One optimizer step: clip the gradient G to norm `clip` (when > 0), then AdamW step number t
 * (from 1) with weight decay on the matrices only. Returns the norm before clipping. */
static double opt_step(const duet_ctx *ctx, const gpt *g, float *w, float *G, float *M, float *V, int64_t t, double lr,
                       double wd, double clip) {
    int nth = dt_threads(ctx);
    double norm = dt_norm2(nth, G, g->n);
    if (clip > 0 && norm > clip) {
        float s = (float)(clip / (norm + 1e-6));
        for (size_t i = 0; i < g->n; i++) G[i] *= s;
    }
    dt_adamw a = {(float)lr, 0.9f, 0.99f, 1e-8f, (float)wd, t};
    dt_adamw_step(nth, &a, w, G, M, V, g->decay_end, 1);
    for (int l = 0; l < g->c.L; l++) {
        size_t base = g->o_layers + (size_t)l * g->layer_size, nn = g->lo_wq;
        dt_adamw_step(nth, &a, w + base, G + base, M + base, V + base, nn, 0);
        dt_adamw_step(nth, &a, w + base + nn, G + base + nn, M + base + nn, V + base + nn, g->layer_size - nn, 1);
    }
    size_t f = g->o_final;
    dt_adamw_step(nth, &a, w + f, G + f, M + f, V + f, g->n - f, 0);
    return norm;
}

static int gpt_fit_corpus(duet_ctx *ctx, duet_model *m, const char *src, const char *text, size_t len,
                          const duet_train_params *p, duet_err *err) {
    gpt_cfg c = {0};
    gpt_hp h = {0};
    int rc = hp_resolve(p, &c, &h, err);
    if (rc) return rc;
    gpt *g = NULL;
    gpt_opt o = {0};
    gpt_team team = {0};
    int32_t *ids = NULL, *tok = NULL, *tgt = NULL;
    double *gsum = NULL; /* data-parallel: the gradient and loss added across processes */
    int64_t n_ids = 0;
    if (p->resume) { /* shapes come from the checkpoint */
        DT_TRY(read_checkpoint(ctx, m, p->resume, &g, &o, err));
        m->state = g;
        dt_log(ctx, 0, "gpt: resuming %s at step %lld", p->resume, (long long)o.step);
    } else {
        dt_tok *t = NULL;
        DT_TRY(make_tokenizer(ctx, src, text, len, p, &t, err));
        c.V = dt_tok_vocab(t);
        if ((rc = gpt_new(ctx, &c, &g, err))) {
            dt_tok_free(ctx, t);
            goto fail;
        }
        g->tok = t;
        m->state = g;
        gpt_init(g, ctx->seed);
        DT_TRY(alloc_opt(ctx, g->n, &o, err));
        dt_rng_seed(&o.rng, ctx->seed ^ 0x9e3779b97f4a7c15ull);
    }
    c = g->c;
    DT_TRY(dt_tok_encode(ctx, g->tok, text, len, &ids, &n_ids, err));
    int64_t n_val = (int64_t)((double)n_ids * h.val_share), n_train = n_ids - n_val;
    if (n_train < (int64_t)c.T + 2 || (n_val > 0 && n_val < (int64_t)c.T + 2)) {
        rc = dt_err(err, DUET_EINVAL, "%s: %lld tokens; with context %d the corpus needs at least %lld", src,
                    (long long)n_ids, c.T, (long long)((c.T + 2) / (h.val_share > 0 ? h.val_share : 1.0)) + 1);
        goto fail;
    }
    DT_TRY(team_new(ctx, g, h.B, 1, &team, err));
    tok = dt_alloc_e(ctx, (size_t)h.B * (size_t)c.T, sizeof(int32_t), "gpt batch", err);
    tgt = dt_alloc_e(ctx, (size_t)h.B * (size_t)c.T, sizeof(int32_t), "gpt batch", err);
    if (!tok || !tgt) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    dt_log(ctx, 0, "gpt: %zu parameters (%d layers, %d heads, width %d, context %d), %s tokenizer with %d tokens; "
           "%lld training and %lld validation tokens",
           g->n, c.L, c.NH, c.C, c.T, dt_tok_kind_name(g->tok), c.V, (long long)n_train, (long long)n_val);
    /* data-parallel: every process draws the same batch and takes its block of the windows;
     * the gradients (sums over each block, divided by the whole batch) are added across
     * processes, so every process takes the step one process would take */
    int dist = dt_distributed(ctx);
    int wb0 = dist ? (int)((int64_t)ctx->dist_rank * h.B / ctx->dist_size) : 0;
    int wb1 = dist ? (int)((int64_t)(ctx->dist_rank + 1) * h.B / ctx->dist_size) : h.B;
    if (dist && !(gsum = dt_alloc_e(ctx, g->n + 1, sizeof(double), "gpt gradient", err))) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    double t0 = dt_now(), last_log = 0.0, train_loss = NAN, val_loss = NAN;
    int64_t tokens = 0, start = o.step;
    uint64_t eval_seed = ctx->seed ^ 0x5851f42d4c957f2dull;
    for (;;) {
        int64_t step = o.step;
        int last = step >= h.steps;
        if (step % h.eval_every == 0 || last) {
            train_loss = estimate(ctx, g, &team, h.B, ids, 0, n_train, h.eval_batches, eval_seed, tok, tgt);
            if (n_val > 0) val_loss = estimate(ctx, g, &team, h.B, ids, n_train, n_ids, h.eval_batches, eval_seed + 1, tok, tgt);
            dt_log(ctx, 0, "step %lld: train loss %.4f, val loss %.4f (%.1f s)", (long long)step, train_loss, val_loss,
                   dt_now() - t0);
        }
        if (last) break;
        DT_TRY(dt_check_abort(ctx, "gpt training", err));
        double lr = dt_lr_cosine(step, h.warmup, h.steps, h.lr, h.min_lr), loss = 0.0;
        memset(o.G, 0, g->n * sizeof(float));
        for (int k = 0; k < h.accum; k++) {
            draw_batch(&o.rng, ids, 0, n_train, h.B, c.T, tok, tgt);
            double part = (double)(wb1 - wb0) / h.B; /* this process's share of the windows */
            if (wb1 > wb0)
                loss += part * team_run(ctx, g, &team, wb1 - wb0, tok + (size_t)wb0 * (size_t)c.T, tgt + (size_t)wb0 * (size_t)c.T,
                                        o.G, part / h.accum) / h.accum;
        }
        DT_TRY(dt_reduce_f32(ctx, o.G, g->n, &loss, gsum, err));
        opt_step(ctx, g, g->w, o.G, o.M, o.V, o.step + 1, lr, h.wd, h.clip);
        o.step++;
        tokens += (int64_t)h.accum * h.B * c.T;
        double now = dt_now() - t0;
        if (now - last_log >= 0.5 || o.step == h.steps) {
            last_log = now;
            dt_log(ctx, 2, "step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  %.0f s", (long long)o.step,
                   (long long)h.steps, loss, lr, (double)tokens / now, now);
        }
        if (p->checkpoint && p->checkpoint_every > 0 && o.step % p->checkpoint_every == 0 && (!dist || ctx->dist_rank == 0)) {
            dt_model_meta_set(m, "steps", "%lld", (long long)o.step);
            DT_TRY(write_checkpoint(ctx, m, &o, p->checkpoint, err));
        }
    }
    double secs = dt_now() - t0;
    double full = n_val > 0 ? full_loss(ctx, g, &team, h.B, ids, n_train, n_ids, tok, tgt) : NAN;
    if (n_val > 0) dt_log(ctx, 0, "validation loss over the whole held-out split: %.4f", full);
    dt_model_meta_set(m, "steps", "%lld", (long long)o.step);
    dt_model_meta_set(m, "params", "%zu", g->n);
    dt_model_meta_set(m, "tokenizer", "%s", dt_tok_kind_name(g->tok));
    dt_model_meta_set(m, "train_tokens", "%lld", (long long)n_train);
    dt_model_meta_set(m, "train_loss", "%.4f", train_loss);
    if (n_val > 0) dt_model_meta_set(m, "val_loss", "%.4f", full);
    dt_model_meta_set(m, "batch", "%d x %d x %d", h.B, c.T, h.accum);
    dt_model_meta_set(m, "lr", "%g (min %g, warm-up %d, weight decay %g, clip %g)", h.lr, h.min_lr, h.warmup, h.wd, h.clip);
    if (o.step > start) dt_model_meta_set(m, "tokens_per_second", "%.0f", (double)tokens / secs);
fail:
    dt_free(ctx, gsum);
    team_free(ctx, &team);
    opt_free(ctx, &o);
    dt_free(ctx, ids);
    dt_free(ctx, tok);
    dt_free(ctx, tgt);
    return rc;
}

/* --- generation ---------------------------------------------------------------------------------- */

typedef struct cand {
    float p;
    int32_t id;
} cand;

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    return x->p > y->p ? -1 : x->p < y->p ? 1 : (x->id > y->id) - (x->id < y->id);
}

/* Next token from logits z (V): argmax at temperature 0, else a draw from the softmax at that
 * temperature restricted to the top_k most likely tokens and the top_p nucleus. */
static int32_t sample_next(const float *z, int V, const duet_gen_opts *o, dt_rng *r, cand *buf) {
    int32_t best = 0;
    for (int j = 1; j < V; j++)
        if (z[j] > z[best]) best = j;
    if (!(o->temperature > 0)) return best;
    double mx = z[best], sum = 0.0, inv_t = 1.0 / o->temperature;
    for (int j = 0; j < V; j++) {
        buf[j].p = (float)exp((z[j] - mx) * inv_t);
        buf[j].id = j;
        sum += buf[j].p;
    }
    int n = V;
    if ((o->top_k > 0 && o->top_k < V) || (o->top_p > 0 && o->top_p < 1)) {
        qsort(buf, (size_t)V, sizeof *buf, cmp_cand);
        if (o->top_k > 0 && o->top_k < n) n = o->top_k;
        double kept = 0.0;
        for (int j = 0; j < n; j++) kept += buf[j].p;
        if (o->top_p > 0 && o->top_p < 1) {
            double acc = 0.0;
            for (int j = 0; j < n; j++) {
                acc += buf[j].p;
                if (acc >= o->top_p * kept) {
                    n = j + 1;
                    break;
                }
            }
        }
        sum = 0.0;
        for (int j = 0; j < n; j++) sum += buf[j].p;
    }
    double u = dt_rng_uniform(r) * sum, acc = 0.0;
    for (int j = 0; j < n; j++) {
        acc += buf[j].p;
        if (u < acc) return buf[j].id;
    }
    return buf[n - 1].id;
}

/* Streams text to the caller, holding back a tail that could be the start of the stop string. */
typedef struct emitter {
    duet_ctx *ctx;
    duet_text_fn fn;
    void *user;
    const char *stop;
    size_t stop_len;
    char *pend;
    size_t len, cap;
    int done;          /* stop string seen or the caller asked to stop */
} emitter;

static int emit(emitter *e, const char *s, size_t n, duet_err *err) {
    if (e->done) return DUET_OK;
    if (!e->stop_len) {
        if (e->fn && e->fn(e->user, s, n)) e->done = 1;
        return DUET_OK;
    }
    int rc = dt_grow(e->ctx, (void **)&e->pend, &e->cap, e->len + n + 1, 1, err);
    if (rc) return rc;
    memcpy(e->pend + e->len, s, n);
    e->len += n;
    e->pend[e->len] = '\0';
    const char *hit = strstr(e->pend, e->stop);
    size_t out = hit ? (size_t)(hit - e->pend) : e->len >= e->stop_len ? e->len - (e->stop_len - 1) : 0;
    if (out && e->fn && e->fn(e->user, e->pend, out)) e->done = 1;
    if (hit) e->done = 1;
    memmove(e->pend, e->pend + out, e->len - out);
    e->len -= out;
    return DUET_OK;
}

static void emit_flush(emitter *e) {
    if (!e->done && e->len && e->fn) e->fn(e->user, e->pend, e->len);
    e->len = 0;
}

/* ids of the text to continue: BOS (when the tokenizer has one) and the prompt; an empty
 * start without BOS begins at a newline (or token 0). */
static int start_ids(duet_ctx *ctx, const gpt *g, const char *text, size_t len, int32_t **out, int64_t *n, duet_err *err) {
    int32_t *ids = NULL;
    int64_t k = 0;
    int rc = DUET_OK;
    if (len) DT_TRY(dt_tok_encode(ctx, g->tok, text, len, &ids, &k, err));
    int32_t first = dt_tok_bos(g->tok);
    if (first < 0 && k == 0) {
        int32_t *nl = NULL;
        int64_t nn = 0;
        first = 0;
        if (dt_tok_encode(ctx, g->tok, "\n", 1, &nl, &nn, NULL) == DUET_OK && nn == 1) first = nl[0];
        dt_free(ctx, nl);
    }
    int32_t *all = dt_alloc_e(ctx, (size_t)k + 1, sizeof(int32_t), "prompt", err);
    if (!all) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    int64_t m = 0;
    if (first >= 0) all[m++] = first;
    if (k) memcpy(all + m, ids, (size_t)k * sizeof(int32_t));
    *out = all;
    *n = m + k;
fail:
    dt_free(ctx, ids);
    return rc;
}

static int gpt_generate(duet_ctx *ctx, const duet_model *m, const duet_gen_opts *op, duet_text_fn fn, void *user,
                        duet_gen_stats *st, duet_err *err) {
    const gpt *g = m->state;
    const gpt_cfg *c = &g->c;
    int T = c->T;
    gpt_acts A = {0};
    int32_t *hist = NULL;
    cand *buf = NULL;
    int64_t nh = 0;
    emitter e = {ctx, fn, user, op->stop, op->stop ? strlen(op->stop) : 0, NULL, 0, 0, 0};
    const char *prompt = op->prompt ? op->prompt : "";
    int rc = start_ids(ctx, g, prompt, strlen(prompt), &hist, &nh, err);
    if (rc) return rc;
    if (nh > T) {
        rc = dt_err(err, DUET_EINVAL, "the prompt has %lld tokens; the model's context is %d", (long long)nh, T);
        goto fail;
    }
    int32_t *grown = dt_realloc(ctx, hist, (size_t)(nh + op->n + 1) * sizeof(int32_t));
    if (!grown) {
        rc = dt_err(err, DUET_ENOMEM, "generate: out of memory");
        goto fail;
    }
    hist = grown;
    buf = dt_alloc_e(ctx, (size_t)c->V, sizeof(cand), "sampling", err);
    if (!buf) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    DT_TRY(acts_new(ctx, g, 1, T, T, 0, &A, err));
    dt_rng r;
    dt_rng_seed(&r, op->seed);
    double t0 = dt_now();
    forward(ctx, g, g->w, &A, hist, 1, nh, 0, 1);
    int64_t pos = nh, made = 0;
    double t1 = dt_now();
    int32_t eos = dt_tok_eos(g->tok), bos = dt_tok_bos(g->tok);
    while (made < op->n && !e.done) {
        int32_t next = sample_next(A.logits, c->V, op, &r, buf);
        if ((eos >= 0 && next == eos) || (bos >= 0 && next == bos)) break;
        const char *piece;
        size_t plen;
        DT_TRY(dt_tok_piece(g->tok, hist[nh - 1], next, &piece, &plen, err));
        DT_TRY(emit(&e, piece, plen, err));
        hist[nh++] = next;
        made++;
        if (made == op->n || e.done) break;
        DT_TRY(dt_check_abort(ctx, "generate", err));
        if (pos == T) { /* context full: keep the last half and read it again */
            int64_t keep = T / 2;
            forward(ctx, g, g->w, &A, hist + nh - keep, 1, keep, 0, 1);
            pos = keep;
        } else {
            forward(ctx, g, g->w, &A, &next, 1, 1, pos, 1);
            pos++;
        }
    }
    emit_flush(&e);
    if (st) {
        st->prompt_tokens = nh - made;
        st->tokens = made;
        st->prompt_seconds = t1 - t0;
        st->seconds = dt_now() - t1;
    }
fail:
    acts_free(ctx, &A);
    dt_free(ctx, hist);
    dt_free(ctx, buf);
    dt_free(ctx, e.pend);
    return rc;
}

/* --- scoring ------------------------------------------------------------------------------------- */

/* log p of ids[from..n) given what precedes each (from >= 1), in windows of T positions
 * advancing by T/2 (each token scored once, with at least T/2 tokens of context after the
 * first window); into *nll (nats, summed) and *count; fn (may be NULL) sees every scored token. */
static int score_ids(duet_ctx *ctx, const gpt *g, const int32_t *ids, int64_t n, int64_t from, duet_token_fn fn,
                     void *user, double *nll, int64_t *count, duet_err *err) {
    int T = g->c.T, V = g->c.V;
    gpt_acts A = {0};
    int rc = acts_new(ctx, g, 1, T, T, 0, &A, err);
    if (rc) return rc;
    int64_t stride = T / 2 > 0 ? T / 2 : 1, done = 0;
    *nll = 0.0, *count = 0;
    /* the first window ends at the first scored token at the latest */
    for (int64_t s = from - 1 - (T - 1) > 0 ? from - 1 - (T - 1) : 0;; s += stride) {
        int64_t e = s + T < n - 1 ? s + T : n - 1;
        forward(ctx, g, g->w, &A, ids + s, 1, e - s, 0, 0);
        for (int64_t j = done - s > 0 ? done - s : 0; j < e - s; j++) {
            if (s + j + 1 < from) continue;
            const float *z = A.logits + (size_t)j * (size_t)V;
            float mx = z[0];
            for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
            double sum = 0.0;
            for (int v = 0; v < V; v++) sum += exp((double)(z[v] - mx));
            int32_t t = ids[s + j + 1];
            double lp = (double)(z[t] - mx) - log(sum);
            *nll -= lp;
            (*count)++;
            if (fn) {
                const char *piece;
                size_t plen;
                DT_TRY(dt_tok_piece(g->tok, ids[s + j], t, &piece, &plen, err));
                if (fn(user, piece, plen, lp)) goto fail;
            }
        }
        done = e;
        if (e >= n - 1) break;
        DT_TRY(dt_check_abort(ctx, "score", err));
    }
fail:
    acts_free(ctx, &A);
    return rc;
}

static int gpt_score_text(duet_ctx *ctx, const duet_model *m, const char *text, size_t len, duet_token_fn fn,
                          void *user, duet_lm_score *out, duet_err *err) {
    const gpt *g = m->state;
    int32_t *ids = NULL;
    int64_t n = 0, count = 0;
    double nll = 0.0;
    int rc = start_ids(ctx, g, text, len, &ids, &n, err);
    if (rc) return rc;
    if (n < 2) {
        rc = dt_err(err, DUET_EINVAL, "nothing to score: the text has %lld tokens", (long long)(n - 1));
        goto fail;
    }
    DT_TRY(score_ids(ctx, g, ids, n, 1, fn, user, &nll, &count, err));
    out->tokens = count;
    out->nll = nll / (double)count;
    out->perplexity = exp(out->nll);
fail:
    dt_free(ctx, ids);
    return rc;
}

int dt_gpt_logp(duet_ctx *ctx, const duet_model *m, const char *prefix, size_t plen, const char *cont, size_t clen,
                double *logp, int64_t *tokens, duet_err *err) {
    const gpt *g = m->state;
    int32_t *first = NULL, *pre = NULL, *c = NULL, *ids = NULL;
    int64_t nf = 0, np = 0, nc = 0, count = 0;
    double nll = 0.0;
    /* the text's start (BOS, or a line break), then the prefix, then the continuation: the same
     * tokens whichever way a text is cut into prefix and continuation */
    int rc = start_ids(ctx, g, "", 0, &first, &nf, err);
    if (rc) return rc;
    if (plen) DT_TRY(dt_tok_encode(ctx, g->tok, prefix, plen, &pre, &np, err));
    if (clen) DT_TRY(dt_tok_encode(ctx, g->tok, cont, clen, &c, &nc, err));
    if (nc < 1) {
        rc = dt_err(err, DUET_EINVAL, "nothing to score: the continuation has no tokens");
        goto fail;
    }
    if (!(ids = dt_alloc_e(ctx, (size_t)(nf + np + nc), sizeof(int32_t), "score", err))) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    memcpy(ids, first, (size_t)nf * sizeof(int32_t));
    if (np) memcpy(ids + nf, pre, (size_t)np * sizeof(int32_t));
    memcpy(ids + nf + np, c, (size_t)nc * sizeof(int32_t));
    np += nf;
    DT_TRY(score_ids(ctx, g, ids, np + nc, np, NULL, NULL, &nll, &count, err));
    *logp = -nll;
    if (tokens) *tokens = count;
fail:
    dt_free(ctx, first);
    dt_free(ctx, pre);
    dt_free(ctx, c);
    dt_free(ctx, ids);
    return rc;
}

/* --- llama2.c --------------------------------------------------------------------------------------- */

int dt_gpt_import_llama2c(duet_ctx *ctx, duet_model *m, const char *ckpt, const char *tokpath, duet_err *err) {
    dt_llama2c lc;
    int rc = dt_llama2c_read(ctx, ckpt, &lc, err);
    if (rc) return rc;
    gpt *g = NULL;
    gpt_cfg c = {lc.vocab, lc.dim, lc.n_layers, lc.n_heads, lc.n_kv_heads, lc.dim / lc.n_heads, lc.hidden,
                 lc.seq_len, 0, lc.shared, 1e-5f, 10000.0f};
    DT_TRY(gpt_new(ctx, &c, &g, err));
    size_t C = (size_t)c.C, kvd = (size_t)c.NKV * (size_t)c.hd, F = (size_t)c.F;
    memcpy(g->w + g->o_tok, lc.tok_emb, (size_t)c.V * C * sizeof(float));
    if (!c.tied) memcpy(g->w + g->o_head, lc.wcls, (size_t)c.V * C * sizeof(float));
    for (int l = 0; l < c.L; l++) {
        memcpy(LW(g, g->w, l, attn_norm), lc.rms_att + (size_t)l * C, C * sizeof(float));
        memcpy(LW(g, g->w, l, mlp_norm), lc.rms_ffn + (size_t)l * C, C * sizeof(float));
        memcpy(LW(g, g->w, l, wq), lc.wq + (size_t)l * C * C, C * C * sizeof(float));
        memcpy(LW(g, g->w, l, wk), lc.wk + (size_t)l * kvd * C, kvd * C * sizeof(float));
        memcpy(LW(g, g->w, l, wv), lc.wv + (size_t)l * kvd * C, kvd * C * sizeof(float));
        memcpy(LW(g, g->w, l, wo), lc.wo + (size_t)l * C * C, C * C * sizeof(float));
        memcpy(LW(g, g->w, l, w1), lc.w1 + (size_t)l * F * C, F * C * sizeof(float));
        memcpy(LW(g, g->w, l, w2), lc.w2 + (size_t)l * C * F, C * F * sizeof(float));
        memcpy(LW(g, g->w, l, w3), lc.w3 + (size_t)l * F * C, F * C * sizeof(float));
    }
    memcpy(g->w + g->o_final, lc.rms_final, C * sizeof(float));
    DT_TRY(dt_tok_load_llama2c(ctx, tokpath, c.V, &g->tok, err));
    m->state = g;
    g = NULL;
    dt_model_meta_set(m, "imported_from", "%s (llama2.c)", ckpt);
    dt_model_meta_set(m, "tokenizer", "%s (llama2.c, %d tokens)", tokpath, c.V);
fail:
    gpt_free(ctx, g);
    dt_llama2c_free(ctx, &lc);
    return rc;
}

/* --- internal entry points used by the tests (gpt.h) ------------------------------------------ */

struct dt_gpt_probe {
    gpt *g;
    gpt_acts A;
};

int dt_gpt_probe_new(duet_ctx *ctx, const dt_gpt_shape *s, int B, dt_gpt_probe **out, float **params,
                     size_t *n_params, duet_err *err) {
    gpt_cfg c = {s->V, s->C, s->L, s->NH, s->NKV, s->C / (s->NH > 0 ? s->NH : 1), s->F, s->T, s->learned_pos,
                 s->tied, 1e-5f, 10000.0f};
    dt_gpt_probe *p = dt_calloc(ctx, 1, sizeof *p);
    if (!p) return dt_err(err, DUET_ENOMEM, "gpt: out of memory");
    int rc = gpt_new(ctx, &c, &p->g, err);
    if (!rc) rc = acts_new(ctx, p->g, B, s->T, s->T, 1, &p->A, err);
    if (rc) {
        dt_gpt_probe_free(ctx, p);
        return rc;
    }
    *out = p;
    *params = p->g->w;
    *n_params = p->g->n;
    return DUET_OK;
}

double dt_gpt_probe_loss(const duet_ctx *ctx, dt_gpt_probe *p, const float *P, float *G, const int32_t *tok,
                         const int32_t *tgt, float *logits) {
    double l = loss_and_grad(ctx, p->g, P, NULL, &p->A, p->A.B, tok, tgt, 1.0);
    if (logits) memcpy(logits, p->A.logits, (size_t)p->A.B * (size_t)p->A.n * (size_t)p->g->c.V * sizeof(float));
    if (G) l = loss_and_grad(ctx, p->g, P, G, &p->A, p->A.B, tok, tgt, 1.0);
    return l;
}

double dt_gpt_probe_step(const duet_ctx *ctx, dt_gpt_probe *p, float *G, float *M, float *V, int64_t t, double lr,
                         double wd, double clip) {
    return opt_step(ctx, p->g, p->g->w, G, M, V, t, lr, wd, clip);
}

void dt_gpt_probe_free(duet_ctx *ctx, dt_gpt_probe *p) {
    if (!p) return;
    acts_free(ctx, &p->A);
    gpt_free(ctx, p->g);
    dt_free(ctx, p);
}

const dt_option dt_gpt_options[] = {
    {"--heads", "attention heads (default 4)"},
    {"--dim", "model width (default 128)"},
    {"--layers", "transformer blocks (default 4)"},
    {"--hidden", "MLP width (default 8/3 x dim)"},
    {"--context", "tokens of context (default 64)"},
    {"--batch", "sequences per micro-batch (default 12)"},
    {"--steps", "optimizer steps (default 2000)"},
    {"--lr", "peak AdamW rate (default 1e-3)"},
    {"--l2", "weight decay (default 0.1; 0 none)"},
    {"--warmup", "linear warm-up steps before the cosine decay (default 100)"},
    {"--min-lr", "learning rate at the end of the decay (default lr/10)"},
    {"--accum", "micro-batches per step (gradient accumulation, default 1)"},
    {"--grad-clip", "clip the gradient norm (default 1; 0 none)"},
    {"--eval-every", "steps between validation-loss estimates (default 250)"},
    {"--eval-batches", "batches per estimate (default 20)"},
    {"--val-share", "share of the corpus (its end) held out (default 0.1)"},
    {"--learned-pos", "learned position embeddings instead of rotary ones"},
    {"--tokenizer", "char (default), bpe (learned, see --vocab) or a folder with GPT-2's encoder.json + vocab.bpe"},
    {"--vocab", "BPE vocabulary size (default 512)"},
    {"--checkpoint", "checkpoint file (weights, optimizer, position, random state)"},
    {"--checkpoint-every", "write --checkpoint every N optimizer steps (default 500)"},
    {"--resume", "continue training from a checkpoint (same data and settings): ends as an uninterrupted run"},
    {NULL, NULL},
};

const dt_model_ops dt_gpt_ops = {
    .options = dt_gpt_options,
    .distributed = 1,
    .name = "gpt",
    .learns = "p(x)",
    .caps = DUET_CAN_SAMPLE | DUET_CAN_SCORE,
    .about = "decoder-only transformer language model (causal attention, RoPE, SwiGLU, AdamW)",
    .input = DUET_DATA_CORPUS,
    .fit_corpus = gpt_fit_corpus,
    .generate = gpt_generate,
    .score_text = gpt_score_text,
    .save = gpt_save,
    .load = gpt_load,
    .free_state = gpt_free_state,
    .resumable = 1,
};
