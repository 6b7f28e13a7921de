/* dt.h — the internal core every layer shares.
 * defines: struct duet_ctx; errors (dt_err); checked allocation through the context
 * (dt_alloc, dt_calloc, dt_realloc, dt_free, dt_mul_ok); random numbers (dt_rng);
 * a string pool (dt_pool); logging; the abort check; number parsing; OpenMP helpers.
 *
 * Dimension letters used in shape comments across the code base:
 *   N samples, D features, K classes, B batch, T time, C channels, V vocabulary,
 *   L layers, NH heads, H/W image height/width.
 * Element counts are size_t; shapes are int64_t.
 */
#ifndef DT_H
#define DT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define DT_HIDDEN __attribute__((visibility("hidden")))
#define DT_VERSION "0.1.0" /* duet_version() */

/* --- context ----------------------------------------------------------------------------- */

struct duet_ctx {
    int n_threads;          /* resolved thread count, >= 1 */
    uint64_t seed;
    duet_alloc_fn alloc;
    void *alloc_user;
    duet_log_fn log;
    void *log_user;
    duet_abort_fn abort_fn;
    void *abort_user;
    size_t mem_limit;       /* the largest single allocation (bytes): the machine's memory by default */
    int dist_rank, dist_size; /* data-parallel training: this process of dist_size (1: alone) */
    duet_reduce_fn reduce;  /* adds buffers across those processes */
    void *reduce_user;
};

/* Adds buf[0..n) across the processes of a data-parallel run (nothing when alone). */
int dt_reduce(const duet_ctx *ctx, double *buf, size_t n, duet_err *err);
static inline int dt_distributed(const duet_ctx *ctx) { return ctx && ctx->dist_size > 1 && ctx->reduce; }
/* The floats v (n) added across processes, with *tail (a loss, say; may be NULL) beside them;
 * buf is scratch for n + 1 doubles. Nothing when alone. */
int dt_reduce_f32(const duet_ctx *ctx, float *v, size_t n, double *tail, double *buf, duet_err *err);
/* *n, this process's row count, becomes the count over all processes. */
int dt_reduce_count(const duet_ctx *ctx, int64_t *n, duet_err *err);
/* Whether global row g of a data-parallel run is this process's, and its local index: row g
 * lives on process g mod size as its row g / size (duet_model_train shares rows out so). */
static inline int dt_row_here(const duet_ctx *ctx, int64_t g, int64_t *local) {
    if (!dt_distributed(ctx)) return *local = g, 1;
    *local = g / ctx->dist_size;
    return g % ctx->dist_size == ctx->dist_rank;
}

/* --- errors ------------------------------------------------------------------------------ */

/* Sets err (when not NULL) to code and a printf-style message; returns code. */
int dt_err(duet_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "prefix: old message". Returns err->code (or code). */
int dt_err_prefix(duet_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Internal invariants only (bugs), never user input: logs and aborts. */
#define DT_ASSERT(cond)                                                                      \
    do {                                                                                     \
        if (!(cond)) dt_assert_fail(#cond, __FILE__, __LINE__);                              \
    } while (0)
void dt_assert_fail(const char *what, const char *file, int line) __attribute__((noreturn));

/* Evaluates a status expression and jumps to `fail` when it is not DUET_OK. */
#define DT_TRY(expr)                                                                         \
    do {                                                                                     \
        rc = (expr);                                                                         \
        if (rc != DUET_OK) goto fail;                                                        \
    } while (0)

/* --- allocation (all through the context's hook; failures are DUET_ENOMEM) ---------------- */

void *dt_alloc(duet_ctx *ctx, size_t size);              /* NULL on failure or size 0 */
void *dt_calloc(duet_ctx *ctx, size_t n, size_t size);   /* zeroed; checks n*size overflow */
void *dt_realloc(duet_ctx *ctx, void *p, size_t size);   /* NULL on failure, p kept */
void dt_free(duet_ctx *ctx, void *p);
char *dt_strdup(duet_ctx *ctx, const char *s);
char *dt_strndup(duet_ctx *ctx, const char *s, size_t n);
/* *out = a*b; returns 0 on overflow. */
static inline int dt_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}
/* Allocation helpers that also fill err with "what: out of memory (N bytes)". */
/* "12.5 GiB", "300 MiB", "4 KiB" */
void dt_human_bytes(char *b, size_t cap, double bytes);
/* DUET_ENOMEM with a message that says how much `what` needs (and the limit, when it is over it). */
int dt_err_nomem(const duet_ctx *ctx, duet_err *err, const char *what, size_t bytes);
void *dt_alloc_e(duet_ctx *ctx, size_t n, size_t size, const char *what, duet_err *err);
/* Grows an array to hold at least `need` elements of `size`; doubles capacity. */
int dt_grow(duet_ctx *ctx, void **p, size_t *cap, size_t need, size_t size, duet_err *err);

/* --- string pool: many small strings freed together ---------------------------------------- */

typedef struct dt_pool_block dt_pool_block;
typedef struct dt_pool {
    duet_ctx *ctx;
    dt_pool_block *head;
} dt_pool;

void dt_pool_init(dt_pool *pool, duet_ctx *ctx);
/* Copies n bytes of s and a NUL; NULL on failure. */
char *dt_pool_strndup(dt_pool *pool, const char *s, size_t n);
char *dt_pool_strdup(dt_pool *pool, const char *s);
void *dt_pool_alloc(dt_pool *pool, size_t size); /* 16-byte aligned */
void dt_pool_clear(dt_pool *pool);

/* --- random numbers: xoshiro256** seeded by splitmix64 -------------------------------------- */

typedef struct dt_rng {
    uint64_t s[4];
} dt_rng;

void dt_rng_seed(dt_rng *r, uint64_t seed);
uint64_t dt_rng_u64(dt_rng *r);
uint64_t dt_rng_below(dt_rng *r, uint64_t n);      /* uniform in [0, n), n > 0 */
double dt_rng_uniform(dt_rng *r);                  /* [0, 1) */
double dt_rng_normal(dt_rng *r);                   /* standard normal */
void dt_rng_shuffle(dt_rng *r, int64_t *a, int64_t n);

/* --- logging and abort ---------------------------------------------------------------------- */

void dt_log(const duet_ctx *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* DUET_ECANCELLED with a message when the abort hook says stop, else DUET_OK. */
int dt_check_abort(const duet_ctx *ctx, const char *where, duet_err *err);
/* Seconds on a monotonic clock. */
double dt_now(void);

/* --- numbers -------------------------------------------------------------------------------- */

/* Parses all of s[0..n) as strtod would (the same double, bit for bit) into *out; returns 1,
 * or 0 when strtod would not consume exactly s[0..n). Plain decimals of up to 19 significant
 * digits take an exact fast path; the rest go through strtod. */
int dt_parse_double(const char *s, size_t n, double *out);

/* --- threads -------------------------------------------------------------------------------- */

/* The index of the first of v[0..n) outside [lo, hi] (NaN is outside), or n when none is. */
size_t dt_first_outside(const float *v, size_t n, float lo, float hi);
static inline int dt_threads(const duet_ctx *ctx) { return ctx && ctx->n_threads > 0 ? ctx->n_threads : 1; }

#endif /* DT_H */
