/* model.c — the model registry and what every model shares: the training record (meta).
 * Not here: any model's mathematics (one file per model) or the feature pipeline.
 */
#include "model.h"

static const dt_model_ops *const registry[] = {&dt_logreg_ops, &dt_svm_ops, &dt_nb_ops, &dt_mlp_ops};

const dt_model_ops *dt_model_find(const char *name) {
    for (size_t i = 0; i < sizeof registry / sizeof *registry; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

int dt_fit_rows(duet_ctx *ctx, const dt_fit_args *a, const int64_t *rows, int64_t n, dt_mat *X, int32_t *y,
                double *sw, duet_err *err) {
    int rc = dt_mat_rows(ctx, a->X, rows, n, X, err);
    if (rc) return rc;
    for (int64_t i = 0; i < n; i++) {
        y[i] = a->y[rows[i]];
        if (a->sw && sw) sw[i] = a->sw[rows[i]];
    }
    return DUET_OK;
}

const char *dt_model_names(void) { return "logreg, svm, nb, mlp"; }

int dt_model_meta_set(duet_model *m, const char *key, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *v = dt_pool_strdup(&m->pool, buf);
    if (!v) return DUET_ENOMEM;
    for (int i = 0; i < m->n_meta; i++) {
        if (strcmp(m->meta_key[i], key) == 0) {
            m->meta_val[i] = v;
            return DUET_OK;
        }
    }
    if (m->n_meta >= DT_MAX_META) return DUET_ERANGE;
    char *k = dt_pool_strdup(&m->pool, key);
    if (!k) return DUET_ENOMEM;
    m->meta_key[m->n_meta] = k;
    m->meta_val[m->n_meta] = v;
    m->n_meta++;
    return DUET_OK;
}

const char *dt_model_meta_get(const duet_model *m, const char *key) {
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta_key[i], key) == 0) return m->meta_val[i];
    return NULL;
}
