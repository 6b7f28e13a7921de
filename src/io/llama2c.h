/* llama2c.h — reading llama2.c checkpoints (the legacy float32 "version 0" format of run.c).
 * defines: dt_llama2c, the header and views of each weight tensor of one checkpoint.
 *
 * Format: seven little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len; a negative vocab_size means the output classifier is stored separately),
 * then float32 tensors in this order: token embedding (vocab, dim), attention RMS weights (L, dim),
 * wq (L, dim, dim), wk (L, kv_dim, dim), wv (L, kv_dim, dim), wo (L, dim, dim), feed-forward RMS
 * weights (L, dim), w1 (L, hidden, dim), w2 (L, dim, hidden), w3 (L, hidden, dim), final RMS
 * weight (dim), two RoPE tables (seq_len, head_size/2) that we skip, and the classifier (vocab,
 * dim) when not shared. kv_dim = dim * n_kv_heads / n_heads. Matrices are (out, in).
 * The reader checks the header's sizes against the real file size before allocating.
 */
#ifndef DT_LLAMA2C_H
#define DT_LLAMA2C_H

#include "../core/dt.h"

typedef struct dt_llama2c {
    int dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
    int shared;            /* 1: the classifier is the token embedding */
    float *data;           /* everything after the header, owned (free with dt_llama2c_free) */
    const float *tok_emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
} dt_llama2c;

/* Reads and validates path. EFORMAT with "path: ..." on a bad header or a size mismatch. */
int dt_llama2c_read(duet_ctx *ctx, const char *path, dt_llama2c *out, duet_err *err);
void dt_llama2c_free(duet_ctx *ctx, dt_llama2c *c);

#endif /* DT_LLAMA2C_H */
