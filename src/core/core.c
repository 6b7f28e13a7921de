/* core.c — errors, checked allocation through the context, the string pool, random numbers,
 * logging, the abort check and decimal number parsing. Not here: anything about data or models.
 * References: xoshiro256** and splitmix64 (Blackman & Vigna 2018, "Scrambled linear
 * pseudorandom number generators"); Box-Muller transform for normals; the exact fast path
 * of decimal-to-binary conversion (Clinger 1990, "How to read floating point numbers
 * accurately": an integer below 2^53 times or divided by an exact power of ten <= 1e22 is
 * one correctly rounded operation).
 */
#define _POSIX_C_SOURCE 200809L
#include "dt.h"

#include <math.h>
#include <time.h>

// --- errors ----------------------------------------------------------------------------------

int dt_err(duet_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int dt_err_prefix(duet_err *err, int code, const char *fmt, ...) {
    if (!err) return code;
    char prefix[256], old[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    snprintf(err->msg, sizeof err->msg, "%.120s: %.130s", prefix, old);
    if (err->code == DUET_OK) err->code = code;
    return err->code;
}

void dt_assert_fail(const char *what, const char *file, int line) {
    fprintf(stderr, "duet: internal error: assertion '%s' failed at %s:%d\n", what, file, line);
    abort();
}

// --- allocation ------------------------------------------------------------------------------

void *dt_alloc(duet_ctx *ctx, size_t size) {
    if (size == 0 || (ctx && ctx->mem_limit && size > ctx->mem_limit)) return NULL;
    if (ctx && ctx->alloc) return ctx->alloc(ctx->alloc_user, NULL, size);
    return malloc(size);
}

void *dt_calloc(duet_ctx *ctx, size_t n, size_t size) {
    size_t total;
    if (!dt_mul_ok(n, size, &total) || total == 0) return NULL;
    if (!(ctx && ctx->alloc)) /* the C library's: fresh pages come zeroed, untouched until used */
        return ctx && ctx->mem_limit && total > ctx->mem_limit ? NULL : calloc(n, size);
    void *p = dt_alloc(ctx, total);
    if (p) memset(p, 0, total);
    return p;
}

void *dt_realloc(duet_ctx *ctx, void *p, size_t size) {
    if (size == 0 || (ctx && ctx->mem_limit && size > ctx->mem_limit)) return NULL;
    if (ctx && ctx->alloc) return ctx->alloc(ctx->alloc_user, p, size);
    return realloc(p, size);
}

void dt_free(duet_ctx *ctx, void *p) {
    if (!p) return;
    if (ctx && ctx->alloc) {
        ctx->alloc(ctx->alloc_user, p, 0);
        return;
    }
    free(p);
}

char *dt_strndup(duet_ctx *ctx, const char *s, size_t n) {
    char *d = dt_alloc(ctx, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *dt_strdup(duet_ctx *ctx, const char *s) { return dt_strndup(ctx, s, strlen(s)); }

void *dt_alloc_e(duet_ctx *ctx, size_t n, size_t size, const char *what, duet_err *err) {
    size_t total;
    if (!dt_mul_ok(n, size, &total)) {
        dt_err(err, DUET_ERANGE, "%s: size %zu x %zu overflows", what, n, size);
        return NULL;
    }
    void *p = dt_calloc(ctx, total ? total : 1, 1);
    if (!p) dt_err_nomem(ctx, err, what, total);
    return p;
}

void dt_human_bytes(char *b, size_t cap, double v) {
    const char *u[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    snprintf(b, cap, i ? "%.3g %s" : "%.0f %s", v, u[i]);
}

int dt_reduce(const duet_ctx *ctx, double *buf, size_t n, duet_err *err) {
    if (!dt_distributed(ctx) || n == 0) return DUET_OK;
    if (ctx->reduce(ctx->reduce_user, buf, n))
        return dt_err(err, DUET_EIO, "combining %zu sums across %d processes failed", n, ctx->dist_size);
    return DUET_OK;
}

int dt_reduce_f32(const duet_ctx *ctx, float *v, size_t n, double *tail, double *buf, duet_err *err) {
    if (!dt_distributed(ctx)) return DUET_OK;
    for (size_t j = 0; j < n; j++) buf[j] = v[j];
    size_t m = n;
    if (tail) buf[m++] = *tail;
    int rc = dt_reduce(ctx, buf, m, err);
    if (rc) return rc;
    for (size_t j = 0; j < n; j++) v[j] = (float)buf[j];
    if (tail) *tail = buf[n];
    return DUET_OK;
}

int dt_reduce_count(const duet_ctx *ctx, int64_t *n, duet_err *err) {
    double t = (double)*n;
    int rc = dt_reduce(ctx, &t, 1, err);
    if (!rc) *n = (int64_t)(t + 0.5);
    return rc;
}

int dt_err_nomem(const duet_ctx *ctx, duet_err *err, const char *what, size_t bytes) {
    char need[32], lim[32];
    dt_human_bytes(need, sizeof need, (double)bytes);
    if (ctx && ctx->mem_limit && bytes > ctx->mem_limit) {
        dt_human_bytes(lim, sizeof lim, (double)ctx->mem_limit);
        return dt_err(err, DUET_ENOMEM, "%s: needs %s, more than the %s allowed (the memory limit: the machine's memory unless set lower)",
                      what, need, lim);
    }
    return dt_err(err, DUET_ENOMEM, "%s: out of memory (needs %s)", what, need);
}

int dt_grow(duet_ctx *ctx, void **p, size_t *cap, size_t need, size_t size, duet_err *err) {
    if (need <= *cap) return DUET_OK;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return dt_err(err, DUET_ERANGE, "array size overflows");
        ncap *= 2;
    }
    size_t bytes;
    if (!dt_mul_ok(ncap, size, &bytes)) return dt_err(err, DUET_ERANGE, "array size overflows");
    void *np = dt_realloc(ctx, *p, bytes);
    if (!np) return dt_err_nomem(ctx, err, "array", bytes);
    *p = np;
    *cap = ncap;
    return DUET_OK;
}

// --- string pool -----------------------------------------------------------------------------

struct dt_pool_block {
    dt_pool_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void dt_pool_init(dt_pool *pool, duet_ctx *ctx) {
    pool->ctx = ctx;
    pool->head = NULL;
}

/* size bytes at a multiple of align (a power of two, at most 16) from the pool. */
static void *pool_take(dt_pool *pool, size_t size, size_t align) {
    if (size == 0) size = 1;
    if (size > SIZE_MAX - 16) return NULL;
    dt_pool_block *b = pool->head;
    size_t at = b ? (b->used + align - 1) & ~(align - 1) : 0;
    if (!b || at > b->cap || b->cap - at < size) {
        size_t cap = size > 65536 ? size : 65536;
        if (cap > SIZE_MAX - sizeof(dt_pool_block)) return NULL;
        b = dt_alloc(pool->ctx, sizeof(dt_pool_block) + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = pool->head;
        pool->head = b;
        at = 0;
    }
    b->used = at + size;
    return b->data + at;
}

void *dt_pool_alloc(dt_pool *pool, size_t size) { return pool_take(pool, size, 16); }

char *dt_pool_strndup(dt_pool *pool, const char *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *d = pool_take(pool, n + 1, 1); /* packed: a table of short cells is mostly these */
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *dt_pool_strdup(dt_pool *pool, const char *s) { return dt_pool_strndup(pool, s, strlen(s)); }

void dt_pool_clear(dt_pool *pool) {
    dt_pool_block *b = pool->head;
    while (b) {
        dt_pool_block *n = b->next;
        dt_free(pool->ctx, b);
        b = n;
    }
    pool->head = NULL;
}

// --- random numbers --------------------------------------------------------------------------

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void dt_rng_seed(dt_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t dt_rng_u64(dt_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t dt_rng_below(dt_rng *r, uint64_t n) {
    /* rejection sampling removes the modulo bias */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = dt_rng_u64(r);
    while (x >= limit);
    return x % n;
}

double dt_rng_uniform(dt_rng *r) { return (double)(dt_rng_u64(r) >> 11) * 0x1.0p-53; }

double dt_rng_normal(dt_rng *r) {
    double u1 = dt_rng_uniform(r), u2 = dt_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void dt_rng_shuffle(dt_rng *r, int64_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)dt_rng_below(r, (uint64_t)i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

// --- logging and abort -----------------------------------------------------------------------

void dt_log(const duet_ctx *ctx, int level, const char *fmt, ...) {
    if (!ctx || !ctx->log) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_user, level, buf);
}

int dt_check_abort(const duet_ctx *ctx, const char *where, duet_err *err) {
    if (ctx && ctx->abort_fn && ctx->abort_fn(ctx->abort_user))
        return dt_err(err, DUET_ECANCELLED, "%s: cancelled", where);
    return DUET_OK;
}

double dt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// --- numbers -------------------------------------------------------------------------------

int dt_parse_double(const char *s, size_t n, double *out) {
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    uint64_t m = 0;
    int digits = 0, any = 0; /* significant digits kept in m; any digit seen */
    int64_t e = 0;           /* decimal exponent of m */
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = 1) {
        if (m || s[i] != '0') digits++;
        if (digits > 19) goto slow;
        m = m * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = 1) {
            if (m || s[i] != '0') digits++;
            if (digits > 19) goto slow;
            m = m * 10 + (uint64_t)(s[i] - '0');
            e--;
        }
    if (!any) goto slow; /* "inf", "nan", "0x...", or no number: strtod decides */
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        int eneg = 0;
        int64_t x = 0;
        if (j < n && (s[j] == '-' || s[j] == '+')) eneg = s[j++] == '-';
        if (j == n || s[j] < '0' || s[j] > '9') goto slow;
        for (; j < n && s[j] >= '0' && s[j] <= '9'; j++)
            if (x < 100000) x = x * 10 + (s[j] - '0');
        e += eneg ? -x : x;
        i = j;
    }
    if (i != n) goto slow; /* hex floats and the like, or not a number */
    if (m > ((uint64_t)1 << 53) || e < -22 || e > 22) {
        if (m == 0) { /* zero with any exponent */
            *out = neg ? -0.0 : 0.0;
            return 1;
        }
        goto slow;
    }
    double v = e < 0 ? (double)m / p10[-e] : (double)m * p10[e];
    *out = neg ? -v : v;
    return 1;
slow:;
    char buf[128];
    if (n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end = NULL;
    double x = strtod(buf, &end);
    if (end != buf + n || n == 0) return 0;
    *out = x;
    return 1;
}

size_t dt_first_outside(const float *v, size_t n, float lo, float hi) {
    size_t i = 0;
    for (; i + 64 <= n; i += 64) { /* branch-free blocks the compiler can vectorise */
        int bad = 0;
        for (int t = 0; t < 64; t++) bad |= !(v[i + (size_t)t] >= lo) | !(v[i + (size_t)t] <= hi);
        if (bad) break;
    }
    for (; i < n; i++)
        if (!(v[i] >= lo && v[i] <= hi)) return i;
    return n;
}
