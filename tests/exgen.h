/* Random valid examples for any model spec (seeded): seq sequences of random length with
 * codes inside each vocabulary, normal numerics and a valid label; ts windows of
 * normal values plus ts_offset. The caller frees the result. */
#ifndef PETRA_TEST_EXGEN_H
#define PETRA_TEST_EXGEN_H
#include <stdlib.h>

#include "petra/model.h"
#include "petra/rng.h"

static inline float *exgen(const petra_model *m, int n, uint64_t seed, double ts_offset) {
  const petra_model_spec *s = petra_model_get_spec(m);
  int ef = petra_model_example_floats(m);
  float *ex = calloc((size_t)n * ef, sizeof(float));
  petra_rng r;
  petra_rng_seed(&r, seed);
  for (int b = 0; b < n && ex; b++) {
    float *e = ex + (size_t)b * ef;
    if (s->kind == PETRA_MODEL_SEQ) {
      int L = s->seq_len, F = s->n_fields, N = s->n_numeric;
      int len = 1 + (int)petra_rng_below(&r, (uint64_t)L);
      e[0] = (float)len;
      for (int t = 0; t < len; t++) {
        for (int f = 0; f < F; f++) e[1 + t * F + f] = (float)petra_rng_below(&r, (uint64_t)s->fields[f].vocab);
        for (int k = 0; k < N; k++) e[1 + L * F + t * N + k] = (float)petra_rng_normal(&r);
      }
      e[ef - 1] = (float)petra_rng_below(&r, (uint64_t)(s->classes == 1 ? 2 : s->classes));
    } else {
      for (int i = 0; i < ef; i++) e[i] = (float)(petra_rng_normal(&r) + ts_offset);
    }
  }
  return ex;
}
#endif
