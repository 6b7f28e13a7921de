/* diffusion.h — test hooks of the diffusion model (diffusion.c); the model itself is reached
 * through dt_diffusion_ops (model.h).
 */
#ifndef DT_DIFFUSION_H
#define DT_DIFFUSION_H

#include "model.h"

/* Central differences (float, step 1e-3) against the U-Net's backward pass for the noise-
 * prediction loss of a fixed batch, on a random network for H x W images (multiples of 4),
 * base width C (even) and K classes (0: unconditional). A few parameters of every tensor are
 * checked; *worst <= 1 when every one is within |num - grad| <= 2e-3 + 3e-2 |grad|. */
int dt_diffusion_gradcheck(duet_ctx *ctx, int H, int W, int C, int K, double *worst, duet_err *err);
/* For tests: the variational bound's exact sum over all T steps per row of X (pixels in [0, 1]),
 * as log p(x) >= logp; the model's score estimates it. */
int dt_diffusion_vlb_exact(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *logp, duet_err *err);

#endif /* DT_DIFFUSION_H */
