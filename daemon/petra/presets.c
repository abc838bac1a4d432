/* Preset data and training shared by petra bench and petra evolve. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "feature_state.h"
#include "gen.h"
#include "petra/plan.h"
#include "petra/stats.h"
#include "petra/trainer.h"
#include "wire.h"

/* R1-shaped examples from the generator: mcc codes, and 16 numeric inputs per event (log
 * amount, log gap, hour sin/cos, then 12 constant-zero inputs R1's width asks for). */
int r1_data(const petra_model_spec *spec, int n_records, exset *all) {
  char err[256];
  features *f = features_new(spec, "hour_sin,hour_cos,z0,z1,z2,z3,z4,z5,z6,z7,z8,z9,z10,z11", 20000,
                             err, sizeof err);
  if (!f) {
    fprintf(stderr, "petra bench: %s\n", err);
    return -1;
  }
  gen_conf gc = gen_defaults();
  gc.seed = 42;
  gc.entities = 4000;
  gc.channels = 1;
  gen *g = gen_new(&gc);
  int ef = features_example_floats(f);
  size_t cap = 4096;
  all->ef = ef;
  all->n = 0;
  all->x = malloc(sizeof(float) * cap * ef);
  uint8_t buf[1024];
  char key[64];
  for (int i = 0; i < n_records; i++) {
    int kind;
    size_t len = gen_next_tx(g, buf, sizeof buf, &kind, key, sizeof key);
    if ((size_t)all->n + 2 > cap) all->x = realloc(all->x, sizeof(float) * (cap *= 2) * ef);
    float *dst = all->x + (size_t)all->n * ef;
    int made = 0;
    if (kind == GEN_EVENT) {
      Petra__V1__Event *e = wire_decode_event(buf, len, err, sizeof err);
      if (e) made = features_event(f, e, dst, 1, err, sizeof err);
      wire_free(e);
    } else {
      Petra__V1__Label *l = wire_decode_label(buf, len, err, sizeof err);
      if (l) made = features_label(f, l, dst, err, sizeof err);
      wire_free(l);
    }
    if (made > 0) all->n += made;
  }
  gen_free(g);
  features_free(f);
  return 0;
}

void train_steps(petra_model *m, const exset *tr, int steps, float lr, uint64_t seed, int keep_zeros) {
  petra_trainer_conf tc = petra_trainer_defaults();
  tc.batch = 64;
  tc.adam.lr = lr;
  tc.seed = seed;
  tc.keep_zeros = keep_zeros;
  petra_trainer *t = petra_trainer_new(m, &tc, NULL);
  petra_rng r;
  petra_rng_seed(&r, seed);
  float *batch = malloc(sizeof(float) * 64 * tr->ef);
  for (int s = 0; s < steps; s++) {
    for (int i = 0; i < 64; i++)
      memcpy(batch + (size_t)i * tr->ef, tr->x + petra_rng_below(&r, (uint64_t)tr->n) * tr->ef,
             sizeof(float) * tr->ef);
    petra_trainer_step(t, 64, batch, NULL);
  }
  free(batch);
  petra_trainer_free(t);
}



/* Batch-1 latency p50/p99 (µs) over 3000 scores and batch-64 throughput over 1 s. */
void plan_speed(const petra_plan *p, const exset *te, double *p50, double *p99, double *tput) {
  enum { REPS = 3000 };
  int no = petra_plan_n_outputs(p);
  void *scratch = malloc(petra_plan_scratch_bytes(p, 64));
  float *out = malloc(sizeof(float) * 64 * no);
  double *lat = malloc(sizeof(double) * REPS);
  for (int i = 0; i < 200; i++) petra_plan_score(p, 1, te->x + (size_t)(i % te->n) * te->ef, out, scratch);
  for (int i = 0; i < REPS; i++) {
    double t0 = cli_now_s();
    petra_plan_score(p, 1, te->x + (size_t)(i % te->n) * te->ef, out, scratch);
    lat[i] = (cli_now_s() - t0) * 1e6;
  }
  petra_sort_doubles(lat, REPS);
  *p50 = petra_quantile_sorted(lat, REPS, 0.5);
  *p99 = petra_quantile_sorted(lat, REPS, 0.99);
  int batches = 0;
  double t0 = cli_now_s();
  while (cli_now_s() - t0 < 1.0) {
    int off = (batches * 64) % (te->n - 64 > 0 ? te->n - 64 : 1);
    petra_plan_score(p, te->n >= 64 ? 64 : te->n, te->x + (size_t)off * te->ef, out, scratch);
    batches++;
  }
  *tput = batches * (te->n >= 64 ? 64.0 : te->n) / (cli_now_s() - t0);
  free(scratch);
  free(out);
  free(lat);
}

