/* Gated recurrent unit over a batch of sequences, PyTorch's formulation and gate order:
 *   r = σ(W_ir x + b_ir + W_hr h + b_hr)
 *   z = σ(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
 *   h' = (1 − z) ⊙ n + z ⊙ h
 * Shapes: x [T][B][I] time-major; Wih [3H×I], Whh [3H×H], bih, bhh [3H], rows in gate order
 * r, z, n (so hidden unit j owns rows j, H+j, 2H+j of both matrices). Variable lengths: step
 * t of sequence b is skipped (h carried over) when t >= len[b], so hs[T] holds each
 * sequence's state after its own last event; len may be NULL (all T). */
#ifndef PETRA_GRU_H
#define PETRA_GRU_H
#include <stddef.h>

/* Floats of workspace the forward pass needs (kept for the backward pass). */
size_t petra_gru_fwd_ws_floats(int T, int B, int H);
/* Floats of extra workspace the backward pass needs. */
size_t petra_gru_bwd_ws_floats(int T, int B, int H);

/* hs [(T+1)][B][H] receives h0 (zeros when h0 is NULL) then every step's state. */
void petra_gru_forward(int T, int B, int in, int H, const float *x, const int *len,
                       const float *h0, const float *Wih, const float *Whh, const float *bih,
                       const float *bhh, float *hs, float *ws);

/* One step for R rows as the plans run it (engine/core.h's step_rows): xi [R][3H] x·Wihᵀ + bih
 * (receives the activated gates), hh [R][3H] h·Whhᵀ + bhh, h the state before, aux [R][H]
 * receives W_hn h + b_hn, hn [R][H] the state after; len, t unused (the caller carries rows over). */
void petra_gru_step_rows(int H, int R, float *xi, const float *hh, const float *h, float *aux, float *hn,
                         const int *len, int t);

/* Backward through time. Gradients flowing into the states: dhs [T][B][H] for every step's
 * output (may be NULL) and/or dhT [B][H] for the final state (may be NULL). Accumulates into
 * dWih, dWhh, dbih, dbhh; writes dx [T][B][I] and dh0 [B][H] when not NULL. ws is the
 * forward's workspace; bws the backward's. */
void petra_gru_backward(int T, int B, int in, int H, const float *x, const int *len,
                        const float *Wih, const float *Whh, const float *hs, const float *ws,
                        const float *dhs, const float *dhT, float *dx, float *dh0, float *dWih,
                        float *dWhh, float *dbih, float *dbhh, float *bws);
#endif
