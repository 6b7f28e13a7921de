/* ckpt.c — training checkpoints for the models that train in steps (gpt, vae, gan, diffusion):
 * the model file's content (dt_model_write) plus what training needs to go on exactly where it
 * stopped: optimizer buffers, the epoch's row order, the random state and the counters. A
 * checkpoint is a safetensors file like a model (it loads as one: `duet info`, `generate` work
 * on it), written atomically (temporary file, fsync, rename) with the checksum that loading
 * verifies (safetensors.c).
 * Tensors: the model's, then "opt.*" buffers named by the caller and "opt.rng" (4 x I64);
 * metadata "opt.step", "opt.epoch", "opt.pos" (integers), "opt.sum" and "opt.sum2" (%.17g).
 * Not here: when to write one (each model's training loop), the model's own tensors.
 */
#include <math.h>

#include "model.h"

int dt_ckpt_write(duet_ctx *ctx, const duet_model *m, const dt_ckpt *c, const char *path, duet_err *err) {
    dt_st_writer *w = NULL;
    int rc = dt_st_writer_new(ctx, &w, err);
    if (rc) return rc;
    DT_TRY(dt_model_write(m, w, err));
    for (int i = 0; i < c->nbuf; i++) DT_TRY(dt_st_add1(w, c->buf[i].name, c->buf[i].dtype, (int64_t)c->buf[i].n, c->buf[i].data, err));
    DT_TRY(dt_st_add1(w, "opt.rng", DT_I64, 4, c->rng.s, err));
    DT_TRY(dt_st_metaf(w, err, "opt.step", "%lld", (long long)c->step));
    DT_TRY(dt_st_metaf(w, err, "opt.epoch", "%lld", (long long)c->epoch));
    DT_TRY(dt_st_metaf(w, err, "opt.pos", "%lld", (long long)c->pos));
    DT_TRY(dt_st_metaf(w, err, "opt.sum", "%.17g", c->sum[0]));
    DT_TRY(dt_st_metaf(w, err, "opt.sum2", "%.17g", c->sum[1]));
    DT_TRY(dt_st_write(w, path, err));
fail:
    dt_st_writer_free(w);
    return rc;
}

int dt_ckpt_read(duet_ctx *ctx, const duet_model *like, const char *path, dt_ckpt *c, void **state, duet_err *err) {
    *state = NULL;
    dt_st_file *f = NULL;
    duet_model *m = NULL;
    int rc = dt_st_open(ctx, path, &f, err);
    if (rc) return rc;
    DT_TRY(dt_model_from_file(ctx, f, &m, err));
    if (m->ops != like->ops) {
        rc = dt_err(err, DUET_EINVAL, "%s: a %s model, not a %s checkpoint", path, m->ops->name, like->ops->name);
        goto fail;
    }
    if (!dt_st_has(f, "opt.rng")) {
        rc = dt_err(err, DUET_EINVAL, "%s: a %s model without training state (not a checkpoint: train with --checkpoint)",
                    path, m->ops->name);
        goto fail;
    }
    if (like->K && (m->K != like->K || m->D != like->D)) {
        rc = dt_err(err, DUET_EINVAL, "%s: made for %d classes and %lld features; this data has %d and %lld", path, m->K,
                    (long long)m->D, like->K, (long long)like->D);
        goto fail;
    }
    for (int k = 0; like->K && k < m->K; k++)
        if (strcmp(m->classes[k], like->classes[k]) != 0) {
            rc = dt_err(err, DUET_EINVAL, "%s: class %d is '%s' there and '%s' in this data", path, k + 1, m->classes[k],
                        like->classes[k]);
            goto fail;
        }
    int64_t s4[1] = {4};
    const void *pr;
    DT_TRY(dt_st_get(f, "opt.rng", DT_I64, 1, s4, &pr, NULL, err));
    memcpy(c->rng.s, pr, sizeof c->rng.s);
    if ((c->rng.s[0] | c->rng.s[1] | c->rng.s[2] | c->rng.s[3]) == 0) {
        rc = dt_err(err, DUET_EFORMAT, "%s: tensor 'opt.rng' is all zero (not a generator state)", path);
        goto fail;
    }
    DT_TRY(dt_st_meta_i64(f, "opt.step", 0, INT64_MAX / 2, &c->step, err));
    DT_TRY(dt_st_meta_i64(f, "opt.epoch", 0, INT32_MAX, &c->epoch, err));
    DT_TRY(dt_st_meta_i64(f, "opt.pos", 0, INT64_MAX / 2, &c->pos, err));
    DT_TRY(dt_st_meta_f64(f, "opt.sum", &c->sum[0], err));
    DT_TRY(dt_st_meta_f64(f, "opt.sum2", &c->sum[1], err));
    if (!isfinite(c->sum[0]) || !isfinite(c->sum[1])) {
        rc = dt_err(err, DUET_EFORMAT, "%s: metadata 'opt.sum' is not a finite number", path);
        goto fail;
    }
    for (int i = 0; i < c->nbuf; i++) {
        dt_ckpt_buf *b = &c->buf[i];
        int64_t shape[1] = {b->n ? (int64_t)b->n : -1}, got = 0;
        const void *d;
        DT_TRY(dt_st_get(f, b->name, b->dtype, 1, shape, &d, &got, err));
        if (!b->data) { /* size from the file: the caller frees it */
            b->n = (size_t)got;
            if (!(b->data = dt_alloc_e(ctx, b->n ? b->n : 1, dt_dtype_size(b->dtype), path, err))) {
                rc = DUET_ENOMEM;
                goto fail;
            }
        }
        memcpy(b->data, d, b->n * dt_dtype_size(b->dtype));
    }
    *state = m->state;
    m->state = NULL;
fail:
    dt_model_free(m);
    dt_st_close(f);
    return rc;
}

void dt_ckpt_start(dt_ckpt *c, int resume, uint64_t seed) {
    if (resume) return;
    c->step = 0, c->epoch = 1, c->pos = 0, c->sum[0] = c->sum[1] = 0.0;
    dt_rng_seed(&c->rng, seed);
}

int dt_ckpt_check_epoch(duet_ctx *ctx, const dt_ckpt *c, const int64_t *order, int64_t N, int epochs, const char *path,
                        duet_err *err) {
    if (c->epoch < 1 || c->epoch > epochs || c->pos < 0 || c->pos > N)
        return dt_err(err, DUET_EINVAL, "%s: stopped at epoch %lld, row %lld, which this training (%d epochs of %lld rows) "
                      "does not reach", path, (long long)c->epoch, (long long)c->pos, epochs, (long long)N);
    unsigned char *seen = dt_calloc(ctx, (size_t)N, 1);
    if (!seen) return dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
    int rc = DUET_OK;
    for (int64_t i = 0; i < N && !rc; i++) {
        if (order[i] < 0 || order[i] >= N || seen[order[i]])
            rc = dt_err(err, DUET_EFORMAT, "%s: tensor 'opt.order' is not an order of the %lld rows (entry %lld)", path,
                        (long long)N, (long long)i);
        else seen[order[i]] = 1;
    }
    dt_free(ctx, seen);
    return rc;
}
