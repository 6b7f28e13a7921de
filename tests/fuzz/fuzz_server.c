/* fuzz_server.c — the bodies `duet serve` takes: the first byte picks the endpoint, the rest is
 * the body. Each is parsed and checked as the connection's thread does (parse_body,
 * handle_post), and the work a valid body asks for runs as a worker would run it, against
 * small models made at start: naive Bayes on text and on a table, a VAE on 64 Fashion-MNIST
 * images, and llama2.c's stories260K (the last two from data/: a file that is there and does
 * not load stops the target). No clock: requests without a seed get a fixed one in this build,
 * and the work has no deadline (libFuzzer's -timeout catches a hang). */
#include "fuzz.h"

#include "server.h"

static srv S;

static int add(const char *id, duet_model *m) {
    if (!m) {
        fprintf(stderr, "fuzz_server: the model '%s' could not be made\n", id);
        abort();
    }
    srv_model *x = &S.models[S.n_models++];
    snprintf(x->id, sizeof x->id, "%s", id);
    x->m = m;
    x->kind = duet_model_input_kind(m);
    x->caps = duet_model_caps(m);
    x->lm = x->kind == DUET_DATA_CORPUS;
    x->images = x->kind == DUET_DATA_DENSE && (x->caps & DUET_CAN_SAMPLE);
    return 0;
}

static duet_model *train_mem(const char *text, int format, const char *model) {
    duet_ctx *ctx = fuzz_ctx();
    duet_load_opts o = duet_load_opts_default();
    o.format = format;
    duet_data *d = NULL;
    duet_model *m = NULL;
    duet_err e;
    if (duet_data_load_mem(ctx, "seed", text, strlen(text), &o, &d, &e)) return NULL;
    duet_train_params p = duet_train_params_default();
    p.model = model;
    p.alpha = 1;
    duet_model_train(ctx, d, &p, &m, &e);
    duet_data_free(d);
    return m;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static srv_model models[4];
    duet_ctx *ctx = fuzz_ctx();
    duet_err e;
    S.models = models;
    S.lim.max_body = 1 << 16;
    S.lim.max_tokens = 12;
    S.lim.max_images = 3;
    S.lim.timeout = 1e9;
    S.n_workers = 1, S.queue_cap = 1;
    add("spam", train_mem("spam\tWIN a free prize now\nham\tsee you at lunch\nspam\tcall now to claim cash\n"
                          "ham\tthe meeting is at noon\nspam\tfree entry win\nham\tok see you\n",
                          DUET_FMT_TEXT, "nb"));
    add("people", train_mem("age,job,hours,income\n30,clerk,40,low\n50,manager,60,high\n45,manager,50,high\n"
                            "25,clerk,20,low\n40,clerk,45,low\n35,manager,55,high\n",
                            DUET_FMT_CSV, "nb"));
    duet_model *m = NULL;
    if (access("data/llama2c_tinyllamas/stories260K.bin", R_OK) == 0) {
        if (duet_model_import_llama2c(ctx, "data/llama2c_tinyllamas/stories260K.bin", "data/llama2c_tinyllamas/tok512.bin", &m, &e))
            fprintf(stderr, "fuzz_server: %s\n", e.msg);
        add("stories", m);
    }
    duet_load_opts o = duet_load_opts_default();
    o.labels_path = "data/fashion_mnist/t1k-labels-idx1-ubyte.gz";
    o.limit = 64;
    duet_data *d = NULL;
    if (access("data/fashion_mnist/t1k-images-idx3-ubyte.gz", R_OK) == 0) {
        if (duet_data_load(ctx, "data/fashion_mnist/t1k-images-idx3-ubyte.gz", &o, &d, &e))
            fprintf(stderr, "fuzz_server: %s\n", e.msg), abort();
        duet_train_params p = duet_train_params_default();
        p.model = "vae";
        p.conditional = 1;
        p.epochs = 1;
        p.hidden = 16;
        p.latent = 2;
        m = NULL;
        if (duet_model_train(ctx, d, &p, &m, &e)) fprintf(stderr, "fuzz_server: %s\n", e.msg);
        add("fashion", m);
        duet_data_free(d);
    }
    free(models_json(&S));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const int eps[] = {EP_COMPLETIONS, EP_CHAT, EP_CLASSIFY, EP_IMAGES, EP_SCORE, EP_OTHER};
    int ep = eps[data[0] % (sizeof eps / sizeof *eps)];
    char msg[512] = "";
    cJSON *req = parse_body((const char *)data + 1, size - 1, msg, sizeof msg); /* as the HTTP side does */
    if (!req) {
        if (!msg[0]) abort(); /* a refusal always says why */
        return 0;
    }
    int status = 0;
    char *err = NULL;
    job *j = handle_post(&S, ep, req, &status, &err);
    if (!j) {
        if (!err || status < 400) abort(); /* a refusal always says why, with an error status */
        free(err);
        cJSON_Delete(req);
        return 0;
    }
    j->run(j, fuzz_ctx());
    if (!j->stream && !j->body) abort(); /* every answer has a body */
    job_unref(j);
    return 0;
}
