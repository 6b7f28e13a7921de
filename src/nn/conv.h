/* conv.h — image layers with a forward and a backward pass, for the VAE, GAN and diffusion models.
 * defines: 2-D convolution and transposed convolution (PyTorch's Conv2d / ConvTranspose2d with
 * square stride and padding, no dilation, no groups), nearest-neighbour 2x upsampling, group
 * normalisation, point-wise activations and the sinusoidal time embedding.
 *
 * Conventions: images are NCHW float arrays, row-major. Backward functions WRITE dx and ADD into
 * weight gradients (dw, db, dgamma, dbeta). Every blocked or parallel kernel has a plain twin
 * (suffix _ref, direct loops summed in double) that the tests compare it with. Sizes are trusted
 * (internal, not user input). `nth` is the thread count; the fast convolutions take it from ctx.
 * Results do not depend on the thread count.
 */
#ifndef DT_CONV_H
#define DT_CONV_H

#include "../core/dt.h"

typedef struct dt_conv_shape {
    int B, C, H, W; /* input: batch, channels, height, width */
    int K, kh, kw;  /* output channels, kernel size */
    int stride, pad; /* same in both directions */
} dt_conv_shape;

/* --- convolution ------------------------------------------------------------------------------ */

/* Output size of conv2d: Ho = (H + 2 pad - kh) / stride + 1 (same for W). */
void dt_conv_out(const dt_conv_shape *s, int *Ho, int *Wo);
/* Floats of scratch that dt_conv2d_fwd/bwd and dt_convt2d_fwd/bwd (any opad) need for shape s:
 * an im2col buffer plus a partial weight and bias gradient for each of min(B, 8) batch groups. */
size_t dt_conv_work(const dt_conv_shape *s);

/* y (B, K, Ho, Wo) = conv(x (B, C, H, W), w (K, C, kh, kw)) + b (K, may be NULL). */
void dt_conv2d_fwd(const duet_ctx *ctx, const dt_conv_shape *s, const float *x, const float *w, const float *b,
                   float *y, float *work);
void dt_conv2d_fwd_ref(const dt_conv_shape *s, const float *x, const float *w, const float *b, float *y);
/* Given dy (B, K, Ho, Wo): dx (B, C, H, W; may be NULL) written, dw (K, C, kh, kw) +=,
 * db (K; may be NULL) +=. */
void dt_conv2d_bwd(const duet_ctx *ctx, const dt_conv_shape *s, const float *dy, const float *x, const float *w,
                   float *dx, float *dw, float *db, float *work);
void dt_conv2d_bwd_ref(const dt_conv_shape *s, const float *dy, const float *x, const float *w, float *dx,
                       float *dw, float *db);

/* --- transposed convolution: ConvTranspose2d(C -> K, kernel, stride, pad, output_padding=opad) --
 * s->C is the input channels, s->K the output channels; w is (C, K, kh, kw) as in PyTorch;
 * Ho = (H - 1) stride - 2 pad + kh + opad (same for W), 0 <= opad < stride. */
void dt_convt_out(const dt_conv_shape *s, int opad, int *Ho, int *Wo);
/* y (B, K, Ho, Wo) from x (B, C, H, W), w (C, K, kh, kw), b (K, may be NULL). */
void dt_convt2d_fwd(const duet_ctx *ctx, const dt_conv_shape *s, int opad, const float *x, const float *w,
                    const float *b, float *y, float *work);
void dt_convt2d_fwd_ref(const dt_conv_shape *s, int opad, const float *x, const float *w, const float *b, float *y);
/* Given dy (B, K, Ho, Wo): dx (B, C, H, W; may be NULL) written, dw (C, K, kh, kw) +=,
 * db (K; may be NULL) +=. */
void dt_convt2d_bwd(const duet_ctx *ctx, const dt_conv_shape *s, int opad, const float *dy, const float *x,
                    const float *w, float *dx, float *dw, float *db, float *work);
void dt_convt2d_bwd_ref(const dt_conv_shape *s, int opad, const float *dy, const float *x, const float *w,
                        float *dx, float *dw, float *db);

/* --- nearest-neighbour 2x upsampling: x (B, C, H, W) -> y (B, C, 2H, 2W) ----------------------- */

void dt_upsample2x_fwd(int nth, const float *x, float *y, int B, int C, int H, int W);
/* dx (B, C, H, W) written: the sum of each pixel's 4 children in dy. */
void dt_upsample2x_bwd(int nth, const float *dy, float *dx, int B, int C, int H, int W);

/* The sum of n floats in double, 8 at a time (in a fixed lane order: the same on every thread). */
double dt_sum_d(const float *x, size_t n);

/* --- group normalisation: PyTorch's nn.GroupNorm(G, C, eps) ----------------------------------- *
 * x, y (B, C, HW), C % G == 0; gamma, beta (C) or both NULL (no affine); mean, rstd (B, G)
 * receive each group's mean and 1/sqrt(biased variance + eps), which the backward reads. y may be x. */
void dt_groupnorm_fwd(int nth, const float *x, const float *gamma, const float *beta, float *y, float *mean,
                      float *rstd, int B, int C, int HW, int G, float eps);
/* dx (B, C, HW) written; dgamma, dbeta (C) += (may be NULL; gamma NULL means 1). */
void dt_groupnorm_bwd(int nth, const float *dy, const float *x, const float *gamma, const float *mean,
                      const float *rstd, float *dx, float *dgamma, float *dbeta, int B, int C, int HW, int G);

/* --- point-wise activations --------------------------------------------------------------------- */

enum {
    DT_ACT_RELU = 1, /* max(x, 0); derivative 0 at x = 0 */
    DT_ACT_SILU,     /* x * sigmoid(x) */
    DT_ACT_LEAKY,    /* x > 0 ? x : 0.2 x */
    DT_ACT_TANH,
    DT_ACT_SIGMOID
};

/* y = act(x) on n values; y may be x. An unknown kind copies x. */
void dt_act_fwd(int nth, int kind, const float *x, float *y, size_t n);
/* dx = dy * act'(x), from the forward's INPUT x; dx may be dy. */
void dt_act_bwd(int nth, int kind, const float *dy, const float *x, float *dx, size_t n);

/* --- sinusoidal time embedding --------------------------------------------------------------------
 * DDPM's (Ho et al. 2020; diffusers' get_timestep_embedding with its defaults
 * flip_sin_to_cos=False, downscale_freq_shift=1, scale=1): with half = dim / 2,
 *   f_i = exp(-ln(10000) * i / (half - 1)) = 10000^(-i/(half-1)),  i = 0..half-1 (f_0 = 1 when half == 1)
 *   out[b][i] = sin(t_b f_i),  out[b][half + i] = cos(t_b f_i).
 * The frequencies and the products t_b f_i are rounded to float as in PyTorch. dim is even. */
void dt_time_embedding(const float *t, int B, int dim, float *out);

#endif /* DT_CONV_H */
