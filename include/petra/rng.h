/* Seeded pseudo-random numbers (xoshiro256**, seeded by splitmix64). The state is a plain
 * struct the caller owns; the same seed gives the same sequence on every platform. */
#ifndef PETRA_RNG_H
#define PETRA_RNG_H
#include <stdint.h>

typedef struct petra_rng {
  uint64_t s[4];
} petra_rng;

void petra_rng_seed(petra_rng *r, uint64_t seed);
uint64_t petra_rng_u64(petra_rng *r);
/* Uniform in [0, 1). */
double petra_rng_uniform(petra_rng *r);
/* Uniform integer in [0, n); n > 0. */
uint64_t petra_rng_below(petra_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double petra_rng_normal(petra_rng *r);

#endif
