/* predict_row.c — a trained model's prediction times in-process, for bench/gbdt.sh: the whole test
 * set, one row (the latency an embedding program or a server sees), and TreeSHAP per row.
 * usage: predict_row MODEL TEST.csv LABEL [REPS] [SHAP_ROWS]
 *   LABEL: the test file's label column (header name or 1-based index), as `duet eval --label`.
 * Prints "key value" lines:
 *   rows, features the test rows and the model's features
 *   predict_s      the whole test set (duet_model_predict / _predict_values, features included),
 *                  on the context's default threads (OMP_NUM_THREADS, else all cores); median of 5
 *   row_us         one row on 1 thread: duet_model_predict on a one-row dataset made once with
 *                  duet_data_from_table from the test file's first row as text cells (the table's
 *                  features are computed from the cells on every call, as any caller's are);
 *                  median of REPS calls (default 20000), each timed alone
 *   row_build_us   the same with the dataset built on every call (from_table, predict, free)
 *   row_us_all     row_us with the context on all threads (what a caller that leaves the
 *                  default gets: an OpenMP team per call)
 *   shap_us        duet_model_explain (TreeSHAP, every feature asked for) per row on 1 thread,
 *                  mean over the first SHAP_ROWS test rows (default 1000), each its own call
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duet.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static duet_ctx *ctx;
static duet_err e;

static void die(const char *what) {
    fprintf(stderr, "predict_row: %s: %s\n", what, e.msg);
    exit(1);
}

/* Predicts every row of d: classes (and probabilities) or numbers. */
static int predict(const duet_model *m, const duet_data *d, int32_t *lab, float *proba, double *val) {
    if (duet_model_classes(m) > 0) return duet_model_predict(ctx, m, d, lab, proba, &e);
    return duet_model_predict_values(ctx, m, d, val, &e);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: predict_row MODEL TEST.csv LABEL [REPS] [SHAP_ROWS]\n");
        return 2;
    }
    int reps = argc > 4 ? atoi(argv[4]) : 20000;
    int shap_rows = argc > 5 ? atoi(argv[5]) : 1000;
    if (reps < 1) reps = 20000;
    if (shap_rows < 1) shap_rows = 1000;
    duet_model *m = NULL;
    duet_data *test = NULL;
    if (duet_ctx_new(&ctx, &e)) die("context");
    if (duet_model_load(ctx, argv[1], &m, &e)) die(argv[1]);
    duet_load_opts o = duet_load_opts_default();
    o.label = argv[3];
    if (duet_data_load(ctx, argv[2], &o, &test, &e)) die(argv[2]);
    int64_t N = duet_data_rows(test), C = duet_data_columns(test), D = duet_model_features(m);
    int K = duet_model_classes(m);
    if (shap_rows > N) shap_rows = (int)N;
    if (C != duet_model_table_columns(m)) {
        fprintf(stderr, "predict_row: the test table has %lld columns, the model %lld\n", (long long)C,
                (long long)duet_model_table_columns(m));
        return 1;
    }
    printf("rows %lld\nfeatures %lld\n", (long long)N, (long long)D);

    /* the whole test set, default threads */
    int32_t *lab = malloc((size_t)N * sizeof *lab);
    float *proba = malloc((size_t)N * (size_t)(K > 0 ? K : 1) * sizeof *proba);
    double *val = malloc((size_t)N * sizeof *val);
    double t[5];
    if (!lab || !proba || !val) return 1;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        if (predict(m, test, lab, proba, val)) die("predict");
        t[r] = now() - t0;
    }
    printf("predict_s %.6f\n", median(t, 5));

    /* one row: the first test row as text cells, the columns named as the model names them */
    char line[65536];
    if (duet_data_row_string(test, 0, line, sizeof line, &e)) die("row 0");
    const char **cells = calloc((size_t)C, sizeof *cells), **names = calloc((size_t)C, sizeof *names);
    if (!cells || !names) return 1;
    int64_t c = 0;
    for (char *p = line; c < C; c++) { /* these tables quote nothing: split at commas */
        cells[c] = p;
        char *comma = strchr(p, ',');
        if (!comma) break;
        *comma = 0;
        p = comma + 1;
    }
    if (c + 1 < C) {
        fprintf(stderr, "predict_row: row 0 has %lld cells, not %lld\n", (long long)(c + 1), (long long)C);
        return 1;
    }
    for (c = 0; c < C; c++) names[c] = duet_model_table_column(m, c);
    duet_data *one = NULL;
    if (duet_data_from_table(ctx, "row", names, C, cells, 1, NULL, &one, &e)) die("from_table");
    double *tr = malloc((size_t)reps * sizeof *tr);
    if (!tr) return 1;
    for (int pass = 0; pass < 2; pass++) { /* pass 0: 1 thread; pass 1: all cores */
        duet_ctx_set_threads(ctx, pass == 0 ? 1 : 0);
        for (int r = 0; r < 200; r++)
            if (predict(m, one, lab, proba, val)) die("predict one row");
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            predict(m, one, lab, proba, val);
            tr[r] = now() - t0;
        }
        printf("%s %.3f\n", pass == 0 ? "row_us" : "row_us_all", 1e6 * median(tr, reps));
    }
    duet_ctx_set_threads(ctx, 1);
    int build_reps = reps / 4 > 0 ? reps / 4 : 1;
    for (int r = 0; r < build_reps; r++) {
        double t0 = now();
        duet_data *d1 = NULL;
        if (duet_data_from_table(ctx, "row", names, C, cells, 1, NULL, &d1, &e)) die("from_table");
        predict(m, d1, lab, proba, val);
        duet_data_free(d1);
        tr[r] = now() - t0;
    }
    printf("row_build_us %.3f\n", 1e6 * median(tr, build_reps));

    /* TreeSHAP: every feature's contribution to the positive class (or the number) */
    duet_feature *f = malloc((size_t)D * sizeof *f);
    if (!f) return 1;
    int k = K > 1 ? K - 1 : 0, n_out = 0;
    if (duet_model_explain(ctx, m, test, 0, k, f, (int)D, &n_out, &e)) die("explain");
    double t0 = now();
    for (int64_t i = 0; i < shap_rows; i++)
        if (duet_model_explain(ctx, m, test, i, k, f, (int)D, &n_out, &e)) die("explain");
    printf("shap_us %.3f\n", 1e6 * (now() - t0) / shap_rows);

    free(f);
    free(tr);
    duet_data_free(one);
    free(cells);
    free(names);
    free(lab);
    free(proba);
    free(val);
    duet_data_free(test);
    duet_model_free(m);
    duet_ctx_free(ctx);
    return 0;
}
