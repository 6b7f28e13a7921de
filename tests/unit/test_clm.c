/* test_clm.c — language models as classifiers: the class-conditional language model (trained on
 * "label<TAB>text" lines; Bayes' rule) on a small synthetic task it must learn, saved and
 * loaded; a language model prompted to classify zero-shot (labels scored as continuations of a
 * template, with and without calibration); the continuation scores add up; bad input.
 */
#include <math.h>

#include "../../src/core/dt.h"
#include "../../src/models/gpt.h"
#include "../../src/models/model.h"
#include "test.h"

/* texts of two classes that differ in their words: "up" sentences use a b c, "down" ones x y z */
static duet_data *task(duet_ctx *ctx, int n, uint64_t seed, int labelled_lines) {
    static char buf[200000];
    size_t o = 0;
    dt_rng r;
    dt_rng_seed(&r, seed);
    static const char *const w[2][3] = {{"ab", "bc", "ca"}, {"xy", "yz", "zx"}};
    for (int i = 0; i < n; i++) {
        int k = i % 2;
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\t", k ? "down" : "up");
        for (int j = 0; j < 5; j++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", j ? " " : "", w[k][dt_rng_below(&r, 3)]);
        buf[o++] = '\n';
    }
    duet_load_opts lo = duet_load_opts_default();
    lo.format = labelled_lines ? DUET_FMT_CORPUS : DUET_FMT_TEXT;
    duet_data *d = NULL;
    duet_err e;
    CHECK_OK(duet_data_load_mem(ctx, "task.tsv", buf, o, &lo, &d, &e));
    return d;
}

static duet_train_params small(const char *model) {
    duet_train_params p = duet_train_params_default();
    p.model = model;
    p.layers = 1, p.heads = 2, p.dim = 16, p.context = 24, p.batch = 8, p.steps = 150, p.eval_batches = 2;
    p.lr = 1e-2;
    return p;
}

static void test_clm(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_data *tr = task(ctx, 300, 1, 0), *te = task(ctx, 100, 2, 0);
    duet_train_params p = small("clm");
    duet_model *m = NULL, *m2 = NULL;
    duet_err e;
    if (tr) CHECK_OK(duet_model_train(ctx, tr, &p, &m, &e));
    if (!m) return;
    CHECK(duet_model_classes(m) == 2 && duet_model_features(m) == 0 && duet_model_input_kind(m) == DUET_DATA_TEXT);
    duet_metrics *mt = NULL;
    CHECK_OK(duet_model_eval(ctx, m, te, &mt, &e));
    CHECK(mt && mt->accuracy >= 0.95);
    if (mt && mt->accuracy < 0.95) fprintf(stderr, "  clm accuracy %.3f\n", mt->accuracy);
    duet_metrics_free(ctx, mt);
    /* save and load: the same probabilities */
    const char *path = t_path("clm.duet");
    CHECK_OK(duet_model_save(ctx, m, path, &e));
    CHECK_OK(duet_model_load(ctx, path, &m2, &e));
    int32_t l1[100], l2[100];
    float p1[200], p2[200];
    CHECK_OK(duet_model_predict(ctx, m, te, l1, p1, &e));
    if (m2) CHECK_OK(duet_model_predict(ctx, m2, te, l2, p2, &e));
    CHECK(m2 && memcmp(p1, p2, sizeof p1) == 0);
    remove(path);
    /* a character it never saw: the prior decides, no error */
    duet_load_opts lo = duet_load_opts_default();
    lo.format = DUET_FMT_TEXT;
    lo.unlabelled = 1;
    duet_data *odd = NULL;
    CHECK_OK(duet_data_load_mem(ctx, "odd", "ab qq ca\n", 9, &lo, &odd, &e));
    if (odd) CHECK_OK(duet_model_predict(ctx, m, odd, l1, p1, &e));
    /* tables are not text */
    duet_data *tab = NULL;
    duet_load_opts to = duet_load_opts_default();
    CHECK_OK(duet_data_load_mem(ctx, "t.csv", "a,label\n1,x\n2,y\n3,x\n", 20, &to, &tab, &e));
    duet_model *bad = NULL;
    if (tab) CHECK_ERR(duet_model_train(ctx, tab, &p, &bad, &e), &e, DUET_EINVAL, "clm models text");
    if (tab) CHECK_ERR(duet_model_predict(ctx, m, tab, l1, p1, &e), &e, DUET_EINVAL, "reads text");
    duet_data_free(tab);
    duet_data_free(odd);
    duet_model_free(m);
    duet_model_free(m2);
    duet_data_free(tr);
    duet_data_free(te);
    duet_ctx_free(ctx);
}

/* Zero-shot: a language model of "label<TAB>text" lines prompted with "{label}\t{text}" scores
 * each label with its text: the joint, Bayes' rule in another guise. */
static void test_zeroshot(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_data *corpus = task(ctx, 300, 1, 1), *te = task(ctx, 100, 2, 0);
    duet_train_params p = small("gpt");
    p.val_share = 0.1;
    duet_model *lm = NULL;
    duet_err e;
    if (corpus) CHECK_OK(duet_model_train(ctx, corpus, &p, &lm, &e));
    if (!lm || !te) return;
    const char *labels[2] = {"down", "up"};
    float P[200];
    int right = 0;
    CHECK_OK(duet_lm_classify(ctx, lm, te, labels, 2, "{label}\t{text}", 0, P, &e));
    for (int i = 0; i < 100; i++) right += (P[2 * i + 1] > P[2 * i]) == (strcmp(duet_data_label(te, i), "up") == 0);
    CHECK(right >= 95);
    for (int i = 0; i < 100; i++) CHECK_NEAR(P[2 * i] + P[2 * i + 1], 1, 1e-5);
    CHECK_OK(duet_lm_classify(ctx, lm, te, labels, 2, "{label}\t{text}", 1, P, &e)); /* calibrated: still mostly right */
    right = 0;
    for (int i = 0; i < 100; i++) right += (P[2 * i + 1] > P[2 * i]) == (strcmp(duet_data_label(te, i), "up") == 0);
    CHECK(right >= 90);
    /* the continuation scores add up: log p(a b | "") = log p(a | "") + log p(b | a) */
    double ab, a, b;
    CHECK_OK(dt_gpt_logp(ctx, lm, "", 0, "up\tab", 5, &ab, NULL, &e));
    CHECK_OK(dt_gpt_logp(ctx, lm, "", 0, "up", 2, &a, NULL, &e));
    CHECK_OK(dt_gpt_logp(ctx, lm, "up", 2, "\tab", 3, &b, NULL, &e));
    CHECK_NEAR(ab, a + b, 1e-4);
    /* bad input */
    CHECK_ERR(duet_lm_classify(ctx, lm, te, labels, 1, NULL, 0, P, &e), &e, DUET_EINVAL, "2..1000 labels");
    CHECK_ERR(duet_lm_classify(ctx, lm, te, labels, 2, "no text here", 0, P, &e), &e, DUET_EINVAL, "{text}");
    const char *empty[2] = {"up", ""};
    CHECK_ERR(duet_lm_classify(ctx, lm, te, empty, 2, NULL, 0, P, &e), &e, DUET_EINVAL, "empty");
    duet_model_free(lm);
    duet_data_free(corpus);
    duet_data_free(te);
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_clm);
    RUN(test_zeroshot);
    TEST_END();
}
