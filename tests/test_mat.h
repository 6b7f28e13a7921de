/* test_mat.h — test helpers for feature matrices: a CSR copy of a dense array (malloc'd, as
 * tests build matrices by hand) and its release. Needs src/ on the include path. */
#ifndef DT_TEST_MAT_H
#define DT_TEST_MAT_H

#include <stdlib.h>

#include "data/data.h"

static inline dt_mat t_to_csr(const float *x, int64_t N, int64_t D) {
    dt_mat m = {N, D, NULL, calloc((size_t)N + 1, sizeof(int64_t)), calloc((size_t)(N * D) + 1, sizeof(int32_t)),
                calloc((size_t)(N * D) + 1, sizeof(float)), 0};
    int64_t p = 0;
    for (int64_t i = 0; i < N; i++) {
        for (int64_t j = 0; j < D; j++)
            if (x[i * D + j] != 0) {
                m.col[p] = (int32_t)j;
                m.val[p++] = x[i * D + j];
            }
        m.rowptr[i + 1] = p;
    }
    return m;
}

static inline void t_free_csr(dt_mat *m) {
    free(m->rowptr);
    free(m->col);
    free(m->val);
}

#endif
