/* mlp.h — internals of the MLP (mlp.c) exposed for tests.
 * defines: the parameter layout of a network; dt_mlp_loss_grad, the loss and its analytic
 * gradient on a batch of rows, which the gradient check compares with finite differences;
 * dt_mlp_adam_step, one optimizer step as training takes it.
 *
 * A network has nw = hidden layers + 1 weight matrices; size[0] = D inputs, size[1..nw-1]
 * hidden units, size[nw] = K classes. Parameters are one float array: for l = 0..nw-1,
 * W_l (size[l], size[l+1]) row-major then b_l (size[l+1]). Hidden layers use ReLU, the
 * output a softmax (a regressor's: one output as it is, squared error). The loss is the sample-weighted mean cross-entropy
 *   sum_i s_i (-log p_i[y_i]) / sum_i s_i  +  0.5 l2 sum_l ||W_l||^2   (biases not penalised).
 */
#ifndef DT_MLP_H
#define DT_MLP_H

#include "model.h"

#define DT_MLP_MAX_LAYERS 16 /* hidden layers */

/* Number of floats in the parameter array of a network with nw weight matrices. */
size_t dt_mlp_param_count(const int64_t *size, int nw);

/* Loss of rows rows[0..B) of X (dense or CSR, X->D == size[0]) with labels y[rows[i]] and
 * weights sw[rows[i]] (sw may be NULL), and when grad is not NULL its gradient (same layout
 * as theta). A regressor (t not NULL, size[nw] == 1) has one linear output and the loss
 * sum_i s_i (z_i - t[rows[i]])^2 / 2 / sum_i s_i instead (y unused). */
int dt_mlp_loss_grad(duet_ctx *ctx, const int64_t *size, int nw, const float *theta, const dt_mat *X,
                     const int64_t *rows, int64_t B, const int32_t *y, const double *t, const double *sw, double l2,
                     double *loss, float *grad, duet_err *err);

/* One training step on rows rows[0..B), the one mlp training takes: the gradient as above,
 * then Adam (b1 0.9, b2 0.999, eps 1e-8, bias-corrected for step t = 1, 2, ...) with learning
 * rate lr on moments m and v (same layout as theta, zero before step 1). With CSR input it is
 * lazy for W_0: only the rows of W_0 whose feature occurs in the batch (their L2 term
 * included) change, with their moments; every other W_0 row and its moments stay as they are. */
int dt_mlp_adam_step(duet_ctx *ctx, const int64_t *size, int nw, float *theta, float *m, float *v, int64_t t,
                     double lr, const dt_mat *X, const int64_t *rows, int64_t B, const int32_t *y, const double *sw,
                     double l2, duet_err *err);

#endif /* DT_MLP_H */
