/* fuzz.h — what the libFuzzer targets share: one quiet context, and inputs written to files
 * for the readers that take paths. Each target feeds its bytes to one reader and, when the
 * reader accepts them, uses what it read (featurize, fit, predict, generate), since a reader
 * that says yes to a lie is as much a bug as one that crashes.
 * Built by tools/fuzz.sh with clang -fsanitize=fuzzer,address,undefined.
 */
#ifndef DUET_FUZZ_H
#define DUET_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline duet_ctx *fuzz_ctx(void) {
    static duet_ctx *ctx;
    if (!ctx) {
        duet_err e;
        if (duet_ctx_new(&ctx, &e)) abort();
        duet_ctx_set_threads(ctx, 1);
        duet_ctx_set_mem_limit(ctx, (size_t)1 << 30); /* past that, work is refused up front */
    }
    return ctx;
}

/* Writes p[0..n) to a file of this process named by tag; returns its path (static). */
static inline const char *fuzz_file(const char *tag, const uint8_t *p, size_t n) {
    static char paths[4][256];
    static int k;
    char *path = paths[k++ & 3];
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, 256, "%s/duet-fuzz-%d-%s", dir, (int)getpid(), tag);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
    return path;
}

/* Splits an input in two at the offset its first two bytes give (for readers of two files). */
static inline void fuzz_split(const uint8_t *d, size_t n, const uint8_t **a, size_t *na, const uint8_t **b, size_t *nb) {
    size_t at = n >= 2 ? ((size_t)d[0] | (size_t)d[1] << 8) : 0;
    d += n >= 2 ? 2 : n, n -= n >= 2 ? 2 : n;
    if (at > n) at = n;
    *a = d, *na = at, *b = d + at, *nb = n - at;
}

/* What a user does with data a reader accepted: fit `model` (the parameters beside it fixed so
 * that nothing is cross-validated) and predict the same rows. */
/* What a user does with a model of a table: one row of its columns (every cell "1", then every
 * cell missing) predicted, explained and, for trees, ranked by importance. */
static inline void fuzz_use_table_model(duet_model *m) {
    duet_ctx *ctx = fuzz_ctx();
    duet_err e;
    int64_t C = duet_model_table_columns(m);
    if (C < 1 || C > 4096 || !(duet_model_caps(m) & DUET_CAN_PREDICT)) return;
    const char **cells = calloc((size_t)C, sizeof *cells), **names = calloc((size_t)C, sizeof *names);
    int K = duet_model_classes(m);
    float *P = calloc((size_t)(K > 0 ? K : 1), sizeof *P);
    duet_feature f[4];
    int nf = 0;
    for (int pass = 0; cells && names && P && pass < 2; pass++) {
        for (int64_t c = 0; c < C; c++) cells[c] = pass ? "" : "1", names[c] = duet_model_table_column(m, c);
        duet_data *d = NULL;
        if (duet_data_from_table(ctx, "row", names, C, cells, 1, NULL, &d, &e) != DUET_OK) continue;
        int32_t lab = 0;
        double v;
        int ok = K > 0 ? duet_model_predict(ctx, m, d, &lab, P, &e) == DUET_OK : duet_model_predict_values(ctx, m, d, &v, &e) == DUET_OK;
        if (ok && (duet_model_caps(m) & DUET_CAN_EXPLAIN)) duet_model_explain(ctx, m, d, 0, K > 0 ? lab : 0, f, 4, &nf, &e);
        duet_model_importance(ctx, m, pass, f, 4, &nf, &e);
        duet_data_free(d);
    }
    free(cells);
    free(names);
    free(P);
}

static inline void fuzz_fit_predict(const duet_data *d, const char *model, double C, double alpha) {
    duet_ctx *ctx = fuzz_ctx();
    duet_train_params p = duet_train_params_default();
    p.model = model;
    p.C = C, p.alpha = alpha;
    p.max_iter = 20;
    duet_model *m = NULL;
    duet_err e;
    if (duet_model_train(ctx, d, &p, &m, &e) != DUET_OK) return;
    int32_t *lab = calloc((size_t)duet_data_rows(d) + 1, sizeof *lab);
    if (lab) duet_model_predict(ctx, m, d, lab, NULL, &e);
    free(lab);
    duet_model_free(m);
}

#endif
