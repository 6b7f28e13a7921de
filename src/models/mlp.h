/* mlp.h — internals of the MLP classifier (mlp.c) exposed for tests.
 * defines: the parameter layout of a network and dt_mlp_loss_grad, the loss and its analytic
 * gradient on a batch of rows, which the gradient check compares with finite differences.
 *
 * A network has nw = hidden layers + 1 weight matrices; size[0] = D inputs, size[1..nw-1]
 * hidden units, size[nw] = K classes. Parameters are one float array: for l = 0..nw-1,
 * W_l (size[l], size[l+1]) row-major then b_l (size[l+1]). Hidden layers use ReLU, the
 * output a softmax. The loss is the sample-weighted mean cross-entropy
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
 * as theta). */
int dt_mlp_loss_grad(duet_ctx *ctx, const int64_t *size, int nw, const float *theta, const dt_mat *X,
                     const int64_t *rows, int64_t B, const int32_t *y, const double *sw, double l2,
                     double *loss, float *grad, duet_err *err);

#endif /* DT_MLP_H */
