/* gbdt.c — gradient-boosted decision trees on histograms, for classes and numbers.
 * Features arrive raw (DT_FEATURES_RAW: numbers as they are, NaN for missing, category codes)
 * and are binned once: at most 255 bins per feature from quantiles of (a sample of) the
 * training values, one more bin for missing values. Each tree grows leaf-wise (the leaf whose
 * best split gains most is split next) to `leaves` leaves: a leaf's histogram of gradient and
 * hessian sums is built for the smaller child only, the larger one's is the parent's minus it.
 * A numeric split sends bins <= b left and learns where missing values go; a categorical one
 * orders the leaf's categories by gradient / (hessian + 10) and sends a prefix of them left
 * (LightGBM's method), missing and unseen categories right. Leaf values are -G / (H + lambda)
 * times the learning rate (absolute and quantile losses then set each leaf to the quantile of
 * its residuals). Objectives: log-loss (one tree per class per round beyond two classes),
 * squared, absolute, quantile and Poisson (log link) errors. Early stopping watches the loss on
 * a held-out share of the rows to choose the rounds; the model is then grown again on all rows.
 * Determinism: every sum runs in row order inside one thread (histograms are parallel over
 * features, not rows), so the same seed gives the same model whatever the thread count.
 * Explanations are exact TreeSHAP (Lundberg et al. 2018), with a brute-force reference.
 * Not here: the feature pipeline (data/), cross-validation (api.c).
 */
#include <float.h>
#include <math.h>

#include "gbdt.h"

#define GB_MAX_BINS 255          /* value bins; bin nb is "missing" so a bin fits a byte */
#define GB_MAX_LEAVES 65536
#define GB_BIN_SAMPLE 200000     /* rows whose values place the bin edges */
#define GB_CAT_SMOOTH 10.0       /* categories are ordered by G / (H + this) */
#define GB_CAT_MIN 100           /* categories with fewer rows in the leaf stay right (LightGBM's
                                    min_data_per_group: on Adult, 0.2783 -> 0.2759 log-loss) */
#define GB_MIN_HESS 1e-3
#define GB_POISSON_DELTA 0.7     /* Poisson hessians exp(F + delta): LightGBM's safeguard */

void dt_gb_free(duet_ctx *ctx, void *state) {
    gb_model *g = state;
    if (!g) return;
    dt_free(ctx, g->base);
    dt_free(ctx, g->start);
    dt_free(ctx, g->feat);
    dt_free(ctx, g->thr);
    dt_free(ctx, g->left);
    dt_free(ctx, g->right);
    dt_free(ctx, g->flags);
    dt_free(ctx, g->value);
    dt_free(ctx, g->cover);
    dt_free(ctx, g->gain);
    dt_free(ctx, g->cat_at);
    dt_free(ctx, g->cat_n);
    dt_free(ctx, g->cat_words);
    dt_free(ctx, g);
}

int dt_gb_grow_nodes(duet_ctx *ctx, gb_model *g, int64_t need, duet_err *err) {
    if (need <= g->cap_nodes) return DUET_OK;
    int64_t cap = g->cap_nodes ? g->cap_nodes : 256;
    while (cap < need) cap *= 2;
    size_t n = (size_t)cap;
#define GROW(p, T)                                                                   \
    do {                                                                             \
        void *q = dt_realloc(ctx, g->p, n * sizeof(T));                              \
        if (!q) return dt_err(err, DUET_ENOMEM, "gbdt: out of memory for %lld tree nodes", (long long)cap); \
        g->p = q;                                                                    \
    } while (0)
    GROW(feat, int32_t);
    GROW(thr, float);
    GROW(left, int32_t);
    GROW(right, int32_t);
    GROW(flags, uint8_t);
    GROW(value, double);
    GROW(cover, double);
    GROW(gain, double);
    GROW(cat_at, int64_t);
    GROW(cat_n, int32_t);
#undef GROW
    g->cap_nodes = cap;
    return DUET_OK;
}

/* Whether a row whose feature value is v goes left at node n. */
static inline int goes_left(const gb_model *g, int64_t n, float v) {
    if (isnan(v)) return g->flags[n] & GB_LEFT;
    if (g->flags[n] & GB_CAT) {
        int right = (g->flags[n] & GB_CAT_RIGHT) != 0;
        if (right && v < 0) return g->flags[n] & GB_LEFT; /* XGBoost: a negative code is missing */
        if (!(v >= 0 && v < 32.0 * g->cat_n[n])) return right;
        int64_t c = (int64_t)v;
        return (int)((g->cat_words[g->cat_at[n] + c / 32] >> (c % 32)) & 1) != right;
    }
    return v <= g->thr[n];
}

/* The leaf of tree t that row x (D values) reaches, as a global node index. */
static inline int64_t leaf_of(const gb_model *g, int64_t t, const float *x) {
    int64_t s = g->start[t], j = 0;
    while (g->feat[s + j] >= 0) {
        int64_t n = s + j;
        j = goes_left(g, n, x[g->feat[n]]) ? g->left[n] : g->right[n];
    }
    return s + j;
}

/* Row i of X as D dense values in buf (a sparse row is scattered; clear_row undoes it). */
static const float *row_of(const dt_mat *X, int64_t i, float *buf) {
    if (X->x) return X->x + (size_t)i * (size_t)X->D;
    for (int64_t p = X->rowptr[i]; p < X->rowptr[i + 1]; p++) buf[X->col[p]] = X->val[p];
    return buf;
}
static void clear_row(const dt_mat *X, int64_t i, float *buf) {
    if (!X->x)
        for (int64_t p = X->rowptr[i]; p < X->rowptr[i + 1]; p++) buf[X->col[p]] = 0;
}

/* Raw scores F (N, V): base plus every tree (trees first..T-1 only, when add is 1: F holds the
 * others already). */
static int raw_scores(duet_ctx *ctx, const gb_model *g, const dt_mat *X, int64_t first, int add, double *F, duet_err *err) {
    int rc = DUET_OK;
    int nt = dt_threads(ctx);
    float *bufs = NULL;
    if (!X->x && X->N > 0) {
        size_t n;
        if (!dt_mul_ok((size_t)nt, (size_t)X->D, &n) || !(bufs = dt_calloc(ctx, n, sizeof(float))))
            return dt_err(err, DUET_ENOMEM, "gbdt: out of memory for %d rows of %lld features", nt, (long long)X->D);
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (X->N * (g->T - first) > 20000)
    for (int64_t i = 0; i < X->N; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *buf = bufs ? bufs + (size_t)tid * (size_t)X->D : NULL;
        const float *x = row_of(X, i, buf);
        double *f = F + (size_t)i * (size_t)g->V;
        if (!add)
            for (int v = 0; v < g->V; v++) f[v] = g->base[v];
        for (int64_t t = first; t < g->T; t++) f[t % g->V] += g->value[leaf_of(g, t, x)];
        if (buf) clear_row(X, i, buf);
    }
    dt_free(ctx, bufs);
    return rc;
}

/* --- objectives ---------------------------------------------------------------------------- */

const char *dt_gb_objective_name(int obj) {
    switch (obj) {
    case DUET_OBJ_LOGLOSS: return "logloss";
    case DUET_OBJ_SQUARED: return "squared";
    case DUET_OBJ_ABSOLUTE: return "absolute";
    case DUET_OBJ_QUANTILE: return "quantile";
    case DUET_OBJ_POISSON: return "poisson";
    default: return "?";
    }
}

int dt_gb_objective(const char *s) {
    for (int o = DUET_OBJ_LOGLOSS; o <= DUET_OBJ_POISSON; o++)
        if (strcmp(s, dt_gb_objective_name(o)) == 0) return o;
    return 0;
}

static double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

/* Class probabilities (V == 1: two classes) from raw scores f. */
static void probs(int V, const double *f, double *p) {
    if (V == 1) {
        p[1] = sigmoid(f[0]);
        p[0] = 1 - p[1];
        return;
    }
    double mx = f[0], s = 0;
    for (int v = 1; v < V; v++) mx = f[v] > mx ? f[v] : mx;
    for (int v = 0; v < V; v++) s += p[v] = exp(f[v] - mx);
    for (int v = 0; v < V; v++) p[v] /= s;
}

/* Weighted q-quantile of x (n; sorted in place together with w, which may be NULL). */
typedef struct { double x, w; } wx;
static int cmp_wx(const void *a, const void *b) {
    double x = ((const wx *)a)->x, y = ((const wx *)b)->x;
    return (x > y) - (x < y);
}
static double wquantile(wx *v, int64_t n, double q) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_wx);
    double tot = 0, acc = 0;
    for (int64_t i = 0; i < n; i++) tot += v[i].w;
    for (int64_t i = 0; i < n; i++) {
        acc += v[i].w;
        if (acc >= q * tot) return v[i].x;
    }
    return v[n - 1].x;
}

/* Per-row loss of raw scores f against the target (class y or number t): what early stopping
 * watches. */
static double row_loss(const gb_model *g, const double *f, int32_t y, double t) {
    switch (g->obj) {
    case DUET_OBJ_LOGLOSS: {
        if (g->V == 1) {
            double p[2];
            probs(1, f, p);
            return -log(p[y] > 1e-15 ? p[y] : 1e-15);
        }
        double mx = f[0], s = 0;
        for (int v = 1; v < g->V; v++) mx = f[v] > mx ? f[v] : mx;
        for (int v = 0; v < g->V; v++) s += exp(f[v] - mx);
        return -(f[y] - mx - log(s));
    }
    case DUET_OBJ_SQUARED: return (f[0] - t) * (f[0] - t);
    case DUET_OBJ_ABSOLUTE: return fabs(f[0] - t);
    case DUET_OBJ_QUANTILE: return t >= f[0] ? g->quantile * (t - f[0]) : (1 - g->quantile) * (f[0] - t);
    case DUET_OBJ_POISSON: return exp(f[0]) - t * f[0];
    default: return 0;
    }
}

/* --- binning ------------------------------------------------------------------------------- */

typedef struct gb_feat {
    int nb;                   /* value bins; bin nb holds missing values */
    int64_t ncat;             /* > 0: categorical with this many codes */
    float *ub;                /* numeric (nb): bin b holds values <= ub[b] above ub[b-1] */
    uint8_t *cat_bin;         /* categorical (ncat): each code's bin */
    uint8_t zero_bin;         /* sparse features: the bin of 0 */
    int64_t off;              /* first histogram entry */
} gb_feat;

typedef struct gb_bin {
    double g, h;
    int64_t n;
} gb_bin;

typedef struct gb_data {
    int64_t N, F;             /* training rows, features */
    gb_feat *feat;
    int64_t *use, n_use;      /* the features that can split: some min_leaf rows outside their
                                 most common bin (most text terms cannot) */
    int64_t n_hist;           /* histogram entries over all features */
    uint8_t *col;             /* dense: (F, N) bins, column-major */
    int64_t *cptr;            /* sparse: (F+1) CSC of the rows' non-zero values */
    int32_t *crow;
    uint8_t *cbin;
} gb_data;

static void data_free(duet_ctx *ctx, gb_data *d) {
    for (int64_t f = 0; d->feat && f < d->F; f++) {
        dt_free(ctx, d->feat[f].ub);
        dt_free(ctx, d->feat[f].cat_bin);
    }
    dt_free(ctx, d->feat);
    dt_free(ctx, d->use);
    dt_free(ctx, d->col);
    dt_free(ctx, d->cptr);
    dt_free(ctx, d->crow);
    dt_free(ctx, d->cbin);
    memset(d, 0, sizeof *d);
}

/* Sorts v (n finite or infinite floats) ascending: a radix sort of the bits made monotone, four
 * passes of a byte (tmp: n floats). Several times qsort's speed on the 200,000 values a feature
 * is binned from. */
static void sort_floats(float *v, int64_t n, uint32_t *tmp) {
    uint32_t *a = (uint32_t *)(void *)v, *b = tmp;
    for (int64_t i = 0; i < n; i++) a[i] = a[i] >> 31 ? ~a[i] : a[i] | 0x80000000u;
    for (int shift = 0; shift < 32; shift += 8) {
        int64_t cnt[257] = {0};
        for (int64_t i = 0; i < n; i++) cnt[((a[i] >> shift) & 255) + 1]++;
        for (int k = 0; k < 256; k++) cnt[k + 1] += cnt[k];
        for (int64_t i = 0; i < n; i++) b[cnt[(a[i] >> shift) & 255]++] = a[i];
        uint32_t *t = a;
        a = b, b = t;
    }
    /* four passes: the result is back in v */
    for (int64_t i = 0; i < n; i++) a[i] = a[i] >> 31 ? a[i] & 0x7fffffffu : ~a[i];
}

static float midpoint(float a, float b) {
    float m = (float)(((double)a + (double)b) / 2);
    return m >= a && m < b ? m : a;
}

/* Bin edges of a numeric feature from its sorted values v (n, with `zeros` more zeros not in v). */
static int numeric_bins(duet_ctx *ctx, gb_feat *ft, float *v, int64_t n, int64_t zeros, int maxb, duet_err *err) {
    /* distinct values with counts, zeros merged in */
    int64_t u = 0, tot = n + zeros;
    int zero_done = zeros == 0;
    float *dv = dt_alloc_e(ctx, (size_t)n + 2, sizeof(float), "gbdt bins", err);
    int64_t *dc = dt_alloc_e(ctx, (size_t)n + 2, sizeof(int64_t), "gbdt bins", err);
    ft->ub = dt_alloc_e(ctx, 256, sizeof(float), "gbdt bins", err); /* padded for bin_of */
    if (!dv || !dc || !ft->ub) {
        dt_free(ctx, dv);
        dt_free(ctx, dc);
        return DUET_ENOMEM;
    }
    for (int64_t i = 0; i <= n; i++) {
        if (!zero_done && (i == n || v[i] >= 0)) {
            if (u && dv[u - 1] == 0) dc[u - 1] += zeros;
            else if (i < n && v[i] == 0) { dv[u] = 0, dc[u++] = zeros; }
            else dv[u] = 0, dc[u++] = zeros;
            zero_done = 1;
        }
        if (i == n) break;
        if (u && dv[u - 1] == v[i]) dc[u - 1]++;
        else dv[u] = v[i], dc[u++] = 1;
    }
    int nb = 0;
    if (u <= maxb) {
        for (int64_t i = 0; i + 1 < u; i++) ft->ub[nb++] = midpoint(dv[i], dv[i + 1]);
    } else {
        int64_t acc = 0;
        for (int64_t i = 0; i + 1 < u && nb < maxb - 1; i++) {
            acc += dc[i];
            if ((double)acc * maxb >= (double)(nb + 1) * (double)tot) ft->ub[nb++] = midpoint(dv[i], dv[i + 1]);
        }
    }
    ft->ub[nb++] = FLT_MAX;
    ft->nb = nb;
    for (int b = nb; b < 256; b++) ft->ub[b] = FLT_MAX;
    dt_free(ctx, dv);
    dt_free(ctx, dc);
    return DUET_OK;
}

static inline uint8_t bin_of(const gb_feat *ft, float x) {
    if (isnan(x)) return (uint8_t)ft->nb;
    if (ft->ncat) {
        if (!(x >= 0 && x < (double)ft->ncat)) return (uint8_t)ft->nb;
        return ft->cat_bin[(int64_t)x];
    }
    /* the first bin whose upper bound holds x: eight steps without branches (ub is padded to
     * 256 with FLT_MAX; +inf, above them all, goes to the last bin) */
    int b = 0;
    for (int step = 128; step; step >>= 1) b += x > ft->ub[b + step - 1] ? step : 0;
    return (uint8_t)(b < ft->nb - 1 ? b : ft->nb - 1);
}

typedef struct cat_count {
    int64_t code, n;
} cat_count;
static int cmp_cat_desc(const void *a, const void *b) {
    const cat_count *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return (x->code > y->code) - (x->code < y->code);
}

/* Bins every feature from the training rows rows (n) of X and writes the binned data. */
/* Data-parallel runs: buf (n) added across the processes (nothing alone). */
static int reduce_if(duet_ctx *ctx, double *buf, size_t n, duet_err *err) {
    return dt_distributed(ctx) ? dt_reduce(ctx, buf, n, err) : DUET_OK;
}

/* grows (gn): the training rows of all processes, by global index, when data-parallel (each
 * process bins its own rows, with the edges all of them place); NULL alone. */
static int bin_data(duet_ctx *ctx, const duet_model *m, const dt_mat *X, const int64_t *rows, int64_t n, const int64_t *grows,
                    int64_t gn, int maxb, int min_leaf, uint64_t seed, gb_data *d, duet_err *err) {
    int rc = DUET_OK;
    int64_t F = X->D;
    d->N = n, d->F = F;
    d->feat = dt_calloc(ctx, (size_t)F, sizeof(gb_feat));
    if (!d->feat) return dt_err(err, DUET_ENOMEM, "gbdt: out of memory for %lld features", (long long)F);
    /* the rows that place the edges: all, or a seeded sample (of all processes' rows) */
    if (!grows) grows = rows, gn = n;
    int64_t ns = gn < GB_BIN_SAMPLE ? gn : GB_BIN_SAMPLE;
    int64_t *samp = dt_alloc_e(ctx, (size_t)gn + 1, sizeof(int64_t), "gbdt bins", err);
    float *vals = NULL;
    uint32_t *stmp = NULL; /* the sort's scratch */
    double *sv = NULL;     /* data-parallel: the sample's values (ns, F), gathered */
    if (!samp) return DUET_ENOMEM;
    for (int64_t i = 0; i < gn; i++) samp[i] = grows[i];
    if (ns < gn) {
        dt_rng r;
        dt_rng_seed(&r, seed ^ 0xb1b5ULL);
        for (int64_t i = 0; i < ns; i++) {
            int64_t j = i + (int64_t)dt_rng_below(&r, (uint64_t)(gn - i));
            int64_t t = samp[i];
            samp[i] = samp[j], samp[j] = t;
        }
    }
    if (dt_distributed(ctx)) {
        size_t cells;
        if (!X->x) {
            rc = dt_err(err, DUET_EUNSUPPORTED, "gbdt trains data-parallel on tables and dense features, not sparse ones");
            goto fail;
        }
        if (!dt_mul_ok((size_t)ns, (size_t)F, &cells) || !(sv = dt_calloc(ctx, cells + 1, sizeof(double)))) {
            rc = dt_err(err, DUET_ENOMEM, "gbdt: out of memory for the bins' sample");
            goto fail;
        }
        for (int64_t i = 0; i < ns; i++) {
            int64_t loc;
            if (dt_row_here(ctx, samp[i], &loc))
                for (int64_t f = 0; f < F; f++) sv[(size_t)i * (size_t)F + (size_t)f] = X->x[(size_t)loc * (size_t)F + (size_t)f];
        }
        DT_TRY(dt_reduce(ctx, sv, cells, err));
    }
    if (X->x) {
        vals = dt_alloc_e(ctx, (size_t)ns + 1, sizeof(float), "gbdt bins", err);
        stmp = dt_alloc_e(ctx, (size_t)ns + 1, sizeof(uint32_t), "gbdt bins", err);
        if (!vals || !stmp) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        for (int64_t f = 0; f < F; f++) {
            gb_feat *ft = &d->feat[f];
            ft->ncat = dt_pipe_categories(m->pipe, f);
            if (ft->ncat > GB_MAX_CATS) {
                char nm[64];
                rc = dt_err(err, DUET_EINVAL, "gbdt: column '%s' has %lld categories; at most %d are split natively "
                            "(drop the column, or bucket its values)", dt_pipe_feature_name(m->pipe, f, nm, sizeof nm),
                            (long long)ft->ncat, GB_MAX_CATS);
                goto fail;
            }
            if (ft->ncat) { /* the most frequent codes get their own bins, the rest share one */
                cat_count *cc = dt_calloc(ctx, (size_t)ft->ncat, sizeof(cat_count));
                ft->cat_bin = dt_calloc(ctx, (size_t)ft->ncat, 1);
                if (!cc || !ft->cat_bin) {
                    dt_free(ctx, cc);
                    rc = dt_err(err, DUET_ENOMEM, "gbdt: out of memory for categories");
                    goto fail;
                }
                for (int64_t c = 0; c < ft->ncat; c++) cc[c].code = c;
                for (int64_t i = 0; i < n; i++) {
                    float x = X->x[(size_t)rows[i] * (size_t)F + (size_t)f];
                    if (x >= 0 && x < (double)ft->ncat) cc[(int64_t)x].n++;
                }
                if (dt_distributed(ctx)) { /* every process's counts */
                    double *cn = dt_alloc_e(ctx, (size_t)ft->ncat, sizeof(double), "gbdt", err);
                    if (!cn) {
                        dt_free(ctx, cc);
                        rc = DUET_ENOMEM;
                        goto fail;
                    }
                    for (int64_t c = 0; c < ft->ncat; c++) cn[c] = (double)cc[c].n;
                    rc = dt_reduce(ctx, cn, (size_t)ft->ncat, err);
                    for (int64_t c = 0; c < ft->ncat; c++) cc[c].n = (int64_t)cn[c];
                    dt_free(ctx, cn);
                    if (rc) {
                        dt_free(ctx, cc);
                        goto fail;
                    }
                }
                int own = ft->ncat <= maxb ? (int)ft->ncat : maxb - 1;
                if (ft->ncat > own) qsort(cc, (size_t)ft->ncat, sizeof *cc, cmp_cat_desc);
                /* own bins in code order, so the bins of a small category set are its codes */
                for (int64_t c = 0; c < ft->ncat; c++) ft->cat_bin[c] = (uint8_t)own; /* shared bin */
                int64_t *kept = dt_alloc_e(ctx, (size_t)own + 1, sizeof(int64_t), "gbdt bins", err);
                if (!kept) {
                    dt_free(ctx, cc);
                    rc = DUET_ENOMEM;
                    goto fail;
                }
                for (int b = 0; b < own; b++) kept[b] = cc[b].code;
                if (ft->ncat > own) {
                    for (int b = 1; b < own; b++) /* insertion sort: own <= 255 */
                        for (int j = b; j > 0 && kept[j - 1] > kept[j]; j--) {
                            int64_t t = kept[j];
                            kept[j] = kept[j - 1], kept[j - 1] = t;
                        }
                }
                for (int b = 0; b < own; b++) ft->cat_bin[kept[b]] = (uint8_t)b;
                ft->nb = own + (ft->ncat > own);
                dt_free(ctx, kept);
                dt_free(ctx, cc);
                continue;
            }
            int64_t k = 0;
            for (int64_t i = 0; i < ns; i++) {
                float x = sv ? (float)sv[(size_t)i * (size_t)F + (size_t)f] : X->x[(size_t)samp[i] * (size_t)F + (size_t)f];
                if (!isnan(x)) vals[k++] = x;
            }
            sort_floats(vals, k, stmp);
            DT_TRY(numeric_bins(ctx, ft, vals, k, 0, maxb, err));
        }
    } else {
        /* sparse: per-feature values from the CSR rows (zeros implicit) */
        int64_t *cnt = dt_calloc(ctx, (size_t)F + 1, sizeof(int64_t));
        if (!cnt) {
            rc = dt_err(err, DUET_ENOMEM, "gbdt: out of memory");
            goto fail;
        }
        int64_t nnz = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = X->rowptr[rows[i]]; p < X->rowptr[rows[i] + 1]; p++) cnt[X->col[p] + 1]++, nnz++;
        for (int64_t f = 0; f < F; f++) cnt[f + 1] += cnt[f];
        d->cptr = dt_alloc_e(ctx, (size_t)F + 1, sizeof(int64_t), "gbdt bins", err);
        d->crow = dt_alloc_e(ctx, (size_t)nnz + 1, sizeof(int32_t), "gbdt bins", err);
        d->cbin = dt_alloc_e(ctx, (size_t)nnz + 1, 1, "gbdt bins", err);
        vals = dt_alloc_e(ctx, (size_t)nnz + 1, sizeof(float), "gbdt bins", err);
        if (!d->cptr || !d->crow || !d->cbin || !vals || n > INT32_MAX) {
            dt_free(ctx, cnt);
            rc = n > INT32_MAX ? dt_err(err, DUET_ERANGE, "gbdt: more than 2^31 rows of sparse features") : DUET_ENOMEM;
            goto fail;
        }
        memcpy(d->cptr, cnt, ((size_t)F + 1) * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) /* rows in order: each column's rows increase */
            for (int64_t p = X->rowptr[rows[i]]; p < X->rowptr[rows[i] + 1]; p++) {
                int64_t q = cnt[X->col[p]]++;
                d->crow[q] = (int32_t)i;
                vals[q] = X->val[p];
            }
        dt_free(ctx, cnt);
        float *sorted = dt_alloc_e(ctx, (size_t)nnz + 1, sizeof(float), "gbdt bins", err);
        stmp = dt_alloc_e(ctx, (size_t)nnz + 1, sizeof(uint32_t), "gbdt bins", err);
        if (!sorted || !stmp) {
            dt_free(ctx, sorted);
            rc = DUET_ENOMEM;
            goto fail;
        }
        for (int64_t f = 0; f < F && !rc; f++) {
            gb_feat *ft = &d->feat[f];
            int64_t a = d->cptr[f], b = d->cptr[f + 1], k = 0;
            for (int64_t q = a; q < b; q++)
                if (!isnan(vals[q])) sorted[k++] = vals[q];
            sort_floats(sorted, k, stmp);
            rc = numeric_bins(ctx, ft, sorted, k, n - (b - a), maxb, err);
            if (!rc) {
                ft->zero_bin = bin_of(ft, 0.0f);
                for (int64_t q = a; q < b; q++) d->cbin[q] = bin_of(ft, vals[q]);
            }
        }
        dt_free(ctx, sorted);
        if (rc) goto fail;
    }
    if (X->x) {
        size_t cells;
        if (!dt_mul_ok((size_t)F, (size_t)n, &cells) || !(d->col = dt_alloc_e(ctx, cells ? cells : 1, 1, "gbdt binned data", err))) {
            rc = DUET_ENOMEM;
            goto fail;
        }
#pragma omp parallel for schedule(static) num_threads(dt_threads(ctx)) if (n * F > 100000)
        for (int64_t i = 0; i < n; i++) { /* row by row: X is read once, in order */
            const float *x = X->x + (size_t)rows[i] * (size_t)F;
            for (int64_t f = 0; f < F; f++) d->col[(size_t)f * (size_t)n + (size_t)i] = bin_of(&d->feat[f], x[f]);
        }
    }
    /* the features that can split, and their histograms' places */
    d->use = dt_alloc_e(ctx, (size_t)F + 1, sizeof(int64_t), "gbdt", err);
    if (!d->use) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    d->n_hist = d->n_use = 0;
    double *cnt = dt_alloc_e(ctx, (size_t)F * 256 + 1, sizeof(double), "gbdt", err);
    if (!cnt) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    memset(cnt, 0, (size_t)F * 256 * sizeof(double));
    for (int64_t f = 0; f < F; f++) {
        double *cf = cnt + (size_t)f * 256;
        if (d->col) {
            const uint8_t *c = d->col + (size_t)f * (size_t)n;
            for (int64_t i = 0; i < n; i++) cf[c[i]]++;
        } else {
            cf[d->feat[f].zero_bin] = (double)(n - (d->cptr[f + 1] - d->cptr[f]));
            for (int64_t q = d->cptr[f]; q < d->cptr[f + 1]; q++) cf[d->cbin[q]]++;
        }
    }
    rc = reduce_if(ctx, cnt, (size_t)F * 256, err); /* every process's rows decide */
    for (int64_t f = 0; f < F && !rc; f++) {
        double most = 0, *cf = cnt + (size_t)f * 256;
        for (int b = 0; b < 256; b++) most = cf[b] > most ? cf[b] : most;
        d->feat[f].off = -1;
        if ((double)gn - most < min_leaf) continue;
        d->use[d->n_use++] = f;
        d->feat[f].off = d->n_hist;
        d->n_hist += d->feat[f].nb + 1;
    }
    dt_free(ctx, cnt);
    if (rc) goto fail;
    if (!d->n_hist) d->n_hist = 1;
fail:
    dt_free(ctx, samp);
    dt_free(ctx, vals);
    dt_free(ctx, stmp);
    dt_free(ctx, sv);
    return rc;
}

/* --- growing one tree ------------------------------------------------------------------------- */

typedef struct gb_set {
    int feat;                 /* best split's feature, -1 when none */
    double gain;
    int bin;                  /* numeric: bins <= bin go left */
    int dleft;                /* missing goes left */
    uint8_t catleft[256];     /* categorical: which bins go left */
    double GL, HL;
    int64_t nL;
} gb_split;

typedef struct gb_leaf {
    int64_t begin, end;       /* its rows: idx[begin..end) */
    int32_t node;             /* its node in the tree being grown */
    int depth;
    gb_bin *hist;             /* (n_hist) or NULL */
    double G, H;
    int64_t n;
    gb_split best;
} gb_leaf;

typedef struct gb_grow {
    duet_ctx *ctx;
    const gb_data *d;
    const duet_train_params *p;
    int leaves, depth, min_leaf;
    double lambda;
    const double *g, *h;      /* (N) this tree's gradients and hessians */
    double *og, *oh;          /* (N) scratch: a leaf's, in its rows' order */
    int64_t *idx, *tmp;       /* (N) rows, partitioned by leaf */
    int32_t *leaf_id;         /* (N) sparse data: each row's leaf slot */
    uint8_t *rowbin;          /* (N) scratch: a feature's bin per row (sparse partitions) */
    uint8_t *go;              /* (N) scratch: whether each row of a leaf being split goes left */
    const uint8_t *active;    /* (F) features this tree may split on */
    gb_leaf *lv;              /* (leaves) */
    int nl;
    gb_bin **pool;            /* free histograms */
    int npool;
} gb_grow;

static double leaf_score(double G, double H, double lambda) { return G * G / (H + lambda); }

static gb_bin *hist_get(gb_grow *s) {
    if (s->npool) return s->pool[--s->npool];
    return dt_alloc(s->ctx, (size_t)s->d->n_hist * sizeof(gb_bin));
}
static void hist_put(gb_grow *s, gb_bin *h) {
    if (h) s->pool[s->npool++] = h;
}

/* Histogram of leaf l's rows into out. */
static void build_hist(gb_grow *s, const gb_leaf *l, int slot, gb_bin *out) {
    const gb_data *d = s->d;
    int64_t cnt = l->end - l->begin;
    const int64_t *rows = s->idx + l->begin;
    /* threads only for work worth a fork and a barrier (~100 us): small leaves alone are faster,
     * and far faster when other processes hold the cores */
    int big = cnt * d->n_use > 200000;
    (void)big; /* (a build without OpenMP does not read it) */
    double *og = s->og, *oh = s->oh; /* the leaf's gradients in its rows' order: read in sequence */
    if (d->col)
#pragma omp parallel for schedule(static) num_threads(dt_threads(s->ctx)) if (cnt > 65536)
        for (int64_t k = 0; k < cnt; k++) og[k] = s->g[rows[k]], oh[k] = s->h[rows[k]];
#pragma omp parallel for schedule(dynamic, 1) num_threads(dt_threads(s->ctx)) if (big)
    for (int64_t u = 0; u < d->n_use; u++) {
        int64_t f = d->use[u];
        const gb_feat *ft = &d->feat[f];
        gb_bin *hb = out + ft->off;
        memset(hb, 0, (size_t)(ft->nb + 1) * sizeof(gb_bin));
        if (!s->active[f]) continue;
        if (d->col) {
            const uint8_t *c = d->col + (size_t)f * (size_t)d->N;
            for (int64_t k = 0; k < cnt; k++) {
                gb_bin *e = hb + c[rows[k]];
                e->g += og[k];
                e->h += oh[k];
                e->n++;
            }
        } else {
            double G = 0, H = 0;
            int64_t n = 0;
            for (int64_t q = d->cptr[f]; q < d->cptr[f + 1]; q++) {
                int32_t r = d->crow[q];
                if (s->leaf_id[r] != slot) continue;
                gb_bin *e = hb + d->cbin[q];
                e->g += s->g[r];
                e->h += s->h[r];
                e->n++;
                G += s->g[r], H += s->h[r], n++;
            }
            gb_bin *z = hb + ft->zero_bin;
            z->g += l->G - G;
            z->h += l->H - H;
            z->n += l->n - n;
        }
    }
}

typedef struct cat_ord {
    int bin;
    double key;
} cat_ord;
static int cmp_cat_ord(const void *a, const void *b) {
    const cat_ord *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->bin - y->bin;
}

/* The gain of sending GL, HL, nL of leaf l left; -1 when the left side is too small (a scan
 * goes on), -2 when the right side is (a scan stops). */
static inline double split_gain(const gb_grow *s, const gb_leaf *l, double lam, double parent, double GL, double HL, int64_t nL) {
    double GR = l->G - GL, HR = l->H - HL;
    if (nL < s->min_leaf || HL < GB_MIN_HESS) return -1;
    if (l->n - nL < s->min_leaf || HR < GB_MIN_HESS) return -2;
    double gain = leaf_score(GL, HL, lam) + leaf_score(GR, HR, lam) - parent;
    return gain > 0 ? gain : 0; /* (never a flag: rounding may leave a useless split below 0) */
}

/* The best split of one feature of leaf l, into *b when better. */
static void best_of_feature(const gb_grow *s, const gb_leaf *l, int64_t f, gb_split *b) {
    const gb_feat *ft = &s->d->feat[f];
    const gb_bin *hb = l->hist + ft->off;
    double lam = s->lambda, H = l->H, parent = leaf_score(l->G, H, lam);
    const gb_bin *mb = hb + ft->nb; /* missing */
    if (ft->ncat) {
        cat_ord ord[256];
        int m = 0;
        for (int k = 0; k < ft->nb; k++)
            if (hb[k].n >= GB_CAT_MIN) ord[m].bin = k, ord[m++].key = hb[k].g / (hb[k].h + GB_CAT_SMOOTH);
        if (m < 1) return;
        qsort(ord, (size_t)m, sizeof *ord, cmp_cat_ord);
        double GL = 0, HL = 0;
        int64_t nL = 0;
        for (int i = 0; i < m; i++) {
            const gb_bin *e = hb + ord[i].bin;
            GL += e->g, HL += e->h, nL += e->n;
            double gain = split_gain(s, l, lam, parent, GL, HL, nL);
            if (gain == -1) continue;
            if (gain == -2) break;
            if (gain > b->gain && gain > 1e-12) { /* exact: the first best, in any blocking */
                b->feat = (int)f, b->gain = gain, b->dleft = 0, b->bin = -1;
                b->GL = GL, b->HL = HL, b->nL = nL;
                memset(b->catleft, 0, sizeof b->catleft);
                for (int j = 0; j <= i; j++) b->catleft[ord[j].bin] = 1;
            }
        }
        return;
    }
    for (int dir = 0; dir < 2; dir++) { /* missing right, then left */
        if (dir == 1 && mb->n == 0) break;
        double GL = dir ? mb->g : 0, HL = dir ? mb->h : 0;
        int64_t nL = dir ? mb->n : 0;
        /* with missing values on the right, every value may go left too: value or missing */
        int last = dir == 0 && mb->n ? ft->nb : ft->nb - 1;
        for (int k = 0; k < last; k++) {
            GL += hb[k].g, HL += hb[k].h, nL += hb[k].n;
            double gain = split_gain(s, l, lam, parent, GL, HL, nL);
            if (gain == -1) continue;
            if (gain == -2) break;
            if (gain > b->gain && gain > 1e-12) { /* exact: the first best, in any blocking */
                b->feat = (int)f, b->gain = gain, b->bin = k;
                /* without missing values in training, unseen ones follow the heavier side */
                b->dleft = mb->n ? dir : HL >= H - HL;
                b->GL = GL, b->HL = HL, b->nL = nL;
            }
        }
    }
}

static void find_best(gb_grow *s, gb_leaf *l) {
    l->best.feat = -1;
    l->best.gain = 0;
    if (l->n < 2 * (int64_t)s->min_leaf || (s->depth && l->depth >= s->depth)) return;
    const gb_data *d = s->d;
    int64_t F = d->n_use;
    int nt = dt_threads(s->ctx);
    gb_split *per = dt_calloc(s->ctx, (size_t)nt, sizeof(gb_split));
    if (!per) { /* out of memory: the features one after the other */
        for (int64_t u = 0; u < F; u++)
            if (s->active[d->use[u]]) best_of_feature(s, l, d->use[u], &l->best);
        return;
    }
    /* each thread takes a contiguous block of features and keeps its best; blocks are merged in
     * feature order, so the winner is the first best feature whatever the thread count */
    for (int t = 0; t < nt; t++) per[t].feat = -1;
#pragma omp parallel num_threads(nt) if (d->n_hist > 50000)
    {
        int t = 0, T = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        T = omp_get_num_threads();
#endif
        int64_t ck = (F + T - 1) / T;
        gb_split *b = &per[t];
        b->feat = -1;
        b->gain = 0;
        for (int64_t u = (int64_t)t * ck; u < F && u < (int64_t)(t + 1) * ck; u++)
            if (s->active[d->use[u]]) best_of_feature(s, l, d->use[u], b);
    }
    for (int t = 0; t < nt; t++)
        if (per[t].feat >= 0 && (l->best.feat < 0 || per[t].gain > l->best.gain))
            l->best = per[t];
    dt_free(s->ctx, per);
}

/* Appends a node to tree (nodes from `first`), a leaf for now. */
static int new_node(duet_ctx *ctx, gb_model *g, double G, double H, double lambda, double lr, duet_err *err) {
    int rc = dt_gb_grow_nodes(ctx, g, g->n_nodes + 1, err);
    if (rc) return rc;
    int64_t n = g->n_nodes++;
    g->feat[n] = -1;
    g->thr[n] = 0;
    g->left[n] = g->right[n] = -1;
    g->flags[n] = 0;
    g->value[n] = -G / (H + lambda) * lr;
    g->cover[n] = H;
    g->gain[n] = 0;
    g->cat_at[n] = -1;
    g->cat_n[n] = 0;
    return DUET_OK;
}

/* Writes leaf l's split into its node: threshold or category set. */
static int set_split(duet_ctx *ctx, gb_model *g, const gb_data *d, int64_t n, const gb_split *b, duet_err *err) {
    const gb_feat *ft = &d->feat[b->feat];
    g->feat[n] = b->feat;
    g->gain[n] = b->gain;
    g->flags[n] = b->dleft ? GB_LEFT : 0;
    if (!ft->ncat) {
        g->thr[n] = ft->ub[b->bin];
        return DUET_OK;
    }
    g->flags[n] |= GB_CAT;
    int64_t words = (ft->ncat + 31) / 32;
    if (g->n_words + words > g->cap_words) {
        int64_t cap = g->cap_words ? g->cap_words : 256;
        while (cap < g->n_words + words) cap *= 2;
        uint32_t *w = dt_realloc(ctx, g->cat_words, (size_t)cap * sizeof(uint32_t));
        if (!w) return dt_err(err, DUET_ENOMEM, "gbdt: out of memory for category sets");
        g->cat_words = w;
        g->cap_words = cap;
    }
    uint32_t *w = g->cat_words + g->n_words;
    memset(w, 0, (size_t)words * sizeof(uint32_t));
    for (int64_t c = 0; c < ft->ncat; c++)
        if (b->catleft[ft->cat_bin[c]]) w[c / 32] |= 1u << (c % 32);
    g->cat_at[n] = g->n_words;
    g->cat_n[n] = (int32_t)words;
    g->n_words += words;
    return DUET_OK;
}

/* Data-parallel: histogram h added across the processes (counts travel as doubles, exact to
 * 2^53), so every process finds the same split. */
static int hist_reduce(gb_grow *s, gb_bin *h, duet_err *err) {
    if (!dt_distributed(s->ctx)) return DUET_OK;
    size_t n = (size_t)s->d->n_hist;
    double *buf = dt_alloc_e(s->ctx, 3 * n, sizeof(double), "gbdt histogram", err);
    if (!buf) return DUET_ENOMEM;
    for (size_t e = 0; e < n; e++) buf[3 * e] = h[e].g, buf[3 * e + 1] = h[e].h, buf[3 * e + 2] = (double)h[e].n;
    int rc = dt_reduce(s->ctx, buf, 3 * n, err);
    for (size_t e = 0; !rc && e < n; e++) h[e].g = buf[3 * e], h[e].h = buf[3 * e + 1], h[e].n = (int64_t)buf[3 * e + 2];
    dt_free(s->ctx, buf);
    return rc;
}

/* Whether binned row r goes left under split b (sparse data: rowbin holds the bins). */
static inline int row_left(const gb_grow *s, const gb_split *b, int64_t r) {
    const gb_feat *ft = &s->d->feat[b->feat];
    uint8_t bin = s->d->col ? s->d->col[(size_t)b->feat * (size_t)s->d->N + (size_t)r] : s->rowbin[r];
    if (bin == ft->nb) return b->dleft;
    return ft->ncat ? b->catleft[bin] : bin <= b->bin;
}

/* Grows one tree on rows idx[0..n) into g (appended: nodes from g->n_nodes); lr scales the
 * leaves. When out_leaf is not NULL, each row's leaf node (global) goes to out_leaf[row]. */
static int grow_tree(gb_grow *s, gb_model *g, int64_t n, double lr, int64_t *out_leaf, duet_err *err) {
    duet_ctx *ctx = s->ctx;
    const gb_data *d = s->d;
    int rc = DUET_OK;
    int64_t first = g->n_nodes;
    double tot[3] = {0, 0, (double)n}; /* G, H, rows: every process's */
    for (int64_t k = 0; k < n; k++) tot[0] += s->g[s->idx[k]], tot[1] += s->h[s->idx[k]];
    DT_TRY(reduce_if(ctx, tot, 3, err));
    double G = tot[0], H = tot[1];
    DT_TRY(new_node(ctx, g, G, H, s->lambda, lr, err));
    s->nl = 1;
    gb_leaf *root = &s->lv[0];
    memset(root, 0, sizeof *root);
    root->begin = 0, root->end = n, root->node = 0, root->G = G, root->H = H, root->n = (int64_t)tot[2];
    if (s->leaf_id)
        for (int64_t k = 0; k < n; k++) s->leaf_id[s->idx[k]] = 0;
    if (!(root->hist = hist_get(s))) {
        rc = dt_err_nomem(ctx, err, "gbdt histogram", (size_t)d->n_hist * sizeof(gb_bin));
        goto fail;
    }
    build_hist(s, root, 0, root->hist);
    DT_TRY(hist_reduce(s, root->hist, err));
    find_best(s, root);
    while (s->nl < s->leaves) {
        int bi = -1;
        for (int i = 0; i < s->nl; i++)
            if (s->lv[i].best.feat >= 0 && (bi < 0 || s->lv[i].best.gain > s->lv[bi].best.gain)) bi = i;
        if (bi < 0) break;
        gb_leaf *l = &s->lv[bi];
        gb_split b = l->best;
        int64_t node = first + l->node;
        DT_TRY(set_split(ctx, g, d, node, &b, err));
        if (!d->col) { /* this feature's bin of every row in the leaf */
            const gb_feat *ft = &d->feat[b.feat];
            for (int64_t k = l->begin; k < l->end; k++) s->rowbin[s->idx[k]] = ft->zero_bin;
            for (int64_t q = d->cptr[b.feat]; q < d->cptr[b.feat + 1]; q++)
                if (s->leaf_id[d->crow[q]] == bi) s->rowbin[d->crow[q]] = d->cbin[q];
        }
        /* stable partition: left rows first, each side in row order (the result is the same
         * however the rows are cut into blocks, so large leaves take threads) */
        int64_t nl = 0, cnt = l->end - l->begin;
        int64_t *rows = s->idx + l->begin;
        int nb = cnt > 65536 ? dt_threads(ctx) : 1;
        if (nb > 64) nb = 64;
        int64_t lefts[65] = {0};
#pragma omp parallel num_threads(nb) if (nb > 1)
        {
            int t = 0, T = 1;
#ifdef _OPENMP
            t = omp_get_thread_num(), T = omp_get_num_threads();
#endif
            int64_t k0 = cnt * t / T, k1 = cnt * (t + 1) / T, c = 0;
            uint8_t *go = s->go + l->begin;
            for (int64_t k = k0; k < k1; k++) c += go[k] = (uint8_t)row_left(s, &b, rows[k]);
            lefts[t + 1] = c;
#pragma omp barrier
#pragma omp single
            for (int u = 0; u < T; u++) lefts[u + 1] += lefts[u];
            int64_t ol = lefts[t], orr = lefts[T] + (k0 - lefts[t]); /* this block's first left, first right */
            for (int64_t k = k0; k < k1; k++) {
                if (go[k]) s->tmp[ol++] = rows[k];
                else s->tmp[orr++] = rows[k];
            }
#pragma omp barrier
            memcpy(rows + k0, s->tmp + k0, (size_t)(k1 - k0) * sizeof(int64_t));
#pragma omp single nowait
            nl = lefts[T];
        }
        DT_ASSERT(nl == b.nL || dt_distributed(ctx)); /* data-parallel: nL counts every process's rows */
        /* children: left takes a new slot, right keeps the parent's */
        gb_leaf L = {0}, R = {0};
        L.begin = l->begin, L.end = l->begin + nl, L.depth = R.depth = l->depth + 1;
        R.begin = l->begin + nl, R.end = l->end;
        L.G = b.GL, L.H = b.HL, L.n = b.nL;
        R.G = l->G - b.GL, R.H = l->H - b.HL, R.n = l->n - b.nL;
        int32_t li = (int32_t)(g->n_nodes - first);
        DT_TRY(new_node(ctx, g, L.G, L.H, s->lambda, lr, err));
        int32_t ri = (int32_t)(g->n_nodes - first);
        DT_TRY(new_node(ctx, g, R.G, R.H, s->lambda, lr, err));
        g->left[node] = li, g->right[node] = ri;
        L.node = li, R.node = ri;
        int ls = s->nl++;
        s->lv[ls].hist = NULL; /* nothing of an earlier tree's: the slot is filled below */
        if (s->leaf_id)
            for (int64_t k = L.begin; k < L.end; k++) s->leaf_id[s->idx[k]] = ls;
        /* histograms: the smaller child's built, the larger's by subtraction */
        gb_bin *parent = l->hist;
        gb_bin *small = hist_get(s);
        if (!small) {
            hist_put(s, parent);
            l->hist = NULL;
            rc = dt_err_nomem(ctx, err, "gbdt histogram", (size_t)d->n_hist * sizeof(gb_bin));
            goto fail;
        }
        int left_small = L.n <= R.n;
        build_hist(s, left_small ? &L : &R, left_small ? ls : bi, small);
        if ((rc = hist_reduce(s, small, err))) {
            hist_put(s, small);
            hist_put(s, parent);
            s->lv[bi].hist = NULL;
            goto fail;
        }
        for (int64_t e = 0; e < d->n_hist; e++) {
            parent[e].g -= small[e].g;
            parent[e].h -= small[e].h;
            parent[e].n -= small[e].n;
        }
        L.hist = left_small ? small : parent;
        R.hist = left_small ? parent : small;
        s->lv[bi] = R;
        s->lv[ls] = L;
        find_best(s, &s->lv[bi]);
        find_best(s, &s->lv[ls]);
    }
    for (int i = 0; i < s->nl; i++) {
        gb_leaf *l = &s->lv[i];
        if (out_leaf)
            for (int64_t k = l->begin; k < l->end; k++) out_leaf[s->idx[k]] = first + l->node;
    }
fail:
    for (int i = 0; i < s->nl; i++) {
        hist_put(s, s->lv[i].hist);
        s->lv[i].hist = NULL;
    }
    return rc;
}

/* --- fitting ------------------------------------------------------------------------------- */

typedef struct gb_opts {
    int obj, rounds, early, leaves, depth, min_leaf, bins, patience;
    int refit;                /* 1: the run on all rows after early stopping chose the rounds */
    double lr, lambda, subsample, colsample, quantile, val_split;
} gb_opts;

static int resolve(const duet_ctx *ctx, const dt_fit_args *a, gb_opts *o, duet_err *err) {
    const duet_train_params *p = a->p;
    int numbers = a->K == 0;
    o->refit = 0;
    o->obj = p->objective ? p->objective : numbers ? DUET_OBJ_SQUARED : DUET_OBJ_LOGLOSS;
    if (o->obj < DUET_OBJ_LOGLOSS || o->obj > DUET_OBJ_POISSON) return dt_err(err, DUET_EINVAL, "gbdt: unknown objective %d", o->obj);
    if (numbers && o->obj == DUET_OBJ_LOGLOSS)
        return dt_err(err, DUET_EINVAL, "gbdt: log-loss is for classes, and this target is a number (objectives for numbers: "
                      "squared, absolute, quantile, poisson)");
    if (!numbers && o->obj != DUET_OBJ_LOGLOSS)
        return dt_err(err, DUET_EINVAL, "gbdt: the %s objective is for numbers, and this target is a class (use logloss, or "
                      "--task regression)", dt_gb_objective_name(o->obj));
    o->early = p->early_stop >= 0;
    o->rounds = p->rounds ? p->rounds : o->early ? 1000 : 100;
    o->leaves = p->leaves ? p->leaves : 31;
    o->depth = p->depth;
    o->min_leaf = p->min_leaf ? p->min_leaf : 20;
    o->bins = p->bins ? p->bins : GB_MAX_BINS;
    o->patience = p->patience ? p->patience : 20;
    o->lr = p->lr ? p->lr : 0.1;
    o->lambda = p->reg_lambda ? (p->reg_lambda < 0 ? 0 : p->reg_lambda) : 1;
    o->subsample = p->subsample ? p->subsample : 1;
    o->colsample = p->colsample ? p->colsample : 1;
    o->quantile = p->quantile ? p->quantile : 0.5;
    o->val_split = p->val_split ? p->val_split : 0.1;
    if (o->rounds < 1 || o->rounds > 1000000) return dt_err(err, DUET_EINVAL, "gbdt: rounds must be in 1..1000000 (got %d)", o->rounds);
    if (o->leaves < 2 || o->leaves > GB_MAX_LEAVES)
        return dt_err(err, DUET_EINVAL, "gbdt: leaves must be in 2..%d (got %d)", GB_MAX_LEAVES, o->leaves);
    if (o->depth < 0 || o->depth > GB_MAX_DEPTH) return dt_err(err, DUET_EINVAL, "gbdt: depth must be in 1..%d (got %d)", GB_MAX_DEPTH, o->depth);
    if (o->min_leaf < 1) return dt_err(err, DUET_EINVAL, "gbdt: min-leaf must be at least 1 (got %d)", o->min_leaf);
    if (o->bins < 2 || o->bins > GB_MAX_BINS) return dt_err(err, DUET_EINVAL, "gbdt: bins must be in 2..%d (got %d)", GB_MAX_BINS, o->bins);
    if (!(o->lr > 0 && o->lr <= 10)) return dt_err(err, DUET_EINVAL, "gbdt: the learning rate must be in (0, 10] (got %g)", o->lr);
    if (!(o->lambda >= 0) || isinf(o->lambda)) return dt_err(err, DUET_EINVAL, "gbdt: lambda must be >= 0 (got %g)", o->lambda);
    if (!(o->subsample > 0 && o->subsample <= 1)) return dt_err(err, DUET_EINVAL, "gbdt: subsample must be in (0, 1] (got %g)", o->subsample);
    if (!(o->colsample > 0 && o->colsample <= 1)) return dt_err(err, DUET_EINVAL, "gbdt: colsample must be in (0, 1] (got %g)", o->colsample);
    if (!(o->quantile > 0 && o->quantile < 1)) return dt_err(err, DUET_EINVAL, "gbdt: the quantile must be in (0, 1) (got %g)", o->quantile);
    if (!(o->val_split > 0 && o->val_split < 1)) return dt_err(err, DUET_EINVAL, "gbdt: the held-out share must be in (0, 1) (got %g)", o->val_split);
    if (dt_distributed(ctx) && (o->obj == DUET_OBJ_ABSOLUTE || o->obj == DUET_OBJ_QUANTILE || o->subsample < 1))
        return dt_err(err, DUET_EUNSUPPORTED, "gbdt: data-parallel training takes the logloss, squared and poisson objectives "
                      "without row subsampling (leaves set to quantiles, and row draws, are not shared yet); train in one process");
    if (p->quantile && o->obj != DUET_OBJ_QUANTILE)
        return dt_err(err, DUET_EINVAL, "gbdt: a quantile level is for the quantile objective (--objective quantile)");
    return DUET_OK;
}

/* Gradients and hessians of tree v of the round for the training rows rows (n). */
static void gradients(const gb_model *g, const gb_opts *o, const dt_fit_args *a, const int64_t *rows, int64_t n,
                      const double *F, int v, double *gr, double *he, int nt) {
    (void)nt;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t k = 0; k < n; k++) {
        int64_t i = rows[k];
        const double *f = F + (size_t)k * (size_t)g->V;
        double w = a->sw ? a->sw[i] : 1, gg, hh;
        switch (o->obj) {
        case DUET_OBJ_LOGLOSS:
            if (g->V == 1) {
                double p = sigmoid(f[0]);
                gg = p - (a->y[i] == 1);
                hh = p * (1 - p);
            } else {
                double mx = f[0], s = 0;
                for (int u = 1; u < g->V; u++) mx = f[u] > mx ? f[u] : mx;
                for (int u = 0; u < g->V; u++) s += exp(f[u] - mx);
                double p = exp(f[v] - mx) / s;
                gg = p - (a->y[i] == v);
                hh = (double)g->V / (g->V - 1) * p * (1 - p);
            }
            if (hh < 1e-16) hh = 1e-16;
            break;
        case DUET_OBJ_SQUARED: gg = f[0] - a->t[i], hh = 1; break;
        case DUET_OBJ_ABSOLUTE: gg = f[0] > a->t[i] ? 1 : f[0] < a->t[i] ? -1 : 0, hh = 1; break;
        case DUET_OBJ_QUANTILE: gg = a->t[i] > f[0] ? -o->quantile : 1 - o->quantile, hh = 1; break;
        default: /* Poisson */ gg = exp(f[0]) - a->t[i], hh = exp(f[0] + GB_POISSON_DELTA); break;
        }
        gr[i] = gg * w, he[i] = hh * w;
    }
}

static int base_scores(duet_ctx *ctx, gb_model *g, const gb_opts *o, const dt_fit_args *a, const int64_t *rows, int64_t n,
                       duet_err *err) {
    int rc = DUET_OK;
    if (o->obj == DUET_OBJ_LOGLOSS) {
        int K = g->V == 1 ? 2 : g->V;
        double *c = dt_calloc(ctx, (size_t)K + 1, sizeof(double)); /* class weights, then their sum */
        if (!c) return dt_err(err, DUET_ENOMEM, "gbdt: out of memory");
        for (int64_t k = 0; k < n; k++) {
            double w = a->sw ? a->sw[rows[k]] : 1;
            c[a->y[rows[k]]] += w, c[K] += w;
        }
        rc = reduce_if(ctx, c, (size_t)K + 1, err);
        double W = c[K];
        if (!rc && g->V == 1) {
            double p = (c[1] + 1e-3) / (W + 2e-3);
            g->base[0] = log(p / (1 - p));
        } else if (!rc) {
            for (int v = 0; v < K; v++) g->base[v] = log((c[v] + 1e-3) / (W + K * 1e-3));
        }
        dt_free(ctx, c);
        return rc;
    }
    if (o->obj == DUET_OBJ_SQUARED || o->obj == DUET_OBJ_POISSON) {
        double sums[3] = {0, 0, 0}; /* weight, weighted targets, rows below 0 */
        int64_t bad = -1;
        for (int64_t k = 0; k < n; k++) {
            double w = a->sw ? a->sw[rows[k]] : 1;
            sums[0] += w, sums[1] += w * a->t[rows[k]];
            if (a->t[rows[k]] < 0 && bad < 0) bad = k;
        }
        sums[2] = bad >= 0;
        DT_TRY(reduce_if(ctx, sums, 3, err)); /* every process learns of a bad row, and stops */
        if (o->obj == DUET_OBJ_POISSON && sums[2] > 0) {
            if (bad >= 0)
                return dt_err(err, DUET_EINVAL, "gbdt: the Poisson objective models counts, and the target of row %lld is %g, "
                              "below 0", (long long)rows[bad] + 1, a->t[rows[bad]]);
            return dt_err(err, DUET_EINVAL, "gbdt: the Poisson objective models counts, and another process has a target below 0");
        }
        double mean = sums[1] / sums[0];
        if (o->obj == DUET_OBJ_POISSON && !(mean > 0))
            return dt_err(err, DUET_EINVAL, "gbdt: the Poisson objective needs some targets above 0 (their mean is %g)", mean);
        g->base[0] = o->obj == DUET_OBJ_POISSON ? log(mean) : mean;
        return DUET_OK;
    }
    wx *v = dt_alloc_e(ctx, (size_t)n + 1, sizeof(wx), "gbdt", err);
    if (!v) return DUET_ENOMEM;
    for (int64_t k = 0; k < n; k++) v[k].x = a->t[rows[k]], v[k].w = a->sw ? a->sw[rows[k]] : 1;
    g->base[0] = wquantile(v, n, o->obj == DUET_OBJ_QUANTILE ? o->quantile : 0.5);
    dt_free(ctx, v);
    return DUET_OK;
fail:
    return rc;
}

/* Absolute and quantile losses: each leaf of the tree just grown takes the weighted quantile of
 * its rows' residuals (times lr). */
static int renew_leaves(duet_ctx *ctx, gb_model *g, const gb_opts *o, const dt_fit_args *a, const gb_grow *s,
                        const double *F, const int64_t *pos, int64_t first, duet_err *err) {
    int64_t nmax = 0;
    for (int i = 0; i < s->nl; i++) nmax = s->lv[i].end - s->lv[i].begin > nmax ? s->lv[i].end - s->lv[i].begin : nmax;
    wx *v = dt_alloc_e(ctx, (size_t)nmax + 1, sizeof(wx), "gbdt", err);
    if (!v) return DUET_ENOMEM;
    double q = o->obj == DUET_OBJ_QUANTILE ? o->quantile : 0.5;
    for (int i = 0; i < s->nl; i++) {
        const gb_leaf *l = &s->lv[i];
        int64_t m = 0;
        for (int64_t k = l->begin; k < l->end; k++) {
            int64_t i2 = s->idx[k];
            v[m].x = a->t[i2] - F[pos[i2]];
            v[m++].w = a->sw ? a->sw[i2] : 1;
        }
        g->value[first + l->node] = o->lr * wquantile(v, m, q);
    }
    dt_free(ctx, v);
    return DUET_OK;
}

/* One boosting run with settings o (early stopping when o->early and the rows allow): the trees
 * into m->state; *held_out receives how many rows were held out (0: none). */
static int fit_once(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, const gb_opts *op, int64_t *held_out,
                    duet_err *err) {
    gb_opts o = *op;
    int rc = DUET_OK;
    *held_out = 0;
    if (m->state) { /* tuning refits: start afresh */
        dt_gb_free(ctx, m->state);
        m->state = NULL;
    }
    const dt_mat *X = a->X;
    int64_t N = X->N, D = X->D;
    int nt = dt_threads(ctx);
    gb_model *g = dt_calloc(ctx, 1, sizeof *g);
    gb_data d = {0};
    gb_grow s = {0};
    int64_t *tr = NULL, *va = NULL, *row_pos = NULL, *leaf = NULL, *gtr = NULL;
    double *F = NULL, *Fv = NULL, *gr = NULL, *he = NULL;
    uint8_t *active = NULL, *inuse = NULL;
    int64_t *perm = NULL;
    if (!g) return dt_err(err, DUET_ENOMEM, "gbdt: out of memory");
    g->obj = o.obj;
    g->quantile = o.quantile;
    g->V = a->K > 2 ? a->K : 1;
    g->D = D;
    g->base = dt_calloc(ctx, (size_t)g->V, sizeof(double));
    g->start = dt_calloc(ctx, 1, sizeof(int64_t));
    if (!g->base || !g->start) {
        rc = dt_err(err, DUET_ENOMEM, "gbdt: out of memory");
        goto fail;
    }
    /* the held-out share for early stopping: stratified by class, else random */
    int64_t ntr = N, nva = 0;
    tr = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "gbdt rows", err);
    va = dt_alloc_e(ctx, (size_t)N + 1, sizeof(int64_t), "gbdt rows", err);
    perm = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "gbdt rows", err);
    if (!tr || !va || !perm) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    /* data-parallel: this process holds rows g = k * size + rank of all Nall; the held-out share
     * and the bins' sample are drawn over all of them, as one process draws them */
    int dist = dt_distributed(ctx);
    int64_t Nall = N, gntr = 0;
    if (dist) DT_TRY(dt_reduce_count(ctx, &Nall, err));
    int early = o.early && (double)Nall * o.val_split >= 20;
    if (o.early && !early && a->verbose)
        dt_log(ctx, 0, "gbdt: %lld rows are too few to hold some out for early stopping; %d rounds on them all", (long long)Nall,
               o.rounds);
    if (dist) {
        gtr = dt_alloc_e(ctx, (size_t)Nall + 1, sizeof(int64_t), "gbdt rows", err);
        if (!gtr) {
            rc = DUET_ENOMEM;
            goto fail;
        }
    }
    if (early) {
        int folds = (int)lround(1 / o.val_split);
        if (folds < 2) folds = 2;
        int *fold = dt_alloc_e(ctx, (size_t)Nall + 1, sizeof(int), "gbdt rows", err);
        int64_t *gperm = dist ? dt_alloc_e(ctx, (size_t)Nall + 1, sizeof(int64_t), "gbdt rows", err) : perm;
        int32_t *gy = a->K && dist ? dt_alloc_e(ctx, (size_t)Nall + 1, sizeof(int32_t), "gbdt rows", err) : NULL;
        if (!fold || !gperm || (a->K && dist && !gy)) {
            dt_free(ctx, fold);
            if (dist) dt_free(ctx, gperm);
            if (dist && a->K) dt_free(ctx, gy);
            rc = DUET_ENOMEM;
            goto fail;
        }
        if (dist && a->K) { /* every process's classes, for the same stratified folds */
            double *yy = dt_calloc(ctx, (size_t)Nall + 1, sizeof(double));
            if (!yy) rc = dt_err(err, DUET_ENOMEM, "gbdt: out of memory");
            for (int64_t k = 0; !rc && k < N; k++) yy[k * ctx->dist_size + ctx->dist_rank] = a->y[k];
            if (!rc) rc = dt_reduce(ctx, yy, (size_t)Nall, err);
            for (int64_t g2 = 0; !rc && g2 < Nall; g2++) gy[g2] = (int32_t)yy[g2];
            dt_free(ctx, yy);
        }
        if (!rc && a->K) dt_stratified_folds(dist ? gy : a->y, Nall, a->K, folds, ctx->seed ^ 0x9b0057ULL, gperm, fold);
        else if (!rc) {
            dt_rng r;
            dt_rng_seed(&r, ctx->seed ^ 0x9b0057ULL);
            for (int64_t i = 0; i < Nall; i++) gperm[i] = i;
            dt_rng_shuffle(&r, gperm, Nall);
            for (int64_t j = 0; j < Nall; j++) fold[gperm[j]] = (int)(j % folds);
        }
        ntr = nva = 0;
        for (int64_t g2 = 0; !rc && g2 < Nall; g2++) {
            int64_t loc;
            if (dist && fold[g2] != 0) gtr[gntr++] = g2;
            if (!dt_row_here(ctx, g2, &loc)) continue;
            if (fold[g2] == 0) va[nva++] = loc;
            else tr[ntr++] = loc;
        }
        dt_free(ctx, fold);
        if (dist) dt_free(ctx, gperm);
        if (dist && a->K) dt_free(ctx, gy);
        if (rc) goto fail;
    } else {
        for (int64_t i = 0; i < N; i++) tr[i] = i;
        for (int64_t g2 = 0; dist && g2 < Nall; g2++) gtr[gntr++] = g2;
    }
    DT_TRY(bin_data(ctx, m, X, tr, ntr, gtr, gntr, o.bins, o.min_leaf, ctx->seed, &d, err));
    DT_TRY(base_scores(ctx, g, &o, a, tr, ntr, err));
    size_t nF, nFv;
    if (!dt_mul_ok((size_t)ntr, (size_t)g->V, &nF) || !dt_mul_ok((size_t)nva + 1, (size_t)g->V, &nFv)) {
        rc = dt_err(err, DUET_ERANGE, "gbdt: too many rows");
        goto fail;
    }
    F = dt_alloc_e(ctx, nF, sizeof(double), "gbdt scores", err);
    Fv = dt_alloc_e(ctx, nFv, sizeof(double), "gbdt scores", err);
    gr = dt_alloc_e(ctx, nF + 1, sizeof(double), "gbdt gradients", err); /* (V, ntr): each class's */
    he = dt_alloc_e(ctx, nF + 1, sizeof(double), "gbdt gradients", err);
    inuse = dt_alloc_e(ctx, (size_t)ntr + 1, 1, "gbdt rows", err);
    row_pos = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "gbdt rows", err);
    leaf = dt_alloc_e(ctx, (size_t)ntr, sizeof(int64_t), "gbdt rows", err);
    active = dt_alloc_e(ctx, (size_t)D, 1, "gbdt", err);
    s.idx = dt_alloc_e(ctx, (size_t)ntr, sizeof(int64_t), "gbdt rows", err);
    s.og = dt_alloc_e(ctx, (size_t)ntr + 1, sizeof(double), "gbdt rows", err);
    s.oh = dt_alloc_e(ctx, (size_t)ntr + 1, sizeof(double), "gbdt rows", err);
    s.tmp = dt_alloc_e(ctx, (size_t)ntr, sizeof(int64_t), "gbdt rows", err);
    s.go = dt_alloc_e(ctx, (size_t)ntr + 1, 1, "gbdt rows", err);
    s.lv = dt_calloc(ctx, (size_t)o.leaves, sizeof(gb_leaf));
    s.pool = dt_calloc(ctx, (size_t)o.leaves + 2, sizeof(gb_bin *));
    if (!d.col) {
        s.leaf_id = dt_alloc_e(ctx, (size_t)ntr, sizeof(int32_t), "gbdt rows", err);
        s.rowbin = dt_alloc_e(ctx, (size_t)ntr, 1, "gbdt rows", err);
    }
    if (!F || !Fv || !gr || !he || !inuse || !row_pos || !leaf || !active || !s.og || !s.oh || !s.idx || !s.tmp || !s.go || !s.lv || !s.pool ||
        (!d.col && (!s.leaf_id || !s.rowbin))) {
        rc = dt_err(err, DUET_ENOMEM, "gbdt: out of memory");
        goto fail;
    }
    /* the trees see training rows by their position 0..ntr-1 in tr: gradients, targets and
     * weights are looked up through a view of the arguments on those rows */
    for (int64_t k = 0; k < ntr; k++) row_pos[k] = k;
    for (int64_t k = 0; k < ntr; k++)
        for (int v = 0; v < g->V; v++) F[(size_t)k * (size_t)g->V + (size_t)v] = g->base[v];
    for (int64_t k = 0; k < nva; k++)
        for (int v = 0; v < g->V; v++) Fv[(size_t)k * (size_t)g->V + (size_t)v] = g->base[v];
    /* targets and weights of the training rows, by position */
    int32_t *ytr = NULL;
    double *ttr = NULL, *wtr = NULL;
    if (a->K) ytr = dt_alloc_e(ctx, (size_t)ntr + 1, sizeof(int32_t), "gbdt", err);
    else ttr = dt_alloc_e(ctx, (size_t)ntr + 1, sizeof(double), "gbdt", err);
    if (a->sw) wtr = dt_alloc_e(ctx, (size_t)ntr + 1, sizeof(double), "gbdt", err);
    if ((a->K && !ytr) || (!a->K && !ttr) || (a->sw && !wtr)) {
        dt_free(ctx, ytr);
        dt_free(ctx, ttr);
        dt_free(ctx, wtr);
        rc = DUET_ENOMEM;
        goto fail;
    }
    for (int64_t k = 0; k < ntr; k++) {
        if (ytr) ytr[k] = a->y[tr[k]];
        if (ttr) ttr[k] = a->t[tr[k]];
        if (wtr) wtr[k] = a->sw[tr[k]];
    }
    dt_fit_args at = *a;
    at.y = ytr, at.t = ttr, at.sw = wtr;
    s.ctx = ctx, s.d = &d, s.p = a->p, s.leaves = o.leaves, s.depth = o.depth, s.min_leaf = o.min_leaf;
    s.lambda = o.lambda, s.g = gr, s.h = he, s.active = active;
    dt_rng rng;
    dt_rng_seed(&rng, ctx->seed ^ 0x7ee5ULL);
    double best = INFINITY;
    int64_t best_round = 0, since = 0;
    int64_t ncol = (int64_t)ceil(o.colsample * (double)D);
    if (ncol < 1) ncol = 1;
    int64_t *cols = dt_alloc_e(ctx, (size_t)D, sizeof(int64_t), "gbdt", err);
    float *rbufs = NULL; /* sparse rows: one dense scratch row per thread */
    if (!cols) rc = DUET_ENOMEM;
    if (!rc && !X->x) {
        size_t nb2;
        if (!dt_mul_ok((size_t)nt, (size_t)D, &nb2) || !(rbufs = dt_calloc(ctx, nb2, sizeof(float))))
            rc = dt_err(err, DUET_ENOMEM, "gbdt: out of memory");
    }
    for (int64_t r = 0; !rc && r < o.rounds; r++) {
        /* the rows and features of this round's trees */
        int64_t n = 0;
        if (o.subsample < 1) {
            for (int64_t k = 0; k < ntr; k++)
                if (dt_rng_uniform(&rng) < o.subsample) s.idx[n++] = k;
            if (n < 2) s.idx[n++] = 0;
        }
        if (o.colsample < 1) {
            for (int64_t j = 0; j < D; j++) cols[j] = j;
            for (int64_t j = 0; j < ncol; j++) {
                int64_t q = j + (int64_t)dt_rng_below(&rng, (uint64_t)(D - j)), t = cols[j];
                cols[j] = cols[q], cols[q] = t;
            }
            memset(active, 0, (size_t)D);
            for (int64_t j = 0; j < ncol; j++) active[cols[j]] = 1;
        } else {
            memset(active, 1, (size_t)D);
        }
        int64_t sampled = n;
        int64_t t0 = g->T;
        if (o.subsample < 1) {
            memset(inuse, 0, (size_t)ntr);
            for (int64_t k = 0; k < sampled; k++) inuse[s.idx[k]] = 1;
        }
        /* every class's gradients from the scores before the round */
        for (int v = 0; v < g->V; v++)
            gradients(g, &o, &at, row_pos, ntr, F, v, gr + (size_t)v * (size_t)ntr, he + (size_t)v * (size_t)ntr, nt);
        for (int v = 0; v < g->V && !rc; v++) {
            int64_t first = g->n_nodes;
            if (o.subsample < 1) { /* grow_tree reorders idx: the sample again, in row order */
                n = 0;
                for (int64_t k = 0; k < ntr; k++)
                    if (inuse[k]) s.idx[n++] = k;
            } else {
                n = ntr;
                for (int64_t k = 0; k < ntr; k++) s.idx[k] = k;
            }
            s.g = gr + (size_t)v * (size_t)ntr, s.h = he + (size_t)v * (size_t)ntr;
            rc = grow_tree(&s, g, n, o.lr, leaf, err);
            if (rc) break;
            if (o.obj == DUET_OBJ_ABSOLUTE || o.obj == DUET_OBJ_QUANTILE) {
                /* F is indexed by position, as the rows are: pos is the identity */
                rc = renew_leaves(ctx, g, &o, &at, &s, F, row_pos, first, err);
                if (rc) break;
            }
            int64_t *ns = dt_realloc(ctx, g->start, ((size_t)g->T + 2) * sizeof(int64_t));
            if (!ns) {
                rc = dt_err(err, DUET_ENOMEM, "gbdt: out of memory");
                break;
            }
            g->start = ns;
            g->start[g->T] = first;
            g->start[g->T + 1] = g->n_nodes;
            g->T++;
            /* scores: the tree's rows from the leaves they fell in; rows left out of the sample
             * through the tree (its thresholds keep every binned row where its bin put it) */
#pragma omp parallel for schedule(static) num_threads(nt) if (n > 65536)
            for (int64_t k = 0; k < n; k++) F[(size_t)s.idx[k] * (size_t)g->V + (size_t)v] += g->value[leaf[s.idx[k]]];
            if (o.subsample < 1) {
                int64_t t = g->T - 1;
#pragma omp parallel for schedule(static) num_threads(nt)
                for (int64_t k = 0; k < ntr; k++) {
                    if (inuse[k]) continue;
                    int tid = 0;
#ifdef _OPENMP
                    tid = omp_get_thread_num();
#endif
                    float *b = rbufs ? rbufs + (size_t)tid * (size_t)D : NULL;
                    const float *x = row_of(X, tr[k], b);
                    F[(size_t)k * (size_t)g->V + (size_t)v] += g->value[leaf_of(g, t, x)];
                    if (b) clear_row(X, tr[k], b);
                }
            }
        }
        if (rc) break;
        if (!early) { /* (every process alike: early is decided on all rows) */
            if (a->verbose && (r + 1) % 50 == 0) dt_log(ctx, 2, "gbdt: round %lld/%d", (long long)r + 1, o.rounds);
            rc = dt_check_abort(ctx, "gbdt", err);
            continue;
        }
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t k = 0; k < nva; k++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            float *b = rbufs ? rbufs + (size_t)tid * (size_t)D : NULL;
            const float *x = row_of(X, va[k], b);
            for (int64_t t = t0; t < g->T; t++) Fv[(size_t)k * (size_t)g->V + (size_t)(t % g->V)] += g->value[leaf_of(g, t, x)];
            if (b) clear_row(X, va[k], b);
        }
        double loss = 0, W = 0;
        for (int64_t k = 0; k < nva; k++) {
            int64_t i = va[k];
            double w = a->sw ? a->sw[i] : 1;
            loss += w * row_loss(g, Fv + (size_t)k * (size_t)g->V, a->K ? a->y[i] : 0, a->K ? 0 : a->t[i]);
            W += w;
        }
        double lw[2] = {loss, W};
        if ((rc = reduce_if(ctx, lw, 2, err))) break;
        loss = lw[0] / lw[1];
        if (best_round == 0 || loss < best - 1e-9 * fabs(best)) best = loss, best_round = r + 1, since = 0;
        else since++;
        if (a->verbose && ((r + 1) % 10 == 0 || since == 0))
            dt_log(ctx, 2, "gbdt: round %lld, held-out %s loss %.5f (best %.5f at round %lld)", (long long)r + 1,
                   dt_gb_objective_name(o.obj), loss, best, (long long)best_round);
        if (since >= o.patience) break;
        rc = dt_check_abort(ctx, "gbdt", err);
    }
    dt_free(ctx, cols);
    dt_free(ctx, rbufs);
    dt_free(ctx, ytr);
    dt_free(ctx, ttr);
    dt_free(ctx, wtr);
    if (rc) goto fail;
    if (early && best_round > 0 && best_round * g->V < g->T) { /* keep the best round's trees */
        g->T = best_round * g->V;
        g->n_nodes = g->start[g->T];
    }
    int64_t words = 0;
    for (int64_t t = 0; t < g->T; t++) /* category words used by the trees kept */
        for (int64_t j = g->start[t]; j < g->start[t + 1]; j++)
            if (g->cat_at[j] >= 0 && g->cat_at[j] + g->cat_n[j] > words) words = g->cat_at[j] + g->cat_n[j];
    g->n_words = words;
    DT_TRY(dt_gb_check(ctx, g, "gbdt", err)); /* and its depth */
    if (a->verbose) {
        dt_model_meta_set(m, "objective", "%s", dt_gb_objective_name(o.obj));
        if (o.obj == DUET_OBJ_QUANTILE) dt_model_meta_set(m, "quantile", "%g", o.quantile);
        dt_model_meta_set(m, "rounds", "%lld%s", (long long)(g->T / g->V),
                          early ? " (early stopping on a held-out share)" : "");
        if (early) dt_model_meta_set(m, "held_out_loss", "%.6g", best);
        dt_model_meta_set(m, "trees", "%lld of at most %d leaves, learning rate %g, lambda %g, min-leaf %d", (long long)g->T,
                          o.leaves, o.lr, o.lambda, o.min_leaf);
        if (!early && !o.refit) dt_log(ctx, 0, "gbdt: %lld rounds (%lld trees)", (long long)(g->T / g->V), (long long)g->T);
    }
    m->state = g;
    g = NULL;
    *held_out = early ? nva : 0;
    if (dist && early) DT_TRY(dt_reduce_count(ctx, held_out, err));
fail:
    for (int i = 0; i < s.npool; i++) dt_free(ctx, s.pool[i]);
    dt_free(ctx, s.pool);
    dt_free(ctx, s.lv);
    dt_free(ctx, s.idx);
    dt_free(ctx, s.og);
    dt_free(ctx, s.oh);
    dt_free(ctx, s.tmp);
    dt_free(ctx, s.leaf_id);
    dt_free(ctx, s.rowbin);
    dt_free(ctx, s.go);
    data_free(ctx, &d);
    dt_free(ctx, tr);
    dt_free(ctx, va);
    dt_free(ctx, perm);
    dt_free(ctx, gtr);
    dt_free(ctx, row_pos);
    dt_free(ctx, leaf);
    dt_free(ctx, F);
    dt_free(ctx, Fv);
    dt_free(ctx, gr);
    dt_free(ctx, he);
    dt_free(ctx, active);
    dt_free(ctx, inuse);
    dt_gb_free(ctx, g);
    return rc;
}

static int gbdt_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    gb_opts o;
    int64_t held = 0;
    int rc = resolve(ctx, a, &o, err);
    if (rc) return rc;
    rc = fit_once(ctx, m, a, &o, &held, err);
    if (rc || !held) return rc;
    /* the rounds chosen, then all the rows, with as many rounds per row seen (on Adult, log-loss
     * 0.2759 -> 0.2748: the held-out tenth is not lost to the model) */
    const gb_model *g = m->state;
    int64_t R = g->T / g->V, N = a->X->N;
    if (dt_distributed(ctx) && (rc = dt_reduce_count(ctx, &N, err))) return rc; /* every process's rows */
    o.rounds = (int)ceil((double)R * (double)N / (double)(N - held));
    o.early = 0;
    o.refit = 1;
    int64_t held_rows = held;
    rc = fit_once(ctx, m, a, &o, &held, err);
    if (!rc && a->verbose) {
        dt_model_meta_set(m, "rounds", "%d (%lld chosen by early stopping on %lld held-out rows, then grown again on all rows)",
                          o.rounds, (long long)R, (long long)held_rows);
        dt_log(ctx, 0, "gbdt: %lld rounds chosen on %lld held-out rows; %d rounds on all %lld rows", (long long)R,
               (long long)held_rows, o.rounds, (long long)N);
    }
    return rc;
}

/* --- prediction ------------------------------------------------------------------------------ */

static int gbdt_proba(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *P, duet_err *err) {
    const gb_model *g = m->state;
    if (m->K == 0) return dt_err(err, DUET_EINVAL, "gbdt: this model predicts numbers, not classes");
    double *F = dt_alloc_e(ctx, (size_t)(X->N ? X->N : 1) * (size_t)g->V, sizeof(double), "gbdt scores", err);
    if (!F) return DUET_ENOMEM;
    int rc = raw_scores(ctx, g, X, 0, 0, F, err);
    for (int64_t i = 0; !rc && i < X->N; i++) {
        double *f = F + (size_t)i * (size_t)g->V, p[2];
        if (m->K > 2) { /* softmax in place */
            probs(g->V, f, f);
            for (int v = 0; v < g->V; v++) P[(size_t)i * (size_t)m->K + (size_t)v] = (float)f[v];
            continue;
        }
        probs(1, f, p);
        P[2 * i] = (float)p[0], P[2 * i + 1] = (float)p[1];
    }
    dt_free(ctx, F);
    return rc;
}

static int gbdt_values(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *v, duet_err *err) {
    const gb_model *g = m->state;
    if (m->K != 0) return dt_err(err, DUET_EINVAL, "gbdt: this model predicts classes, not numbers");
    int rc = raw_scores(ctx, g, X, 0, 0, v, err);
    if (!rc && g->obj == DUET_OBJ_POISSON)
        for (int64_t i = 0; i < X->N; i++) v[i] = exp(v[i]);
    return rc;
}

/* --- TreeSHAP -------------------------------------------------------------------------------- */

typedef struct shap_el {
    int64_t feat;             /* -1 for the path's root */
    double zero, one, w;      /* share of cover kept without the feature, with it (0/1), weight */
} shap_el;

static void path_extend(shap_el *p, int depth, double zero, double one, int64_t feat) {
    p[depth].feat = feat, p[depth].zero = zero, p[depth].one = one, p[depth].w = depth == 0 ? 1 : 0;
    for (int i = depth - 1; i >= 0; i--) {
        p[i + 1].w += one * p[i].w * (i + 1) / (double)(depth + 1);
        p[i].w = zero * p[i].w * (depth - i) / (double)(depth + 1);
    }
}

static void path_unwind(shap_el *p, int depth, int at) {
    double one = p[at].one, zero = p[at].zero, next = p[depth].w;
    for (int i = depth - 1; i >= 0; i--) {
        if (one != 0) {
            double t = p[i].w;
            p[i].w = next * (depth + 1) / ((i + 1) * one);
            next = t - p[i].w * zero * (depth - i) / (double)(depth + 1);
        } else {
            p[i].w = p[i].w * (depth + 1) / (zero * (depth - i));
        }
    }
    for (int i = at; i < depth; i++) p[i].feat = p[i + 1].feat, p[i].zero = p[i + 1].zero, p[i].one = p[i + 1].one;
}

/* The weight sum the path would have without element at (without changing it). */
static double path_unwound_sum(const shap_el *p, int depth, int at) {
    double one = p[at].one, zero = p[at].zero, next = p[depth].w, total = 0;
    for (int i = depth - 1; i >= 0; i--) {
        if (one != 0) {
            double t = next * (depth + 1) / ((i + 1) * one);
            total += t;
            next = p[i].w - t * zero * (depth - i) / (double)(depth + 1);
        } else if (zero != 0) {
            total += p[i].w / zero * (depth + 1) / (double)(depth - i);
        }
    }
    return total;
}

static void shap_recurse(const gb_model *g, int64_t s, int64_t j, const float *x, double *phi, shap_el *parent, int depth,
                         double zero, double one, int64_t feat) {
    shap_el *p = parent + depth; /* this level's copy of the path follows the parent's */
    if (depth > 0) memcpy(p, parent, (size_t)depth * sizeof *p);
    path_extend(p, depth, zero, one, feat);
    int64_t n = s + j;
    if (g->feat[n] < 0) {
        for (int i = 1; i <= depth; i++) {
            double w = path_unwound_sum(p, depth, i);
            phi[p[i].feat] += w * (p[i].one - p[i].zero) * g->value[n];
        }
        return;
    }
    int left = goes_left(g, n, x[g->feat[n]]);
    int64_t hot = s + (left ? g->left[n] : g->right[n]), cold = s + (left ? g->right[n] : g->left[n]);
    double c = g->cover[n] > 0 ? g->cover[n] : 1;
    double iz = 1, io = 1;
    int k = 0;
    for (; k <= depth; k++)
        if (p[k].feat == g->feat[n]) break;
    if (k <= depth) {
        iz = p[k].zero, io = p[k].one;
        path_unwind(p, depth, k);
        depth--;
    }
    shap_recurse(g, s, hot - s, x, phi, p, depth + 1, g->cover[hot] / c * iz, io, g->feat[n]);
    shap_recurse(g, s, cold - s, x, phi, p, depth + 1, g->cover[cold] / c * iz, 0, g->feat[n]);
}

/* The tree's mean prediction under its covers: each leaf weighted by the product of the
 * cover ratios child / parent down its path (the expectation TreeSHAP's values add up from,
 * also when the covers of a file's tree do not add up exactly); w is scratch (tree size). */
static double tree_mean(const gb_model *g, int64_t t, double *w) {
    int64_t s = g->start[t], n = g->start[t + 1] - s;
    double mean = 0;
    w[0] = 1;
    for (int64_t j = 0; j < n; j++) {
        int64_t k = s + j;
        if (g->feat[k] < 0) {
            mean += w[j] * g->value[k];
            continue;
        }
        double c = g->cover[k] > 0 ? g->cover[k] : 1;
        w[g->left[k]] = w[j] * g->cover[s + g->left[k]] / c;
        w[g->right[k]] = w[j] * g->cover[s + g->right[k]] / c;
    }
    return mean;
}

/* SHAP values of row x for tree set v (phi: D + 1, the last the expected value). */
static int shap_row(duet_ctx *ctx, const gb_model *g, const float *x, int v, double *phi, duet_err *err) {
    size_t depth = (size_t)g->depth + 2, n = depth * (depth + 1) / 2 + depth;
    int64_t big = 1;
    for (int64_t t = 0; t < g->T; t++) big = g->start[t + 1] - g->start[t] > big ? g->start[t + 1] - g->start[t] : big;
    shap_el *path = dt_alloc_e(ctx, n, sizeof(shap_el), "TreeSHAP paths", err);
    double *w = dt_alloc_e(ctx, (size_t)big, sizeof(double), "TreeSHAP", err);
    if (!path || !w) {
        dt_free(ctx, path);
        dt_free(ctx, w);
        return DUET_ENOMEM;
    }
    memset(phi, 0, ((size_t)g->D + 1) * sizeof(double));
    phi[g->D] = g->base[v];
    for (int64_t t = v; t < g->T; t += g->V) {
        shap_recurse(g, g->start[t], 0, x, phi, path, 0, 1, 1, -1);
        phi[g->D] += tree_mean(g, t, w);
    }
    dt_free(ctx, path);
    dt_free(ctx, w);
    return DUET_OK;
}

static int gbdt_explain(duet_ctx *ctx, const duet_model *m, const dt_mat *X, int64_t i, int k, int64_t *feat, double *val,
                        int64_t *n, duet_err *err) {
    const gb_model *g = m->state;
    int v = g->V == 1 ? 0 : k, sign = g->V == 1 && m->K == 2 && k == 0 ? -1 : 1;
    double *phi = dt_alloc_e(ctx, (size_t)g->D + 1, sizeof(double), "gbdt explanation", err);
    float *buf = X->x ? NULL : dt_calloc(ctx, (size_t)X->D, sizeof(float));
    if (!phi || (!X->x && !buf)) {
        dt_free(ctx, phi);
        dt_free(ctx, buf);
        return dt_err(err, DUET_ENOMEM, "gbdt explanation: out of memory");
    }
    int rc = shap_row(ctx, g, row_of(X, i, buf), v, phi, err);
    *n = 0;
    for (int64_t j = 0; !rc && j < g->D; j++)
        if (phi[j] != 0) feat[*n] = j, val[(*n)++] = sign * phi[j];
    dt_free(ctx, phi);
    dt_free(ctx, buf);
    return rc;
}

int dt_gbdt_shap(duet_ctx *ctx, const duet_model *m, const float *x, int v, double *phi, duet_err *err) {
    if (!m || m->ops != &dt_gbdt_ops || !m->state) return dt_err(err, DUET_EINVAL, "dt_gbdt_shap: not a gbdt model");
    const gb_model *g = m->state;
    if (v < 0 || v >= g->V) return dt_err(err, DUET_EINVAL, "dt_gbdt_shap: tree set %d of %d", v, g->V);
    return shap_row(ctx, g, x, v, phi, err);
}

/* E[f(x) | the features in mask known] under the covers (the conditional expectation TreeSHAP
 * attributes), for tree t. */
static double cond_expect(const gb_model *g, int64_t s, int64_t j, const float *x, uint32_t mask) {
    int64_t n = s + j;
    if (g->feat[n] < 0) return g->value[n];
    if ((mask >> g->feat[n]) & 1)
        return cond_expect(g, s, goes_left(g, n, x[g->feat[n]]) ? g->left[n] : g->right[n], x, mask);
    double c = g->cover[n] > 0 ? g->cover[n] : 1;
    return (g->cover[s + g->left[n]] * cond_expect(g, s, g->left[n], x, mask) +
            g->cover[s + g->right[n]] * cond_expect(g, s, g->right[n], x, mask)) / c;
}

int dt_gbdt_shap_reference(duet_ctx *ctx, const duet_model *m, const float *x, int v, double *phi, duet_err *err) {
    (void)ctx;
    if (!m || m->ops != &dt_gbdt_ops || !m->state) return dt_err(err, DUET_EINVAL, "dt_gbdt_shap_reference: not a gbdt model");
    const gb_model *g = m->state;
    int64_t D = g->D;
    if (D > 16 || v < 0 || v >= g->V) return dt_err(err, DUET_EINVAL, "dt_gbdt_shap_reference: at most 16 features");
    uint32_t full = (1u << D) - 1;
    double *fact = (double[17]){0};
    fact[0] = 1;
    for (int i = 1; i <= 16; i++) fact[i] = fact[i - 1] * i;
    memset(phi, 0, ((size_t)D + 1) * sizeof(double));
    phi[D] = g->base[v];
    for (int64_t t = v; t < g->T; t += g->V) {
        phi[D] += cond_expect(g, g->start[t], 0, x, 0);
        for (int64_t f = 0; f < D; f++)
            for (uint32_t S = 0; S <= full; S++) {
                if ((S >> f) & 1) continue;
                int sz = __builtin_popcount(S);
                double w = fact[sz] * fact[D - sz - 1] / fact[D];
                phi[f] += w * (cond_expect(g, g->start[t], 0, x, S | (1u << f)) - cond_expect(g, g->start[t], 0, x, S));
            }
    }
    return DUET_OK;
}

/* --- importance, files ------------------------------------------------------------------------ */

static int gbdt_importance(const duet_model *m, double *gain, int64_t *splits) {
    const gb_model *g = m->state;
    memset(gain, 0, (size_t)g->D * sizeof(double));
    memset(splits, 0, (size_t)g->D * sizeof(int64_t));
    for (int64_t j = 0; j < g->n_nodes; j++)
        if (g->feat[j] >= 0) gain[g->feat[j]] += g->gain[j], splits[g->feat[j]]++;
    return DUET_OK;
}

static int gbdt_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const gb_model *g = m->state;
    int rc = DUET_OK;
    int64_t nn = g->n_nodes;
    DT_TRY(dt_st_meta(w, "model.objective", dt_gb_objective_name(g->obj), err));
    DT_TRY(dt_st_metaf(w, err, "model.quantile", "%.17g", g->quantile));
    DT_TRY(dt_st_metaf(w, err, "model.trees", "%lld", (long long)g->T));
    DT_TRY(dt_st_add1(w, "model.base", DT_F64, g->V, g->base, err));
    DT_TRY(dt_st_add1(w, "model.tree_start", DT_I64, g->T + 1, g->start, err));
    DT_TRY(dt_st_add1(w, "model.feature", DT_I32, nn, g->feat, err));
    DT_TRY(dt_st_add1(w, "model.threshold", DT_F32, nn, g->thr, err));
    DT_TRY(dt_st_add1(w, "model.left", DT_I32, nn, g->left, err));
    DT_TRY(dt_st_add1(w, "model.right", DT_I32, nn, g->right, err));
    DT_TRY(dt_st_add1(w, "model.flags", DT_U8, nn, g->flags, err));
    DT_TRY(dt_st_add1(w, "model.value", DT_F64, nn, g->value, err));
    DT_TRY(dt_st_add1(w, "model.cover", DT_F64, nn, g->cover, err));
    DT_TRY(dt_st_add1(w, "model.gain", DT_F64, nn, g->gain, err));
    DT_TRY(dt_st_add1(w, "model.cat_at", DT_I64, nn, g->cat_at, err));
    DT_TRY(dt_st_add1(w, "model.cat_n", DT_I32, nn, g->cat_n, err));
    uint32_t none = 0;
    DT_TRY(dt_st_add1(w, "model.cat_words", DT_I32, g->n_words ? g->n_words : 1, g->n_words ? g->cat_words : &none, err));
fail:
    return rc;
}

static int gbdt_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    const char *fn = dt_st_name(f);
    int rc = DUET_OK;
    gb_model *g = dt_calloc(ctx, 1, sizeof *g);
    if (!g) return dt_err(err, DUET_ENOMEM, "%s: out of memory", fn);
    const char *on = dt_st_meta_get(f, "model.objective");
    g->obj = on ? dt_gb_objective(on) : 0;
    if (!g->obj || (m->K == 0) != (g->obj != DUET_OBJ_LOGLOSS)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: metadata 'model.objective' = '%s' is not an objective for %s", fn, on ? on : "(none)",
                    m->K ? "classes" : "numbers");
        goto fail;
    }
    DT_TRY(dt_st_meta_f64(f, "model.quantile", &g->quantile, err));
    if (!(g->quantile > 0 && g->quantile < 1)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: metadata 'model.quantile' = %g is not in (0, 1)", fn, g->quantile);
        goto fail;
    }
    g->V = m->K > 2 ? m->K : 1;
    g->D = m->D;
    DT_TRY(dt_st_meta_i64(f, "model.trees", 0, (int64_t)1 << 30, &g->T, err));
    const void *pb, *ps, *pf, *pt, *pl, *pr, *pg, *pv, *pc, *pga, *pca, *pcn, *pw;
    int64_t V = g->V, T1 = g->T + 1, nn = -1, nw = -1;
    DT_TRY(dt_st_get(f, "model.base", DT_F64, 1, &V, &pb, NULL, err));
    DT_TRY(dt_st_get(f, "model.tree_start", DT_I64, 1, &T1, &ps, NULL, err));
    DT_TRY(dt_st_get(f, "model.feature", DT_I32, 1, &nn, &pf, &nn, err));
    DT_TRY(dt_st_get(f, "model.threshold", DT_F32, 1, &nn, &pt, NULL, err));
    DT_TRY(dt_st_get(f, "model.left", DT_I32, 1, &nn, &pl, NULL, err));
    DT_TRY(dt_st_get(f, "model.right", DT_I32, 1, &nn, &pr, NULL, err));
    DT_TRY(dt_st_get(f, "model.flags", DT_U8, 1, &nn, &pg, NULL, err));
    DT_TRY(dt_st_get(f, "model.value", DT_F64, 1, &nn, &pv, NULL, err));
    DT_TRY(dt_st_get(f, "model.cover", DT_F64, 1, &nn, &pc, NULL, err));
    DT_TRY(dt_st_get(f, "model.gain", DT_F64, 1, &nn, &pga, NULL, err));
    DT_TRY(dt_st_get(f, "model.cat_at", DT_I64, 1, &nn, &pca, NULL, err));
    DT_TRY(dt_st_get(f, "model.cat_n", DT_I32, 1, &nn, &pcn, NULL, err));
    DT_TRY(dt_st_get(f, "model.cat_words", DT_I32, 1, &nw, &pw, &nw, err));
    if (g->T % g->V) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %lld trees is not a whole number of rounds of %d", fn, (long long)g->T, g->V);
        goto fail;
    }
    DT_TRY(dt_gb_grow_nodes(ctx, g, nn > 0 ? nn : 1, err));
    g->n_nodes = nn;
    g->base = dt_alloc_e(ctx, (size_t)V, sizeof(double), "gbdt", err);
    g->start = dt_alloc_e(ctx, (size_t)T1, sizeof(int64_t), "gbdt", err);
    g->cat_words = dt_alloc_e(ctx, (size_t)nw, sizeof(uint32_t), "gbdt", err);
    if (!g->base || !g->start || !g->cat_words) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", fn);
        goto fail;
    }
    g->n_words = g->cap_words = nw;
    memcpy(g->base, pb, (size_t)V * sizeof(double));
    memcpy(g->start, ps, (size_t)T1 * sizeof(int64_t));
    memcpy(g->feat, pf, (size_t)nn * sizeof(int32_t));
    memcpy(g->thr, pt, (size_t)nn * sizeof(float));
    memcpy(g->left, pl, (size_t)nn * sizeof(int32_t));
    memcpy(g->right, pr, (size_t)nn * sizeof(int32_t));
    memcpy(g->flags, pg, (size_t)nn);
    memcpy(g->value, pv, (size_t)nn * sizeof(double));
    memcpy(g->cover, pc, (size_t)nn * sizeof(double));
    memcpy(g->gain, pga, (size_t)nn * sizeof(double));
    memcpy(g->cat_at, pca, (size_t)nn * sizeof(int64_t));
    memcpy(g->cat_n, pcn, (size_t)nn * sizeof(int32_t));
    memcpy(g->cat_words, pw, (size_t)nw * sizeof(uint32_t));
    DT_TRY(dt_gb_check(ctx, g, fn, err));
    m->state = g;
    return DUET_OK;
fail:
    dt_gb_free(ctx, g);
    return rc;
}

int dt_gb_check(duet_ctx *ctx, gb_model *g, const char *fn, duet_err *err) {
    int64_t nn = g->n_nodes, nw = g->n_words;
    int rc = DUET_OK;
    int32_t *dep = dt_calloc(ctx, (size_t)nn + 1, sizeof(int32_t));
    if (!dep) return dt_err(err, DUET_ENOMEM, "%s: out of memory", fn);
    for (int v = 0; v < g->V; v++)
        if (!isfinite(g->base[v])) {
            rc = dt_err(err, DUET_EFORMAT, "%s: the starting score %d is not finite", fn, v);
            goto fail;
        }
    if (g->start[0] != 0 || g->start[g->T] != nn) {
        rc = dt_err(err, DUET_EFORMAT, "%s: 'model.tree_start' does not span the %lld nodes", fn, (long long)nn);
        goto fail;
    }
    g->depth = 0;
    for (int64_t t = 0; t < g->T; t++) {
        int64_t s = g->start[t], e = g->start[t + 1];
        if (e <= s || e > nn || e - s > INT32_MAX) {
            rc = dt_err(err, DUET_EFORMAT, "%s: tree %lld has no nodes or runs past the end", fn, (long long)t);
            goto fail;
        }
        for (int64_t j = s; j < e; j++) {
            int64_t loc = j - s;
            const char *bad = NULL;
            if (!isfinite(g->value[j]) || !(g->cover[j] >= 0) || isinf(g->cover[j]) || !isfinite(g->gain[j])) bad = "a value, cover or gain that is not finite";
            else if (g->flags[j] > 7 || ((g->flags[j] & GB_CAT_RIGHT) && !(g->flags[j] & GB_CAT))) bad = "unknown flags";
            else if (g->feat[j] >= 0) {
                if (g->feat[j] >= g->D) bad = "a feature past the model's";
                else if (g->left[j] <= loc || g->right[j] <= loc || g->left[j] >= e - s || g->right[j] >= e - s ||
                         g->left[j] == g->right[j])
                    bad = "children that are not later nodes of its tree";
                else if (g->flags[j] & GB_CAT) {
                    if (g->cat_at[j] < 0 || g->cat_n[j] < 1 || g->cat_n[j] > GB_MAX_CATS / 32 || g->cat_at[j] > nw - g->cat_n[j])
                        bad = "a category set outside 'model.cat_words'";
                } else if (isnan(g->thr[j])) bad = "a threshold that is NaN";
            } else if (g->feat[j] != -1) bad = "a negative feature";
            if (bad) {
                rc = dt_err(err, DUET_EFORMAT, "%s: tree %lld, node %lld has %s", fn, (long long)t, (long long)loc, bad);
                goto fail;
            }
            if (g->feat[j] >= 0) {
                dep[s + g->left[j]] = dep[s + g->right[j]] = dep[j] + 1;
                if (dep[j] + 1 > GB_MAX_DEPTH) {
                    rc = dt_err(err, DUET_EFORMAT, "%s: tree %lld is deeper than %d", fn, (long long)t, GB_MAX_DEPTH);
                    goto fail;
                }
            }
            if (dep[j] > g->depth) g->depth = dep[j];
        }
    }
fail:
    dt_free(ctx, dep);
    return rc;
}

static double fit_bytes(const duet_model *m, const dt_fit_args *a) {
    (void)m;
    double N = (double)a->X->N, D = (double)a->X->D, V = a->K > 2 ? a->K : 1;
    double leaves = a->p->leaves ? a->p->leaves : 31;
    double binned = a->X->x ? N * D : (double)(a->X->rowptr[a->X->N]) * 5;
    return binned + N * (8 * V * 1.2 + 16 + 24) + (leaves + 2) * D * 256 * (double)sizeof(gb_bin) / (a->X->x ? 1 : 16);
}

static const dt_option gbdt_options[] = {
    {"--rounds", "boosting rounds at most (default 1000, chosen by early stopping; 100 with --no-early-stop)"},
    {"--no-early-stop", "train all --rounds on all rows"},
    {"--leaves", "leaves per tree (default 31)"},
    {"--depth", "largest tree depth (default: no limit)"},
    {"--min-leaf", "fewest rows in a leaf (default 20)"},
    {"--lambda", "L2 penalty on leaf values (default 1; 0 none)"},
    {"--lr", "learning rate (default 0.1)"},
    {"--subsample", "share of rows each tree sees (default 1)"},
    {"--colsample", "share of features each tree may split on (default 1)"},
    {"--bins", "histogram bins per feature, 2..255 (default 255)"},
    {"--objective", "logloss (classes), squared (numbers' default), absolute, quantile or poisson"},
    {"--quantile", "the quantile objective's level, in (0, 1) (default 0.5)"},
    {"--val-split", "share held out to choose the rounds (default 0.1)"},
    {"--patience", "rounds without improvement before stopping (default 20)"},
    {NULL, NULL},
};

const dt_model_ops dt_gbdt_ops = {
    .name = "gbdt",
    .options = gbdt_options,
    .learns = "p(y|x)",
    .caps = DUET_CAN_PREDICT | DUET_CAN_EXPLAIN,
    .about = "gradient-boosted trees on histograms: leaf-wise, missing values and categories split natively, early stopping",
    .fit = gbdt_fit,
    .fit_bytes = fit_bytes,
    .distributed = 1,
    .predict_values = gbdt_values,
    .predict_proba = gbdt_proba,
    .explain = gbdt_explain,
    .importance = gbdt_importance,
    .save = gbdt_save,
    .load = gbdt_load,
    .free_state = dt_gb_free,
    .title = "gradient-boosted trees",
    .targets = DT_TARGET_CLASS | DT_TARGET_NUMBER,
    .features = DT_FEATURES_RAW,
    .compare_on = (1u << DUET_DATA_TABLE),
    .words_only = 1,
};
