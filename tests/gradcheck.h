/* Finite-difference gradient check. The caller's loss(ctx) reads the parameter array
 * `param` (n floats) and returns a double; `grad` holds the analytic gradient. Central
 * differences with step eps on up to `samples` entries (all when n <= samples). Returns the
 * relative error ||a − f|| / max(||a|| + ||f||, 1e-12) over the checked entries. */
#ifndef PETRA_TEST_GRADCHECK_H
#define PETRA_TEST_GRADCHECK_H
#include <math.h>
#include <stdio.h>

#include "petra/rng.h"

typedef double (*gc_loss_fn)(void *ctx);

static inline double gradcheck(gc_loss_fn loss, void *ctx, float *param, const float *grad,
                               size_t n, size_t samples, float eps, uint64_t seed,
                               const char *what) {
  petra_rng r;
  petra_rng_seed(&r, seed);
  double diff2 = 0, a2 = 0, f2 = 0;
  size_t count = n <= samples ? n : samples;
  double worst = 0;
  size_t worst_i = 0;
  for (size_t k = 0; k < count; k++) {
    size_t i = n <= samples ? k : (size_t)petra_rng_below(&r, n);
    float keep = param[i];
    param[i] = keep + eps;
    double lp = loss(ctx);
    param[i] = keep - eps;
    double lm = loss(ctx);
    param[i] = keep;
    double fd = (lp - lm) / (2.0 * (double)eps);
    double a = grad[i];
    diff2 += (a - fd) * (a - fd);
    a2 += a * a;
    f2 += fd * fd;
    if (fabs(a - fd) > worst) {
      worst = fabs(a - fd);
      worst_i = i;
    }
  }
  double rel = sqrt(diff2) / fmax(sqrt(a2) + sqrt(f2), 1e-12);
  fprintf(stderr, "gradcheck %-28s n=%zu checked=%zu rel=%.2e worst |a-fd|=%.2e at %zu\n", what,
          n, count, rel, worst, worst_i);
  return rel;
}
#endif
