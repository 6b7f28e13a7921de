/* linalg.c — Jacobi eigenvalues and the Fréchet distance (see linalg.h). */
#include "linalg.h"

#include <math.h>

void dt_eig_sym(double *A, int n, double *w, double *V) {
    if (V)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) V[(size_t)i * (size_t)n + (size_t)j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double a = A[(size_t)i * (size_t)n + (size_t)j];
                if (i != j) off += a * a;
                else diag += a * a;
            }
        if (off <= 1e-30 * (diag > 0 ? diag : 1.0)) break;
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = A[(size_t)p * (size_t)n + (size_t)q];
                if (apq == 0.0) continue;
                double app = A[(size_t)p * (size_t)n + (size_t)p], aqq = A[(size_t)q * (size_t)n + (size_t)q];
                double theta = (aqq - app) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p and q */
                    double akp = A[(size_t)k * (size_t)n + (size_t)p], akq = A[(size_t)k * (size_t)n + (size_t)q];
                    A[(size_t)k * (size_t)n + (size_t)p] = c * akp - s * akq;
                    A[(size_t)k * (size_t)n + (size_t)q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p and q */
                    double apk = A[(size_t)p * (size_t)n + (size_t)k], aqk = A[(size_t)q * (size_t)n + (size_t)k];
                    A[(size_t)p * (size_t)n + (size_t)k] = c * apk - s * aqk;
                    A[(size_t)q * (size_t)n + (size_t)k] = s * apk + c * aqk;
                }
                if (V)
                    for (int k = 0; k < n; k++) {
                        double vkp = V[(size_t)k * (size_t)n + (size_t)p], vkq = V[(size_t)k * (size_t)n + (size_t)q];
                        V[(size_t)k * (size_t)n + (size_t)p] = c * vkp - s * vkq;
                        V[(size_t)k * (size_t)n + (size_t)q] = s * vkp + c * vkq;
                    }
            }
    }
    for (int i = 0; i < n; i++) w[i] = A[(size_t)i * (size_t)n + (size_t)i];
    /* ascending order, vectors alongside */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && w[j - 1] > w[j]; j--) {
            double t = w[j];
            w[j] = w[j - 1];
            w[j - 1] = t;
            if (V)
                for (int k = 0; k < n; k++) {
                    double *r = V + (size_t)k * (size_t)n;
                    t = r[j];
                    r[j] = r[j - 1];
                    r[j - 1] = t;
                }
        }
}

int dt_frechet(duet_ctx *ctx, const double *mu1, const double *S1, const double *mu2, const double *S2, int d,
               double *out, duet_err *err) {
    size_t dd = (size_t)d * (size_t)d;
    double *A = dt_alloc_e(ctx, dd, sizeof(double), "frechet", err);
    double *V = dt_alloc_e(ctx, dd, sizeof(double), "frechet", err);
    double *R = dt_alloc_e(ctx, dd, sizeof(double), "frechet", err);
    double *T = dt_alloc_e(ctx, dd, sizeof(double), "frechet", err);
    double *w = dt_alloc_e(ctx, (size_t)d, sizeof(double), "frechet", err);
    int rc = DUET_OK;
    if (!A || !V || !R || !T || !w) {
        rc = DUET_ENOMEM;
        goto done;
    }
    /* R = S1^1/2 = V diag(sqrt(w)) V^T */
    memcpy(A, S1, dd * sizeof(double));
    dt_eig_sym(A, d, w, V);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0.0;
            for (int k = 0; k < d; k++) s += V[(size_t)i * d + k] * sqrt(w[k] > 0 ? w[k] : 0) * V[(size_t)j * d + k];
            R[(size_t)i * d + j] = s;
        }
    /* A = R S2 R (symmetric PSD); tr((S1^1/2 S2 S1^1/2)^1/2) = sum of sqrt of its eigenvalues */
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0.0;
            for (int k = 0; k < d; k++) s += R[(size_t)i * d + k] * S2[(size_t)k * d + j];
            T[(size_t)i * d + j] = s;
        }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0.0;
            for (int k = 0; k < d; k++) s += T[(size_t)i * d + k] * R[(size_t)k * d + j];
            A[(size_t)i * d + j] = s;
        }
    for (int i = 0; i < d; i++) /* symmetrise away rounding */
        for (int j = 0; j < i; j++) A[(size_t)i * d + j] = A[(size_t)j * d + i] = 0.5 * (A[(size_t)i * d + j] + A[(size_t)j * d + i]);
    dt_eig_sym(A, d, w, NULL);
    double tr = 0.0, m2 = 0.0;
    for (int i = 0; i < d; i++) {
        tr += S1[(size_t)i * d + i] + S2[(size_t)i * d + i] - 2.0 * sqrt(w[i] > 0 ? w[i] : 0);
        m2 += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
    }
    *out = m2 + tr;
done:
    dt_free(ctx, A);
    dt_free(ctx, V);
    dt_free(ctx, R);
    dt_free(ctx, T);
    dt_free(ctx, w);
    return rc;
}
