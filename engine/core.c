#include "core.h"

#include <string.h>

#include "petra/gru.h"
#include "petra/lstm.h"

const petra_core petra_cores[PETRA_N_CORES] = {
    {PETRA_CORE_GRU, "gru", "gru0", "gru0.wih", "gru0.whh", "gru0.bih", "gru0.bhh", 3, petra_gru_fwd_ws_floats,
     petra_gru_bwd_ws_floats, petra_gru_forward, petra_gru_backward},
    {PETRA_CORE_LSTM, "lstm", "lstm0", "lstm0.wih", "lstm0.whh", "lstm0.bih", "lstm0.bhh", 4, petra_lstm_fwd_ws_floats,
     petra_lstm_bwd_ws_floats, petra_lstm_forward, petra_lstm_backward},
};

const petra_core *petra_core_of(const petra_model_spec *s) {
  return &petra_cores[s->kind == PETRA_MODEL_SEQ && s->core == PETRA_CORE_LSTM ? PETRA_CORE_LSTM : PETRA_CORE_GRU];
}

const petra_core *petra_core_by_key(const char *key) {
  for (int i = 0; i < PETRA_N_CORES; i++)
    if (!strcmp(petra_cores[i].key, key)) return &petra_cores[i];
  return NULL;
}
