/* server.h — what the parts of `duet serve` share: the served models, the worker pool and its
 * jobs (pool.c), the endpoints' work (handlers.c), the metrics, and the page (page.c). The HTTP
 * side (http.c, on libmicrohttpd) parses requests, checks limits and keys, and hands each piece
 * of model work to the pool as a job; a job's answer is either one JSON body or a stream of
 * server-sent events that the connection forwards as they are produced.
 * The server sees the library only through include/duet.h.
 */
#ifndef DUET_SERVER_H
#define DUET_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "duet.h"

/* --- limits and settings -------------------------------------------------------------------- */

typedef struct srv_limits {
    size_t max_body;      /* request body bytes (413 above) */
    int64_t max_tokens;   /* tokens one completion may ask for */
    int max_images;       /* images one request may ask for */
    double timeout;       /* seconds of work per request */
} srv_limits;

/* --- models ------------------------------------------------------------------------------------ */

typedef struct srv_model {
    char id[128];          /* the file name without its extension */
    duet_model *m;         /* loaded once, shared read-only by every worker */
    int kind;              /* duet_model_input_kind */
    unsigned caps;         /* DUET_CAN_* */
    int lm;                /* 1: a language model (completions) */
    int images;            /* 1: draws images */
} srv_model;

/* --- metrics ------------------------------------------------------------------------------------- */

enum { EP_PAGE, EP_HEALTH, EP_METRICS, EP_MODELS, EP_COMPLETIONS, EP_CHAT, EP_CLASSIFY, EP_IMAGES, EP_SCORE, EP_PREDICT, EP_OTHER, EP_N };
enum { ST_200, ST_400, ST_401, ST_404, ST_405, ST_413, ST_499, ST_500, ST_503, ST_504, ST_N };
#define SRV_NBUCKETS 12

typedef struct srv_metrics {
    atomic_llong requests[EP_N][ST_N];
    atomic_llong latency_bucket[SRV_NBUCKETS]; /* cumulative counts are made when printed */
    atomic_llong latency_count, latency_us_sum;
    atomic_llong tokens, gen_us;               /* generated tokens and the time they took */
    atomic_llong prompt_tokens;
    atomic_int queued, busy;                   /* jobs waiting, jobs running */
} srv_metrics;

extern const double srv_buckets[SRV_NBUCKETS]; /* upper bounds in seconds, the last +Inf */
extern const char *const srv_ep_names[EP_N];
extern const int srv_status_codes[ST_N];
void srv_observe(srv_metrics *mt, int ep, int status, double seconds);
/* The Prometheus text exposition of mt: a new string (free()). */
char *srv_metrics_text(const srv_metrics *mt, int workers, int queue_cap);

/* --- jobs and the pool --------------------------------------------------------------------------- */

typedef struct srv srv;
typedef struct job job;
/* A job's work, run in a worker with the worker's own context. It sets the answer with
 * job_answer (status and JSON) or, for a stream, writes events with job_emit. */
typedef void (*job_fn)(job *j, duet_ctx *ctx);

struct job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;            /* the connection and the pool each hold one */
    int done;            /* the worker has finished */
    atomic_int cancelled; /* the client went away: stop early */
    double deadline;     /* monotonic seconds when the work must stop */
    job_fn run;
    srv *s;
    const srv_model *model;
    cJSON *req;          /* the parsed body (owned) */
    void *arg;           /* what the endpoint parsed, freed with arg_free */
    void (*arg_free)(void *);
    int ep;              /* EP_* */
    int stream;          /* 1: the answer is server-sent events */
    /* the answer */
    int status;
    char *body;          /* malloc'd, NUL-terminated */
    const char *ctype;
    /* the stream: bytes produced by the worker and not yet sent */
    char *sbuf;
    size_t slen, scap, sread;
    int soverflow;       /* the client reads too slowly: the stream is cut */
};

struct srv {
    srv_model *models;
    int n_models;
    const char *api_key;  /* NULL: no key */
    srv_limits lim;
    srv_metrics metrics;
    /* the pool */
    int n_workers, queue_cap;
    pthread_t *threads;
    duet_ctx **ctxs;
    _Atomic(job *) *current; /* the job each worker runs, for its context's abort hook */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    job **queue;          /* ring of queue_cap */
    int qhead, qlen;
    int stopping;
    atomic_int shutdown;  /* the server is stopping: running work ends early */
    atomic_ullong next_id;
};

int pool_start(srv *s, int workers, int queue_cap, int threads_per_worker);
void pool_stop(srv *s);
/* A new job for model work (refs 1: the caller's). NULL when out of memory. */
job *job_new(srv *s, int ep, const srv_model *m, cJSON *req, job_fn run, int stream);
/* Queues j (the pool takes its own reference): 0, or -1 when the queue is full (503). */
int pool_submit(srv *s, job *j);
void job_unref(job *j);
/* The answer: status and body (taken: malloc'd). */
void job_answer(job *j, int status, char *body);
/* An OpenAI-style error answer {"error": {"message", "type", "code"}}. */
void job_error(job *j, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Appends n bytes to the stream; 0, or -1 when the client has gone (stop). */
int job_emit(job *j, const char *p, size_t n);
/* 1 when the work should stop: the client went away or the deadline passed. */
int job_should_stop(job *j);
double srv_now(void);

/* --- endpoints (handlers.c) ---------------------------------------------------------------------- */

/* The parsed JSON of a POST body, or NULL with a message: the body must be UTF-8 and JSON with
 * no raw control characters (RFC 8259; the message names the field that has one). */
cJSON *parse_body(const char *body, size_t len, char *msg, size_t mcap);
/* Checks a POST body for endpoint ep and, when it is well-formed, returns the job that does the
 * work (NULL after writing an error status and JSON into *status, *err_body). */
job *handle_post(srv *s, int ep, cJSON *req, int *status, char **err_body);
/* GET /v1/models */
char *models_json(const srv *s);
/* {"error": {...}} as a new string (bytes of msg that break UTF-8 become U+FFFD) */
char *error_json(int status, const char *msg);
/* p[0..n) with every byte that breaks UTF-8 replaced by U+FFFD: a new string (free()), its
 * length in *len. A model's byte-level tokens, or a message cut short, can form such bytes;
 * JSON must not carry them. */
char *srv_utf8_clean(const char *p, size_t n, size_t *len);

/* --- HTTP (http.c) ------------------------------------------------------------------------------ */

/* A listening socket for host and port ("0": any free port); bound receives "address:port".
 * The socket, or -1 with a message. */
int http_listen(const char *host, const char *port, char *bound, size_t bcap, char *msg, size_t mcap);
/* Serves s on the listening socket fd (taken) until http_stop; NULL with a message. */
void *http_start(srv *s, int fd, unsigned idle_timeout, unsigned max_connections, char *msg, size_t mcap);
void http_stop(void *daemon);

/* --- the page ----------------------------------------------------------------------------------- */

extern const char srv_page_html[];

#endif /* DUET_SERVER_H */
