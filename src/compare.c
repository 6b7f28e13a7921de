/* compare.c — both families side by side on the same data (duet_compare_run): every model is
 * trained on one stratified training split and measured on the held-out rest (accuracy, macro
 * F1, fit time, latency of one prediction, model file size, peak memory of the library's
 * allocations), then learning curves follow the protocol of Ng & Jordan (2001, "On
 * discriminative vs. generative classifiers"): the error on the held-out rows against the
 * training-set size, on a geometric grid of sizes, each point the mean (and spread) over
 * random stratified subsets, with each model's regularisation fixed at what cross-validation
 * chose on the whole training split. A recommendation names the trade-off measured.
 * Not here: the report's page and plots (report.c), the command line (cli/).
 */
#include <math.h>
#include <cjson/cJSON.h>
#include <stdatomic.h>

#include "core/dt.h"
#include "core/metrics.h"
#include "data/data.h"
#include "models/model.h"

// --- tracking the library's allocations ----------------------------------------------------------

/* A context whose allocations go through trk_alloc, which keeps a size header in front of
 * each block and counts live and peak bytes (thread-safe), then hands the work to the parent
 * context's hook or to malloc. */
typedef struct tracker {
    _Atomic long long live, peak;
    duet_alloc_fn up;
    void *up_user;
} tracker;

#define TRK_HEAD 16 /* keeps the block 16-byte aligned */

static void *up_alloc(tracker *t, void *p, size_t n) {
    if (t->up) return t->up(t->up_user, p, n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    return realloc(p, n);
}

static void *trk_alloc(void *user, void *p, size_t n) {
    tracker *t = user;
    char *blk = p ? (char *)p - TRK_HEAD : NULL;
    size_t old = blk ? *(size_t *)blk : 0;
    if (n > SIZE_MAX - TRK_HEAD) return NULL;
    if (n == 0) { /* free */
        if (blk) atomic_fetch_sub(&t->live, (long long)old);
        up_alloc(t, blk, 0);
        return NULL;
    }
    char *nb = up_alloc(t, blk, n + TRK_HEAD);
    if (!nb) return NULL;
    *(size_t *)nb = n;
    long long now = atomic_fetch_add(&t->live, (long long)n - (long long)old) + (long long)n - (long long)old;
    long long pk = atomic_load(&t->peak);
    while (now > pk && !atomic_compare_exchange_weak(&t->peak, &pk, now)) {
    }
    return nb + TRK_HEAD;
}

// --- helpers ---------------------------------------------------------------------------------------

duet_compare_opts duet_compare_opts_default(void) {
    duet_compare_opts o;
    memset(&o, 0, sizeof o);
    o.params = duet_train_params_default();
    return o;
}

/* The default models for a kind of data: the discriminative three, naive Bayes, for text the
 * class-conditional language model, and for images
 * the conditional VAE. */
/* The entry of the language model that classifies without training (o->lm): not a registered
 * model, a way compare itself uses one. */
#define ZERO_SHOT "zero-shot"

/* 1 when compare includes model o on data of kind *(const int *)arg by default (compare_on). */
static int compared_on(const dt_model_ops *o, const void *arg) { return (o->compare_on >> *(const int *)arg) & 1; }
static int learns_number(const dt_model_ops *o, const void *arg) { return (dt_model_targets(o) & *(const unsigned *)arg) != 0; }

/* Models whose fits take a fraction of a second on thousands of rows: the default curves. */
static int quick(const char *name) {
    const dt_model_ops *m = dt_model_find(name);
    return m && m->quick;
}

/* Splits a comma-separated list into at most max names (each < 32 bytes); returns the count or
 * -1 with err set. */
static int parse_list(const char *s, char names[][32], int max, duet_err *err) {
    int n = 0;
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || len >= 32) return dt_err(err, DUET_EINVAL, "bad model list near '%.20s'", s), -1;
        if (n == max) return dt_err(err, DUET_EINVAL, "at most %d models", max), -1;
        memcpy(names[n], s, len);
        names[n][len] = 0;
        if (!dt_model_find(names[n]))
            return dt_err(err, DUET_EINVAL, "unknown model '%s' (models: %s)", names[n], dt_model_names()), -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], names[n])) return dt_err(err, DUET_EINVAL, "model '%s' named twice", names[n]), -1;
        n++;
        s = e ? e + 1 : s + len;
    }
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A stratified random subset of the rows rows[0..n) of classes y: m rows, every class at least
 * once (when m allows), in proportion otherwise; out (m) receives them in row order. */
static int stratified_subset(duet_ctx *ctx, const int64_t *rows, int64_t n, const int32_t *y, int K, int64_t m,
                             uint64_t seed, int64_t *out, duet_err *err) {
    int64_t *cnt = dt_calloc(ctx, (size_t)K, sizeof(int64_t)), *take = dt_calloc(ctx, (size_t)K, sizeof(int64_t));
    int64_t *perm = dt_calloc(ctx, (size_t)n, sizeof(int64_t));
    unsigned char *use = dt_calloc(ctx, (size_t)n, 1);
    int rc = DUET_OK;
    if (!cnt || !take || !perm || !use) {
        rc = dt_err(err, DUET_ENOMEM, "learning curve: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) cnt[y[rows[i]]]++;
    int64_t given = 0;
    for (int k = 0; k < K; k++) {
        take[k] = (int64_t)floor((double)m * (double)cnt[k] / (double)n);
        if (take[k] < 1 && cnt[k] > 0) take[k] = 1;
        given += take[k];
    }
    /* the rounding's remainder goes to the largest classes, one each */
    while (given < m) {
        int best = -1;
        for (int k = 0; k < K; k++)
            if (take[k] < cnt[k] && (best < 0 || cnt[k] - take[k] > cnt[best] - take[best])) best = k;
        if (best < 0) break;
        take[best]++, given++;
    }
    dt_rng r;
    dt_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    dt_rng_shuffle(&r, perm, n);
    for (int64_t j = 0; j < n; j++) {
        int k = y[rows[perm[j]]];
        if (take[k] > 0) take[k]--, use[perm[j]] = 1;
    }
    int64_t o = 0;
    for (int64_t i = 0; i < n; i++)
        if (use[i]) out[o++] = rows[i];
done:
    dt_free(ctx, cnt);
    dt_free(ctx, take);
    dt_free(ctx, perm);
    dt_free(ctx, use);
    return rc;
}

// --- one model on the split ----------------------------------------------------------------------

/* The settings of model `name` along the curves and in the augmentation runs: what every model
 * gets, and the regularisation that cross-validation chose for it on the whole split (main). */
static duet_train_params fixed_params(const duet_compare_opts *o, const char *name, const duet_compare_model *main) {
    duet_train_params p = o->params;
    p.model = name;
    const dt_model_ops *ops = dt_model_find(name);
    if (ops && ops->compare_conditional) p.conditional = 1;
    size_t n = ops && ops->tune ? strlen(ops->tune) : 0;
    if (main && n && !strncmp(main->tuned, ops->tune, n) && main->tuned[n] == '=') *dt_tuned_param(ops, &p) = atof(main->tuned + n + 1);
    return p;
}

/* Trains `name` on tr and measures it on te (rows of te in one-row datasets for the latency). */
static void measure(duet_ctx *ctx, const char *name, const duet_compare_opts *o, const duet_data *tr,
                    const duet_data *te, duet_data *const *one, int n_one, duet_compare_model *r) {
    tracker t = {0};
    t.up = ctx->alloc, t.up_user = ctx->alloc_user;
    duet_ctx c = *ctx;
    c.alloc = trk_alloc, c.alloc_user = &t;
    duet_train_params p = fixed_params(o, name, NULL);
    duet_model *m = NULL;
    duet_metrics *mt = NULL;
    duet_err e = {0, ""};
    double *lat = dt_calloc(ctx, (size_t)(n_one ? n_one : 1), sizeof(double));
    snprintf(r->name, sizeof r->name, "%s", name);
    double t0 = dt_now();
    int rc = lat ? duet_model_train(&c, tr, &p, &m, &e) : dt_err(&e, DUET_ENOMEM, "compare: out of memory");
    r->fit_seconds = dt_now() - t0;
    if (!rc && !(m->ops->caps & DUET_CAN_PREDICT))
        rc = dt_err(&e, DUET_EUNSUPPORTED, "%s does not classify (it has no p(y|x) or p(x|y))", name);
    if (!rc) rc = duet_model_eval(&c, m, te, &mt, &e);
    for (int i = 0; !rc && i < n_one; i++) {
        int32_t lab;
        double v;
        float *pr = dt_calloc(ctx, (size_t)(m->K ? m->K : 1), sizeof(float));
        double a = dt_now();
        rc = !pr ? dt_err(&e, DUET_ENOMEM, "compare: out of memory")
             : m->K ? duet_model_predict(&c, m, one[i], &lab, pr, &e) : duet_model_predict_values(&c, m, one[i], &v, &e);
        lat[i] = dt_now() - a;
        dt_free(ctx, pr);
    }
    if (!rc) rc = duet_model_file_size(&c, m, &r->size_bytes, &e);
    if (!rc) {
        r->ok = 1;
        /* a conditional generative model, as compared here, learns p(x|y)p(y) */
        snprintf(r->learns, sizeof r->learns, "%s", p.conditional ? "p(x|y)p(y)" : m->ops->learns);
        r->generative = strstr(m->ops->learns, "p(x") != NULL;
        r->accuracy = mt->accuracy;
        r->f1 = mt->f1;
        r->rmse = mt->rmse, r->mae = mt->mae, r->r2 = mt->r2;
        qsort(lat, (size_t)n_one, sizeof *lat, cmp_double);
        r->predict_us = n_one ? 1e6 * lat[n_one / 2] : NAN;
        const char *tk = m->ops->tune;
        const char *tv = tk ? dt_model_meta_get(m, tk) : NULL;
        if (tv && strncmp(tv, "unused", 6) != 0) snprintf(r->tuned, sizeof r->tuned, "%s=%s", tk, tv);
    } else {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "%s", e.msg);
    }
    duet_metrics_free(&c, mt); /* allocated through c, like the model */
    duet_model_free(m);
    r->peak_bytes = (int64_t)atomic_load(&t.peak);
    dt_free(ctx, lat);
}

/* The zero-shot language model o->lm on te, its classes those of lab (no training). */
static void measure_lm(duet_ctx *ctx, const duet_compare_opts *o, const duet_model *lab, const duet_data *te,
                       duet_data *const *one, int n_one, duet_compare_model *r) {
    tracker t = {0};
    t.up = ctx->alloc, t.up_user = ctx->alloc_user;
    duet_ctx c = *ctx;
    c.alloc = trk_alloc, c.alloc_user = &t;
    int K = lab->K;
    const char *const *labels = (const char *const *)lab->classes;
    duet_err e = {0, ""};
    duet_metrics *mt = NULL;
    float *P = dt_alloc_e(ctx, (size_t)te->N, (size_t)K * sizeof(float), "zero-shot", &e);
    int32_t *y = dt_calloc(ctx, (size_t)te->N, sizeof(int32_t)), *pred = dt_calloc(ctx, (size_t)te->N, sizeof(int32_t));
    double *lat = dt_calloc(ctx, (size_t)(n_one ? n_one : 1), sizeof(double));
    snprintf(r->name, sizeof r->name, ZERO_SHOT);
    snprintf(r->learns, sizeof r->learns, "%s", o->lm->ops->learns);
    snprintf(r->tuned, sizeof r->tuned, "pretrained");
    r->generative = 1;
    int rc = P && y && pred && lat ? duet_lm_classify(&c, o->lm, te, labels, K, o->lm_template, 1, P, &e)
                                   : dt_err(&e, DUET_ENOMEM, "compare: out of memory");
    for (int64_t i = 0; !rc && i < te->N; i++) {
        y[i] = dt_model_class(lab, te->labels[i]);
        pred[i] = 0;
        for (int k = 1; k < K; k++)
            if (P[(size_t)i * (size_t)K + (size_t)k] > P[(size_t)i * (size_t)K + (size_t)pred[i]]) pred[i] = k;
    }
    if (!rc) rc = dt_metrics_compute(&c, K, te->N, y, pred, P, lab->classes, &mt, &e);
    for (int i = 0; !rc && i < n_one; i++) {
        double a = dt_now();
        rc = duet_lm_classify(&c, o->lm, one[i], labels, K, o->lm_template, 1, P, &e);
        lat[i] = dt_now() - a;
    }
    if (!rc) rc = duet_model_file_size(&c, o->lm, &r->size_bytes, &e);
    if (!rc) {
        r->ok = 1;
        r->accuracy = mt->accuracy;
        r->f1 = mt->f1;
        r->rmse = r->mae = r->r2 = NAN;
        qsort(lat, (size_t)n_one, sizeof *lat, cmp_double);
        r->predict_us = n_one ? 1e6 * lat[n_one / 2] : NAN;
    } else {
        snprintf(r->error, sizeof r->error, "%s", e.msg);
    }
    duet_metrics_free(&c, mt);
    r->peak_bytes = (int64_t)atomic_load(&t.peak);
    dt_free(ctx, P);
    dt_free(ctx, y);
    dt_free(ctx, pred);
    dt_free(ctx, lat);
}

// --- learning curves --------------------------------------------------------------------------------

/* The error of `name` (tuned value fixed) trained on m rows of the training split, mean and
 * standard deviation over o->curve_repeats subsets. */
static int curve_point(duet_ctx *ctx, const char *name, const duet_compare_model *main, const duet_compare_opts *o,
                       const duet_data *d, const int64_t *rows, int64_t n, const int32_t *y, int K,
                       const duet_data *te, int64_t m, int si, int repeats, double *mean, double *sd, duet_err *err) {
    duet_train_params p = fixed_params(o, name, main);
    int64_t *sub = dt_calloc(ctx, (size_t)m, sizeof(int64_t));
    double *errs = dt_calloc(ctx, (size_t)repeats, sizeof(double));
    int rc = sub && errs ? DUET_OK : dt_err(err, DUET_ENOMEM, "learning curve: out of memory"), got = 0;
    for (int r = 0; !rc && r < repeats; r++) {
        duet_data *ds = NULL;
        duet_model *mod = NULL;
        duet_metrics *mt = NULL;
        duet_err e = {0, ""};
        uint64_t seed = ctx->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(si * 1000 + r + 1));
        rc = stratified_subset(ctx, rows, n, y, K, m, seed, sub, err);
        if (rc) break;
        if (dt_data_subset(ctx, d, sub, m, &ds, &e) == DUET_OK && duet_model_train(ctx, ds, &p, &mod, &e) == DUET_OK &&
            duet_model_eval(ctx, mod, te, &mt, &e) == DUET_OK)
            errs[got++] = mt->K ? 1.0 - mt->accuracy : mt->rmse;
        else if (e.code == DUET_ENOMEM || e.code == DUET_ECANCELLED)
            rc = dt_err(err, e.code, "%s", e.msg);
        duet_metrics_free(ctx, mt);
        duet_model_free(mod);
        dt_data_free(ds);
    }
    double s = 0, q = 0;
    for (int r = 0; r < got; r++) s += errs[r];
    *mean = got ? s / got : NAN;
    for (int r = 0; r < got; r++) q += (errs[r] - *mean) * (errs[r] - *mean);
    *sd = got > 1 ? sqrt(q / (got - 1)) : got ? 0.0 : NAN;
    dt_free(ctx, sub);
    dt_free(ctx, errs);
    return rc;
}

// --- the recommendation ----------------------------------------------------------------------------

/* A model's name in a sentence (its title), or the entry's own name. */
static const char *pretty(const char *name) {
    const dt_model_ops *m = dt_model_find(name);
    if (m && m->title) return m->title;
    if (!strcmp(name, ZERO_SHOT)) return "the zero-shot language model";
    return name;
}

static const duet_compare_curve *curve_of(const duet_compare *c, const char *name) {
    for (int i = 0; i < c->n_curves; i++)
        if (!strcmp(c->curves[i].name, name)) return &c->curves[i];
    return NULL;
}

static const duet_compare_model *model_of(const duet_compare *c, const char *name) {
    for (int i = 0; i < c->n_models; i++)
        if (c->models[i].ok && !strcmp(c->models[i].name, name)) return &c->models[i];
    return NULL;
}

/* Appends how g (generative) and d (discriminative) compare along the learning curves (Ng &
 * Jordan's question): up to which size g has the lower mean error and from which size d keeps
 * it, or that one leads throughout; up to which size g stays within a point of d; and the
 * speed figures that go with it. */
static void crossing(const duet_compare *c, const char *gn, const char *dn, char *buf, size_t len) {
    const duet_compare_curve *g = curve_of(c, gn), *d = curve_of(c, dn);
    const duet_compare_model *mg = model_of(c, gn), *md = model_of(c, dn);
    if (!g || !d || !mg || !md || c->n_sizes < 2) return;
    int S = c->n_sizes - 1, cross = -1, point = -1; /* d ahead from sizes[cross] on; g within a point up to sizes[point] */
    for (int i = S; i >= 0; i--) {
        if (!isfinite(g->err_mean[i]) || !isfinite(d->err_mean[i])) continue;
        if (d->err_mean[i] < g->err_mean[i]) cross = i;
        else break;
    }
    for (int i = 0; i <= S; i++) {
        if (!isfinite(g->err_mean[i]) || !isfinite(d->err_mean[i]) || g->err_mean[i] > d->err_mean[i] + 0.01) break;
        point = i;
    }
    const char *G = pretty(gn), *Dn = pretty(dn);
    double a0 = 100 * g->err_mean[0], b0 = 100 * d->err_mean[0], aS = 100 * g->err_mean[S], bS = 100 * d->err_mean[S];
    (void)a0;
    size_t n = strlen(buf);
    if (cross == 0)
        snprintf(buf + n, len - n, " On the learning curves %s has the lower error at every size, from %lld rows (%.1f %% against "
                 "%.1f %%) to %lld (%.1f %% against %.1f %%).", Dn, (long long)c->sizes[0], b0, a0, (long long)c->sizes[S], bS, aS);
    else if (cross < 0)
        snprintf(buf + n, len - n, " On the learning curves %s has an error as low as %s's or lower up to all %lld training rows "
                 "(%.1f %% against %.1f %%): the curves do not cross here.", G, Dn, (long long)c->sizes[S], aS, bS);
    else {
        int j = cross - 1, f = j; /* g ahead from sizes[f] to sizes[j] */
        while (f > 0 && !(g->err_mean[f - 1] > d->err_mean[f - 1])) f--;
        char span[96];
        if (f == 0) snprintf(span, sizeof span, "up to %lld", (long long)c->sizes[j]);
        else if (f == j) snprintf(span, sizeof span, "at %lld", (long long)c->sizes[j]);
        else snprintf(span, sizeof span, "from %lld to %lld", (long long)c->sizes[f], (long long)c->sizes[j]);
        snprintf(buf + n, len - n, " The learning curves cross: %s has the lower error %s training rows (%.1f %% against "
                 "%.1f %% at %lld), %s from %lld rows on (%.1f %% against %.1f %% at %lld).", G, span, 100 * g->err_mean[j],
                 100 * d->err_mean[j], (long long)c->sizes[j], Dn, (long long)c->sizes[cross], bS, aS, (long long)c->sizes[S]);
    }
    n = strlen(buf);
    if (point >= 0 && point < S && point >= cross)
        snprintf(buf + n, len - n, " %s stays within a point of %s up to %lld rows.", G, Dn, (long long)c->sizes[point]);
    n = strlen(buf);
    double fit = md->fit_seconds / fmax(mg->fit_seconds, 1e-9), lat = md->predict_us / fmax(mg->predict_us, 1e-9);
    if (fit >= 1.5 && lat >= 1.5) snprintf(buf + n, len - n, " %s fits %.0fx and predicts %.1fx faster than %s.", G, fit, lat, Dn);
    else if (fit >= 1.5) snprintf(buf + n, len - n, " %s fits %.0fx faster than %s.", G, fit, Dn);
    else if (lat <= 1 / 1.5) snprintf(buf + n, len - n, " %s predicts %.1fx faster than %s.", Dn, 1 / lat, G);
}

/* Regressors: the lowest RMSE, and the quickest to fit within 1 % of it. */
static void recommend_numbers(duet_compare *c) {
    char *b = c->recommendation;
    size_t len = sizeof c->recommendation;
    const duet_compare_model *best = NULL;
    for (int i = 0; i < c->n_models; i++)
        if (c->models[i].ok && (!best || c->models[i].rmse < best->rmse)) best = &c->models[i];
    if (!best) {
        snprintf(b, len, "No model could be trained on this data.");
        return;
    }
    const duet_compare_model *q = best;
    for (int i = 0; i < c->n_models; i++) {
        const duet_compare_model *m = &c->models[i];
        if (m->ok && m->rmse <= best->rmse * 1.01 && m->fit_seconds < q->fit_seconds) q = m;
    }
    snprintf(b, len, "The smallest error here is that of %s (RMSE %.4g, MAE %.4g, R² %.3f).", pretty(best->name), best->rmse,
             best->mae, best->r2);
    size_t n = strlen(b);
    if (q != best)
        snprintf(b + n, len - n, " %s comes within 1 %% (RMSE %.4g) and fits %.1fx faster.", pretty(q->name), q->rmse,
                 best->fit_seconds / fmax(q->fit_seconds, 1e-9));
    for (size_t i = 0; b[i]; i++)
        if ((i == 0 || (i >= 2 && b[i - 2] == '.' && b[i - 1] == ' ')) && b[i] >= 'a' && b[i] <= 'z') b[i] = (char)(b[i] - 32);
}

static void recommend(duet_compare *c) {
    char *b = c->recommendation;
    size_t len = sizeof c->recommendation;
    b[0] = 0;
    if (c->K == 0) {
        recommend_numbers(c);
        return;
    }
    const duet_compare_model *best = NULL;
    for (int i = 0; i < c->n_models; i++)
        if (c->models[i].ok && (!best || c->models[i].accuracy > best->accuracy)) best = &c->models[i];
    if (!best) {
        snprintf(b, len, "No model could be trained on this data.");
        return;
    }
    /* the quickest to fit within half a point of the best */
    const duet_compare_model *q = best;
    for (int i = 0; i < c->n_models; i++) {
        const duet_compare_model *m = &c->models[i];
        if (m->ok && m->accuracy >= best->accuracy - 0.005 && m->fit_seconds < q->fit_seconds) q = m;
    }
    snprintf(b, len, "%s is the most accurate here (%.2f %%, macro F1 %.3f; %s).", pretty(best->name), 100 * best->accuracy,
             best->f1, best->generative ? "generative" : "discriminative");
    size_t n = strlen(b);
    if (q != best)
        snprintf(b + n, len - n, " %s is within half a point (%.2f %%) and fits %.1fx faster%s.", pretty(q->name), 100 * q->accuracy,
                 best->fit_seconds / fmax(q->fit_seconds, 1e-9), q->predict_us < best->predict_us / 1.5 ? ", predicting faster too" : "");
    for (int i = 0; dt_model_at(i); i++) /* generative classifiers against their discriminative twins */
        if (dt_model_at(i)->versus) crossing(c, dt_model_at(i)->name, dt_model_at(i)->versus, b, len);
    /* sentences that begin with a model's name begin with a capital */
    for (size_t i = 0; b[i]; i++)
        if ((i == 0 || (i >= 2 && b[i - 2] == '.' && b[i - 1] == ' ')) && b[i] >= 'a' && b[i] <= 'z') b[i] = (char)(b[i] - 32);
}

// --- augmentation -----------------------------------------------------------------------------------

/* Model `name` (settings p) trained on tr and predicting te: predictions into pred, metrics. */
static int fit_predict(duet_ctx *ctx, const duet_train_params *p, const duet_data *tr, const duet_data *te, const duet_model *lab,
                       int32_t *y, int32_t *pred, duet_metrics **mt, duet_err *err) {
    duet_model *m = NULL;
    float *P = NULL;
    int rc = duet_model_train(ctx, tr, p, &m, err);
    if (!rc && m->K != lab->K) rc = dt_err(err, DUET_EINVAL, "the training rows lack a class");
    if (!rc && !(P = dt_alloc_e(ctx, (size_t)te->N, (size_t)m->K * sizeof(float), "augment", err))) rc = DUET_ENOMEM;
    if (!rc) rc = duet_model_predict(ctx, m, te, pred, P, err);
    for (int64_t i = 0; !rc && i < te->N; i++) y[i] = dt_model_class(lab, te->labels[i]);
    if (!rc) rc = dt_metrics_compute(ctx, m->K, te->N, y, pred, P, lab->classes, mt, err);
    dt_free(ctx, P);
    duet_model_free(m);
    return rc;
}

/* McNemar's test at about 5 %: the rows only a gets right against those only b does. */
static int mcnemar(const int32_t *a, const int32_t *b, const int32_t *y, int64_t n, int64_t *ga, int64_t *gb) {
    *ga = *gb = 0;
    for (int64_t i = 0; i < n; i++) {
        *ga += a[i] == y[i] && b[i] != y[i];
        *gb += b[i] == y[i] && a[i] != y[i];
    }
    return fabs((double)(*ga - *gb)) > 2 * sqrt((double)(*ga + *gb));
}

/* One compared model on the real training rows ([0]), with the synthetic rows (aug, [1]) and
 * with duplicated real rows (dup, [2]). */
static void augment_one(duet_ctx *ctx, const duet_compare_opts *o, const duet_compare_model *main, const duet_data *tr,
                        const duet_data *aug, const duet_data *dup, const duet_data *te, const duet_model *lab, int k,
                        duet_compare_augment *r) {
    duet_train_params p = fixed_params(o, main->name, main);
    const duet_data *sets[3] = {tr, aug, dup};
    int32_t *y = dt_calloc(ctx, (size_t)te->N, sizeof(int32_t)), *pr[3];
    int ok = y != NULL;
    for (int j = 0; j < 3; j++) ok &= (pr[j] = dt_calloc(ctx, (size_t)te->N, sizeof(int32_t))) != NULL;
    duet_err e = {0, ""};
    int rc = ok ? DUET_OK : dt_err(&e, DUET_ENOMEM, "augment: out of memory");
    snprintf(r->name, sizeof r->name, "%s", main->name);
    for (int j = 0; j < 3 && !rc; j++) {
        duet_metrics *mt = NULL;
        rc = fit_predict(ctx, &p, sets[j], te, lab, y, pr[j], &mt, &e);
        if (!rc) {
            r->accuracy[j] = mt->accuracy, r->f1[j] = mt->f1;
            r->label_recall[j] = mt->class_recall[k], r->label_f1[j] = mt->class_f1[k];
        }
        duet_metrics_free(ctx, mt);
    }
    if (!rc) {
        r->significant = mcnemar(pr[1], pr[0], y, te->N, &r->gained, &r->lost);
        r->vs_dup_significant = mcnemar(pr[1], pr[2], y, te->N, &r->vs_dup_gained, &r->vs_dup_lost);
        r->ok = 1;
    } else {
        snprintf(r->error, sizeof r->error, "%s", e.msg);
    }
    dt_free(ctx, y);
    for (int j = 0; j < 3; j++) dt_free(ctx, pr[j]);
}

/* The verdict on the augmentation, in words, into c->augment_verdict. */
static void augment_verdict(duet_compare *c) {
    char *b = c->augment_verdict;
    size_t len = sizeof c->augment_verdict, n;
    int helped = 0, hurt = 0, done = 0;
    snprintf(b, len, "%lld synthetic '%s' rows drawn by %s joined the %lld real ones.", (long long)c->augment_rows,
             c->augment_label, pretty(c->augment_model), (long long)c->augment_real);
    for (int i = 0; i < c->n_augment; i++) {
        const duet_compare_augment *a = &c->augment[i];
        if (!a->ok) continue;
        done++;
        int better = a->gained > a->lost;
        helped += a->significant && better;
        hurt += a->significant && !better;
        n = strlen(b);
        snprintf(b + n, len - n, " %s: accuracy %.2f %% -> %.2f %% (%s), recall of '%s' %.1f %% -> %.1f %%, its F1 %.3f -> %.3f.",
                 pretty(a->name), 100 * a->accuracy[0], 100 * a->accuracy[1],
                 a->significant ? (better ? "better beyond chance" : "worse beyond chance") : "within chance", c->augment_label,
                 100 * a->label_recall[0], 100 * a->label_recall[1], a->label_f1[0], a->label_f1[1]);
        n = strlen(b);
        snprintf(b + n, len - n, " Duplicating real rows instead: accuracy %.2f %%, recall %.1f %%, F1 %.3f (the synthetic rows %s).",
                 100 * a->accuracy[2], 100 * a->label_recall[2], a->label_f1[2],
                 a->vs_dup_significant ? (a->vs_dup_gained > a->vs_dup_lost ? "do better beyond chance" : "do worse beyond chance")
                                       : "no different beyond chance");
    }
    n = strlen(b);
    if (!done) snprintf(b + n, len - n, " No discriminative model was measured with them.");
    else if (helped && !hurt) snprintf(b + n, len - n, " The synthetic rows help here.");
    else if (hurt && !helped) {
        int shift = 0;
        for (int i = 0; i < c->n_augment; i++) shift += c->augment[i].ok && c->augment[i].label_f1[1] > c->augment[i].label_f1[0];
        snprintf(b + n, len - n, " The synthetic rows do not help: accuracy falls beyond chance%s.",
                 shift ? ", though they shift decisions towards the class and its F1 rises" : "");
    }
    else if (!helped && !hurt) snprintf(b + n, len - n, " The synthetic rows do not help: no change in accuracy beyond chance.");
    else snprintf(b + n, len - n, " The synthetic rows help some models and hurt others.");
    for (size_t i = 0; b[i]; i++)
        if ((i >= 2 && b[i - 2] == '.' && b[i - 1] == ' ') && b[i] >= 'a' && b[i] <= 'z') b[i] = (char)(b[i] - 32);
}

/* Draws synthetic rows of class o->augment from a generative model of the training rows and
 * measures every compared discriminative model with and without them. */
static int augment_run(duet_ctx *ctx, duet_compare *c, const duet_compare_opts *o, const duet_model *lab, const duet_data *tr,
                       const duet_data *te, duet_err *err) {
    int k = dt_model_class(lab, o->augment);
    if (k < 0) return dt_err(err, DUET_EINVAL, "--augment: '%s' is not one of the %d classes", o->augment, lab->K);
    const char *gname = o->augment_model ? o->augment_model : dt_model_for(DT_ROLE_AUGMENT)->name;
    if (!dt_model_find(gname)) return dt_err(err, DUET_EINVAL, "--augment-model: unknown model '%s' (models: %s)", gname, dt_model_names());
    int64_t real = 0;
    for (int64_t i = 0; i < tr->N; i++) real += strcmp(tr->labels[i], o->augment) == 0;
    int64_t count = o->augment_count > 0 ? o->augment_count : real;
    snprintf(c->augment_label, sizeof c->augment_label, "%s", o->augment);
    snprintf(c->augment_model, sizeof c->augment_model, "%s", gname);
    c->augment_real = real, c->augment_rows = count;
    duet_train_params p = fixed_params(o, gname, NULL);
    duet_model *g = NULL;
    duet_data *s = NULL, *st = NULL, *aug = NULL, *dup = NULL;
    dt_log(ctx, 0, "compare: drawing %lld synthetic '%s' rows from %s", (long long)count, o->augment, gname);
    int rc = duet_model_train(ctx, tr, &p, &g, err);
    if (!rc && !(g->ops->caps & DUET_CAN_SAMPLE)) rc = dt_err(err, DUET_EINVAL, "--augment-model: %s cannot draw examples", gname);
    if (!rc) rc = duet_model_sample_ex(ctx, g, o->augment, count, ctx->seed ^ 0xa5a5u, NULL, &s, err);
    if (!rc && tr->kind == DUET_DATA_TABLE) rc = dt_samples_table(ctx, g, s, &st, err);
    if (!rc) rc = dt_data_concat(ctx, tr, st ? st : s, &aug, err);
    /* the control: the training rows and `count` of the class's real rows drawn again */
    int64_t *idx = rc ? NULL : dt_alloc_e(ctx, (size_t)(tr->N + count), sizeof(int64_t), "augment", err), *mine = NULL;
    if (!rc && !idx) rc = DUET_ENOMEM;
    if (!rc && !(mine = dt_alloc_e(ctx, (size_t)(real ? real : 1), sizeof(int64_t), "augment", err))) rc = DUET_ENOMEM;
    if (!rc && real == 0) rc = dt_err(err, DUET_EINVAL, "--augment: the training split has no '%s' rows", o->augment);
    if (!rc) {
        int64_t m = 0;
        for (int64_t i = 0; i < tr->N; i++) {
            idx[i] = i;
            if (strcmp(tr->labels[i], o->augment) == 0) mine[m++] = i;
        }
        dt_rng r;
        dt_rng_seed(&r, ctx->seed ^ 0xd0bu);
        for (int64_t i = 0; i < count; i++) idx[tr->N + i] = mine[dt_rng_below(&r, (uint64_t)real)];
        rc = dt_data_subset(ctx, tr, idx, tr->N + count, &dup, err);
    }
    dt_free(ctx, idx);
    dt_free(ctx, mine);
    int nd = 0;
    for (int i = 0; i < c->n_models; i++) nd += c->models[i].ok && !c->models[i].generative;
    if (!rc && !(c->augment = dt_calloc(ctx, (size_t)(nd ? nd : 1), sizeof *c->augment)))
        rc = dt_err(err, DUET_ENOMEM, "compare: out of memory");
    for (int i = 0; !rc && i < c->n_models; i++) {
        const duet_compare_model *m = &c->models[i];
        if (!m->ok || m->generative) continue;
        dt_log(ctx, 0, "compare: %s with and without the synthetic rows", m->name);
        augment_one(ctx, o, m, tr, aug, dup, te, lab, k, &c->augment[c->n_augment++]);
        rc = dt_check_abort(ctx, "compare", err);
    }
    if (!rc) augment_verdict(c);
    duet_model_free(g);
    dt_data_free(s);
    dt_data_free(st);
    dt_data_free(aug);
    dt_data_free(dup);
    return rc;
}

// --- the run -------------------------------------------------------------------------------------

int duet_compare_run(duet_ctx *ctx, const duet_data *data, const duet_compare_opts *opts, duet_compare **out,
                     duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_compare_run: out is NULL");
    *out = NULL;
    if (!ctx || !data) return dt_err(err, DUET_EINVAL, "duet_compare_run: ctx and data are required");
    duet_compare_opts o = opts ? *opts : duet_compare_opts_default();
    if (!data->labels) return dt_err(err, DUET_EINVAL, "%s: comparing classifiers needs labelled data", data->src);
    if (data->kind == DUET_DATA_CORPUS) return dt_err(err, DUET_EINVAL, "%s: a running text has no labels to compare on", data->src);
    double share = o.test_share > 0 ? o.test_share : 0.2;
    if (!(share >= 0.01 && share <= 0.5)) return dt_err(err, DUET_EINVAL, "test share must be in [0.01, 0.5] (got %g)", o.test_share);
    int points = o.curve_points ? o.curve_points : 6, repeats = o.curve_repeats ? o.curve_repeats : 5;
    if (points < 2 || points > 30 || repeats < 1 || repeats > 100)
        return dt_err(err, DUET_EINVAL, "learning curves take 2..30 sizes and 1..100 repeats (got %d, %d)", points, repeats);
    char names[16][32], cnames[16][32];
    char dflt[256];
    duet_train_params tp = o.params;
    tp.model = NULL;
    int regress = 0, rc0 = dt_learns_number(ctx, data, &tp, &regress, err);
    if (rc0) return rc0;
    if (regress && o.augment) return dt_err(err, DUET_EINVAL, "%s: augmentation is for classes, and this label is a number", data->src);
    unsigned num = DT_TARGET_NUMBER;
    const char *all = regress ? dt_model_names_if(learns_number, &num, ",", dflt, sizeof dflt)
                              : dt_model_names_if(compared_on, &data->kind, ",", dflt, sizeof dflt);
    int nm = parse_list(o.models ? o.models : all, names, 16, err);
    if (nm < 0) return err ? err->code : DUET_EINVAL;
    if (nm == 0) return dt_err(err, DUET_EINVAL, "no models to compare");
    int nc = 0;
    if (o.curve_models) {
        if ((nc = parse_list(o.curve_models, cnames, 16, err)) < 0) return err ? err->code : DUET_EINVAL;
    } else {
        for (int i = 0; i < nm; i++)
            if (quick(names[i])) memcpy(cnames[nc++], names[i], 32);
    }

    int rc = DUET_OK;
    duet_compare *c = dt_calloc(ctx, 1, sizeof *c);
    duet_model *lab = NULL;
    int32_t *y = dt_calloc(ctx, (size_t)data->N, sizeof(int32_t));
    int *fold = dt_calloc(ctx, (size_t)data->N, sizeof(int));
    int64_t *tmp = dt_calloc(ctx, (size_t)data->N, sizeof(int64_t)), *tr = dt_calloc(ctx, (size_t)data->N, sizeof(int64_t));
    int64_t *te = dt_calloc(ctx, (size_t)data->N, sizeof(int64_t));
    duet_data *dtr = NULL, *dte = NULL, *one[100] = {0};
    int n_one = 0;
    if (!c || !y || !fold || !tmp || !tr || !te) {
        rc = dt_err(err, DUET_ENOMEM, "compare: out of memory");
        goto fail;
    }
    /* classes, then a stratified split: fold 0 of round(1 / share) is held out (a number: every
     * row in one class, so the split and the curves' subsets are plain random ones) */
    DT_TRY(dt_model_new(ctx, dt_model_for(DT_ROLE_DEFAULT), &lab, err)); /* any kind: it only holds the classes */
    if (!regress) DT_TRY(dt_collect_classes(lab, data, y, err));
    int K = regress ? 0 : lab->K, folds = (int)lround(1.0 / share);
    dt_stratified_folds(y, data->N, K ? K : 1, folds < 2 ? 2 : folds, ctx->seed, tmp, fold);
    int64_t ntr = 0, nte = 0;
    for (int64_t i = 0; i < data->N; i++) {
        if (fold[i] == 0) te[nte++] = i;
        else tr[ntr++] = i;
    }
    if (ntr < 2 * (K ? K : 2) || nte < 1) {
        rc = dt_err(err, DUET_EINVAL, "%s: %lld rows are too few to compare %d classes on a held-out split", data->src,
                    (long long)data->N, K);
        goto fail;
    }
    DT_TRY(dt_data_subset(ctx, data, tr, ntr, &dtr, err));
    DT_TRY(dt_data_subset(ctx, data, te, nte, &dte, err));
    n_one = nte < 100 ? (int)nte : 100;
    for (int i = 0; i < n_one; i++) {
        int64_t row = te[i];
        DT_TRY(dt_data_subset(ctx, data, &row, 1, &one[i], err));
    }
    c->data = data->src;
    c->K = K;
    c->n_train = ntr, c->n_test = nte;
    c->models = dt_calloc(ctx, (size_t)nm + 1, sizeof *c->models);
    if (!c->models) {
        rc = dt_err(err, DUET_ENOMEM, "compare: out of memory");
        goto fail;
    }
    c->n_models = nm;
    for (int i = 0; i < nm; i++) {
        dt_log(ctx, 0, "compare: training %s on %lld rows", names[i], (long long)ntr);
        measure(ctx, names[i], &o, dtr, dte, one, n_one, &c->models[i]);
        const duet_compare_model *r = &c->models[i];
        if (r->ok && !K) dt_log(ctx, 0, "compare: %s RMSE %.6g, fit %.2f s", names[i], r->rmse, r->fit_seconds);
        else if (r->ok)
            dt_log(ctx, 0, "compare: %s accuracy %.4f, fit %.2f s", names[i], r->accuracy, r->fit_seconds);
        else
            dt_log(ctx, 1, "compare: %s: %s", names[i], r->error);
        DT_TRY(dt_check_abort(ctx, "compare", err));
    }
    if (o.lm) {
        dt_log(ctx, 0, "compare: the language model classifies zero-shot");
        measure_lm(ctx, &o, lab, dte, one, n_one, &c->models[c->n_models]);
        const duet_compare_model *r = &c->models[c->n_models++];
        if (r->ok) dt_log(ctx, 0, "compare: zero-shot accuracy %.4f", r->accuracy);
        else dt_log(ctx, 1, "compare: zero-shot: %s", r->error);
    }

    /* learning curves: sizes from curve_min to curve_max on a geometric grid */
    int64_t lo = o.curve_min > 0 ? o.curve_min : (2 * K > 20 ? 2 * K : 20), hi = o.curve_max > 0 ? o.curve_max : ntr;
    if (hi > ntr) hi = ntr;
    if (lo < K) lo = K;
    int Kc = K ? K : 1; /* the curves' subsets: stratified by class, or plain */
    if (nc > 0 && lo < hi) {
        c->sizes = dt_calloc(ctx, (size_t)points, sizeof(int64_t));
        c->curves = dt_calloc(ctx, (size_t)nc, sizeof *c->curves);
        if (!c->sizes || !c->curves) {
            rc = dt_err(err, DUET_ENOMEM, "compare: out of memory");
            goto fail;
        }
        int ns = 0;
        for (int i = 0; i < points; i++) {
            int64_t m = (int64_t)llround((double)lo * pow((double)hi / (double)lo, (double)i / (double)(points - 1)));
            if (ns == 0 || m > c->sizes[ns - 1]) c->sizes[ns++] = m;
        }
        c->n_sizes = ns;
        c->repeats = repeats;
        for (int j = 0; j < nc; j++) {
            duet_compare_curve *cv = &c->curves[c->n_curves];
            snprintf(cv->name, sizeof cv->name, "%s", cnames[j]);
            cv->err_mean = dt_calloc(ctx, (size_t)ns, sizeof(double));
            cv->err_std = dt_calloc(ctx, (size_t)ns, sizeof(double));
            c->n_curves++;
            if (!cv->err_mean || !cv->err_std) {
                rc = dt_err(err, DUET_ENOMEM, "compare: out of memory");
                goto fail;
            }
            duet_compare_model none = {0}, *mm = &none;
            for (int i = 0; i < nm; i++)
                if (!strcmp(c->models[i].name, cnames[j])) mm = &c->models[i];
            for (int s = 0; s < ns; s++) {
                int reps = c->sizes[s] == ntr ? 1 : repeats; /* the whole split has one subset */
                DT_TRY(curve_point(ctx, cnames[j], mm, &o, data, tr, ntr, y, Kc, dte, c->sizes[s], s, reps, &cv->err_mean[s],
                                   &cv->err_std[s], err));
                dt_log(ctx, 2, "compare: learning curve of %s, %lld rows: %s %.4g", cnames[j], (long long)c->sizes[s],
                       K ? "error" : "RMSE", cv->err_mean[s]);
                DT_TRY(dt_check_abort(ctx, "compare", err));
            }
            dt_log(ctx, 0, "compare: learning curve of %s done (%d sizes x %d repeats)", cnames[j], ns, repeats);
        }
    }
    if (o.augment) DT_TRY(augment_run(ctx, c, &o, lab, dtr, dte, err));
    recommend(c);
    *out = c;
    c = NULL;
fail:
    duet_compare_free(ctx, c);
    dt_model_free(lab);
    dt_free(ctx, y);
    dt_free(ctx, fold);
    dt_free(ctx, tmp);
    dt_free(ctx, tr);
    dt_free(ctx, te);
    dt_data_free(dtr);
    dt_data_free(dte);
    for (int i = 0; i < n_one; i++) dt_data_free(one[i]);
    return rc;
}

void duet_compare_free(duet_ctx *ctx, duet_compare *c) {
    if (!c) return;
    for (int i = 0; i < c->n_curves; i++) {
        dt_free(ctx, c->curves[i].err_mean);
        dt_free(ctx, c->curves[i].err_std);
    }
    dt_free(ctx, c->curves);
    dt_free(ctx, c->sizes);
    dt_free(ctx, c->models);
    dt_free(ctx, c->augment);
    dt_free(ctx, c);
}

// --- JSON ------------------------------------------------------------------------------------------

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

char *duet_compare_json(duet_ctx *ctx, const duet_compare *c) {
    (void)ctx;
    cJSON *root = cJSON_CreateObject(), *models = cJSON_CreateObject(), *curves = cJSON_CreateObject();
    if (!root || !models || !curves) {
        cJSON_Delete(root);
        cJSON_Delete(models);
        cJSON_Delete(curves);
        return NULL;
    }
    cJSON_AddStringToObject(root, "data", c->data ? c->data : "");
    cJSON_AddNumberToObject(root, "classes", c->K);
    cJSON_AddStringToObject(root, "task", c->K ? "classification" : "regression");
    cJSON_AddNumberToObject(root, "n_train", (double)c->n_train);
    cJSON_AddNumberToObject(root, "n_test", (double)c->n_test);
    for (int i = 0; i < c->n_models; i++) {
        const duet_compare_model *m = &c->models[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) continue;
        cJSON_AddStringToObject(o, "family", m->generative ? "generative" : "discriminative");
        cJSON_AddStringToObject(o, "learns", m->learns);
        if (m->ok && !c->K) {
            cJSON_AddItemToObject(o, "rmse", num_or_null(m->rmse));
            cJSON_AddItemToObject(o, "mae", num_or_null(m->mae));
            cJSON_AddItemToObject(o, "r2", num_or_null(m->r2));
        } else if (m->ok) {
            cJSON_AddItemToObject(o, "accuracy", num_or_null(m->accuracy));
            cJSON_AddItemToObject(o, "f1", num_or_null(m->f1));
        }
        if (m->ok) {
            cJSON_AddItemToObject(o, "fit_seconds", num_or_null(m->fit_seconds));
            cJSON_AddItemToObject(o, "predict_ms", num_or_null(m->predict_us / 1000.0));
            cJSON_AddNumberToObject(o, "size_bytes", (double)m->size_bytes);
            cJSON_AddNumberToObject(o, "peak_bytes", (double)m->peak_bytes);
            if (m->tuned[0]) cJSON_AddStringToObject(o, "tuned", m->tuned);
        } else {
            cJSON_AddStringToObject(o, "error", m->error);
        }
        cJSON_AddItemToObject(models, m->name, o);
    }
    cJSON_AddItemToObject(root, "models", models);
    cJSON *sizes = cJSON_CreateArray();
    for (int s = 0; sizes && s < c->n_sizes; s++) cJSON_AddItemToArray(sizes, cJSON_CreateNumber((double)c->sizes[s]));
    cJSON_AddItemToObject(curves, "sizes", sizes);
    cJSON_AddNumberToObject(curves, "repeats", c->repeats);
    for (int i = 0; i < c->n_curves; i++) {
        cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateArray(), *sd = cJSON_CreateArray();
        for (int s = 0; e && sd && s < c->n_sizes; s++) {
            cJSON_AddItemToArray(e, num_or_null(c->curves[i].err_mean[s]));
            cJSON_AddItemToArray(sd, num_or_null(c->curves[i].err_std[s]));
        }
        cJSON_AddItemToObject(o, c->K ? "error" : "rmse", e);
        cJSON_AddItemToObject(o, "std", sd);
        cJSON_AddItemToObject(curves, c->curves[i].name, o);
    }
    cJSON_AddItemToObject(root, "curves", curves);
    if (c->augment_label[0]) {
        cJSON *ag = cJSON_CreateObject(), *am = cJSON_CreateObject();
        if (ag && am) {
            cJSON_AddStringToObject(ag, "label", c->augment_label);
            cJSON_AddStringToObject(ag, "generator", c->augment_model);
            cJSON_AddNumberToObject(ag, "synthetic_rows", (double)c->augment_rows);
            cJSON_AddNumberToObject(ag, "real_rows", (double)c->augment_real);
            for (int i = 0; i < c->n_augment; i++) {
                const duet_compare_augment *a = &c->augment[i];
                cJSON *o = cJSON_CreateObject();
                if (!o) continue;
                if (a->ok) {
                    static const char *const key[3] = {"real", "augmented", "duplicated"};
                    for (int j = 0; j < 3; j++) {
                        cJSON *v = cJSON_CreateObject();
                        if (!v) continue;
                        cJSON_AddItemToObject(v, "accuracy", num_or_null(a->accuracy[j]));
                        cJSON_AddItemToObject(v, "f1", num_or_null(a->f1[j]));
                        cJSON_AddItemToObject(v, "label_recall", num_or_null(a->label_recall[j]));
                        cJSON_AddItemToObject(v, "label_f1", num_or_null(a->label_f1[j]));
                        cJSON_AddItemToObject(o, key[j], v);
                    }
                    cJSON_AddNumberToObject(o, "gained", (double)a->gained);
                    cJSON_AddNumberToObject(o, "lost", (double)a->lost);
                    cJSON_AddBoolToObject(o, "significant", a->significant);
                    cJSON_AddNumberToObject(o, "vs_duplicated_gained", (double)a->vs_dup_gained);
                    cJSON_AddNumberToObject(o, "vs_duplicated_lost", (double)a->vs_dup_lost);
                    cJSON_AddBoolToObject(o, "vs_duplicated_significant", a->vs_dup_significant);
                } else {
                    cJSON_AddStringToObject(o, "error", a->error);
                }
                cJSON_AddItemToObject(am, a->name, o);
            }
            cJSON_AddItemToObject(ag, "models", am);
            cJSON_AddStringToObject(ag, "verdict", c->augment_verdict);
            cJSON_AddItemToObject(root, "augment", ag);
        } else {
            cJSON_Delete(ag);
            cJSON_Delete(am);
        }
    }
    cJSON_AddStringToObject(root, "recommendation", c->recommendation);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!txt) return NULL;
    char *out = dt_strdup(ctx, txt);
    cJSON_free(txt);
    return out;
}
