/* Reservoir replay buffer: a uniform sample of every example ever offered, at most
 * `capacity` of them, each `width` floats. Seeded, so a run is reproducible. */
#ifndef PETRA_REPLAY_H
#define PETRA_REPLAY_H
#include <stddef.h>
#include <stdint.h>

#include "petra/rng.h"

typedef struct petra_replay {
  int capacity, width;
  int size;
  uint64_t seen;
  float *data; /* capacity × width */
  petra_rng rng;
} petra_replay;

petra_replay *petra_replay_new(int capacity, int width, uint64_t seed);
void petra_replay_free(petra_replay *r);
/* Offers one example (copied). */
void petra_replay_add(petra_replay *r, const float *example);
/* Copies k examples drawn uniformly with replacement into out; returns how many (0 when
 * empty). */
int petra_replay_sample(petra_replay *r, int k, float *out);
/* The i-th stored example, newest-first order is not kept. */
const float *petra_replay_get(const petra_replay *r, int i);
#endif
