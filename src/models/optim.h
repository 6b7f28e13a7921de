/* optim.h — the smooth optimisers of the linear models: L-BFGS, with the OWL-QN extension
 * for an L1 term (Andrew & Gao 2007), so that L2- and L1-regularised objectives reach their
 * optimum with the same code; and a trust-region Newton method (TRON: Lin, Weng & Keerthi
 * 2008, the solver of LIBLINEAR's primal L2 logistic regression) for smooth objectives whose
 * Hessian-vector products are cheap, where few iterations of a few cheap products beat
 * L-BFGS's 4 x memory vector passes per iteration over many weights.
 * defines: dt_fg_fn (objective and gradient callback), dt_hv_fn / dt_hdiag_fn (Hessian
 * callbacks), dt_opt (settings and result), dt_lbfgs, dt_tron.
 */
#ifndef DT_OPTIM_H
#define DT_OPTIM_H

#include "../core/dt.h"

/* The callbacks return DUET_OK, or a status with err set (a failed sum across processes); the
 * optimiser then stops with that status. */
/* *f = the smooth part f(w), and its gradient into g (n). */
typedef int (*dt_fg_fn)(void *user, const double *w, double *g, double *f, duet_err *err);
/* hv = H v, the Hessian of f at the point of the latest fg call (n values). */
typedef int (*dt_hv_fn)(void *user, const double *v, double *hv, duet_err *err);
/* The (positive) diagonal of that Hessian, for preconditioning (n values). */
typedef int (*dt_hdiag_fn)(void *user, double *diag, duet_err *err);

typedef struct dt_opt {
    double l1;        /* weight of the non-smooth term l1 * ||w||_1 (0: plain L-BFGS) */
    double tol;       /* stop when ||pseudo-gradient|| <= tol * ||pseudo-gradient at start||,
                         or when ten iterations lowered the objective by less than tol/100 of it */
    int max_iter;     /* iterations (L-BFGS: each one line search; TRON: each one Newton step) */
    int memory;       /* correction pairs kept, e.g. 10 */
    const char *what; /* for log lines and messages */
    int quiet;        /* 1: no log lines (fits inside a hyperparameter search) */
    const double *precond; /* optional (n): a positive diagonal that approximates the inverse
                         Hessian's shape (Jacobi preconditioning); NULL: the identity */
    double *work;     /* optional scratch of dt_opt_work(n, memory) doubles, reused across
                         calls (saves page faults on large n); NULL: allocated per call */
    /* results */
    int iters;
    int inner;        /* TRON: conjugate-gradient steps (Hessian-vector products) in all */
    double f;         /* final objective, l1 term included */
    double gnorm;     /* final pseudo-gradient norm, relative to the start */
} dt_opt;

/* Doubles of scratch for n unknowns: dt_tron (newton 1) or dt_lbfgs keeping `memory` pairs. */
static inline size_t dt_opt_work(int64_t n, int memory, int newton) {
    return (size_t)n * (size_t)(newton ? 9 : 5 + 2 * (memory > 0 ? memory : 10));
}

/* Minimises f(w) + l1 * ||w||_1 from the w given (n values). Fails only on allocation or
 * cancellation or a failed callback; not converging within max_iter is logged, not an error. */
int dt_lbfgs(duet_ctx *ctx, int64_t n, double *w, dt_fg_fn fg, void *user, dt_opt *o,
             duet_err *err);

/* Minimises the smooth f(w) from the w given by trust-region Newton steps, each solved
 * approximately by conjugate gradients preconditioned with the Hessian's diagonal (hdiag may
 * be NULL: no preconditioning). Stops on the same gradient test as dt_lbfgs (o->l1, memory
 * and precond are not used). Fails only on allocation, cancellation or a failed callback. */
int dt_tron(duet_ctx *ctx, int64_t n, double *w, dt_fg_fn fg, dt_hv_fn hv, dt_hdiag_fn hdiag, void *user,
            dt_opt *o, duet_err *err);

#endif /* DT_OPTIM_H */
