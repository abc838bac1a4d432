#include "petra/replay.h"

#include <stdlib.h>
#include <string.h>

petra_replay *petra_replay_new(int capacity, int width, uint64_t seed) {
  if (capacity < 0 || width < 1) return NULL;
  petra_replay *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->capacity = capacity;
  r->width = width;
  r->data = calloc((size_t)(capacity ? capacity : 1) * width, sizeof(float));
  if (!r->data) {
    free(r);
    return NULL;
  }
  petra_rng_seed(&r->rng, seed);
  return r;
}

void petra_replay_free(petra_replay *r) {
  if (!r) return;
  free(r->data);
  free(r);
}

void petra_replay_add(petra_replay *r, const float *ex) {
  r->seen++;
  if (r->capacity == 0) return;
  int slot;
  if (r->size < r->capacity) {
    slot = r->size++;
  } else {
    uint64_t j = petra_rng_below(&r->rng, r->seen);
    if (j >= (uint64_t)r->capacity) return;
    slot = (int)j;
  }
  memcpy(r->data + (size_t)slot * r->width, ex, sizeof(float) * r->width);
}

int petra_replay_sample(petra_replay *r, int k, float *out) {
  if (r->size == 0) return 0;
  for (int i = 0; i < k; i++) {
    int j = (int)petra_rng_below(&r->rng, (uint64_t)r->size);
    memcpy(out + (size_t)i * r->width, r->data + (size_t)j * r->width, sizeof(float) * r->width);
  }
  return k;
}

const float *petra_replay_get(const petra_replay *r, int i) {
  return i >= 0 && i < r->size ? r->data + (size_t)i * r->width : NULL;
}
