/* linalg.h — small dense linear algebra in double: the symmetric eigenproblem and the Fréchet
 * distance between two Gaussians built on it.
 * defines: dt_eig_sym (cyclic Jacobi rotations; accurate for the few-hundred-dimensional
 * covariance matrices duet meets) and dt_frechet.
 */
#ifndef DT_LINALG_H
#define DT_LINALG_H

#include "dt.h"

/* Eigenvalues w (n, ascending) and, when V is not NULL, eigenvectors as V's columns (n, n,
 * row-major) of the symmetric matrix A (n, n, row-major; destroyed). */
void dt_eig_sym(double *A, int n, double *w, double *V);
/* ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2): the Fréchet distance between
 * N(mu1, S1) and N(mu2, S2) (d, d covariances). DUET_ENOMEM on allocation failure. */
int dt_frechet(duet_ctx *ctx, const double *mu1, const double *S1, const double *mu2, const double *S2, int d,
               double *out, duet_err *err);

#endif /* DT_LINALG_H */
