/* test_compare.c — duet_compare_run on SMS spam (a slice of it) and on a small table: every
 * model measured, learning curves on growing sizes, the JSON and the report folder (the page
 * and two PNG plots that read back), the allocation tracker, the recommendation naming the
 * models; and bad input.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <sys/stat.h>

#include "../../src/data/data.h"
#include "../../src/io/png.h"
#include "test.h"

static duet_data *sms(duet_ctx *ctx, int64_t limit) {
    duet_load_opts o = duet_load_opts_default();
    o.limit = limit;
    duet_data *d = NULL;
    duet_err e;
    CHECK_OK(duet_data_load(ctx, "data/sms_spam/SMSSpamCollection", &o, &d, &e));
    return d;
}

static void test_sms(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_data *d = sms(ctx, 1500);
    if (!d) return;
    duet_compare_opts o = duet_compare_opts_default();
    o.models = "logreg,nb,svm";
    o.curve_points = 4;
    o.curve_repeats = 3;
    o.params.C = 10; /* no cross-validation: quick */
    o.params.alpha = 1;
    duet_compare *c = NULL;
    duet_err e;
    CHECK_OK(duet_compare_run(ctx, d, &o, &c, &e));
    if (!c) return;
    CHECK(c->K == 2 && c->n_models == 3 && c->n_train + c->n_test == 1500);
    CHECK(c->n_test >= 290 && c->n_test <= 310); /* a fifth, stratified */
    for (int i = 0; i < c->n_models; i++) {
        const duet_compare_model *m = &c->models[i];
        CHECK(m->ok);
        CHECK(m->accuracy > 0.9 && m->accuracy <= 1 && m->f1 > 0.7);
        CHECK(m->fit_seconds >= 0 && m->predict_us >= 0 && isfinite(m->predict_us) && m->size_bytes > 1000); /* times vary */
        CHECK(m->peak_bytes > m->size_bytes / 4); /* the tracker saw the model's arrays at least */
        CHECK(m->generative == (strcmp(m->name, "nb") == 0));
    }
    CHECK(strcmp(c->models[0].learns, "p(y|x)") == 0 && strcmp(c->models[1].learns, "p(x|y)p(y)") == 0);
    /* curves: sizes grow geometrically to the whole split; errors are rates that mostly fall */
    CHECK(c->n_sizes == 4 && c->n_curves == 3 && c->repeats == 3);
    CHECK(c->sizes[0] == 20 && c->sizes[3] == c->n_train);
    for (int s = 1; s < c->n_sizes; s++) CHECK(c->sizes[s] > c->sizes[s - 1]);
    for (int j = 0; j < c->n_curves; j++) {
        for (int s = 0; s < c->n_sizes; s++) CHECK(c->curves[j].err_mean[s] >= 0 && c->curves[j].err_mean[s] < 0.6);
        CHECK(c->curves[j].err_mean[3] < c->curves[j].err_mean[0]);
        CHECK(c->curves[j].err_std[3] == 0); /* the whole split is one subset */
    }
    CHECK(strstr(c->recommendation, "most accurate") != NULL);
    CHECK(strstr(c->recommendation, "aive Bayes") != NULL && strstr(c->recommendation, "ogistic regression") != NULL);
    /* JSON: models by name with their figures */
    char *js = duet_compare_json(ctx, c);
    cJSON *root = js ? cJSON_Parse(js) : NULL;
    CHECK(root != NULL);
    if (root) {
        const cJSON *m = cJSON_GetObjectItem(root, "models"), *lr = cJSON_GetObjectItem(m, "logreg");
        const cJSON *acc = cJSON_GetObjectItem(lr, "accuracy"), *fam = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "nb"), "family");
        CHECK(cJSON_IsNumber(acc) && fabs(acc->valuedouble - c->models[0].accuracy) < 1e-9);
        CHECK(cJSON_IsString(fam) && strcmp(fam->valuestring, "generative") == 0);
        const cJSON *cv = cJSON_GetObjectItem(root, "curves");
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cv, "sizes")) == 4);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(cv, "nb"), "error")) == 4);
        CHECK(cJSON_IsString(cJSON_GetObjectItem(root, "recommendation")));
        cJSON_Delete(root);
    }
    duet_free(ctx, js);
    /* the report: a page and two plots that read back as PNG */
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/duet_report_%d", (int)getpid());
    CHECK_OK(duet_compare_report(ctx, c, dir, &e));
    const char *files[] = {"index.html", "learning_curves.png", "cost_accuracy.png"};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        CHECK(stat(path, &st) == 0 && st.st_size > 1000);
        if (i) {
            uint8_t *pix = NULL;
            int W = 0, H = 0, C = 0;
            CHECK_OK(dt_png_read(ctx, path, &pix, &W, &H, &C, &e));
            CHECK(W == 760 && H == 460 && C == 3);
            duet_free(ctx, pix);
        }
        remove(path);
    }
    rmdir(dir);
    CHECK_ERR(duet_compare_report(ctx, c, "/nonexistent/dir/report", &e), &e, DUET_EIO, "/nonexistent/dir/report");
    duet_compare_free(ctx, c);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* A table: the mixed naive Bayes against logistic regression; a model that fails is reported,
 * not fatal. */
static void test_table(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    char csv[20000];
    size_t n = (size_t)snprintf(csv, sizeof csv, "age,colour,label\n");
    dt_rng r;
    dt_rng_seed(&r, 3);
    for (int i = 0; i < 300; i++) {
        int y = i % 2;
        double age = 30 + 10 * y + 5 * dt_rng_normal(&r);
        const char *col = dt_rng_uniform(&r) < (y ? 0.8 : 0.3) ? "red" : "blue";
        n += (size_t)snprintf(csv + n, sizeof csv - n, "%.1f,%s,%s\n", age, col, y ? "yes" : "no");
    }
    duet_load_opts lo = duet_load_opts_default();
    duet_data *d = NULL;
    duet_err e;
    CHECK_OK(duet_data_load_mem(ctx, "t.csv", csv, n, &lo, &d, &e));
    duet_compare_opts o = duet_compare_opts_default();
    o.models = "logreg,nb,vae"; /* the VAE models images: it fails here, and says why */
    o.curve_models = "";
    duet_compare *c = NULL;
    CHECK_OK(duet_compare_run(ctx, d, &o, &c, &e));
    if (c) {
        CHECK(c->n_models == 3 && c->n_curves == 0);
        CHECK(c->models[0].ok && c->models[1].ok && !c->models[2].ok);
        CHECK(strstr(c->models[2].error, "[0, 1]") != NULL);
        CHECK(c->models[1].accuracy > 0.75); /* the mixed naive Bayes: age and colour both inform */
    }
    duet_compare_free(ctx, c);
    /* bad input */
    c = NULL;
    o.models = "logreg,forest";
    CHECK_ERR(duet_compare_run(ctx, d, &o, &c, &e), &e, DUET_EINVAL, "unknown model 'forest'");
    o.models = "nb,nb";
    CHECK_ERR(duet_compare_run(ctx, d, &o, &c, &e), &e, DUET_EINVAL, "named twice");
    o.models = NULL;
    o.test_share = 0.9;
    CHECK_ERR(duet_compare_run(ctx, d, &o, &c, &e), &e, DUET_EINVAL, "test share");
    o.test_share = 0;
    o.curve_points = 1;
    CHECK_ERR(duet_compare_run(ctx, d, &o, &c, &e), &e, DUET_EINVAL, "learning curves");
    duet_data *u = NULL;
    lo.unlabelled = 1;
    CHECK_OK(duet_data_load_mem(ctx, "u.csv", "a,b\n1,2\n3,4\n", 12, &lo, &u, &e));
    o.curve_points = 0;
    if (u) CHECK_ERR(duet_compare_run(ctx, u, &o, &c, &e), &e, DUET_EINVAL, "labelled");
    duet_data_free(u);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* Augmentation on an imbalanced table (one "yes" in six): synthetic "yes" rows from naive
 * Bayes join the training rows; logistic regression is measured with and without them on the
 * same held-out rows; the figures are consistent with each other; and bad settings. */
static void test_augment(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    static char csv[60000];
    size_t n = (size_t)snprintf(csv, sizeof csv, "age,colour,label\n");
    dt_rng r;
    dt_rng_seed(&r, 5);
    for (int i = 0; i < 1200; i++) {
        int y = i % 6 == 0;
        double age = 30 + 8 * y + 6 * dt_rng_normal(&r);
        const char *col = dt_rng_uniform(&r) < (y ? 0.7 : 0.3) ? "red" : i % 7 ? "blue" : "";
        n += (size_t)snprintf(csv + n, sizeof csv - n, "%.1f,%s,%s\n", age, col, y ? "yes" : "no");
    }
    duet_load_opts lo = duet_load_opts_default();
    duet_data *d = NULL;
    duet_err e;
    CHECK_OK(duet_data_load_mem(ctx, "imb.csv", csv, n, &lo, &d, &e));
    duet_compare_opts o = duet_compare_opts_default();
    o.models = "logreg,nb";
    o.curve_models = "";
    o.params.C = 1, o.params.alpha = 1;
    o.augment = "yes";
    duet_compare *c = NULL;
    CHECK_OK(duet_compare_run(ctx, d, &o, &c, &e));
    if (c) {
        CHECK(strcmp(c->augment_label, "yes") == 0 && strcmp(c->augment_model, "nb") == 0);
        CHECK(c->augment_real == 160 && c->augment_rows == 160); /* 200 "yes", 4 in 5 to train on */
        CHECK(c->n_augment == 1 && c->augment[0].ok && strcmp(c->augment[0].name, "logreg") == 0);
        const duet_compare_augment *a = &c->augment[0];
        CHECK(fabs(a->accuracy[0] - c->models[0].accuracy) < 1e-12); /* the same model, the same rows */
        /* the change in accuracy is the rows gained less the rows lost */
        CHECK(fabs((a->accuracy[1] - a->accuracy[0]) * (double)c->n_test - (double)(a->gained - a->lost)) < 1e-6);
        CHECK(a->label_recall[1] >= a->label_recall[0]); /* more "yes" rows: more "yes" answers */
        CHECK(a->label_recall[2] >= a->label_recall[0] && a->accuracy[2] > 0.5 && a->accuracy[2] <= 1); /* the control */
        CHECK(fabs((a->accuracy[1] - a->accuracy[2]) * (double)c->n_test - (double)(a->vs_dup_gained - a->vs_dup_lost)) < 1e-6);
        CHECK(strstr(c->augment_verdict, "Duplicating real rows instead") != NULL);
        CHECK(a->significant == (fabs((double)(a->gained - a->lost)) > 2 * sqrt((double)(a->gained + a->lost))));
        CHECK(strstr(c->augment_verdict, "160 synthetic 'yes' rows") != NULL);
        CHECK(strstr(c->augment_verdict, "help") != NULL);
        char *js = duet_compare_json(ctx, c);
        cJSON *root = js ? cJSON_Parse(js) : NULL, *ag = cJSON_GetObjectItem(root, "augment");
        CHECK(cJSON_IsString(cJSON_GetObjectItem(ag, "verdict")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ag, "models"), "logreg"),
                                                                      "augmented"), "label_recall")));
        cJSON_Delete(root);
        duet_free(ctx, js);
    }
    duet_compare_free(ctx, c);
    c = NULL;
    o.augment_count = 50;
    CHECK_OK(duet_compare_run(ctx, d, &o, &c, &e));
    if (c) CHECK(c->augment_rows == 50);
    duet_compare_free(ctx, c);
    c = NULL;
    o.augment = "maybe";
    CHECK_ERR(duet_compare_run(ctx, d, &o, &c, &e), &e, DUET_EINVAL, "'maybe' is not one of");
    o.augment = "yes";
    o.augment_model = "logreg";
    CHECK_ERR(duet_compare_run(ctx, d, &o, &c, &e), &e, DUET_EINVAL, "cannot draw");
    o.augment_model = "forest";
    CHECK_ERR(duet_compare_run(ctx, d, &o, &c, &e), &e, DUET_EINVAL, "unknown model 'forest'");
    CHECK(c == NULL);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* Joining datasets: rows of a then b, for each kind; mismatches refused. */
static void test_concat(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_load_opts lo = duet_load_opts_default();
    duet_data *a = NULL, *b = NULL, *ab = NULL, *w = NULL;
    duet_err e;
    CHECK_OK(duet_data_load_mem(ctx, "a.csv", "x,c,label\n1,red,p\n2,,q\n", 22, &lo, &a, &e));
    CHECK_OK(duet_data_load_mem(ctx, "b.csv", "x,c,label\n3,blue,q\n", 19, &lo, &b, &e));
    CHECK_OK(dt_data_concat(ctx, a, b, &ab, &e));
    if (ab) {
        CHECK(ab->N == 3 && ab->C == 2 && ab->kind == DUET_DATA_TABLE);
        CHECK(strcmp(ab->cells[4], "3") == 0 && strcmp(ab->cells[5], "blue") == 0 && ab->cells[3] == NULL);
        CHECK(strcmp(ab->labels[0], "p") == 0 && strcmp(ab->labels[2], "q") == 0);
    }
    CHECK_OK(duet_data_load_mem(ctx, "w.csv", "x,label\n3,q\n", 12, &lo, &w, &e));
    duet_data *bad = NULL;
    CHECK_ERR(dt_data_concat(ctx, a, w, &bad, &e), &e, DUET_EINVAL, "cannot be joined");
    duet_data_free(w);
    w = NULL;
    lo.format = DUET_FMT_TEXT;
    CHECK_OK(duet_data_load_mem(ctx, "w.tsv", "p\thello\n", 8, &lo, &w, &e));
    CHECK_ERR(dt_data_concat(ctx, a, w, &bad, &e), &e, DUET_EINVAL, "different kinds");
    CHECK(bad == NULL);
    duet_data_free(a);
    duet_data_free(b);
    duet_data_free(ab);
    duet_data_free(w);
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_sms);
    RUN(test_table);
    RUN(test_augment);
    RUN(test_concat);
    TEST_END();
}
