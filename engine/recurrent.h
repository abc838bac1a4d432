/* The parts every recurrent kind's passes share (engine/gru.c, lstm.c, rnn.c) beside the input
 * product over all steps (petra_dense_forward): the per-step hidden product and the parameter
 * gradients after the backward steps, each on the fast row kernels where they beat OpenBLAS (kernels.h fp32_fast),
 * else OpenBLAS. G is the rows per layer (gates × H). Internal to libpetra. */
#ifndef PETRA_ENGINE_RECURRENT_H
#define PETRA_ENGINE_RECURRENT_H
#include <stddef.h>

#include "kernels.h"

/* hh [B × G] = hp [B × H] · Whhᵀ + bhh (whhT: Whhᵀ [H × G] by petra_transpose, the row kernel's operand at every B — at B = 1 it
 * beats a matrix-vector product over Whh's rows, which ends each row in a horizontal sum). */
void petra_rec_hidden_product(const petra_kernels *k, int B, int H, int G, const float *hp, const float *Whh,
                              const float *whhT, const float *bhh, float *hh);

/* After the backward steps, over rows = T·B: dWih += dInᵀ·x, dWhh += dHidᵀ·hs (the states
 * before each step), dbih += Σ dIn, dbhh += Σ dHid, and dx = dIn·Wih when dx is not NULL. dIn
 * and dHid are the pre-activation grads on the input and hidden side ([rows × G]; the same
 * array where both biases enter every gate's sum alike, as in the LSTM and the RNN). */
void petra_rec_param_grads(const petra_kernels *k, int rows, int in, int H, int G, const float *x, const float *hs,
                           const float *Wih, const float *dIn, const float *dHid, float *dWih, float *dWhh,
                           float *dbih, float *dbhh, float *dx);
#endif
