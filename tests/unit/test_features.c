/* test_features.c — the feature pipeline (dt_pipe): text against scikit-learn's
 * TfidfVectorizer / CountVectorizer (Unicode, n-grams, min_df, max_features, sublinear tf,
 * char_wb n-grams), hashing, tables with missing values and unknown categories, images,
 * sparse rows given as one-row views, model-file round trips, and corrupt pipe metadata.
 *
 * Golden values come from scikit-learn 1.2 (/usr/bin/python3) on the corpus DOCS below:
 *   from sklearn.feature_extraction.text import TfidfVectorizer, CountVectorizer
 *   v = TfidfVectorizer(ngram_range=(1,2)); X = v.fit_transform(docs).toarray()
 *   v.get_feature_names_out(); X[0]; X[2]
 */
#include "data/features.h"
#include "io/safetensors.h"
#include "test.h"

static const char *DOCS[] = {"Éclair café, naïve café!", "The naïve cat sat on the mat",
                             "Café au lait et ÉCLAIR au chocolat", "a b cd CD cd_ef 42 x1 ΔΈΛΤΑ"};

/* sorted(TfidfVectorizer(ngram_range=(1,2)).fit(DOCS).get_feature_names_out()) */
static const char *VOCAB[] = {"42", "42 x1", "au", "au chocolat", "au lait", "café", "café au", "café naïve",
                              "cat", "cat sat", "cd", "cd cd", "cd cd_ef", "cd_ef", "cd_ef 42", "chocolat",
                              "et", "et éclair", "lait", "lait et", "mat", "naïve", "naïve café", "naïve cat",
                              "on", "on the", "sat", "sat on", "the", "the mat", "the naïve", "x1",
                              "x1 δέλτα", "éclair", "éclair au", "éclair café", "δέλτα"};

static duet_ctx *ctx;

static duet_data *text_data(const char *const *docs, int64_t n) {
    duet_data *d = NULL;
    if (dt_data_new(ctx, DUET_DATA_TEXT, "docs", &d, NULL)) return NULL;
    d->N = n;
    d->text = dt_calloc(ctx, (size_t)n, sizeof(char *));
    for (int64_t i = 0; i < n; i++) d->text[i] = dt_pool_strdup(&d->pool, docs[i]);
    return d;
}

static duet_train_params params(void) {
    duet_train_params p = duet_train_params_default();
    p.text_mode = DUET_TEXT_TFIDF;
    return p;
}

/* Value of column j in row i of a CSR matrix (0 when absent); checks the row is sorted. */
static double csr_at(const dt_mat *m, int64_t i, int64_t j) {
    for (int64_t q = m->rowptr[i]; q < m->rowptr[i + 1]; q++)
        if (m->col[q] == j) return m->val[q];
    return 0;
}

static int csr_sorted(const dt_mat *m) {
    for (int64_t i = 0; i < m->N; i++)
        for (int64_t q = m->rowptr[i]; q < m->rowptr[i + 1]; q++) {
            if (m->col[q] < 0 || m->col[q] >= m->D) return 0;
            if (q > m->rowptr[i] && m->col[q] <= m->col[q - 1]) return 0;
        }
    return 1;
}

static int64_t term_index(const dt_pipe *p, const char *term) {
    for (int64_t j = 0; j < dt_pipe_dim(p); j++) {
        const char *t = dt_pipe_term(p, j);
        if (t && strcmp(t, term) == 0) return j;
    }
    return -1;
}

static void test_tfidf_matches_sklearn(void) {
    duet_data *d = text_data(DOCS, 4);
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    dt_mat X = {0};
    char buf[128];
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(dt_pipe_dim(p) == 37);
    CHECK(dt_pipe_kind(p) == DUET_DATA_TEXT && dt_pipe_text_mode(p) == DUET_TEXT_TFIDF);
    for (int j = 0; j < 37 && dt_pipe_dim(p) == 37; j++) {
        CHECK(strcmp(dt_pipe_term(p, j), VOCAB[j]) == 0);
        CHECK(strcmp(dt_pipe_feature_name(p, j, buf, sizeof buf), VOCAB[j]) == 0);
    }
    CHECK(dt_pipe_is_ngram(p, 2) && !dt_pipe_is_ngram(p, 3));
    CHECK(X.N == 4 && X.D == 37 && X.rowptr && !X.x && csr_sorted(&X));
    /* X[0]: café .607840638, café naïve .385484387, naïve .303920319, éclair café .385484387 */
    CHECK(X.rowptr[1] == 6);
    CHECK_NEAR(csr_at(&X, 0, 5), 0.607840638, 1e-6);
    CHECK_NEAR(csr_at(&X, 0, 7), 0.385484387, 1e-6);
    CHECK_NEAR(csr_at(&X, 0, 21), 0.303920319, 1e-6);
    CHECK_NEAR(csr_at(&X, 0, 35), 0.385484387, 1e-6);
    /* X[1]: the .523037292, naïve .206184305; X[2]: au .529939672, éclair .208905262 */
    CHECK_NEAR(csr_at(&X, 1, 28), 0.523037292, 1e-6);
    CHECK_NEAR(csr_at(&X, 1, 21), 0.206184305, 1e-6);
    CHECK_NEAR(csr_at(&X, 2, 2), 0.529939672, 1e-6);
    CHECK_NEAR(csr_at(&X, 2, 33), 0.208905262, 1e-6);
    /* X[3]: cd .554700196, x1 δέλτα .277350098 */
    CHECK_NEAR(csr_at(&X, 3, 10), 0.554700196, 1e-6);
    CHECK_NEAR(csr_at(&X, 3, 32), 0.277350098, 1e-6);
    /* v.idf_: 1.510825624 for terms in 2 of 4 documents, 1.916290732 otherwise */
    CHECK_NEAR(p->text.idf[5], 1.510825624, 1e-9);
    CHECK_NEAR(p->text.idf[0], 1.916290732, 1e-9);
    CHECK(strcmp(dt_pipe_describe(p, buf, sizeof buf), "tfidf word 1-2-grams, 37 terms") == 0);
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    dt_data_free(d);
}

static void test_counts_binary_limits(void) {
    duet_data *d = text_data(DOCS, 4);
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    dt_mat X = {0};
    tp.text_mode = DUET_TEXT_COUNTS;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(csr_at(&X, 3, 10) == 2 && csr_at(&X, 0, 5) == 2 && csr_at(&X, 1, 28) == 2 && csr_at(&X, 1, 8) == 1);
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);

    tp.text_mode = DUET_TEXT_BINARY;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(csr_at(&X, 3, 10) == 1 && csr_at(&X, 0, 5) == 1 && X.rowptr[4] == 6 + 12 + 12 + 10);
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);

    /* CountVectorizer(ngram_range=(1,2), min_df=2).fit(DOCS) -> café, naïve, éclair */
    tp.min_df = 2;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK(dt_pipe_dim(p) == 3 && strcmp(dt_pipe_term(p, 0), "café") == 0 && strcmp(dt_pipe_term(p, 1), "naïve") == 0 &&
          strcmp(dt_pipe_term(p, 2), "éclair") == 0);
    dt_pipe_free(p);
    /* CountVectorizer(ngram_range=(1,1), max_features=3).fit(DOCS) -> au, café, cd */
    tp.min_df = 0;
    tp.max_features = 3;
    tp.ngram_max = 1;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK(dt_pipe_dim(p) == 3 && strcmp(dt_pipe_term(p, 0), "au") == 0 && strcmp(dt_pipe_term(p, 1), "café") == 0 &&
          strcmp(dt_pipe_term(p, 2), "cd") == 0);
    dt_pipe_free(p);
    /* min_df too high */
    duet_err err = {0, ""};
    tp.min_df = 5;
    tp.max_features = 0;
    CHECK_ERR(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, &err), &err, DUET_EINVAL, "min_df");
    CHECK(p == NULL);
    dt_data_free(d);
}

static void test_sublinear_and_case(void) {
    duet_data *d = text_data(DOCS, 4);
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    dt_mat X = {0};
    /* TfidfVectorizer(sublinear_tf=True).fit_transform(DOCS)[0]: café .767494567,
       naïve .453294655, éclair .453294655 (columns 2, 10, 15 of 17) */
    tp.sublinear_tf = 1;
    tp.ngram_max = 1;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(X.D == 17);
    CHECK_NEAR(csr_at(&X, 0, 2), 0.767494567, 1e-6);
    CHECK_NEAR(csr_at(&X, 0, 10), 0.453294655, 1e-6);
    CHECK_NEAR(csr_at(&X, 0, 15), 0.453294655, 1e-6);
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    tp.sublinear_tf = 0;
    tp.no_lowercase = 1;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK(term_index(p, "CD") >= 0 && term_index(p, "ÉCLAIR") >= 0 && term_index(p, "Éclair") >= 0 &&
          term_index(p, "éclair") < 0);
    dt_pipe_free(p);
    dt_data_free(d);
}

static void test_char_wb(void) {
    duet_data *d = text_data(DOCS, 4);
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    dt_mat X = {0};
    char buf[64];
    tp.text_mode = DUET_TEXT_COUNTS;
    tp.char_ngram_min = 2;
    tp.char_ngram_max = 3;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    /* CountVectorizer(analyzer='char_wb', ngram_range=(2,3)): 128 n-grams over DOCS, 208
       occurrences; on DOCS[:1] 39 n-grams, ' ca' twice */
    int64_t nchar = 0, words = 0;
    double total = 0;
    for (int64_t j = 0; j < X.D; j++) {
        if (dt_pipe_term(p, j)) {
            words++;
            continue;
        }
        nchar++;
        for (int64_t i = 0; i < 4; i++) total += csr_at(&X, i, j);
    }
    CHECK(nchar == 128 && words == 37);
    CHECK(total == 208);
    int64_t row0 = 0, ca = -1;
    for (int64_t q = X.rowptr[0]; q < X.rowptr[1]; q++)
        if (!dt_pipe_term(p, X.col[q])) {
            row0++;
            if (strcmp(dt_pipe_feature_name(p, X.col[q], buf, sizeof buf), "\" ca\"") == 0) ca = X.col[q];
        }
    CHECK(row0 == 39);
    CHECK(ca >= 0 && csr_at(&X, 0, ca) == 2);
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    dt_data_free(d);
}

static void test_hashing(void) {
    duet_data *d = text_data(DOCS, 4);
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    dt_mat X = {0};
    char buf[64];
    tp.text_mode = DUET_TEXT_COUNTS;
    tp.hash_dims = 16;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(dt_pipe_dim(p) == 16 && X.D == 16 && csr_sorted(&X));
    CHECK(dt_pipe_term(p, 0) == NULL && !dt_pipe_is_ngram(p, 0));
    CHECK(strcmp(dt_pipe_feature_name(p, 3, buf, sizeof buf), "hash[3]") == 0);
    /* row 0: 4 tokens + 3 bigrams; FNV-1a-64("café") % 16 = 9, ("naïve café") % 16 = 5
       (python: h=0xcbf29ce484222325; for b in s.encode(): h=((h^b)*0x100000001b3)%2**64) */
    double sum = 0;
    for (int64_t q = X.rowptr[0]; q < X.rowptr[1]; q++) sum += X.val[q];
    CHECK(sum == 7);
    CHECK(csr_at(&X, 0, 9) >= 2 && csr_at(&X, 0, 5) >= 1);
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    /* tfidf in hashing mode: rows still unit length */
    tp.text_mode = DUET_TEXT_TFIDF;
    tp.hash_dims = 1000003;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    double ss = 0;
    for (int64_t q = X.rowptr[1]; q < X.rowptr[2]; q++) ss += (double)X.val[q] * X.val[q];
    CHECK_NEAR(ss, 1.0, 1e-6);
    CHECK(csr_at(&X, 0, 235769) > 0); /* FNV-1a-64("éclair") % 1000003 */
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    dt_data_free(d);
}

// --- tables --------------------------------------------------------------------------------------

static duet_data *table_data(const char *const *names, int64_t C, const char *const *cells, int64_t N) {
    duet_data *d = NULL;
    if (dt_data_new(ctx, DUET_DATA_TABLE, "t.csv", &d, NULL)) return NULL;
    d->N = N;
    d->C = C;
    d->colnames = dt_calloc(ctx, (size_t)C, sizeof(char *));
    d->cells = dt_calloc(ctx, (size_t)(N * C), sizeof(char *));
    for (int64_t c = 0; c < C; c++) d->colnames[c] = dt_pool_strdup(&d->pool, names[c]);
    for (int64_t i = 0; i < N * C; i++) d->cells[i] = cells[i] ? dt_pool_strdup(&d->pool, cells[i]) : NULL;
    return d;
}

static const char *TNAMES[] = {"age", "city", "score"};
static const char *TCELLS[] = {"20", "Paris", "1", "40", NULL, "2", NULL, "Oslo", "3", "30", "Paris, FR", "4"};

static void test_table(void) {
    duet_data *d = table_data(TNAMES, 3, TCELLS, 4);
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    dt_mat X = {0};
    char buf[128];
    duet_err err = {0, ""};
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    /* age (numeric, missing -> age?), city=Oslo, city=Paris, city=Paris, FR, city?, score */
    CHECK(dt_pipe_dim(p) == 7);
    const char *want[] = {"age", "age?", "city=Oslo", "city=Paris", "city=Paris, FR", "city?", "score"};
    for (int j = 0; j < 7; j++) CHECK(strcmp(dt_pipe_feature_name(p, j, buf, sizeof buf), want[j]) == 0);
    CHECK(strcmp(dt_pipe_describe(p, buf, sizeof buf), "table: 2 numeric, 1 categorical -> 7 features") == 0);
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(X.x && X.N == 4 && X.D == 7);
    /* age: mean 30, population std sqrt(200/3) = 8.16496581; score: mean 2.5, std 1.11803399 */
    CHECK_NEAR(X.x[0], -10 / 8.16496581, 1e-6);
    CHECK(X.x[1] == 0 && X.x[3] == 1 && X.x[2] == 0);
    CHECK_NEAR(X.x[6], -1.5 / 1.11803399, 1e-6);
    CHECK(X.x[7 + 5] == 1 && X.x[7 + 2] == 0 && X.x[7 + 3] == 0); /* row 1: city missing */
    CHECK(X.x[14 + 0] == 0 && X.x[14 + 1] == 1);                   /* row 2: age missing -> mean */
    CHECK(X.x[21 + 4] == 1);
    /* inverse: row 3 -> 30,"Paris, FR",4 */
    CHECK_OK(dt_pipe_table_row(p, X.x + 21, buf, sizeof buf, NULL));
    CHECK(strcmp(buf, "30,\"Paris, FR\",4") == 0);
    CHECK_OK(dt_pipe_table_row(p, X.x + 14, buf, sizeof buf, NULL));
    CHECK(strcmp(buf, ",Oslo,3") == 0);
    CHECK_ERR(dt_pipe_table_row(p, X.x + 21, buf, 5, &err), &err, DUET_ERANGE, "too small");
    dt_mat_free(ctx, &X);

    /* unknown category -> zeros; columns matched by name in another order */
    const char *names2[] = {"score", "age", "city"};
    const char *cells2[] = {"5", "50", "Rome", "x", "1", "Oslo"};
    duet_data *d2 = table_data(names2, 3, cells2, 2);
    CHECK_ERR(dt_pipe_apply(ctx, p, d2, &X, &err), &err, DUET_EFORMAT, "row 2, column score: 'x' is not a number");
    CHECK(X.x == NULL);
    d2->N = 1;
    CHECK_OK(dt_pipe_apply(ctx, p, d2, &X, NULL));
    CHECK_NEAR(X.x[0], 20 / 8.16496581, 1e-6);
    CHECK(X.x[2] == 0 && X.x[3] == 0 && X.x[4] == 0 && X.x[5] == 0);
    CHECK_NEAR(X.x[6], 2.5 / 1.11803399, 1e-6);
    dt_mat_free(ctx, &X);
    dt_data_free(d2);
    /* wrong column count */
    duet_data *d3 = table_data(names2, 2, cells2, 1);
    CHECK_ERR(dt_pipe_apply(ctx, p, d3, &X, &err), &err, DUET_EINVAL, "model expects 3 columns");
    dt_data_free(d3);
    dt_pipe_free(p);

    tp.no_scale = 1;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(X.x[0] == 20 && X.x[14] == 30 && X.x[6] == 1);
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    dt_data_free(d);
}

// --- images and sparse vectors ----------------------------------------------------------------------

/* A table large enough for threads: fit and apply at 1, 2 and 3 threads give the same features,
 * and a bad cell is named by its first row whatever the thread count. */
static void test_table_threads(void) {
    enum { N = 40000, C = 4 };
    const char *names[C] = {"a", "b", "c", "d"};
    duet_data *d = table_data(names, C, (const char *const[]){"0", "0", "0", "0"}, 1);
    CHECK(d != NULL);
    if (!d) return;
    dt_free(ctx, d->cells);
    d->cells = dt_calloc(ctx, (size_t)N * C, sizeof(char *));
    CHECK(d->cells != NULL);
    if (!d->cells) {
        duet_data_free(d);
        return;
    }
    d->N = N;
    static const char *cats[] = {"red", "green", "blue"};
    char buf[32];
    for (int64_t i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "%lld.25", (long long)(i * 7919 % 1000));
        d->cells[i * C + 0] = dt_pool_strdup(&d->pool, buf);
        d->cells[i * C + 1] = i % 13 ? dt_pool_strdup(&d->pool, cats[i % 3]) : NULL;
        snprintf(buf, sizeof buf, "%lld", (long long)(i % 17) - 8);
        d->cells[i * C + 2] = i % 11 ? dt_pool_strdup(&d->pool, buf) : NULL;
        snprintf(buf, sizeof buf, "%.3f", (double)i / 1000);
        d->cells[i * C + 3] = dt_pool_strdup(&d->pool, buf);
    }
    duet_train_params tp = {0};
    float *first = NULL;
    int64_t D = 0;
    for (int nt = 1; nt <= 3; nt++) {
        duet_ctx_set_threads(ctx, nt);
        for (int raw = 0; raw < 2; raw++) {
            dt_pipe *p = NULL;
            dt_mat X = {0};
            CHECK_OK(dt_pipe_fit(ctx, d, &tp, raw ? DT_FEATURES_RAW : DT_FEATURES_SCALED, &p, NULL));
            if (!p) continue;
            CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
            if (X.x && !raw) {
                if (!first) {
                    D = X.D;
                    first = dt_alloc(ctx, (size_t)N * (size_t)D * sizeof(float));
                    if (first) memcpy(first, X.x, (size_t)N * (size_t)D * sizeof(float));
                } else {
                    CHECK(X.D == D && memcmp(first, X.x, (size_t)N * (size_t)D * sizeof(float)) == 0);
                }
            }
            dt_mat_free(ctx, &X);
            /* two bad cells, the later one met first by the second thread */
            char *keep1 = d->cells[(int64_t)30001 * C + 3], *keep2 = d->cells[(int64_t)20001 * C + 2];
            char oops[] = "oops", na[] = "n/a!";
            d->cells[(int64_t)30001 * C + 3] = oops;
            d->cells[(int64_t)20001 * C + 2] = na;
            duet_err err = {0};
            CHECK_ERR(dt_pipe_apply(ctx, p, d, &X, &err), &err, DUET_EFORMAT, "row 20002, column c: 'n/a!' is not a number");
            d->cells[(int64_t)30001 * C + 3] = keep1;
            d->cells[(int64_t)20001 * C + 2] = keep2;
            dt_pipe_free(p);
        }
    }
    duet_ctx_set_threads(ctx, 1);
    dt_free(ctx, first);
    duet_data_free(d);
}

static void test_dense_sparse(void) {
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    dt_mat X = {0};
    char buf[64];
    duet_err err = {0, ""};
    duet_data *d = NULL;
    CHECK_OK(dt_data_new(ctx, DUET_DATA_DENSE, "img", &d, NULL));
    d->N = 2;
    d->D = 6;
    d->H = 2;
    d->W = 3;
    d->x = dt_calloc(ctx, 12, sizeof(float));
    for (int i = 0; i < 12; i++) d->x[i] = (float)(i * 20);
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(X.D == 6 && X.x && fabs(X.x[11] - 220.0 / 255) < 1e-7);
    CHECK(strcmp(dt_pipe_feature_name(p, 4, buf, sizeof buf), "pixel[1,1]") == 0);
    CHECK(strcmp(dt_pipe_describe(p, buf, sizeof buf), "pixels 2x3 scaled to [0,1]") == 0);
    dt_mat_free(ctx, &X);
    d->D = 4;
    d->H = d->W = 2;
    CHECK_ERR(dt_pipe_apply(ctx, p, d, &X, &err), &err, DUET_EINVAL, "images are 2x2 = 4 values, model expects 6");
    dt_pipe_free(p);
    dt_data_free(d);

    /* sparse: 3 rows, D 5; a one-row view of row 2 keeps absolute offsets */
    CHECK_OK(dt_data_new(ctx, DUET_DATA_SPARSE, "s.svm", &d, NULL));
    d->N = 3;
    d->D = 5;
    d->rowptr = dt_calloc(ctx, 4, sizeof(int64_t));
    d->col = dt_calloc(ctx, 6, sizeof(int32_t));
    d->val = dt_calloc(ctx, 6, sizeof(float));
    int64_t rp[] = {0, 2, 3, 6};
    int32_t cl[] = {0, 4, 2, 1, 3, 4};
    for (int i = 0; i < 4; i++) d->rowptr[i] = rp[i];
    for (int i = 0; i < 6; i++) {
        d->col[i] = cl[i];
        d->val[i] = (float)(i + 1);
    }
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    duet_data v;
    dt_data_view_row(d, 2, &v);
    CHECK_OK(dt_pipe_apply(ctx, p, &v, &X, NULL));
    CHECK(X.N == 1 && X.rowptr[0] == 0 && X.rowptr[1] == 3 && X.col[0] == 1 && X.val[2] == 6);
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    d->D = 4; /* a pipeline fitted on 4 features drops column 4 */
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    d->D = 5;
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    CHECK(X.D == 4 && X.rowptr[1] == 1 && X.rowptr[3] == 4 && csr_sorted(&X));
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    dt_data_free(d);
}

// --- model files -----------------------------------------------------------------------------------

/* Saves p (plus extra metadata overrides) and loads it back; returns the load status. */
static int round_trip(const dt_pipe *p, const char *key, const char *value, dt_pipe **out, duet_err *err) {
    dt_st_writer *w = NULL;
    dt_st_file *f = NULL;
    *out = NULL;
    const char *path = T_TMP(".safetensors", "");
    int rc = dt_st_writer_new(ctx, &w, err);
    if (!rc) rc = dt_pipe_save(p, w, err);
    if (!rc && key) rc = dt_st_meta(w, key, value, err);
    if (!rc) rc = dt_st_write(w, path, err);
    dt_st_writer_free(w);
    if (!rc) rc = dt_st_open(ctx, path, &f, err);
    if (!rc) rc = dt_pipe_load(ctx, f, out, err);
    dt_st_close(f);
    unlink(path);
    return rc;
}

static int same_mat(const dt_mat *a, const dt_mat *b) {
    if (a->N != b->N || a->D != b->D || !a->x != !b->x) return 0;
    if (a->x) return memcmp(a->x, b->x, (size_t)(a->N * a->D) * sizeof(float)) == 0;
    if (memcmp(a->rowptr, b->rowptr, (size_t)(a->N + 1) * sizeof(int64_t))) return 0;
    size_t nnz = (size_t)a->rowptr[a->N];
    return memcmp(a->col, b->col, nnz * sizeof(int32_t)) == 0 && memcmp(a->val, b->val, nnz * sizeof(float)) == 0;
}

static void check_round_trip(const dt_pipe *p, const duet_data *d) {
    dt_pipe *q = NULL;
    dt_mat A = {0}, B = {0};
    char b1[256], b2[256];
    CHECK_OK(round_trip(p, NULL, NULL, &q, NULL));
    if (!q) return;
    CHECK_OK(dt_pipe_apply(ctx, p, d, &A, NULL));
    CHECK_OK(dt_pipe_apply(ctx, q, d, &B, NULL));
    CHECK(same_mat(&A, &B));
    CHECK(strcmp(dt_pipe_describe(p, b1, sizeof b1), dt_pipe_describe(q, b2, sizeof b2)) == 0);
    for (int64_t j = 0; j < dt_pipe_dim(p); j++)
        CHECK(strcmp(dt_pipe_feature_name(p, j, b1, sizeof b1), dt_pipe_feature_name(q, j, b2, sizeof b2)) == 0);
    dt_mat_free(ctx, &A);
    dt_mat_free(ctx, &B);
    dt_pipe_free(q);
}

static void test_save_load(void) {
    duet_data *d = text_data(DOCS, 4);
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    check_round_trip(p, d);
    dt_pipe_free(p);
    tp.char_ngram_min = 1;
    tp.char_ngram_max = 4;
    tp.sublinear_tf = 1;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    check_round_trip(p, d);
    dt_pipe_free(p);
    tp.hash_dims = 64;
    tp.text_mode = DUET_TEXT_BINARY;
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    check_round_trip(p, d);
    dt_pipe_free(p);
    dt_data_free(d);

    tp = params();
    d = table_data(TNAMES, 3, TCELLS, 4);
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    check_round_trip(p, d);
    dt_pipe_free(p);
    dt_data_free(d);
}

static void test_corrupt(void) {
    duet_data *d = text_data(DOCS, 4);
    duet_train_params tp = params();
    dt_pipe *p = NULL, *q = NULL;
    duet_err err = {0, ""};
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_ERR(round_trip(p, "pipe.D", "36", &q, &err), &err, DUET_EFORMAT, "does not match");
    CHECK_ERR(round_trip(p, "pipe.D", "99999999999", &q, &err), &err, DUET_EFORMAT, "pipe.D");
    CHECK_ERR(round_trip(p, "pipe.V", "38", &q, &err), &err, DUET_EFORMAT, "does not match");
    CHECK_ERR(round_trip(p, "pipe.kind", "video", &q, &err), &err, DUET_EFORMAT, "pipe.kind");
    CHECK_ERR(round_trip(p, "pipe.mode", "bm25", &q, &err), &err, DUET_EFORMAT, "pipe.mode");
    CHECK_ERR(round_trip(p, "pipe.ngram_min", "3", &q, &err), &err, DUET_EFORMAT, "word n-grams 3-2");
    CHECK_ERR(round_trip(p, "pipe.lowercase", "yes", &q, &err), &err, DUET_EFORMAT, "pipe.lowercase");
    CHECK(q == NULL);
    dt_pipe_free(p);
    dt_data_free(d);

    /* tensors written by hand: two terms "ab", "cd" */
    static const char bytes[] = "ab\0cd";
    struct {
        int64_t off[3];
        const char *b;
        int64_t nb;
        double idf0;
        const char *frag;
    } cases[] = {
        {{0, 3, 6}, bytes, 6, 1.0, NULL},
        {{0, 3, 7}, bytes, 6, 1.0, "out of range"},
        {{0, 4, 6}, bytes, 6, 1.0, "not NUL-terminated"},
        {{1, 3, 6}, bytes, 6, 1.0, "offset 0"},
        {{0, 3, 1}, bytes, 6, 1.0, "out of range"},
        {{0, 3, 6}, "cd\0ab", 6, 1.0, "not sorted"},
        {{0, 3, 6}, "ab\0ab", 6, 1.0, "not sorted"},
        {{0, 3, 6}, bytes, 6, NAN, "not a valid weight"},
        {{0, 1, 6}, bytes, 6, 1.0, "out of range"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dt_st_writer *w = NULL;
        dt_st_file *f = NULL;
        double idf[2] = {cases[c].idf0, 1.5};
        const char *meta[][2] = {{"pipe.kind", "text"}, {"pipe.D", "2"}, {"pipe.mode", "tfidf"}, {"pipe.ngram_min", "1"},
                                 {"pipe.ngram_max", "2"}, {"pipe.char_min", "0"}, {"pipe.char_max", "0"},
                                 {"pipe.lowercase", "1"}, {"pipe.sublinear_tf", "0"}, {"pipe.min_df", "1"},
                                 {"pipe.max_features", "0"}, {"pipe.hash_dims", "0"}, {"pipe.n_docs", "3"},
                                 {"pipe.V", "2"}};
        CHECK_OK(dt_st_writer_new(ctx, &w, NULL));
        for (size_t k = 0; k < sizeof meta / sizeof meta[0]; k++) dt_st_meta(w, meta[k][0], meta[k][1], NULL);
        dt_st_add1(w, "pipe.vocab", DT_U8, cases[c].nb, cases[c].b, NULL);
        dt_st_add1(w, "pipe.vocab_off", DT_I64, 3, cases[c].off, NULL);
        dt_st_add1(w, "pipe.idf", DT_F64, 2, idf, NULL);
        const char *path = T_TMP(".safetensors", "");
        CHECK_OK(dt_st_write(w, path, NULL));
        dt_st_writer_free(w);
        CHECK_OK(dt_st_open(ctx, path, &f, NULL));
        if (!cases[c].frag) {
            CHECK_OK(dt_pipe_load(ctx, f, &q, NULL));
            CHECK(q && dt_pipe_dim(q) == 2 && strcmp(dt_pipe_term(q, 1), "cd") == 0);
            dt_pipe_free(q);
        } else {
            CHECK_ERR(dt_pipe_load(ctx, f, &q, &err), &err, DUET_EFORMAT, cases[c].frag);
        }
        dt_st_close(f);
        unlink(path);
    }

    /* table metadata */
    d = table_data(TNAMES, 3, TCELLS, 4);
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_ERR(round_trip(p, "pipe.D", "8", &q, &err), &err, DUET_EFORMAT, "table columns make 7 features");
    CHECK_ERR(round_trip(p, "pipe.C", "4", &q, &err), &err, DUET_EFORMAT, "pipe.col_flags");
    CHECK_ERR(round_trip(p, "pipe.ncat", "2", &q, &err), &err, DUET_EFORMAT, "pipe.cats");
    dt_pipe_free(p);
    dt_data_free(d);
}

/* Every allocation failure is reported, never a crash or a leak. */
static void test_alloc_failures(void) {
    duet_ctx *c2 = NULL;
    t_failalloc fa = {0, 0, 0};
    duet_ctx_new(&c2, NULL);
    duet_ctx_set_alloc(c2, t_failalloc_fn, &fa);
    duet_ctx *saved = ctx;
    ctx = c2;
    duet_data *d = text_data(DOCS, 4);
    duet_data *t = table_data(TNAMES, 3, TCELLS, 4);
    ctx = saved;
    duet_train_params tp = params();
    tp.char_ngram_max = 3;
    int bad = 0;
    for (long k = 1; k < 400; k++) {
        for (int which = 0; which < 2; which++) {
            dt_pipe *p = NULL;
            dt_mat X = {0};
            long live0 = fa.live;
            fa.count = 0;
            fa.fail_at = k;
            int rc = dt_pipe_fit(c2, which ? t : d, &tp, DT_FEATURES_SCALED, &p, NULL);
            if (!rc) rc = dt_pipe_apply(c2, p, which ? t : d, &X, NULL);
            fa.fail_at = 0;
            if (rc && rc != DUET_ENOMEM && rc != DUET_ERANGE) bad++;
            dt_mat_free(c2, &X);
            dt_pipe_free(p);
            if (fa.live != live0) bad++;
        }
    }
    CHECK(bad == 0);
    dt_data_free(d);
    dt_data_free(t);
    duet_ctx_free(c2);
}

static void test_sms_pipeline(void) {
    const char *path = t_shared("sms_spam/SMSSpamCollection");
    if (!path) {
        SKIP("sms_spam/SMSSpamCollection not found");
        return;
    }
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_TEXT;
    duet_data *d = NULL;
    duet_err err = {0, ""};
    if (dt_data_load(ctx, path, &o, &d, &err)) { /* the file is there: failing to read it is a failure */
        fprintf(stderr, "  could not read %s: %s\n", path, err.msg);
        CHECK(!"SMSSpamCollection loads");
        return;
    }
    duet_train_params tp = params();
    dt_pipe *p = NULL;
    dt_mat X = {0};
    double t0 = dt_now();
    CHECK_OK(dt_pipe_fit(ctx, d, &tp, DT_FEATURES_SCALED, &p, NULL));
    CHECK_OK(dt_pipe_apply(ctx, p, d, &X, NULL));
    double dt = dt_now() - t0;
    char buf[128];
    fprintf(stderr, "  sms: %lld docs, %s, %.3f s\n", (long long)d->N, dt_pipe_describe(p, buf, sizeof buf), dt);
    CHECK(X.N == d->N && csr_sorted(&X)); /* the time is printed, not checked: bench/run.sh measures it */
    dt_mat_free(ctx, &X);
    dt_pipe_free(p);
    dt_data_free(d);
}

int main(void) {
    if (duet_ctx_new(&ctx, NULL)) return 1;
    RUN(test_tfidf_matches_sklearn);
    RUN(test_counts_binary_limits);
    RUN(test_sublinear_and_case);
    RUN(test_char_wb);
    RUN(test_hashing);
    RUN(test_table);
    RUN(test_table_threads);
    RUN(test_dense_sparse);
    RUN(test_save_load);
    RUN(test_corrupt);
    RUN(test_alloc_failures);
    RUN(test_sms_pipeline);
    duet_ctx_free(ctx);
    TEST_END();
}
