/* xgb_row.c — XGBoost's one-row prediction latency through its C API, for bench/gbdt.sh: what
 * bench/predict_row.c measures for duet, without the ~60 us that Python's inplace_predict spends
 * around the same call. Needs libxgboost-dev (Debian's, the same 1.7 as python3-xgboost).
 * usage: xgb_row MODEL.json ROW.f32 [REPS]
 *   ROW.f32: one row of float32 values, one per feature (category codes for categorical columns,
 *   NaN for missing), as bench/gbdt_peer.py eval writes it.
 * Prints "row_us X": XGBoosterPredictFromDense on that row, nthread 1, median of REPS calls
 * (default 20000), each timed alone.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <xgboost/c_api.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define CHECK(call)                                                                  \
    do {                                                                             \
        if ((call) != 0) {                                                           \
            fprintf(stderr, "xgb_row: %s: %s\n", #call, XGBGetLastError());          \
            return 1;                                                                \
        }                                                                            \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: xgb_row MODEL.json ROW.f32 [REPS]\n");
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 20000;
    if (reps < 1) reps = 20000;
    float row[4096];
    FILE *f = fopen(argv[2], "rb");
    int cols = f ? (int)fread(row, sizeof *row, sizeof row / sizeof *row, f) : 0;
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t || cols < 1) {
        fprintf(stderr, "xgb_row: cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    BoosterHandle b;
    CHECK(XGBoosterCreate(NULL, 0, &b));
    CHECK(XGBoosterLoadModel(b, argv[1]));
    CHECK(XGBoosterSetParam(b, "nthread", "1"));
    char arr[256];
    snprintf(arr, sizeof arr, "{\"data\": [%llu, true], \"shape\": [1, %d], \"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)row, cols);
    const char *conf = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                       "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *out;
    CHECK(XGBoosterPredictFromDense(b, arr, conf, NULL, &shape, &dim, &out));
    float first = out[0];
    for (int r = 0; r < 200; r++) CHECK(XGBoosterPredictFromDense(b, arr, conf, NULL, &shape, &dim, &out));
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        XGBoosterPredictFromDense(b, arr, conf, NULL, &shape, &dim, &out);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    printf("row_us %.3f\nrow_pred %.6g\n", 1e6 * t[reps / 2], (double)first);
    XGBoosterFree(b);
    free(t);
    return 0;
}
