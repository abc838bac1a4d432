/* Random valid examples for any model spec (seeded): seq sequences of random length with
 * codes inside each vocabulary, normal numerics and a valid label; ts windows of
 * normal values plus ts_offset. The caller frees the result. */
#ifndef PETRA_TEST_EXGEN_H
#define PETRA_TEST_EXGEN_H
#include <stdlib.h>

#include "petra/model.h"

static inline float *exgen(const petra_model *m, int n, uint64_t seed, double ts_offset) {
  return petra_model_random_examples(m, n, seed, 0, ts_offset);
}
#endif
