/* model.c — the model registry and what every model shares: the training record (meta).
 * Not here: any model's mathematics (one file per model) or the feature pipeline.
 */
#include "model.h"

#include <cjson/cJSON.h>
#include <pthread.h>

#define FORMAT_VERSION 1

/* Every model, in the order compare lists them. */
static const dt_model_ops *const registry[] = {&dt_logreg_ops, &dt_linreg_ops, &dt_svm_ops, &dt_gbdt_ops,
                                               &dt_nb_ops,     &dt_mlp_ops,    &dt_vae_ops, &dt_clm_ops,
                                               &dt_gan_ops,    &dt_gpt_ops,    &dt_diffusion_ops};
#define N_MODELS (sizeof registry / sizeof *registry)

const dt_model_ops *dt_model_find(const char *name) {
    for (size_t i = 0; name && i < N_MODELS; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

const dt_model_ops *dt_model_at(int i) { return i >= 0 && (size_t)i < N_MODELS ? registry[i] : NULL; }

const dt_model_ops *dt_model_for(unsigned role) {
    for (size_t i = 0; i < N_MODELS; i++)
        if (registry[i]->roles & role) return registry[i];
    return registry[0]; /* not reached: tests/unit/test_api.c checks every role has its model */
}

const char *dt_model_names_if(int (*keep)(const dt_model_ops *ops, const void *arg), const void *arg, const char *sep,
                              char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_MODELS && n < cap; i++) {
        if (keep && !keep(registry[i], arg)) continue;
        int w = snprintf(buf + n, cap - n, "%s%s", n ? sep : "", registry[i]->name);
        if (w < 0 || (size_t)w >= cap - n) { /* no room: keep the whole names before it */
            buf[n] = 0;
            break;
        }
        n += (size_t)w;
    }
    return buf;
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

int dt_fit_rows_t(duet_ctx *ctx, const dt_fit_args *a, const int64_t *rows, int64_t n, dt_mat *X, double *t,
                  double *sw, duet_err *err) {
    int rc = dt_mat_rows(ctx, a->X, rows, n, X, err);
    if (rc) return rc;
    for (int64_t i = 0; i < n; i++) {
        t[i] = a->t[rows[i]];
        if (a->sw && sw) sw[i] = a->sw[rows[i]];
    }
    return DUET_OK;
}

static char all_names[256];
static void fill_names(void) { dt_model_names_if(NULL, NULL, ", ", all_names, sizeof all_names); }

const char *dt_model_names(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill_names);
    return all_names;
}

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

/* --- lifetime and files ------------------------------------------------------------------- */

int dt_model_new(duet_ctx *ctx, const dt_model_ops *ops, duet_model **out, duet_err *err) {
    duet_model *m = dt_calloc(ctx, 1, sizeof *m);
    if (!m) return dt_err(err, DUET_ENOMEM, "model: out of memory");
    m->ctx = ctx;
    m->ops = ops;
    dt_pool_init(&m->pool, ctx);
    *out = m;
    return DUET_OK;
}

void dt_model_free(duet_model *m) {
    if (!m) return;
    if (m->state && m->ops && m->ops->free_state) m->ops->free_state(m->ctx, m->state);
    dt_pipe_free(m->pipe);
    dt_pool_clear(&m->pool);
    dt_free(m->ctx, m->classes);
    dt_free(m->ctx, m);
}

int dt_model_write(const duet_model *m, dt_st_writer *w, duet_err *err) {
    cJSON *arr = NULL;
    char *classes = NULL;
    int rc = DUET_OK;
    arr = cJSON_CreateArray();
    for (int k = 0; arr && k < m->K; k++) {
        cJSON *s = cJSON_CreateString(m->classes[k]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    classes = arr ? cJSON_PrintUnformatted(arr) : NULL;
    if (!classes) {
        rc = dt_err(err, DUET_ENOMEM, "model file: out of memory");
        goto fail;
    }
    DT_TRY(dt_st_meta(w, "format", "duet", err));
    DT_TRY(dt_st_metaf(w, err, "format_version", "%d", FORMAT_VERSION));
    DT_TRY(dt_st_meta(w, "duet_version", DT_VERSION, err));
    DT_TRY(dt_st_meta(w, "model", m->ops->name, err));
    DT_TRY(dt_st_meta(w, "learns", m->ops->learns, err));
    DT_TRY(dt_st_metaf(w, err, "K", "%d", m->K));
    DT_TRY(dt_st_metaf(w, err, "D", "%lld", (long long)m->D));
    DT_TRY(dt_st_meta(w, "classes", classes, err));
    for (int i = 0; i < m->n_meta; i++) {
        char key[128];
        snprintf(key, sizeof key, "train.%s", m->meta_key[i]);
        DT_TRY(dt_st_meta(w, key, m->meta_val[i], err));
    }
    if (m->pipe) DT_TRY(dt_pipe_save(m->pipe, w, err));
    DT_TRY(m->ops->save(m, w, err));
fail:
    free(classes);
    cJSON_Delete(arr);
    return rc;
}


int dt_model_from_file(duet_ctx *ctx, const dt_st_file *f, duet_model **out, duet_err *err) {
    *out = NULL;
    const char *path = dt_st_name(f);
    duet_model *m = NULL;
    cJSON *arr = NULL;
    int rc = DUET_OK;
    const char *fmt = dt_st_meta_get(f, "format");
    if (!fmt || strcmp(fmt, "duet") != 0) {
        rc = dt_err(err, DUET_EFORMAT, "%s: a safetensors file, but not a duet model (no format=duet metadata)", path);
        goto fail;
    }
    int64_t ver, K, D;
    DT_TRY(dt_st_meta_i64(f, "format_version", 1, 1000000, &ver, err));
    if (ver > FORMAT_VERSION) {
        rc = dt_err(err, DUET_EUNSUPPORTED, "%s: format version %lld is newer than this duet reads (%d)", path,
                    (long long)ver, FORMAT_VERSION);
        goto fail;
    }
    const char *name = dt_st_meta_get(f, "model");
    const dt_model_ops *ops = name ? dt_model_find(name) : NULL;
    if (!ops) {
        rc = dt_err(err, DUET_EFORMAT, "%s: unknown model '%s'", path, name ? name : "(none)");
        goto fail;
    }
    int corpus = ops->input == DUET_DATA_CORPUS; /* language models: no classes, no pipeline */
    int nopipe = corpus || ops->raw_text;       /* ... models of raw text: classes, no pipeline */
    int numbers = (dt_model_targets(ops) & DT_TARGET_NUMBER) != 0; /* K 0: a regressor */
    DT_TRY(dt_st_meta_i64(f, "K", corpus || numbers ? 0 : 2, corpus ? 0 : 100000, &K, err));
    if (K == 1) {
        rc = dt_err(err, DUET_EFORMAT, "%s: metadata 'K' = 1: a model has 0 classes (it learns a number) or at least 2", path);
        goto fail;
    }

    DT_TRY(dt_st_meta_i64(f, "D", nopipe ? 0 : 1, nopipe ? 0 : (int64_t)1 << 31, &D, err));
    DT_TRY(dt_model_new(ctx, ops, &m, err));
    m->K = (int)K;
    m->D = D;
    const char *cls = dt_st_meta_get(f, "classes");
    arr = cls ? cJSON_Parse(cls) : NULL;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != K) {
        rc = dt_err(err, DUET_EFORMAT, "%s: metadata 'classes' is not a list of %lld names", path, (long long)K);
        goto fail;
    }
    m->classes = K ? dt_calloc(ctx, (size_t)K, sizeof(char *)) : NULL;
    if (K && !m->classes) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    int k = 0;
    for (const cJSON *it = arr->child; it; it = it->next, k++) {
        if (!cJSON_IsString(it)) {
            rc = dt_err(err, DUET_EFORMAT, "%s: class %d is not a string", path, k);
            goto fail;
        }
        m->classes[k] = dt_pool_strdup(&m->pool, it->valuestring);
        if (!m->classes[k]) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        if (k > 0 && strcmp(m->classes[k - 1], m->classes[k]) >= 0) {
            rc = dt_err(err, DUET_EFORMAT, "%s: class names are not sorted and distinct", path);
            goto fail;
        }
    }
    for (int i = 0; i < dt_st_meta_count(f); i++) {
        const char *key = dt_st_meta_key(f, i);
        if (strncmp(key, "train.", 6) == 0 && dt_model_meta_set(m, key + 6, "%s", dt_st_meta_value(f, i)) == DUET_ENOMEM) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    if (!nopipe) DT_TRY(dt_pipe_load(ctx, f, &m->pipe, err));
    if (!nopipe && dt_pipe_dim(m->pipe) != D) {
        rc = dt_err(err, DUET_EFORMAT, "%s: the pipeline makes %lld features, the model expects %lld", path,
                    (long long)dt_pipe_dim(m->pipe), (long long)D);
        goto fail;
    }
    DT_TRY(ops->load(ctx, m, f, err));
    *out = m;
    m = NULL;
fail:
    cJSON_Delete(arr);
    dt_model_free(m);
    return rc;
}
