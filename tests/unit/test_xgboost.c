/* test_xgboost.c — XGBoost JSON models imported as gbdt models predict what XGBoost predicts.
 * Golden values: tests/fixtures/xgboost/ (x.csv, NAME.json, NAME.pred), written by XGBoost 1.7
 * through tools/golden_xgboost.py: binary, three-class, squared error, Poisson and a model with
 * categorical splits, on rows with missing cells. Also: the imported model survives a save and
 * load, TreeSHAP on it adds up to its margin, and malformed files are refused with messages
 * that say where.
 */
#include <math.h>

#include "models/gbdt.h"
#include "test.h"

#define FIX "tests/fixtures/xgboost/"

/* XGBoost's predictions: n rows of k numbers. */
static int read_pred(const char *path, double *v, int n, int k) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int got = 0;
    while (got < n * k && fscanf(f, "%lf", &v[got]) == 1) got++;
    fclose(f);
    return got == n * k;
}

static void check_model(duet_ctx *ctx, const char *tag, int K) {
    char path[256], pred[256];
    snprintf(path, sizeof path, FIX "%s.json", tag);
    snprintf(pred, sizeof pred, FIX "%s.pred", tag);
    duet_model *m = NULL, *m2 = NULL;
    duet_err e = {0, ""};
    CHECK_OK(duet_model_import_xgboost(ctx, path, &m, &e));
    if (!m) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        return;
    }
    CHECK(strcmp(duet_model_name(m), "gbdt") == 0);
    CHECK(duet_model_classes(m) == K);
    CHECK(duet_model_task(m) == (K ? DUET_TASK_CLASSIFICATION : DUET_TASK_REGRESSION));
    duet_load_opts o = duet_load_opts_default();
    o.unlabelled = 1;
    duet_data *d = NULL;
    CHECK_OK(duet_data_load(ctx, FIX "x.csv", &o, &d, &e));
    int n = (int)duet_data_rows(d), k = K > 2 ? K : 1; /* XGBoost: class 1's probability for two classes */
    CHECK(n == 200);
    double *want = calloc((size_t)n * (size_t)k, sizeof *want), *got = calloc((size_t)n, sizeof *got);
    float *P = calloc((size_t)n * (size_t)(K ? K : 1), sizeof *P);
    int32_t *lab = calloc((size_t)n, sizeof *lab);
    CHECK(read_pred(pred, want, n, k));
    double worst = 0;
    if (K) {
        CHECK_OK(duet_model_predict(ctx, m, d, lab, P, &e));
        for (int i = 0; i < n * k; i++) {
            double p = K == 2 ? P[2 * i + 1] : P[i];
            worst = fmax(worst, fabs(p - want[i]) / fmax(fabs(want[i]), 1e-3));
        }
    } else {
        CHECK_OK(duet_model_predict_values(ctx, m, d, got, &e));
        for (int i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - want[i]) / fmax(fabs(want[i]), 1e-3));
    }
    if (worst > 1e-5) fprintf(stderr, "%s: worst relative difference %g\n", tag, worst);
    CHECK(worst <= 1e-5);
    /* a duet file of it predicts the same */
    const char *file = t_path("xgb.duet");
    CHECK_OK(duet_model_save(ctx, m, file, &e));
    CHECK_OK(duet_model_load(ctx, file, &m2, &e));
    if (m2) {
        double w2 = 0;
        if (K) {
            float *P2 = calloc((size_t)n * (size_t)K, sizeof *P2);
            CHECK_OK(duet_model_predict(ctx, m2, d, lab, P2, &e));
            for (int i = 0; i < n * K; i++) w2 = fmax(w2, fabs(P2[i] - P[i]));
            free(P2);
        } else {
            double *g2 = calloc((size_t)n, sizeof *g2);
            CHECK_OK(duet_model_predict_values(ctx, m2, d, g2, &e));
            for (int i = 0; i < n; i++) w2 = fmax(w2, fabs(g2[i] - got[i]));
            free(g2);
        }
        CHECK(w2 == 0);
    }
    /* TreeSHAP on an imported model: the contributions and the expected value add up to the
     * margin, and equal the brute-force Shapley values */
    float x[5];
    double phi[6], ref[6];
    for (int r = 0; r < 5; r++) {
        for (int j = 0; j < 5; j++) x[j] = (float)((r * 7 + j * 3) % 5) - 2.0f;
        if (r == 2) x[1] = NAN;
        for (int v = 0; v < (K > 2 ? K : 1); v++) {
            CHECK_OK(dt_gbdt_shap(ctx, m, x, v, phi, &e));
            CHECK_OK(dt_gbdt_shap_reference(ctx, m, x, v, ref, &e));
            double sum = 0, diff = 0;
            for (int j = 0; j <= 5; j++) sum += phi[j], diff = fmax(diff, fabs(phi[j] - ref[j]));
            if (!(diff < 1e-9 * fmax(1, fabs(sum)))) {
                fprintf(stderr, "%s row %d tree set %d:", tag, r, v);
                for (int j = 0; j <= 5; j++) fprintf(stderr, " %g/%g", phi[j], ref[j]);
                fprintf(stderr, "\n");
            }
            CHECK(diff < 1e-9 * fmax(1, fabs(sum)));
            (void)sum;
        }
    }
    free(want);
    free(got);
    free(P);
    free(lab);
    duet_data_free(d);
    duet_model_free(m);
    duet_model_free(m2);
}

/* A copy of the binary model's JSON with one substring replaced, imported: must fail with code
 * and a message holding frag. */
static void check_bad(duet_ctx *ctx, const char *from, const char *to, int code, const char *frag) {
    FILE *f = fopen(FIX "binary_logistic.json", "rb");
    CHECK(f != NULL);
    if (!f) return;
    static char buf[1 << 17], out[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *at = strstr(buf, from);
    CHECK(at != NULL);
    if (!at) return;
    size_t pre = (size_t)(at - buf);
    snprintf(out, sizeof out, "%.*s%s%s", (int)pre, buf, to, at + strlen(from));
    const char *path = t_path("bad_xgb.json");
    FILE *g = fopen(path, "wb");
    fputs(out, g);
    fclose(g);
    duet_model *m = NULL;
    duet_err e = {0, ""};
    CHECK_ERR(duet_model_import_xgboost(ctx, path, &m, &e), &e, code, frag);
    CHECK(m == NULL);
    CHECK(strstr(e.msg, "bad_xgb.json") != NULL);
    duet_model_free(m);
}

static void test_import(void) {
    duet_ctx *ctx;
    duet_err e;
    if (duet_ctx_new(&ctx, &e)) return;
    duet_ctx_set_threads(ctx, 2);
    check_model(ctx, "binary_logistic", 2);
    check_model(ctx, "multi_softprob", 3);
    check_model(ctx, "reg_squarederror", 0);
    check_model(ctx, "count_poisson", 0);
    check_model(ctx, "reg_categorical", 0);

    check_bad(ctx, "\"binary:logistic\"", "\"rank:pairwise\"", DUET_EUNSUPPORTED, "rank:pairwise");
    check_bad(ctx, "\"gbtree\"", "\"dart\"", DUET_EUNSUPPORTED, "dart");
    check_bad(ctx, "\"left_children\"", "\"left_kids\"", DUET_EFORMAT, "left_children");
    check_bad(ctx, "\"num_class\":\"0\",\"num_feature\":\"5\"", "\"num_class\":\"0\",\"num_feature\":\"x\"", DUET_EFORMAT,
              "num_feature");
    check_bad(ctx, "\"num_class\":\"0\",\"num_feature\":\"5\"", "\"num_class\":\"0\",\"num_feature\":\"2\"", DUET_EFORMAT,
              "split feature");
    check_bad(ctx, "\"base_score\":\"", "\"base_score\":\"7", DUET_EFORMAT, "base_score");
    check_bad(ctx, "\"left_children\":[1,", "\"left_children\":[0,", DUET_EFORMAT, "child");
    check_bad(ctx, "\"learner\"", "\"learned\"", DUET_EFORMAT, "not an XGBoost JSON model");
    check_bad(ctx, "{", "[", DUET_EFORMAT, "JSON");
    check_bad(ctx, "\"tree_info\":[0,", "\"tree_info\":[1,", DUET_EUNSUPPORTED, "class");
    duet_model *m = NULL;
    CHECK_ERR(duet_model_import_xgboost(ctx, "/nonexistent/model.json", &m, &e), &e, DUET_EIO, "/nonexistent/model.json");
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_import);
    TEST_END();
}
