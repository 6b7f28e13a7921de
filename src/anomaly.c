/* anomaly.c — generative models as anomaly detectors (duet_model_anomaly): each input's score,
 * higher for more unusual inputs, from the model's likelihood (or its bound: the VAE's ELBO; a
 * language model's log-likelihood of the row's text):
 *   NLL    -log2 p(x), the bits the model needs for x. Known to fail: inputs that are simply
 *          simpler than the training data (fewer strokes, shorter words) get a high likelihood
 *          however foreign they are (Nalisnick et al. 2019, "Do deep generative models know
 *          what they don't know?").
 *   RATIO  -log2 p(x) - L(x), L(x) = the bits zlib's deflate needs for x's raw bytes: a
 *          likelihood ratio against a generic model of complexity (Serrà et al. 2020, "Input
 *          complexity and out-of-distribution detection with likelihood-based generative
 *          models", their S(x) with a general-purpose compressor). For images: inputs of one
 *          size whose complexity varies.
 *   RATE   -log2 p(x) / bytes(x), bits per byte: the likelihood with the input's length taken
 *          out, for text, whose length varies more than its complexity (zlib cannot compress
 *          a short message: there RATIO mostly measures length).
 *   AUTO   RATE for text, RATIO otherwise.
 * The raw bytes are the text (text rows), the pixels as bytes (images), or the row written as
 * CSV (tables, LIBSVM rows). Text a language model's tokenizer cannot spell (a character it
 * never saw) has probability 0: an infinite score. Also duet_roc_auc, to measure a detector on labelled sets.
 * Not here: the likelihoods themselves (each model).
 */
#include <math.h>
#include <zlib.h>

#include "core/dt.h"
#include "core/metrics.h"
#include "data/data.h"
#include "models/model.h"

#define LN2 0.6931471805599453

/* The bits raw deflate (level 9, no header) needs for n bytes; -1 when out of memory. */
static double deflate_bits(duet_ctx *ctx, const unsigned char *p, size_t n) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t cap = deflateBound(&z, (uLong)n) + 16;
    unsigned char *out = dt_alloc(ctx, cap);
    double bits = -1;
    if (out) {
        z.next_in = (Bytef *)(uintptr_t)p;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END) bits = 8.0 * (double)z.total_out;
    }
    deflateEnd(&z);
    dt_free(ctx, out);
    return bits;
}

/* Row i's raw bytes into buf (cap bytes); returns the count, or -1 when it does not fit. */
static int64_t raw_bytes(const duet_data *d, int64_t i, unsigned char *buf, size_t cap, duet_err *err) {
    if (d->kind == DUET_DATA_TEXT) {
        size_t n = strlen(d->text[i]);
        if (n > cap) return -1;
        memcpy(buf, d->text[i], n);
        return (int64_t)n;
    }
    if (d->kind == DUET_DATA_DENSE) {
        if ((size_t)d->D > cap) return -1;
        for (int64_t j = 0; j < d->D; j++) {
            float v = d->x[(size_t)i * (size_t)d->D + (size_t)j];
            buf[j] = (unsigned char)(v <= 0 ? 0 : v >= 255 ? 255 : (int)lroundf(v));
        }
        return d->D;
    }
    if (duet_data_row_string(d, i, (char *)buf, cap, err) != DUET_OK) return -1;
    return (int64_t)strlen((char *)buf);
}

int duet_model_anomaly(duet_ctx *ctx, const duet_model *m, const duet_data *d, int method, double *scores, duet_err *err) {
    if (!ctx || !m || !d || !scores) return dt_err(err, DUET_EINVAL, "duet_model_anomaly: missing argument");
    if (method < DUET_ANOMALY_AUTO || method > DUET_ANOMALY_RATE)
        return dt_err(err, DUET_EINVAL, "unknown anomaly score %d (auto, nll, ratio or rate)", method);
    if (method == DUET_ANOMALY_AUTO) method = d->kind == DUET_DATA_TEXT ? DUET_ANOMALY_RATE : DUET_ANOMALY_RATIO;
    int lm = m->ops->input == DUET_DATA_CORPUS;
    if (!lm && !(m->ops->caps & DUET_CAN_SCORE))
        return dt_err(err, DUET_EUNSUPPORTED, "%s learns %s and gives no likelihood to score anomalies with", m->ops->name,
                      m->ops->learns);
    if (lm && d->kind != DUET_DATA_TEXT)
        return dt_err(err, DUET_EINVAL, "%s: a language model scores lines of text", d->src ? d->src : "data");
    int rc = DUET_OK;
    size_t cap = 1 << 20;
    unsigned char *buf = dt_alloc_e(ctx, cap, 1, "anomaly", err);
    if (!buf) return DUET_ENOMEM;
    /* the likelihood in nats, then the score in bits */
    if (lm) {
        for (int64_t i = 0; i < d->N && !rc; i++) {
            duet_lm_score s;
            duet_err e = {0, ""};
            rc = duet_model_score_text(ctx, m, d->text[i], strlen(d->text[i]), NULL, NULL, &s, &e);
            if (rc == DUET_EINVAL) { /* text the tokenizer cannot spell (a character it never saw): p = 0 */
                rc = DUET_OK;
                scores[i] = -INFINITY;
                continue;
            }
            if (rc && err) *err = e;
            scores[i] = -s.nll * (double)s.tokens;
        }
    } else {
        rc = duet_model_score(ctx, m, d, scores, err);
    }
    for (int64_t i = 0; i < d->N && !rc; i++) {
        scores[i] = -scores[i] / LN2;
        if (method == DUET_ANOMALY_NLL) continue;
        int64_t n = raw_bytes(d, i, buf, cap, err);
        if (n < 0) {
            rc = dt_err(err, DUET_ERANGE, "anomaly: row %lld is longer than %zu bytes", (long long)i + 1, cap);
            break;
        }
        if (method == DUET_ANOMALY_RATE) {
            scores[i] /= (double)(n > 0 ? n : 1);
            continue;
        }
        double bits = deflate_bits(ctx, buf, (size_t)n);
        if (bits < 0) rc = dt_err(err, DUET_ENOMEM, "anomaly: row %lld could not be compressed", (long long)i + 1);
        else scores[i] -= bits;
    }
    dt_free(ctx, buf);
    return rc;
}

double duet_roc_auc(duet_ctx *ctx, const double *neg, int64_t n_neg, const double *pos, int64_t n_pos) {
    if (n_neg < 1 || n_pos < 1) return NAN;
    double *s = dt_calloc(ctx, (size_t)(n_neg + n_pos), sizeof(double));
    unsigned char *y = dt_calloc(ctx, (size_t)(n_neg + n_pos), 1);
    double auc = NAN;
    if (s && y) {
        memcpy(s, neg, (size_t)n_neg * sizeof(double));
        memcpy(s + n_neg, pos, (size_t)n_pos * sizeof(double));
        memset(y + n_neg, 1, (size_t)n_pos);
        auc = dt_roc_auc(ctx, s, y, n_neg + n_pos);
    }
    dt_free(ctx, s);
    dt_free(ctx, y);
    return auc;
}
