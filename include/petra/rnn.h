/* Elman recurrent layer over a batch of sequences, PyTorch's nn.RNN with tanh:
 *   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 * Shapes and conventions as petra/gru.h with one gate: x [T][B][I] time-major; Wih [H×I],
 * Whh [H×H], bih, bhh [H]. Step t of sequence b is skipped (h carried over) when t >= len[b];
 * len may be NULL. The cheapest core: one product pair and one tanh per step. */
#ifndef PETRA_RNN_H
#define PETRA_RNN_H
#include <stddef.h>

size_t petra_rnn_fwd_ws_floats(int T, int B, int H);
size_t petra_rnn_bwd_ws_floats(int T, int B, int H);

/* hs [(T+1)][B][H] receives h0 (zeros when NULL) then every step's state. */
void petra_rnn_forward(int T, int B, int in, int H, const float *x, const int *len, const float *h0,
                       const float *Wih, const float *Whh, const float *bih, const float *bhh, float *hs, float *ws);

/* Backward through time; arguments as petra_gru_backward. */
void petra_rnn_backward(int T, int B, int in, int H, const float *x, const int *len, const float *Wih,
                        const float *Whh, const float *hs, const float *ws, const float *dhs, const float *dhT,
                        float *dx, float *dh0, float *dWih, float *dWhh, float *dbih, float *dbhh, float *bws);

/* One step for R rows as the plans run it (engine/core.h's step_rows): hn = tanh(xi + hh);
 * xi [R][H] receives the sum; h, aux, len, t are not read. */
void petra_rnn_step_rows(int H, int R, float *xi, const float *hh, const float *h, float *aux, float *hn,
                         const int *len, int t);
#endif
