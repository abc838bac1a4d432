#include "core.h"

#include "block.h"

#include <stdio.h>
#include <string.h>

#include "petra/gru.h"
#include "petra/lstm.h"
#include "petra/rnn.h"

/* Row i's kind is i. */
const petra_core petra_cores[] = {
    {PETRA_CORE_GRU, "gru", 3, petra_gru_fwd_ws_floats, petra_gru_bwd_ws_floats, petra_gru_forward,
     petra_gru_backward, 0, petra_gru_step_rows},
    {PETRA_CORE_LSTM, "lstm", 4, petra_lstm_fwd_ws_floats, petra_lstm_bwd_ws_floats, petra_lstm_forward,
     petra_lstm_backward, 1, petra_lstm_step_rows},
    {2, "rnn", 1, petra_rnn_fwd_ws_floats, petra_rnn_bwd_ws_floats, petra_rnn_forward, petra_rnn_backward, 0,
     petra_rnn_step_rows},
};
const int petra_n_cores = (int)(sizeof petra_cores / sizeof petra_cores[0]);

const petra_core *petra_core_of(const petra_model_spec *s) {
  /* (a block is not a recurrent core: its callers ask petra_block_of first) */
  int k = s->kind == PETRA_MODEL_SEQ && !petra_block_of(s) ? (int)s->core : PETRA_CORE_GRU;
  return &petra_cores[k >= 0 && k < petra_n_cores ? k : PETRA_CORE_GRU];
}

/* The blocks (engine/block.h), one row each. */
extern const petra_block petra_tf_block; /* engine/tf_block.c */
const petra_block *const petra_blocks[] = {&petra_tf_block};
const int petra_n_blocks = (int)(sizeof petra_blocks / sizeof petra_blocks[0]);

const petra_block *petra_block_of(const petra_model_spec *s) {
  for (int i = 0; s->kind == PETRA_MODEL_SEQ && i < petra_n_blocks; i++)
    if (petra_blocks[i]->kind == s->core) return petra_blocks[i];
  return NULL;
}

int petra_block_weight_layer(const char *tensor, char *layer, size_t n) {
  for (int i = 0; i < petra_n_blocks; i++)
    if (petra_blocks[i]->weight_layer(tensor, layer, n)) return 1;
  return 0;
}

unsigned petra_block_gene_flags(const petra_model_spec *s, const char *layer) {
  const petra_block *b = petra_block_of(s);
  char names[PETRA_BLOCK_MAX_GENES][32];
  unsigned char flags[PETRA_BLOCK_MAX_GENES];
  int n = b ? b->genes(s, names, flags, PETRA_BLOCK_MAX_GENES) : 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], layer)) return flags[i];
  return 0;
}

const petra_core *petra_core_by_key(const char *key) {
  for (int i = 0; i < petra_n_cores; i++)
    if (!strcmp(petra_cores[i].key, key)) return &petra_cores[i];
  return NULL;
}

petra_core_names petra_core_layer_names(const petra_core *c, int l) {
  petra_core_names n;
  snprintf(n.layer, sizeof n.layer, "%s%d", c->key, l);
  snprintf(n.wih, sizeof n.wih, "%s.wih", n.layer);
  snprintf(n.whh, sizeof n.whh, "%s.whh", n.layer);
  snprintf(n.bih, sizeof n.bih, "%s.bih", n.layer);
  snprintf(n.bhh, sizeof n.bhh, "%s.bhh", n.layer);
  return n;
}

void petra_tf_name(const petra_model_spec *s, int l, const char *part, char *buf, size_t n) {
  char layer[16];
  if (l < 0)
    snprintf(layer, sizeof layer, "tf");
  else
    snprintf(layer, sizeof layer, "tf%d", s->tf_id[l]);
  if (part)
    snprintf(buf, n, "%s.%s", layer, part);
  else
    snprintf(buf, n, "%s", layer);
}
