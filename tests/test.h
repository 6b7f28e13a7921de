/* test.h — the tiny test harness: CHECK, CHECK_NEAR and CHECK_OK print file:line on failure
 * and count; TEST_MAIN's runner prints "N passed, N failed" and returns non-zero on any
 * failure. Helpers for temporary files, fixtures in ../shared/data and a failing allocator.
 */
#ifndef DT_TEST_H
#define DT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duet.h"

static int t_pass, t_fail, t_skip;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (cond) t_pass++;                                                                  \
        else {                                                                               \
            t_fail++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                                    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                \
    do {                                                                                     \
        double a_ = (double)(a), b_ = (double)(b);                                           \
        if (fabs(a_ - b_) <= (tol)) t_pass++;                                                \
        else {                                                                               \
            t_fail++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %g\n",      \
                    __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol));                      \
        }                                                                                    \
    } while (0)

/* A status call that must succeed; prints the message otherwise. */
#define CHECK_OK(expr)                                                                       \
    do {                                                                                     \
        duet_err e_ = {0, ""};                                                               \
        int rc_ = (expr);                                                                    \
        (void)e_;                                                                            \
        if (rc_ == DUET_OK) t_pass++;                                                        \
        else {                                                                               \
            t_fail++;                                                                        \
            fprintf(stderr, "%s:%d: %s returned %d\n", __FILE__, __LINE__, #expr, rc_);      \
        }                                                                                    \
    } while (0)

/* A status call that must fail with `code` and a message containing `frag`. */
#define CHECK_ERR(expr, errp, code, frag)                                                    \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        if (rc_ == (code) && strstr((errp)->msg, (frag))) t_pass++;                          \
        else {                                                                               \
            t_fail++;                                                                        \
            fprintf(stderr, "%s:%d: %s: want %d '%s', got %d '%s'\n", __FILE__, __LINE__,    \
                    #expr, (code), (frag), rc_, (errp)->msg);                                \
        }                                                                                    \
    } while (0)

#define SKIP(why)                                                                            \
    do {                                                                                     \
        t_skip++;                                                                            \
        fprintf(stderr, "%s:%d: skipped: %s\n", __FILE__, __LINE__, why);                    \
    } while (0)

#define RUN(fn)                                                                              \
    do {                                                                                     \
        int f0_ = t_fail;                                                                    \
        fn();                                                                                \
        fprintf(stderr, "  %-40s %s\n", #fn, t_fail == f0_ ? "ok" : "FAILED");               \
    } while (0)

#define TEST_END()                                                                           \
    do {                                                                                     \
        printf("%d passed, %d failed, %d skipped\n", t_pass, t_fail, t_skip);                \
        return t_fail ? 1 : 0;                                                               \
    } while (0)

/* Writes `s` to a fresh temporary file and returns its path (static buffer per call site). */
static inline char *t_tmpfile(const char *suffix, const char *s, size_t n) {
    static char paths[64][256];
    static int next;
    char *p = paths[next++ % 64];
    snprintf(p, 256, "/tmp/duet_test_%d_%d%s", (int)getpid(), next, suffix ? suffix : "");
    FILE *f = fopen(p, "wb");
    if (!f) return p;
    fwrite(s, 1, n, f);
    fclose(f);
    return p;
}
#define T_TMP(suffix, str) t_tmpfile(suffix, str, strlen(str))

/* A path under /tmp for a file the test writes, its name with the process id (two test runs on
 * one machine do not meet); a static buffer per call site's turn, 16 kept. */
static inline const char *t_path(const char *name) {
    static char paths[16][256];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 256, "/tmp/duet_test_%d_%s", (int)getpid(), name);
    return p;
}

/* Path of a file under ../shared/data (or the project's data/), or NULL when it is missing:
 * the caller skips, saying why. */
static inline const char *t_shared(const char *rel) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    const char *root = getenv("DUET_SHARED_DATA");
    snprintf(p, 512, "%s/%s", root ? root : "../shared/data", rel);
    if (access(p, R_OK) == 0) return p;
    snprintf(p, 512, "data/%s", rel); /* the project ships a few small sets itself */
    return access(p, R_OK) == 0 ? p : NULL;
}

/* Loads the data at path (with o, or the defaults; o->labels_path too) into *out. A file that
 * is missing is a skip, said at file:line; a file that is there and fails to load is a failure,
 * with the reader's message. 1 when loaded. */
#define T_LOAD(ctx, path, o, out) t_load(__FILE__, __LINE__, ctx, path, o, out)
static inline int t_load(const char *file, int line, duet_ctx *ctx, const char *path, const duet_load_opts *o,
                         duet_data **out) {
    *out = NULL;
    const char *miss = !path || access(path, R_OK) != 0 ? path : o && o->labels_path && access(o->labels_path, R_OK) != 0 ? o->labels_path : NULL;
    if (miss || !path) {
        t_skip++;
        fprintf(stderr, "%s:%d: skipped: %s is missing\n", file, line, path ? miss : "a data file");
        return 0;
    }
    duet_load_opts d = duet_load_opts_default();
    duet_err e = {0, ""};
    if (duet_data_load(ctx, path, o ? o : &d, out, &e) != DUET_OK) {
        t_fail++;
        fprintf(stderr, "%s:%d: %s is there but does not load: %s\n", file, line, path, e.msg);
        return 0;
    }
    t_pass++;
    return 1;
}

/* A failing allocator: fails the k-th allocation (1-based) and counts live blocks. */
typedef struct t_failalloc {
    long count, fail_at, live;
} t_failalloc;

static inline void *t_failalloc_fn(void *user, void *ptr, size_t size) {
    t_failalloc *fa = user;
    if (size == 0) {
        if (ptr) fa->live--;
        free(ptr);
        return NULL;
    }
    fa->count++;
    if (fa->fail_at > 0 && fa->count == fa->fail_at) return NULL;
    void *q = realloc(ptr, size);
    if (q && !ptr) fa->live++;
    return q;
}

/* Runs body(ctx, k, err) once with a counting allocator, then again with its k-th allocation
 * failing for every k: each run must end in DUET_OK or DUET_ENOMEM and free every block (body
 * frees what it made). Returns the number of failures seen (0 is good); *total receives the
 * clean run's allocation count. */
static inline long t_each_alloc_failure(int (*body)(duet_ctx *ctx, long k, duet_err *e), long *total) {
    t_failalloc fa = {0, 0, 0};
    long bad = 0;
    *total = 0;
    for (long k = 0;; k++) {
        fa.count = 0;
        fa.fail_at = k; /* 0: count the allocations of a clean run */
        fa.live = 0;
        duet_ctx *ctx = NULL;
        duet_err e = {0, ""};
        if (duet_ctx_new(&ctx, &e)) return bad + 1;
        duet_ctx_set_alloc(ctx, t_failalloc_fn, &fa);
        duet_ctx_set_threads(ctx, 1);
        int rc = body(ctx, k, &e);
        duet_ctx_free(ctx);
        if ((k == 0 && rc != DUET_OK) || (rc != DUET_OK && rc != DUET_ENOMEM)) {
            bad++;
            fprintf(stderr, "allocation %ld failed: got %d '%s'\n", k, rc, e.msg);
        }
        if (fa.live != 0) {
            bad++;
            fprintf(stderr, "allocation %ld failed: %ld blocks leaked\n", k, fa.live);
        }
        if (k == 0) *total = fa.count;
        if (k >= *total) break;
    }
    return bad;
}

#endif
