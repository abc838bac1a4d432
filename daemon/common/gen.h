/* Synthetic data generator (embedded default, `petra gen`, tests, benchmarks).
 *
 * Transactions: entities with a latent behaviour class (about 1 in 5 "risky"). A class sets
 * the entity's merchant-category mix (400 MCC-like codes in 20 groups; the classes prefer
 * different groups with overlap), its channel preference (4 channels), log-normal amounts
 * (risky: wider, with bursts) and exponential time gaps (risky: bursts of short gaps). Each
 * entity emits a Label (its class, flipped with probability `label_noise`) after every 8–40
 * of its events, delayed after them. At drift_at_ms the risky class moves to other groups.
 * Every event carries a unique increasing event_id.
 *
 * Series: C channels of hourly data with daily and weekly seasonality, slow trend, noise and
 * occasional regime changes (level and amplitude shifts). */
#ifndef PETRA_GEN_H
#define PETRA_GEN_H
#include <stddef.h>
#include <stdint.h>

#include "petra/rng.h"

typedef struct gen_conf {
  uint64_t seed;
  int entities;
  double risky_frac;
  double label_noise;
  int vocab;    /* mcc codes */
  int channels; /* transaction channels */
  int64_t start_ms;
  int64_t drift_at_ms; /* 0 = never */
  /* series */
  int series_channels;
} gen_conf;

gen_conf gen_defaults(void);

typedef struct gen gen;

gen *gen_new(const gen_conf *c);
void gen_free(gen *g);

enum { GEN_EVENT = 1, GEN_LABEL = 2 };
/* Next transaction-stream record (an Event or a Label), protobuf-packed into buf (cap bytes,
 * 512 is always enough). Writes the record kind, the key (entity id) and returns the length. */
size_t gen_next_tx(gen *g, uint8_t *buf, size_t cap, int *kind, char *key, size_t keycap);
/* Next SeriesPoint of series "gen-0" (hourly), packed into buf (cap >= 64 + 8·channels). */
size_t gen_next_series(gen *g, uint8_t *buf, size_t cap);
uint64_t gen_events_made(const gen *g);
/* The latent class of an entity (for tests). */
int gen_entity_class(const gen *g, int entity);
#endif
