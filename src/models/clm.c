/* clm.c — a class-conditional language model: the transformer of gpt.c trained on the labelled
 * texts written as lines "label<TAB>text", so that it learns p(text | label) with the label as
 * a prefix; it classifies by Bayes' rule,
 *   p(k | x) proportional to p(k) p(x | k),  log p(x | k) = log p("x\n" | "\nk\t"),
 * p(k) the training share of class k. A generative classifier of raw text (no feature
 * pipeline), to put beside the discriminative ones (duet compare). Tabs and line breaks inside
 * a text become spaces; a text with a character the tokenizer never saw keeps only its
 * printable ASCII (and, failing that, gets the prior).
 * The language model's settings (--layers, --dim, --steps, --tokenizer, ...) are gpt's.
 * Not here: the transformer (gpt.c).
 */
#include <math.h>

#include "gpt.h"
#include "model.h"

typedef struct clm_state {
    duet_model *lm;    /* the language model (a gpt model without classes) */
    double *log_prior; /* (K) */
} clm_state;

static void clm_free(duet_ctx *ctx, void *st) {
    clm_state *s = st;
    if (!s) return;
    dt_model_free(s->lm);
    dt_free(ctx, s->log_prior);
    dt_free(ctx, s);
}

/* text with tabs and line breaks as spaces (ascii 1: printable ASCII only) into a new string */
static char *clean(duet_ctx *ctx, const char *t, int ascii) {
    size_t n = strlen(t), o = 0;
    char *c = dt_alloc(ctx, n + 2);
    if (!c) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch == '\t' || ch == '\n' || ch == '\r') c[o++] = ' ';
        else if (!ascii || (ch >= 32 && ch < 127)) c[o++] = (char)ch;
    }
    c[o++] = '\n';
    c[o] = 0;
    return c;
}

static int clm_fit_text(duet_ctx *ctx, duet_model *m, const char *const *texts, const int32_t *y, int64_t N, int K,
                        const duet_train_params *p, duet_err *err) {
    int rc = DUET_OK;
    clm_state *s = dt_calloc(ctx, 1, sizeof *s);
    int64_t *order = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "clm", err);
    char *corpus = NULL;
    if (!s || !order || !(s->log_prior = dt_calloc(ctx, (size_t)K, sizeof(double)))) {
        rc = dt_err(err, DUET_ENOMEM, "clm: out of memory");
        goto fail;
    }
    /* the lines in a random order: a run of one class would teach the model runs */
    size_t len = 0;
    for (int64_t i = 0; i < N; i++) {
        order[i] = i;
        len += strlen(m->classes[y[i]]) + strlen(texts[i]) + 2;
        s->log_prior[y[i]] += 1;
    }
    for (int k = 0; k < K; k++) s->log_prior[k] = log(s->log_prior[k] / (double)N);
    dt_rng r;
    dt_rng_seed(&r, ctx->seed ^ 0xc1a55u);
    dt_rng_shuffle(&r, order, N);
    if (!(corpus = dt_alloc_e(ctx, len + 1, 1, "clm corpus", err))) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    size_t o = 0;
    for (int64_t t = 0; t < N; t++) {
        int64_t i = order[t];
        const char *l = m->classes[y[i]];
        memcpy(corpus + o, l, strlen(l));
        o += strlen(l);
        corpus[o++] = '\t';
        for (const char *c = texts[i]; *c; c++) corpus[o++] = *c == '\t' || *c == '\n' || *c == '\r' ? ' ' : *c;
        corpus[o++] = '\n';
    }
    corpus[o] = 0;
    DT_TRY(dt_model_new(ctx, &dt_gpt_ops, &s->lm, err));
    DT_TRY(dt_gpt_ops.fit_corpus(ctx, s->lm, "labelled text", corpus, o, p, err));
    for (int i = 0; i < s->lm->n_meta; i++) /* the language model's training record */
        DT_TRY(dt_model_meta_set(m, s->lm->meta_key[i], "%s", s->lm->meta_val[i]));
    clm_free(ctx, m->state);
    m->state = s;
    s = NULL;
fail:
    clm_free(ctx, s);
    dt_free(ctx, order);
    dt_free(ctx, corpus);
    return rc;
}

/* log p(text | class k) for every k into lp (K); the text cleaned as at training, or its
 * printable ASCII when the tokenizer cannot spell it; all -inf when neither works. */
static int class_logps(duet_ctx *ctx, const duet_model *m, const char *text, double *lp, duet_err *err) {
    const clm_state *s = m->state;
    int rc = DUET_OK;
    for (int ascii = 0; ascii < 2; ascii++) {
        char *c = clean(ctx, text, ascii);
        if (!c) return dt_err(err, DUET_ENOMEM, "clm: out of memory");
        rc = DUET_OK;
        for (int k = 0; k < m->K && !rc; k++) {
            char pre[512];
            int pl = snprintf(pre, sizeof pre, "\n%s\t", m->classes[k]);
            duet_err e = {0, ""};
            rc = dt_gpt_logp(ctx, s->lm, pre, (size_t)(pl < (int)sizeof pre ? pl : (int)sizeof pre - 1), c, strlen(c),
                             &lp[k], NULL, &e);
            if (rc && rc != DUET_EINVAL && err) *err = e;
        }
        dt_free(ctx, c);
        if (rc != DUET_EINVAL) return rc;
    }
    for (int k = 0; k < m->K; k++) lp[k] = 0; /* nothing to go by: the prior decides */
    return DUET_OK;
}

static int clm_predict_text(duet_ctx *ctx, const duet_model *m, const char *const *texts, int64_t N, float *P,
                            duet_err *err) {
    const clm_state *s = m->state;
    if (!s || !s->lm) return dt_err(err, DUET_EINVAL, "clm: the model is not fitted");
    int K = m->K, nt = N > 1 ? dt_threads(ctx) : 1, rc = DUET_OK;
    double *lp = dt_alloc_e(ctx, (size_t)nt, (size_t)K * sizeof(double), "clm", err);
    if (!lp) return DUET_ENOMEM;
    duet_ctx one = *ctx; /* rows spread over the threads, each forward pass on one */
    one.n_threads = 1;
    int64_t next = 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double *v = lp + (size_t)t * (size_t)K;
        for (;;) {
            int64_t i;
#pragma omp atomic capture
            i = next++;
            if (i >= N) break;
            duet_err e = {0, ""};
            int r = class_logps(nt > 1 ? &one : ctx, m, texts[i], v, &e);
            if (r) {
#pragma omp critical
                if (!rc) {
                    rc = r;
                    if (err) *err = e;
                }
                break;
            }
            double mx = -INFINITY, sum = 0;
            for (int k = 0; k < K; k++) mx = fmax(mx, v[k] += s->log_prior[k]);
            for (int k = 0; k < K; k++) sum += exp(v[k] - mx);
            for (int k = 0; k < K; k++) P[(size_t)i * (size_t)K + (size_t)k] = (float)(exp(v[k] - mx) / sum);
        }
    }
    dt_free(ctx, lp);
    return rc;
}

static int clm_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const clm_state *s = m->state;
    int rc = dt_gpt_ops.save(s->lm, w, err);
    if (!rc) rc = dt_st_add1(w, "model.log_prior", DT_F64, m->K, s->log_prior, err);
    return rc;
}

static int clm_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    clm_state *s = dt_calloc(ctx, 1, sizeof *s);
    int rc = DUET_OK;
    if (!s || !(s->log_prior = dt_calloc(ctx, (size_t)m->K, sizeof(double)))) {
        rc = dt_err(err, DUET_ENOMEM, "clm: out of memory");
        goto fail;
    }
    DT_TRY(dt_model_new(ctx, &dt_gpt_ops, &s->lm, err));
    DT_TRY(dt_gpt_ops.load(ctx, s->lm, f, err));
    int64_t shape[1] = {m->K};
    const void *d;
    DT_TRY(dt_st_get(f, "model.log_prior", DT_F64, 1, shape, &d, NULL, err));
    memcpy(s->log_prior, d, (size_t)m->K * sizeof(double));
    for (int k = 0; k < m->K; k++)
        if (!(s->log_prior[k] <= 0) || isnan(s->log_prior[k])) {
            rc = dt_err(err, DUET_EFORMAT, "%s: tensor 'model.log_prior' element %d is not a log probability", dt_st_name(f), k);
            goto fail;
        }
    m->state = s;
    s = NULL;
fail:
    clm_free(ctx, s);
    return rc;
}

const dt_model_ops dt_clm_ops = {
    .options = dt_gpt_options, /* one language model per class, trained as gpt trains */
    .name = "clm",
    .learns = "p(x|y)p(y)",
    .caps = DUET_CAN_PREDICT,
    .about = "class-conditional language model of raw text (the label as a prefix; Bayes' rule classifies)",
    .free_state = clm_free,
    .save = clm_save,
    .load = clm_load,
    .raw_text = 1,
    .fit_text = clm_fit_text,
    .distributed = 1, /* every process writes the same corpus; gpt.c shares each batch out */
    .predict_text = clm_predict_text,
    .title = "the class-conditional language model",
    .compare_on = 1u << DUET_DATA_TEXT,
};
