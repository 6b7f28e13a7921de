/* optim.h — the one smooth optimiser of the linear models: L-BFGS, with the OWL-QN extension
 * for an L1 term (Andrew & Gao 2007), so that L2- and L1-regularised objectives reach their
 * optimum with the same code.
 * defines: dt_fg_fn (objective and gradient callback), dt_opt (settings and result), dt_lbfgs.
 */
#ifndef DT_OPTIM_H
#define DT_OPTIM_H

#include "../core/dt.h"

/* Returns the smooth part f(w) and writes its gradient g (n). */
typedef double (*dt_fg_fn)(void *user, const double *w, double *g);

typedef struct dt_opt {
    double l1;        /* weight of the non-smooth term l1 * ||w||_1 (0: plain L-BFGS) */
    double tol;       /* stop when ||pseudo-gradient|| <= tol * ||pseudo-gradient at start||,
                         or when ten iterations lowered the objective by less than tol/100 of it */
    int max_iter;     /* iterations (each one line search) */
    int memory;       /* correction pairs kept, e.g. 10 */
    const char *what; /* for log lines and messages */
    int quiet;        /* 1: no log lines (fits inside a hyperparameter search) */
    const double *precond; /* optional (n): a positive diagonal that approximates the inverse
                         Hessian's shape (Jacobi preconditioning); NULL: the identity */
    double *work;     /* optional scratch of dt_lbfgs_work(n, memory) doubles, reused across
                         calls (saves page faults on large n); NULL: allocated per call */
    /* results */
    int iters;
    double f;         /* final objective, l1 term included */
    double gnorm;     /* final pseudo-gradient norm, relative to the start */
} dt_opt;

/* Doubles of scratch dt_lbfgs needs for n unknowns and `memory` pairs. */
static inline size_t dt_lbfgs_work(int64_t n, int memory) { return (size_t)n * (size_t)(5 + 2 * (memory > 0 ? memory : 10)); }

/* Minimises f(w) + l1 * ||w||_1 from the w given (n values). Fails only on allocation or
 * cancellation; not converging within max_iter is logged, not an error. */
int dt_lbfgs(duet_ctx *ctx, int64_t n, double *w, dt_fg_fn fg, void *user, dt_opt *o,
             duet_err *err);

#endif /* DT_OPTIM_H */
