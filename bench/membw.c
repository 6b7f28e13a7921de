/* membw.c — the machine's memory read bandwidth, for the generation benchmark's bound: sums a
 * 1 GiB float array with every thread (OpenMP), best of 5 passes; prints GB/s.
 * Build: cc -O2 -mavx2 -fopenmp bench/membw.c -o build/bench/membw
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    size_t n = (size_t)1 << 28; /* 1 GiB of floats */
    float *a = malloc(n * sizeof *a);
    if (!a) return 1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e9, sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now(), s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i += 8)
            s += a[i] + a[i + 1] + a[i + 2] + a[i + 3] + a[i + 4] + a[i + 5] + a[i + 6] + a[i + 7];
        double dt = now() - t0;
        sink += s;
        if (dt < best) best = dt;
    }
    printf("%.2f\n", (double)(n * sizeof *a) / best / 1e9);
    free(a);
    return sink == 0.5; /* keeps the sums alive */
}
