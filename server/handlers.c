/* handlers.c — the work behind each POST endpoint of `duet serve`: checking the JSON body (in
 * the connection's thread, so that a bad request is answered at once) and the job that a worker
 * runs with its own context.
 *   /v1/completions, /v1/chat/completions   OpenAI's shapes, streamed as server-sent events
 *   /v1/predict                             a regressor's number ("value"), or a classifier's answer
 *                                           as /v1/classify gives it; with "explain": what decided it
 *   /v1/classify                            a label, probabilities, the words that decided it;
 *                                           a language model classifies zero-shot with "labels"
 *   /v1/images/generations                  PNGs in base64
 *   /v1/score                               log-likelihood (a language model: nll, perplexity)
 * Chat template (docs/serve.md): each message as "Role: content\n" (System, User, Assistant),
 * then "Assistant:"; generation stops at the next "\nUser:" or "\nSystem:".
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

#define MAX_STOPS 6

// --- small helpers ----------------------------------------------------------------------------

static int err_out(int *status, char **body, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int err_out(int *status, char **body, int code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *status = code;
    *body = error_json(code, msg);
    return -1;
}

/* The model a request names ("model"), or when it names none the only model that can do the
 * work (want: 1 language models, 2 classifiers, 3 image models, 4 scorers). */
static const srv_model *find_model(const srv *s, const cJSON *req, int want, int *status, char **body) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "model");
    if (m && !cJSON_IsString(m)) return err_out(status, body, 400, "\"model\" must be a string"), NULL;
    if (m) {
        for (int i = 0; i < s->n_models; i++)
            if (strcmp(s->models[i].id, m->valuestring) == 0) return &s->models[i];
        return err_out(status, body, 404, "no model '%.200s' here (GET /v1/models lists them)", m->valuestring), NULL;
    }
    const srv_model *only = NULL;
    int n = 0;
    for (int i = 0; i < s->n_models; i++) {
        const srv_model *x = &s->models[i];
        int fits = want == 1 ? x->lm : want == 2 ? (x->caps & DUET_CAN_PREDICT) != 0 || x->lm : want == 3 ? x->images : (x->caps & DUET_CAN_SCORE) || x->lm;
        if (fits) only = x, n++;
    }
    if (n == 1) return only;
    return err_out(status, body, 400, "\"model\" is required (%d models here could do this)", n), NULL;
}

/* An optional number field within [lo, hi]: 0, or -1 after an error answer. */
static int num_field(const cJSON *req, const char *key, double lo, double hi, int integer, double *out, int *status, char **body) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return err_out(status, body, 400, "\"%s\" must be a number", key);
    double x = v->valuedouble;
    if (integer && x != floor(x)) return err_out(status, body, 400, "\"%s\" must be a whole number", key);
    if (x < lo || x > hi) return err_out(status, body, 400, "\"%s\" must be between %g and %g (got %g)", key, lo, hi, x);
    *out = x;
    return 0;
}

static int bool_field(const cJSON *req, const char *key, int *out, int *status, char **body) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return err_out(status, body, 400, "\"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static char *print_free(cJSON *o) {
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return t;
}

/* Answers a job with a JSON object (taken), or 500 when it could not be built. */
static void answer_json(job *j, cJSON *o) {
    char *t = print_free(o);
    if (t) job_answer(j, 200, t);
    else job_error(j, 500, "out of memory");
}

static int lib_status(const duet_err *e) {
    return e->code == DUET_ENOMEM ? 503 : e->code == DUET_ECANCELLED ? 504 : e->code == DUET_EIO ? 500 : 400;
}

static uint64_t request_seed(job *j) {
    double v = 0;
    int st;
    char *b = NULL;
    if (num_field(j->req, "seed", 0, 9007199254740991.0, 1, &v, &st, &b) == 0 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j->req, "seed")))
        return (uint64_t)v;
    free(b);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    uint64_t now = 0; /* the fuzz target replays the same way every time */
#else
    uint64_t now = (uint64_t)time(NULL);
#endif
    return now * 6364136223846793005ull + atomic_fetch_add(&j->s->next_id, 1);
}

// --- language models: completions and chat ------------------------------------------------------

typedef struct gen_req {
    int chat;
    char *prompt;             /* malloc'd */
    int64_t max_tokens;
    double temperature, top_p;
    int top_k;
    char *stops[MAX_STOPS];   /* malloc'd */
    int n_stops;
    int usage;                /* stream_options.include_usage: a last chunk with the usage */
} gen_req;

static void gen_req_free(void *p) {
    gen_req *g = p;
    if (!g) return;
    free(g->prompt);
    for (int i = 0; i < g->n_stops; i++) free(g->stops[i]);
    free(g);
}

/* "content" of a chat message: a string, or OpenAI's list of {"type": "text", "text": ...}. */
static int content_text(const cJSON *c, char *buf, size_t cap, size_t *len) {
    if (cJSON_IsString(c)) {
        size_t n = strlen(c->valuestring);
        if (*len + n >= cap) return -1;
        if (buf) memcpy(buf + *len, c->valuestring, n);
        *len += n;
        return 0;
    }
    if (!cJSON_IsArray(c)) return -2;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t)) return -2;
        size_t n = strlen(t->valuestring);
        if (*len + n >= cap) return -1;
        if (buf) memcpy(buf + *len, t->valuestring, n);
        *len += n;
    }
    return 0;
}

/* The prompt of a chat: the documented template. */
static char *chat_prompt(const cJSON *msgs, size_t cap, int *status, char **body) {
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) < 1)
        return err_out(status, body, 400, "\"messages\" must be a non-empty array of {\"role\", \"content\"}"), NULL;
    const cJSON *m;
    size_t need = 16; /* the prompt's length: each message's text and role, then "Assistant:" */
    cJSON_ArrayForEach(m, msgs) {
        size_t l = 0;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (content) content_text(content, NULL, SIZE_MAX, &l);
        need += l + 16;
    }
    if (need > cap) return err_out(status, body, 413, "the conversation is too long"), NULL;
    cap = need;
    char *p = malloc(cap);
    if (!p) return err_out(status, body, 503, "out of memory"), NULL;
    size_t len = 0;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role"), *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        const char *r = cJSON_IsString(role) ? role->valuestring : "";
        const char *R = !strcmp(r, "system") || !strcmp(r, "developer") ? "System" : !strcmp(r, "user") ? "User" : !strcmp(r, "assistant") ? "Assistant" : NULL;
        if (!R) {
            free(p);
            return err_out(status, body, 400, "each message needs a \"role\" of system, user or assistant"), NULL;
        }
        int n = snprintf(p + len, cap - len, "%s: ", R);
        if (n < 0 || (size_t)n >= cap - len) goto too_long;
        len += (size_t)n;
        int rc = content ? content_text(content, p, cap, &len) : -2;
        if (rc == -2) {
            free(p);
            return err_out(status, body, 400, "each message needs a \"content\" string"), NULL;
        }
        if (rc < 0 || len + 2 >= cap) goto too_long;
        p[len++] = '\n';
    }
    if (len + 12 >= cap) goto too_long;
    memcpy(p + len, "Assistant:", 11);
    return p;
too_long:
    free(p);
    return err_out(status, body, 413, "the conversation is too long"), NULL;
}

typedef struct gen_run {
    job *j;
    const gen_req *g;
    char *pending;  /* generated text not yet released (it may begin a stop string) */
    size_t plen, pcap;
    char *out;      /* everything released (not streaming) */
    size_t olen, ocap;
    int stopped;    /* a stop string was met */
    int gone;       /* the client went away or the time ran out */
    int first;      /* chat stream: the role chunk is still to send */
    char id[48];
    long long created;
} gen_run;

static int grow(char **b, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = need * 2 + 64;
    char *n = realloc(*b, c);
    if (!n) return -1;
    *b = n, *cap = c;
    return 0;
}

/* One event of the stream: a chunk with text (finish NULL) or the last one (finish set). */
static int emit_chunk(gen_run *r, const char *text, size_t n, const char *finish) {
    job *j = r->j;
    cJSON *o = cJSON_CreateObject(), *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    char *t = malloc(n + 1);
    if (!t) {
        cJSON_Delete(o);
        return -1;
    }
    memcpy(t, text, n);
    t[n] = 0;
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "object", r->g->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)r->created);
    cJSON_AddStringToObject(o, "model", j->model->id);
    cJSON_AddNumberToObject(c, "index", 0);
    if (r->g->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (r->first) cJSON_AddStringToObject(d, "role", "assistant");
        if (!finish || n) cJSON_AddStringToObject(d, "content", t);
        r->first = 0;
    } else {
        cJSON_AddStringToObject(c, "text", t);
    }
    cJSON_AddNullToObject(c, "logprobs");
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    free(t);
    char *js = print_free(o);
    if (!js) return -1;
    int rc = job_emit(j, "data: ", 6);
    if (!rc) rc = job_emit(j, js, strlen(js));
    if (!rc) rc = job_emit(j, "\n\n", 2);
    free(js);
    return rc;
}

/* Releases the first n bytes of the pending text to the client (or the answer). */
static int release(gen_run *r, size_t n) {
    size_t skip = 0;
    if (r->g->chat && r->first && r->olen == 0) /* the reply starts after "Assistant:" and its spaces */
        while (skip < n && r->pending[skip] == ' ') skip++;
    int rc = 0;
    if (n > skip) {
        size_t len = 0;
        char *t = srv_utf8_clean(r->pending + skip, n - skip, &len);
        if (!t) return -1;
        if (r->j->stream) {
            rc = emit_chunk(r, t, len, NULL);
        } else if (grow(&r->out, &r->ocap, r->olen + len + 1)) {
            rc = -1;
        } else {
            memcpy(r->out + r->olen, t, len);
            r->olen += len;
            r->out[r->olen] = 0;
        }
        free(t);
    }
    if (r->plen > n) memmove(r->pending, r->pending + n, r->plen - n); /* pending is NULL before any piece */
    r->plen -= n;
    return rc;
}

/* How much of the pending text is safe to release: not a possible start of a stop string,
 * and not inside a UTF-8 character. */
static size_t safe_prefix(const gen_run *r) {
    size_t keep = 0;
    for (int i = 0; i < r->g->n_stops; i++) {
        size_t sl = strlen(r->g->stops[i]);
        for (size_t k = sl - 1 < r->plen ? sl - 1 : r->plen; k > keep; k--)
            if (memcmp(r->pending + r->plen - k, r->g->stops[i], k) == 0) {
                keep = k;
                break;
            }
    }
    size_t n = r->plen - keep;
    /* back up over an unfinished UTF-8 sequence at the end */
    size_t b = n, cont = 0;
    while (b > 0 && cont < 4 && ((unsigned char)r->pending[b - 1] & 0xC0) == 0x80) b--, cont++;
    if (b > 0) {
        unsigned char lead = (unsigned char)r->pending[b - 1];
        size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
        if (need > cont) n = b - 1;
    }
    return n;
}

static int on_piece(void *user, const char *piece, size_t len) {
    gen_run *r = user;
    if (job_should_stop(r->j)) {
        r->gone = 1;
        return 1;
    }
    if (grow(&r->pending, &r->pcap, r->plen + len + 1)) return 1;
    memcpy(r->pending + r->plen, piece, len);
    r->plen += len;
    /* a stop string: release what precedes it and end */
    size_t cut = r->plen;
    for (int i = 0; i < r->g->n_stops; i++) {
        size_t sl = strlen(r->g->stops[i]);
        for (size_t p = 0; p + sl <= r->plen && p < cut; p++)
            if (memcmp(r->pending + p, r->g->stops[i], sl) == 0) {
                cut = p;
                break;
            }
    }
    if (cut < r->plen) {
        r->plen = cut;
        release(r, cut);
        r->stopped = 1;
        return 1;
    }
    if (release(r, safe_prefix(r))) {
        r->gone = 1;
        return 1;
    }
    return 0;
}

static void run_generate(job *j, duet_ctx *ctx) {
    const gen_req *g = j->arg;
    gen_run r = {0};
    r.j = j, r.g = g, r.first = 1;
    r.created = (long long)time(NULL);
    snprintf(r.id, sizeof r.id, "%s-%llu", g->chat ? "chatcmpl" : "cmpl", (unsigned long long)atomic_fetch_add(&j->s->next_id, 1));
    duet_gen_opts o = duet_gen_opts_default();
    o.prompt = g->prompt;
    o.n = g->max_tokens;
    o.temperature = g->temperature;
    o.top_p = g->top_p;
    o.top_k = g->top_k;
    o.seed = request_seed(j);
    duet_gen_stats st = {0};
    duet_err e = {0, ""};
    int rc = duet_model_generate(ctx, j->model->m, &o, on_piece, &r, &st, &e);
    atomic_fetch_add(&j->s->metrics.tokens, st.tokens);
    atomic_fetch_add(&j->s->metrics.prompt_tokens, st.prompt_tokens);
    atomic_fetch_add(&j->s->metrics.gen_us, (long long)(1e6 * (st.seconds + st.prompt_seconds)));
    if (rc && !(rc == DUET_ECANCELLED && (r.stopped || r.gone))) {
        if (j->stream && r.j->slen > 0) { /* the stream has begun: say so in it */
            char *ej = error_json(lib_status(&e), e.msg);
            if (ej) {
                job_emit(j, "data: ", 6);
                job_emit(j, ej, strlen(ej));
                job_emit(j, "\n\ndata: [DONE]\n\n", 16);
                free(ej);
            }
        } else {
            job_error(j, lib_status(&e), "%s", e.msg);
        }
        goto done;
    }
    if (!r.stopped) release(&r, r.plen); /* the end: nothing more can complete a stop string */
    const char *finish = r.stopped || (!r.gone && st.tokens < g->max_tokens) ? "stop" : "length";
    if (j->stream) {
        int rc2 = emit_chunk(&r, "", 0, finish);
        if (rc2 == 0 && g->usage) { /* OpenAI's usage chunk: no choices, the counts */
            cJSON *uo = cJSON_CreateObject(), *u;
            cJSON_AddStringToObject(uo, "id", r.id);
            cJSON_AddStringToObject(uo, "object", g->chat ? "chat.completion.chunk" : "text_completion");
            cJSON_AddNumberToObject(uo, "created", (double)r.created);
            cJSON_AddStringToObject(uo, "model", j->model->id);
            cJSON_AddArrayToObject(uo, "choices");
            u = cJSON_AddObjectToObject(uo, "usage");
            cJSON_AddNumberToObject(u, "prompt_tokens", (double)st.prompt_tokens);
            cJSON_AddNumberToObject(u, "completion_tokens", (double)st.tokens);
            cJSON_AddNumberToObject(u, "total_tokens", (double)(st.prompt_tokens + st.tokens));
            char *js = print_free(uo);
            rc2 = !js || job_emit(j, "data: ", 6) || job_emit(j, js, strlen(js)) || job_emit(j, "\n\n", 2);
            free(js);
        }
        if (rc2 == 0) job_emit(j, "data: [DONE]\n\n", 14);
        j->status = 200;
        goto done;
    }
    cJSON *o2 = cJSON_CreateObject(), *choices = cJSON_AddArrayToObject(o2, "choices"), *c = cJSON_CreateObject(),
          *u = cJSON_AddObjectToObject(o2, "usage");
    cJSON_AddItemToArray(choices, c);
    cJSON_AddStringToObject(o2, "id", r.id);
    cJSON_AddStringToObject(o2, "object", g->chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o2, "created", (double)r.created);
    cJSON_AddStringToObject(o2, "model", j->model->id);
    cJSON_AddNumberToObject(c, "index", 0);
    const char *text = r.out ? r.out : "";
    if (g->chat) {
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text);
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", finish);
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)st.prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)st.tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(st.prompt_tokens + st.tokens));
    answer_json(j, o2);
done:
    free(r.pending);
    free(r.out);
}

static job *post_generate(srv *s, int ep, cJSON *req, int *status, char **body) {
    const srv_model *m = find_model(s, req, 1, status, body);
    if (!m) return NULL;
    if (!m->lm) return err_out(status, body, 400, "'%s' is a %s model, not a language model", m->id, duet_model_name(m->m)), NULL;
    gen_req *g = calloc(1, sizeof *g);
    if (!g) return err_out(status, body, 503, "out of memory"), NULL;
    g->chat = ep == EP_CHAT;
    double mt = 16, temp = 1, top_p = 1, n = 1, top_k = 0, seed = 0;
    int stream = 0;
    /* chat: max_completion_tokens, or the older max_tokens when it is absent */
    if ((g->chat && num_field(req, "max_tokens", 1, (double)s->lim.max_tokens, 1, &mt, status, body)) ||
        num_field(req, g->chat ? "max_completion_tokens" : "max_tokens", 1, (double)s->lim.max_tokens, 1, &mt, status, body) ||
        num_field(req, "temperature", 0, 2, 0, &temp, status, body) || num_field(req, "top_p", 0, 1, 0, &top_p, status, body) ||
        num_field(req, "top_k", 0, 1e9, 1, &top_k, status, body) || num_field(req, "n", 1, 1, 1, &n, status, body) ||
        num_field(req, "seed", 0, 9007199254740991.0, 1, &seed, status, body) || bool_field(req, "stream", &stream, status, body))
        goto bad;
    if (g->chat && !cJSON_GetObjectItem(req, "max_completion_tokens") && !cJSON_GetObjectItem(req, "max_tokens")) mt = 256;
    if (top_p <= 0) {
        err_out(status, body, 400, "\"top_p\" must be above 0");
        goto bad;
    }
    g->max_tokens = (int64_t)mt, g->temperature = temp, g->top_p = top_p, g->top_k = (int)top_k;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so) || bool_field(so, "include_usage", &g->usage, status, body)) {
            if (!*body) err_out(status, body, 400, "\"stream_options\" must be an object such as {\"include_usage\": true}");
            goto bad;
        }
    }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(req, "stop");
    if (stop && !cJSON_IsNull(stop)) {
        const cJSON *one;
        if (cJSON_IsString(stop)) {
            if (stop->valuestring[0] && !(g->stops[g->n_stops++] = strdup(stop->valuestring))) goto oom;
        } else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) <= 4) {
            cJSON_ArrayForEach(one, stop) {
                if (!cJSON_IsString(one)) {
                    err_out(status, body, 400, "\"stop\" must be a string or up to 4 strings");
                    goto bad;
                }
                if (one->valuestring[0] && !(g->stops[g->n_stops++] = strdup(one->valuestring))) goto oom;
            }
        } else {
            err_out(status, body, 400, "\"stop\" must be a string or up to 4 strings");
            goto bad;
        }
    }
    if (g->chat) {
        if (!(g->prompt = chat_prompt(cJSON_GetObjectItemCaseSensitive(req, "messages"), s->lim.max_body + 4096, status, body))) goto bad;
        if (!(g->stops[g->n_stops++] = strdup("\nUser:")) || !(g->stops[g->n_stops++] = strdup("\nSystem:"))) goto oom;
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "prompt");
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) p = cJSON_GetArrayItem(p, 0);
        if (p && !cJSON_IsString(p)) {
            err_out(status, body, 400, "\"prompt\" must be a string (or a list of one)");
            goto bad;
        }
        if (!(g->prompt = strdup(p ? p->valuestring : ""))) goto oom;
    }
    job *j = job_new(s, ep, m, req, run_generate, stream);
    if (!j) goto oom;
    j->arg = g;
    j->arg_free = gen_req_free;
    return j;
oom:
    err_out(status, body, 503, "out of memory");
bad:
    gen_req_free(g);
    return NULL;
}

// --- classify and score: inputs as the model reads them ----------------------------------------

/* The cells of table rows as they are collected: each cell's text in one buffer, found by its
 * offset (the buffer moves as it grows), SIZE_MAX for a missing one. */
typedef struct cells {
    char *b;
    size_t len, cap;
    size_t *off;
    size_t n, ncap;
} cells;

static void cells_free(cells *c) {
    free(c->b);
    free(c->off);
}

/* Adds one cell of n bytes (s NULL: missing); -1 when out of memory. */
static int cell_add(cells *c, const char *s, size_t n) {
    if (c->n == c->ncap) {
        size_t nc = c->ncap ? 2 * c->ncap : 64;
        size_t *o = realloc(c->off, nc * sizeof *o);
        if (!o) return -1;
        c->off = o, c->ncap = nc;
    }
    if (!s) {
        c->off[c->n++] = SIZE_MAX;
        return 0;
    }
    if (grow(&c->b, &c->cap, c->len + n + 1)) return -1;
    memcpy(c->b + c->len, s, n);
    c->b[c->len + n] = 0;
    c->off[c->n++] = c->len;
    c->len += n + 1;
    return 0;
}

/* A JSON value as a cell: a string, a number, true or false; null (or absent) is missing. 0, 1
 * when it is of another type, -1 when out of memory. */
static int cell_value(cells *c, const cJSON *v) {
    char num[40];
    if (!v || cJSON_IsNull(v)) return cell_add(c, NULL, 0);
    if (cJSON_IsString(v)) return cell_add(c, v->valuestring, strlen(v->valuestring));
    if (cJSON_IsNumber(v)) return snprintf(num, sizeof num, "%.17g", v->valuedouble), cell_add(c, num, strlen(num));
    if (cJSON_IsBool(v)) return cell_add(c, cJSON_IsTrue(v) ? "true" : "false", cJSON_IsTrue(v) ? 4 : 5);
    return 1;
}

/* One table row (an array in column order, an object by column name, or a line of text) added
 * to c; -1 after a message. */
static int table_row(const duet_model *m, const cJSON *row, cells *c, char *msg, size_t mcap) {
    int64_t C = duet_model_table_columns(m);
    int rc;
    if (cJSON_IsArray(row)) {
        if (cJSON_GetArraySize(row) != C) return snprintf(msg, mcap, "a row has %d values, the model %lld columns", cJSON_GetArraySize(row), (long long)C), -1;
        int64_t k = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, row) {
            if ((rc = cell_value(c, v)) > 0) return snprintf(msg, mcap, "value %lld of a row is not a string, number or null", (long long)k + 1), -1;
            if (rc < 0) return snprintf(msg, mcap, "out of memory"), -1;
            k++;
        }
    } else if (cJSON_IsObject(row)) {
        const cJSON *v;
        cJSON_ArrayForEach(v, row) { /* every key a column */
            int64_t k = 0;
            while (k < C && strcmp(duet_model_table_column(m, k), v->string) != 0) k++;
            if (k == C) return snprintf(msg, mcap, "unknown column '%.100s'", v->string), -1;
        }
        for (int64_t k = 0; k < C; k++) {
            if ((rc = cell_value(c, cJSON_GetObjectItemCaseSensitive(row, duet_model_table_column(m, k)))) > 0)
                return snprintf(msg, mcap, "column '%.100s' is not a string, number or null", duet_model_table_column(m, k)), -1;
            if (rc < 0) return snprintf(msg, mcap, "out of memory"), -1;
        }
    } else if (cJSON_IsString(row)) { /* "39, State-gov, ...": split at commas (or tabs, or semicolons) */
        const char *t = row->valuestring;
        if (strchr(t, '\n')) return snprintf(msg, mcap, "a row given as text is one line"), -1;
        char sep = strchr(t, ',') ? ',' : strchr(t, '\t') ? '\t' : ';';
        int64_t k = 0;
        for (const char *p = t;; k++) {
            const char *e = strchr(p, sep);
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (k < C && cell_add(c, p, n)) return snprintf(msg, mcap, "out of memory"), -1;
            if (!e) break;
            p = e + 1;
        }
        if (k + 1 != C) return snprintf(msg, mcap, "the row has %lld values, the model %lld columns", (long long)k + 1, (long long)C), -1;
    } else {
        return snprintf(msg, mcap, "a table row is a line of text, an array of values or an object of column: value"), -1;
    }
    return 0;
}

/* "input" as data the model reads (*batch = 1: a list), built from the request's values with no
 * text to parse again. NULL after an error message in msg. */
static duet_data *input_data(duet_ctx *ctx, const duet_model *m, const cJSON *in, int *batch, char *msg, size_t mcap) {
    int kind = duet_model_input_kind(m);
    *batch = 0;
    if (!in) return snprintf(msg, mcap, "\"input\" is required"), NULL;
    int table = kind == DUET_DATA_TABLE;
    if (kind != DUET_DATA_TEXT && kind != DUET_DATA_TABLE && kind != DUET_DATA_CORPUS)
        return snprintf(msg, mcap, "this endpoint takes text or table rows; '%s' reads other data", duet_model_name(m)), NULL;
    /* a list of items, or one */
    int list = cJSON_IsArray(in) && (!table || (cJSON_GetArraySize(in) > 0 && (cJSON_IsArray(cJSON_GetArrayItem(in, 0)) ||
                                                                              cJSON_IsObject(cJSON_GetArrayItem(in, 0)))));
    *batch = list;
    int64_t n = list ? cJSON_GetArraySize(in) : 1;
    if (n < 1) return snprintf(msg, mcap, "\"input\" is an empty list"), NULL;
    if (n > 10000) return snprintf(msg, mcap, "at most 10000 inputs per request"), NULL;
    const cJSON *item = list ? in->child : in;
    duet_data *d = NULL;
    duet_err e = {0, ""};
    int rc;
    if (table) {
        int64_t C = duet_model_table_columns(m);
        cells c = {0};
        const char **ptr = NULL, **names = calloc((size_t)C, sizeof *names);
        for (; item && names; item = list ? item->next : NULL)
            if (table_row(m, item, &c, msg, mcap)) {
                free(names);
                cells_free(&c);
                return NULL;
            }
        if (c.n != (size_t)n * (size_t)C) { /* table_row adds C cells a row */
            rc = DUET_EINVAL;
            snprintf(e.msg, sizeof e.msg, "input: %zu values for %lld rows of %lld columns", c.n, (long long)n, (long long)C);
        } else if (names && (ptr = calloc(c.n ? c.n : 1, sizeof *ptr))) {
            for (size_t k = 0; k < c.n; k++) ptr[k] = c.off[k] == SIZE_MAX ? NULL : c.b + c.off[k];
            for (int64_t k = 0; k < C; k++) names[k] = duet_model_table_column(m, k);
            rc = duet_data_from_table(ctx, "input", names, C, ptr, n, NULL, &d, &e);
        } else {
            rc = DUET_ENOMEM;
            snprintf(e.msg, sizeof e.msg, "out of memory");
        }
        free(ptr);
        free(names);
        cells_free(&c);
    } else {
        const char **texts = calloc((size_t)n, sizeof *texts);
        int64_t i = 0;
        for (; item && texts; item = list ? item->next : NULL, i++) {
            if (!cJSON_IsString(item)) {
                free(texts);
                return snprintf(msg, mcap, "\"input\" must be a text or a list of texts"), NULL;
            }
            texts[i] = item->valuestring;
        }
        if (texts) {
            rc = duet_data_from_texts(ctx, "input", texts, n, NULL, &d, &e);
        } else {
            rc = DUET_ENOMEM;
            snprintf(e.msg, sizeof e.msg, "out of memory");
        }
        free(texts);
    }
    if (rc) return snprintf(msg, mcap, "%s", e.msg), NULL;
    return d;
}

/* The labels of a zero-shot request ("labels": ["spam", "ham"]): how many, or -1. */
static int zs_labels(const cJSON *req, const char **labels, int max) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(req, "labels"), *v;
    int n = 0;
    if (!cJSON_IsArray(l)) return -1;
    cJSON_ArrayForEach(v, l) {
        if (!cJSON_IsString(v) || !v->valuestring[0] || n == max) return -1;
        labels[n++] = v->valuestring;
    }
    return n;
}

/* Row i's explanation (class k; a regressor's 0), the ex features that weigh most, as
 * "explanation": [{"feature": name, "weight": v}, ...] in o; fe holds ex. A status. */
static int add_explanation(duet_ctx *ctx, const duet_model *m, const duet_data *d, int64_t i, int k, int ex, duet_feature *fe,
                           cJSON *o, duet_err *e) {
    int n = 0;
    int rc = duet_model_explain(ctx, m, d, i, k, fe, ex, &n, e);
    if (rc) return rc;
    cJSON *xs = cJSON_AddArrayToObject(o, "explanation");
    for (int t = 0; t < n; t++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "feature", fe[t].name);
        cJSON_AddNumberToObject(x, "weight", fe[t].value);
        cJSON_AddItemToArray(xs, x);
    }
    return DUET_OK;
}

/* A regressor's answer: {"value": v} (a batch: {"data": [...]}), with "explanation" when asked. */
static void run_values(job *j, duet_ctx *ctx, const duet_data *d, int batch, int ex) {
    const duet_model *m = j->model->m;
    int64_t N = duet_data_rows(d);
    double *v = calloc((size_t)N + 1, sizeof *v);
    duet_feature *fe = ex > 0 ? calloc((size_t)ex, sizeof *fe) : NULL;
    duet_err e = {0, ""};
    int rc = !v || (ex > 0 && !fe) ? (e.code = DUET_ENOMEM, snprintf(e.msg, sizeof e.msg, "out of memory"), DUET_ENOMEM) : 0;
    if (!rc) rc = duet_model_predict_values(ctx, m, d, v, &e);
    if (rc) {
        job_error(j, lib_status(&e), "%s", e.msg);
        goto done;
    }
    cJSON *root = cJSON_CreateObject(), *list = batch ? cJSON_AddArrayToObject(root, "data") : NULL;
    cJSON_AddStringToObject(root, "model", j->model->id);
    for (int64_t i = 0; i < N; i++) {
        cJSON *o = batch ? cJSON_CreateObject() : root;
        if (batch) cJSON_AddItemToArray(list, o);
        cJSON_AddNumberToObject(o, "value", v[i]);
        if (ex > 0 && add_explanation(ctx, m, d, i, 0, ex, fe, o, &e)) {
            cJSON_Delete(root);
            job_error(j, lib_status(&e), "%s", e.msg);
            goto done;
        }
    }
    answer_json(j, root);
done:
    free(v);
    free(fe);
}

static void run_classify(job *j, duet_ctx *ctx) {
    const duet_model *m = j->model->m;
    char msg[512];
    int batch = 0;
    duet_data *d = input_data(ctx, m, cJSON_GetObjectItemCaseSensitive(j->req, "input"), &batch, msg, sizeof msg);
    if (!d) {
        job_error(j, 400, "%s", msg);
        return;
    }
    int64_t N = duet_data_rows(d);
    double ex = 0;
    int st = 0;
    char *eb = NULL;
    num_field(j->req, "explain", 0, 100, 1, &ex, &st, &eb); /* checked when the request came */
    free(eb);
    if (!j->model->lm && duet_model_task(m) == DUET_TASK_REGRESSION) {
        run_values(j, ctx, d, batch, (int)ex);
        duet_data_free(d);
        return;
    }
    const char *labels[64];
    int K = j->model->lm ? zs_labels(j->req, labels, 64) : duet_model_classes(m);
    float *P = calloc((size_t)N * (size_t)(K > 0 ? K : 1), sizeof(float));
    int32_t *lab = calloc((size_t)N, sizeof(int32_t));
    duet_feature *fe = ex > 0 ? calloc((size_t)ex, sizeof *fe) : NULL;
    duet_err e = {0, ""};
    int rc = !P || !lab || (ex > 0 && !fe) ? (e.code = DUET_ENOMEM, snprintf(e.msg, sizeof e.msg, "out of memory"), DUET_ENOMEM) : 0;
    if (!rc && j->model->lm) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j->req, "template");
        rc = duet_lm_classify(ctx, m, d, labels, K, cJSON_IsString(t) ? t->valuestring : NULL, 1, P, &e);
        for (int64_t i = 0; !rc && i < N; i++)
            for (int k = 1; k < K; k++)
                if (P[i * K + k] > P[i * K + lab[i]]) lab[i] = k;
    } else if (!rc) {
        rc = duet_model_predict(ctx, m, d, lab, P, &e);
    }
    if (rc) {
        job_error(j, lib_status(&e), "%s", e.msg);
        goto done;
    }
    cJSON *root = cJSON_CreateObject(), *list = batch ? cJSON_AddArrayToObject(root, "data") : NULL;
    cJSON_AddStringToObject(root, "model", j->model->id);
    for (int64_t i = 0; i < N; i++) {
        cJSON *o = batch ? cJSON_CreateObject() : root;
        if (batch) cJSON_AddItemToArray(list, o);
        const char *name = j->model->lm ? labels[lab[i]] : duet_model_class_name(m, lab[i]);
        cJSON_AddStringToObject(o, "label", name);
        cJSON *pr = cJSON_AddObjectToObject(o, "probabilities");
        for (int k = 0; k < K; k++)
            cJSON_AddNumberToObject(pr, j->model->lm ? labels[k] : duet_model_class_name(m, k), (double)P[i * K + k]);
        if (ex > 0 && add_explanation(ctx, m, d, i, lab[i], (int)ex, fe, o, &e)) {
            cJSON_Delete(root);
            job_error(j, lib_status(&e), "%s", e.msg);
            goto done;
        }
    }
    answer_json(j, root);
done:
    free(P);
    free(lab);
    free(fe);
    duet_data_free(d);
}

/* /v1/classify, and /v1/predict (ep): the same job, which answers a number for a regressor. */
static job *post_classify(srv *s, cJSON *req, int ep, int *status, char **body) {
    const srv_model *m = find_model(s, req, 2, status, body);
    if (!m) return NULL;
    if (ep == EP_CLASSIFY && !m->lm && duet_model_task(m->m) == DUET_TASK_REGRESSION)
        return err_out(status, body, 400, "'%s' (%s) predicts a number, not a class: POST /v1/predict", m->id, duet_model_name(m->m)), NULL;
    if (ep == EP_PREDICT && m->lm)
        return err_out(status, body, 400, "'%s' is a language model: POST /v1/classify with \"labels\" classifies zero-shot", m->id), NULL;
    double ex = 0;
    if (num_field(req, "explain", 0, 100, 1, &ex, status, body)) return NULL;
    if (m->lm) {
        const char *labels[64];
        int n = zs_labels(req, labels, 64);
        if (n < 2)
            return err_out(status, body, 400, "a language model classifies zero-shot: give \"labels\": 2 to 64 label strings"), NULL;
        if (ex > 0) return err_out(status, body, 400, "a language model does not explain its zero-shot choices"), NULL;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "template");
        if (t && (!cJSON_IsString(t) || !strstr(t->valuestring, "{text}")))
            return err_out(status, body, 400, "\"template\" must be a string with {text} in it"), NULL;
    } else if (!(m->caps & DUET_CAN_PREDICT)) {
        return err_out(status, body, 400, "'%s' (%s) learns %s and cannot classify", m->id, duet_model_name(m->m), duet_model_learns(m->m)), NULL;
    } else if (ex > 0 && !(m->caps & DUET_CAN_EXPLAIN)) {
        return err_out(status, body, 400, "'%s' (%s) cannot explain its decisions", m->id, duet_model_name(m->m)), NULL;
    }
    if (!cJSON_GetObjectItemCaseSensitive(req, "input")) return err_out(status, body, 400, "\"input\" is required"), NULL;
    job *j = job_new(s, ep, m, req, run_classify, 0);
    if (!j) err_out(status, body, 503, "out of memory");
    return j;
}

static void run_score(job *j, duet_ctx *ctx) {
    const duet_model *m = j->model->m;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j->req, "input");
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", j->model->id);
    duet_err e = {0, ""};
    if (j->model->lm) {
        int batch = cJSON_IsArray(in);
        cJSON *list = batch ? cJSON_AddArrayToObject(root, "data") : NULL;
        for (const cJSON *t = batch ? in->child : in; t; t = batch ? t->next : NULL) {
            duet_lm_score sc;
            if (!cJSON_IsString(t)) {
                cJSON_Delete(root);
                job_error(j, 400, "\"input\" must be a text or a list of texts");
                return;
            }
            if (duet_model_score_text(ctx, m, t->valuestring, strlen(t->valuestring), NULL, NULL, &sc, &e)) {
                cJSON_Delete(root);
                job_error(j, lib_status(&e), "%s", e.msg);
                return;
            }
            cJSON *o = batch ? cJSON_CreateObject() : root;
            if (batch) cJSON_AddItemToArray(list, o);
            cJSON_AddNumberToObject(o, "tokens", (double)sc.tokens);
            cJSON_AddNumberToObject(o, "nll", sc.nll);
            cJSON_AddNumberToObject(o, "perplexity", sc.perplexity);
        }
        answer_json(j, root);
        return;
    }
    char msg[512];
    int batch = 0;
    duet_data *d = input_data(ctx, m, in, &batch, msg, sizeof msg);
    if (!d) {
        cJSON_Delete(root);
        job_error(j, 400, "%s", msg);
        return;
    }
    int64_t N = duet_data_rows(d);
    double *lp = calloc((size_t)N, sizeof(double));
    if (!lp || duet_model_score(ctx, m, d, lp, &e)) {
        cJSON_Delete(root);
        if (lp) job_error(j, lib_status(&e), "%s", e.msg);
        else job_error(j, 503, "out of memory");
    } else {
        cJSON_AddStringToObject(root, "score", duet_model_score_name(m));
        if (batch) {
            cJSON *a = cJSON_AddArrayToObject(root, "logp");
            for (int64_t i = 0; i < N; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(lp[i]));
        } else {
            cJSON_AddNumberToObject(root, "logp", lp[0]);
        }
        answer_json(j, root);
    }
    free(lp);
    duet_data_free(d);
}

static job *post_score(srv *s, cJSON *req, int *status, char **body) {
    const srv_model *m = find_model(s, req, 4, status, body);
    if (!m) return NULL;
    if (!m->lm && !(m->caps & DUET_CAN_SCORE))
        return err_out(status, body, 400, "'%s' (%s) has no likelihood to score with", m->id, duet_model_name(m->m)), NULL;
    if (!cJSON_GetObjectItemCaseSensitive(req, "input")) return err_out(status, body, 400, "\"input\" is required"), NULL;
    job *j = job_new(s, EP_SCORE, m, req, run_score, 0);
    if (!j) err_out(status, body, 503, "out of memory");
    return j;
}

// --- images ----------------------------------------------------------------------------------------

static char *base64(const unsigned char *p, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(4 * ((n + 2) / 3) + 1), *q = o;
    if (!o) return NULL;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *q++ = A[v >> 18], *q++ = A[(v >> 12) & 63], *q++ = A[(v >> 6) & 63], *q++ = A[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *q++ = A[v >> 18], *q++ = A[(v >> 12) & 63], *q++ = '=', *q++ = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *q++ = A[v >> 18], *q++ = A[(v >> 12) & 63], *q++ = A[(v >> 6) & 63], *q++ = '=';
    }
    *q = 0;
    return o;
}

static void run_images(job *j, duet_ctx *ctx) {
    const duet_model *m = j->model->m;
    double n = 1, guidance = 0, steps = 0;
    int grid = 0, st = 0;
    char *eb = NULL;
    num_field(j->req, "n", 1, j->s->lim.max_images, 1, &n, &st, &eb); /* checked when the request came */
    num_field(j->req, "guidance", 0, 100, 0, &guidance, &st, &eb);
    num_field(j->req, "steps", 1, 10000, 1, &steps, &st, &eb);
    bool_field(j->req, "grid", &grid, &st, &eb);
    free(eb);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j->req, "label");
    duet_sample_opts so = {guidance, (int)steps, 0};
    duet_data *d = NULL;
    duet_err e = {0, ""};
    if (duet_model_sample_ex(ctx, m, cJSON_IsString(l) ? l->valuestring : NULL, (int64_t)n, request_seed(j), &so, &d, &e)) {
        job_error(j, lib_status(&e), "%s", e.msg);
        return;
    }
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
    cJSON_AddNumberToObject(root, "created", (double)time(NULL));
    cJSON_AddStringToObject(root, "model", j->model->id);
    int64_t N = duet_data_rows(d), parts = grid ? 1 : N;
    for (int64_t i = 0; i < parts; i++) {
        unsigned char *png = NULL;
        size_t len = 0;
        if (duet_data_png(ctx, d, grid ? 0 : i, grid ? N : 1, 0, &png, &len, &e)) {
            cJSON_Delete(root);
            duet_data_free(d);
            job_error(j, lib_status(&e), "%s", e.msg);
            return;
        }
        char *b64 = base64(png, len);
        duet_free(ctx, png);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(data, o);
        if (!b64 || !cJSON_AddStringToObject(o, "b64_json", b64)) {
            free(b64);
            cJSON_Delete(root);
            duet_data_free(d);
            job_error(j, 503, "out of memory");
            return;
        }
        free(b64);
        if (!grid && duet_data_label(d, i)) cJSON_AddStringToObject(o, "label", duet_data_label(d, i));
    }
    duet_data_free(d);
    answer_json(j, root);
}

static job *post_images(srv *s, cJSON *req, int *status, char **body) {
    const srv_model *m = find_model(s, req, 3, status, body);
    if (!m) return NULL;
    if (!m->images) return err_out(status, body, 400, "'%s' (%s) does not draw images", m->id, duet_model_name(m->m)), NULL;
    double x = 0;
    int g = 0;
    if (num_field(req, "n", 1, s->lim.max_images, 1, &x, status, body) || num_field(req, "guidance", 0, 100, 0, &x, status, body) ||
        num_field(req, "steps", 1, 10000, 1, &x, status, body) || bool_field(req, "grid", &g, status, body) ||
        num_field(req, "seed", 0, 9007199254740991.0, 1, &x, status, body))
        return NULL;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(req, "label"), *rf = cJSON_GetObjectItemCaseSensitive(req, "response_format");
    if (l && !cJSON_IsString(l) && !cJSON_IsNull(l)) return err_out(status, body, 400, "\"label\" must be a string"), NULL;
    if (cJSON_IsString(l)) {
        int k = 0, K = duet_model_classes(m->m);
        while (k < K && strcmp(duet_model_class_name(m->m, k), l->valuestring) != 0) k++;
        if (k == K) return err_out(status, body, 400, "label '%.100s' is not one of the model's %d classes", l->valuestring, K), NULL;
    }
    if (rf && !(cJSON_IsString(rf) && strcmp(rf->valuestring, "b64_json") == 0))
        return err_out(status, body, 400, "\"response_format\" can only be \"b64_json\" (images are not stored)"), NULL;
    job *j = job_new(s, EP_IMAGES, m, req, run_images, 0);
    if (!j) err_out(status, body, 503, "out of memory");
    return j;
}

// --- the body ----------------------------------------------------------------------------------

/* Where the scan of a body is: one frame per open object or array. */
typedef struct json_frame {
    int array;            /* 1: an array, 0: an object */
    int64_t index;        /* an array's element */
    const char *key;      /* an object's last key (raw, escapes kept) */
    size_t klen;
    int want_key;         /* an object expects a key next */
} json_frame;

#define PATH_FRAMES 16 /* levels named in a message; deeper ones are "..." */

/* The path of the value being scanned, e.g. "input[1]" or "messages[0].content". */
static void json_path(const json_frame *f, int depth, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < depth && n + 1 < cap; i++) {
        int w;
        if (i == PATH_FRAMES) w = snprintf(out + n, cap - n, "...");
        else if (f[i].array) w = snprintf(out + n, cap - n, "[%lld]", (long long)f[i].index);
        else if (f[i].key) w = snprintf(out + n, cap - n, "%s%.*s", n ? "." : "", (int)(f[i].klen > 40 ? 40 : f[i].klen), f[i].key);
        else w = 0;
        if (w < 0) break;
        n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
        if (i == PATH_FRAMES) break;
    }
}

/* JSON forbids raw control characters (below 0x20) inside strings (RFC 8259, section 7) and
 * allows only space, tab, CR and LF between values; cJSON accepts them, and a NUL cuts a string
 * short. 0, or -1 with a message that names the field. */
static int json_controls(const char *b, size_t len, char *msg, size_t mcap) {
    json_frame f[PATH_FRAMES + 1];
    int depth = 0;                 /* frames open; only the first PATH_FRAMES + 1 are kept */
    const char *str = NULL;        /* the string being read, or NULL between values */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)b[i];
        json_frame *top = depth > 0 && depth <= PATH_FRAMES + 1 ? &f[depth - 1] : NULL;
        if (str) {
            if (c == '\\') {
                if (i + 5 < len && b[i + 1] == 'u' && !memcmp(b + i + 2, "0000", 4)) {
                    char path[256];
                    json_path(f, depth, path, sizeof path);
                    snprintf(msg, mcap, "%s%s%s: \\u0000 (NUL) at offset %zu: texts cannot hold it", path[0] ? "\"" : "",
                             path[0] ? path : "the body", path[0] ? "\"" : "", i);
                    return -1;
                }
                i++;
                continue;
            }
            if (c == '"') {
                if (top && !top->array && top->want_key) top->key = str, top->klen = (size_t)(b + i - str), top->want_key = 0;
                str = NULL;
                continue;
            }
        } else if (c == '"') {
            str = b + i + 1;
            continue;
        } else if (c == '{' || c == '[') {
            if (depth <= PATH_FRAMES) f[depth] = (json_frame){.array = c == '[', .want_key = c == '{'};
            depth++;
            continue;
        } else if (c == '}' || c == ']') {
            if (depth > 0) depth--;
            continue;
        } else if (c == ',') {
            if (top && top->array) top->index++;
            else if (top) top->want_key = 1;
            continue;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;
        }
        if (c >= 0x20) continue;
        char path[256];
        int in_key = str && top && !top->array && top->want_key;
        json_path(f, depth, path, sizeof path);
        if (!str)
            snprintf(msg, mcap, "the body has a raw control character (byte 0x%02x at offset %zu) between values%s%s%s; JSON allows only space, tab, CR and LF there",
                     c, i, path[0] ? " in \"" : "", path, path[0] ? "\"" : "");
        else
            snprintf(msg, mcap, "%s%s%s: a raw control character (byte 0x%02x at offset %zu) in a %s; JSON needs it escaped, e.g. \\u%04x",
                     path[0] ? "\"" : "", path[0] ? path : "the body", path[0] ? "\"" : "", c, i, in_key ? "key" : "string", c);
        return -1;
    }
    return 0;
}

cJSON *parse_body(const char *body, size_t len, char *msg, size_t mcap) {
    if (len == 0) return snprintf(msg, mcap, "the body is empty: send a JSON object"), NULL;
    size_t bad = 0;
    if (!duet_utf8_valid(body, len, &bad)) return snprintf(msg, mcap, "the body is not valid UTF-8 (at byte %zu)", bad), NULL;
    if (json_controls(body, len, msg, mcap)) return NULL;
    const char *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!req) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        snprintf(msg, mcap, "the body is not valid JSON (at byte %zu)", at);
        return NULL;
    }
    size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : len;
    while (at < len && (body[at] == ' ' || body[at] == '\t' || body[at] == '\n' || body[at] == '\r')) at++;
    if (at < len) {
        cJSON_Delete(req);
        snprintf(msg, mcap, "the body has more after its JSON value (at byte %zu): send one object", at);
        return NULL;
    }
    return req;
}

// --- dispatch -------------------------------------------------------------------------------------

job *handle_post(srv *s, int ep, cJSON *req, int *status, char **err_body) {
    *status = 0, *err_body = NULL;
    if (!cJSON_IsObject(req)) return err_out(status, err_body, 400, "the body must be a JSON object"), NULL;
    switch (ep) {
    case EP_COMPLETIONS:
    case EP_CHAT: return post_generate(s, ep, req, status, err_body);
    case EP_CLASSIFY:
    case EP_PREDICT: return post_classify(s, req, ep, status, err_body);
    case EP_IMAGES: return post_images(s, req, status, err_body);
    case EP_SCORE: return post_score(s, req, status, err_body);
    default: return err_out(status, err_body, 404, "no such endpoint"), NULL;
    }
}

char *models_json(const srv *s) {
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
    cJSON_AddStringToObject(root, "object", "list");
    for (int i = 0; i < s->n_models; i++) {
        const srv_model *m = &s->models[i];
        cJSON *o = cJSON_CreateObject(), *caps = cJSON_CreateArray();
        cJSON_AddItemToArray(data, o);
        cJSON_AddStringToObject(o, "id", m->id);
        cJSON_AddStringToObject(o, "object", "model");
        cJSON_AddNumberToObject(o, "created", 0);
        cJSON_AddStringToObject(o, "owned_by", "duet");
        cJSON_AddStringToObject(o, "type", duet_model_name(m->m));
        cJSON_AddStringToObject(o, "learns", duet_model_learns(m->m));
        if (m->lm) cJSON_AddItemToArray(caps, cJSON_CreateString("completions"));
        int number = !m->lm && duet_model_task(m->m) == DUET_TASK_REGRESSION;
        if ((m->caps & DUET_CAN_PREDICT && !number) || m->lm) cJSON_AddItemToArray(caps, cJSON_CreateString("classify"));
        if (m->caps & DUET_CAN_PREDICT && !m->lm) cJSON_AddItemToArray(caps, cJSON_CreateString("predict"));
        if (number) cJSON_AddStringToObject(o, "task", "regression");
        if (m->caps & DUET_CAN_EXPLAIN) cJSON_AddItemToArray(caps, cJSON_CreateString("explain"));
        if (m->images) cJSON_AddItemToArray(caps, cJSON_CreateString("images"));
        if (m->caps & DUET_CAN_SCORE || m->lm) cJSON_AddItemToArray(caps, cJSON_CreateString("score"));
        cJSON_AddItemToObject(o, "capabilities", caps);
        int K = duet_model_classes(m->m);
        if (K > 0) {
            cJSON *cl = cJSON_AddArrayToObject(o, "classes");
            for (int k = 0; k < K; k++) cJSON_AddItemToArray(cl, cJSON_CreateString(duet_model_class_name(m->m, k)));
        }
        int64_t C = duet_model_table_columns(m->m);
        if (C > 0) {
            cJSON *cl = cJSON_AddArrayToObject(o, "columns");
            for (int64_t c = 0; c < C; c++) cJSON_AddItemToArray(cl, cJSON_CreateString(duet_model_table_column(m->m, c)));
        }
    }
    return print_free(root);
}
