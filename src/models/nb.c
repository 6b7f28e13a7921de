/* nb.c — naive Bayes: multinomial (counts, text), Bernoulli (presence) and Gaussian (dense
 * numbers), the same formulas as scikit-learn's MultinomialNB, BernoulliNB and GaussianNB:
 *   multinomial  log p(x|k) = sum_j x_j log theta_kj,  theta_kj = (N_kj + a) / (N_k + a D)
 *   Bernoulli    log p(x|k) = sum_j [x_j>0] log p_kj + [x_j=0] log(1 - p_kj),
 *                p_kj = (N_kj + a) / (N_k + 2a)
 *   Gaussian     log p(x|k) = sum_j log N(x_j; mu_kj, var_kj + eps), eps = 1e-9 max_j var(x_j)
 *   mixed        (tables) one term per column of the table: a numeric column's value is
 *                Gaussian (mean and variance over the class's rows where it is present, the
 *                variance shrunk towards the column's with the weight of a rows:
 *                (SS_kj + a var_j) / (n_kj + a)), a categorical column's
 *                category c has p_kc = (N_kc + a) / (N_k + a Q) over its Q categories; a column
 *                with missing cells has "missing" as one more category (numeric: p(missing|k)
 *                and, when present, (1 - p(missing|k)) N(.)); an unseen category adds nothing
 * where counts are weighted by the sample weights and log p(k) comes from weighted class
 * counts. The smoothing a is `alpha` (1 when 0 reaches fit; api.c tunes it by cross-validation
 * first when the user gave none); the Gaussian model ignores it.
 * AUTO picks multinomial for CSR input whose values are all >= 0 (text counts, LIBSVM
 * counts), mixed for tables (the column layout comes from the feature pipeline), Gaussian
 * otherwise.
 * score() is log p(x) = logsumexp_k(log p(k) + log p(x|k)). For the multinomial model this is
 * the likelihood of the sequence of tokens, without the multinomial coefficient of the bag of
 * counts: comparable across documents of equal length, not across lengths.
 * Not here: features (pipeline), turning samples into text (api.c), choosing alpha (api.c).
 */
#include <float.h>
#include <math.h>

#include "model.h"

#define LOG_2PI 1.8378770664093453
#define MAX_SAMPLE_LEN 1000000 /* longest sampled multinomial document */
#define NB_LOG_TABLE 64          /* whole counts below this take their log from a table */

/* mixed: one column of the table and its features */
typedef struct nb_col {
    int categorical;
    int64_t first, n; /* its first feature, and how many (one-hot categories; 1 when numeric) */
    int64_t miss;     /* its missing-value indicator's feature, -1: none */
} nb_col;

typedef struct nb_state {
    int kind;         /* DUET_NB_MULTINOMIAL, _BERNOULLI, _GAUSSIAN or _MIXED */
    int K;
    int64_t D;
    double alpha;
    double *prior;    /* (K) log p(k); -inf for a class without training weight */
    double *a;        /* (K, D) multinomial, Bernoulli: feature_log_prob; Gaussian: mean */
    double *b;        /* (K, D) Bernoulli: log(1 - p); Gaussian: variance; NULL otherwise */
    double *doc_len;  /* (K) mean sum of counts (multinomial) or of present features (Bernoulli) */
    double *c;        /* (K) derived: Bernoulli sum_j b_kj; Gaussian -0.5 sum_j log(2 pi var) */
    double *q;        /* (K) derived: Gaussian sum_j mean^2 / var (for sparse rows) */
    /* mixed: a holds a numeric feature's mean and b its variance; a holds the log probability of
     * a category or of "missing", and b, for a numeric column's indicator, log(1 - p(missing)) */
    int64_t C;        /* columns */
    nb_col *cols;     /* (C) */
    unsigned char *numeric; /* (D) 1 for a numeric column's value feature */
} nb_state;

static const char *kind_name(int kind) {
    switch (kind) {
    case DUET_NB_MULTINOMIAL: return "multinomial";
    case DUET_NB_BERNOULLI: return "bernoulli";
    case DUET_NB_GAUSSIAN: return "gaussian";
    case DUET_NB_MIXED: return "mixed";
    default: return "?";
    }
}

static void nb_free(duet_ctx *ctx, void *state) {
    nb_state *s = state;
    if (!s) return;
    dt_free(ctx, s->prior); /* one block holds every array but the table layout */
    dt_free(ctx, s->cols);
    dt_free(ctx, s->numeric);
    dt_free(ctx, s);
}

/* A state with all arrays carved from one block (b only for the kinds that use it). The small
 * per-class arrays start at zero; a and b are left to their writers (fit and load write them
 * in full before any read; fit_counts zeroes each class's row in the thread that fills it,
 * which shares out the first touch of a large table). */
static int nb_new(duet_ctx *ctx, int kind, int K, int64_t D, nb_state **out, duet_err *err) {
    *out = NULL;
    size_t kd, two, total;
    if (!dt_mul_ok((size_t)K, (size_t)D, &kd) || !dt_mul_ok(kd, 2, &two) || two > SIZE_MAX - 4 * (size_t)K)
        return dt_err(err, DUET_ERANGE, "naive Bayes: %d classes x %lld features overflows", K, (long long)D);
    total = (kind == DUET_NB_MULTINOMIAL ? kd : two) + 4 * (size_t)K;
    nb_state *s = dt_calloc(ctx, 1, sizeof *s);
    size_t bytes;
    double *blk = s && dt_mul_ok(total, sizeof(double), &bytes) ? dt_alloc(ctx, bytes) : NULL;
    if (!blk) {
        dt_free(ctx, s);
        return dt_err(err, DUET_ENOMEM, "naive Bayes: out of memory (%d classes x %lld features)", K, (long long)D);
    }
    s->kind = kind;
    s->K = K;
    s->D = D;
    memset(blk, 0, 4 * (size_t)K * sizeof(double));
    s->prior = blk;
    s->doc_len = blk + K;
    s->c = blk + 2 * (size_t)K;
    s->q = blk + 3 * (size_t)K;
    s->a = blk + 4 * (size_t)K;
    s->b = kind == DUET_NB_MULTINOMIAL ? NULL : s->a + kd;
    *out = s;
    return DUET_OK;
}

/* mixed: the table's columns from the feature pipeline (checked against D). */
static int table_layout(duet_ctx *ctx, nb_state *s, const dt_pipe *pipe, duet_err *err) {
    int64_t C = dt_pipe_table_cols(pipe);
    if (C < 1) return dt_err(err, DUET_EINVAL, "naive Bayes: the mixed kind models tables (this data is not one)");
    s->cols = dt_alloc_e(ctx, (size_t)C, sizeof(nb_col), "naive Bayes", err);
    s->numeric = dt_alloc_e(ctx, (size_t)s->D, 1, "naive Bayes", err);
    if (!s->cols || !s->numeric) return DUET_ENOMEM;
    s->C = C;
    for (int64_t c = 0; c < C; c++) {
        nb_col *q = &s->cols[c];
        if (!dt_pipe_table_col(pipe, c, &q->categorical, &q->first, &q->n, &q->miss) || q->first < 0 || q->n < 1 ||
            q->first + q->n > s->D || q->miss >= s->D)
            return dt_err(err, DUET_EFORMAT, "naive Bayes: column %lld does not fit the %lld features", (long long)c,
                          (long long)s->D);
        if (!q->categorical) s->numeric[q->first] = 1;
    }
    return DUET_OK;
}

/* Fills the derived arrays (c, q, and b for Bernoulli) from the stored parameters. */
static void derive(nb_state *s) {
    size_t D = (size_t)s->D;
    if (s->kind == DUET_NB_MULTINOMIAL || s->kind == DUET_NB_MIXED) return; /* nothing derived: c and q stay 0 */
    for (int k = 0; k < s->K; k++) {
        const double *a = s->a + (size_t)k * D;
        double *b = s->b + (size_t)k * D;
        double c = 0, q = 0;
        if (s->kind == DUET_NB_BERNOULLI) {
            for (size_t j = 0; j < D; j++) {
                b[j] = log1p(-exp(a[j]));
                c += b[j];
            }
        } else if (s->kind == DUET_NB_GAUSSIAN) {
            for (size_t j = 0; j < D; j++) {
                c += -0.5 * (LOG_2PI + log(b[j]));
                q += a[j] * a[j] / b[j];
            }
        }
        s->c[k] = c;
        s->q[k] = q;
    }
}

/* mixed: log p(x | k) of one dense row r (D), or its part over column c alone (c >= 0). */
static double mixed_row(const nb_state *s, int k, const float *r, int64_t only) {
    const double *a = s->a + (size_t)k * (size_t)s->D, *b = s->b + (size_t)k * (size_t)s->D;
    double t = 0;
    for (int64_t c = only < 0 ? 0 : only; c < (only < 0 ? s->C : only + 1); c++) {
        const nb_col *q = &s->cols[c];
        int missing = q->miss >= 0 && r[q->miss] > 0.5f;
        if (!q->categorical) {
            if (missing) {
                t += a[q->miss];
            } else {
                double d = (double)r[q->first] - a[q->first], v = b[q->first];
                t += -0.5 * (LOG_2PI + log(v)) - 0.5 * d * d / v + (q->miss >= 0 ? b[q->miss] : 0.0);
            }
        } else if (missing) {
            t += a[q->miss];
        } else {
            for (int64_t i = 0; i < q->n; i++)
                if (r[q->first + i] > 0.5f) { /* a category the training data had (else: no evidence) */
                    t += a[q->first + i];
                    break;
                }
        }
    }
    return t;
}

/* log p(k) + log p(x_i | k) for every class into out (K). */
static void jll_row(const nb_state *s, const dt_mat *X, int64_t i, double *out) {
    size_t D = (size_t)s->D;
    if (s->kind == DUET_NB_MIXED) { /* tables are dense */
        for (int k = 0; k < s->K; k++) out[k] = s->prior[k] + mixed_row(s, k, X->x + (size_t)i * D, -1);
        return;
    }
    for (int k = 0; k < s->K; k++) {
        const double *a = s->a + (size_t)k * D, *b = s->b ? s->b + (size_t)k * D : NULL;
        double t = 0;
        if (X->x) {
            const float *r = X->x + (size_t)i * D;
            switch (s->kind) {
            case DUET_NB_MULTINOMIAL:
                for (size_t j = 0; j < D; j++)
                    if (r[j] != 0) t += (double)r[j] * a[j];
                break;
            case DUET_NB_BERNOULLI:
                t = s->c[k];
                for (size_t j = 0; j < D; j++)
                    if (r[j] > 0) t += a[j] - b[j];
                break;
            default:
                t = s->c[k];
                for (size_t j = 0; j < D; j++) {
                    double d = (double)r[j] - a[j];
                    t -= 0.5 * d * d / b[j];
                }
            }
        } else {
            int64_t p0 = X->rowptr[i], p1 = X->rowptr[i + 1];
            switch (s->kind) {
            case DUET_NB_MULTINOMIAL:
                for (int64_t p = p0; p < p1; p++) t += (double)X->val[p] * a[X->col[p]];
                break;
            case DUET_NB_BERNOULLI:
                t = s->c[k];
                for (int64_t p = p0; p < p1; p++)
                    if (X->val[p] > 0) t += a[X->col[p]] - b[X->col[p]];
                break;
            default: /* -(x-m)^2/2v = -m^2/2v - (x^2 - 2xm)/2v; the first summed over all j in q */
                t = s->c[k] - 0.5 * s->q[k];
                for (int64_t p = p0; p < p1; p++) {
                    double x = X->val[p], m = a[X->col[p]];
                    t -= 0.5 * (x * x - 2 * x * m) / b[X->col[p]];
                }
            }
        }
        out[k] = s->prior[k] + t;
    }
}

static double logsumexp(const double *v, int K) {
    double mx = -INFINITY;
    for (int k = 0; k < K; k++)
        if (v[k] > mx) mx = v[k];
    if (!isfinite(mx)) return mx;
    double se = 0;
    for (int k = 0; k < K; k++) se += exp(v[k] - mx);
    return mx + log(se);
}

static int check_x(const nb_state *s, const dt_mat *X, duet_err *err) {
    if (X->D != s->D)
        return dt_err(err, DUET_EINVAL, "naive Bayes: input has %lld features, the model %lld", (long long)X->D,
                      (long long)s->D);
    if (s->kind == DUET_NB_MIXED && !X->x) return dt_err(err, DUET_EINVAL, "naive Bayes: the mixed kind reads table rows");
    return DUET_OK;
}

// --- fit ----------------------------------------------------------------------------------------

/* Every value finite, and for multinomial counts >= 0: the first that is not, by row, is an
 * error naming the row and feature. */
static int check_values(const dt_mat *X, int kind, duet_err *err) {
    size_t n = X->x ? (size_t)X->N * (size_t)X->D : (size_t)X->rowptr[X->N];
    const float *v = X->x ? X->x : X->val;
    size_t t = dt_first_outside(v, n, kind == DUET_NB_MULTINOMIAL ? 0.0f : -FLT_MAX, FLT_MAX);
    if (t == n) return DUET_OK;
    int64_t i, j;
    if (X->x) {
        i = (int64_t)(t / (size_t)X->D), j = (int64_t)(t % (size_t)X->D);
    } else { /* the row holding value t */
        int64_t lo = 0, hi = X->N;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (X->rowptr[mid] <= (int64_t)t) lo = mid;
            else hi = mid;
        }
        i = lo, j = X->col[t];
    }
    if (!isfinite(v[t]))
        return dt_err(err, DUET_EINVAL, "naive Bayes: row %lld feature %lld is not a finite number", (long long)i + 1, (long long)j);
    return dt_err(err, DUET_EINVAL,
                  "multinomial naive Bayes needs counts >= 0, but row %lld feature %lld is %g "
                  "(use the Gaussian kind for such features)",
                  (long long)i + 1, (long long)j, (double)v[t]);
}

/* Class k's weighted counts from its rows rows[0..n) (in row order): returns W_k (class
 * weight), fills F_k (D: sum of w x, or of w [x > 0] for Bernoulli) and *L (sum of w * row
 * total), then turns F_k into log probabilities with smoothing alpha. */
/* Class k's weighted counts into F (D), its total weight (returned) and total count *Lsum. */
static double count_class(const dt_mat *X, const int64_t *rows, int64_t n, const double *sw, const double *rowtot, int kind,
                          double *F, double *Lsum) {
    size_t D = (size_t)X->D;
    double Wk = 0, Lk = 0;
    memset(F, 0, D * sizeof *F);
    for (int64_t r = 0; r < n; r++) {
        int64_t i = rows[r];
        double w = sw ? sw[i] : 1.0;
        Wk += w;
        Lk += w * rowtot[i];
        int64_t m = X->x ? X->D : X->rowptr[i + 1] - X->rowptr[i];
        for (int64_t t = 0; t < m; t++) {
            size_t j = X->x ? (size_t)t : (size_t)X->col[X->rowptr[i] + t];
            double v = X->x ? X->x[(size_t)i * D + j] : X->val[X->rowptr[i] + t];
            if (kind == DUET_NB_MULTINOMIAL) F[j] += w * v;
            else if (v > 0) F[j] += w;
        }
    }
    *Lsum = Lk;
    return Wk;
}

/* Counts F (D) into log probabilities; *L receives the class's mean document length. */
static void finish_class(size_t D, int kind, double alpha, double Wk, double Lk, double *F, double *L) {
    double den = kind == DUET_NB_MULTINOMIAL ? log(Lk + alpha * (double)D) : log(Wk + 2 * alpha);
    /* most counts of a text model are small whole numbers (zero above all): log(c + alpha) for
     * c < NB_LOG_TABLE comes from a table of the same logs */
    double lt[NB_LOG_TABLE];
    for (int c = 0; c < NB_LOG_TABLE; c++) lt[c] = log(c + alpha) - den;
    for (size_t j = 0; j < D; j++) {
        double c = F[j];
        F[j] = c < NB_LOG_TABLE && c == (double)(int)c ? lt[(int)c] : log(c + alpha) - den;
    }
    *L = Wk > 0 ? Lk / Wk : 0;
}

/* Multinomial and Bernoulli: the classes' counts and log probabilities, one class per thread
 * at a time (each class sums its rows in row order, so any thread count gives the same bits;
 * the first touch of the K x D table's pages is shared out too). */
static int fit_counts(duet_ctx *ctx, nb_state *s, const dt_mat *X, const int32_t *y, const double *sw, double alpha,
                      double *W, duet_err *err) {
    int K = s->K;
    int64_t N = X->N;
    int64_t *rows = dt_alloc_e(ctx, (size_t)N, sizeof(int64_t), "naive Bayes", err);
    int64_t *start = dt_alloc_e(ctx, (size_t)K + 1, sizeof(int64_t), "naive Bayes", err);
    double *rowtot = dt_alloc_e(ctx, (size_t)N, sizeof(double), "naive Bayes", err);
    if (!rows || !start || !rowtot) {
        dt_free(ctx, rows);
        dt_free(ctx, start);
        dt_free(ctx, rowtot);
        return DUET_ENOMEM;
    }
    /* each row's total (its count of words; for Bernoulli its non-zero values), four partial sums */
    for (int64_t i = 0; i < N; i++) {
        int64_t m = X->x ? X->D : X->rowptr[i + 1] - X->rowptr[i];
        const float *v = X->x ? X->x + (size_t)i * (size_t)X->D : X->val + X->rowptr[i];
        double acc[4] = {0, 0, 0, 0};
        int64_t t = 0;
        if (s->kind == DUET_NB_MULTINOMIAL)
            for (; t + 4 <= m; t += 4)
                for (int q = 0; q < 4; q++) acc[q] += v[t + q];
        for (; t < m; t++) acc[0] += s->kind == DUET_NB_MULTINOMIAL ? v[t] : v[t] > 0;
        rowtot[i] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
    for (int64_t i = 0; i < N; i++) start[y[i] + 1]++;
    for (int k = 0; k < K; k++) start[k + 1] += start[k];
    for (int64_t i = 0; i < N; i++) rows[start[y[i]]++] = i; /* start[k] ends at class k's end */
    for (int k = K; k > 0; k--) start[k] = start[k - 1];
    start[0] = 0;
    size_t D = (size_t)s->D;
    /* a thread team pays off from a few milliseconds of work (SMS spam's 200k values take 2 ms) */
    int big = (double)K * (double)D + (double)(X->x ? (double)N * (double)D : (double)X->rowptr[N]) > 2e6;
    (void)big; /* used by the pragma only */
    double *Lk = s->doc_len; /* the class totals until finish_class makes them means */
    int dist = dt_distributed(ctx);
#pragma omp parallel for schedule(dynamic, 1) num_threads(dt_threads(ctx)) if (big)
    for (int k = 0; k < K; k++) {
        double *F = s->a + (size_t)k * D;
        W[k] = count_class(X, rows + start[k], start[k + 1] - start[k], sw, rowtot, s->kind, F, &Lk[k]);
        if (!dist) finish_class(D, s->kind, alpha, W[k], Lk[k], F, &s->doc_len[k]); /* while F is in cache */
    }
    if (dist) { /* data-parallel: every process's counts, then the logs */
        int rc = dt_reduce(ctx, s->a, (size_t)K * D, err);
        if (!rc) rc = dt_reduce(ctx, W, (size_t)K, err);
        if (!rc) rc = dt_reduce(ctx, Lk, (size_t)K, err);
        if (rc) {
            dt_free(ctx, rows);
            dt_free(ctx, start);
            dt_free(ctx, rowtot);
            return rc;
        }
        for (int k = 0; k < K; k++) finish_class(D, s->kind, alpha, W[k], Lk[k], s->a + (size_t)k * D, &s->doc_len[k]);
    }
    dt_free(ctx, rows);
    dt_free(ctx, start);
    dt_free(ctx, rowtot);
    return DUET_OK;
}

/* Gaussian: weighted per-class means and variances plus eps = 1e-9 * the largest (unweighted)
 * variance of any feature over all rows, as GaussianNB's var_smoothing. W (K) holds the class
 * weights of this process's rows; data-parallel, the sums of every pass (and W) are added
 * across the processes. */
static int fit_gaussian(duet_ctx *ctx, nb_state *s, const dt_mat *X, const int32_t *y, const double *sw, double *W,
                        duet_err *err) {
    size_t D = (size_t)X->D, K = (size_t)s->K;
    int64_t N = X->N, Ng = N;
    int rc = dt_reduce_count(ctx, &Ng, err);
    if (!rc) rc = dt_reduce(ctx, W, K, err);
    if (rc) return rc;
    double *gm = dt_calloc(ctx, D * 2, sizeof(double)); /* overall mean and variance */
    if (!gm) return dt_err(err, DUET_ENOMEM, "naive Bayes: out of memory");
    memset(s->a, 0, K * D * sizeof(double));
    memset(s->b, 0, K * D * sizeof(double));
    double *gv = gm + D;
    for (int64_t i = 0; i < N; i++) {
        double w = sw ? sw[i] : 1.0;
        double *m = s->a + (size_t)y[i] * D;
        if (X->x) {
            const float *r = X->x + (size_t)i * D;
            for (size_t j = 0; j < D; j++) {
                m[j] += w * r[j];
                gm[j] += r[j];
            }
        } else {
            for (int64_t p = X->rowptr[i]; p < X->rowptr[i + 1]; p++) {
                m[X->col[p]] += w * X->val[p];
                gm[X->col[p]] += X->val[p];
            }
        }
    }
    if ((rc = dt_reduce(ctx, s->a, K * D, err)) || (rc = dt_reduce(ctx, gm, D, err))) goto fail;
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < D; j++) s->a[k * D + j] = W[k] > 0 ? s->a[k * D + j] / W[k] : 0;
    for (size_t j = 0; j < D; j++) gm[j] /= (double)Ng;
    for (int64_t i = 0; i < N; i++) {
        double w = sw ? sw[i] : 1.0;
        const double *m = s->a + (size_t)y[i] * D;
        double *v = s->b + (size_t)y[i] * D;
        if (X->x) {
            const float *r = X->x + (size_t)i * D;
            for (size_t j = 0; j < D; j++) {
                double d = r[j] - m[j], g = r[j] - gm[j];
                v[j] += w * d * d;
                gv[j] += g * g;
            }
        } else {
            for (int64_t p = X->rowptr[i]; p < X->rowptr[i + 1]; p++) {
                size_t j = (size_t)X->col[p];
                double d = X->val[p] - m[j], g = X->val[p] - gm[j], z = m[j], h = gm[j];
                v[j] += w * (d * d - z * z); /* the zero this value replaces was counted below */
                gv[j] += g * g - h * h;
            }
        }
    }
    if ((rc = dt_reduce(ctx, s->b, K * D, err)) || (rc = dt_reduce(ctx, gv, D, err))) goto fail;
    if (!X->x) { /* every row's zeros: (0 - m)^2 for all entries, corrected above for stored ones */
        for (size_t k = 0; k < K; k++)
            for (size_t j = 0; j < D; j++) s->b[k * D + j] += W[k] * s->a[k * D + j] * s->a[k * D + j];
        for (size_t j = 0; j < D; j++) gv[j] += (double)Ng * gm[j] * gm[j];
    }
    double mx = 0;
    for (size_t j = 0; j < D; j++)
        if (gv[j] / (double)Ng > mx) mx = gv[j] / (double)Ng;
    double eps = 1e-9 * mx;
    if (!(eps > 0)) eps = 1e-9;
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < D; j++) {
            double *v = s->b + k * D + j;
            *v = (W[k] > 0 ? (*v > 0 ? *v : 0) / W[k] : 1.0) + eps;
        }
fail:
    dt_free(ctx, gm);
    return rc;
}

/* mixed: per class, the weighted mean and variance of each numeric column over the rows where
 * it is present, the smoothed frequencies of each categorical column's categories, and of
 * "missing" (see the top of the file). W (K) receives the class weights. Data-parallel, each
 * pass's sums are added across the processes. */
static int fit_mixed(duet_ctx *ctx, nb_state *s, const dt_mat *X, const int32_t *y, const double *sw, double alpha,
                     double *W, duet_err *err) {
    size_t D = (size_t)s->D, K = (size_t)s->K;
    int64_t N = X->N;
    double *pw = dt_calloc(ctx, K * D, sizeof(double)); /* weight of the rows where a numeric value is present */
    double *gm = dt_calloc(ctx, 2 * D, sizeof(double)), *gv = gm ? gm + D : NULL, *gn = dt_calloc(ctx, D, sizeof(double));
    if (!pw || !gm || !gn) {
        dt_free(ctx, pw);
        dt_free(ctx, gm);
        dt_free(ctx, gn);
        return dt_err(err, DUET_ENOMEM, "naive Bayes: out of memory");
    }
    memset(s->a, 0, K * D * sizeof(double));
    memset(s->b, 0, K * D * sizeof(double));
    int rc = DUET_OK;
    for (int pass = 0; pass < 2; pass++) { /* sums, then squared deviations from the means */
        for (int64_t i = 0; i < N; i++) {
            double w = sw ? sw[i] : 1.0;
            size_t k = (size_t)y[i];
            const float *r = X->x + (size_t)i * D;
            double *a = s->a + k * D, *b = s->b + k * D, *p = pw + k * D;
            if (pass == 0) W[k] += w;
            for (int64_t c = 0; c < s->C; c++) {
                const nb_col *q = &s->cols[c];
                int missing = q->miss >= 0 && r[q->miss] > 0.5f;
                size_t j = (size_t)q->first;
                if (pass == 1) {
                    if (!q->categorical && !missing) {
                        double d = r[j] - a[j], e = r[j] - gm[j];
                        b[j] += w * d * d;
                        gv[j] += e * e;
                    }
                    continue;
                }
                if (missing) a[q->miss] += w;
                else if (!q->categorical) a[j] += w * r[j], p[j] += w, gm[j] += r[j], gn[j] += 1;
                else
                    for (int64_t t = 0; t < q->n; t++)
                        if (r[j + (size_t)t] > 0.5f) a[j + (size_t)t] += w;
            }
        }
        if (pass == 1) {
            if ((rc = dt_reduce(ctx, s->b, K * D, err)) || (rc = dt_reduce(ctx, gv, D, err))) goto fail;
            break;
        }
        if ((rc = dt_reduce(ctx, s->a, K * D, err)) || (rc = dt_reduce(ctx, pw, K * D, err)) ||
            (rc = dt_reduce(ctx, gm, D, err)) || (rc = dt_reduce(ctx, gn, D, err)) || (rc = dt_reduce(ctx, W, K, err)))
            goto fail;
        for (size_t kk = 0; kk < K; kk++) /* the sums become means before the second pass */
            for (int64_t c = 0; c < s->C; c++) {
                const nb_col *q = &s->cols[c];
                size_t o = kk * D + (size_t)q->first;
                if (!q->categorical) s->a[o] = pw[o] > 0 ? s->a[o] / pw[o] : 0.0;
                if (!q->categorical && kk == 0) gm[q->first] = gn[q->first] > 0 ? gm[q->first] / gn[q->first] : 0;
            }
    }
    /* a class's variance is shrunk towards the column's overall one with the weight of alpha
     * rows (alpha pseudo-rows, as for the categories), so that a class seen a few times, or
     * always with the same value, does not get a spike: (SS + alpha v) / (n + alpha) */
    for (size_t k = 0; k < K; k++)
        for (int64_t c = 0; c < s->C; c++) {
            const nb_col *q = &s->cols[c];
            double *a = s->a + k * D, *b = s->b + k * D;
            size_t j = (size_t)q->first;
            if (!q->categorical) {
                double present = pw[k * D + j], v = gn[j] > 1 ? gv[j] / gn[j] : 1.0;
                if (!(v > 1e-12)) v = 1e-12;
                b[j] = (b[j] + alpha * v) / (present + alpha);
                if (q->miss >= 0) {
                    double pm = (a[q->miss] + alpha) / (W[k] + 2 * alpha);
                    a[q->miss] = log(pm), b[q->miss] = log1p(-pm);
                }
            } else {
                double den = log(W[k] + alpha * (double)(q->n + (q->miss >= 0)));
                for (int64_t t = 0; t < q->n; t++) a[j + (size_t)t] = log(a[j + (size_t)t] + alpha) - den;
                if (q->miss >= 0) a[q->miss] = log(a[q->miss] + alpha) - den;
            }
        }
fail:
    dt_free(ctx, pw);
    dt_free(ctx, gm);
    dt_free(ctx, gn);
    return rc;
}

/* The kind asked for, or for AUTO: multinomial for non-negative sparse features (counts,
 * TF-IDF), mixed for tables, Gaussian otherwise. */
static int kind_for(const duet_ctx *ctx, const duet_train_params *p, const dt_mat *X, const dt_pipe *pipe, int *kind,
                    duet_err *err) {
    *kind = p->nb_kind;
    if (p->nb_kind != DUET_NB_AUTO) return DUET_OK;
    *kind = DUET_NB_GAUSSIAN;
    if (dt_pipe_table_cols(pipe) > 0 && X->x) *kind = DUET_NB_MIXED;
    if (X->x) return DUET_OK;
    double negative = 0;
    for (int64_t t = 0; t < X->rowptr[X->N] && !negative; t++)
        if (!(X->val[t] >= 0)) negative = 1;
    int rc = dt_reduce(ctx, &negative, 1, err); /* data-parallel: any process's rows decide for all */
    *kind = negative > 0 ? DUET_NB_GAUSSIAN : DUET_NB_MULTINOMIAL;
    return rc;
}

static int nb_tunes(const duet_model *m, const dt_fit_args *a, int *applies, duet_err *err) {
    int kind;
    int rc = kind_for(m->ctx, a->p, a->X, m->pipe, &kind, err);
    *applies = kind != DUET_NB_GAUSSIAN;
    return rc;
}

static int nb_fit(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err) {
    const duet_train_params *p = a->p;
    const dt_mat *X = a->X;
    int K = a->K;
    int64_t D = X->D;
    if (p->nb_kind < DUET_NB_AUTO || p->nb_kind > DUET_NB_MIXED)
        return dt_err(err, DUET_EINVAL, "naive Bayes: unknown kind %d (auto, multinomial, bernoulli, gaussian, mixed)",
                      p->nb_kind);
    if (!(p->alpha >= 0) || isinf(p->alpha))
        return dt_err(err, DUET_EINVAL, "naive Bayes: alpha must be >= 0 (got %g)", p->alpha);
    if (K < 2 || X->N < 1 || D < 1)
        return dt_err(err, DUET_EINVAL, "naive Bayes: need 2+ classes, rows and features (K=%d, N=%lld, D=%lld)", K,
                      (long long)X->N, (long long)D);
    int kind;
    int rc = kind_for(ctx, p, X, m->pipe, &kind, err);
    if (!rc) rc = check_values(X, kind, err);
    if (rc) return rc;
    double alpha = p->alpha == 0 ? 1.0 : p->alpha;
    if (alpha < 1e-10) alpha = 1e-10; /* as scikit-learn: never a log of zero */
    nb_state *s = NULL;
    double *W = dt_calloc(ctx, (size_t)K, sizeof(double));
    if (!W) return dt_err(err, DUET_ENOMEM, "naive Bayes: out of memory");
    DT_TRY(nb_new(ctx, kind, K, D, &s, err));
    s->alpha = kind == DUET_NB_GAUSSIAN ? 0 : alpha;
    if (kind == DUET_NB_GAUSSIAN) {
        for (int64_t i = 0; i < X->N; i++) W[a->y[i]] += a->sw ? a->sw[i] : 1.0;
        DT_TRY(fit_gaussian(ctx, s, X, a->y, a->sw, W, err));
    } else if (kind == DUET_NB_MIXED) {
        if (!X->x) {
            rc = dt_err(err, DUET_EINVAL, "naive Bayes: the mixed kind models tables (this data is not one)");
            goto fail;
        }
        DT_TRY(table_layout(ctx, s, m->pipe, err));
        DT_TRY(fit_mixed(ctx, s, X, a->y, a->sw, alpha, W, err));
    } else {
        DT_TRY(fit_counts(ctx, s, X, a->y, a->sw, alpha, W, err));
    }
    double Wt = 0;
    for (int k = 0; k < K; k++) Wt += W[k];
    if (!(Wt > 0)) {
        rc = dt_err(err, DUET_EINVAL, "naive Bayes: the sample weights sum to %g", Wt);
        goto fail;
    }
    for (int k = 0; k < K; k++) s->prior[k] = W[k] > 0 ? log(W[k] / Wt) : -INFINITY;
    derive(s);
    if (a->verbose) {
        /* only the final fit (cross-validation folds share m's pool and must not write meta) */
        dt_log(ctx, 0, "nb: %s, %d classes, %lld features", kind_name(kind), K, (long long)D);
        dt_model_meta_set(m, "nb_kind", "%s", kind_name(kind));
        if (kind == DUET_NB_GAUSSIAN) dt_model_meta_set(m, "alpha", "unused (gaussian)");
        else dt_model_meta_set(m, "alpha", "%g", alpha);
    }
    if (m->state) nb_free(ctx, m->state);
    m->state = s;
    s = NULL;
fail:
    nb_free(ctx, s);
    dt_free(ctx, W);
    return rc;
}

// --- prediction ---------------------------------------------------------------------------------

/* Runs jll_row over all rows with a per-thread buffer of K doubles; mode 0 writes
 * probabilities into P, mode 1 writes log p(x) into logp. */
static int over_rows(duet_ctx *ctx, const nb_state *s, const dt_mat *X, float *P, double *logp, duet_err *err) {
    int rc = check_x(s, X, err);
    if (rc) return rc;
    int nt = X->N > 64 ? dt_threads(ctx) : 1;
    double *buf = dt_alloc_e(ctx, (size_t)nt, (size_t)s->K * sizeof(double), "naive Bayes", err);
    if (!buf) return err ? err->code : DUET_ENOMEM;
    int K = s->K;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *v = buf + (size_t)tid * (size_t)K;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t i = 0; i < X->N; i++) {
            jll_row(s, X, i, v);
            double lse = logsumexp(v, K);
            if (logp) logp[i] = lse;
            if (P) {
                float *pr = P + (size_t)i * (size_t)K;
                for (int k = 0; k < K; k++) pr[k] = isfinite(lse) ? (float)exp(v[k] - lse) : 1.0f / (float)K;
            }
        }
    }
    dt_free(ctx, buf);
    return DUET_OK;
}

static int nb_predict_proba(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *P, duet_err *err) {
    if (!m->state) return dt_err(err, DUET_EINVAL, "naive Bayes: the model is not fitted");
    return over_rows(ctx, m->state, X, P, NULL, err);
}

static int nb_score(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *logp, duet_err *err) {
    if (!m->state) return dt_err(err, DUET_EINVAL, "naive Bayes: the model is not fitted");
    return over_rows(ctx, m->state, X, NULL, logp, err);
}

/* Per-feature log-likelihood term of feature j with value x under class k (the part that
 * explain and feature weights compare between classes). */
static double feature_term(const nb_state *s, int k, size_t j, double x) {
    size_t o = (size_t)k * (size_t)s->D + j;
    if (s->kind == DUET_NB_MIXED && !s->numeric[j]) return x > 0.5 ? s->a[o] : 0; /* a category or "missing" */
    switch (s->kind) {
    case DUET_NB_MULTINOMIAL: return x * s->a[o];
    case DUET_NB_BERNOULLI: return x > 0 ? s->a[o] - s->b[o] : 0;
    default: {
        double d = x - s->a[o];
        return -0.5 * (LOG_2PI + log(s->b[o])) - 0.5 * d * d / s->b[o];
    }
    }
}

/* term(k) minus the mean term of the other classes: the log-likelihood ratio of feature j. */
static double ratio(const nb_state *s, int k, size_t j, double x) {
    double o = 0;
    for (int c = 0; c < s->K; c++)
        if (c != k) o += feature_term(s, c, j, x);
    return feature_term(s, k, j, x) - o / (s->K - 1);
}

static int nb_explain(duet_ctx *ctx, const duet_model *m, const dt_mat *X, int64_t i, int k, int64_t *feat,
                      double *val, int64_t *n, duet_err *err) {
    (void)ctx;
    const nb_state *s = m->state;
    *n = 0;
    if (!s) return dt_err(err, DUET_EINVAL, "naive Bayes: the model is not fitted");
    int rc = check_x(s, X, err);
    if (rc) return rc;
    if (i < 0 || i >= X->N || k < 0 || k >= s->K)
        return dt_err(err, DUET_ERANGE, "naive Bayes: row %lld / class %d out of range", (long long)i, k);
    int64_t cnt = 0;
    if (X->x) {
        const float *r = X->x + (size_t)i * (size_t)s->D;
        for (int64_t j = 0; j < s->D; j++) {
            if (r[j] == 0 && s->kind != DUET_NB_GAUSSIAN && !(s->kind == DUET_NB_MIXED && s->numeric[j])) continue;
            feat[cnt] = j;
            val[cnt++] = ratio(s, k, (size_t)j, r[j]);
        }
    } else {
        for (int64_t p = X->rowptr[i]; p < X->rowptr[i + 1]; p++) {
            feat[cnt] = X->col[p];
            val[cnt++] = ratio(s, k, (size_t)X->col[p], X->val[p]);
        }
    }
    *n = cnt;
    return DUET_OK;
}

static int nb_feature_weights(duet_ctx *ctx, const duet_model *m, int k, double *val, duet_err *err) {
    (void)ctx;
    const nb_state *s = m->state;
    if (!s) return dt_err(err, DUET_EINVAL, "naive Bayes: the model is not fitted");
    if (k < 0 || k >= s->K) return dt_err(err, DUET_ERANGE, "naive Bayes: class %d out of range", k);
    size_t D = (size_t)s->D;
    for (size_t j = 0; j < D; j++) {
        if (s->kind == DUET_NB_GAUSSIAN || (s->kind == DUET_NB_MIXED && s->numeric[j])) { /* standardised difference of means */
            double mo = 0, v = 0;
            for (int c = 0; c < s->K; c++) {
                if (c != k) mo += s->a[(size_t)c * D + j];
                v += s->b[(size_t)c * D + j];
            }
            val[j] = (s->a[(size_t)k * D + j] - mo / (s->K - 1)) / sqrt(v / s->K);
        } else {
            val[j] = ratio(s, k, j, 1.0);
        }
    }
    return DUET_OK;
}

// --- sampling -----------------------------------------------------------------------------------

static int64_t poisson(dt_rng *r, double lambda) {
    if (!(lambda > 0)) return 0;
    if (lambda < 30) { /* Knuth: multiply uniforms until below e^-lambda */
        double l = exp(-lambda), p = 1;
        int64_t k = 0;
        do {
            k++;
            p *= dt_rng_uniform(r);
        } while (p > l);
        return k - 1;
    }
    double v = floor(lambda + sqrt(lambda) * dt_rng_normal(r) + 0.5);
    return v < 0 ? 0 : v > MAX_SAMPLE_LEN ? MAX_SAMPLE_LEN : (int64_t)v;
}

static int nb_sample(duet_ctx *ctx, const duet_model *m, int *kp, dt_rng *rng, const duet_sample_opts *o, float *x,
                      duet_err *err) {
    (void)o;
    const nb_state *s = m->state;
    int k = *kp;
    if (!s) return dt_err(err, DUET_EINVAL, "naive Bayes: the model is not fitted");
    if (k >= s->K) return dt_err(err, DUET_ERANGE, "naive Bayes: class %d out of range (%d classes)", k, s->K);
    size_t D = (size_t)s->D;
    if (k < 0) { /* draw the class from the prior */
        double u = dt_rng_uniform(rng), acc = 0;
        k = s->K - 1;
        for (int c = 0; c < s->K; c++) {
            acc += exp(s->prior[c]);
            if (u < acc) {
                k = c;
                break;
            }
        }
        while (k > 0 && !isfinite(s->prior[k])) k--;
        *kp = k;
    }
    const double *a = s->a + (size_t)k * D, *b = s->b ? s->b + (size_t)k * D : NULL;
    memset(x, 0, D * sizeof(float));
    if (s->kind == DUET_NB_MULTINOMIAL) {
        double *cdf = dt_alloc_e(ctx, D, sizeof(double), "naive Bayes sample", err);
        if (!cdf) return err ? err->code : DUET_ENOMEM;
        double acc = 0;
        for (size_t j = 0; j < D; j++) cdf[j] = acc += exp(a[j]);
        int64_t L = poisson(rng, s->doc_len[k]);
        if (L < 1) L = 1;
        for (int64_t t = 0; t < L; t++) {
            double u = dt_rng_uniform(rng) * acc;
            size_t lo = 0, hi = D - 1; /* first j with cdf[j] > u */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (cdf[mid] > u) hi = mid;
                else lo = mid + 1;
            }
            x[lo] += 1.0f;
        }
        dt_free(ctx, cdf);
    } else if (s->kind == DUET_NB_BERNOULLI) {
        for (size_t j = 0; j < D; j++) x[j] = dt_rng_uniform(rng) < exp(a[j]) ? 1.0f : 0.0f;
    } else if (s->kind == DUET_NB_MIXED) { /* per column: missing or not, then the value or category */
        for (int64_t c = 0; c < s->C; c++) {
            const nb_col *q = &s->cols[c];
            size_t j = (size_t)q->first;
            if (!q->categorical) {
                if (q->miss >= 0 && dt_rng_uniform(rng) < exp(a[q->miss])) x[q->miss] = 1.0f;
                else x[j] = (float)(a[j] + sqrt(b[j]) * dt_rng_normal(rng));
                continue;
            }
            double u = dt_rng_uniform(rng), acc = 0;
            int64_t pick = q->miss >= 0 ? q->miss : (int64_t)j + q->n - 1; /* what the rounding leaves */
            for (int64_t t = 0; t < q->n; t++) {
                acc += exp(a[j + (size_t)t]);
                if (u < acc) {
                    pick = (int64_t)j + t;
                    break;
                }
            }
            x[pick] = 1.0f;
        }
    } else {
        for (size_t j = 0; j < D; j++) x[j] = (float)(a[j] + sqrt(b[j]) * dt_rng_normal(rng));
    }
    return DUET_OK;
}

// --- missing values ---------------------------------------------------------------------------------

/* mixed: p(k | the observed cells) (or the known k), then each missing column from
 * sum_k p(k | observed) p(column | k): its mean for a number and its most probable category,
 * or a draw (class first, then the value). Missing-at-random: a missing cell is evidence of
 * nothing. */
static int nb_impute(duet_ctx *ctx, const duet_model *m, const float *x, const unsigned char *miss, int k, int draw,
                     dt_rng *r, float *out, duet_err *err) {
    const nb_state *s = m->state;
    if (!s || s->kind != DUET_NB_MIXED)
        return dt_err(err, DUET_EUNSUPPORTED, "naive Bayes fills missing values of tables (the mixed kind); this one is %s",
                      s ? kind_name(s->kind) : "not fitted");
    int K = s->K;
    size_t D = (size_t)s->D;
    double *post = dt_alloc_e(ctx, (size_t)K, sizeof(double), "impute", err);
    if (!post) return DUET_ENOMEM;
    for (int c = 0; c < K; c++) {
        post[c] = k >= 0 ? (c == k ? 0.0 : -INFINITY) : s->prior[c];
        for (int64_t col = 0; k < 0 && col < s->C; col++)
            if (!miss[col]) post[c] += mixed_row(s, c, x, col);
    }
    double lse = logsumexp(post, K);
    for (int c = 0; c < K; c++) post[c] = isfinite(lse) ? exp(post[c] - lse) : 1.0 / K;
    memcpy(out, x, D * sizeof(float));
    int kd = 0; /* a drawn class, for draw */
    if (draw) {
        double u = dt_rng_uniform(r), acc = 0;
        kd = K - 1;
        for (int c = 0; c < K; c++)
            if (u < (acc += post[c])) {
                kd = c;
                break;
            }
    }
    for (int64_t col = 0; col < s->C; col++) {
        if (!miss[col]) continue;
        const nb_col *q = &s->cols[col];
        size_t j = (size_t)q->first;
        if (q->miss >= 0) out[q->miss] = 0.0f;
        if (!q->categorical) {
            double v = 0;
            if (draw) v = s->a[(size_t)kd * D + j] + sqrt(s->b[(size_t)kd * D + j]) * dt_rng_normal(r);
            else
                for (int c = 0; c < K; c++) v += post[c] * s->a[(size_t)c * D + j];
            out[j] = (float)v;
            continue;
        }
        int64_t best = 0;
        double bp = -1;
        if (draw) { /* a category of the drawn class, renormalised without "missing" */
            double tot = 0, acc = 0;
            for (int64_t t = 0; t < q->n; t++) tot += exp(s->a[(size_t)kd * D + j + (size_t)t]);
            double u = dt_rng_uniform(r) * tot;
            best = q->n - 1;
            for (int64_t t = 0; t < q->n; t++)
                if (u < (acc += exp(s->a[(size_t)kd * D + j + (size_t)t]))) {
                    best = t;
                    break;
                }
        } else {
            for (int64_t t = 0; t < q->n; t++) {
                double pt = 0;
                for (int c = 0; c < K; c++) pt += post[c] * exp(s->a[(size_t)c * D + j + (size_t)t]);
                if (pt > bp) bp = pt, best = t;
            }
        }
        for (int64_t t = 0; t < q->n; t++) out[j + (size_t)t] = t == best ? 1.0f : 0.0f;
    }
    dt_free(ctx, post);
    return DUET_OK;
}

// --- files --------------------------------------------------------------------------------------

static int nb_save(const duet_model *m, dt_st_writer *w, duet_err *err) {
    const nb_state *s = m->state;
    if (!s) return dt_err(err, DUET_EINVAL, "naive Bayes: the model is not fitted");
    int64_t shape[2] = {s->K, s->D};
    int rc = DUET_OK;
    DT_TRY(dt_st_meta(w, "model.kind", kind_name(s->kind), err));
    DT_TRY(dt_st_metaf(w, err, "model.alpha", "%.17g", s->alpha));
    DT_TRY(dt_st_add1(w, "model.class_log_prior", DT_F64, s->K, s->prior, err));
    DT_TRY(dt_st_add1(w, "model.doc_len", DT_F64, s->K, s->doc_len, err));
    if (s->kind == DUET_NB_GAUSSIAN) {
        DT_TRY(dt_st_add(w, "model.theta", DT_F64, 2, shape, s->a, err));
        DT_TRY(dt_st_add(w, "model.var", DT_F64, 2, shape, s->b, err));
    } else if (s->kind == DUET_NB_MIXED) {
        DT_TRY(dt_st_add(w, "model.mixed_a", DT_F64, 2, shape, s->a, err));
        DT_TRY(dt_st_add(w, "model.mixed_b", DT_F64, 2, shape, s->b, err));
    } else {
        DT_TRY(dt_st_add(w, "model.feature_log_prob", DT_F64, 2, shape, s->a, err));
    }
fail:
    return rc;
}

/* Copies tensor `name` of n doubles (shape ndim/shape) into dst and checks every value with
 * ok(v); EFORMAT naming the first bad element. */
static int get_f64(const dt_st_file *f, const char *name, int ndim, const int64_t *shape, double *dst, size_t n,
                   int check, duet_err *err) {
    const void *data;
    int rc = dt_st_get(f, name, DT_F64, ndim, shape, &data, NULL, err);
    if (rc) return rc;
    memcpy(dst, data, n * sizeof(double));
    for (size_t t = 0; t < n; t++) {
        double v = dst[t];
        int ok;
        switch (check) {
        case 0: ok = isfinite(v); break;                       /* any finite */
        case 1: ok = isfinite(v) && v >= 0; break;             /* doc_len */
        case 2: ok = isfinite(v) && v <= 0; break;             /* log probability */
        case 3: ok = isfinite(v) && v < 0; break;              /* log p < 0 (Bernoulli) */
        case 4: ok = isfinite(v) && v > 0; break;              /* variance */
        default: ok = !isnan(v) && v <= 0; break;              /* log prior, -inf allowed */
        }
        if (!ok)
            return dt_err(err, DUET_EFORMAT, "%s: tensor '%s' element %zu is %g, out of range", dt_st_name(f), name,
                          t, v);
    }
    return DUET_OK;
}

static int nb_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err) {
    const char *kn = dt_st_meta_get(f, "model.kind");
    int kind = 0;
    for (int k = DUET_NB_MULTINOMIAL; k <= DUET_NB_MIXED; k++)
        if (kn && strcmp(kn, kind_name(k)) == 0) kind = k;
    if (!kind)
        return dt_err(err, DUET_EFORMAT, "%s: metadata 'model.kind' is '%s', not multinomial, bernoulli, gaussian or mixed",
                      dt_st_name(f), kn ? kn : "(missing)");
    nb_state *s = NULL;
    int rc = nb_new(ctx, kind, m->K, m->D, &s, err);
    if (rc) return rc;
    int64_t shape[2] = {m->K, m->D};
    size_t kd = (size_t)m->K * (size_t)m->D;
    const char *al = dt_st_meta_get(f, "model.alpha");
    s->alpha = al ? strtod(al, NULL) : 0;
    DT_TRY(get_f64(f, "model.class_log_prior", 1, shape, s->prior, (size_t)m->K, 5, err));
    DT_TRY(get_f64(f, "model.doc_len", 1, shape, s->doc_len, (size_t)m->K, 1, err));
    if (kind == DUET_NB_GAUSSIAN) {
        DT_TRY(get_f64(f, "model.theta", 2, shape, s->a, kd, 0, err));
        DT_TRY(get_f64(f, "model.var", 2, shape, s->b, kd, 4, err));
    } else if (kind == DUET_NB_MIXED) {
        DT_TRY(table_layout(ctx, s, m->pipe, err));
        DT_TRY(get_f64(f, "model.mixed_a", 2, shape, s->a, kd, 0, err));
        DT_TRY(get_f64(f, "model.mixed_b", 2, shape, s->b, kd, 0, err));
        for (size_t t = 0; t < kd; t++) { /* variances > 0; log probabilities <= 0 */
            size_t j = t % (size_t)m->D;
            if (s->numeric[j] ? !(s->b[t] > 0) : !(s->a[t] <= 0)) {
                rc = dt_err(err, DUET_EFORMAT, "%s: tensor 'model.mixed_%c' element %zu is out of range", dt_st_name(f),
                            s->numeric[j] ? 'b' : 'a', t);
                goto fail;
            }
        }
    } else {
        DT_TRY(get_f64(f, "model.feature_log_prob", 2, shape, s->a, kd, kind == DUET_NB_BERNOULLI ? 3 : 2, err));
    }
    int finite = 0;
    for (int k = 0; k < m->K; k++) finite += isfinite(s->prior[k]);
    if (!finite) {
        rc = dt_err(err, DUET_EFORMAT, "%s: tensor 'model.class_log_prior' gives no class a probability", dt_st_name(f));
        goto fail;
    }
    derive(s);
    if (m->state) nb_free(ctx, m->state);
    m->state = s;
    s = NULL;
fail:
    nb_free(ctx, s);
    return rc;
}

static const double nb_alpha_grid[] = {0.01, 0.03, 0.1, 0.3, 1.0};

/* the class-by-feature count and parameter tables */
static double nb_fit_bytes(const duet_model *m, const dt_fit_args *a) {
    (void)m;
    return 3.0 * 8.0 * (double)a->K * (double)a->X->D;
}

static const dt_option nb_options[] = {
    {"--nb", "kind: multinomial, bernoulli, gaussian or mixed (tables) (default: from the data)"},
    {"--alpha", "smoothing (default: chosen by cross-validation)"},
    {NULL, NULL},
};

const dt_model_ops dt_nb_ops = {
    .name = "nb",
    .options = nb_options,
    .learns = "p(x|y)p(y)",
    .caps = DUET_CAN_PREDICT | DUET_CAN_EXPLAIN | DUET_CAN_SAMPLE | DUET_CAN_SCORE,
    .about = "naive Bayes: multinomial for text and counts, mixed (Gaussian and categorical) for tables, Bernoulli, Gaussian",
    .fit = nb_fit,
    .fit_bytes = nb_fit_bytes,
    .distributed = 1,
    .predict_proba = nb_predict_proba,
    .explain = nb_explain,
    .feature_weights = nb_feature_weights,
    .score = nb_score,
    .sample = nb_sample,
    .impute = nb_impute,
    .save = nb_save,
    .load = nb_load,
    .free_state = nb_free,
    .tune = "alpha",
    .tune_field = offsetof(duet_train_params, alpha),
    .tune_grid = nb_alpha_grid,
    .tunes = nb_tunes,
    .tune_n = 5,
    .title = "naive Bayes",
    .roles = DT_ROLE_AUGMENT,
    .compare_on = (1u << DUET_DATA_DENSE) | (1u << DUET_DATA_SPARSE) | (1u << DUET_DATA_TEXT) | (1u << DUET_DATA_TABLE),
    .quick = 1,
    .versus = "logreg",
    .text_counts = 1,
    .words_only = 1,
};
