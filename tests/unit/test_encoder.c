/* Input encoder: transforms and running robust statistics, categorical modes, bounded inputs
 * for hostile numbers, state that round-trips bit-exact and refuses corruption; and the whole
 * input path (wire-valid events → features → trainer) staying finite and learning on a
 * signal buried among hostile values. */
#include "check.h"
#include "feature_state.h"
#include "petra/encoder.h"
#include "petra/rng.h"
#include "petra/trainer.h"
#include "wire.h"

static double slog(double x) { return x < 0 ? -log1p(-x) : log1p(x); }

TEST(warmup_statistics_are_exact_then_robust) {
  petra_num_transform tr[2] = {PETRA_NUM_LOG, PETRA_NUM_Z};
  petra_encoder *e = petra_encoder_new(2, tr, 0, NULL, NULL, NULL);
  REQUIRE(e);
  double s = 0, s2 = 0;
  for (int i = 0; i < 100; i++) {
    double x = 1000.0 * (i + 1);
    float pre = petra_encoder_pre(e, 0, x);
    CHECK_NEAR(pre, slog(x), 1e-5);
    petra_encoder_observe(e, 0, pre);
    s += pre;
    s2 += (double)pre * pre;
  }
  const petra_num_stats *st = petra_encoder_stats(e, 0);
  CHECK_EQ_INT(st->n, 100);
  CHECK_NEAR(st->mean, s / 100, 1e-9);
  CHECK_NEAR(st->var, s2 / 100 - (s / 100) * (s / 100), 1e-6);
  float z = petra_encoder_scale(e, 0, petra_encoder_pre(e, 0, 50500));
  CHECK_NEAR(z, (slog(50500) - st->mean) / sqrt(st->var), 1e-4);
  /* past the warm-up a single outlier moves the statistics little (winsorized) */
  for (int i = 0; i < PETRA_ENCODER_WARMUP; i++) petra_encoder_observe(e, 1, (float)(i % 10));
  double m0 = petra_encoder_stats(e, 1)->mean, v0 = petra_encoder_stats(e, 1)->var;
  petra_encoder_observe(e, 1, 1e30f);
  CHECK(fabs(petra_encoder_stats(e, 1)->mean - m0) < 0.1); /* at most 5 sd / n */
  CHECK(petra_encoder_stats(e, 1)->var < 2 * v0);
  /* ... and a lasting shift is followed */
  for (int i = 0; i < 200000; i++) petra_encoder_observe(e, 1, 1e6f + (float)(i % 10));
  CHECK(fabs(petra_encoder_scale(e, 1, 1e6f + 4.5f)) < 1.0f);
  petra_encoder_free(e);
}

TEST(hostile_numbers_give_bounded_finite_inputs) {
  petra_num_transform tr[3] = {PETRA_NUM_LOG, PETRA_NUM_Z, PETRA_NUM_RAW};
  petra_encoder *e = petra_encoder_new(3, tr, 0, NULL, NULL, NULL);
  REQUIRE(e);
  for (int i = 0; i < 500; i++)
    for (int c = 0; c < 3; c++) petra_encoder_observe(e, c, petra_encoder_pre(e, c, 10.0 + i % 7));
  const double hostile[] = {1e30, -1e30, 1e300, -1e300, 3.4e38, 1e-40, -1e-310, 0.0, 1e6 * 13,
                            INFINITY, -INFINITY, NAN};
  for (size_t k = 0; k < sizeof hostile / sizeof hostile[0]; k++)
    for (int c = 0; c < 3; c++) {
      float pre = petra_encoder_pre(e, c, hostile[k]);
      float z = petra_encoder_scale(e, c, pre);
      float lim = c == 2 ? PETRA_ENCODER_RAW_CLIP : PETRA_ENCODER_CLIP;
      CHECK_MSG(isfinite(pre) && isfinite(z) && fabsf(z) <= lim, "column %d input %g: pre %g z %g", c,
                hostile[k], (double)pre, (double)z);
      petra_encoder_observe(e, c, pre); /* learning from them keeps the statistics finite */
      CHECK(isfinite(petra_encoder_stats(e, c)->mean) && isfinite(petra_encoder_stats(e, c)->var));
    }
  /* a constant column: its value maps to 0, anything else saturates, never blows up */
  petra_encoder *k = petra_encoder_new(1, NULL, 0, NULL, NULL, NULL);
  for (int i = 0; i < 1000; i++) petra_encoder_observe(k, 0, petra_encoder_pre(k, 0, 42));
  CHECK(petra_encoder_scale(k, 0, petra_encoder_pre(k, 0, 42)) == 0.0f);
  CHECK(petra_encoder_scale(k, 0, petra_encoder_pre(k, 0, 43)) == PETRA_ENCODER_CLIP);
  petra_encoder_free(k);
  petra_encoder_free(e);
}

TEST(categorical_modes_map_raw_codes) {
  petra_cat_mode modes[3] = {PETRA_CAT_INDEX, PETRA_CAT_HASH, PETRA_CAT_VOCAB};
  int vocab[3] = {10, 50, 4};
  petra_encoder *e = petra_encoder_new(0, NULL, 3, modes, vocab, NULL);
  REQUIRE(e);
  int32_t id;
  CHECK(petra_encoder_code(e, 0, 9, &id) == 0 && id == 9);
  CHECK(petra_encoder_code(e, 0, 10, &id) == PETRA_ERANGE);
  CHECK(petra_encoder_code(e, 0, -1, &id) == PETRA_ERANGE);
  for (int32_t c = -2000; c < 2000; c += 7) { /* MCC-like raw codes: any int in 1..49 */
    CHECK(petra_encoder_code(e, 1, c, &id) == 0);
    CHECK(id >= 1 && id < 50);
    CHECK_EQ_INT(petra_encoder_id(e, 1, c), id);
  }
  /* vocab: ids in the order first seen, 3 learnable, then the unknown bucket 0 */
  const int32_t raw[] = {5411, -2, 5411, 7, 99, -2, 1234};
  const int32_t want[] = {1, 2, 1, 3, 0, 2, 0};
  for (int i = 0; i < 7; i++) {
    CHECK(petra_encoder_code(e, 2, raw[i], &id) == 0);
    CHECK_MSG(id == want[i], "code %d -> %d, want %d", raw[i], id, want[i]);
  }
  CHECK_EQ_INT(petra_encoder_vocab_used(e, 2), 3);
  CHECK_EQ_INT(petra_encoder_id(e, 2, PETRA_ENCODER_MISSING), 0);
  /* frozen: nothing is learned */
  petra_encoder *f = petra_encoder_new(0, NULL, 3, modes, (int[3]){10, 50, 8}, NULL);
  petra_encoder_freeze(f, 1);
  CHECK(petra_encoder_code(f, 2, 5411, &id) == 0 && id == 0);
  CHECK_EQ_INT(petra_encoder_vocab_used(f, 2), 0);
  petra_encoder_free(f);
  petra_encoder_free(e);
}

TEST(state_round_trips_bit_exact_and_refuses_corruption) {
  petra_num_transform tr[3] = {PETRA_NUM_LOG, PETRA_NUM_Z, PETRA_NUM_RAW};
  petra_cat_mode modes[2] = {PETRA_CAT_VOCAB, PETRA_CAT_HASH};
  int vocab[2] = {100, 16};
  petra_encoder *e = petra_encoder_new(3, tr, 2, modes, vocab, NULL);
  REQUIRE(e);
  petra_rng r;
  petra_rng_seed(&r, 7);
  int32_t id;
  for (int i = 0; i < 5000; i++) {
    for (int c = 0; c < 3; c++)
      petra_encoder_observe(e, c, petra_encoder_pre(e, c, 1000 * petra_rng_normal(&r)));
    petra_encoder_code(e, 0, (int32_t)petra_rng_below(&r, 300) - 150, &id);
  }
  uint8_t *a, *b;
  size_t la, lb;
  REQUIRE(petra_encoder_save(e, &a, &la) == 0);
  petra_err pe = {0};
  petra_encoder *l = petra_encoder_load(a, la, &pe);
  REQUIRE(l);
  REQUIRE(petra_encoder_save(l, &b, &lb) == 0);
  CHECK(la == lb && memcmp(a, b, la) == 0);
  for (int c = 0; c < 3; c++) {
    CHECK(memcmp(petra_encoder_stats(e, c), petra_encoder_stats(l, c), sizeof(petra_num_stats)) == 0);
    CHECK(petra_encoder_scale(e, c, 3.25f) == petra_encoder_scale(l, c, 3.25f));
  }
  for (int32_t c = -150; c < 150; c++) CHECK(petra_encoder_id(e, 0, c) == petra_encoder_id(l, 0, c));
  /* damaged copies: each refused with a message, never a crash */
  struct {
    size_t at;
    uint8_t byte;
    size_t len;
  } bad[] = {{0, 0x00, 0}, {4, 0x07, 0}, {8, 0xff, 0}, {12, 0x09, 0}, {la - 1, 0, la - 1}, {0, 0, 3}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    uint8_t *c = malloc(la);
    memcpy(c, a, la);
    size_t n = bad[k].len ? bad[k].len : la;
    if (!bad[k].len) c[bad[k].at] = bad[k].byte;
    petra_err ce = {0};
    petra_encoder *x = petra_encoder_load(c, n, &ce);
    CHECK_MSG(!x && ce.msg[0], "damage %zu was accepted", k);
    petra_encoder_free(x);
    free(c);
  }
  /* a code learned twice cannot be loaded (the vocabulary would be ambiguous) */
  petra_encoder *two = petra_encoder_new(0, NULL, 1, modes, (int[1]){8}, NULL);
  petra_encoder_code(two, 0, 5, &id);
  petra_encoder_code(two, 0, 6, &id);
  uint8_t *t;
  size_t lt;
  petra_encoder_save(two, &t, &lt);
  memcpy(t + lt - 4, t + lt - 8, 4); /* second code := first */
  CHECK(petra_encoder_load(t, lt, NULL) == NULL);
  /* layouts must match to copy state */
  CHECK(petra_encoder_copy_state(two, e, &pe) == PETRA_ESHAPE);
  free(t);
  petra_encoder_free(two);
  free(a);
  free(b);
  petra_encoder_free(l);
  petra_encoder_free(e);
}

/* An event stream with a learnable label (the sign of numeric "x") among hostile columns:
 * amounts that jump by 10^6 halfway, a constant column, values of ±1e30 and denormals. */
static Petra__V1__Event hostile_event(petra_rng *r, int i, char *id, float *label) {
  static Petra__V1__Numeric nx, nk, nh, *np[3];
  static Petra__V1__Category cat, *cp[1];
  petra__v1__numeric__init(&nx);
  petra__v1__numeric__init(&nk);
  petra__v1__numeric__init(&nh);
  petra__v1__category__init(&cat);
  double x = petra_rng_normal(r);
  nx.name = "x";
  nx.value = x * 1e4; /* raw magnitude: the encoder's log + z-score brings it to scale */
  nk.name = "k";
  nk.value = 7;       /* constant */
  nh.name = "h";
  int sel = (int)petra_rng_below(r, 4);
  nh.value = sel == 0 ? 1e30 : sel == 1 ? -1e30 : sel == 2 ? 1e-40 : 3.4e38;
  np[0] = &nx;
  np[1] = &nk;
  np[2] = &nh;
  cat.field = "mcc";
  cat.code = 5000 + (int32_t)petra_rng_below(r, 40); /* raw MCC-like codes, hashed */
  cp[0] = &cat;
  Petra__V1__Event e = PETRA__V1__EVENT__INIT;
  e.schema_version = 1;
  snprintf(id, 32, "c%d", i % 500);
  e.entity_id = id;
  e.event_time_ms = 1000LL * i;
  e.amount = (i > 15000 ? 1e6 : 1.0) * (10 + 5 * petra_rng_normal(r));
  e.n_numerics = 3;
  e.numerics = np;
  e.n_categories = 1;
  e.categories = cp;
  e.has_label = 1;
  *label = x > 0;
  e.label = *label;
  return e;
}

TEST(hostile_inputs_through_the_whole_path_stay_finite_and_learnable) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:64:4 numeric=5 len=4 dense=16 act=relu gru=16 classes=1",
                                 &spec, NULL) == 0);
  features_conf fc = {.numerics = "x,k,h", .categories = "mcc=hash", .max_entities = 1000};
  char err[256];
  features *f = features_new_conf(&spec, &fc, err, sizeof err);
  REQUIRE(f);
  petra_model *m = petra_model_new(&spec, 3, NULL);
  petra_trainer_conf tc = petra_trainer_defaults();
  tc.metrics_window = 4000;
  petra_trainer *t = petra_trainer_new(m, &tc, NULL);
  REQUIRE(m && t);
  int ef = features_example_floats(f);
  float *ex = malloc(sizeof(float) * (size_t)ef * 16);
  petra_rng r;
  petra_rng_seed(&r, 11);
  char id[32];
  float max_abs = 0;
  wire_arena arena = {0};
  uint8_t buf[1024];
  int dead = 0;
  for (int i = 0; i < 30000; i++) {
    float lab;
    Petra__V1__Event e = hostile_event(&r, i, id, &lab);
    /* the whole input path: serialized, decoded and validated as petrad does */
    size_t len = petra__v1__event__pack(&e, buf);
    Petra__V1__Event *d = wire_decode_event_in(&arena, buf, len, err, sizeof err);
    REQUIRE(d);
    int made = features_event(f, d, ex, 16, err, sizeof err);
    REQUIRE(made == 1);
    if (i % 1000 == 0) { /* NaN and Inf are refused at the door (dead letters), as before */
      e.amount = i % 2000 ? NAN : INFINITY;
      len = petra__v1__event__pack(&e, buf);
      dead += wire_decode_event_in(&arena, buf, len, err, sizeof err) == NULL;
    }
    for (int k = 0; k < ef; k++) max_abs = fmaxf(max_abs, fabsf(ex[k]));
    REQUIRE(petra_trainer_feed(t, made, ex) >= 0);
  }
  wire_arena_free(&arena);
  CHECK_EQ_INT(dead, 30);
  /* every input the model saw was bounded (codes < 64, numerics within the clip) */
  CHECK_MSG(max_abs <= 64, "largest input %g", (double)max_abs);
  const float *w = petra_model_params(m);
  int finite = 1;
  for (size_t i = 0; i < petra_model_n_params(m); i++) finite &= isfinite(w[i]) != 0;
  CHECK(finite);
  const petra_trainer_stats *st = petra_trainer_get_stats(t);
  CHECK_EQ_INT(st->rollbacks, 0);
  double auc = petra_metrics_auc(petra_trainer_metrics(t));
  CHECK_MSG(auc > 0.85, "prequential AUC %.4f on a learnable signal", auc);
  free(ex);
  petra_trainer_free(t);
  petra_model_free(m);
  features_free(f);
}
