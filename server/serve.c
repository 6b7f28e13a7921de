/* serve.c — `duet serve MODEL...`: loads the models once, starts the worker pool and the HTTP
 * server, prints where it listens, and runs until SIGINT or SIGTERM, then stops cleanly:
 * no new connections, running work told to end, workers joined.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "server.h"

const opt_spec serve_opts[] = {
    {"--host", "ADDR", "address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)"},
    {"--port", "N", "port (default 8080; 0 picks a free one, printed at start)"},
    {"--api-key", "KEY", "require 'Authorization: Bearer KEY' on /v1/* and /metrics (default: $DUET_API_KEY, else none)"},
    {"--worker-threads", "N", "threads each worker computes with (default 1; --threads sets the number of workers)"},
    {"--queue", "N", "requests that may wait for a worker before the server answers 503 (default 64)"},
    {"--max-body", "BYTES", "largest request body (default 1048576; larger ones get 413)"},
    {"--max-tokens", "N", "most tokens one completion may ask for (default 4096)"},
    {"--max-images", "N", "most images one request may ask for (default 64)"},
    {"--timeout", "S", "seconds of work one request may take (default 120; generation ends there)"},
    {"--idle-timeout", "S", "seconds a connection may stay silent, e.g. sending a partial request (default 30)"},
    {"--max-connections", "N", "open connections at once (default 512)"},
    {"--tokenizer", "FILE", "tokenizer.bin for MODEL files that are llama2.c checkpoints (.bin)"},
    {NULL, NULL, NULL},
};

/* The file name without its folder and its last extension. */
static void model_id(const char *path, char *id, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(id, cap, "%s", b);
    char *dot = strrchr(id, '.');
    if (dot && dot != id) *dot = 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int cmd_serve(duet_ctx *ctx, const args *a) {
    if (a->npos < 1) return die("serve takes one or more model files (see duet serve --help)");
    const char *host = get(a, "--host") ? get(a, "--host") : "127.0.0.1";
    const char *port = get(a, "--port") ? get(a, "--port") : "8080";
    const char *key = get(a, "--api-key") ? get(a, "--api-key") : getenv("DUET_API_KEY");
    const char *tok = get(a, "--tokenizer");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = cores > 0 ? (int)cores : 1, wthreads = 1, queue = 64, max_images = 64, idle = 30, maxconn = 512;
    int64_t max_body = 1 << 20, max_tokens = 4096;
    double timeout = 120;
    if (opt_int(a, "--threads", 1, 256, &workers) || opt_int(a, "--worker-threads", 1, 256, &wthreads) ||
        opt_int(a, "--queue", 1, 1 << 20, &queue) || opt_i64(a, "--max-body", 16, 1LL << 32, &max_body) ||
        opt_i64(a, "--max-tokens", 1, 1LL << 30, &max_tokens) || opt_int(a, "--max-images", 1, 4096, &max_images) ||
        opt_double(a, "--timeout", 0.001, 1e7, &timeout) || opt_int(a, "--idle-timeout", 1, 86400, &idle) ||
        opt_int(a, "--max-connections", 1, 1 << 16, &maxconn))
        return 1;
    {
        char *end = NULL;
        long p = strtol(port, &end, 10);
        if (!*port || *end || p < 0 || p > 65535) return die("--port must be a number from 0 to 65535 (got '%s')", port);
    }
    if (key && !*key) key = NULL;

    srv *s = calloc(1, sizeof *s);
    if (!s || !(s->models = calloc((size_t)a->npos, sizeof *s->models))) {
        free(s);
        return die("out of memory");
    }
    int rc = 1;
    void *daemon = NULL;
    int pool_up = 0;
    for (int i = 0; i < a->npos; i++) {
        srv_model *m = &s->models[i];
        model_id(a->pos[i], m->id, sizeof m->id);
        for (int k = 0; k < i; k++)
            if (strcmp(s->models[k].id, m->id) == 0) {
                die("%s and %s would both be served as '%s': rename one", a->pos[k], a->pos[i], m->id);
                goto done;
            }
        if (open_model(ctx, a->pos[i], tok && ends_with(a->pos[i], ".bin") ? tok : NULL, &m->m)) goto done;
        s->n_models = i + 1;
        m->kind = duet_model_input_kind(m->m);
        m->caps = duet_model_caps(m->m);
        m->lm = m->kind == DUET_DATA_CORPUS;
        m->images = m->kind == DUET_DATA_DENSE && (m->caps & DUET_CAN_SAMPLE);
    }
    s->api_key = key;
    s->lim.max_body = (size_t)max_body;
    s->lim.max_tokens = max_tokens;
    s->lim.max_images = max_images;
    s->lim.timeout = timeout;

    /* SIGINT and SIGTERM are taken by this thread alone (sigwait below): block them before any
     * thread starts, so that every thread inherits the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char bound[160] = "", msg[256] = "";
    int fd = http_listen(host, port, bound, sizeof bound, msg, sizeof msg);
    if (fd < 0) {
        die("%s", msg);
        goto done;
    }
    if (pool_start(s, workers, queue, wthreads)) {
        close(fd);
        die("could not start %d workers", workers);
        goto done;
    }
    pool_up = 1;
    if (!(daemon = http_start(s, fd, (unsigned)idle, (unsigned)maxconn, msg, sizeof msg))) {
        close(fd);
        die("%s", msg);
        goto done;
    }
    printf("duet serve: listening on http://%s/ with %d worker%s; models:", bound, workers, workers == 1 ? "" : "s");
    for (int i = 0; i < s->n_models; i++) printf(" %s (%s)", s->models[i].id, duet_model_name(s->models[i].m));
    printf("\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "duet serve: %s: stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    rc = 0;
done:
    if (s) {
        atomic_store(&s->shutdown, 1);
        http_stop(daemon);
        if (pool_up) pool_stop(s);
        for (int i = 0; i < s->n_models; i++) duet_model_free(s->models[i].m);
        free(s->models);
        free(s);
    }
    return rc;
}
