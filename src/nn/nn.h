/* nn.h — layers with a forward and a backward pass, and the AdamW optimizer.
 * defines: RMS normalisation, rotary position embedding (RoPE), causal multi-head attention
 * with grouped key/value heads, the SwiGLU gate, softmax cross-entropy, and AdamW with its
 * learning-rate schedule. Linear layers are dt_gemm (src/core/gemm.h).
 *
 * Conventions: activations are row-major (rows, width) float arrays; a row is one position of
 * one sequence. Backward functions ADD into gradient buffers (dx, dg, dW ...) unless their
 * comment says "writes", so that a residual stream and weight sharing need no extra copies.
 * Every kernel that is parallel or blocked has a plain twin (suffix _ref) that the tests
 * compare it with; sizes are trusted (internal, not user input). `nth` is the thread count.
 */
#ifndef DT_NN_H
#define DT_NN_H

#include "../core/dt.h"

/* --- RMS normalisation: y = x / sqrt(mean(x^2) + eps) * g --------------------------------- */

/* x, y (N, C); g (C); rstd (N) receives 1/sqrt(mean(x^2) + eps) (may be NULL). y may be x. */
void dt_rmsnorm_fwd(int nth, const float *x, const float *g, float *y, float *rstd, int64_t N, int64_t C,
                    float eps);
/* dx (N, C) += d/dx, dg (C) += d/dg, given dy (N, C) and the forward's x and rstd. */
void dt_rmsnorm_bwd(int nth, const float *dy, const float *x, const float *g, const float *rstd, float *dx,
                    float *dg, int64_t N, int64_t C);

/* --- rotary position embedding ------------------------------------------------------------- */

/* cos/sin table (T, hd/2) for positions 0..T-1: angle = pos * theta^(-2j/hd). */
void dt_rope_table(float *cs, float *sn, int64_t T, int hd, float theta);
/* Rotates each head's pairs (2j, 2j+1) of the N rows of x (N, nh*hd) in place; row i sits at
 * position pos0 + i % period. inverse = 1 rotates back (the backward pass of a rotation). */
void dt_rope(int nth, float *x, int64_t N, int nh, int hd, int64_t pos0, int64_t period, const float *cs,
             const float *sn, int inverse);

/* --- causal attention ---------------------------------------------------------------------- */

typedef struct dt_attn_shape {
    int B;          /* sequences */
    int64_t n;      /* new positions per sequence (queries) */
    int64_t pos0;   /* position of the first query; keys 0..pos0+n-1 are attended */
    int64_t ldk;    /* rows reserved per sequence in k and v (>= pos0 + n) */
    int nh, nkv;    /* query heads, key/value heads (nh % nkv == 0) */
    int hd;         /* head width */
} dt_attn_shape;

/* q (B, n, nh*hd); k, v (B, ldk, nkv*hd); o (B, n, nh*hd) written; att (B, nh, n, pos0+n)
 * receives the attention probabilities (zero above the diagonal). Query head h reads key
 * head h / (nh/nkv). Scores are scaled by 1/sqrt(hd). */
void dt_attn_fwd(int nth, const dt_attn_shape *s, const float *q, const float *k, const float *v, float *o,
                 float *att);
void dt_attn_fwd_ref(const dt_attn_shape *s, const float *q, const float *k, const float *v, float *o,
                     float *att);
/* Backward for pos0 == 0, given the forward's output o: dq (B, n, nh*hd) written; dk, dv
 * (B, ldk, nkv*hd) written (rows 0..n-1). */
void dt_attn_bwd(int nth, const dt_attn_shape *s, const float *d_o, const float *q, const float *k,
                 const float *v, const float *o, const float *att, float *dq, float *dk, float *dv);
void dt_attn_bwd_ref(const dt_attn_shape *s, const float *d_o, const float *q, const float *k,
                     const float *v, const float *att, float *dq, float *dk, float *dv);

/* --- SwiGLU: h = silu(a) * b ---------------------------------------------------------------- */

void dt_swiglu_fwd(int nth, const float *a, const float *b, float *h, int64_t n);
/* da, db written (n), from dh and the forward's a and b. */
void dt_swiglu_bwd(int nth, const float *dh, const float *a, const float *b, float *da, float *db, int64_t n);

/* --- softmax cross-entropy ------------------------------------------------------------------ */

/* logits (N, V) are replaced by scale * (softmax - onehot(target)) when grad is 1 (kept when
 * 0); loss (N) receives -log p(target) per row. Targets are in [0, V). */
void dt_xent(int nth, float *logits, const int32_t *target, double *loss, int64_t N, int64_t V, float scale,
             int grad);

/* --- AdamW ---------------------------------------------------------------------------------- */

typedef struct dt_adamw {
    float lr, beta1, beta2, eps, wd;
    int64_t t; /* steps taken, >= 1 when stepping */
} dt_adamw;

/* One step on n parameters p with gradient g and moments m, v (decoupled weight decay wd*lr
 * when decay is 1). Element-wise: parallel and deterministic. */
void dt_adamw_step(int nth, const dt_adamw *o, float *p, const float *g, float *m, float *v, size_t n,
                   int decay);
/* Warm-up then cosine decay: lr * step/warmup for step < warmup, then from lr down to
 * min_lr at step `total` (and min_lr after). */
double dt_lr_cosine(int64_t step, int64_t warmup, int64_t total, double lr, double min_lr);
/* Euclidean norm of n values (in double). */
double dt_norm2(int nth, const float *g, size_t n);

#endif /* DT_NN_H */
