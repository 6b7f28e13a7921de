/* api.c — the one door of libduet: validates arguments, runs the feature pipeline around the
 * models and dispatches through the model interface (model.h) with no per-model cases.
 * Not here: file formats (data/, io/), model mathematics (models/), printing (cli/).
 *
 * Training: labels -> sorted class list -> pipeline fitted on the training rows -> features ->
 * (hyperparameter chosen by stratified k-fold cross-validation on the training rows, as
 * scikit-learn's LogisticRegressionCV does, when the model declares one and the user gave
 * none) -> fit. The model file holds the pipeline, so prediction starts from raw rows.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dt.h"
#include "core/gemm.h"
#include "core/linalg.h"
#include "core/metrics.h"
#include "data/data.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "models/gpt.h"
#include "models/model.h"

#define FORMAT_VERSION 1
#define TUNE_MAX_ROWS 10000 /* hyperparameter search looks at most at this many rows */
#define TUNE_MAX_ITER 200   /* and stops each solver there unless the user set --max-iter */

// --- version, status, context ----------------------------------------------------------------

const char *duet_version(void) { return DT_VERSION; }
int duet_utf8_valid(const char *s, size_t n, size_t *bad) { return dt_utf8_valid(s, n, bad); }

const char *duet_build_info(void) {
    return "duet 0.1.0"
#ifdef _OPENMP
           " openmp"
#endif
#ifdef DT_HAVE_BLAS
           " blas"
#endif
           " utf8proc zlib cjson";
}

const char *duet_blas_core(void) { return dt_blas_core(); }
const char *duet_blas_coretype_advice(void) { return dt_blas_advice(); }

const char *duet_status_name(int code) {
    switch (code) {
    case DUET_OK: return "OK";
    case DUET_EINVAL: return "EINVAL";
    case DUET_ENOMEM: return "ENOMEM";
    case DUET_EIO: return "EIO";
    case DUET_EFORMAT: return "EFORMAT";
    case DUET_ERANGE: return "ERANGE";
    case DUET_EUNSUPPORTED: return "EUNSUPPORTED";
    case DUET_ECANCELLED: return "ECANCELLED";
    default: return "UNKNOWN";
    }
}

static int default_threads(void) {
#ifdef _OPENMP
    int n = omp_get_max_threads(); /* OMP_NUM_THREADS when set, else the cores this process may use */
    return n > 0 ? n : 1;
#else
    return 1;
#endif
}

/* The machine's physical memory in bytes (0 when unknown: no limit). */
static size_t machine_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
}

void duet_ctx_set_mem_limit(duet_ctx *ctx, size_t bytes) { ctx->mem_limit = bytes ? bytes : machine_memory(); }

void duet_ctx_set_distributed(duet_ctx *ctx, int rank, int size, duet_reduce_fn reduce, void *user) {
    int on = size > 1 && rank >= 0 && rank < size && reduce;
    ctx->dist_rank = on ? rank : 0;
    ctx->dist_size = on ? size : 1;
    ctx->reduce = on ? reduce : NULL;
    ctx->reduce_user = on ? user : NULL;
}

int duet_ctx_new(duet_ctx **out, duet_err *err) {
    *out = NULL;
    duet_ctx *c = calloc(1, sizeof *c);
    if (!c) return dt_err(err, DUET_ENOMEM, "context: out of memory");
    c->n_threads = default_threads();
    c->seed = 42;
    c->mem_limit = machine_memory();
    c->dist_size = 1;
    *out = c;
    return DUET_OK;
}

void duet_ctx_free(duet_ctx *ctx) { free(ctx); }
void duet_ctx_set_threads(duet_ctx *ctx, int n) { ctx->n_threads = n > 0 ? n : default_threads(); }
int duet_ctx_threads(const duet_ctx *ctx) { return ctx->n_threads; }
void duet_ctx_set_seed(duet_ctx *ctx, uint64_t seed) { ctx->seed = seed; }
void duet_ctx_set_log(duet_ctx *ctx, duet_log_fn fn, void *user) {
    ctx->log = fn;
    ctx->log_user = user;
}
void duet_ctx_set_alloc(duet_ctx *ctx, duet_alloc_fn fn, void *user) {
    ctx->alloc = fn;
    ctx->alloc_user = user;
}
void duet_ctx_set_abort(duet_ctx *ctx, duet_abort_fn fn, void *user) {
    ctx->abort_fn = fn;
    ctx->abort_user = user;
}
void duet_free(duet_ctx *ctx, void *p) { dt_free(ctx, p); }

// --- datasets --------------------------------------------------------------------------------

duet_load_opts duet_load_opts_default(void) {
    duet_load_opts o;
    memset(&o, 0, sizeof o);
    o.header = -1;
    return o;
}

int duet_data_load(duet_ctx *ctx, const char *path, const duet_load_opts *opts, duet_data **out,
                   duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_data_load: out is NULL");
    *out = NULL;
    if (!ctx || !path) return dt_err(err, DUET_EINVAL, "duet_data_load: ctx and path are required");
    duet_load_opts o = opts ? *opts : duet_load_opts_default();
    if (o.limit < 0) return dt_err(err, DUET_EINVAL, "--limit must be positive (got %lld)", (long long)o.limit);
    return dt_data_load(ctx, path, &o, out, err);
}

int duet_data_load_mem(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                       const duet_load_opts *opts, duet_data **out, duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_data_load_mem: out is NULL");
    *out = NULL;
    if (!ctx || !buf) return dt_err(err, DUET_EINVAL, "duet_data_load_mem: ctx and buf are required");
    duet_load_opts o = opts ? *opts : duet_load_opts_default();
    return dt_data_load_mem(ctx, name ? name : "<memory>", buf, len, &o, out, err);
}

int duet_data_from_texts(duet_ctx *ctx, const char *name, const char *const *texts, int64_t n, const char *const *labels,
                         duet_data **out, duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_data_from_texts: out is NULL");
    *out = NULL;
    if (!ctx) return dt_err(err, DUET_EINVAL, "duet_data_from_texts: ctx is required");
    return dt_data_from_texts(ctx, name, texts, n, labels, out, err);
}

int duet_data_from_table(duet_ctx *ctx, const char *name, const char *const *colnames, int64_t cols, const char *const *cells,
                         int64_t rows, const char *const *labels, duet_data **out, duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_data_from_table: out is NULL");
    *out = NULL;
    if (!ctx) return dt_err(err, DUET_EINVAL, "duet_data_from_table: ctx is required");
    return dt_data_from_table(ctx, name, colnames, cols, cells, rows, labels, out, err);
}

int duet_data_from_values(duet_ctx *ctx, const char *name, const float *x, int64_t rows, int64_t cols, const char *const *labels,
                          duet_data **out, duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_data_from_values: out is NULL");
    *out = NULL;
    if (!ctx) return dt_err(err, DUET_EINVAL, "duet_data_from_values: ctx is required");
    return dt_data_from_dense(ctx, name, x, rows, cols, labels, out, err);
}

void duet_data_free(duet_data *data) { dt_data_free(data); }
int64_t duet_data_rows(const duet_data *d) { return d ? d->N : 0; }
int64_t duet_data_columns(const duet_data *d) { return d && d->kind == DUET_DATA_TABLE ? d->C : 0; }
int duet_data_kind(const duet_data *d) { return d ? d->kind : 0; }
const char *duet_data_label(const duet_data *d, int64_t i) {
    return d && d->labels && i >= 0 && i < d->N ? d->labels[i] : NULL;
}

/* Appends s to buf at *pos, quoting it CSV-style when needed; returns 0 when out of room. */
static int put_field(char *buf, size_t len, size_t *pos, const char *s, char sep) {
    int quote = (sep && strchr(s, sep)) || strchr(s, '"') || strchr(s, '\n');
    size_t need = strlen(s) + 3;
    for (const char *p = s; *p; p++) need += *p == '"';
    if (*pos + need >= len) return 0;
    if (quote) buf[(*pos)++] = '"';
    for (const char *p = s; *p; p++) {
        if (quote && *p == '"') buf[(*pos)++] = '"';
        buf[(*pos)++] = *p;
    }
    if (quote) buf[(*pos)++] = '"';
    buf[*pos] = 0;
    return 1;
}

int duet_data_row_string(const duet_data *d, int64_t i, char *buf, size_t len, duet_err *err) {
    if (!d || !buf || len == 0) return dt_err(err, DUET_EINVAL, "duet_data_row_string: bad arguments");
    if (i < 0 || i >= d->N) return dt_err(err, DUET_ERANGE, "row %lld out of range (%lld rows)", (long long)i, (long long)d->N);
    size_t pos = 0;
    buf[0] = 0;
    int ok = 1;
    char num[64];
    switch (d->kind) {
    case DUET_DATA_TEXT:
        ok = strlen(d->text[i]) < len;
        if (ok) memcpy(buf, d->text[i], strlen(d->text[i]) + 1);
        break;
    case DUET_DATA_TABLE:
        for (int64_t c = 0; ok && c < d->C; c++) {
            const char *cell = d->cells[i * d->C + c];
            if (c) ok = put_field(buf, len, &pos, ",", 0);
            if (ok) ok = put_field(buf, len, &pos, cell ? cell : "?", ',');
        }
        break;
    case DUET_DATA_DENSE:
        for (int64_t j = 0; ok && j < d->D; j++) {
            snprintf(num, sizeof num, "%s%.6g", j ? "," : "", (double)d->x[(size_t)i * (size_t)d->D + (size_t)j]);
            ok = put_field(buf, len, &pos, num, 0);
        }
        break;
    case DUET_DATA_SPARSE:
        for (int64_t p = d->rowptr[i]; ok && p < d->rowptr[i + 1]; p++) {
            snprintf(num, sizeof num, "%s%d:%.6g", p > d->rowptr[i] ? " " : "", d->col[p] + 1, (double)d->val[p]);
            ok = put_field(buf, len, &pos, num, 0);
        }
        break;
    default:
        ok = 0;
    }
    if (!ok) return dt_err(err, DUET_ERANGE, "row %lld does not fit in %zu bytes", (long long)i, len);
    return DUET_OK;
}

int duet_data_split_every(const duet_data *d, int64_t every, duet_data **a, duet_data **b,
                          duet_err *err) {
    *a = *b = NULL;
    if (!d || every < 2) return dt_err(err, DUET_EINVAL, "split: every must be >= 2");
    duet_ctx *ctx = d->ctx;
    int64_t *ia = dt_calloc(ctx, (size_t)d->N + 1, sizeof(int64_t));
    int64_t *ib = dt_calloc(ctx, (size_t)d->N + 1, sizeof(int64_t));
    int64_t na = 0, nb = 0;
    int rc = DUET_OK;
    if (!ia || !ib) {
        rc = dt_err(err, DUET_ENOMEM, "split: out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < d->N; i++) {
        if (i % every == every - 1) ib[nb++] = i;
        else ia[na++] = i;
    }
    DT_TRY(dt_data_subset(ctx, d, ia, na, a, err));
    DT_TRY(dt_data_subset(ctx, d, ib, nb, b, err));
fail:
    if (rc) {
        dt_data_free(*a);
        *a = NULL;
    }
    dt_free(ctx, ia);
    dt_free(ctx, ib);
    return rc;
}

// --- model lifecycle -----------------------------------------------------------------------

duet_train_params duet_train_params_default(void) {
    duet_train_params p;
    memset(&p, 0, sizeof p);
    p.model = NULL; /* the default for the target: see task_of */
    p.penalty = DUET_PENALTY_L2;
    p.text_mode = -1; /* the model's default: TF-IDF, or counts (dt_model_ops.text_counts) */
    return p;
}

void duet_model_free(duet_model *m) { dt_model_free(m); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted distinct labels of d become m->classes; y[i] = class of row i. */
/* The distinct labels of d, by hashing: (*names)[0..*K) in order of first appearance, and y[i]
 * the index of row i's label among them. */
static int distinct_labels(duet_ctx *ctx, const duet_data *d, int32_t *y, const char ***names, int *K, duet_err *err) {
    size_t cap = 64, n = 0;
    int32_t *slot = NULL; /* open addressing: index into *names, -1 when empty */
    const char **u = NULL;
    uint64_t *hs = NULL; /* the hash of each distinct label, for growing */
    int rc = DUET_OK;
    for (int64_t i = 0; i < d->N && !rc; i++) {
        if (!slot || 2 * (n + 1) > cap) { /* (re)build the table at twice the size */
            size_t nc = slot ? 2 * cap : cap;
            int32_t *ns = dt_alloc_e(ctx, nc, sizeof(int32_t), "labels", err);
            const char **nu = ns ? dt_realloc(ctx, (void *)u, nc / 2 * sizeof(char *)) : NULL;
            if (nu) u = nu;
            uint64_t *nh = nu ? dt_realloc(ctx, hs, nc / 2 * sizeof(uint64_t)) : NULL;
            if (nh) hs = nh;
            if (!nh) {
                dt_free(ctx, ns);
                rc = dt_err(err, DUET_ENOMEM, "labels: out of memory");
                break;
            }
            for (size_t t = 0; t < nc; t++) ns[t] = -1;
            for (size_t k = 0; k < n; k++) {
                size_t h = (size_t)hs[k] & (nc - 1);
                while (ns[h] >= 0) h = (h + 1) & (nc - 1);
                ns[h] = (int32_t)k;
            }
            dt_free(ctx, slot);
            slot = ns, cap = nc;
        }
        const char *lab = d->labels[i];
        uint64_t hv = 1469598103934665603ull; /* FNV-1a */
        for (const unsigned char *c = (const unsigned char *)lab; *c; c++) hv = (hv ^ *c) * 1099511628211ull;
        size_t h = (size_t)hv & (cap - 1);
        while (slot[h] >= 0 && strcmp(u[slot[h]], lab) != 0) h = (h + 1) & (cap - 1);
        if (slot[h] < 0) {
            if (n >= 100000) {
                rc = dt_err(err, DUET_ERANGE, "%s: more than 100000 distinct labels; is --label the right column?", d->src);
                break;
            }
            u[n] = lab, hs[n] = hv;
            slot[h] = (int32_t)n++;
        }
        y[i] = slot[h];
    }
    dt_free(ctx, slot);
    dt_free(ctx, hs);
    if (rc) {
        dt_free(ctx, (void *)u);
        return rc;
    }
    *names = u, *K = (int)n;
    return DUET_OK;
}

int dt_collect_classes(duet_model *m, const duet_data *d, int32_t *y, duet_err *err) {
    duet_ctx *ctx = m->ctx;
    const char **u = NULL;
    int K = 0;
    int rc = distinct_labels(ctx, d, y, &u, &K, err);
    if (rc) return rc;
    if (K < 2) {
        dt_free(ctx, (void *)u);
        return dt_err(err, DUET_EINVAL, "%s: the label column has only one class ('%s'); need at least two", d->src,
                      d->N ? d->labels[0] : "");
    }
    /* classes in sorted order (so folds and files number them alike); rank maps first-seen order to it */
    const char **s = dt_alloc_e(ctx, (size_t)K, sizeof(char *), "labels", err);
    int32_t *rank = dt_alloc_e(ctx, (size_t)K, sizeof(int32_t), "labels", err);
    m->classes = s && rank ? dt_calloc(ctx, (size_t)K, sizeof(char *)) : NULL;
    if (!m->classes) {
        dt_free(ctx, (void *)u);
        dt_free(ctx, (void *)s);
        dt_free(ctx, rank);
        return dt_err(err, DUET_ENOMEM, "labels: out of memory");
    }
    memcpy(s, u, (size_t)K * sizeof(char *));
    qsort(s, (size_t)K, sizeof(char *), cmp_str);
    m->K = K;
    for (int k = 0; k < K && !rc; k++) {
        if (!(m->classes[k] = dt_pool_strdup(&m->pool, s[k]))) rc = dt_err(err, DUET_ENOMEM, "labels: out of memory");
    }
    for (int k = 0; k < K && !rc; k++) {
        char *const *hit = bsearch(&u[k], m->classes, (size_t)K, sizeof(char *), cmp_str);
        rank[k] = (int32_t)(hit - m->classes);
    }
    for (int64_t i = 0; i < d->N && !rc; i++) y[i] = rank[y[i]];
    dt_free(ctx, (void *)u);
    dt_free(ctx, (void *)s);
    dt_free(ctx, rank);
    return rc;
}

/* Class index of a label; a label ending in '.' also matches without it (UCI Adult's test
 * file writes ">50K." where the training file has ">50K"). -1 when unknown. */
int dt_model_class(const duet_model *m, const char *label) {
    char *const *hit = bsearch(&label, m->classes, (size_t)m->K, sizeof(char *), cmp_str);
    if (hit) return (int)(hit - m->classes);
    size_t n = strlen(label);
    if (n > 1 && label[n - 1] == '.') {
        for (int k = 0; k < m->K; k++)
            if (strlen(m->classes[k]) == n - 1 && strncmp(m->classes[k], label, n - 1) == 0) return k;
    }
    return -1;
}

static int takes_arch(const dt_model_ops *o, const void *arg) { return (void)arg, o->archs; }
static int takes_lbfgs(const dt_model_ops *o, const void *arg) { return (void)arg, (o->solvers >> DUET_SOLVER_LBFGS) & 1; }

static int check_params(const dt_model_ops *ops, const duet_train_params *p, duet_err *err) {
    char names[256];
    if (!(p->C >= 0) || isinf(p->C)) return dt_err(err, DUET_EINVAL, "C must be a positive number (got %g)", p->C);
    if (!(p->alpha >= 0) || isinf(p->alpha)) return dt_err(err, DUET_EINVAL, "alpha must be >= 0 (got %g)", p->alpha);
    if (p->penalty != DUET_PENALTY_L1 && p->penalty != DUET_PENALTY_L2)
        return dt_err(err, DUET_EINVAL, "penalty must be l1 or l2");
    if (p->arch < DUET_ARCH_MLP || p->arch > DUET_ARCH_CONV) return dt_err(err, DUET_EINVAL, "unknown architecture %d", p->arch);
    if (p->arch != DUET_ARCH_MLP && !ops->archs)
        return dt_err(err, DUET_EINVAL, "--arch chooses the architecture of %s (%s has one)", dt_model_names_if(takes_arch, NULL, ", ", names, sizeof names),
                      ops->name);
    if (p->solver < DUET_SOLVER_AUTO || p->solver > DUET_SOLVER_LBFGS)
        return dt_err(err, DUET_EINVAL, "unknown solver %d", p->solver);
    if (p->solver != DUET_SOLVER_AUTO && ops->solvers && !((ops->solvers >> p->solver) & 1))
        return dt_err(err, DUET_EINVAL, "%s does not take --solver %s (its solvers: auto%s%s; lbfgs is for %s)", ops->name,
                      p->solver == DUET_SOLVER_NEWTON ? "newton" : "lbfgs", (ops->solvers >> DUET_SOLVER_NEWTON) & 1 ? ", newton" : "",
                      (ops->solvers >> DUET_SOLVER_LBFGS) & 1 ? ", lbfgs" : "", dt_model_names_if(takes_lbfgs, NULL, ", ", names, sizeof names));
    if (p->solver == DUET_SOLVER_NEWTON && p->penalty == DUET_PENALTY_L1)
        return dt_err(err, DUET_EINVAL, "the Newton solver needs the L2 penalty (L1 is solved by OWL-QN: --solver lbfgs)");
    if (p->cv_folds < 0 || p->cv_folds == 1 || p->cv_folds > 100)
        return dt_err(err, DUET_EINVAL, "cv folds must be between 2 and 100 (got %d)", p->cv_folds);
    if (p->ngram_min < 0 || p->ngram_max < 0 || (p->ngram_max && p->ngram_min > p->ngram_max) || p->ngram_max > 8)
        return dt_err(err, DUET_EINVAL, "n-gram range %d-%d is invalid (1 <= min <= max <= 8)", p->ngram_min, p->ngram_max);
    if (p->char_ngram_min > p->char_ngram_max || p->char_ngram_max > 16)
        return dt_err(err, DUET_EINVAL, "character n-gram range %d-%d is invalid", p->char_ngram_min, p->char_ngram_max);
    if (p->hash_dims < 0 || p->hash_dims > ((int64_t)1 << 30))
        return dt_err(err, DUET_EINVAL, "hash dimensions must be in 1..2^30 (got %lld)", (long long)p->hash_dims);
    if (p->min_df < 0 || p->max_features < 0) return dt_err(err, DUET_EINVAL, "min_df and max_features must be >= 0");
    return DUET_OK;
}

/* Class weights n / (K * n_k) per row, or NULL when not asked for. */
static int class_weights(duet_ctx *ctx, const int32_t *y, int64_t N, int K, double **sw, duet_err *err) {
    int64_t *cnt = dt_calloc(ctx, (size_t)K, sizeof(int64_t));
    *sw = dt_calloc(ctx, (size_t)N, sizeof(double));
    if (!cnt || !*sw) {
        dt_free(ctx, cnt);
        dt_free(ctx, *sw);
        *sw = NULL;
        return dt_err(err, DUET_ENOMEM, "class weights: out of memory");
    }
    for (int64_t i = 0; i < N; i++) cnt[y[i]]++;
    for (int64_t i = 0; i < N; i++) (*sw)[i] = (double)N / ((double)K * (double)cnt[y[i]]);
    dt_free(ctx, cnt);
    return DUET_OK;
}

void dt_shuffled_rows(uint64_t seed, int64_t N, int64_t *perm) {
    dt_rng r;
    dt_rng_seed(&r, seed);
    for (int64_t i = 0; i < N; i++) perm[i] = i;
    dt_rng_shuffle(&r, perm, N);
}

void dt_fold_split(const int64_t *perm, int64_t N, int folds, int f, int64_t *tr, int64_t *ntr, int64_t *te, int64_t *nte) {
    *ntr = *nte = 0;
    for (int64_t j = 0; j < N; j++) {
        if (j % folds == f) te[(*nte)++] = perm[j];
        else tr[(*ntr)++] = perm[j];
    }
}

/* Stratified fold of each row: rows of each class are shuffled and dealt round-robin. */
void dt_stratified_folds(const int32_t *y, int64_t N, int K, int folds, uint64_t seed, int64_t *tmp,
                             int *fold) {
    dt_rng r;
    dt_rng_seed(&r, seed ^ 0x5f0f5f0fULL);
    for (int64_t i = 0; i < N; i++) tmp[i] = i;
    dt_rng_shuffle(&r, tmp, N);
    int64_t dealt = 0;
    for (int k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++)
            if (y[tmp[j]] == k) fold[tmp[j]] = (int)(dealt++ % folds);
}

/* Chooses the model's tuned hyperparameter by stratified k-fold cross-validation accuracy on
 * at most TUNE_MAX_ROWS training rows; writes the winner into *p. In each fold the grid is
 * walked in order, each fit starting from the previous one's
 * state (a model may use it as a warm start). Ties go to the smaller value. */
static int tune(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_train_params *p, duet_err *err) {
    const dt_model_ops *ops = m->ops;
    int rc = DUET_OK;
    int64_t N = a->X->N;
    int K = a->K, G = ops->tune_n;
    int folds = p->cv_folds ? p->cv_folds : 5;
    int64_t cap = N > TUNE_MAX_ROWS ? TUNE_MAX_ROWS : N;
    dt_mat Xtr = {0}, Xte = {0};
    duet_model fold = *m; /* shares m's pool: fits must not record meta unless verbose */
    fold.state = NULL;
    int64_t *perm = dt_calloc(ctx, (size_t)N, sizeof(int64_t));
    int64_t *tr = dt_calloc(ctx, (size_t)N, sizeof(int64_t));
    int64_t *te = dt_calloc(ctx, (size_t)N, sizeof(int64_t));
    int *fold_of = dt_calloc(ctx, (size_t)N, sizeof(int));
    int32_t *ytr = dt_calloc(ctx, (size_t)cap, sizeof(int32_t));
    double *swtr = a->sw ? dt_calloc(ctx, (size_t)cap, sizeof(double)) : NULL;
    float *P = dt_calloc(ctx, (size_t)cap * (size_t)K, sizeof(float));
    int64_t *correct = dt_calloc(ctx, (size_t)G, sizeof(int64_t));
    if (!perm || !tr || !te || !fold_of || !ytr || (a->sw && !swtr) || !P || !correct) {
        rc = dt_err(err, DUET_ENOMEM, "cross-validation: out of memory");
        goto fail;
    }
    dt_stratified_folds(a->y, N, K, folds, ctx->seed, perm, fold_of);
    /* subsample: the rows whose shuffled position is below the cap, in row order */
    unsigned char *use = (unsigned char *)tr; /* a mask, before tr is needed */
    memset(use, 0, (size_t)N);
    for (int64_t j = 0; j < cap; j++) use[perm[j]] = 1;
    for (int64_t i = 0, j = 0; i < N; i++)
        if (use[i]) perm[j++] = i;
    for (int f = 0; f < folds; f++) {
        int64_t ntr = 0, nte = 0;
        for (int64_t j = 0; j < cap; j++) {
            int64_t i = perm[j];
            if (fold_of[i] == f) te[nte++] = i;
            else tr[ntr++] = i;
        }
        if (nte == 0 || ntr == 0) continue;
        DT_TRY(dt_fit_rows(ctx, a, tr, ntr, &Xtr, ytr, swtr, err));
        DT_TRY(dt_mat_rows(ctx, a->X, te, nte, &Xte, err));
        for (int g = 0; g < G; g++) {
            duet_train_params q = *p;
            *dt_tuned_param(ops, &q) = ops->tune_grid[g];
            if (!q.max_iter) q.max_iter = TUNE_MAX_ITER; /* ranking C needs no tight optimum */
            dt_fit_args fa = {&Xtr, ytr, K, swtr, &q, 0, NULL};
            DT_TRY(ops->fit(ctx, &fold, &fa, err));
            DT_TRY(ops->predict_proba(ctx, &fold, &Xte, P, err));
            for (int64_t i = 0; i < nte; i++) {
                const float *pi = P + (size_t)i * (size_t)K;
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (pi[k] > pi[best]) best = k;
                correct[g] += best == a->y[te[i]];
            }
            DT_TRY(dt_check_abort(ctx, "cross-validation", err));
        }
        ops->free_state(ctx, fold.state);
        fold.state = NULL;
        dt_mat_free(ctx, &Xtr);
        dt_mat_free(ctx, &Xte);
        dt_log(ctx, 2, "%s: choosing %s, fold %d/%d done", ops->name, ops->tune, f + 1, folds);
    }
    if (dt_distributed(ctx)) { /* every process's held-out rows count: the same choice everywhere */
        double *c = dt_alloc_e(ctx, (size_t)G + 1, sizeof(double), "cross-validation", err);
        if (!c) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        for (int g = 0; g < G; g++) c[g] = (double)correct[g];
        c[G] = (double)cap;
        rc = dt_reduce(ctx, c, (size_t)G + 1, err);
        for (int g = 0; g < G && !rc; g++) correct[g] = (int64_t)c[g];
        if (!rc) cap = (int64_t)c[G];
        dt_free(ctx, c);
        if (rc) goto fail;
    }
    int bi = 0;
    for (int g = 0; g < G; g++) {
        dt_log(ctx, 0, "%s: %s=%g cross-validated accuracy %.4f", ops->name, ops->tune, ops->tune_grid[g],
               (double)correct[g] / (double)cap);
        if (correct[g] > correct[bi]) bi = g;
    }
    *dt_tuned_param(ops, p) = ops->tune_grid[bi];
    dt_model_meta_set(m, ops->tune, "%g", ops->tune_grid[bi]);
    dt_model_meta_set(m, "cv", "%d-fold on %lld rows: accuracy %.4f", folds, (long long)cap,
                      (double)correct[bi] / (double)cap);
fail:
    if (fold.state) ops->free_state(ctx, fold.state);
    dt_mat_free(ctx, &Xtr);
    dt_mat_free(ctx, &Xte);
    dt_free(ctx, perm);
    dt_free(ctx, tr);
    dt_free(ctx, te);
    dt_free(ctx, fold_of);
    dt_free(ctx, ytr);
    dt_free(ctx, swtr);
    dt_free(ctx, P);
    dt_free(ctx, correct);
    return rc;
}

static const char *kind_name(int kind) {
    switch (kind) {
    case DUET_DATA_TEXT: return "text";
    case DUET_DATA_TABLE: return "table";
    case DUET_DATA_DENSE: return "images";
    case DUET_DATA_SPARSE: return "sparse";
    case DUET_DATA_CORPUS: return "corpus";
    default: return "?";
    }
}

/* Language models: one running text in, no labels, no feature pipeline. */
static int train_corpus(duet_ctx *ctx, const duet_data *d, const dt_model_ops *ops, const duet_train_params *p,
                        duet_model **out, duet_err *err) {
    if (ops->input != DUET_DATA_CORPUS)
        return dt_err(err, DUET_EINVAL, "%s: a running text trains a language model (--model gpt), not %s", d->src, ops->name);
    if (d->kind != DUET_DATA_CORPUS || d->N != 1)
        return dt_err(err, DUET_EINVAL, "%s: %s trains on one running text (read it as a corpus)", d->src, ops->name);
    duet_model *m = NULL;
    double t0 = dt_now();
    int rc = dt_model_new(ctx, ops, &m, err);
    if (rc) return rc;
    DT_TRY(ops->fit_corpus(ctx, m, d->src, d->text[0], strlen(d->text[0]), p, err));
    dt_model_meta_set(m, "trained_on", "%s (%zu bytes)", d->src, strlen(d->text[0]));
    dt_model_meta_set(m, "seed", "%llu", (unsigned long long)ctx->seed);
    dt_model_meta_set(m, "fit_seconds", "%.4g", dt_now() - t0);
    *out = m;
    m = NULL;
fail:
    dt_model_free(m);
    return rc;
}


/* A label as a finite number (blanks around it allowed). */
static int label_number(const char *s, double *v) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    return n && dt_parse_double(s, n, v) && isfinite(*v);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 1 when every label of d is a finite number and they look like a quantity rather than a few
 * class codes: some value has a fraction, or there are more than 50 distinct values. */
static int labels_numeric(duet_ctx *ctx, const duet_data *d) {
    double *v = dt_alloc(ctx, (size_t)(d->N ? d->N : 1) * sizeof(double));
    if (!v) return 0;
    int frac = 0, ok = 1;
    for (int64_t i = 0; ok && i < d->N; i++) {
        ok = label_number(d->labels[i], &v[i]);
        frac |= ok && v[i] != floor(v[i]);
    }
    int64_t distinct = 0;
    if (ok && !frac) {
        qsort(v, (size_t)d->N, sizeof *v, cmp_double);
        for (int64_t i = 0; i < d->N; i++) distinct += i == 0 || v[i] != v[i - 1];
    }
    dt_free(ctx, v);
    return ok && (frac || distinct > 50);
}

static int learns(const dt_model_ops *o, const void *what) { return (dt_model_targets(o) & *(const unsigned *)what) != 0; }

/* What training on d with p learns: *ops the model (p->model, or the default for the task) and
 * *regress 1 for a number. */
static int task_of(duet_ctx *ctx, const duet_data *d, const duet_train_params *p, const dt_model_ops **ops, int *regress,
                   duet_err *err) {
    char names[256];
    unsigned num = DT_TARGET_NUMBER, cls = DT_TARGET_CLASS;
    if (p->task < DUET_TASK_AUTO || p->task > DUET_TASK_REGRESSION) return dt_err(err, DUET_EINVAL, "unknown task %d", p->task);
    *ops = p->model ? dt_model_find(p->model) : NULL;
    if (p->model && !*ops) return dt_err(err, DUET_EINVAL, "unknown model '%s' (models: %s)", p->model, dt_model_names());
    int corpus = (*ops && (*ops)->input == DUET_DATA_CORPUS) || d->kind == DUET_DATA_CORPUS;
    if (corpus || !d->labels) {
        *regress = 0;
        if (!*ops) *ops = dt_model_for(DT_ROLE_DEFAULT);
        return DUET_OK;
    }
    if (p->task == DUET_TASK_REGRESSION) *regress = 1;
    else if (p->task == DUET_TASK_CLASSIFICATION) *regress = 0;
    else if (*ops && !learns(*ops, &cls)) {
        *regress = 1;
        double v;
        for (int64_t i = 0; i < d->N; i++)
            if (!label_number(d->labels[i], &v))
                return dt_err(err, DUET_EINVAL, "%s: %s learns a number, and the label of row %lld, '%.40s', is not one (models "
                              "that learn classes: %s)", d->src, (*ops)->name, (long long)i + 1, d->labels[i],
                              dt_model_names_if(learns, &cls, ", ", names, sizeof names));
    }
    else if (*ops && !learns(*ops, &num)) *regress = 0;
    else *regress = labels_numeric(ctx, d);
    if (!*ops) *ops = dt_model_for(*regress ? DT_ROLE_REGRESS : DT_ROLE_DEFAULT);
    if (*regress && !learns(*ops, &num))
        return dt_err(err, DUET_EINVAL, "%s learns classes, not a number (models that learn numbers: %s)", (*ops)->name,
                      dt_model_names_if(learns, &num, ", ", names, sizeof names));
    if (!*regress && !learns(*ops, &cls))
        return dt_err(err, DUET_EINVAL, "%s learns a number, not classes (models that learn classes: %s; or --task regression)",
                      (*ops)->name, dt_model_names_if(learns, &cls, ", ", names, sizeof names));
    return DUET_OK;
}

int dt_learns_number(duet_ctx *ctx, const duet_data *d, const duet_train_params *p, int *regress, duet_err *err) {
    const dt_model_ops *ops = NULL;
    *regress = 0;
    return task_of(ctx, d, p, &ops, regress, err);
}

const char *duet_model_chosen(duet_ctx *ctx, const duet_data *data, const duet_train_params *p) {
    const dt_model_ops *ops = NULL;
    int regress;
    duet_train_params q = p ? *p : duet_train_params_default();
    return ctx && data && task_of(ctx, data, &q, &ops, &regress, NULL) == DUET_OK ? ops->name : NULL;
}

/* Every label of d as a number into t (N): a label that is not one is an error naming its row;
 * a constant target is refused. */
static int collect_targets(const duet_data *d, double *t, duet_err *err) {
    for (int64_t i = 0; i < d->N; i++)
        if (!label_number(d->labels[i], &t[i]))
            return dt_err(err, DUET_EINVAL, "%s: row %lld: the target '%.40s' is not a finite number (a number is learned here: "
                          "%s)", d->src, (long long)i + 1, d->labels[i], "--task classification learns classes");
    int64_t i = 1;
    while (i < d->N && t[i] == t[0]) i++;
    if (i == d->N) return dt_err(err, DUET_EINVAL, "%s: the target is %g in every row: nothing to learn", d->src, t[0]);
    return DUET_OK;
}

int duet_model_train(duet_ctx *ctx, const duet_data *data, const duet_train_params *params,
                     duet_model **out, duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_model_train: out is NULL");
    *out = NULL;
    if (!ctx || !data) return dt_err(err, DUET_EINVAL, "duet_model_train: ctx and data are required");
    duet_train_params p = params ? *params : duet_train_params_default();
    const dt_model_ops *ops = NULL;
    int regress = 0;
    int rc = task_of(ctx, data, &p, &ops, &regress, err);
    if (rc) return rc;
    p.model = ops->name;
    rc = check_params(ops, &p, err);
    if (rc) return rc;
    if ((p.checkpoint || p.resume) && !ops->resumable)
        return dt_err(err, DUET_EINVAL, "%s trains in one go: checkpoints and resume are for gpt, vae, gan and diffusion",
                      ops->name);
    if (dt_distributed(ctx) && !ops->distributed)
        return dt_err(err, DUET_EINVAL, "%s does not train data-parallel across processes; train it in one process", ops->name);
    if (ops->input == DUET_DATA_CORPUS || data->kind == DUET_DATA_CORPUS) return train_corpus(ctx, data, ops, &p, out, err);
    if (!data->labels) return dt_err(err, DUET_EINVAL, "%s: training needs labelled data", data->src);
    if (data->N < 2) return dt_err(err, DUET_EINVAL, "%s: %lld examples; training needs at least 2", data->src, (long long)data->N);
    if (p.text_mode < 0) p.text_mode = ops->text_counts ? DUET_TEXT_COUNTS : DUET_TEXT_TFIDF;
    if (!p.ngram_min) p.ngram_min = 1;
    if (!p.ngram_max) p.ngram_max = p.ngram_min > 2 ? p.ngram_min : 2;
    if (!p.min_df && data->kind == DUET_DATA_TEXT && data->N >= 5000) p.min_df = 2;
    if (p.char_ngram_min < 0 || p.char_ngram_max < 0) {
        p.char_ngram_min = p.char_ngram_max = 0;
    } else if (!p.char_ngram_min && !p.char_ngram_max && data->kind == DUET_DATA_TEXT && !ops->words_only) {
        /* short texts (messages, titles, reviews) gain from character n-grams: on SMS spam
         * they take logistic regression from 0.979 to 0.990 accuracy */
        double bytes = 0;
        for (int64_t i = 0; i < data->N; i++) bytes += (double)strlen(data->text[i]);
        if (bytes <= 1000.0 * (double)data->N) p.char_ngram_min = 2, p.char_ngram_max = 5;
    }

    duet_model *m = NULL;
    int32_t *y = NULL, *ys = NULL;
    double *sw = NULL, *sws = NULL, *t = NULL, *ts = NULL;
    int64_t *rows = NULL;
    dt_mat X = {0}, Xs = {0};
    double t0 = dt_now();
    DT_TRY(dt_model_new(ctx, ops, &m, err));
    y = dt_calloc(ctx, (size_t)data->N, sizeof(int32_t));
    if (regress) t = dt_calloc(ctx, (size_t)data->N, sizeof(double));
    if (!y || (regress && !t)) {
        rc = dt_err(err, DUET_ENOMEM, "labels: out of memory");
        goto fail;
    }
    if (regress) {
        if (p.class_weight_balanced) {
            rc = dt_err(err, DUET_EINVAL, "class weights are for classes, and this target is a number");
            goto fail;
        }
        DT_TRY(collect_targets(data, t, err));
        m->K = 0;
    } else {
        DT_TRY(dt_collect_classes(m, data, y, err));
    }
    if (ops->raw_text) { /* a model of the raw text: no features */
        if (data->kind != DUET_DATA_TEXT) {
            rc = dt_err(err, DUET_EINVAL, "%s: %s models text (label<TAB>text, JSONL, a folder of texts), not %s data", data->src,
                        ops->name, kind_name(data->kind));
            goto fail;
        }
        DT_TRY(ops->fit_text(ctx, m, (const char *const *)data->text, y, data->N, m->K, &p, err));
        dt_model_meta_set(m, "trained_on", "%s (%lld text examples)", data->src, (long long)data->N);
        dt_model_meta_set(m, "seed", "%llu", (unsigned long long)ctx->seed);
        dt_model_meta_set(m, "fit_seconds", "%.4g", dt_now() - t0);
        *out = m;
        m = NULL;
        goto fail;
    }
    DT_TRY(dt_pipe_fit(ctx, data, &p, ops->features, &m->pipe, err));
    DT_TRY(dt_pipe_apply(ctx, m->pipe, data, &X, err));
    m->D = X.D;
    if (p.class_weight_balanced) DT_TRY(class_weights(ctx, y, data->N, m->K, &sw, err));
    dt_fit_args a = {&X, regress ? NULL : y, m->K, sw, &p, 1, t};
    if (ops->fit_bytes && ctx->mem_limit) { /* refuse up front what cannot fit in memory */
        double need = ops->fit_bytes(m, &a);
        if (need > (double)ctx->mem_limit) {
            char nb[32], lb[32];
            dt_human_bytes(nb, sizeof nb, need);
            dt_human_bytes(lb, sizeof lb, (double)ctx->mem_limit);
            rc = dt_err(err, DUET_ENOMEM, "%s: %s with %d classes and %lld features needs about %s, more than the %s allowed "
                        "(the memory limit: the machine's memory unless set lower)", data->src, ops->name, m->K, (long long)X.D, nb, lb);
            goto fail;
        }
    }
    if (dt_distributed(ctx)) { /* data-parallel: this process fits on its share of the rows */
        int64_t n = 0, R = ctx->dist_rank, S = ctx->dist_size;
        for (int64_t i = R; i < data->N; i += S) n++;
        if (n < 1) {
            rc = dt_err(err, DUET_EINVAL, "%s: %lld rows for %lld processes: some would have none", data->src, (long long)data->N,
                        (long long)S);
            goto fail;
        }
        rows = dt_alloc_e(ctx, (size_t)n, sizeof(int64_t), "shard", err);
        ys = dt_alloc_e(ctx, (size_t)n, sizeof(int32_t), "shard", err);
        sws = sw ? dt_alloc_e(ctx, (size_t)n, sizeof(double), "shard", err) : NULL;
        ts = regress ? dt_alloc_e(ctx, (size_t)n, sizeof(double), "shard", err) : NULL;
        if (!rows || !ys || (sw && !sws) || (regress && !ts)) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        for (int64_t i = R, k = 0; i < data->N; i += S) rows[k++] = i;
        if (regress) DT_TRY(dt_fit_rows_t(ctx, &a, rows, n, &Xs, ts, sws, err));
        else DT_TRY(dt_fit_rows(ctx, &a, rows, n, &Xs, ys, sws, err));
        a.X = &Xs, a.y = regress ? NULL : ys, a.t = ts, a.sw = sws;
        dt_model_meta_set(m, "processes", "%lld (data-parallel, %lld rows here)", (long long)S, (long long)n);
    }
    int applies = ops->tune != NULL;
    if (applies && ops->tunes) DT_TRY(ops->tunes(m, &a, &applies, err));
    int tuned = applies && *dt_tuned_param(ops, &p) == 0;
    if (tuned) DT_TRY(tune(ctx, m, &a, &p, err));
    else if (applies) dt_model_meta_set(m, ops->tune, "%g", *dt_tuned_param(ops, &p));
    a.p = &p;
    DT_TRY(ops->fit(ctx, m, &a, err));
    char desc[256];
    dt_model_meta_set(m, "trained_on", "%s (%lld %s examples)", data->src, (long long)data->N, kind_name(data->kind));
    dt_model_meta_set(m, "pipeline", "%s", dt_pipe_describe(m->pipe, desc, sizeof desc));
    if (p.class_weight_balanced) dt_model_meta_set(m, "class_weight", "balanced");
    if (regress) {
        double mn = t[0], mx = t[0], mean = 0;
        for (int64_t i = 0; i < data->N; i++) {
            mn = t[i] < mn ? t[i] : mn, mx = t[i] > mx ? t[i] : mx;
            mean += t[i] / (double)data->N;
        }
        dt_model_meta_set(m, "task", "regression");
        dt_model_meta_set(m, "target", "mean %.6g, range %.6g to %.6g", mean, mn, mx);
    }
    dt_model_meta_set(m, "seed", "%llu", (unsigned long long)ctx->seed);
    dt_model_meta_set(m, "fit_seconds", "%.4g", dt_now() - t0);
    *out = m;
    m = NULL;
fail:
    duet_model_free(m);
    dt_mat_free(ctx, &X);
    dt_mat_free(ctx, &Xs);
    dt_free(ctx, y);
    dt_free(ctx, t);
    dt_free(ctx, ts);
    dt_free(ctx, sw);
    dt_free(ctx, ys);
    dt_free(ctx, sws);
    dt_free(ctx, rows);
    return rc;
}

// --- description ---------------------------------------------------------------------------

const char *duet_model_name(const duet_model *m) { return m->ops->name; }
const char *duet_model_learns(const duet_model *m) { return m->ops->learns; }
unsigned duet_model_caps(const duet_model *m) { return m->ops->caps; }
const char *duet_model_score_name(const duet_model *m) { return m->ops->score_name ? m->ops->score_name : "logp"; }
int duet_model_classes(const duet_model *m) { return m->K; }
int duet_model_task(const duet_model *m) {
    if (m->ops->input == DUET_DATA_CORPUS) return 0;
    return m->K ? DUET_TASK_CLASSIFICATION : DUET_TASK_REGRESSION;
}
const char *duet_model_class_name(const duet_model *m, int k) { return k >= 0 && k < m->K ? m->classes[k] : NULL; }
int64_t duet_model_features(const duet_model *m) { return m->D; }
int64_t duet_model_table_columns(const duet_model *m) { return dt_pipe_table_cols(m->pipe); }
const char *duet_model_table_column(const duet_model *m, int64_t i) {
    return i >= 0 && i < dt_pipe_table_cols(m->pipe) ? dt_pipe_table_colname(m->pipe, i) : NULL;
}
int duet_model_input_kind(const duet_model *m) {
    return m->ops->input ? m->ops->input : m->ops->raw_text ? DUET_DATA_TEXT : dt_pipe_kind(m->pipe);
}
const char *duet_model_meta_key(const duet_model *m, int i) { return i >= 0 && i < m->n_meta ? m->meta_key[i] : NULL; }
const char *duet_model_meta_value(const duet_model *m, int i) { return i >= 0 && i < m->n_meta ? m->meta_val[i] : NULL; }

typedef struct {
    int64_t j;
    double v;
} featval;

static int cmp_featval_desc(const void *a, const void *b) {
    double x = ((const featval *)a)->v, y = ((const featval *)b)->v;
    return x > y ? -1 : x < y ? 1 : (((const featval *)a)->j > ((const featval *)b)->j) - (((const featval *)a)->j < ((const featval *)b)->j);
}

/* The n largest of v (count) into out with names from the pipeline. */
static void top_n(const duet_model *m, featval *v, int64_t count, duet_feature *out, int n, int *n_out) {
    qsort(v, (size_t)count, sizeof *v, cmp_featval_desc);
    int k = 0;
    for (int64_t i = 0; i < count && k < n; i++, k++) {
        dt_pipe_feature_name(m->pipe, v[i].j, out[k].name, sizeof out[k].name);
        out[k].value = v[i].v;
    }
    *n_out = k;
}

int duet_model_importance(duet_ctx *ctx, const duet_model *m, int by, duet_feature *out, int n, int *n_out, duet_err *err) {
    *n_out = 0;
    if (!m->ops->importance) return dt_err(err, DUET_EUNSUPPORTED, "%s has no split importances (it is not made of trees)", m->ops->name);
    double *gain = dt_calloc(ctx, (size_t)m->D, sizeof(double));
    int64_t *splits = dt_calloc(ctx, (size_t)m->D, sizeof(int64_t));
    featval *v = dt_calloc(ctx, (size_t)m->D, sizeof(featval));
    int rc = DUET_OK;
    if (!gain || !splits || !v) {
        rc = dt_err(err, DUET_ENOMEM, "importance: out of memory");
        goto fail;
    }
    DT_TRY(m->ops->importance(m, gain, splits));
    int64_t used = 0;
    for (int64_t j = 0; j < m->D; j++)
        if (splits[j]) v[used++] = (featval){j, by ? (double)splits[j] : gain[j]};
    top_n(m, v, used, out, n, n_out);
fail:
    dt_free(ctx, gain);
    dt_free(ctx, splits);
    dt_free(ctx, v);
    return rc;
}

int duet_model_top_features(duet_ctx *ctx, const duet_model *m, int k, duet_feature *out, int n,
                            int *n_out, duet_err *err) {
    *n_out = 0;
    if (!m->ops->feature_weights) return dt_err(err, DUET_EUNSUPPORTED, "%s has no per-feature weights", m->ops->name);
    if (k < 0 || k >= (m->K ? m->K : 1)) return dt_err(err, DUET_ERANGE, "class %d out of range (%d classes)", k, m->K);
    double *w = dt_calloc(ctx, (size_t)m->D, sizeof(double));
    featval *v = dt_calloc(ctx, (size_t)m->D, sizeof(featval));
    int rc = DUET_OK;
    if (!w || !v) {
        rc = dt_err(err, DUET_ENOMEM, "top features: out of memory");
        goto fail;
    }
    DT_TRY(m->ops->feature_weights(ctx, m, k, w, err));
    for (int64_t j = 0; j < m->D; j++) v[j] = (featval){j, w[j]};
    top_n(m, v, m->D, out, n, n_out);
fail:
    dt_free(ctx, w);
    dt_free(ctx, v);
    return rc;
}

// --- prediction ------------------------------------------------------------------------------

static int featurize(duet_ctx *ctx, const duet_model *m, const duet_data *d, dt_mat *X, duet_err *err) {
    if (d->kind != dt_pipe_kind(m->pipe))
        return dt_err(err, DUET_EINVAL, "%s: the model was trained on %s data, this is %s data", d->src,
                      kind_name(dt_pipe_kind(m->pipe)), kind_name(d->kind));
    return dt_pipe_apply(ctx, m->pipe, d, X, err);
}

int duet_model_predict(duet_ctx *ctx, const duet_model *m, const duet_data *d, int32_t *labels, float *proba,
                       duet_err *err) {
    if (!ctx || !m || !d || !labels) return dt_err(err, DUET_EINVAL, "duet_model_predict: missing argument");
    if (m->K == 0 && m->ops->predict_values)
        return dt_err(err, DUET_EINVAL, "this %s model predicts a number, not a class (duet_model_predict_values)", m->ops->name);
    if (!(m->ops->caps & DUET_CAN_PREDICT) || (!m->ops->predict_proba && !m->ops->predict_text))
        return dt_err(err, DUET_EUNSUPPORTED, "%s cannot predict labels", m->ops->name);
    if (m->ops->raw_text && d->kind != DUET_DATA_TEXT)
        return dt_err(err, DUET_EINVAL, "%s: %s reads text, not %s data", d->src, m->ops->name, kind_name(d->kind));
    dt_mat X = {0};
    int rc = m->ops->raw_text ? DUET_OK : featurize(ctx, m, d, &X, err);
    if (rc) return rc;
    float *P = proba ? proba : dt_calloc(ctx, (size_t)d->N * (size_t)m->K, sizeof(float));
    if (!P) {
        dt_mat_free(ctx, &X);
        return dt_err(err, DUET_ENOMEM, "predict: out of memory");
    }
    rc = m->ops->raw_text ? m->ops->predict_text(ctx, m, (const char *const *)d->text, d->N, P, err)
                          : m->ops->predict_proba(ctx, m, &X, P, err);
    if (rc == DUET_OK) {
        for (int64_t i = 0; i < d->N; i++) {
            const float *p = P + (size_t)i * (size_t)m->K;
            int best = 0;
            for (int k = 1; k < m->K; k++)
                if (p[k] > p[best]) best = k;
            labels[i] = best;
        }
    }
    if (!proba) dt_free(ctx, P);
    dt_mat_free(ctx, &X);
    return rc;
}

int duet_model_predict_values(duet_ctx *ctx, const duet_model *m, const duet_data *d, double *values, duet_err *err) {
    if (!ctx || !m || !d || !values) return dt_err(err, DUET_EINVAL, "duet_model_predict_values: missing argument");
    if (m->K != 0 || !m->ops->predict_values)
        return dt_err(err, DUET_EINVAL, "this %s model predicts classes, not a number (duet_model_predict)", m->ops->name);
    dt_mat X = {0};
    int rc = featurize(ctx, m, d, &X, err);
    if (rc) return rc;
    rc = m->ops->predict_values(ctx, m, &X, values, err);
    dt_mat_free(ctx, &X);
    return rc;
}

int duet_model_explain(duet_ctx *ctx, const duet_model *m, const duet_data *d, int64_t i, int k, duet_feature *out,
                       int n, int *n_out, duet_err *err) {
    if (!n_out || !ctx || !m || !d || (!out && n > 0)) return dt_err(err, DUET_EINVAL, "duet_model_explain: missing argument");
    *n_out = 0;
    if (!m->ops->explain) return dt_err(err, DUET_EUNSUPPORTED, "%s cannot explain its decisions", m->ops->name);
    if (i < 0 || i >= d->N) return dt_err(err, DUET_ERANGE, "row %lld out of range", (long long)i);
    if (k < 0 || k >= (m->K ? m->K : 1)) return dt_err(err, DUET_ERANGE, "class %d out of range", k);
    duet_data row;
    dt_data_view_row(d, i, &row);
    dt_mat X = {0};
    int rc = featurize(ctx, m, &row, &X, err);
    if (rc) return rc;
    int64_t *feat = dt_calloc(ctx, (size_t)m->D, sizeof(int64_t));
    double *val = dt_calloc(ctx, (size_t)m->D, sizeof(double));
    featval *v = dt_calloc(ctx, (size_t)m->D, sizeof(featval));
    int64_t cnt = 0;
    if (!feat || !val || !v) {
        rc = dt_err(err, DUET_ENOMEM, "explain: out of memory");
        goto fail;
    }
    DT_TRY(m->ops->explain(ctx, m, &X, 0, k, feat, val, &cnt, err));
    int64_t used = 0;
    for (int64_t t = 0; t < cnt; t++)
        if (val[t] != 0) v[used++] = (featval){feat[t], val[t]};
    /* largest |contribution| first, sign kept */
    for (int64_t t = 0; t < used; t++) v[t].v = v[t].v;
    {
        featval *absv = v;
        for (int64_t a = 1; a < used; a++) { /* insertion sort by |v| is fine: rows are short */
            featval x = absv[a];
            int64_t b = a - 1;
            while (b >= 0 && fabs(absv[b].v) < fabs(x.v)) {
                absv[b + 1] = absv[b];
                b--;
            }
            absv[b + 1] = x;
        }
        int w = 0;
        for (int64_t t = 0; t < used && w < n; t++, w++) {
            dt_pipe_feature_name(m->pipe, absv[t].j, out[w].name, sizeof out[w].name);
            out[w].value = absv[t].v;
        }
        *n_out = w;
    }
fail:
    dt_free(ctx, feat);
    dt_free(ctx, val);
    dt_free(ctx, v);
    dt_mat_free(ctx, &X);
    return rc;
}

int duet_model_score(duet_ctx *ctx, const duet_model *m, const duet_data *d, double *logp, duet_err *err) {
    if (!m->ops->score || !(m->ops->caps & DUET_CAN_SCORE))
        return dt_err(err, DUET_EUNSUPPORTED, "%s learns %s and cannot score likelihoods", m->ops->name, m->ops->learns);
    dt_mat X = {0};
    int rc = featurize(ctx, m, d, &X, err);
    if (rc) return rc;
    rc = m->ops->score(ctx, m, &X, logp, err);
    dt_mat_free(ctx, &X);
    return rc;
}

/* Turns a sampled feature vector back into a raw example (text or a CSV row). */
static int unfeaturize(const duet_model *m, const float *x, dt_rng *r, char *buf, size_t len, duet_err *err) {
    int kind = dt_pipe_kind(m->pipe);
    if (kind == DUET_DATA_TABLE) return dt_pipe_table_row(m->pipe, x, buf, len, err);
    if (kind != DUET_DATA_TEXT)
        return dt_err(err, DUET_EUNSUPPORTED, "sampling %s data is not supported yet", kind_name(kind));
    /* words with their sampled counts, in a random order */
    size_t pos = 0, nw = 0;
    int64_t *order = dt_calloc(m->ctx, (size_t)m->D, sizeof(int64_t));
    if (!order) return dt_err(err, DUET_ENOMEM, "sample: out of memory");
    for (int64_t j = 0; j < m->D; j++)
        for (float c = x[j]; c >= 0.5f; c -= 1.0f) {
            if (nw >= (size_t)m->D) break;
            order[nw++] = j;
        }
    dt_rng_shuffle(r, order, (int64_t)nw);
    buf[0] = 0;
    for (size_t t = 0; t < nw; t++) {
        const char *w = dt_pipe_term(m->pipe, order[t]);
        if (!w) continue;
        size_t l = strlen(w);
        if (pos + l + 2 >= len) break;
        if (pos) buf[pos++] = ' ';
        memcpy(buf + pos, w, l);
        pos += l;
        buf[pos] = 0;
    }
    dt_free(m->ctx, order);
    return DUET_OK;
}

int duet_model_sample(duet_ctx *ctx, const duet_model *m, const char *label, int64_t count, uint64_t seed,
                      duet_data **out, duet_err *err) {
    return duet_model_sample_ex(ctx, m, label, count, seed, NULL, out, err);
}

int duet_model_sample_ex(duet_ctx *ctx, const duet_model *m, const char *label, int64_t count, uint64_t seed,
                         const duet_sample_opts *opts, duet_data **out, duet_err *err) {
    *out = NULL;
    duet_sample_opts so;
    memset(&so, 0, sizeof so);
    if (opts) so = *opts;
    if (so.guidance < 0 || so.steps < 0 || so.steps > 100000)
        return dt_err(err, DUET_EINVAL, "sample: guidance must be >= 0 and steps in 0..100000");
    if (!m->ops->sample || !(m->ops->caps & DUET_CAN_SAMPLE))
        return dt_err(err, DUET_EUNSUPPORTED, "%s learns %s and cannot sample", m->ops->name, m->ops->learns);
    if (count < 1 || count > 10000000) return dt_err(err, DUET_EINVAL, "count must be in 1..10000000 (got %lld)", (long long)count);
    int want = -1;
    if (label) {
        want = dt_model_class(m, label);
        if (want < 0) return dt_err(err, DUET_EINVAL, "label '%s' is not one of the model's classes", label);
    }
    int rc = DUET_OK;
    duet_data *s = NULL;
    int64_t H = 0, W = 0;
    float unscale = 1.0f;
    int images = dt_pipe_image(m->pipe, &H, &W, &unscale);
    float *x = dt_calloc(ctx, (size_t)m->D, sizeof(float));
    size_t blen = 1 << 16;
    char *buf = dt_alloc(ctx, blen);
    if (!x || !buf) {
        rc = dt_err(err, DUET_ENOMEM, "sample: out of memory");
        goto fail;
    }
    DT_TRY(dt_data_new(ctx, images ? DUET_DATA_DENSE : DUET_DATA_TEXT, "samples", &s, err));
    if (images) {
        s->D = m->D, s->H = H, s->W = W;
        s->x = dt_alloc_e(ctx, (size_t)count, (size_t)m->D * sizeof(float), "samples", err);
    } else
        s->text = dt_calloc(ctx, (size_t)count, sizeof(char *));
    s->labels = dt_calloc(ctx, (size_t)count, sizeof(char *));
    if ((!s->text && !s->x) || !s->labels) {
        rc = dt_err(err, DUET_ENOMEM, "sample: out of memory");
        goto fail;
    }
    dt_rng r;
    dt_rng_seed(&r, seed);
    for (int64_t i = 0; i < count; i++) {
        int k = want;
        DT_TRY(m->ops->sample(ctx, m, &k, &r, &so, x, err)); /* k = -1: the model draws the class */
        if (images)
            for (int64_t j = 0; j < m->D; j++) s->x[(size_t)i * (size_t)m->D + (size_t)j] = x[j] * unscale;
        else {
            DT_TRY(unfeaturize(m, x, &r, buf, blen, err));
            s->text[i] = dt_pool_strdup(&s->pool, buf);
        }
        s->labels[i] = dt_pool_strdup(&s->pool, m->classes[k]);
        if ((!images && !s->text[i]) || !s->labels[i]) {
            rc = dt_err(err, DUET_ENOMEM, "sample: out of memory");
            goto fail;
        }
        s->N = i + 1;
    }
    *out = s;
    s = NULL;
fail:
    dt_data_free(s);
    dt_free(ctx, x);
    dt_free(ctx, buf);
    return rc;
}

// --- evaluation ------------------------------------------------------------------------------

static int true_labels(const duet_model *m, const duet_data *d, int32_t *y, duet_err *err) {
    if (!d->labels) return dt_err(err, DUET_EINVAL, "%s: evaluation needs labelled data", d->src);
    for (int64_t i = 0; i < d->N; i++) {
        y[i] = dt_model_class(m, d->labels[i]);
        if (y[i] < 0)
            return dt_err(err, DUET_EINVAL, "%s: row %lld has label '%s', which the model never saw in training",
                          d->src, (long long)i + 1, d->labels[i]);
    }
    return DUET_OK;
}

static int eval_values(duet_ctx *ctx, const duet_model *m, const duet_data *d, duet_metrics **out, duet_err *err) {
    if (!d->labels) return dt_err(err, DUET_EINVAL, "%s: evaluation needs the targets (a label column)", d->src);
    double *t = dt_alloc_e(ctx, (size_t)d->N, sizeof(double), "eval", err);
    double *v = dt_alloc_e(ctx, (size_t)d->N, sizeof(double), "eval", err);
    int rc = !t || !v ? DUET_ENOMEM : DUET_OK;
    for (int64_t i = 0; !rc && i < d->N; i++)
        if (!label_number(d->labels[i], &t[i]))
            rc = dt_err(err, DUET_EINVAL, "%s: row %lld: the target '%.40s' is not a finite number", d->src, (long long)i + 1,
                        d->labels[i]);
    if (!rc) rc = duet_model_predict_values(ctx, m, d, v, err);
    if (!rc) rc = dt_metrics_regression(ctx, d->N, t, v, out, err);
    dt_free(ctx, t);
    dt_free(ctx, v);
    return rc;
}

int duet_model_eval(duet_ctx *ctx, const duet_model *m, const duet_data *d, duet_metrics **out, duet_err *err) {
    *out = NULL;
    if (d->N < 1) return dt_err(err, DUET_EINVAL, "%s: no rows to evaluate", d->src);
    if (m->K == 0) return eval_values(ctx, m, d, out, err);
    int32_t *y = dt_calloc(ctx, (size_t)d->N, sizeof(int32_t));
    int32_t *pred = dt_calloc(ctx, (size_t)d->N, sizeof(int32_t));
    float *P = dt_calloc(ctx, (size_t)d->N * (size_t)m->K, sizeof(float));
    int rc = DUET_OK;
    if (!y || !pred || !P) {
        rc = dt_err(err, DUET_ENOMEM, "eval: out of memory");
        goto fail;
    }
    DT_TRY(true_labels(m, d, y, err));
    DT_TRY(duet_model_predict(ctx, m, d, pred, P, err));
    DT_TRY(dt_metrics_compute(ctx, m->K, d->N, y, pred, P, m->classes, out, err));
fail:
    dt_free(ctx, y);
    dt_free(ctx, pred);
    dt_free(ctx, P);
    return rc;
}


/* Cross-validation of a regressor: plain K folds (rows shuffled by the seed, dealt round-robin),
 * predictions pooled. */
static int cv_values(duet_ctx *ctx, const duet_data *d, const duet_train_params *p, const dt_model_ops *ops, int folds,
                     duet_metrics **out, duet_err *err) {
    int64_t N = d->N;
    int rc = DUET_OK;
    duet_data *dtr = NULL, *dte = NULL;
    duet_model *m = NULL;
    duet_train_params q = *p;
    q.model = ops->name;
    q.task = DUET_TASK_REGRESSION;
    double *t = dt_alloc_e(ctx, (size_t)N, sizeof(double), "cross-validation", err);
    double *v = dt_alloc_e(ctx, (size_t)N, sizeof(double), "cross-validation", err);
    double *fv = dt_alloc_e(ctx, (size_t)N, sizeof(double), "cross-validation", err);
    double *frmse = dt_alloc_e(ctx, (size_t)folds, sizeof(double), "cross-validation", err);
    int64_t *perm = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "cross-validation", err);
    int64_t *tr = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "cross-validation", err);
    int64_t *te = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "cross-validation", err);
    if (!t || !v || !fv || !frmse || !perm || !tr || !te) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    DT_TRY(collect_targets(d, t, err));
    dt_shuffled_rows(ctx->seed ^ 0x5f0f5f0fULL, N, perm);
    for (int f = 0; f < folds; f++) {
        int64_t ntr, nte;
        dt_fold_split(perm, N, folds, f, tr, &ntr, te, &nte);
        rc = dt_data_subset(ctx, d, tr, ntr, &dtr, err);
        if (!rc) rc = dt_data_subset(ctx, d, te, nte, &dte, err);
        if (!rc) rc = duet_model_train(ctx, dtr, &q, &m, err);
        if (!rc) rc = duet_model_predict_values(ctx, m, dte, fv, err);
        if (!rc) {
            double e = 0;
            for (int64_t k = 0; k < nte; k++) {
                v[te[k]] = fv[k];
                e += (fv[k] - t[te[k]]) * (fv[k] - t[te[k]]);
            }
            frmse[f] = sqrt(e / (double)nte);
        }
        duet_model_free(m);
        dt_data_free(dtr);
        dt_data_free(dte);
        m = NULL;
        dtr = dte = NULL;
        if (rc) {
            dt_err_prefix(err, rc, "fold %d of %d", f + 1, folds);
            goto fail;
        }
        dt_log(ctx, 0, "fold %d/%d: RMSE %.6g", f + 1, folds, frmse[f]);
    }
    DT_TRY(dt_metrics_regression(ctx, N, t, v, out, err));
    double mr = 0, vr = 0;
    for (int f = 0; f < folds; f++) mr += frmse[f] / folds;
    for (int f = 0; f < folds; f++) vr += (frmse[f] - mr) * (frmse[f] - mr) / folds;
    (*out)->rmse_std = sqrt(vr);
fail:
    dt_free(ctx, t);
    dt_free(ctx, v);
    dt_free(ctx, fv);
    dt_free(ctx, frmse);
    dt_free(ctx, perm);
    dt_free(ctx, tr);
    dt_free(ctx, te);
    return rc;
}

int duet_cross_validate(duet_ctx *ctx, const duet_data *d, const duet_train_params *p, int folds,
                        duet_metrics **out, duet_err *err) {
    *out = NULL;
    if (folds < 2 || folds > 100) return dt_err(err, DUET_EINVAL, "--cv needs 2..100 folds (got %d)", folds);
    if (!d->labels) return dt_err(err, DUET_EINVAL, "%s: cross-validation needs labelled data", d->src);
    if (d->N < folds) return dt_err(err, DUET_EINVAL, "%s: %lld rows for %d folds", d->src, (long long)d->N, folds);
    const dt_model_ops *ops = NULL;
    int regress = 0;
    int rc = task_of(ctx, d, p, &ops, &regress, err);
    if (rc) return rc;
    if (regress) return cv_values(ctx, d, p, ops, folds, out, err);
    int64_t N = d->N;
    duet_model *all = NULL; /* holds the class list of the whole data */
    duet_data *dtr = NULL, *dte = NULL;
    duet_model *m = NULL;
    duet_metrics *fm = NULL;
    int32_t *y = dt_calloc(ctx, (size_t)N, sizeof(int32_t));    /* true class of every row */
    int32_t *pred = dt_calloc(ctx, (size_t)N, sizeof(int32_t)); /* pooled predictions */
    int64_t *perm = dt_calloc(ctx, (size_t)N, sizeof(int64_t));
    int64_t *tr = dt_calloc(ctx, (size_t)N, sizeof(int64_t));
    int64_t *te = dt_calloc(ctx, (size_t)N, sizeof(int64_t));
    int32_t *fy = dt_calloc(ctx, (size_t)N, sizeof(int32_t));   /* one fold's truth */
    int32_t *fp = dt_calloc(ctx, (size_t)N, sizeof(int32_t));   /* one fold's predictions */
    int *fold = dt_calloc(ctx, (size_t)N, sizeof(int));
    double *facc = dt_calloc(ctx, (size_t)folds, sizeof(double));
    double *ff1 = dt_calloc(ctx, (size_t)folds, sizeof(double));
    float *P = NULL, *FP = NULL;
    if (!y || !pred || !perm || !tr || !te || !fy || !fp || !fold || !facc || !ff1) {
        rc = dt_err(err, DUET_ENOMEM, "cross-validation: out of memory");
        goto fail;
    }
    DT_TRY(dt_model_new(ctx, dt_model_for(DT_ROLE_DEFAULT), &all, err)); /* any kind: it only holds the classes */
    DT_TRY(dt_collect_classes(all, d, y, err));
    int K = all->K;
    P = dt_calloc(ctx, (size_t)N * (size_t)K, sizeof(float));
    FP = dt_calloc(ctx, (size_t)N * (size_t)K, sizeof(float));
    if (!P || !FP) {
        rc = dt_err(err, DUET_ENOMEM, "cross-validation: out of memory");
        goto fail;
    }
    dt_stratified_folds(y, N, K, folds, ctx->seed, perm, fold);
    for (int f = 0; f < folds; f++) {
        int64_t ntr = 0, nte = 0;
        for (int64_t i = 0; i < N; i++) {
            if (fold[i] == f) te[nte++] = i;
            else tr[ntr++] = i;
        }
        rc = dt_data_subset(ctx, d, tr, ntr, &dtr, err);
        if (!rc) rc = dt_data_subset(ctx, d, te, nte, &dte, err);
        if (!rc) rc = duet_model_train(ctx, dtr, p, &m, err);
        /* classes are sorted label names, so a fold with every class numbers them alike */
        if (!rc && m->K != K) rc = dt_err(err, DUET_EINVAL, "a training fold lacks a class; use fewer folds");
        if (!rc) rc = duet_model_predict(ctx, m, dte, fp, FP, err);
        if (!rc) {
            int64_t correct = 0;
            for (int64_t t = 0; t < nte; t++) {
                fy[t] = y[te[t]];
                correct += fp[t] == fy[t];
                pred[te[t]] = fp[t];
                memcpy(P + (size_t)te[t] * (size_t)K, FP + (size_t)t * (size_t)K, (size_t)K * sizeof(float));
            }
            facc[f] = (double)correct / (double)nte;
            rc = dt_metrics_compute(ctx, K, nte, fy, fp, FP, all->classes, &fm, err);
            if (!rc) ff1[f] = fm->f1;
        }
        duet_metrics_free(ctx, fm);
        duet_model_free(m);
        dt_data_free(dtr);
        dt_data_free(dte);
        fm = NULL;
        m = NULL;
        dtr = dte = NULL;
        if (rc) {
            dt_err_prefix(err, rc, "fold %d of %d", f + 1, folds);
            goto fail;
        }
        dt_log(ctx, 0, "fold %d/%d: accuracy %.4f", f + 1, folds, facc[f]);
    }
    DT_TRY(dt_metrics_compute(ctx, K, N, y, pred, P, all->classes, out, err));
    double ma = 0, mf = 0, va = 0, vf = 0;
    for (int f = 0; f < folds; f++) {
        ma += facc[f] / folds;
        mf += ff1[f] / folds;
    }
    for (int f = 0; f < folds; f++) {
        va += (facc[f] - ma) * (facc[f] - ma) / folds;
        vf += (ff1[f] - mf) * (ff1[f] - mf) / folds;
    }
    (*out)->accuracy_std = sqrt(va);
    (*out)->f1_std = sqrt(vf);
fail:
    duet_model_free(all);
    dt_free(ctx, y);
    dt_free(ctx, pred);
    dt_free(ctx, perm);
    dt_free(ctx, tr);
    dt_free(ctx, te);
    dt_free(ctx, fy);
    dt_free(ctx, fp);
    dt_free(ctx, fold);
    dt_free(ctx, facc);
    dt_free(ctx, ff1);
    dt_free(ctx, P);
    dt_free(ctx, FP);
    return rc;
}

// --- model files -------------------------------------------------------------------------------

int duet_model_save(duet_ctx *ctx, const duet_model *m, const char *path, duet_err *err) {
    if (!ctx || !m || !path) return dt_err(err, DUET_EINVAL, "duet_model_save: missing argument");
    dt_st_writer *w = NULL;
    int rc = dt_st_writer_new(ctx, &w, err);
    if (rc) return rc;
    DT_TRY(dt_model_write(m, w, err));
    DT_TRY(dt_st_write(w, path, err));
fail:
    dt_st_writer_free(w);
    return rc;
}

int duet_model_file_size(duet_ctx *ctx, const duet_model *m, int64_t *bytes, duet_err *err) {
    if (!ctx || !m || !bytes) return dt_err(err, DUET_EINVAL, "duet_model_file_size: missing argument");
    *bytes = 0;
    dt_st_writer *w = NULL;
    size_t n = 0;
    int rc = dt_st_writer_new(ctx, &w, err);
    if (rc) return rc;
    DT_TRY(dt_model_write(m, w, err));
    DT_TRY(dt_st_size(w, &n, err));
    *bytes = (int64_t)n;
fail:
    dt_st_writer_free(w);
    return rc;
}

int duet_model_load(duet_ctx *ctx, const char *path, duet_model **out, duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_model_load: out is NULL");
    *out = NULL;
    if (!ctx || !path) return dt_err(err, DUET_EINVAL, "duet_model_load: ctx and path are required");
    dt_st_file *f = NULL;
    int rc = dt_st_open(ctx, path, &f, err);
    if (rc) return rc;
    rc = dt_model_from_file(ctx, f, out, err);
    dt_st_close(f);
    return rc;
}

// --- language models -------------------------------------------------------------------------

int duet_model_import_xgboost(duet_ctx *ctx, const char *path, duet_model **out, duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_model_import_xgboost: out is NULL");
    *out = NULL;
    if (!ctx || !path) return dt_err(err, DUET_EINVAL, "duet_model_import_xgboost: ctx and path are required");
    return dt_gbdt_import_xgboost(ctx, path, out, err);
}

const char *duet_model_type(int i) { return dt_model_at(i) ? dt_model_at(i)->name : NULL; }
const char *duet_model_type_about(const char *name) { return dt_model_find(name) ? dt_model_find(name)->about : NULL; }
const char *duet_model_default(int task) {
    return dt_model_for(task == DUET_TASK_REGRESSION ? DT_ROLE_REGRESS : DT_ROLE_DEFAULT)->name;
}

const char *duet_model_option(const char *name, const char *option) {
    const dt_model_ops *o = dt_model_find(name);
    for (const dt_option *p = o ? o->options : NULL; p && p->name && option; p++)
        if (strcmp(p->name, option) == 0) return p->help;
    return NULL;
}

int duet_model_type_input(const char *name) {
    const dt_model_ops *ops = name ? dt_model_find(name) : NULL;
    return ops ? ops->input : -1;
}

duet_gen_opts duet_gen_opts_default(void) {
    duet_gen_opts o;
    memset(&o, 0, sizeof o);
    o.n = 256;
    o.temperature = 1.0;
    o.top_p = 1.0;
    return o;
}

int duet_model_generate(duet_ctx *ctx, const duet_model *m, const duet_gen_opts *opts, duet_text_fn fn, void *user,
                        duet_gen_stats *stats, duet_err *err) {
    if (!ctx || !m) return dt_err(err, DUET_EINVAL, "duet_model_generate: ctx and model are required");
    if (!m->ops->generate)
        return dt_err(err, DUET_EUNSUPPORTED, "%s does not write text (it learns %s); see duet_model_sample", m->ops->name,
                      m->ops->learns);
    duet_gen_opts o = opts ? *opts : duet_gen_opts_default();
    if (o.n < 0 || !(o.temperature >= 0) || o.top_k < 0 || !(o.top_p >= 0 && o.top_p <= 1))
        return dt_err(err, DUET_EINVAL, "generate: need n >= 0, temperature >= 0, top-k >= 0 and 0 <= top-p <= 1");
    if (o.stop && !*o.stop) o.stop = NULL;
    if (stats) memset(stats, 0, sizeof *stats);
    return m->ops->generate(ctx, m, &o, fn, user, stats, err);
}

int duet_model_score_text(duet_ctx *ctx, const duet_model *m, const char *text, size_t len, duet_token_fn fn,
                          void *user, duet_lm_score *out, duet_err *err) {
    if (!ctx || !m || !text || !out) return dt_err(err, DUET_EINVAL, "duet_model_score_text: missing argument");
    if (!m->ops->score_text)
        return dt_err(err, DUET_EUNSUPPORTED, "%s does not score running text; see duet_model_score", m->ops->name);
    memset(out, 0, sizeof *out);
    return m->ops->score_text(ctx, m, text, len, fn, user, out, err);
}

int duet_model_import_llama2c(duet_ctx *ctx, const char *checkpoint, const char *tokenizer, duet_model **out,
                              duet_err *err) {
    if (!out) return dt_err(err, DUET_EINVAL, "duet_model_import_llama2c: out is NULL");
    *out = NULL;
    if (!ctx || !checkpoint || !tokenizer)
        return dt_err(err, DUET_EINVAL, "duet_model_import_llama2c: ctx, checkpoint and tokenizer are required");
    duet_model *m = NULL;
    int rc = dt_model_new(ctx, &dt_gpt_ops, &m, err);
    if (rc) return rc;
    rc = dt_gpt_import_llama2c(ctx, m, checkpoint, tokenizer, err);
    if (rc) {
        dt_model_free(m);
        return rc;
    }
    *out = m;
    return DUET_OK;
}

int duet_data_write_png(duet_ctx *ctx, const duet_data *d, const char *path, int cols, duet_err *err) {
    if (!ctx || !d || !path) return dt_err(err, DUET_EINVAL, "duet_data_write_png: missing argument");
    if (d->kind != DUET_DATA_DENSE || d->H <= 0 || d->W <= 0 || d->H * d->W != d->D)
        return dt_err(err, DUET_EINVAL, "%s: not images (PNG needs examples of known height and width)", d->src);
    if (d->N < 1) return dt_err(err, DUET_EINVAL, "%s: no images to write", d->src);
    size_t n = (size_t)d->N * (size_t)d->D, plen = strlen(path);
    float *v = dt_alloc_e(ctx, n, sizeof(float), path, err);
    if (!v) return DUET_ENOMEM;
    for (size_t i = 0; i < n; i++) v[i] = d->x[i] / 255.0f;
    int rc = DUET_OK;
    if (plen && path[plen - 1] == '/') { /* a folder (made when missing): one file per image */
        char dir[4096];
        if (plen >= sizeof dir) rc = dt_err(err, DUET_EINVAL, "%s: path too long", path);
        else {
            memcpy(dir, path, plen - 1);
            dir[plen - 1] = 0;
            if (plen > 1 && mkdir(dir, 0777) != 0 && errno != EEXIST)
                rc = dt_err(err, DUET_EIO, "%s: cannot make the folder: %s", path, strerror(errno));
        }
        for (int64_t i = 0; i < d->N && !rc; i++) {
            char name[4096];
            const char *lab = d->labels && d->labels[i] ? d->labels[i] : "";
            char safe[64];
            size_t k = 0;
            for (const char *c = lab; *c && k < sizeof safe - 1; c++) safe[k++] = (char)((*c == '/' || *c == ' ') ? '_' : *c);
            safe[k] = 0;
            if (snprintf(name, sizeof name, "%s%05lld%s%s.png", path, (long long)i, k ? "-" : "", safe) >= (int)sizeof name)
                rc = dt_err(err, DUET_EINVAL, "%s: path too long", path);
            else
                rc = dt_png_write_grid(ctx, name, v + (size_t)i * (size_t)d->D, 1, 1, (int)d->H, (int)d->W, 1, 0, err);
        }
    } else
        rc = dt_png_write_grid(ctx, path, v, (int)d->N, 1, (int)d->H, (int)d->W, cols, 2, err);
    dt_free(ctx, v);
    return rc;
}

int duet_data_png(duet_ctx *ctx, const duet_data *d, int64_t first, int64_t count, int cols, unsigned char **out, size_t *len,
                  duet_err *err) {
    if (!out || !len) return dt_err(err, DUET_EINVAL, "duet_data_png: missing argument");
    *out = NULL, *len = 0;
    if (!ctx || !d) return dt_err(err, DUET_EINVAL, "duet_data_png: missing argument");
    if (d->kind != DUET_DATA_DENSE || d->H <= 0 || d->W <= 0 || d->H * d->W != d->D)
        return dt_err(err, DUET_EINVAL, "%s: not images (PNG needs examples of known height and width)", d->src);
    if (first < 0 || count < 1 || first > d->N || count > d->N - first)
        return dt_err(err, DUET_ERANGE, "%s: images %lld..%lld of %lld", d->src, (long long)first, (long long)(first + count),
                      (long long)d->N);
    size_t n = (size_t)count * (size_t)d->D;
    float *v = dt_alloc_e(ctx, n, sizeof(float), "PNG", err);
    if (!v) return DUET_ENOMEM;
    const float *x = d->x + (size_t)first * (size_t)d->D;
    for (size_t i = 0; i < n; i++) v[i] = x[i] / 255.0f;
    int rc = dt_png_grid_mem(ctx, v, (int)count, 1, (int)d->H, (int)d->W, cols, count > 1 ? 2 : 0, out, len, err);
    dt_free(ctx, v);
    return rc;
}

// --- judging generated examples ----------------------------------------------------------------

int duet_model_embed(duet_ctx *ctx, const duet_model *m, const duet_data *d, float **out, int64_t *dim, duet_err *err) {
    if (!ctx || !m || !d || !out || !dim) return dt_err(err, DUET_EINVAL, "duet_model_embed: missing argument");
    *out = NULL;
    if (!m->ops->embed) return dt_err(err, DUET_EUNSUPPORTED, "%s has no hidden features to compare with", m->ops->name);
    dt_mat X = {0};
    int rc = featurize(ctx, m, d, &X, err);
    if (rc) return rc;
    DT_TRY(m->ops->embed(ctx, m, &X, NULL, dim, err));
    *out = dt_alloc_e(ctx, (size_t)(X.N ? X.N : 1), (size_t)*dim * sizeof(float), "features", err);
    if (!*out) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    rc = m->ops->embed(ctx, m, &X, *out, dim, err);
    if (rc) {
        dt_free(ctx, *out);
        *out = NULL;
    }
fail:
    dt_mat_free(ctx, &X);
    return rc;
}

/* Mean (d) and covariance (d, d) of N rows of E. */
static void moments(const float *E, int64_t N, int64_t d, double *mu, double *S) {
    memset(mu, 0, (size_t)d * sizeof(double));
    memset(S, 0, (size_t)d * (size_t)d * sizeof(double));
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < d; j++) mu[j] += E[(size_t)i * (size_t)d + (size_t)j];
    for (int64_t j = 0; j < d; j++) mu[j] /= (double)N;
    for (int64_t i = 0; i < N; i++) {
        const float *e = E + (size_t)i * (size_t)d;
        for (int64_t a = 0; a < d; a++) {
            double da = e[a] - mu[a];
            if (da == 0.0) continue;
            for (int64_t b = a; b < d; b++) S[(size_t)a * (size_t)d + (size_t)b] += da * (e[b] - mu[b]);
        }
    }
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = a; b < d; b++)
            S[(size_t)b * (size_t)d + (size_t)a] = S[(size_t)a * (size_t)d + (size_t)b] /= (double)(N > 1 ? N - 1 : 1);
}

int duet_judge(duet_ctx *ctx, const duet_model *clf, const duet_data *gen, const duet_data *real, duet_judgement *out,
               duet_err *err) {
    if (!ctx || !clf || !gen || !out) return dt_err(err, DUET_EINVAL, "duet_judge: missing argument");
    memset(out, 0, sizeof *out);
    out->frechet = NAN;
    int64_t N = gen->N;
    int32_t *lab = dt_alloc_e(ctx, (size_t)(N ? N : 1), sizeof(int32_t), "judge", err);
    float *Eg = NULL, *Er = NULL;
    double *m1 = NULL, *S1 = NULL, *m2 = NULL, *S2 = NULL;
    int rc = lab ? DUET_OK : DUET_ENOMEM;
    if (rc) return rc;
    DT_TRY(duet_model_predict(ctx, clf, gen, lab, NULL, err));
    int64_t hit = 0;
    for (int64_t i = 0; i < N; i++) hit += gen->labels && gen->labels[i] && strcmp(clf->classes[lab[i]], gen->labels[i]) == 0;
    out->n = N;
    out->accuracy = N ? (double)hit / (double)N : NAN;
    if (real && clf->ops->embed) {
        int64_t d = 0, d2 = 0;
        DT_TRY(duet_model_embed(ctx, clf, gen, &Eg, &d, err));
        DT_TRY(duet_model_embed(ctx, clf, real, &Er, &d2, err));
        if (N < 2 || real->N < 2) {
            rc = dt_err(err, DUET_EINVAL, "judge: the Fréchet distance needs at least 2 images on each side");
            goto fail;
        }
        m1 = dt_alloc_e(ctx, (size_t)d, sizeof(double), "judge", err);
        m2 = dt_alloc_e(ctx, (size_t)d, sizeof(double), "judge", err);
        S1 = dt_alloc_e(ctx, (size_t)d * (size_t)d, sizeof(double), "judge", err);
        S2 = dt_alloc_e(ctx, (size_t)d * (size_t)d, sizeof(double), "judge", err);
        if (!m1 || !m2 || !S1 || !S2) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        moments(Eg, N, d, m1, S1);
        moments(Er, real->N, d, m2, S2);
        DT_TRY(dt_frechet(ctx, m1, S1, m2, S2, (int)d, &out->frechet, err));
        out->dim = d;
        out->n_real = real->N;
    }
fail:
    dt_free(ctx, lab);
    dt_free(ctx, Eg);
    dt_free(ctx, Er);
    dt_free(ctx, m1);
    dt_free(ctx, m2);
    dt_free(ctx, S1);
    dt_free(ctx, S2);
    return rc;
}
