/* Long short-term memory over a batch of sequences, PyTorch's formulation and gate order:
 *   i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
 *   c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')
 * Shapes and conventions as petra/gru.h, with four gates: x [T][B][I] time-major; Wih [4H×I],
 * Whh [4H×H], bih, bhh [4H], rows in gate order i, f, g, o (hidden unit j owns rows j, H+j,
 * 2H+j, 3H+j). Step t of sequence b is skipped (h and c carried over) when t >= len[b]; len
 * may be NULL. The cell state starts at zero. */
#ifndef PETRA_LSTM_H
#define PETRA_LSTM_H
#include <stddef.h>

size_t petra_lstm_fwd_ws_floats(int T, int B, int H);
size_t petra_lstm_bwd_ws_floats(int T, int B, int H);

/* hs [(T+1)][B][H] receives h0 (zeros when NULL) then every step's hidden state. */
void petra_lstm_forward(int T, int B, int in, int H, const float *x, const int *len,
                        const float *h0, const float *Wih, const float *Whh, const float *bih,
                        const float *bhh, float *hs, float *ws);

/* One step for R rows as the plans run it (engine/core.h's step_rows): xi [R][4H] x·Wihᵀ + bih
 * (receives the activated gates), hh [R][4H] h·Whhᵀ + bhh, aux [R][H] the cell state (in
 * place; zero before the first step), hn [R][H] the state after; rows with t >= len[r] keep
 * their cell (len may be NULL). h is not read (hh carries it). */
void petra_lstm_step_rows(int H, int R, float *xi, const float *hh, const float *h, float *aux, float *hn,
                          const int *len, int t);

/* Backward through time; arguments as petra_gru_backward. */
void petra_lstm_backward(int T, int B, int in, int H, const float *x, const int *len,
                         const float *Wih, const float *Whh, const float *hs, const float *ws,
                         const float *dhs, const float *dhT, float *dx, float *dh0, float *dWih,
                         float *dWhh, float *dbih, float *dbhh, float *bws);

#endif
