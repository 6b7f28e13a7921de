/* llama2c.c — reads llama2.c checkpoints into views of their tensors (see llama2c.h).
 * Not here: the transformer that runs them (src/models/gpt.c).
 */
#include "llama2c.h"

#include <errno.h>

#define MAX_DIM 65536
#define MAX_LAYERS 1024
#define MAX_VOCAB (1 << 22)
#define MAX_SEQ (1 << 20)

static int read_all(FILE *fp, void *buf, size_t n) { return fread(buf, 1, n, fp) == n; }

int dt_llama2c_read(duet_ctx *ctx, const char *path, dt_llama2c *out, duet_err *err) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return dt_err(err, DUET_EIO, "%s: %s", path, strerror(errno));
    int rc = DUET_OK;
    int32_t h[7];
    long fsize = -1;
    if (fseek(fp, 0, SEEK_END) == 0) fsize = ftell(fp);
    if (fsize < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        rc = dt_err(err, DUET_EIO, "%s: cannot determine the file size", path);
        goto fail;
    }
    if (fsize < (long)sizeof h || !read_all(fp, h, sizeof h)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %ld bytes, too short for a llama2.c header (28 bytes)", path, fsize);
        goto fail;
    }
    int dim = h[0], hidden = h[1], L = h[2], nh = h[3], nkv = h[4], vocab = h[5], seq = h[6];
    int shared = vocab > 0;
    if (vocab < 0) vocab = vocab == INT32_MIN ? 0 : -vocab; /* 0: refused below */
    if (dim <= 0 || dim > MAX_DIM || hidden <= 0 || hidden > 4 * MAX_DIM || L <= 0 || L > MAX_LAYERS ||
        nh <= 0 || nh > dim || nkv <= 0 || nkv > nh || vocab <= 0 || vocab > MAX_VOCAB || seq <= 0 ||
        seq > MAX_SEQ || dim % nh != 0 || nh % nkv != 0 || (dim / nh) % 2 != 0) {
        rc = dt_err(err, DUET_EFORMAT,
                    "%s: not a llama2.c checkpoint (header dim=%d hidden_dim=%d n_layers=%d n_heads=%d "
                    "n_kv_heads=%d vocab_size=%d seq_len=%d)",
                    path, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
        goto fail;
    }
    int64_t hs = dim / nh, kv = (int64_t)dim * nkv / nh;
    int64_t per_layer = 2 * (int64_t)dim + 2 * (int64_t)dim * dim + 2 * kv * dim + 3 * (int64_t)hidden * dim;
    int64_t count = (int64_t)vocab * dim + L * per_layer + dim + seq * hs + (shared ? 0 : (int64_t)vocab * dim);
    if ((int64_t)fsize != 28 + 4 * count) {
        rc = dt_err(err, DUET_EFORMAT, "%s: the header (dim=%d, %d layers, vocab %d, seq_len %d) needs %lld bytes, the file has %ld",
                    path, dim, L, vocab, seq, (long long)(28 + 4 * count), fsize);
        goto fail;
    }
    out->data = dt_alloc_e(ctx, (size_t)count, sizeof(float), path, err);
    if (!out->data) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    if (!read_all(fp, out->data, (size_t)count * sizeof(float))) {
        rc = dt_err(err, DUET_EIO, "%s: read failed", path);
        goto fail;
    }
    out->dim = dim, out->hidden = hidden, out->n_layers = L, out->n_heads = nh, out->n_kv_heads = nkv;
    out->vocab = vocab, out->seq_len = seq, out->shared = shared;
    const float *p = out->data;
    out->tok_emb = p, p += (size_t)vocab * (size_t)dim;
    out->rms_att = p, p += (size_t)L * (size_t)dim;
    out->wq = p, p += (size_t)L * (size_t)dim * (size_t)dim;
    out->wk = p, p += (size_t)L * (size_t)kv * (size_t)dim;
    out->wv = p, p += (size_t)L * (size_t)kv * (size_t)dim;
    out->wo = p, p += (size_t)L * (size_t)dim * (size_t)dim;
    out->rms_ffn = p, p += (size_t)L * (size_t)dim;
    out->w1 = p, p += (size_t)L * (size_t)hidden * (size_t)dim;
    out->w2 = p, p += (size_t)L * (size_t)dim * (size_t)hidden;
    out->w3 = p, p += (size_t)L * (size_t)hidden * (size_t)dim;
    out->rms_final = p, p += (size_t)dim;
    p += (size_t)seq * (size_t)hs; /* freq_cis_real and freq_cis_imag, (seq, hs/2) each */
    out->wcls = shared ? out->tok_emb : p;
    fclose(fp);
    return DUET_OK;
fail:
    fclose(fp);
    dt_llama2c_free(ctx, out);
    return rc;
}

void dt_llama2c_free(duet_ctx *ctx, dt_llama2c *c) {
    if (!c) return;
    dt_free(ctx, c->data);
    memset(c, 0, sizeof *c);
}
