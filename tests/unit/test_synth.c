/* test_synth.c — generative models at work: synthetic tables, text and images written where
 * training reads them back (and a model trained on synthetic rows classifies real ones);
 * missing cells of a table filled from naive Bayes (most likely values recover what was
 * masked better than chance; draws vary with the seed); the table pipeline's range and whole
 * numbers; anomaly scores (the three scores' relations, ROC-AUC, a language model's unknown
 * characters); bad input.
 */
#include <zlib.h>
#include <math.h>
#include <sys/stat.h>

#include "../../src/core/dt.h"
#include "../../src/data/data.h"
#include "test.h"
#include "test_images.h"

/* A table where the class decides both columns: age ~ 30 or 50 (whole years), colour red or blue. */
static const char *table_csv(char *buf, size_t len, int n, int with_missing, uint64_t seed) {
    size_t o = (size_t)snprintf(buf, len, "age,colour,size,label\n");
    dt_rng r;
    dt_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int y = i % 2;
        int age = (int)lround(30 + 20 * y + 3 * dt_rng_normal(&r));
        const char *col = dt_rng_uniform(&r) < (y ? 0.9 : 0.1) ? "red" : "blue";
        double size = 1 + 2 * y + 0.2 * dt_rng_normal(&r);
        int drop = with_missing && i % 7 == 3;
        o += (size_t)snprintf(buf + o, len - o, "%d,%s,%.3f,%s\n", age, drop ? "" : col, size, y ? "old" : "young");
    }
    return buf;
}

static void test_table(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    static char csv[40000];
    table_csv(csv, sizeof csv, 400, 1, 1);
    duet_load_opts lo = duet_load_opts_default();
    duet_data *d = NULL;
    duet_err e;
    CHECK_OK(duet_data_load_mem(ctx, "t.csv", csv, strlen(csv), &lo, &d, &e));
    duet_train_params p = duet_train_params_default();
    p.model = "nb";
    p.alpha = 1;
    duet_model *m = NULL, *m2 = NULL;
    CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    if (!m) return;
    char path[64];
    snprintf(path, sizeof path, "/tmp/duet_synth_%d.csv", (int)getpid());
    /* synthetic rows of one class: whole ages within the training range, the class's colour */
    CHECK_OK(duet_model_synthesize(ctx, m, "old", 200, 3, NULL, path, &e));
    duet_data *s = NULL;
    CHECK_OK(duet_data_load(ctx, path, &lo, &s, &e));
    CHECK(s && duet_data_rows(s) == 200 && duet_data_columns(s) == 3);
    int red = 0, whole = 1, inside = 1;
    char row[256];
    for (int64_t i = 0; s && i < duet_data_rows(s); i++) {
        CHECK(strcmp(duet_data_label(s, i), "old") == 0);
        duet_data_row_string(s, i, row, sizeof row, &e);
        double age = atof(row);
        whole &= age == floor(age);
        inside &= age >= 20 && age <= 65;
        red += strstr(row, ",red,") != NULL;
    }
    CHECK(whole && inside);
    CHECK(red > 130); /* p(red | old) = 0.9, less the rows whose colour is missing */
    /* a model trained on synthetic rows of both classes classifies the real ones */
    CHECK_OK(duet_model_synthesize(ctx, m, NULL, 400, 4, NULL, path, &e));
    duet_data *s2 = NULL;
    CHECK_OK(duet_data_load(ctx, path, &lo, &s2, &e));
    duet_train_params lp = duet_train_params_default();
    lp.C = 1;
    if (s2) CHECK_OK(duet_model_train(ctx, s2, &lp, &m2, &e));
    duet_metrics *mt = NULL;
    if (m2) CHECK_OK(duet_model_eval(ctx, m2, d, &mt, &e));
    CHECK(mt && mt->accuracy > 0.9);
    duet_metrics_free(ctx, mt);
    /* missing cells: the colour of a row with a missing colour is filled with its class's */
    int64_t filled = 0;
    CHECK_OK(duet_model_impute(ctx, m, d, 0, 1, path, &filled, &e));
    CHECK(filled == 400 / 7 + (400 % 7 > 3));
    duet_data *f = NULL;
    CHECK_OK(duet_data_load(ctx, path, &lo, &f, &e));
    int right = 0, missing = 0;
    for (int64_t i = 0; f && i < duet_data_rows(f); i++) {
        duet_data_row_string(f, i, row, sizeof row, &e);
        if (i % 7 != 3) continue;
        missing++;
        right += (strstr(row, ",red,") != NULL) == (i % 2 == 1);
        CHECK(strstr(row, ",,") == NULL);
    }
    CHECK(missing > 0 && right == missing); /* the label decides the colour with p = 0.9 */
    /* draws vary with the seed */
    char path2[64];
    snprintf(path2, sizeof path2, "/tmp/duet_synth2_%d.csv", (int)getpid());
    CHECK_OK(duet_model_impute(ctx, m, d, 1, 1, path, &filled, &e));
    CHECK_OK(duet_model_impute(ctx, m, d, 1, 2, path2, &filled, &e));
    FILE *a = fopen(path, "r"), *b = fopen(path2, "r");
    int differ = 0;
    while (a && b && !differ) {
        int x = fgetc(a), y = fgetc(b);
        differ = x != y;
        if (x == EOF || y == EOF) break;
    }
    if (a) fclose(a);
    if (b) fclose(b);
    CHECK(differ);
    /* bad input: a model that cannot fill, data that is not a table, a bad label */
    duet_model *lr = NULL;
    CHECK_OK(duet_model_train(ctx, d, &lp, &lr, &e));
    if (lr) CHECK_ERR(duet_model_impute(ctx, lr, d, 0, 1, path, &filled, &e), &e, DUET_EUNSUPPORTED, "cannot fill");
    if (lr) CHECK_ERR(duet_model_synthesize(ctx, lr, NULL, 5, 1, NULL, path, &e), &e, DUET_EUNSUPPORTED, "cannot sample");
    CHECK_ERR(duet_model_synthesize(ctx, m, "middle", 5, 1, NULL, path, &e), &e, DUET_EINVAL, "'middle'");
    CHECK_ERR(duet_model_synthesize(ctx, m, NULL, 5, 1, NULL, "/nonexistent/dir/x.csv", &e), &e, DUET_EIO, "/nonexistent");
    remove(path);
    remove(path2);
    duet_model_free(lr);
    duet_data_free(f);
    duet_data_free(s);
    duet_data_free(s2);
    duet_model_free(m);
    duet_model_free(m2);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* Images: an IDX pair that reads back with its labels; text: label<TAB>text lines. */
static void test_images_and_text(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_data *d = load_bars(ctx, 200, 8, 1);
    duet_train_params p = duet_train_params_default();
    p.model = "vae";
    p.conditional = 1;
    p.hidden = 32;
    p.latent = 4;
    p.epochs = 20;
    duet_model *m = NULL;
    duet_err e;
    if (d) CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    char ip[64], lp[64];
    snprintf(ip, sizeof ip, "/tmp/duet_%d-images-idx3-ubyte", (int)getpid());
    snprintf(lp, sizeof lp, "/tmp/duet_%d-labels-idx1-ubyte", (int)getpid());
    if (m) CHECK_OK(duet_model_synthesize(ctx, m, "1", 30, 5, NULL, ip, &e));
    duet_load_opts o = duet_load_opts_default();
    o.labels_path = lp;
    duet_data *s = NULL;
    CHECK_OK(duet_data_load(ctx, ip, &o, &s, &e));
    CHECK(s && duet_data_rows(s) == 30 && duet_data_kind(s) == DUET_DATA_DENSE);
    for (int64_t i = 0; s && i < 30; i++) CHECK(strcmp(duet_data_label(s, i), "1") == 0);
    remove(ip);
    remove(lp);
    /* generate, then filter: an MLP of the bars keeps the draws it calls vertical */
    duet_train_params cp = duet_train_params_default();
    cp.model = "mlp";
    cp.hidden = 16;
    cp.epochs = 40;
    duet_model *clf = NULL;
    if (d) CHECK_OK(duet_model_train(ctx, d, &cp, &clf, &e));
    duet_data *kept = NULL;
    int64_t drawn = 0;
    if (m && clf) CHECK_OK(duet_model_sample_filtered(ctx, m, NULL, 20, 3, NULL, clf, "1", 0.6, 0, &kept, &drawn, &e));
    fprintf(stderr, "  kept %lld of %lld drawn\n", kept ? (long long)duet_data_rows(kept) : -1LL, (long long)drawn);
    CHECK(kept && duet_data_rows(kept) == 20 && drawn >= 20);
    int32_t kl[20];
    float kp[40];
    if (kept) CHECK_OK(duet_model_predict(ctx, clf, kept, kl, kp, &e));
    int all = 1;
    for (int i = 0; kept && i < duet_data_rows(kept); i++) all &= kp[2 * i + 1] >= 0.6f;
    CHECK(all);
    duet_data_free(kept);
    kept = NULL;
    /* an impossible bar: nothing kept after max_draws */
    if (m && clf) CHECK_OK(duet_model_sample_filtered(ctx, m, "0", 5, 3, NULL, clf, "1", 1.0, 40, &kept, &drawn, &e));
    CHECK(drawn == 40 && kept && duet_data_rows(kept) < 5);
    duet_data_free(kept);
    if (m && clf) CHECK_ERR(duet_model_sample_filtered(ctx, m, NULL, 5, 3, NULL, clf, "7", 0.5, 0, &kept, &drawn, &e), &e,
                            DUET_EINVAL, "'7' is not one of");
    if (m && clf) CHECK_ERR(duet_model_sample_filtered(ctx, m, NULL, 5, 3, NULL, clf, "1", 1.5, 0, &kept, &drawn, &e), &e,
                            DUET_EINVAL, "min-prob");
    duet_model_free(clf);
    /* text from naive Bayes */
    duet_load_opts to = duet_load_opts_default();
    to.limit = 600;
    duet_data *t = NULL;
    duet_model *nb = NULL;
    CHECK_OK(duet_data_load(ctx, "data/sms_spam/SMSSpamCollection", &to, &t, &e));
    duet_train_params np = duet_train_params_default();
    np.model = "nb";
    np.alpha = 1;
    if (t) CHECK_OK(duet_model_train(ctx, t, &np, &nb, &e));
    char tp[64];
    snprintf(tp, sizeof tp, "/tmp/duet_synth_%d.tsv", (int)getpid());
    if (nb) CHECK_OK(duet_model_synthesize(ctx, nb, "spam", 10, 1, NULL, tp, &e));
    duet_data *st = NULL;
    CHECK_OK(duet_data_load(ctx, tp, &to, &st, &e));
    CHECK(st && duet_data_rows(st) == 10 && duet_data_kind(st) == DUET_DATA_TEXT);
    if (nb) CHECK_ERR(duet_model_impute(ctx, nb, t, 0, 1, tp, &(int64_t){0}, &e), &e, DUET_EINVAL, "tables");
    remove(tp);
    duet_data_free(st);
    duet_model_free(nb);
    duet_data_free(t);
    duet_data_free(s);
    duet_model_free(m);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* anomaly scores: NLL in bits, RATIO = NLL - zlib's bits, RATE = NLL / bytes; ROC-AUC */
static void test_anomaly(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_load_opts to = duet_load_opts_default();
    to.limit = 400;
    duet_data *t = NULL;
    duet_err e;
    CHECK_OK(duet_data_load(ctx, "data/sms_spam/SMSSpamCollection", &to, &t, &e));
    duet_train_params np = duet_train_params_default();
    np.model = "nb";
    np.alpha = 1;
    duet_model *nb = NULL, *lr = NULL;
    if (t) CHECK_OK(duet_model_train(ctx, t, &np, &nb, &e));
    if (!nb) return;
    int64_t n = duet_data_rows(t);
    double *lp = calloc((size_t)n, sizeof(double)), *s1 = calloc((size_t)n, sizeof(double));
    double *s2 = calloc((size_t)n, sizeof(double)), *s3 = calloc((size_t)n, sizeof(double)), *s0 = calloc((size_t)n, sizeof(double));
    CHECK_OK(duet_model_score(ctx, nb, t, lp, &e));
    CHECK_OK(duet_model_anomaly(ctx, nb, t, DUET_ANOMALY_NLL, s1, &e));
    CHECK_OK(duet_model_anomaly(ctx, nb, t, DUET_ANOMALY_RATIO, s2, &e));
    CHECK_OK(duet_model_anomaly(ctx, nb, t, DUET_ANOMALY_RATE, s3, &e));
    CHECK_OK(duet_model_anomaly(ctx, nb, t, DUET_ANOMALY_AUTO, s0, &e));
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *x = t->text[i];
        size_t len = strlen(x);
        /* zlib's raw deflate at level 9 */
        z_stream z;
        memset(&z, 0, sizeof z);
        unsigned char out[4096];
        deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
        z.next_in = (Bytef *)(uintptr_t)x, z.avail_in = (uInt)len, z.next_out = out, z.avail_out = sizeof out;
        deflate(&z, Z_FINISH);
        double bits = 8.0 * (double)z.total_out;
        deflateEnd(&z);
        worst = fmax(worst, fabs(s1[i] + lp[i] / log(2)));
        worst = fmax(worst, fabs(s2[i] - (s1[i] - bits)));
        worst = fmax(worst, fabs(s3[i] - s1[i] / (double)len));
        worst = fmax(worst, fabs(s0[i] - s3[i])); /* text: AUTO is RATE */
    }
    CHECK(worst < 1e-9);
    /* ROC-AUC: perfect, reversed, ties */
    double a[3] = {1, 2, 3}, b[2] = {4, 5}, c[2] = {2, 2};
    CHECK_NEAR(duet_roc_auc(ctx, a, 3, b, 2), 1, 1e-12);
    CHECK_NEAR(duet_roc_auc(ctx, b, 2, a, 3), 0, 1e-12);
    CHECK_NEAR(duet_roc_auc(ctx, c, 2, c, 2), 0.5, 1e-12);
    CHECK(isnan(duet_roc_auc(ctx, a, 0, b, 2)));
    /* models without a likelihood; bad scores */
    duet_train_params lp2 = duet_train_params_default();
    lp2.C = 1;
    CHECK_OK(duet_model_train(ctx, t, &lp2, &lr, &e));
    if (lr) CHECK_ERR(duet_model_anomaly(ctx, lr, t, DUET_ANOMALY_AUTO, s1, &e), &e, DUET_EUNSUPPORTED, "no likelihood");
    CHECK_ERR(duet_model_anomaly(ctx, nb, t, 9, s1, &e), &e, DUET_EINVAL, "unknown anomaly score");
    /* a language model: text with a character it never saw has probability 0 */
    duet_load_opts co = duet_load_opts_default();
    co.format = DUET_FMT_CORPUS;
    const char *corpus = "the cat sat on the mat. the dog sat on the log. a cat and a dog.\n";
    duet_data *cd = NULL, *q = NULL;
    duet_model *lm = NULL;
    CHECK_OK(duet_data_load_mem(ctx, "c.txt", corpus, strlen(corpus), &co, &cd, &e));
    duet_train_params gp = duet_train_params_default();
    gp.model = "gpt", gp.layers = 1, gp.heads = 2, gp.dim = 8, gp.context = 8, gp.batch = 2, gp.steps = 5, gp.eval_batches = 1;
    gp.val_share = 0.2;
    if (cd) CHECK_OK(duet_model_train(ctx, cd, &gp, &lm, &e));
    duet_load_opts qo = duet_load_opts_default();
    qo.format = DUET_FMT_TEXT;
    qo.unlabelled = 1;
    const char *lines = "the cat sat\nthe zebra sat\n";
    CHECK_OK(duet_data_load_mem(ctx, "q.txt", lines, strlen(lines), &qo, &q, &e));
    double ls[2] = {0, 0};
    if (lm && q) CHECK_OK(duet_model_anomaly(ctx, lm, q, DUET_ANOMALY_RATE, ls, &e));
    CHECK(isfinite(ls[0]) && ls[0] > 0 && isinf(ls[1]) && ls[1] > 0); /* 'z' and 'b' are foreign */
    duet_data_free(q);
    duet_data_free(cd);
    duet_model_free(lm);
    free(lp), free(s0), free(s1), free(s2), free(s3);
    duet_model_free(lr);
    duet_model_free(nb);
    duet_data_free(t);
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_table);
    RUN(test_images_and_text);
    RUN(test_anomaly);
    TEST_END();
}
