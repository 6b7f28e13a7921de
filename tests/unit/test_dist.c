/* test_dist.c — data-parallel training (duet_ctx_set_distributed) without MPI: two threads play
 * two processes, each with its own context, joined by an all-reduce made of a barrier. Both
 * must end with the same model, and with the model one context fits on all the rows. Runs
 * under the sanitizers with the rest of the suite; tests/cli/test_mpi.sh does the same over
 * real MPI.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "test.h"

typedef struct team {
    pthread_barrier_t bar;
    const double *slot[2];
    long calls[2];
} team;

typedef struct member {
    team *t;
    int rank;
    long fail_at; /* > 0: the all-reduce fails on this call (on both members alike) */
    const duet_data *data;
    duet_train_params p;
    duet_model *model;
    duet_ctx *ctx;
    int rc;
    duet_err err;
} member;

/* Both threads call this at the same points: each ends with slot 0 + slot 1, in that order. */
static int reduce2(void *user, double *buf, size_t n) {
    member *m = user;
    team *t = m->t;
    t->slot[m->rank] = buf;
    t->calls[m->rank]++;
    if (m->fail_at && t->calls[m->rank] == m->fail_at) return -1;
    pthread_barrier_wait(&t->bar);
    double *sum = malloc(n * sizeof *sum);
    if (sum)
        for (size_t i = 0; i < n; i++) sum[i] = t->slot[0][i] + t->slot[1][i];
    pthread_barrier_wait(&t->bar); /* both have read both buffers */
    if (sum) memcpy(buf, sum, n * sizeof *sum);
    free(sum);
    return sum ? 0 : -1;
}

static void *run_member(void *arg) {
    member *m = arg;
    duet_err e;
    if (duet_ctx_new(&m->ctx, &e)) {
        m->rc = e.code;
        return NULL;
    }
    duet_ctx_set_threads(m->ctx, 1);
    duet_ctx_set_distributed(m->ctx, m->rank, 2, reduce2, m);
    m->rc = duet_model_train(m->ctx, m->data, &m->p, &m->model, &m->err); /* the model keeps the context */
    return NULL;
}

/* Trains p on d as two processes (threads): m[r] holds rank r's model and context. The
 * all-reduce fails on call fail_at (0: never). */
static void run_team_failing(team *t, member m[2], const duet_data *d, duet_train_params p, long fail_at) {
    memset(t, 0, sizeof *t);
    pthread_barrier_init(&t->bar, NULL, 2);
    pthread_t th[2];
    for (int r = 0; r < 2; r++) {
        memset(&m[r], 0, sizeof m[r]);
        m[r].t = t, m[r].rank = r, m[r].data = d, m[r].p = p, m[r].fail_at = fail_at;
        pthread_create(&th[r], NULL, run_member, &m[r]);
    }
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&t->bar);
}

static void run_team(team *t, member m[2], const duet_data *d, duet_train_params p) { run_team_failing(t, m, d, p, 0); }

static void free_team(member m[2]) {
    for (int r = 0; r < 2; r++) {
        duet_model_free(m[r].model);
        duet_ctx_free(m[r].ctx);
    }
}

/* The first rows of the project's SMS spam set; NULL after a skip (missing) or a failure. */
static duet_data *sms(duet_ctx *ctx, int64_t limit) {
    duet_load_opts o = duet_load_opts_default();
    o.limit = limit;
    duet_data *d = NULL;
    T_LOAD(ctx, "data/sms_spam/SMSSpamCollection", &o, &d);
    return d;
}

/* Trains p on d alone (*one, with ctx) and as two members (m); 1 when all three trained and
 * the members reduced in step. */
static int train_three(duet_ctx *ctx, const duet_data *d, duet_train_params p, duet_model **one, member m[2]) {
    duet_err e;
    *one = NULL;
    CHECK_OK(duet_model_train(ctx, d, &p, one, &e));
    team t;
    run_team(&t, m, d, p);
    CHECK(m[0].rc == DUET_OK && m[1].rc == DUET_OK);
    CHECK(t.calls[0] == t.calls[1] && t.calls[0] > 0); /* the same reductions, in step */
    return *one && !m[0].rc && !m[1].rc;
}

/* Trains p alone and as two members; checks the three models' probabilities. */
static void compare(duet_ctx *ctx, const duet_data *d, duet_train_params p, double tol) {
    duet_model *one = NULL;
    duet_err e;
    member m[2];
    if (!train_three(ctx, d, p, &one, m)) goto done;
    int64_t N = duet_data_rows(d);
    int K = duet_model_classes(one);
    float *P0 = calloc((size_t)(N * K), sizeof *P0), *P1 = calloc((size_t)(N * K), sizeof *P1),
          *P2 = calloc((size_t)(N * K), sizeof *P2);
    int32_t *lab = calloc((size_t)N, sizeof *lab);
    CHECK_OK(duet_model_predict(ctx, one, d, lab, P0, &e));
    CHECK_OK(duet_model_predict(ctx, m[0].model, d, lab, P1, &e));
    CHECK_OK(duet_model_predict(ctx, m[1].model, d, lab, P2, &e));
    double d01 = 0, d12 = 0;
    for (int64_t i = 0; i < N * K; i++) {
        double a = fabs((double)P0[i] - P1[i]), b = fabs((double)P1[i] - P2[i]);
        d01 = a > d01 ? a : d01;
        d12 = b > d12 ? b : d12;
    }
    CHECK(d12 == 0);   /* the two processes hold one model */
    CHECK(d01 <= tol); /* and it is the model of all the rows */
    if (d01 > tol || d12 != 0) fprintf(stderr, "  %s: alone vs shared %g, rank 0 vs 1 %g\n", p.model, d01, d12);
    free(P0), free(P1), free(P2), free(lab);
done:
    duet_model_free(one);
    free_team(m);
}

static duet_ctx *g_ctx;
static duet_data *g_data;

static void test_logreg(void) {
    duet_train_params p = duet_train_params_default();
    p.C = 10;
    compare(g_ctx, g_data, p, 1e-5);
    p.solver = DUET_SOLVER_LBFGS;
    compare(g_ctx, g_data, p, 1e-4);
}

static void test_logreg_cv(void) {
    duet_train_params p = duet_train_params_default(); /* C by cross-validation on both */
    p.char_ngram_min = -1;
    compare(g_ctx, g_data, p, 1e-4);
}

static void test_mlp_text(void) { /* sparse input: lazy Adam over the W0 rows either member touches */
    duet_train_params p = duet_train_params_default();
    p.model = "mlp";
    p.hidden = 16, p.epochs = 2, p.batch = 64;
    p.char_ngram_min = -1;
    compare(g_ctx, g_data, p, 1e-4);
}

static void test_nb(void) {
    duet_train_params p = duet_train_params_default();
    p.model = "nb";
    p.alpha = 0.5;
    compare(g_ctx, g_data, p, 1e-6);
    p.nb_kind = DUET_NB_GAUSSIAN; /* on sparse TF-IDF: sums of stored values, zeros added after */
    compare(g_ctx, g_data, p, 1e-5);
}

/* The linear SVM in the primal (data-parallel it always is): the same weights, and Platt's
 * sigmoid fitted on the same three folds of all the rows. */
static void test_svm(void) {
    duet_train_params p = duet_train_params_default();
    p.model = "svm";
    p.C = 1;
    p.solver = DUET_SOLVER_NEWTON;
    compare(g_ctx, g_data, p, 1e-4);
    p.C = 0; /* and C chosen by cross-validation */
    p.char_ngram_min = -1;
    compare(g_ctx, g_data, p, 1e-4);
}

/* The class-conditional character model: every member writes the corpus, gpt.c shares out the
 * windows of each batch. */
static void test_clm(void) {
    duet_train_params p = duet_train_params_default();
    p.model = "clm";
    p.layers = 1, p.dim = 16, p.heads = 2, p.context = 16, p.batch = 6, p.steps = 10, p.eval_every = 1000, p.eval_batches = 1;
    duet_data *d = sms(g_ctx, 60);
    if (d) compare(g_ctx, d, p, 1e-4);
    duet_data_free(d);
}

/* Mixed naive Bayes on a table (UCI Adult: numbers, categories and missing values). */
static void test_nb_table(void) {
    const char *path = t_shared("adult/adult.data");
    if (!path) {
        SKIP("adult/adult.data is missing");
        return;
    }
    duet_load_opts o = duet_load_opts_default();
    o.limit = 2000;
    duet_data *d = NULL;
    duet_err e;
    CHECK_OK(duet_data_load(g_ctx, path, &o, &d, &e));
    duet_train_params p = duet_train_params_default();
    p.model = "nb";
    p.alpha = 1;
    if (d) compare(g_ctx, d, p, 1e-5);
    duet_data_free(d);
}

/* The first n of data/fashion_mnist's 1000 images with their labels; NULL after a skip
 * (missing) or a failure (there but not loaded). */
static duet_data *fashion(int64_t n) {
    duet_load_opts o = duet_load_opts_default();
    o.labels_path = "data/fashion_mnist/t1k-labels-idx1-ubyte.gz";
    o.limit = n;
    duet_data *d = NULL;
    T_LOAD(g_ctx, "data/fashion_mnist/t1k-images-idx3-ubyte.gz", &o, &d);
    return d;
}

/* The MLP and the VAE on images: the same batches from both members' rows. */
static void test_mlp(void) {
    duet_data *d = fashion(400);
    if (!d) return;
    duet_train_params p = duet_train_params_default();
    p.model = "mlp";
    p.hidden = 32, p.epochs = 3, p.batch = 50;
    compare(g_ctx, d, p, 1e-4);
    /* and the conditional VAE, a classifier by Bayes' rule over its ELBO */
    p = duet_train_params_default();
    p.model = "vae";
    p.conditional = 1;
    p.hidden = 32, p.latent = 4, p.epochs = 2, p.batch = 40;
    compare(g_ctx, d, p, 1e-3);
    duet_data_free(d);
}

static const char *meta(const duet_model *m, const char *key) {
    for (int i = 0; m && duet_model_meta_key(m, i); i++)
        if (strcmp(duet_model_meta_key(m, i), key) == 0) return duet_model_meta_value(m, i);
    return "";
}

/* Image generators (GAN, diffusion): both members draw the same images, and the training loss
 * `key` is one process's. */
static void compare_generator(const duet_data *d, duet_train_params p, const char *key) {
    duet_model *one = NULL;
    duet_err e;
    member m[2];
    if (train_three(g_ctx, d, p, &one, m)) {
        CHECK_NEAR(atof(meta(one, key)), atof(meta(m[0].model, key)), 2e-3);
        unsigned char *png[2] = {NULL, NULL};
        size_t len[2] = {0, 0};
        for (int r = 0; r < 2; r++) {
            duet_data *img = NULL;
            duet_sample_opts so = {0, 5, 1};
            CHECK_OK(duet_model_sample_ex(g_ctx, m[r].model, NULL, 3, 7, &so, &img, &e));
            if (img) CHECK_OK(duet_data_png(g_ctx, img, 0, 3, 0, &png[r], &len[r], &e));
            duet_data_free(img);
        }
        CHECK(png[0] && png[1] && len[0] == len[1] && memcmp(png[0], png[1], len[0]) == 0);
        duet_free(g_ctx, png[0]);
        duet_free(g_ctx, png[1]);
    }
    duet_model_free(one);
    free_team(m);
}

static void test_generators(void) {
    duet_data *d = fashion(128);
    if (!d) return;
    duet_train_params p = duet_train_params_default();
    p.model = "gan";
    p.conditional = 1, p.epochs = 1, p.batch = 32, p.latent = 8;
    compare_generator(d, p, "g_loss");
    p = duet_train_params_default();
    p.model = "diffusion";
    p.conditional = 1, p.epochs = 1, p.batch = 32, p.hidden = 4;
    compare_generator(d, p, "loss");
    duet_data_free(d);
}

/* The language model: both members draw the same batches and take halves of the windows. */
static void test_gpt(void) {
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_CORPUS;
    duet_data *c = NULL;
    duet_err e;
    if (!T_LOAD(g_ctx, "data/tinyshakespeare/input.txt", &o, &c)) return;
    duet_train_params p = duet_train_params_default();
    p.model = "gpt";
    p.layers = 1, p.dim = 16, p.heads = 2, p.context = 16, p.batch = 6, p.steps = 12, p.eval_every = 1000, p.eval_batches = 1;
    duet_model *one = NULL;
    member m[2];
    if (train_three(g_ctx, c, p, &one, m)) {
        static const char text[] = "First Citizen:\nBefore we proceed any further, hear me speak.";
        duet_lm_score s0, s1, s2;
        CHECK_OK(duet_model_score_text(g_ctx, one, text, sizeof text - 1, NULL, NULL, &s0, &e));
        CHECK_OK(duet_model_score_text(g_ctx, m[0].model, text, sizeof text - 1, NULL, NULL, &s1, &e));
        CHECK_OK(duet_model_score_text(g_ctx, m[1].model, text, sizeof text - 1, NULL, NULL, &s2, &e));
        CHECK(s1.nll == s2.nll);
        CHECK_NEAR(s0.nll, s1.nll, 1e-4 * s0.nll);
    }
    duet_model_free(one);
    free_team(m);
    duet_data_free(c);
}

/* An all-reduce that fails at any of its calls ends training with DUET_EIO and its message on
 * both members, for each model whose sums meet inside callbacks (the linear models'
 * optimisers, naive Bayes' choice of kind). */
static void test_reduce_fails(void) {
    static const struct {
        const char *model;
        int solver, kind;
        double C;
    } cases[] = {{"logreg", DUET_SOLVER_NEWTON, 0, 10}, {"logreg", DUET_SOLVER_LBFGS, 0, 10}, {"svm", DUET_SOLVER_NEWTON, 0, 1},
                 {"nb", 0, DUET_NB_AUTO, 0}, {"nb", 0, DUET_NB_GAUSSIAN, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        duet_train_params p = duet_train_params_default();
        p.model = cases[c].model;
        p.solver = cases[c].solver;
        p.nb_kind = cases[c].kind;
        p.C = cases[c].C;
        p.alpha = strcmp(p.model, "nb") == 0 ? 1 : 0;
        p.char_ngram_min = -1;
        team t;
        member m[2];
        run_team(&t, m, g_data, p); /* how many sums a clean run combines */
        long calls = t.calls[0];
        CHECK(m[0].rc == DUET_OK && calls > 1);
        free_team(m);
        int bad = 0;
        for (long k = 1; k <= calls; k += k < 8 ? 1 : calls / 8 + 1) {
            run_team_failing(&t, m, g_data, p, k);
            for (int r = 0; r < 2; r++)
                if (m[r].rc != DUET_EIO || !strstr(m[r].err.msg, "combining") || m[r].model) {
                    bad++;
                    fprintf(stderr, "%s, all-reduce %ld of %ld fails: rank %d got %d '%s'\n", p.model, k, calls, r, m[r].rc,
                            m[r].err.msg);
                }
            free_team(m);
        }
        CHECK(bad == 0);
    }
}

static void test_refusals(void) {
    /* more processes than rows */
    duet_ctx *ctx = NULL;
    duet_err e;
    CHECK_OK(duet_ctx_new(&ctx, &e));
    duet_train_params p = duet_train_params_default();
    duet_model *m = NULL;
    duet_ctx_set_distributed(ctx, 700, 1000, reduce2, NULL); /* 600 rows: rank 700 has none */
    CHECK_ERR(duet_model_train(ctx, g_data, &p, &m, &e), &e, DUET_EINVAL, "some would have none");
    duet_ctx_free(ctx);
}

int main(void) {
    duet_err e;
    if (duet_ctx_new(&g_ctx, &e)) return 1;
    duet_ctx_set_threads(g_ctx, 1);
    g_data = sms(g_ctx, 600);
    if (!g_data) TEST_END(); /* missing (a skip) or unreadable (a failure), said above */
    RUN(test_logreg);
    RUN(test_logreg_cv);
    RUN(test_nb);
    RUN(test_nb_table);
    RUN(test_svm);
    RUN(test_clm);
    RUN(test_mlp_text);
    RUN(test_mlp);
    RUN(test_gpt);
    RUN(test_generators);
    RUN(test_reduce_fails);
    RUN(test_refusals);
    duet_data_free(g_data);
    duet_ctx_free(g_ctx);
    TEST_END();
}
