/* fit_time.c — duet's naive Bayes fit timed in-process as scikit-learn's fit() is in
 * bench/peer_sklearn.py: the data read once, then RUNS fits, the median printed (seconds). The
 * first fit of a process pays for fresh pages that later ones reuse, as Python's do.
 * usage: fit_time FILE ALPHA [RUNS]     (multinomial naive Bayes on a LIBSVM file of counts)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "duet.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: fit_time FILE ALPHA [RUNS]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (runs < 1 || runs > 1000) runs = 5;
    duet_ctx *ctx = NULL;
    duet_data *d = NULL;
    duet_err e;
    if (duet_ctx_new(&ctx, NULL) || duet_data_load(ctx, argv[1], NULL, &d, &e)) {
        fprintf(stderr, "fit_time: %s\n", ctx ? e.msg : "no context");
        return 1;
    }
    duet_train_params p = duet_train_params_default();
    p.model = "nb";
    p.nb_kind = DUET_NB_MULTINOMIAL;
    p.alpha = atof(argv[2]);
    double t[1000];
    for (int i = 0; i < runs; i++) {
        duet_model *m = NULL;
        double t0 = now();
        if (duet_model_train(ctx, d, &p, &m, &e)) {
            fprintf(stderr, "fit_time: %s\n", e.msg);
            return 1;
        }
        t[i] = now() - t0;
        duet_model_free(m);
    }
    qsort(t, (size_t)runs, sizeof *t, cmp);
    printf("%.6f\n", t[runs / 2]);
    duet_data_free(d);
    duet_ctx_free(ctx);
    return 0;
}
