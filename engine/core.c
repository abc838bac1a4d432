#include "core.h"

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
  /* (a transformer is not a recurrent core: its callers branch on petra_spec_is_tf first) */
  int k = s->kind == PETRA_MODEL_SEQ && !petra_spec_is_tf(s) ? (int)s->core : PETRA_CORE_GRU;
  return &petra_cores[k >= 0 && k < petra_n_cores ? k : PETRA_CORE_GRU];
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
