/* The recurrent cores a model can run on, one row each: the spec key, the layer's name (genome
 * genes, quantization, pruning) and its tensors, the gates per unit, and its passes. Every
 * other part of the engine reaches a core through this table; adding a kind is its own file
 * (passes with petra/gru.h's signatures), its header and a row here. */
#ifndef PETRA_ENGINE_CORE_H
#define PETRA_ENGINE_CORE_H
#include <stddef.h>

#include "petra/model.h"

typedef struct petra_core {
  petra_core_kind kind; /* the row's index: the spec keeps it in petra_model_spec.core */
  const char *key;   /* the spec key (gru=UNITS[,UNITS...]) and the stem of its layers' names */
  int gates;         /* rows per unit in each tensor (unit j owns rows j, H+j, ...) */
  size_t (*fwd_ws_floats)(int T, int B, int H);
  size_t (*bwd_ws_floats)(int T, int B, int H);
  void (*forward)(int T, int B, int in, int H, const float *x, const int *len, const float *h0,
                  const float *Wih, const float *Whh, const float *bih, const float *bhh, float *hs,
                  float *ws);
  void (*backward)(int T, int B, int in, int H, const float *x, const int *len, const float *Wih,
                   const float *Whh, const float *hs, const float *ws, const float *dhs, const float *dhT,
                   float *dx, float *dh0, float *dWih, float *dWhh, float *dbih, float *dbhh, float *bws);
  /* One step of the plans' loop for R rows: xi [R][gates·H] the input products with bih (the
   * step may overwrite them), hh [R][gates·H] Whh·h + bhh, h [R][H] the state before, aux
   * [R][H] the core's second buffer, hn [R][H] the state after. aux_state: aux is a state
   * carried from step to step (the LSTM's cell), zeroed before the first; else scratch. The
   * caller carries h over for rows with t >= len[r] (len may be NULL). */
  int aux_state;
  void (*step_rows)(int H, int R, float *xi, const float *hh, const float *h, float *aux, float *hn,
                    const int *len, int t);
} petra_core;

extern const petra_core petra_cores[];
extern const int petra_n_cores;

/* The names of layer l of a core (stacked layers count from 0): the layer ("gru1": genome
 * genes, quantization) and its tensors, wih [gates·H × in], whh [gates·H × H], bih and bhh
 * [gates·H]. */
typedef struct petra_core_names {
  char layer[16], wih[24], whh[24], bih[24], bhh[24];
} petra_core_names;
petra_core_names petra_core_layer_names(const petra_core *c, int l);

/* The transformer encoder's names (petra/tf.h): layer l's ("tf1": genome genes, quantization;
 * l = -1: "tf", the input projection, positions and final norm) tensor PART ("tf1.wqkv",
 * "tf.in.w"); part NULL gives the layer's own name. Layer l is named by its number
 * s->tf_id[l] (a model with a layer dropped keeps the others' names). */
void petra_tf_name(const petra_model_spec *s, int l, const char *part, char *buf, size_t n);

/* The spec's recurrent core (ts models and the transformer: the GRU's row). */
const petra_core *petra_core_of(const petra_model_spec *s);
/* The core whose spec key is key, or NULL. */
const petra_core *petra_core_by_key(const char *key);
#endif
