/* http.c — the HTTP side of `duet serve`, on libmicrohttpd: one thread per connection (so a
 * slow client holds only its own thread), bodies gathered up to the size limit, the API key
 * checked, requests routed, model work handed to the pool, and its answer sent back — one
 * JSON body, or server-sent events forwarded as the worker produces them. When a streaming
 * client goes away, libmicrohttpd frees the response and the job is cancelled, so the worker
 * stops generating.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server.h"

/* What one request gathers between libmicrohttpd's calls. */
typedef struct conn {
    double t0;
    int ep;
    int status;     /* what was answered (for the metrics) */
    char *body;
    size_t len, cap;
    int too_big;
    size_t discarded; /* bytes of a too-big body read and thrown away */
    int gone;         /* the client left before the answer */
} conn;

static int route(const char *url, const char *method, int *post) {
    static const struct {
        const char *path;
        int ep, post;
    } R[] = {
        {"/", EP_PAGE, 0},
        {"/health", EP_HEALTH, 0},
        {"/metrics", EP_METRICS, 0},
        {"/v1/models", EP_MODELS, 0},
        {"/v1/completions", EP_COMPLETIONS, 1},
        {"/v1/chat/completions", EP_CHAT, 1},
        {"/v1/classify", EP_CLASSIFY, 1},
        {"/v1/images/generations", EP_IMAGES, 1},
        {"/v1/score", EP_SCORE, 1},
        {"/v1/predict", EP_PREDICT, 1},
    };
    (void)method;
    for (size_t i = 0; i < sizeof R / sizeof *R; i++)
        if (strcmp(url, R[i].path) == 0) {
            *post = R[i].post;
            return R[i].ep;
        }
    return EP_OTHER;
}

/* Answers with body (taken: malloc'd; NULL when building it ran out of memory). */
static enum MHD_Result send_mem(struct MHD_Connection *c, conn *cs, int status, const char *ctype, char *body) {
    if (!body) {
        status = 503;
        if (!(body = error_json(503, "out of memory"))) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 503) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    cs->status = status;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, conn *cs, int status, const char *msg) {
    return send_mem(c, cs, status, "application/json", error_json(status, msg));
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int authorized(const srv *s, struct MHD_Connection *c) {
    if (!s->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    size_t a = strlen(h), b = strlen(s->api_key);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(s->api_key[i] ^ (i < a ? h[i] : 0));
    return diff == 0;
}

// --- streamed answers ------------------------------------------------------------------------------

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    job *j = cls;
    (void)pos;
    pthread_mutex_lock(&j->mu);
    while (j->sread == j->slen && !j->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    ssize_t n;
    if (j->sread < j->slen) {
        size_t k = j->slen - j->sread < max ? j->slen - j->sread : max;
        memcpy(buf, j->sbuf + j->sread, k);
        j->sread += k;
        n = (ssize_t)k;
    } else {
        n = j->soverflow ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* libmicrohttpd is done with the response: the stream ended or the client went away. */
static void stream_free(void *cls) {
    job *j = cls;
    atomic_store(&j->cancelled, 1);
    job_unref(j);
}

static enum MHD_Result send_stream(struct MHD_Connection *c, conn *cs, job *j) {
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, j, stream_free);
    if (!r) {
        atomic_store(&j->cancelled, 1);
        job_unref(j);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    cs->status = 200;
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r); /* the connection holds it now; stream_free runs when it is done */
    return ret;
}

// --- requests --------------------------------------------------------------------------------------

static enum MHD_Result serve_get(srv *s, struct MHD_Connection *c, conn *cs) {
    switch (cs->ep) {
    case EP_PAGE: return send_mem(c, cs, 200, "text/html; charset=utf-8", strdup(srv_page_html));
    case EP_HEALTH: return send_mem(c, cs, 200, "application/json", strdup("{\"status\":\"ok\"}"));
    case EP_METRICS: return send_mem(c, cs, 200, "text/plain; version=0.0.4", srv_metrics_text(&s->metrics, s->n_workers, s->queue_cap));
    default: return send_mem(c, cs, 200, "application/json", models_json(s));
    }
}

/* 1 when the client has closed its side of the connection. */
static int client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Waits until the worker has finished j (or, with first_bytes, until the stream has begun),
 * looking every 200 ms whether the client has gone, in which case the job is cancelled (the
 * worker stops at its next check) and 1 is returned once it has finished. */
static int wait_job(struct MHD_Connection *c, job *j, int first_bytes) {
    int gone = 0;
    pthread_mutex_lock(&j->mu);
    while (!j->done && !(first_bytes && j->slen > 0)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT && !gone) {
            pthread_mutex_unlock(&j->mu);
            if (client_gone(c)) {
                gone = 1;
                atomic_store(&j->cancelled, 1);
                first_bytes = 0; /* nobody to stream to: wait for the end */
            }
            pthread_mutex_lock(&j->mu);
        }
    }
    pthread_mutex_unlock(&j->mu);
    return gone;
}

static enum MHD_Result serve_post(srv *s, struct MHD_Connection *c, conn *cs) {
    char msg[512];
    cs->body[cs->len] = 0; /* room was kept for it */
    cJSON *req = parse_body(cs->body, cs->len, msg, sizeof msg);
    if (!req) return send_error(c, cs, 400, msg);
    int status = 0;
    char *err = NULL;
    job *j = handle_post(s, cs->ep, req, &status, &err);
    if (!j) {
        cJSON_Delete(req);
        return send_mem(c, cs, status ? status : 500, "application/json", err);
    }
    if (pool_submit(s, j)) {
        job_unref(j);
        return send_error(c, cs, 503, "the server is busy: every worker is taken and the queue is full; try again");
    }
    /* a stream: wait for its first bytes, so that an error before any answer gets its own status */
    if (wait_job(c, j, j->stream)) cs->gone = 1;
    if (j->stream && !cs->gone) {
        pthread_mutex_lock(&j->mu);
        int began = j->slen > 0;
        pthread_mutex_unlock(&j->mu);
        if (began) return send_stream(c, cs, j); /* takes our reference */
        if (wait_job(c, j, 0)) cs->gone = 1;
    }
    enum MHD_Result ret;
    if (cs->gone) { /* the client left: no answer to send */
        cs->status = 499;
        job_unref(j);
        return MHD_NO;
    }
    if (j->body) {
        ret = send_mem(c, cs, j->status ? j->status : 200, j->ctype, j->body);
        j->body = NULL;
    } else {
        ret = send_error(c, cs, 500, "the work ended without an answer");
    }
    job_unref(j);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    srv *s = cls;
    conn *cs = *con_cls;
    (void)version;
    if (!cs) { /* the headers have arrived */
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        cs->t0 = srv_now();
        *con_cls = cs;
        int post = 0;
        cs->ep = route(url, method, &post);
        if (cs->ep == EP_OTHER) return send_error(c, cs, 404, "no such endpoint (see GET / or /v1/models)");
        if (strcmp(method, post ? "POST" : "GET") != 0 && !(strcmp(method, "HEAD") == 0 && !post)) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s takes %s", url, post ? "POST" : "GET");
            return send_error(c, cs, 405, msg);
        }
        if ((cs->ep >= EP_MODELS || cs->ep == EP_METRICS) && !authorized(s, c))
            return send_error(c, cs, 401, "a valid API key is required: Authorization: Bearer KEY");
        if (post) {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > s->lim.max_body) {
                char msg[128];
                snprintf(msg, sizeof msg, "the body is larger than this server takes (%zu bytes)", s->lim.max_body);
                return send_error(c, cs, 413, msg);
            }
        }
        return MHD_YES;
    }
    if (*upload_size > 0) { /* a piece of the body */
        if (cs->too_big) { /* a chunked body past the limit: read on a while to answer 413, then close */
            cs->discarded += *upload_size;
            *upload_size = 0;
            return cs->discarded > 4 * s->lim.max_body + (1u << 20) ? MHD_NO : MHD_YES;
        }
        {
            if (cs->len + *upload_size > s->lim.max_body) { /* answered 413 if the client reads on */
                cs->too_big = 1;
                free(cs->body);
                cs->body = NULL;
                cs->len = cs->cap = 0;
            } else {
                if (cs->len + *upload_size + 1 > cs->cap) {
                    size_t cap = (cs->len + *upload_size + 1) * 2;
                    if (cap > s->lim.max_body + 1) cap = s->lim.max_body + 1;
                    char *b = realloc(cs->body, cap);
                    if (!b) return MHD_NO;
                    cs->body = b, cs->cap = cap;
                }
                memcpy(cs->body + cs->len, upload, *upload_size);
                cs->len += *upload_size;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    /* the whole request is here */
    if (cs->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is larger than this server takes (%zu bytes)", s->lim.max_body);
        return send_error(c, cs, 413, msg);
    }
    if (cs->ep <= EP_MODELS) return serve_get(s, c, cs);
    if (!cs->body && !(cs->body = malloc(1))) return MHD_NO;
    return serve_post(s, c, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    srv *s = cls;
    conn *cs = *con_cls;
    (void)c;
    if (!cs) return;
    int status = cs->status ? cs->status : 400;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && cs->status == 0) status = 400; /* cut off before an answer */
    srv_observe(&s->metrics, cs->ep, status, srv_now() - cs->t0);
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

// --- the listening socket and the daemon ---------------------------------------------------------

int http_listen(const char *host, const char *port, char *bound, size_t bcap, char *msg, size_t mcap) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        snprintf(msg, mcap, "cannot use address %s port %s: %s", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            char h[NI_MAXHOST], p[NI_MAXSERV];
            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
                getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
                snprintf(bound, bcap, a->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
            else
                snprintf(bound, bcap, "%s:%s", host, port);
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) snprintf(msg, mcap, "cannot listen on %s port %s: %s", host, port, strerror(err));
    return fd;
}

void *http_start(srv *s, int fd, unsigned idle_timeout, unsigned max_connections, char *msg, size_t mcap) {
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, on_request, s,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
        idle_timeout, MHD_OPTION_CONNECTION_LIMIT, max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 << 10),
        MHD_OPTION_END);
    if (!d) snprintf(msg, mcap, "libmicrohttpd could not start the server");
    return d;
}

void http_stop(void *daemon) {
    if (daemon) MHD_stop_daemon(daemon);
}
