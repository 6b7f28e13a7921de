/* test_gpt.c — the transformer language model end to end: gradients of the whole model against
 * finite differences, llama2.c's stories260K greedy output word for word, generation options,
 * scoring, training, save/load, checkpoints that resume exactly, and bad input.
 */
#include <math.h>

#include "../../src/models/gpt.h"
#include "test.h"

static duet_ctx *new_ctx(int threads) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_ctx_set_threads(ctx, threads);
    return ctx;
}

/* --- the whole model's backward pass against central differences ------------------------- */

static void fd_case(int learned_pos, int tied) {
    duet_ctx *ctx = new_ctx(2);
    dt_gpt_shape s = {7, 8, 2, 2, 1, 12, 6, learned_pos, tied};
    enum { B = 2 };
    dt_gpt_probe *p = NULL;
    float *P = NULL;
    size_t n = 0;
    CHECK_OK(dt_gpt_probe_new(ctx, &s, B, &p, &P, &n, NULL));
    if (!p) {
        duet_ctx_free(ctx);
        return;
    }
    dt_rng r;
    dt_rng_seed(&r, 7 + (uint64_t)learned_pos);
    for (size_t i = 0; i < n; i++) P[i] = (float)(dt_rng_normal(&r) * 0.5);
    int32_t tok[B * 6], tgt[B * 6];
    for (int i = 0; i < B * 6; i++) tok[i] = (int32_t)dt_rng_below(&r, 7), tgt[i] = (int32_t)dt_rng_below(&r, 7);
    float *G = calloc(n, sizeof(float));
    dt_gpt_probe_loss(ctx, p, P, G, tok, tgt, NULL);
    int bad = 0;
    for (int m = 0; m < 60; m++) { /* a sample of parameters of every kind */
        size_t i = m < 20 ? (size_t)m * n / 20 : (size_t)dt_rng_below(&r, n);
        float keep = P[i];
        P[i] = keep + 1e-2f;
        double up = dt_gpt_probe_loss(ctx, p, P, NULL, tok, tgt, NULL);
        P[i] = keep - 1e-2f;
        double dn = dt_gpt_probe_loss(ctx, p, P, NULL, tok, tgt, NULL);
        P[i] = keep;
        double num = (up - dn) / 2e-2;
        if (fabs(num - G[i]) > 2e-3 + 3e-2 * fabs(G[i])) {
            bad++;
            fprintf(stderr, "  param %zu: numeric %.6f analytic %.6f\n", i, num, G[i]);
        }
    }
    CHECK(bad == 0);
    free(G);
    dt_gpt_probe_free(ctx, p);
    duet_ctx_free(ctx);
}

static void test_gradients(void) {
    fd_case(0, 1);
    fd_case(1, 0);
}

/* --- llama2.c ------------------------------------------------------------------------------ */

typedef struct sbuf {
    char s[1 << 14];
    size_t n;
} sbuf;

static int collect(void *user, const char *piece, size_t len) {
    sbuf *b = user;
    if (b->n + len >= sizeof b->s) return 1;
    memcpy(b->s + b->n, piece, len);
    b->n += len;
    b->s[b->n] = 0;
    return 0;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static void test_llama2c(void) {
    const char *ck = t_shared("llama2c_tinyllamas/stories260K.bin");
    const char *tk = t_shared("llama2c_tinyllamas/tok512.bin");
    const char *ref = t_shared("llama2c_tinyllamas/stories260K_greedy_t0_n256.txt");
    if (!ck || !tk || !ref) {
        SKIP("../shared/data/llama2c_tinyllamas is missing");
        return;
    }
    duet_ctx *ctx = new_ctx(1);
    duet_model *m = NULL, *m2 = NULL;
    duet_err e;
    CHECK_OK(duet_model_import_llama2c(ctx, ck, tk, &m, &e));
    if (!m) return;
    CHECK(duet_model_caps(m) & DUET_CAN_SAMPLE);
    CHECK(duet_model_input_kind(m) == DUET_DATA_CORPUS);
    size_t rlen = 0;
    const char *want = slurp(ref, &rlen);
    duet_gen_opts o = duet_gen_opts_default();
    o.temperature = 0;
    o.n = 256;
    static sbuf b;
    b.n = 0;
    duet_gen_stats st;
    CHECK_OK(duet_model_generate(ctx, m, &o, collect, &b, &st, &e));
    /* the reference ends with a newline that run.c prints after the text */
    CHECK(want && b.n + 1 == rlen && memcmp(b.s, want, b.n) == 0);
    CHECK(st.tokens == 256 && st.prompt_tokens == 1);

    /* imported -> saved -> loaded generates the same text */
    const char *path = t_path("stories.duet");
    CHECK_OK(duet_model_save(ctx, m, path, &e));
    CHECK_OK(duet_model_load(ctx, path, &m2, &e));
    static sbuf b2;
    b2.n = 0;
    if (m2) CHECK_OK(duet_model_generate(ctx, m2, &o, collect, &b2, NULL, &e));
    CHECK(b2.n == b.n && memcmp(b.s, b2.s, b.n) == 0);

    /* a prompt, a stop string, sampling with a seed */
    o.prompt = "Once upon a time";
    o.stop = "Lily";
    o.n = 100;
    b2.n = 0;
    CHECK_OK(duet_model_generate(ctx, m, &o, collect, &b2, NULL, &e));
    CHECK(strcmp(b2.s, ", there was a little girl named ") == 0);
    o.stop = NULL;
    o.temperature = 0.8;
    o.top_k = 40;
    o.top_p = 0.9;
    o.seed = 42;
    static sbuf s1, s2, s3;
    s1.n = s2.n = s3.n = 0;
    CHECK_OK(duet_model_generate(ctx, m, &o, collect, &s1, NULL, &e));
    CHECK_OK(duet_model_generate(ctx, m, &o, collect, &s2, NULL, &e));
    o.seed = 43;
    CHECK_OK(duet_model_generate(ctx, m, &o, collect, &s3, NULL, &e));
    CHECK(s1.n > 0 && s1.n == s2.n && memcmp(s1.s, s2.s, s1.n) == 0);
    CHECK(s1.n != s3.n || memcmp(s1.s, s3.s, s1.n) != 0);

    /* scoring: the model finds its own greedy text likely, and the per-token callback agrees */
    duet_lm_score sc, sc2;
    CHECK_OK(duet_model_score_text(ctx, m, want, rlen, NULL, NULL, &sc, &e));
    CHECK(sc.tokens > 200 && sc.nll > 0 && sc.nll < 1.5 && fabs(sc.perplexity - exp(sc.nll)) < 1e-9);
    CHECK_OK(duet_model_score_text(ctx, m, "Once upon a time, there was a dog.", 34, NULL, NULL, &sc2, &e));
    CHECK(sc2.nll > 0 && isfinite(sc2.nll));

    /* bad input */
    char longp[4000];
    for (int i = 0; i < 3999; i++) longp[i] = i % 5 == 4 ? ' ' : 'a' + i % 7;
    longp[3999] = 0;
    o.prompt = longp;
    CHECK_ERR(duet_model_generate(ctx, m, &o, collect, &b2, NULL, &e), &e, DUET_EINVAL, "context is 512");
    o.prompt = NULL;
    o.top_p = 2;
    CHECK_ERR(duet_model_generate(ctx, m, &o, collect, &b2, NULL, &e), &e, DUET_EINVAL, "top-p");
    duet_model *bad = NULL;
    char trunc[64];
    size_t cl;
    FILE *f = fopen(ck, "rb");
    cl = f ? fread(trunc, 1, sizeof trunc, f) : 0;
    if (f) fclose(f);
    const char *tp = t_tmpfile(".bin", trunc, cl);
    CHECK_ERR(duet_model_import_llama2c(ctx, tp, tk, &bad, &e), &e, DUET_EFORMAT, "needs 1056540 bytes, the file has 64");
    CHECK_ERR(duet_model_import_llama2c(ctx, tk, tk, &bad, &e), &e, DUET_EFORMAT, "not a llama2.c checkpoint");
    CHECK_ERR(duet_model_import_llama2c(ctx, ck, ck, &bad, &e), &e, DUET_EFORMAT, "exceeds the file"); /* a checkpoint is no tokenizer */
    CHECK(bad == NULL);
    /* a truncated duet model file */
    size_t fl;
    char *whole = NULL;
    f = fopen(path, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        fl = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        whole = malloc(fl);
        if (fread(whole, 1, fl, f) != fl) fl = 0;
        fclose(f);
        const char *tp2 = t_tmpfile(".duet", whole, fl / 2);
        CHECK_ERR(duet_model_load(ctx, tp2, &bad, &e), &e, DUET_EFORMAT, tp2);
        free(whole);
    }
    duet_model_free(m);
    duet_model_free(m2);
    remove(path);
    duet_ctx_free(ctx);
}

/* --- training ----------------------------------------------------------------------------------- */

static const char *corpus(size_t *len) {
    static char buf[40000];
    static const char *lines[] = {"the cat sat on the mat. ", "a dog ran to the park! ", "we like green tea, ",
                                  "and the sun is warm.\n", "où est la gare? "};
    size_t n = 0;
    dt_rng r;
    dt_rng_seed(&r, 11);
    while (n < sizeof buf - 64) {
        const char *l = lines[dt_rng_below(&r, 5)];
        memcpy(buf + n, l, strlen(l));
        n += strlen(l);
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static duet_train_params small(void) {
    duet_train_params p = duet_train_params_default();
    p.model = "gpt";
    p.layers = 2;
    p.heads = 2;
    p.dim = 32;
    p.context = 32;
    p.batch = 8;
    p.steps = 250;
    p.eval_every = 125;
    p.eval_batches = 4;
    p.lr = 1e-2;
    p.warmup = 10;
    return p;
}

/* corpus() read as a running text */
static duet_data *corpus_data(duet_ctx *ctx) {
    size_t len;
    const char *text = corpus(&len);
    duet_load_opts lo = duet_load_opts_default();
    lo.format = DUET_FMT_CORPUS;
    duet_data *d = NULL;
    CHECK_OK(duet_data_load_mem(ctx, "corpus.txt", text, len, &lo, &d, NULL));
    return d;
}

static void test_train(void) {
    duet_ctx *ctx = new_ctx(2);
    duet_load_opts lo = duet_load_opts_default();
    lo.format = DUET_FMT_CORPUS;
    duet_data *d = corpus_data(ctx);
    duet_err e;
    CHECK(d && duet_data_kind(d) == DUET_DATA_CORPUS && duet_data_rows(d) == 1);
    CHECK(duet_model_type_input("gpt") == DUET_DATA_CORPUS && duet_model_type_input("logreg") == 0);
    duet_train_params p = small();
    duet_model *m = NULL, *m2 = NULL;
    CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    if (!m) {
        duet_data_free(d);
        duet_ctx_free(ctx);
        return;
    }
    const char *vl = NULL;
    for (int i = 0; duet_model_meta_key(m, i); i++)
        if (strcmp(duet_model_meta_key(m, i), "val_loss") == 0) vl = duet_model_meta_value(m, i);
    CHECK(vl && atof(vl) < 0.5); /* from log(25 characters) = 3.2; the corpus repeats five phrases */
    duet_lm_score sc;
    CHECK_OK(duet_model_score_text(ctx, m, "the cat sat on the mat. ", 24, NULL, NULL, &sc, &e));
    CHECK(sc.nll < 1.0);
    duet_gen_opts o = duet_gen_opts_default();
    o.prompt = "the ";
    o.n = 40;
    static sbuf b;
    b.n = 0;
    CHECK_OK(duet_model_generate(ctx, m, &o, collect, &b, NULL, &e));
    CHECK(b.n >= 40);
    /* generation past the context (32) shifts the window and goes on */
    o.n = 100;
    b.n = 0;
    CHECK_OK(duet_model_generate(ctx, m, &o, collect, &b, NULL, &e));
    CHECK(b.n >= 100);
    duet_lm_score junk;
    CHECK_ERR(duet_model_score_text(ctx, m, "the Zebra", 9, NULL, NULL, &junk, &e), &e, DUET_EINVAL, "U+005A");
    const char *path = t_path("gpt.duet");
    CHECK_OK(duet_model_save(ctx, m, path, &e));
    CHECK_OK(duet_model_load(ctx, path, &m2, &e));
    duet_lm_score sc2;
    if (m2) CHECK_OK(duet_model_score_text(ctx, m2, "the cat sat on the mat. ", 24, NULL, NULL, &sc2, &e));
    CHECK(m2 && sc2.nll == sc.nll);
    if (m2 && sc2.nll != sc.nll) fprintf(stderr, "  saved %.9f, loaded %.9f\n", sc.nll, sc2.nll);
    remove(path);
    duet_model_free(m2);
    duet_model_free(m);

    /* BPE tokenizer and learned positions */
    p.tokenizer = "bpe";
    p.vocab = 300;
    p.learned_pos = 1;
    p.steps = 20;
    CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    CHECK(m != NULL);
    duet_model_free(m);
    m = NULL;

    /* bad parameters and data */
    p = small();
    p.dim = 30;
    p.heads = 4;
    CHECK_ERR(duet_model_train(ctx, d, &p, &m, &e), &e, DUET_EINVAL, "--dim 30");
    p = small();
    p.tokenizer = "/nonexistent";
    CHECK_ERR(duet_model_train(ctx, d, &p, &m, &e), &e, DUET_EINVAL, "--tokenizer");
    p = small();
    p.context = 30000;
    CHECK_ERR(duet_model_train(ctx, d, &p, &m, &e), &e, DUET_EINVAL, "tokens; with context 30000");
    duet_data *d2 = NULL;
    CHECK_ERR(duet_data_load_mem(ctx, "empty.txt", "", 0, &lo, &d2, &e), &e, DUET_EFORMAT, "empty corpus");
    CHECK_OK(duet_data_load_mem(ctx, "bad.txt", "ab\xff\xfe cd", 7, &lo, &d2, &e));
    p = small();
    if (d2) CHECK_ERR(duet_model_train(ctx, d2, &p, &m, &e), &e, DUET_EFORMAT, "invalid UTF-8");
    duet_data_free(d2);
    p.model = "logreg";
    CHECK_ERR(duet_model_train(ctx, d, &p, &m, &e), &e, DUET_EINVAL, "language model");
    CHECK(m == NULL);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* A run stopped after a checkpoint and resumed ends exactly where an uninterrupted run ends. */
static int stop_after_20(void *user) {
    int *calls = user; /* the trainer asks once per step */
    return ++*calls > 20;
}

static void test_resume(void) {
    duet_ctx *ctx = new_ctx(2);
    duet_data *d = corpus_data(ctx);
    duet_err e;
    duet_train_params p = small();
    p.steps = 30;
    duet_model *full = NULL, *cut = NULL, *resumed = NULL;
    CHECK_OK(duet_model_train(ctx, d, &p, &full, &e));
    const char *ck = t_path("ckpt.duet");
    remove(ck);
    p.checkpoint = ck;
    p.checkpoint_every = 10;
    int calls = 0;
    duet_ctx_set_abort(ctx, stop_after_20, &calls);
    CHECK_ERR(duet_model_train(ctx, d, &p, &cut, &e), &e, DUET_ECANCELLED, "gpt training: cancelled");
    duet_ctx_set_abort(ctx, NULL, NULL);
    CHECK(cut == NULL);
    duet_train_params r = small();
    r.steps = 30;
    r.resume = ck;
    CHECK_OK(duet_model_train(ctx, d, &r, &resumed, &e));
    const char *probe = "the dog sat on the green mat.";
    duet_lm_score a = {0}, b = {0};
    if (full && resumed) {
        CHECK_OK(duet_model_score_text(ctx, full, probe, strlen(probe), NULL, NULL, &a, &e));
        CHECK_OK(duet_model_score_text(ctx, resumed, probe, strlen(probe), NULL, NULL, &b, &e));
    }
    CHECK(a.tokens > 0 && a.nll == b.nll);
    duet_model_free(full);
    duet_model_free(resumed);
    /* a missing checkpoint, a model that is not a checkpoint */
    duet_model *x = NULL;
    r.resume = "/nonexistent.duet";
    CHECK_ERR(duet_model_train(ctx, d, &r, &x, &e), &e, DUET_EIO, "nonexistent");
    remove(ck);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* Every allocation along corpus -> train -> save -> load -> generate -> score fails in turn:
 * an out-of-memory error each time, never a crash or a leak (char and BPE tokenizers). */
static int lm_pipeline(duet_ctx *ctx, long k, duet_err *e) {
    static const char text[] = "to be or not to be, that is the question. to be or not to be, that is the question.\n"
                               "whether tis nobler in the mind to suffer the slings and arrows of outrageous fortune.\n";
    duet_data *d = NULL;
    duet_model *m = NULL, *m2 = NULL;
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_CORPUS;
    duet_train_params p = duet_train_params_default();
    p.model = "gpt";
    p.layers = 1, p.heads = 2, p.dim = 8, p.context = 8, p.batch = 2, p.steps = 2, p.eval_batches = 1;
    p.tokenizer = k % 2 ? "bpe" : "char";
    p.vocab = 260;
    char *path = T_TMP(".duet", "");
    duet_gen_opts g = duet_gen_opts_default();
    g.n = 5;
    g.prompt = "to be";
    g.stop = "xyz";
    static sbuf b;
    b.n = 0;
    duet_lm_score sc;
    int rc = duet_data_load_mem(ctx, "mem", text, sizeof text - 1, &o, &d, e);
    if (!rc) rc = duet_model_train(ctx, d, &p, &m, e);
    if (!rc) rc = duet_model_save(ctx, m, path, e);
    if (!rc) rc = duet_model_load(ctx, path, &m2, e);
    if (!rc) rc = duet_model_generate(ctx, m2, &g, collect, &b, NULL, e);
    if (!rc) rc = duet_model_score_text(ctx, m2, text, 40, NULL, NULL, &sc, e);
    duet_model_free(m);
    duet_model_free(m2);
    duet_data_free(d);
    unlink(path);
    return rc;
}

static void test_alloc_failures(void) {
    long total = 0;
    CHECK(t_each_alloc_failure(lm_pipeline, &total) == 0);
    CHECK(total > 20);
}

int main(void) {
    RUN(test_gradients);
    RUN(test_alloc_failures);
    RUN(test_llama2c);
    RUN(test_train);
    RUN(test_resume);
    TEST_END();
}
