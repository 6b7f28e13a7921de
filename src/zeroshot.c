/* zeroshot.c — a language model prompted to classify (duet_lm_classify): for each text, the
 * template is filled in ({text}: the text) and every candidate label is scored as its
 * continuation, log p(label ... | prompt); the label the model finds most likely wins. Where
 * the template holds {label}, the prompt is the template up to it and the continuation is the
 * label and the rest of the template; else the label follows the template after a space.
 * Calibration (Zhao et al. 2021, "Calibrate before use"): each label's score after the
 * content-free text "N/A" (or the empty text, when the model cannot spell "N/A") is
 * subtracted, so that a model's bias towards a label (a shorter or more frequent word) does not
 * decide.
 * Not here: the language model (models/gpt.c).
 */
#include <math.h>

#include "core/dt.h"
#include "data/data.h"
#include "models/gpt.h"
#include "models/model.h"

/* s with every occurrence of key replaced by val, into a new string. */
static char *replace(duet_ctx *ctx, const char *s, const char *key, const char *val) {
    size_t n = 0, kl = strlen(key), vl = strlen(val);
    for (const char *p = strstr(s, key); p; p = strstr(p + kl, key)) n++;
    char *out = dt_alloc(ctx, strlen(s) + n * vl + 1);
    if (!out) return NULL;
    char *o = out;
    for (const char *p = s;;) {
        const char *q = strstr(p, key);
        if (!q) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, val, vl);
        o += vl;
        p = q + kl;
    }
    return out;
}

/* log p(label's continuation | prompt) for text `text` (the template filled in) into *lp. */
static int label_logp(duet_ctx *ctx, const duet_model *lm, const char *tmpl, const char *text, const char *label, double *lp,
                      duet_err *err) {
    char *filled = replace(ctx, tmpl, "{text}", text), *cont = NULL;
    if (!filled) return dt_err(err, DUET_ENOMEM, "zero-shot: out of memory");
    int rc;
    const char *at = strstr(filled, "{label}");
    size_t plen;
    if (at) { /* prompt: up to {label}; continuation: the label and the rest */
        plen = (size_t)(at - filled);
        cont = replace(ctx, at, "{label}", label);
    } else { /* the label after a space (unless the template ends in white space) */
        plen = strlen(filled);
        int space = plen && (filled[plen - 1] == ' ' || filled[plen - 1] == '\n' || filled[plen - 1] == '\t');
        if ((cont = dt_alloc(ctx, strlen(label) + 2))) snprintf(cont, strlen(label) + 2, "%s%s", space ? "" : " ", label);
    }
    rc = cont ? dt_gpt_logp(ctx, lm, filled, plen, cont, strlen(cont), lp, NULL, err) : dt_err(err, DUET_ENOMEM, "zero-shot: out of memory");
    dt_free(ctx, filled);
    dt_free(ctx, cont);
    return rc;
}

int duet_lm_classify(duet_ctx *ctx, const duet_model *lm, const duet_data *d, const char *const *labels, int nlab,
                     const char *tmpl, int calibrate, float *P, duet_err *err) {
    if (!ctx || !lm || !d || !labels || !P) return dt_err(err, DUET_EINVAL, "duet_lm_classify: missing argument");
    if (lm->ops->input != DUET_DATA_CORPUS) return dt_err(err, DUET_EINVAL, "zero-shot classification needs a language model, not %s", lm->ops->name);
    if (d->kind != DUET_DATA_TEXT) return dt_err(err, DUET_EINVAL, "%s: zero-shot classification reads text", d->src ? d->src : "data");
    if (nlab < 2 || nlab > 1000) return dt_err(err, DUET_EINVAL, "zero-shot: 2..1000 labels (got %d)", nlab);
    for (int k = 0; k < nlab; k++)
        if (!labels[k] || !labels[k][0]) return dt_err(err, DUET_EINVAL, "zero-shot: label %d is empty", k + 1);
    if (!tmpl) tmpl = "{text}\nLabel: {label}";
    if (!strstr(tmpl, "{text}")) return dt_err(err, DUET_EINVAL, "zero-shot: the template has no {text}");
    double *lp = dt_alloc_e(ctx, (size_t)nlab * 2, sizeof(double), "zero-shot", err), *base = lp ? lp + nlab : NULL;
    if (!lp) return DUET_ENOMEM;
    int rc = DUET_OK;
    /* the content-free text: "N/A", or when the model cannot spell it, nothing */
    for (int k = 0; k < nlab; k++) base[k] = 0;
    for (int t = 0; calibrate && t < 2; t++) {
        duet_err e = {0, ""};
        for (int k = 0; k < nlab && !rc; k++) rc = label_logp(ctx, lm, tmpl, t ? "" : "N/A", labels[k], &base[k], &e);
        if (rc != DUET_EINVAL) {
            if (rc && err) *err = e;
            break;
        }
        rc = DUET_OK;
        for (int k = 0; k < nlab; k++) base[k] = 0;
    }
    for (int64_t i = 0; i < d->N && !rc; i++) {
        char *t = dt_strdup(ctx, d->text[i]);
        if (!t) {
            rc = dt_err(err, DUET_ENOMEM, "zero-shot: out of memory");
            break;
        }
        for (char *c = t; *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
        double mx = -INFINITY, sum = 0;
        for (int k = 0; k < nlab && !rc; k++) {
            duet_err e = {0, ""};
            rc = label_logp(ctx, lm, tmpl, t, labels[k], &lp[k], &e);
            if (rc == DUET_EINVAL) { /* a character the tokenizer never saw: no evidence for any label */
                rc = DUET_OK;
                for (int j = 0; j < nlab; j++) lp[j] = base[j];
                break;
            }
            if (rc && err) *err = e;
        }
        dt_free(ctx, t);
        for (int k = 0; k < nlab && !rc; k++) mx = fmax(mx, lp[k] -= base[k]);
        for (int k = 0; k < nlab && !rc; k++) sum += exp(lp[k] - mx);
        for (int k = 0; k < nlab && !rc; k++) P[(size_t)i * (size_t)nlab + (size_t)k] = (float)(exp(lp[k] - mx) / sum);
        if (!rc) rc = dt_check_abort(ctx, "zero-shot", err);
    }
    dt_free(ctx, lp);
    return rc;
}
