/* Feature state: examples formed from entity histories and series windows exactly as
 * documented; bounded memory with LRU eviction; state survives save/load. */
#include "check.h"
#include "feature_state.h"
#include "gen.h"
#include "petra/snapshot.h"
#include "wire.h"

static features *seq_features(int L, int max_entities) {
  petra_model_spec spec;
  char text[256];
  snprintf(text, sizeof text, "seq fields=mcc:400:16,channel:4:2 numeric=3 len=%d dense=8 gru=8", L);
  petra_model_spec_parse(text, &spec, NULL);
  char err[256];
  features *f = features_new(&spec, "hour_sin", max_entities, err, sizeof err);
  if (!f) fprintf(stderr, "%s\n", err);
  return f;
}

static Petra__V1__Event ev(const char *id, int64_t t, double amount, int mcc) {
  static Petra__V1__Category c;
  static Petra__V1__Category *cats[1];
  petra__v1__category__init(&c);
  c.field = "mcc";
  c.code = mcc;
  cats[0] = &c;
  Petra__V1__Event e = PETRA__V1__EVENT__INIT;
  e.schema_version = 1;
  e.entity_id = (char *)id;
  e.event_time_ms = t;
  e.amount = amount;
  e.n_categories = 1;
  e.categories = cats;
  return e;
}

TEST(label_joins_the_entity_history_up_to_label_time) {
  features *f = seq_features(4, 10);
  REQUIRE(f);
  int ef = features_example_floats(f);
  CHECK_EQ_INT(ef, 1 + 4 * (2 + 3) + 1);
  float *ex = calloc((size_t)ef, sizeof(float));
  char err[256];
  for (int i = 0; i < 6; i++) {
    Petra__V1__Event e = ev("a", 1000 * (i + 1), i == 2 ? -9.0 : 9.0, 10 + i);
    CHECK(features_event(f, &e, ex, 1, err, sizeof err) == 0);
  }
  Petra__V1__Label l = PETRA__V1__LABEL__INIT;
  l.schema_version = 1;
  l.entity_id = "a";
  l.label_time_ms = 5000; /* events 1..5 qualify; the ring keeps the last 4 */
  l.value = 1;
  REQUIRE(features_label(f, &l, ex, err, sizeof err) == 1);
  CHECK_EQ_INT((int)ex[0], 3); /* ring holds events 3..6; those at t <= 5000 are 3, 4, 5 */
  CHECK_EQ_INT((int)ex[1 + 0 * 2], 12); /* mcc of event 3 */
  CHECK_EQ_INT((int)ex[1 + 2 * 2], 14);
  CHECK_EQ_INT((int)ex[1 + 0 * 2 + 1], 0); /* channel missing -> code 0 */
  const float *nums = ex + 1 + 4 * 2;
  /* numerics: signed log, then the encoder's z-score (amounts ±9: mean 6, so a refund of 9
   * sits well below it); 1 s gaps everywhere: a constant column scales to 0 */
  const petra_encoder *enc = features_encoder(f);
  const petra_num_stats *as = petra_encoder_stats(enc, 0);
  CHECK_EQ_INT(as->n, 6);
  CHECK_NEAR(as->mean, (5 * log1p(9.0) - log1p(9.0)) / 6, 1e-6); /* of floats */
  CHECK_NEAR(nums[0], (-log1p(9.0) - as->mean) / sqrt(as->var), 1e-5); /* event 3 was a refund */
  CHECK_NEAR(nums[1], 0, 1e-6);  /* 1 s after event 2, like every gap */
  CHECK_NEAR(nums[3 + 0], (log1p(9.0) - as->mean) / sqrt(as->var), 1e-5);
  CHECK(ex[ef - 1] == 1.0f);
  /* a label ahead of its entity's events is parked, then joined by the first event at or
   * after the label time, with the history up to the label time only */
  l.entity_id = "late";
  l.label_time_ms = 20000;
  CHECK(features_label(f, &l, ex, err, sizeof err) == 0);
  CHECK_EQ_INT(features_get_stats(f)->parked, 1);
  Petra__V1__Event l1 = ev("late", 19000, 5, 7); /* ev() reuses one static category */
  CHECK(features_event(f, &l1, ex, 4, err, sizeof err) == 0);
  Petra__V1__Event l2 = ev("late", 21000, 5, 8);
  CHECK(features_event(f, &l2, ex, 4, err, sizeof err) == 1);
  CHECK_EQ_INT((int)ex[0], 1);     /* only the event at 19000 */
  CHECK_EQ_INT((int)ex[1], 7);
  CHECK_EQ_INT(features_get_stats(f)->parked, 0);
  /* bad inputs leave the state alone */
  Petra__V1__Event bad = ev("b", 1, 1, 400);
  CHECK(features_event(f, &bad, ex, 1, err, sizeof err) == -1);
  CHECK(strstr(err, "mcc code 400 outside [0, 400)") != NULL);
  CHECK_EQ_INT(features_get_stats(f)->entities, 2);
  l.entity_id = "a";
  l.value = 0.5f;
  CHECK(features_label(f, &l, ex, err, sizeof err) == -1);
  free(ex);
  features_free(f);
}

TEST(entities_are_bounded_with_lru_eviction) {
  features *f = seq_features(3, 100);
  REQUIRE(f);
  float ex[64];
  char err[256], id[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(id, sizeof id, "e%d", i % 250);
    Petra__V1__Event e = ev(id, i, 1, 1);
    features_event(f, &e, ex, 1, err, sizeof err);
    /* keep e0 hot */
    Petra__V1__Event h = ev("e0", i, 1, 2);
    features_event(f, &h, ex, 1, err, sizeof err);
  }
  CHECK_EQ_INT(features_get_stats(f)->entities, 100);
  CHECK(features_get_stats(f)->evictions > 0);
  CHECK(features_entity_example(f, "e0", ex) == 1);   /* recently seen: kept */
  CHECK(features_entity_example(f, "e249", ex) == 1); /* seen last: kept */
  CHECK(features_entity_example(f, "e100", ex) == 0); /* evicted */
  features_free(f);
}

TEST(state_survives_save_and_load_and_rejects_corruption) {
  features *f = seq_features(8, 500), *g = seq_features(8, 500);
  REQUIRE(f && g);
  gen_conf gc = gen_defaults();
  gc.entities = 300;
  gen *gn = gen_new(&gc);
  uint8_t buf[512];
  char key[64], err[256];
  float ex[128], ex2[128];
  for (int i = 0; i < 5000; i++) {
    int kind;
    size_t n = gen_next_tx(gn, buf, sizeof buf, &kind, key, sizeof key);
    if (kind != GEN_EVENT) continue;
    Petra__V1__Event *e = wire_decode_event(buf, n, err, sizeof err);
    REQUIRE(e);
    CHECK(features_event(f, e, ex, 1, err, sizeof err) >= 0);
    wire_free(e);
  }
  uint8_t *state;
  size_t len;
  REQUIRE(features_save(f, &state, &len) == 0);
  CHECK_MSG(features_load(g, state, len, err, sizeof err) == 0, "%s", err);
  CHECK_EQ_INT(features_get_stats(g)->entities, features_get_stats(f)->entities);
  int same = 0;
  for (int i = 0; i < 300; i++) {
    snprintf(key, sizeof key, "ent-%d", i);
    int a = features_entity_example(f, key, ex), b = features_entity_example(g, key, ex2);
    same += a == b && (!a || memcmp(ex, ex2, sizeof(float) * features_example_floats(f)) == 0);
  }
  CHECK_EQ_INT(same, 300);
  /* truncated state is refused and leaves an empty, usable state */
  CHECK(features_load(g, state, len - 7, err, sizeof err) < 0);
  CHECK_EQ_INT(features_get_stats(g)->entities, 0);
  /* state of another schema is refused */
  features *h = seq_features(4, 10);
  CHECK(features_load(h, state, len, err, sizeof err) < 0);
  CHECK(strstr(err, "saved for") != NULL);
  features_free(h);
  free(state);
  gen_free(gn);
  features_free(f);
  features_free(g);
}

TEST(series_points_form_sliding_windows) {
  petra_model_spec spec;
  petra_model_spec_parse("ts window=3 horizon=2 channels=2", &spec, NULL);
  char err[256];
  features *f = features_new(&spec, "", 4, err, sizeof err);
  REQUIRE(f);
  float ex[10];
  int made = 0;
  for (int t = 0; t < 7; t++) {
    float v[2] = {(float)t, (float)(100 + t)};
    Petra__V1__SeriesPoint p = PETRA__V1__SERIES_POINT__INIT;
    p.schema_version = 1;
    p.series_id = "s";
    p.n_values = 2;
    p.values = v;
    int r = features_series(f, &p, ex, err, sizeof err);
    CHECK_EQ_INT(r, t >= 4 ? 1 : 0);
    if (r == 1) {
      made++;
      /* window starts at t−4 */
      CHECK(ex[0] == (float)(t - 4) && ex[1] == (float)(100 + t - 4));
      CHECK(ex[8] == (float)t && ex[9] == (float)(100 + t));
    }
  }
  CHECK_EQ_INT(made, 3);
  float v3[3] = {1, 2, 3};
  Petra__V1__SeriesPoint p = PETRA__V1__SERIES_POINT__INIT;
  p.series_id = "s";
  p.n_values = 3;
  p.values = v3;
  CHECK(features_series(f, &p, ex, err, sizeof err) == -1);
  CHECK(strstr(err, "2 channels") != NULL);
  features_free(f);
}

TEST(generator_is_reproducible_and_labels_follow_behaviour) {
  gen_conf gc = gen_defaults();
  gc.entities = 200;
  gen *a = gen_new(&gc), *b = gen_new(&gc);
  uint8_t ba[512], bb[512];
  char ka[64], kb[64];
  int events = 0, labels = 0, agree = 0;
  for (int i = 0; i < 20000; i++) {
    int kia, kib;
    size_t na = gen_next_tx(a, ba, sizeof ba, &kia, ka, sizeof ka);
    size_t nb = gen_next_tx(b, bb, sizeof bb, &kib, kb, sizeof kb);
    CHECK(na == nb && kia == kib && memcmp(ba, bb, na) == 0);
    if (kia == GEN_LABEL) {
      labels++;
      Petra__V1__Label *l = petra__v1__label__unpack(NULL, na, ba);
      int ent = atoi(l->entity_id + 4);
      agree += (int)l->value == gen_entity_class(a, ent);
      petra__v1__label__free_unpacked(l, NULL);
    } else {
      events++;
    }
  }
  CHECK(labels > 300 && events > 15000);
  CHECK((double)agree / labels > 0.9); /* 5% label noise */
  gen_free(a);
  gen_free(b);
}

TEST(waiting_labels_are_all_released_with_their_histories) {
  /* labels read ahead of the events (a catch-up, or labels dated after the last event): each
   * waits, and features_release_parked joins every one with the events up to its time, a few
   * at a time, exactly as the label would have been joined had its events been there */
  features *f = seq_features(4, 4000);
  REQUIRE(f);
  int ef = features_example_floats(f);
  float *ex = calloc((size_t)ef * 16, sizeof(float)), *want = calloc((size_t)ef, sizeof(float));
  char err[256], id[32];
  enum { N = 2500 };
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "c%d", i);
    Petra__V1__Label l = PETRA__V1__LABEL__INIT;
    l.schema_version = 1;
    l.entity_id = id;
    l.label_time_ms = 100000;
    l.value = (float)(i % 2);
    CHECK(features_label(f, &l, ex, err, sizeof err) == 0);
  }
  for (int k = 0; k < 6; k++)
    for (int i = 0; i < N; i++) {
      snprintf(id, sizeof id, "c%d", i);
      Petra__V1__Event e = ev(id, 1000 * (k + 1), i + k, k);
      CHECK(features_event(f, &e, ex, 16, err, sizeof err) == 0);
    }
  CHECK_EQ_INT(features_get_stats(f)->parked, N);
  int released = 0, ones = 0, calls = 0;
  while (features_get_stats(f)->parked > 0 && calls++ < 10 * N) {
    int made = features_release_parked(f, INT64_MAX, ex, 16);
    for (int j = 0; j < made; j++) {
      const float *x = ex + (size_t)j * ef;
      CHECK_EQ_INT((int)x[0], 4); /* the ring's last four events, all before the label */
      ones += x[ef - 1] == 1.0f;
    }
    released += made;
  }
  CHECK_EQ_INT(released, N);
  CHECK_EQ_INT(ones, N / 2);
  CHECK_EQ_INT(features_get_stats(f)->parked, 0);
  CHECK_EQ_INT(features_get_stats(f)->unknown_entity, 0);
  free(ex);
  free(want);
  features_free(f);
}

TEST(normalization_and_vocabulary_survive_checkpoint_bit_exact) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:16:4,status:6:2 numeric=4 len=5 dense=8 gru=8", &spec, NULL) == 0);
  features_conf fc = {.numerics = "limit", .categories = "mcc=vocab,status=hash", .transforms = "limit=z",
                      .event_age = 1, .max_entities = 64};
  char err[256];
  features *a = features_new_conf(&spec, &fc, err, sizeof err), *b = features_new_conf(&spec, &fc, err, sizeof err);
  REQUIRE(a && b);
  CHECK(strstr(features_schema(a), "mcc:16:vocab") && strstr(features_schema(a), "limit:z") &&
        strstr(features_schema(a), "age:gap"));
  int ef = features_example_floats(a);
  float *x = calloc((size_t)ef * 16, sizeof(float)), *y = calloc((size_t)ef, sizeof(float));
  static Petra__V1__Numeric lim, *lp[1];
  static Petra__V1__Category c1, c2, *cp[2];
  petra__v1__numeric__init(&lim);
  petra__v1__category__init(&c1);
  petra__v1__category__init(&c2);
  lim.name = "limit";
  c1.field = "mcc";
  c2.field = "status";
  lp[0] = &lim;
  cp[0] = &c1;
  cp[1] = &c2;
  char id[16];
  for (int i = 0; i < 400; i++) {
    Petra__V1__Event e = PETRA__V1__EVENT__INIT;
    e.schema_version = 1;
    snprintf(id, sizeof id, "e%d", i % 40);
    e.entity_id = id;
    e.event_time_ms = 1000LL * i * (i % 3 + 1);
    e.amount = (i % 7 - 3) * 1e5;
    lim.value = 20000.0 * (i % 11);
    c1.code = 5000 + i % 23; /* more codes than the vocabulary holds: some share bucket 0 */
    c2.code = -2 + i % 9;
    e.n_numerics = 1;
    e.numerics = lp;
    e.n_categories = 2;
    e.categories = cp;
    REQUIRE(features_event(a, &e, x, 16, err, sizeof err) >= 0);
  }
  uint8_t *sa, *sb;
  size_t la, lb;
  REQUIRE(features_save(a, &sa, &la) == 0);
  REQUIRE(features_load(b, sa, la, err, sizeof err) == 0);
  REQUIRE(features_save(b, &sb, &lb) == 0);
  CHECK(la == lb && memcmp(sa, sb, la) == 0);
  CHECK_EQ_INT(petra_encoder_vocab_used(features_encoder(b), 0), 15);
  for (int i = 0; i < 40; i++) {
    snprintf(id, sizeof id, "e%d", i);
    CHECK(features_entity_example_at(a, id, 500000, x) == 1 && features_entity_example_at(b, id, 500000, y) == 1);
    CHECK(memcmp(x, y, sizeof(float) * (size_t)ef) == 0);
  }
  /* a scorer's copy: the same state, frozen (it learns nothing more) */
  features *s = features_new_conf(&spec, &fc, err, sizeof err);
  REQUIRE(s && features_use_encoder(s, features_encoder(a), 1, err, sizeof err) == 0);
  CHECK(petra_encoder_frozen(features_encoder(s)));
  free(sa);
  free(sb);
  free(x);
  free(y);
  features_free(a);
  features_free(b);
  features_free(s);
}
