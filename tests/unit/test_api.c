/* test_api.c — the public API end to end, through include/duet.h only: every model trains,
 * predicts, explains, saves and loads on a small text set and a small table; the same seed
 * gives the same model; metrics agree with scikit-learn; bad arguments and corrupt model files
 * give errors, never crashes; an allocator that fails at every point in turn leaks nothing.
 */
#include "core/metrics.h"
#include "models/model.h"
#include "test.h"

static const char *TEXT =
    "spam\tWIN a FREE prize now, call 0800 to claim\n"
    "ham\tare we still on for lunch today?\n"
    "spam\tfree entry: text WIN to 80086 to claim your prize\n"
    "ham\tcall me when you get home\n"
    "spam\tURGENT! claim your free cash prize, call now\n"
    "ham\tsee you at home tonight, love\n"
    "spam\tcongratulations you won a free holiday, text CLAIM\n"
    "ham\tcan you pick up milk on the way home?\n"
    "spam\tfree ringtones! text WIN now\n"
    "ham\tlunch was great, thanks for today\n"
    "spam\tyou have won cash! call to claim now\n"
    "ham\tI'll call you later tonight\n";

static const char *TABLE =
    "age,job,hours,label\n"
    "25,clerk,40,low\n38,manager,50,high\n28,clerk,?,low\n52,manager,60,high\n"
    "31,clerk,38,low\n45,manager,55,high\n23,student,20,low\n60,manager,45,high\n"
    "35,clerk,40,low\n48,manager,52,high\n27,student,15,low\n41,manager,48,high\n";

static duet_data *load(duet_ctx *ctx, const char *s, int fmt, int unlabelled) {
    duet_load_opts o = duet_load_opts_default();
    o.format = fmt;
    o.unlabelled = unlabelled;
    duet_data *d = NULL;
    duet_err e;
    if (duet_data_load_mem(ctx, "mem", s, strlen(s), &o, &d, &e)) fprintf(stderr, "load: %s\n", e.msg);
    return d;
}

/* The registry says what the program needs of each model (api.c, compare.c and cli/ name none):
 * every role held by exactly one model, names unique, a tuned setting that is a double of
 * duet_train_params the grid fills, a twin that exists and is discriminative. */
static void test_registry(void) {
    static const unsigned roles[] = {DT_ROLE_DEFAULT, DT_ROLE_AUGMENT, DT_ROLE_REGRESS};
    for (size_t r = 0; r < sizeof roles / sizeof *roles; r++) {
        int holders = 0;
        for (int i = 0; dt_model_at(i); i++) holders += (dt_model_at(i)->roles & roles[r]) != 0;
        CHECK(holders == 1);
    }
    CHECK(duet_train_params_default().model == NULL); /* the default for the target */
    CHECK(dt_model_targets(dt_model_for(DT_ROLE_DEFAULT)) & DT_TARGET_CLASS);
    CHECK(dt_model_targets(dt_model_for(DT_ROLE_REGRESS)) & DT_TARGET_NUMBER);
    int n = 0;
    for (int i = 0; dt_model_at(i); i++, n++) {
        const dt_model_ops *m = dt_model_at(i);
        CHECK(dt_model_find(m->name) == m);
        CHECK(strstr(dt_model_names(), m->name) != NULL);
        if (m->tune) {
            duet_train_params p = duet_train_params_default();
            CHECK(m->tune_field + sizeof(double) <= sizeof p && m->tune_n > 0 && m->tune_grid);
            *dt_tuned_param(m, &p) = 7.5;
            CHECK((strcmp(m->tune, "C") == 0 && p.C == 7.5) || (strcmp(m->tune, "alpha") == 0 && p.alpha == 7.5));
        }
        if (m->versus) CHECK(dt_model_find(m->versus) && strcmp(dt_model_find(m->versus)->learns, "p(y|x)") == 0);
        if (m->compare_on) CHECK(m->caps & DUET_CAN_PREDICT);
        /* its own options: named like the command line's, each once, with a meaning */
        for (const dt_option *o = m->options; o && o->name; o++) {
            CHECK(strncmp(o->name, "--", 2) == 0 && o->help && o->help[0]);
            for (const dt_option *q = m->options; q != o; q++) CHECK(strcmp(q->name, o->name) != 0);
            CHECK(duet_model_option(m->name, o->name) == o->help);
        }
        CHECK(duet_model_type(i) && strcmp(duet_model_type(i), m->name) == 0);
        /* a model that learns numbers predicts them, and one of classes their probabilities */
        CHECK(!(dt_model_targets(m) & DT_TARGET_NUMBER) == !m->predict_values);
        if (dt_model_targets(m) & DT_TARGET_CLASS && m->caps & DUET_CAN_PREDICT) CHECK(m->predict_proba || m->predict_text);
    }
    CHECK(n >= 9 && dt_model_at(-1) == NULL && dt_model_at(n) == NULL);
}

static void test_models(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    duet_ctx_set_threads(ctx, 1);
    const char *models[] = {"logreg", "svm", "nb", "mlp"};
    duet_data *text = load(ctx, TEXT, DUET_FMT_TEXT, 0), *table = load(ctx, TABLE, DUET_FMT_CSV, 0);
    CHECK(text && duet_data_rows(text) == 12 && duet_data_kind(text) == DUET_DATA_TEXT);
    CHECK(table && duet_data_rows(table) == 12 && duet_data_kind(table) == DUET_DATA_TABLE);
    for (int di = 0; di < 2; di++)
        for (int mi = 0; mi < 4; mi++) {
            duet_data *d = di ? table : text;
            duet_train_params p = duet_train_params_default();
            p.model = models[mi];
            p.cv_folds = 3;
            p.epochs = 60;
            p.patience = 60;
            p.val_split = 0.01;
            duet_model *m = NULL, *m2 = NULL;
            CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
            if (!m) {
                fprintf(stderr, "%s: %s\n", models[mi], e.msg);
                continue;
            }
            CHECK(duet_model_classes(m) == 2);
            CHECK(strcmp(duet_model_name(m), models[mi]) == 0);
            int32_t lab[12], lab2[12];
            float P[24], P2[24];
            CHECK_OK(duet_model_predict(ctx, m, d, lab, P, &e));
            int correct = 0;
            for (int i = 0; i < 12; i++) {
                correct += strcmp(duet_model_class_name(m, lab[i]), duet_data_label(d, i)) == 0;
                CHECK_NEAR(P[2 * i] + P[2 * i + 1], 1, 1e-5);
            }
            CHECK(correct >= 11); /* trivially separable */
            if (correct < 11) fprintf(stderr, "%s on %s: %d/12 right\n", models[mi], di ? "table" : "text", correct);
            if (duet_model_caps(m) & DUET_CAN_EXPLAIN) {
                duet_feature f[3];
                int n = 0;
                CHECK_OK(duet_model_explain(ctx, m, d, 0, lab[0], f, 3, &n, &e));
                CHECK(n > 0 && f[0].name[0]);
                CHECK_OK(duet_model_top_features(ctx, m, 0, f, 3, &n, &e));
                CHECK(n == 3);
            }
            /* save, load, same predictions */
            char *path = T_TMP(".duet", "");
            CHECK_OK(duet_model_save(ctx, m, path, &e));
            CHECK_OK(duet_model_load(ctx, path, &m2, &e));
            if (m2) {
                CHECK_OK(duet_model_predict(ctx, m2, d, lab2, P2, &e));
                CHECK(memcmp(lab, lab2, sizeof lab) == 0);
                CHECK(memcmp(P, P2, sizeof P) == 0);
            }
            /* same seed, same predictions */
            duet_model *m3 = NULL;
            CHECK_OK(duet_model_train(ctx, d, &p, &m3, &e));
            if (m3) {
                CHECK_OK(duet_model_predict(ctx, m3, d, lab2, P2, &e));
                CHECK(memcmp(P, P2, sizeof P) == 0);
            }
            /* generative models score and sample */
            if (duet_model_caps(m) & DUET_CAN_SCORE) {
                double lp[12];
                CHECK_OK(duet_model_score(ctx, m, d, lp, &e));
                CHECK(isfinite(lp[0]) && (di || lp[0] < 0)); /* densities (tables) may exceed 1 */
            }
            if (duet_model_caps(m) & DUET_CAN_SAMPLE) {
                duet_data *s = NULL;
                CHECK_OK(duet_model_sample(ctx, m, duet_model_class_name(m, 1), 3, 7, &s, &e));
                CHECK(s && duet_data_rows(s) == 3);
                duet_data_free(s);
                if (di == 0) CHECK_ERR(duet_model_sample(ctx, m, "eggs", 3, 7, &s, &e), &e, DUET_EINVAL, "eggs");
            } else {
                duet_data *s = NULL;
                CHECK_ERR(duet_model_sample(ctx, m, NULL, 3, 7, &s, &e), &e, DUET_EUNSUPPORTED, "cannot sample");
            }
            /* a text model refuses a table */
            CHECK_ERR(duet_model_predict(ctx, m, di ? text : table, lab, P, &e), &e, DUET_EINVAL, "trained on");
            unlink(path);
            duet_model_free(m);
            duet_model_free(m2);
            duet_model_free(m3);
        }
    duet_data_free(text);
    duet_data_free(table);
    duet_ctx_free(ctx);
}

/* Metrics against scikit-learn 1.2 (sklearn.metrics) on fixed predictions:
 *   y=[0,0,1,1,1,0,1,0], p1=[.1,.6,.8,.4,.9,.2,.7,.3], pred = p1 > .5
 *   accuracy_score .75, f1/precision/recall (macro) .75, log_loss 0.40036743569623084,
 *   roc_auc_score .9375
 *   y=[0,1,2,2,1,0,2,1], pred=[0,2,2,2,1,0,1,1]: f1, precision, recall (macro) 0.7777777777777777 */
static void test_metrics(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    int32_t y[8] = {0, 0, 1, 1, 1, 0, 1, 0}, pr[8];
    float P[16];
    const float p1[8] = {.1f, .6f, .8f, .4f, .9f, .2f, .7f, .3f};
    for (int i = 0; i < 8; i++) {
        P[2 * i] = 1 - p1[i];
        P[2 * i + 1] = p1[i];
        pr[i] = p1[i] > .5f;
    }
    char na[] = "a", nb[] = "b", nc[] = "c";
    char *names[3] = {na, nb, nc};
    duet_metrics *mt = NULL;
    CHECK_OK(dt_metrics_compute(ctx, 2, 8, y, pr, P, names, &mt, &e));
    CHECK_NEAR(mt->accuracy, .75, 1e-12);
    CHECK_NEAR(mt->f1, .75, 1e-12);
    CHECK_NEAR(mt->precision, .75, 1e-12);
    CHECK_NEAR(mt->recall, .75, 1e-12);
    CHECK_NEAR(mt->log_loss, 0.40036743569623084, 1e-6);
    CHECK_NEAR(mt->roc_auc, .9375, 1e-12);
    CHECK(mt->confusion[0 * 2 + 1] == 1 && mt->confusion[1 * 2 + 0] == 1);
    duet_metrics_free(ctx, mt);
    int32_t y3[8] = {0, 1, 2, 2, 1, 0, 2, 1}, p3[8] = {0, 2, 2, 2, 1, 0, 1, 1};
    CHECK_OK(dt_metrics_compute(ctx, 3, 8, y3, p3, NULL, names, &mt, &e));
    CHECK_NEAR(mt->f1, 0.7777777777777777, 1e-12);
    CHECK_NEAR(mt->precision, 0.7777777777777777, 1e-12);
    CHECK_NEAR(mt->recall, 0.7777777777777777, 1e-12);
    CHECK(isnan(mt->roc_auc));
    duet_metrics_free(ctx, mt);
    /* cross-validation through the public API pools one prediction per row */
    const char *rows = "a,0\nb,0\nc,1\nd,1\ne,1\nf,0\ng,1\nh,0\n";
    duet_load_opts o = duet_load_opts_default();
    o.header = 0;
    duet_data *d = NULL;
    CHECK_OK(duet_data_load_mem(ctx, "m", rows, strlen(rows), &o, &d, &e));
    duet_train_params p = duet_train_params_default();
    p.model = "nb";
    p.alpha = 1;
    CHECK_OK(duet_cross_validate(ctx, d, &p, 2, &mt, &e));
    CHECK(mt && mt->n == 8 && mt->K == 2);
    duet_metrics_free(ctx, mt);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

static void test_bad_input(void) {
    duet_ctx *ctx;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    duet_model *m = NULL;
    duet_data *d = load(ctx, TEXT, DUET_FMT_TEXT, 0);
    duet_train_params p = duet_train_params_default();
    p.model = "forest";
    CHECK_ERR(duet_model_train(ctx, d, &p, &m, &e), &e, DUET_EINVAL, "unknown model");
    p = duet_train_params_default();
    p.C = -1;
    CHECK_ERR(duet_model_train(ctx, d, &p, &m, &e), &e, DUET_EINVAL, "C");
    CHECK_ERR(duet_model_load(ctx, "/nonexistent/x.duet", &m, &e), &e, DUET_EIO, "/nonexistent/x.duet");
    /* corrupt files: junk, truncated, flipped bytes in the header */
    p = duet_train_params_default();
    p.C = 1;
    CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    char *path = T_TMP(".duet", "");
    CHECK_OK(duet_model_save(ctx, m, path, &e));
    duet_model_free(m);
    m = NULL;
    FILE *f = fopen(path, "rb");
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(n > 100 && n < sizeof buf);
    int refused = 0, tries = 0;
    for (size_t cut = 0; cut < n; cut += n / 40 + 1) { /* every truncation is refused */
        char *q = t_tmpfile(".duet", buf, cut);
        tries++;
        if (duet_model_load(ctx, q, &m, &e) != DUET_OK) refused++;
        else duet_model_free(m);
        m = NULL;
        unlink(q);
    }
    CHECK(refused == tries);
    uint64_t hl = 0;
    memcpy(&hl, buf, 8);
    for (size_t pos = 8; pos < 8 + hl && pos < n; pos += 7) { /* flipped header bytes: refused or harmless */
        char keep = buf[pos];
        buf[pos] ^= 0x5a;
        char *q = t_tmpfile(".duet", buf, n);
        if (duet_model_load(ctx, q, &m, &e) == DUET_OK) {
            int32_t lab[12];
            duet_model_predict(ctx, m, d, lab, NULL, &e);
            duet_model_free(m);
        } else {
            CHECK(e.msg[0] != 0);
        }
        m = NULL;
        unlink(q);
        buf[pos] = keep;
    }
    unlink(path);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* Every allocation of a whole train + save + load + predict fails in turn: each returns
 * DUET_ENOMEM (or succeeds) and nothing leaks. */
static int train_save_load_predict(duet_ctx *ctx, long k, duet_err *e) {
    (void)k;
    duet_data *d = NULL;
    duet_model *m = NULL, *m2 = NULL;
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_TEXT;
    duet_train_params p = duet_train_params_default();
    p.C = 1;
    char *path = T_TMP(".duet", "");
    int32_t lab[12];
    int rc = duet_data_load_mem(ctx, "mem", TEXT, strlen(TEXT), &o, &d, e);
    if (!rc) rc = duet_model_train(ctx, d, &p, &m, e);
    if (!rc) rc = duet_model_save(ctx, m, path, e);
    if (!rc) rc = duet_model_load(ctx, path, &m2, e);
    if (!rc) rc = duet_model_predict(ctx, m2, d, lab, NULL, e);
    duet_model_free(m);
    duet_model_free(m2);
    duet_data_free(d);
    unlink(path);
    return rc;
}

static void test_failing_allocator(void) {
    long total = 0;
    CHECK(t_each_alloc_failure(train_save_load_predict, &total) == 0);
    CHECK(total > 10);
}

int main(void) {
    RUN(test_registry);
    RUN(test_models);
    RUN(test_metrics);
    RUN(test_bad_input);
    RUN(test_failing_allocator);
    TEST_END();
}
