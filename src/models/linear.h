/* linear.h — what logistic regression and the linear SVM share: a stack of weight vectors over
 * the features plus a bias, their decision values, explanations, and their storage.
 * defines: dt_linear (the state of both models) and the dt_linear_* functions that fill the
 * ops slots the two models have in common (explain, feature_weights, save, load, free).
 */
#ifndef DT_LINEAR_H
#define DT_LINEAR_H

#include "model.h"

typedef struct dt_linear {
    int V;          /* weight vectors: 1 for two classes (the vector of class 1), else K */
    int64_t D;      /* features; each vector holds D weights then the bias */
    double *W;      /* (V, D+1) */
    int softmax;    /* 1: multinomial (probabilities by softmax), 0: one vector per class */
    double *platt;  /* (V, 2) sigmoid A, B of the decision value (SVM), or NULL */
} dt_linear;

int dt_linear_new(duet_ctx *ctx, int V, int64_t D, dt_linear **out, duet_err *err);
/* z (N, V) = X W^T + b */
void dt_linear_decision(const dt_linear *l, const dt_mat *X, double *z);
int dt_linear_explain(duet_ctx *ctx, const duet_model *m, const dt_mat *X, int64_t i, int k,
                      int64_t *feat, double *val, int64_t *n, duet_err *err);
int dt_linear_weights(duet_ctx *ctx, const duet_model *m, int k, double *val, duet_err *err);
int dt_linear_save(const duet_model *m, dt_st_writer *w, duet_err *err);
int dt_linear_load(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err);
void dt_linear_free(duet_ctx *ctx, void *state);

/* The logistic regression objective at w (logreg.c), for tests: K = 1 for a binary vector
 * (+1 where y == pos) of D+1 weights, else the softmax over K vectors; l2 = 0 adds ||w||_1
 * to f instead of 0.5||w||^2, and g is then the gradient of the smooth part only. */
int dt_logreg_objective(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int K, int pos,
                        double C, int l2, const double *w, double *g, double *f, duet_err *err);
/* For tests as well: the L2 objective's Hessian at w times v into hv, and its diagonal into
 * diag (either output may be NULL); the same problem arguments as above. */
int dt_logreg_hessian(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int K, int pos,
                      double C, const double *w, const double *v, double *hv, double *diag, duet_err *err);

/* The linear SVM's primal, 0.5||w||^2 + C sum_i s_i max(0, 1 - y_i w.x_i)^2 with y_i = +1 where
 * y == pos, minimised into w (D+1, bias last; the data terms added across the processes of a
 * data-parallel run) by trust-region Newton to a relative gradient of tol (logreg.c). */
int dt_svm_primal(duet_ctx *ctx, const dt_mat *X, const int32_t *y, const double *sw, int pos, double C, double tol,
                  int max_iter, int verbose, double *w, duet_err *err);

/* Row i of the problem as +1/-1 for a one-vs-rest vector v (V == 1: class 1 is positive). */
static inline int dt_linear_sign(int V, int v, int32_t y) { return (V == 1 ? y == 1 : y == v) ? 1 : -1; }

#endif /* DT_LINEAR_H */
