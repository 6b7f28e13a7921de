/* pool.c — the workers of `duet serve`: a fixed number of threads, each with its own duet
 * context (its own random state, allocations and thread count), taking jobs from one bounded
 * queue; a full queue is the server's answer of 503. Jobs are shared by the connection that
 * made them and the worker that runs them (a reference count), and carry either one answer
 * or a stream of bytes. Also the metrics: counters and the Prometheus text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

double srv_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// --- jobs ---------------------------------------------------------------------------------------

job *job_new(srv *s, int ep, const srv_model *m, cJSON *req, job_fn run, int stream) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->s = s;
    j->ep = ep;
    j->model = m;
    j->req = req;
    j->run = run;
    j->stream = stream;
    j->deadline = srv_now() + s->lim.timeout;
    j->ctype = "application/json";
    return j;
}

void job_unref(job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    cJSON_Delete(j->req);
    if (j->arg_free) j->arg_free(j->arg);
    free(j->body);
    free(j->sbuf);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void job_answer(job *j, int status, char *body) {
    pthread_mutex_lock(&j->mu);
    free(j->body);
    j->status = status;
    j->body = body;
    pthread_mutex_unlock(&j->mu);
}

char *srv_utf8_clean(const char *p, size_t n, size_t *len) {
    char *o = malloc(3 * n + 1);
    if (!o) return NULL;
    size_t k = 0, bad = 0;
    while (n > 0) {
        if (duet_utf8_valid(p, n, &bad)) bad = n;
        memcpy(o + k, p, bad);
        k += bad;
        if (bad == n) break;
        memcpy(o + k, "\xEF\xBF\xBD", 3);
        k += 3;
        p += bad + 1, n -= bad + 1;
    }
    o[k] = 0;
    *len = k;
    return o;
}

char *error_json(int status, const char *msg) {
    /* OpenAI's shape: {"error": {"message", "type", "param", "code"}}, code a string or null */
    const char *type = status == 401 ? "authentication_error"
                       : status == 503 || status == 504 ? "server_overloaded"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    const char *code = status == 401 ? "invalid_api_key" : status == 404 ? "not_found" : status == 413 ? "body_too_large"
                       : status == 503 ? "overloaded" : status == 504 ? "timeout" : NULL;
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    char *txt = NULL;
    size_t n;
    char *clean = srv_utf8_clean(msg, strlen(msg), &n); /* a message cut short may end inside a character */
    if (e && clean && cJSON_AddStringToObject(e, "message", clean) && cJSON_AddStringToObject(e, "type", type) && cJSON_AddNullToObject(e, "param") &&
        (code ? cJSON_AddStringToObject(e, "code", code) : cJSON_AddNullToObject(e, "code")))
        txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(clean);
    return txt;
}

void job_error(job *j, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    job_answer(j, status, error_json(status, msg));
}

/* A stream may hold this much unsent before the client counts as gone. */
#define STREAM_MAX (64u << 20)

int job_emit(job *j, const char *p, size_t n) {
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    if (atomic_load(&j->cancelled)) {
        rc = -1;
    } else if (j->slen - j->sread + n > STREAM_MAX) {
        j->soverflow = 1;
        rc = -1;
    } else {
        if (j->sread > 0) { /* drop what was sent */
            memmove(j->sbuf, j->sbuf + j->sread, j->slen - j->sread);
            j->slen -= j->sread;
            j->sread = 0;
        }
        if (j->slen + n + 1 > j->scap) {
            size_t cap = (j->slen + n + 1) * 2;
            char *b = realloc(j->sbuf, cap);
            if (!b) {
                rc = -1;
                goto out;
            }
            j->sbuf = b, j->scap = cap;
        }
        memcpy(j->sbuf + j->slen, p, n);
        j->slen += n;
        pthread_cond_broadcast(&j->cv);
    }
out:
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int job_should_stop(job *j) { return atomic_load(&j->cancelled) || atomic_load(&j->s->shutdown) || srv_now() > j->deadline; }

// --- the pool -------------------------------------------------------------------------------------

typedef struct {
    srv *s;
    int k;
} worker_arg;

/* The abort hook of worker k's context: the library's long loops (zero-shot classification,
 * scoring, sampling, featurizing) stop when the job should (deadline, client gone, shutdown). */
static int worker_abort(void *user) {
    _Atomic(job *) *slot = user;
    job *j = atomic_load(slot);
    return j && job_should_stop(j);
}

static void *worker(void *p) {
    worker_arg *wa = p;
    srv *s = wa->s;
    duet_ctx *ctx = s->ctxs[wa->k];
    int wa_k = wa->k;
    free(wa);
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        while (s->qlen == 0 && !s->stopping) pthread_cond_wait(&s->qcv, &s->qmu);
        if (s->qlen == 0 && s->stopping) {
            pthread_mutex_unlock(&s->qmu);
            return NULL;
        }
        job *j = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % s->queue_cap;
        s->qlen--;
        atomic_fetch_sub(&s->metrics.queued, 1);
        pthread_mutex_unlock(&s->qmu);
        atomic_fetch_add(&s->metrics.busy, 1);
        if (job_should_stop(j)) job_error(j, atomic_load(&j->cancelled) ? 499 : 504, "the request waited too long in the queue");
        else {
            atomic_store(&s->current[wa_k], j);
            j->run(j, ctx);
            atomic_store(&s->current[wa_k], NULL);
        }
        atomic_fetch_sub(&s->metrics.busy, 1);
        pthread_mutex_lock(&j->mu);
        j->done = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        job_unref(j);
    }
}

int pool_start(srv *s, int workers, int queue_cap, int threads_per_worker) {
    s->n_workers = 0;
    s->queue_cap = queue_cap;
    s->queue = calloc((size_t)queue_cap, sizeof *s->queue);
    s->threads = calloc((size_t)workers, sizeof *s->threads);
    s->ctxs = calloc((size_t)workers, sizeof *s->ctxs);
    s->current = calloc((size_t)workers, sizeof *s->current);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    if (!s->queue || !s->threads || !s->ctxs || !s->current) goto fail;
    for (int k = 0; k < workers; k++) {
        duet_err e;
        if (duet_ctx_new(&s->ctxs[k], &e)) goto fail;
        duet_ctx_set_threads(s->ctxs[k], threads_per_worker);
        duet_ctx_set_abort(s->ctxs[k], worker_abort, &s->current[k]);
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) goto fail_ctx;
        wa->s = s, wa->k = k;
        if (pthread_create(&s->threads[k], NULL, worker, wa) != 0) {
            free(wa);
            goto fail_ctx;
        }
        s->n_workers = k + 1;
        continue;
    fail_ctx:
        duet_ctx_free(s->ctxs[k]);
        goto fail;
    }
    return 0;
fail:
    pool_stop(s);
    return -1;
}

void pool_stop(srv *s) {
    pthread_mutex_lock(&s->qmu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    for (int k = 0; k < s->n_workers; k++) pthread_join(s->threads[k], NULL);
    for (int k = 0; k < s->n_workers; k++) duet_ctx_free(s->ctxs[k]);
    free(s->threads);
    free(s->ctxs);
    free(s->queue);
    free(s->current);
    s->threads = NULL, s->ctxs = NULL, s->queue = NULL, s->current = NULL, s->n_workers = 0;
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
}

int pool_submit(srv *s, job *j) {
    pthread_mutex_lock(&s->qmu);
    if (s->qlen >= s->queue_cap || s->stopping) {
        pthread_mutex_unlock(&s->qmu);
        return -1;
    }
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
    s->queue[(s->qhead + s->qlen) % s->queue_cap] = j;
    s->qlen++;
    atomic_fetch_add(&s->metrics.queued, 1);
    pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    return 0;
}

// --- metrics ----------------------------------------------------------------------------------------

const double srv_buckets[SRV_NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 1e300};
const char *const srv_ep_names[EP_N] = {"/", "/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions",
                                        "/v1/classify", "/v1/images/generations", "/v1/score", "/v1/predict", "other"};
const int srv_status_codes[ST_N] = {200, 400, 401, 404, 405, 413, 499, 500, 503, 504}; /* 499: the client left first */

void srv_observe(srv_metrics *mt, int ep, int status, double seconds) {
    int st = ST_500;
    for (int i = 0; i < ST_N; i++)
        if (srv_status_codes[i] == status) st = i;
    atomic_fetch_add(&mt->requests[ep][st], 1);
    int b = 0;
    while (b < SRV_NBUCKETS - 1 && seconds > srv_buckets[b]) b++;
    atomic_fetch_add(&mt->latency_bucket[b], 1);
    atomic_fetch_add(&mt->latency_count, 1);
    atomic_fetch_add(&mt->latency_us_sum, (long long)(seconds * 1e6));
}

/* Appends printf-style text to a growing buffer; sets *bad on failure. */
static void put(char **b, size_t *len, size_t *cap, int *bad, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void put(char **b, size_t *len, size_t *cap, int *bad, const char *fmt, ...) {
    if (*bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*b + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            *bad = 1;
            return;
        }
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        size_t nc = (*cap + (size_t)n + 1) * 2;
        char *nb = realloc(*b, nc);
        if (!nb) {
            *bad = 1;
            return;
        }
        *b = nb, *cap = nc;
    }
}

char *srv_metrics_text(const srv_metrics *mt, int workers, int queue_cap) {
    size_t len = 0, cap = 4096;
    char *b = malloc(cap);
    int bad = !b;
    put(&b, &len, &cap, &bad, "# HELP duet_requests_total HTTP requests by path and status.\n# TYPE duet_requests_total counter\n");
    for (int e = 0; e < EP_N; e++)
        for (int s = 0; s < ST_N; s++) {
            long long v = atomic_load(&mt->requests[e][s]);
            if (v) put(&b, &len, &cap, &bad, "duet_requests_total{path=\"%s\",code=\"%d\"} %lld\n", srv_ep_names[e], srv_status_codes[s], v);
        }
    put(&b, &len, &cap, &bad,
        "# HELP duet_request_duration_seconds Time from the request's arrival to the end of its answer.\n"
        "# TYPE duet_request_duration_seconds histogram\n");
    long long cum = 0;
    for (int i = 0; i < SRV_NBUCKETS; i++) {
        cum += atomic_load(&mt->latency_bucket[i]);
        if (i == SRV_NBUCKETS - 1) put(&b, &len, &cap, &bad, "duet_request_duration_seconds_bucket{le=\"+Inf\"} %lld\n", cum);
        else put(&b, &len, &cap, &bad, "duet_request_duration_seconds_bucket{le=\"%g\"} %lld\n", srv_buckets[i], cum);
    }
    put(&b, &len, &cap, &bad, "duet_request_duration_seconds_sum %.6f\nduet_request_duration_seconds_count %lld\n",
        (double)atomic_load(&mt->latency_us_sum) / 1e6, atomic_load(&mt->latency_count));
    long long tok = atomic_load(&mt->tokens), us = atomic_load(&mt->gen_us);
    put(&b, &len, &cap, &bad,
        "# HELP duet_generated_tokens_total Tokens generated by language models.\n# TYPE duet_generated_tokens_total counter\n"
        "duet_generated_tokens_total %lld\n"
        "# HELP duet_prompt_tokens_total Prompt tokens read by language models.\n# TYPE duet_prompt_tokens_total counter\n"
        "duet_prompt_tokens_total %lld\n"
        "# HELP duet_generation_seconds_total Time spent generating those tokens.\n# TYPE duet_generation_seconds_total counter\n"
        "duet_generation_seconds_total %.6f\n"
        "# HELP duet_tokens_per_second Generated tokens per second of generation, over the server's life.\n"
        "# TYPE duet_tokens_per_second gauge\nduet_tokens_per_second %.3f\n",
        tok, atomic_load(&mt->prompt_tokens), (double)us / 1e6, us > 0 ? (double)tok / ((double)us / 1e6) : 0.0);
    put(&b, &len, &cap, &bad,
        "# HELP duet_queue_jobs Jobs waiting for a worker.\n# TYPE duet_queue_jobs gauge\nduet_queue_jobs %d\n"
        "# HELP duet_busy_workers Workers running a job.\n# TYPE duet_busy_workers gauge\nduet_busy_workers %d\n"
        "# HELP duet_workers Workers.\n# TYPE duet_workers gauge\nduet_workers %d\n"
        "# HELP duet_queue_capacity Jobs the queue holds before answering 503.\n# TYPE duet_queue_capacity gauge\n"
        "duet_queue_capacity %d\n",
        atomic_load(&mt->queued), atomic_load(&mt->busy), workers, queue_cap);
    if (bad) {
        free(b);
        return NULL;
    }
    return b;
}
