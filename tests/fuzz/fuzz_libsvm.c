/* fuzz_libsvm.c — the LIBSVM/svmlight reader and, on what it accepts, a logistic regression
 * fit at a fixed C and its predictions (up to 10,000 features: past that a fit of many classes
 * takes seconds under the sanitizers — 29 classes x 55,552 features took 48 s — and the
 * fuzzer stalls; the up-front memory check has its own CLI test). The same bytes are
 * also streamed from a file in 16 KiB blocks (a context with a 256 KiB limit), which must read
 * the same rows and values, or fail with the same message. */
#include "fuzz.h"

#include "data/data.h"

static duet_ctx *small_ctx(void) {
    static duet_ctx *ctx;
    if (!ctx) {
        duet_err e;
        if (duet_ctx_new(&ctx, &e)) abort();
        duet_ctx_set_threads(ctx, 1);
        duet_ctx_set_mem_limit(ctx, (size_t)256 << 10);
    }
    return ctx;
}

/* The streamed read of the same bytes agrees with the whole one (or both fail alike); the
 * whole read fails on allocations the small context refuses, which are not compared. */
static void check_stream(const uint8_t *data, size_t size, const duet_data *whole, const duet_err *we) {
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_LIBSVM;
    o.stream = 1;
    duet_data *s = NULL;
    duet_err e;
    const char *path = fuzz_file("stream.svm", data, size);
    int rc = duet_data_load(small_ctx(), path, &o, &s, &e);
    if (rc == DUET_ENOMEM || (!whole && we->code == DUET_ENOMEM)) {
        duet_data_free(s);
        return;
    }
    if ((rc == DUET_OK) != (whole != NULL)) abort();
    if (!whole) { /* the same message after the file name */
        size_t n = strlen(path), m = strlen("fuzz.svm");
        if (strncmp(e.msg, path, n) != 0 || strncmp(we->msg, "fuzz.svm", m) != 0 || strcmp(e.msg + n, we->msg + m) != 0) abort();
        return;
    }
    if (s->N != whole->N || s->D != whole->D) abort();
    for (int64_t i = 0; i < s->N; i++) {
        if (s->rowptr[i + 1] != whole->rowptr[i + 1]) abort();
        if (strcmp(duet_data_label(s, i), duet_data_label(whole, i)) != 0) abort();
    }
    for (int64_t q = 0; q < s->rowptr[s->N]; q++)
        if (s->col[q] != whole->col[q] || memcmp(&s->val[q], &whole->val[q], sizeof(float)) != 0) abort();
    duet_data_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    duet_ctx *ctx = fuzz_ctx();
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_LIBSVM;
    duet_data *d = NULL;
    duet_err e;
    if (duet_data_load_mem(ctx, "fuzz.svm", (const char *)data, size, &o, &d, &e) != DUET_OK) d = NULL;
    check_stream(data, size, d, &e);
    if (d && d->D <= 10000) fuzz_fit_predict(d, "logreg", 1, 0);
    duet_data_free(d);
    return 0;
}
