/* Optimizer, metrics, drift detector, replay buffer and the incremental trainer: each does
 * what it promises on small known cases; training learns; checkpoints restore bit-exact. */
#include "check.h"
#include "petra/drift.h"
#include "petra/metrics.h"
#include "petra/optim.h"
#include "petra/replay.h"
#include "petra/stats.h"
#include "petra/trainer.h"

TEST(adam_first_step_moves_each_parameter_by_lr_against_its_gradient_sign) {
  petra_adam_conf c = petra_adam_defaults();
  c.lr = 0.1f;
  petra_adam *o = petra_adam_new(&c, 3);
  float p[3] = {1, 1, 1}, g[3] = {0.5f, -2, 0};
  petra_adam_step(o, p, g);
  /* bias-corrected first step: m̂ = g, v̂ = g², update = lr·g/|g| */
  CHECK_NEAR(p[0], 0.9, 1e-6);
  CHECK_NEAR(p[1], 1.1, 1e-6);
  CHECK_NEAR(p[2], 1.0, 1e-6);
  petra_adam_free(o);
}

TEST(adam_minimizes_a_quadratic_and_adamw_decays_weights) {
  petra_adam_conf c = petra_adam_defaults();
  c.lr = 0.05f;
  petra_adam *o = petra_adam_new(&c, 2);
  float p[2] = {3, -2}, g[2];
  for (int i = 0; i < 2000; i++) {
    g[0] = 2 * (p[0] - 1);
    g[1] = 2 * (p[1] + 0.5f);
    petra_adam_step(o, p, g);
  }
  CHECK_NEAR(p[0], 1, 1e-2);
  CHECK_NEAR(p[1], -0.5, 1e-2);
  petra_adam_free(o);
  c.weight_decay = 0.1f;
  o = petra_adam_new(&c, 1);
  float q = 1, zero = 0;
  petra_adam_step(o, &q, &zero);
  CHECK_NEAR(q, 1 - 0.05 * 0.1, 1e-6);
  petra_adam_free(o);
}

TEST(clipping_caps_global_norm_and_schedule_warms_up) {
  float g[2] = {3, 4};
  CHECK_NEAR(petra_clip_grad_norm(g, 2, 1), 5, 1e-6);
  CHECK_NEAR(sqrt(g[0] * g[0] + g[1] * g[1]), 1, 1e-4);
  petra_adam_conf c = petra_adam_defaults();
  c.lr = 1;
  c.warmup_steps = 4;
  c.decay_steps = 10;
  c.min_lr_frac = 0.1f;
  petra_adam *o = petra_adam_new(&c, 1);
  CHECK_NEAR(petra_adam_lr(o, 0), 0.25, 1e-6);
  CHECK_NEAR(petra_adam_lr(o, 3), 1.0, 1e-6);
  CHECK_NEAR(petra_adam_lr(o, 4), 1.0, 1e-6);
  CHECK_NEAR(petra_adam_lr(o, 14), 0.1, 1e-6);
  CHECK_NEAR(petra_adam_lr(o, 1000), 0.1, 1e-6);
  petra_adam_free(o);
}

TEST(auc_is_exact_with_ties) {
  float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
  float y[] = {0, 0, 1, 1};
  CHECK_NEAR(petra_auc(4, s, y), 0.75, 1e-12);
  float s2[] = {0.5f, 0.5f, 0.5f, 0.5f};
  CHECK_NEAR(petra_auc(4, s2, y), 0.5, 1e-12);
  float s3[] = {1, 2, 3, 4};
  CHECK_NEAR(petra_auc(4, s3, y), 1.0, 1e-12);
  float y1[] = {1, 1, 1, 1};
  CHECK(isnan(petra_auc(4, s3, y1)));
}

TEST(metrics_window_forgets_old_examples) {
  petra_metrics *m = petra_metrics_new(0, 2, 3);
  float t[2] = {0, 0};
  float big[2] = {10, 10}, small[2] = {1, -1};
  petra_metrics_add(m, big, t);
  for (int i = 0; i < 3; i++) petra_metrics_add(m, small, t);
  CHECK_NEAR(petra_metrics_mse(m), 1, 1e-9);
  CHECK_NEAR(petra_metrics_mae(m), 1, 1e-9);
  CHECK_EQ_INT(petra_metrics_total(m), 4);
  CHECK_STR(petra_metrics_name(m), "mse");
  petra_metrics_free(m);
  m = petra_metrics_new(3, 3, 10);
  float logits[3] = {0, 2, 0}, y = 1, y0 = 0;
  petra_metrics_add(m, logits, &y);
  petra_metrics_add(m, logits, &y0);
  CHECK_NEAR(petra_metrics_accuracy(m), 0.5, 1e-9);
  petra_metrics_free(m);
}

TEST(page_hinkley_alarms_on_a_mean_shift_and_not_before) {
  petra_drift d;
  petra_drift_init(&d, 0.01, 5, 100);
  petra_rng r;
  petra_rng_seed(&r, 3);
  int alarms = 0;
  for (int i = 0; i < 3000; i++) alarms += petra_drift_update(&d, 0.5 + 0.05 * petra_rng_normal(&r));
  CHECK_EQ_INT(alarms, 0);
  int at = -1;
  for (int i = 0; i < 3000 && at < 0; i++)
    if (petra_drift_update(&d, 1.0 + 0.05 * petra_rng_normal(&r))) at = i;
  CHECK(at >= 0 && at < 100);
}

TEST(reservoir_keeps_a_uniform_sample) {
  petra_replay *r = petra_replay_new(100, 1, 9);
  for (int i = 0; i < 10000; i++) {
    float v = (float)i;
    petra_replay_add(r, &v);
  }
  CHECK_EQ_INT(r->size, 100);
  double mean = 0;
  for (int i = 0; i < 100; i++) mean += petra_replay_get(r, i)[0];
  mean /= 100;
  CHECK(mean > 3500 && mean < 6500); /* uniform over 0..9999 has mean 5000, sd of mean ~290 */
  petra_replay_free(r);
}

/* A learnable stream: label = 1 when the sum of the first numeric over the sequence is > 0,
 * or when code 3 occurs. */
static void make_stream(petra_model *m, int n, float *ex, uint64_t seed) {
  const petra_model_spec *s = petra_model_get_spec(m);
  int ef = petra_model_example_floats(m), L = s->seq_len, F = s->n_fields, N = s->n_numeric;
  petra_rng r;
  petra_rng_seed(&r, seed);
  memset(ex, 0, sizeof(float) * n * ef);
  for (int b = 0; b < n; b++) {
    float *e = ex + (size_t)b * ef;
    int len = 2 + (int)petra_rng_below(&r, (uint64_t)(L - 1));
    e[0] = (float)len;
    double sum = 0;
    int has3 = 0;
    for (int t = 0; t < len; t++) {
      int code = (int)petra_rng_below(&r, (uint64_t)s->fields[0].vocab);
      e[1 + t * F] = (float)code;
      has3 |= code == 3;
      for (int k = 0; k < N; k++) {
        float v = (float)petra_rng_normal(&r);
        e[1 + L * F + t * N + k] = v;
        if (k == 0) sum += v;
      }
    }
    e[ef - 1] = (sum > 0 || has3) ? 1.0f : 0.0f;
  }
}

TEST(incremental_training_learns_a_learnable_stream) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=c:20:4 numeric=2 len=8 dense=16 gru=16", &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 1, NULL);
  petra_trainer_conf c = petra_trainer_defaults();
  c.batch = 32;
  c.adam.lr = 5e-3f;
  c.metrics_window = 1000;
  petra_trainer *t = petra_trainer_new(m, &c, NULL);
  REQUIRE(m && t);
  int ef = petra_model_example_floats(m);
  float *ex = malloc(sizeof(float) * 1000 * ef);
  double first_auc = 0;
  for (int round = 0; round < 12; round++) {
    make_stream(m, 1000, ex, 100 + round);
    CHECK(petra_trainer_feed(t, 1000, ex) > 0);
    if (round == 0) first_auc = petra_metrics_auc(petra_trainer_metrics(t));
  }
  double auc = petra_metrics_auc(petra_trainer_metrics(t));
  fprintf(stderr, "prequential AUC first 1000: %.3f, after 12000: %.3f\n", first_auc, auc);
  CHECK(auc > 0.9);
  CHECK(auc > first_auc + 0.1);
  CHECK_EQ_INT(petra_trainer_get_stats(t)->examples, 12000);
  /* hold-out evaluation agrees */
  make_stream(m, 1000, ex, 999);
  petra_metrics *ho = petra_metrics_new(1, 1, 1000);
  CHECK(petra_evaluate(m, 1000, ex, ho) == 0);
  CHECK(petra_metrics_auc(ho) > 0.9);
  petra_metrics_free(ho);
  free(ex);
  petra_trainer_free(t);
  petra_model_free(m);
}

TEST(checkpoint_restores_bit_exact_and_continues_identically) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=c:20:4 numeric=2 len=8 dense=16 dropout=0.1 gru=16",
                                 &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 5, NULL);
  petra_trainer_conf c = petra_trainer_defaults();
  c.batch = 16;
  c.replay_capacity = 200;
  petra_trainer *t = petra_trainer_new(m, &c, NULL);
  int ef = petra_model_example_floats(m);
  float *ex = malloc(sizeof(float) * 300 * ef);
  make_stream(m, 300, ex, 1);
  petra_trainer_feed(t, 293, ex); /* leaves queued examples behind */
  CHECK(petra_trainer_pending(t) > 0);
  uint8_t *buf;
  size_t len;
  REQUIRE(petra_trainer_save(t, &buf, &len) == 0);
  petra_model *m2;
  petra_err err = {0};
  petra_trainer *t2 = petra_trainer_restore(buf, len, &c, &m2, &err);
  REQUIRE(t2);
  size_t np = petra_model_n_params(m);
  CHECK(memcmp(petra_model_params(m), petra_model_params(m2), np * 4) == 0);
  CHECK_EQ_INT(petra_trainer_pending(t2), petra_trainer_pending(t));
  /* saving the restored trainer gives the same bytes */
  uint8_t *buf2;
  size_t len2;
  REQUIRE(petra_trainer_save(t2, &buf2, &len2) == 0);
  CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
  /* both continue identically (optimizer, replay RNG, dropout RNG all restored) */
  make_stream(m, 300, ex, 2);
  petra_trainer_feed(t, 300, ex);
  petra_trainer_feed(t2, 300, ex);
  CHECK(memcmp(petra_model_params(m), petra_model_params(m2), np * 4) == 0);
  /* corruption is detected */
  buf[len / 2] ^= 1;
  petra_model *m3;
  CHECK(petra_trainer_restore(buf, len, &c, &m3, &err) == NULL);
  CHECK(err.code == PETRA_ECHECKSUM);
  CHECK(petra_trainer_restore(buf, 20, &c, &m3, &err) == NULL);
  CHECK(petra_trainer_restore((const uint8_t *)"garbage!garbage!garbage!", 24, &c, &m3, &err) == NULL);
  free(buf);
  free(buf2);
  free(ex);
  petra_trainer_free(t);
  petra_model_free(m);
  petra_trainer_free(t2);
  petra_model_free(m2);
}

TEST(bad_trainer_config_is_rejected) {
  petra_model_spec spec;
  petra_model_spec_parse("ts window=4 horizon=2", &spec, NULL);
  petra_model *m = petra_model_new(&spec, 1, NULL);
  petra_trainer_conf c = petra_trainer_defaults();
  petra_err err = {0};
  c.batch = 0;
  CHECK(petra_trainer_new(m, &c, &err) == NULL && strstr(err.msg, "batch"));
  c = petra_trainer_defaults();
  c.replay_frac = 1;
  CHECK(petra_trainer_new(m, &c, &err) == NULL && strstr(err.msg, "replay_frac"));
  c = petra_trainer_defaults();
  c.adam.lr = -1;
  CHECK(petra_trainer_new(m, &c, &err) == NULL && strstr(err.msg, "learning rate"));
  petra_model_free(m);
}

/* The order statistics every latency figure uses. */
TEST(quantiles_of_sorted_samples) {
  double v[100];
  for (int i = 0; i < 100; i++) v[i] = 100 - i; /* 100 .. 1 */
  petra_sort_doubles(v, 100);
  CHECK(v[0] == 1 && v[99] == 100);
  CHECK(petra_quantile_sorted(v, 100, 0.5) == 51);
  CHECK(petra_quantile_sorted(v, 100, 0.99) == 100);
  CHECK(petra_quantile_sorted(v, 100, 1.0) == 100); /* clamped to the last */
  CHECK(petra_quantile_sorted(v, 100, 0.0) == 1);
  CHECK(petra_quantile_sorted(v, 0, 0.5) == 0);
  double one = 7;
  CHECK(petra_quantile_sorted(&one, 1, 0.99) == 7);
}

TEST(non_finite_batches_are_skipped_and_bad_weights_roll_back) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=c:20:4 numeric=2 len=8 dense=16 gru=16", &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 1, NULL);
  petra_trainer_conf c = petra_trainer_defaults();
  c.batch = 32;
  c.replay_frac = 0;
  size_t np = petra_model_n_params(m);
  float *initial = malloc(sizeof(float) * np);
  memcpy(initial, petra_model_params(m), sizeof(float) * np);
  petra_trainer *t = petra_trainer_new(m, &c, NULL); /* keeps the first good copy */
  REQUIRE(m && t);
  int ef = petra_model_example_floats(m);
  float *ex = malloc(sizeof(float) * 32 * ef);
  make_stream(m, 32, ex, 5);
  double loss;
  REQUIRE(petra_trainer_step(t, 32, ex, &loss) == 0 && isfinite(loss));
  const petra_trainer_stats *st = petra_trainer_get_stats(t);
  /* a NaN weight (a corrupted buffer) makes the loss NaN: the step is skipped and the weights
   * go back to the last good copy (taken at creation: fewer than 32 steps so far) */
  const petra_tensor_info *head = petra_model_find_tensor(m, "head.w");
  REQUIRE(head);
  petra_model_params(m)[head->offset] = NAN;
  REQUIRE(petra_trainer_step(t, 32, ex, &loss) == 0);
  CHECK(!isfinite(loss));
  CHECK_EQ_INT(st->skipped_nonfinite, 1);
  CHECK_EQ_INT(st->rollbacks, 1);
  CHECK_EQ_INT(st->steps, 1);
  CHECK(memcmp(initial, petra_model_params(m), sizeof(float) * np) == 0);
  CHECK(strstr(st->last_nonfinite, "loss") != NULL);
  /* and training goes on from there */
  REQUIRE(petra_trainer_step(t, 32, ex, &loss) == 0 && isfinite(loss));
  CHECK_EQ_INT(st->steps, 2);
  /* Adam itself refuses a non-finite gradient norm (clipping by 0 would make inf·0 = NaN) */
  petra_adam_conf ac = petra_adam_defaults();
  ac.clip_norm = 5;
  petra_adam *o = petra_adam_new(&ac, 2);
  float p[2] = {1, 2}, g[2] = {INFINITY, 1};
  CHECK(!isfinite(petra_adam_step(o, p, g)));
  CHECK(p[0] == 1 && p[1] == 2 && o->t == 0 && o->m[1] == 0);
  petra_adam_free(o);
  /* weights that come out of a step non-finite (a learning rate that overflows them) roll back */
  petra_trainer_set_lr(t, 3e38f);
  uint64_t rb = st->rollbacks;
  float *w = petra_model_params(m);
  for (int k = 0; k < 3; k++) petra_trainer_step(t, 32, ex, &loss);
  int finite = 1;
  for (size_t i = 0; i < np; i++) finite &= isfinite(w[i]) != 0;
  CHECK(finite);
  CHECK(st->rollbacks > rb);
  free(initial);
  free(ex);
  petra_trainer_free(t);
  petra_model_free(m);
}

TEST(forecasters_are_scored_beside_the_naive_last_value_forecast) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("ts window=4 horizon=2 channels=2 arch=linear", &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 1, NULL);
  petra_trainer_conf c = petra_trainer_defaults();
  petra_trainer *t = petra_trainer_new(m, &c, NULL);
  REQUIRE(m && t);
  /* [window 4 x 2 channels, target 2 x 2]: channel 0 stays at its last value (naive exact),
   * channel 1 moves on by 1 and 2 (naive errors 1 and 2) */
  float ex[2][12] = {{1, 10, 2, 11, 3, 12, 4, 13, 4, 14, 4, 15}, {0, 0, 0, 0, 0, 0, 7, 1, 7, 2, 7, 3}};
  REQUIRE(petra_trainer_feed(t, 2, &ex[0][0]) >= 0);
  const petra_metrics *nm = petra_trainer_naive_metrics(t);
  REQUIRE(nm);
  CHECK_EQ_INT(petra_metrics_count(nm), 2);
  /* per example: mean over 4 outputs of squared errors (0, 1, 0, 4) -> 1.25 each */
  CHECK_NEAR(petra_metrics_mse(nm), 1.25, 1e-9);
  CHECK_NEAR(petra_metrics_mae(nm), 0.75, 1e-9);
  petra_trainer_free(t);
  petra_model_free(m);
  /* classifiers have none */
  REQUIRE(petra_model_spec_parse("seq fields=c:4:2 numeric=2 len=2 dense=4 gru=4", &spec, NULL) == 0);
  m = petra_model_new(&spec, 1, NULL);
  t = petra_trainer_new(m, &c, NULL);
  CHECK(petra_trainer_naive_metrics(t) == NULL);
  petra_trainer_free(t);
  petra_model_free(m);
}
