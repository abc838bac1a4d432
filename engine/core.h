/* The recurrent cores a model can run on, one row each: the spec key, the layer's name (genome
 * genes, quantization, pruning) and its tensors, the gates per unit, and its passes. Every
 * other part of the engine reaches a core through this table; adding a kind is its own file
 * (passes with petra/gru.h's signatures), its header and a row here. */
#ifndef PETRA_ENGINE_CORE_H
#define PETRA_ENGINE_CORE_H
#include <stddef.h>

#include "petra/model.h"

#define PETRA_N_CORES 2

typedef struct petra_core {
  petra_core_kind kind;
  const char *key;   /* the spec key: gru=UNITS, lstm=UNITS */
  const char *layer; /* "gru0": genome genes and quantization */
  const char *wih, *whh, *bih, *bhh; /* tensor names: [gates·H × in], [gates·H × H], [gates·H] ×2 */
  int gates;         /* rows per unit in each tensor (unit j owns rows j, H+j, ...) */
  size_t (*fwd_ws_floats)(int T, int B, int H);
  size_t (*bwd_ws_floats)(int T, int B, int H);
  void (*forward)(int T, int B, int in, int H, const float *x, const int *len, const float *h0,
                  const float *Wih, const float *Whh, const float *bih, const float *bhh, float *hs,
                  float *ws);
  void (*backward)(int T, int B, int in, int H, const float *x, const int *len, const float *Wih,
                   const float *Whh, const float *hs, const float *ws, const float *dhs, const float *dhT,
                   float *dx, float *dh0, float *dWih, float *dWhh, float *dbih, float *dbhh, float *bws);
} petra_core;

extern const petra_core petra_cores[PETRA_N_CORES];

/* The spec's core (ts models: the GRU). */
const petra_core *petra_core_of(const petra_model_spec *s);
/* The core whose spec key is key, or NULL. */
const petra_core *petra_core_by_key(const char *key);
#endif
