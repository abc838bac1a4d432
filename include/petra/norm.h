/* Layer normalization over the last dimension and inverted dropout. */
#ifndef PETRA_NORM_H
#define PETRA_NORM_H
#include <stdint.h>

#include "petra/rng.h"

/* y = (x − mean) / sqrt(var + eps) · gamma + beta, per row of d floats. Keeps per-row mean
 * and reciprocal std in stats [n×2] for the backward pass. */
void petra_layernorm_forward(int n, int d, const float *x, const float *gamma, const float *beta,
                             float *y, float *stats);
/* Accumulates dgamma, dbeta; writes dx (may not alias dy). */
void petra_layernorm_backward(int n, int d, const float *x, const float *gamma,
                              const float *stats, const float *dy, float *dx, float *dgamma,
                              float *dbeta);

/* Inverted dropout: keeps each value with probability 1−p and scales it by 1/(1−p). The
 * mask (0 or 1/(1−p)) goes to mask[n] for backward. p == 0 copies. */
void petra_dropout_forward(int n, float p, petra_rng *rng, const float *x, float *y, float *mask);
void petra_dropout_backward(int n, const float *mask, const float *dy, float *dx);

/* A ts window's normalization for channel ch of a window [W][C] (time-major): value =
 * normalized·scale + shift. norm is a petra_ts_norm: NONE (0, 1), LAST (last value, 1), REVIN
 * (mean, standard deviation + 1e-5). The model and the plan both use this (parity). */
void petra_ts_window_norm(int norm, const float *win, int W, int C, int ch, float *shift, float *scale);

#endif
