/* gpt.h — the transformer language model's internal entry points beyond the model interface.
 * defines: a probe that runs one training batch's loss and gradients on given parameters
 * (tests compare it with finite differences and with PyTorch), and llama2.c import.
 */
#ifndef DT_GPT_H
#define DT_GPT_H

#include "../core/dt.h"

typedef struct dt_gpt_shape {
    int V, C, L, NH, NKV, F, T;
    int learned_pos, tied;
} dt_gpt_shape;

typedef struct dt_gpt_probe dt_gpt_probe;

/* A model of that shape and batch buffers for B windows of T tokens. *params (n_params) is
 * the model's own parameter array, uninitialised: the caller fills it. Layout, in order:
 * token embedding (V, C); position embedding (T, C) when learned_pos; output layer (V, C)
 * unless tied; per layer [attn_norm (C), mlp_norm (C), wq (C, C), wk (kv, C), wv (kv, C),
 * wo (C, C), w1 (F, C), w3 (F, C), w2 (C, F)] with kv = C * NKV / NH; final norm (C). */
int dt_gpt_probe_new(duet_ctx *ctx, const dt_gpt_shape *s, int B, dt_gpt_probe **out, float **params,
                     size_t *n_params, duet_err *err);
/* Mean cross-entropy of next-token prediction over B windows (tok -> tgt, (B, T) each) with
 * parameters P (n_params, may differ from *params). G (n_params, may be NULL) += d loss / dP;
 * logits (B*T, V) receives the forward's logits when not NULL. */
double dt_gpt_probe_loss(const duet_ctx *ctx, dt_gpt_probe *p, const float *P, float *G, const int32_t *tok,
                         const int32_t *tgt, float *logits);
/* The training step on the probe's own parameters: clips G (n_params) to norm `clip` (> 0),
 * then AdamW step t (from 1; betas 0.9, 0.99, eps 1e-8) with decoupled weight decay wd on
 * the embedding, output and projection matrices (not on the norms); M, V are the moments.
 * Returns the gradient norm before clipping. */
double dt_gpt_probe_step(const duet_ctx *ctx, dt_gpt_probe *p, float *G, float *M, float *V, int64_t t, double lr,
                         double wd, double clip);
void dt_gpt_probe_free(duet_ctx *ctx, dt_gpt_probe *p);

/* log p(cont | prefix) in nats under the language model m (prefix may be empty: the text's
 * start); *tokens (may be NULL) receives the continuation's token count. A continuation or
 * prefix the tokenizer cannot spell is DUET_EINVAL. */
int dt_gpt_logp(duet_ctx *ctx, const duet_model *m, const char *prefix, size_t plen, const char *cont, size_t clen,
                double *logp, int64_t *tokens, duet_err *err);

/* Fills m (a new gpt model) from a llama2.c checkpoint and its tokenizer. */
int dt_gpt_import_llama2c(duet_ctx *ctx, duet_model *m, const char *ckpt, const char *tokpath, duet_err *err);

#endif /* DT_GPT_H */
