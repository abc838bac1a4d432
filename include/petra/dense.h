/* Dense (fully connected) layer: y[n×out] = x[n×in] · Wᵀ + b.
 * W is [out×in] row-major (one row per output unit, so a unit is one row to prune or to
 * quantize per channel); b is [out]. GEMMs go to OpenBLAS. */
#ifndef PETRA_DENSE_H
#define PETRA_DENSE_H

void petra_dense_forward(int n, int in, int out, const float *x, const float *W, const float *b,
                         float *y);

/* Given dy [n×out]: accumulates dW += dyᵀ·x and db += Σ dy (either may be NULL to skip),
 * and writes dx = dy·W when dx is not NULL. */
void petra_dense_backward(int n, int in, int out, const float *x, const float *W,
                          const float *dy, float *dx, float *dW, float *db);

#endif
