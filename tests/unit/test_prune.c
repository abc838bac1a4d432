/* Structured pruning: keep=1 is the identity; removing units whose weights are zero leaves
 * the outputs unchanged (so the right rows and columns were removed, consistently across GRU
 * gates); sizes shrink as the genome says. */
#include "check.h"
#include "exgen.h"
#include "petra/plan.h"
#include "petra/prune.h"
#include "petra/rng.h"
#include "petra/trainer.h"

static float *examples(petra_model *m, int n) { return exgen(m, n, 3, 0.0); }

static void zero_unit_rows(petra_model *m, const char *name, const int *rows, int n) {
  const petra_tensor_info *t = petra_model_find_tensor(m, name);
  for (int i = 0; i < n; i++) memset(petra_model_params(m) + t->offset + (size_t)rows[i] * t->cols, 0, sizeof(float) * t->cols);
}
static void zero_cols(petra_model *m, const char *name, const int *cols, int n) {
  const petra_tensor_info *t = petra_model_find_tensor(m, name);
  for (int r = 0; r < t->rows; r++)
    for (int i = 0; i < n; i++) petra_model_params(m)[t->offset + (size_t)r * t->cols + cols[i]] = 0;
}

/* core: "gru" or "lstm" (gates: 3 or 4 rows per unit) */
static void prune_dead_units(const char *core, int gates) {
  petra_model_spec spec;
  char text[128], wih[32], whh[32], genome[128];
  snprintf(text, sizeof text, "seq fields=mcc:30:6 numeric=3 len=5 dense=8 %s=6", core);
  snprintf(wih, sizeof wih, "%s0.wih", core);
  snprintf(whh, sizeof whh, "%s0.whh", core);
  snprintf(genome, sizeof genome, "emb.mcc:keep=0.5;dense0:keep=0.5;%s0:keep=0.5", core);
  REQUIRE(petra_model_spec_parse(text, &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 4, NULL);
  /* make dense units 1,4,6,7 and recurrent units 0,2,5 dead (no incoming or outgoing weight),
   * and embedding dims 1,3,5 unused */
  int du[] = {1, 4, 6, 7}, gu[] = {0, 2, 5}, ed[] = {1, 3, 5};
  zero_unit_rows(m, "dense0.w", du, 4);
  zero_cols(m, wih, du, 4);
  int grows[12];
  for (int g = 0; g < gates; g++)
    for (int i = 0; i < 3; i++) grows[g * 3 + i] = g * 6 + gu[i];
  zero_unit_rows(m, wih, grows, 3 * gates);
  zero_unit_rows(m, whh, grows, 3 * gates);
  zero_cols(m, whh, gu, 3);
  zero_cols(m, "head.w", gu, 3);
  zero_cols(m, "emb.mcc", ed, 3);
  zero_cols(m, "dense0.w", ed, 3);
  /* biases of dead recurrent units must not leak: with zero weights in and out, a dead unit's
   * state still evolves from its biases, but nothing reads it (its Whh column and head column
   * are 0), and dead dense units feed only zero recurrent columns. */
  petra_genome g;
  petra_err err = {0};
  REQUIRE(petra_genome_parse(genome, &g, &err) == 0);
  petra_model *p = petra_prune(m, &g, &err);
  REQUIRE(p);
  const petra_model_spec *ps = petra_model_get_spec(p);
  CHECK_EQ_INT(ps->dense, 4);
  CHECK_EQ_INT(ps->gru, 3);
  CHECK_EQ_INT(ps->fields[0].dim, 3);
  CHECK(petra_model_n_params(p) < petra_model_n_params(m) / 2);
  CHECK_EQ_INT(petra_model_example_floats(p), petra_model_example_floats(m)); /* same inputs */
  float *ex = examples(m, 16), o1[16], o2[16];
  CHECK(petra_model_forward(m, 16, ex, o1) == 0);
  CHECK(petra_model_forward(p, 16, ex, o2) == 0);
  for (int i = 0; i < 16; i++) CHECK_NEAR(o1[i], o2[i], 1e-5);
  free(ex);
  petra_model_free(p);

  /* keep=1 everywhere: identical parameters */
  petra_genome id;
  petra_genome_identity(&id);
  p = petra_prune(m, &id, &err);
  REQUIRE(p);
  CHECK(petra_model_n_params(p) == petra_model_n_params(m));
  CHECK(memcmp(petra_model_params(p), petra_model_params(m), petra_model_n_params(m) * 4) == 0);
  petra_model_free(p);
  petra_model_free(m);
}

TEST(pruning_dead_units_keeps_outputs_and_shrinks_the_model) {
  prune_dead_units("gru", 3);
  prune_dead_units("lstm", 4);
}

/* Stacked layers: dead units of either layer (no weight in or out; the reader above of layer
 * 0's units is layer 1's wih) go without changing a score; the spec shrinks layer by layer. */
TEST(pruning_dead_units_of_stacked_layers_keeps_outputs) {
  for (int layer = 0; layer < 2; layer++) {
    petra_model_spec spec;
    REQUIRE(petra_model_spec_parse("seq fields=mcc:30:6 numeric=3 len=5 dense=8 gru=6,6", &spec, NULL) == 0);
    petra_model *m = petra_model_new(&spec, 5, NULL);
    int gu[] = {0, 2, 5}, grows[9];
    for (int g = 0; g < 3; g++)
      for (int i = 0; i < 3; i++) grows[g * 3 + i] = g * 6 + gu[i];
    const char *wih = layer ? "gru1.wih" : "gru0.wih", *whh = layer ? "gru1.whh" : "gru0.whh";
    zero_unit_rows(m, wih, grows, 9);
    zero_unit_rows(m, whh, grows, 9);
    zero_cols(m, whh, gu, 3);
    zero_cols(m, layer ? "head.w" : "gru1.wih", gu, 3);
    petra_genome g;
    petra_err err = {0};
    REQUIRE(petra_genome_parse(layer ? "gru1:keep=0.5" : "gru0:keep=0.5", &g, &err) == 0);
    petra_model *p = petra_prune(m, &g, &err);
    REQUIRE(p);
    const petra_model_spec *ps = petra_model_get_spec(p);
    CHECK_EQ_INT(ps->gru, layer ? 6 : 3);
    CHECK_EQ_INT(ps->n_stack, 1);
    CHECK_EQ_INT(ps->stack[0], layer ? 3 : 6);
    CHECK(petra_model_n_params(p) < petra_model_n_params(m));
    float *ex = examples(m, 16), o1[16], o2[16];
    CHECK(petra_model_forward(m, 16, ex, o1) == 0);
    CHECK(petra_model_forward(p, 16, ex, o2) == 0);
    for (int i = 0; i < 16; i++) CHECK_NEAR(o1[i], o2[i], 1e-5);
    free(ex);
    petra_model_free(p);
    petra_model_free(m);
  }
}

/* A transformer: dead feed-forward units of a layer (zero W1 row and bias, zero W2 column) go
 * without changing a score; embedding columns as the input projection reads them. */
TEST(pruning_a_transformer_keeps_outputs) {
  /* (time-aware positions read their column of the numerics after the embeddings' kept ones) */
  for (int time = 0; time < 2; time++) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse(time ? "seq fields=mcc:30:6 numeric=3 len=5 dense=0 tf=2:2:8 ffn=8 pos=time:2"
                                      : "seq fields=mcc:30:6 numeric=3 len=5 dense=0 tf=2:2:8 ffn=8",
                                 &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 6, NULL);
  int du[] = {1, 2, 4, 7};
  zero_unit_rows(m, "tf1.w1", du, 4);
  zero_cols(m, "tf1.b1", du, 4);
  zero_cols(m, "tf1.w2", du, 4);
  int ed[] = {0, 3, 5};
  zero_cols(m, "emb.mcc", ed, 3);
  petra_genome g;
  petra_err err = {0};
  REQUIRE(petra_genome_parse("emb.mcc:keep=0.5;tf1:keep=0.5", &g, &err) == 0);
  petra_model *p = petra_prune(m, &g, &err);
  REQUIRE(p);
  const petra_model_spec *ps = petra_model_get_spec(p);
  CHECK_EQ_INT(ps->tf_ffn[0], 8);
  CHECK_EQ_INT(ps->tf_ffn[1], 4);
  CHECK_EQ_INT(ps->fields[0].dim, 3);
  CHECK(petra_model_n_params(p) < petra_model_n_params(m));
  float *ex = examples(m, 16), o1[16], o2[16];
  CHECK(petra_model_forward(m, 16, ex, o1) == 0);
  CHECK(petra_model_forward(p, 16, ex, o2) == 0);
  for (int i = 0; i < 16; i++) CHECK_NEAR(o1[i], o2[i], 1e-5);
  free(ex);
  petra_model_free(p);
  petra_model_free(m);
  }
}

/* A transformer layer dropped whole (drop=1): where the block adds nothing to the residual
 * stream (its output projection and second feed-forward map at zero) the scores stay; the
 * other layer keeps its number (tfid=1, tensors tf1.*, its genes), the spec text round trips,
 * a fine-tuned, planned and snapshotted model follows; dropping every layer, or a drop on a
 * layer that is not a transformer layer, is refused. */
TEST(dropping_a_transformer_layer_keeps_outputs_and_the_others_names) {
  for (int causal = 0; causal < 2; causal++) {
    petra_model_spec spec;
    char st[160];
    snprintf(st, sizeof st, "seq fields=mcc:30:6 numeric=3 len=5 dense=0 tf=2:2:8 ffn=8 causal=%d", causal);
    REQUIRE(petra_model_spec_parse(st, &spec, NULL) == 0);
    petra_model *m = petra_model_new(&spec, 6, NULL);
    for (int drop = 0; drop < 2; drop++) {
      const petra_tensor_info *ti;
      const char *zero[] = {drop ? "tf1.wo" : "tf0.wo", drop ? "tf1.bo" : "tf0.bo", drop ? "tf1.w2" : "tf0.w2",
                            drop ? "tf1.b2" : "tf0.b2"};
      petra_model *z = petra_model_new(&spec, 6, NULL); /* the same seed: m's weights */
      memcpy(petra_model_params(z), petra_model_params(m), sizeof(float) * petra_model_n_params(m));
      for (int k = 0; k < 4; k++) {
        REQUIRE((ti = petra_model_find_tensor(z, zero[k])));
        memset(petra_model_params(z) + ti->offset, 0, sizeof(float) * (size_t)ti->rows * ti->cols);
      }
      petra_genome g;
      petra_err err = {0};
      REQUIRE(petra_genome_parse(drop ? "tf1:drop=1" : "tf0:drop=1;tf1:bits=8", &g, &err) == 0);
      petra_model *p = petra_prune(z, &g, &err);
      if (!p) fprintf(stderr, "prune: %s\n", err.msg);
      REQUIRE(p);
      const petra_model_spec *ps = petra_model_get_spec(p);
      CHECK_EQ_INT(ps->tf_layers, 1);
      CHECK_EQ_INT(ps->tf_id[0], drop ? 0 : 1);
      CHECK(petra_model_find_tensor(p, drop ? "tf0.wqkv" : "tf1.wqkv") != NULL);
      CHECK(petra_model_find_tensor(p, drop ? "tf1.wqkv" : "tf0.wqkv") == NULL);
      char text[512];
      petra_model_spec_format(ps, text, sizeof text);
      CHECK_MSG((strstr(text, "tfid=1") != NULL) == !drop, "%s", text);
      petra_model_spec back;
      REQUIRE(petra_model_spec_parse(text, &back, &err) == 0);
      CHECK(back.tf_layers == 1 && back.tf_id[0] == ps->tf_id[0]);
      float *ex = examples(m, 16), o1[16], o2[16], o3[16];
      CHECK(petra_model_forward(z, 16, ex, o1) == 0);
      CHECK(petra_model_forward(p, 16, ex, o2) == 0);
      double worst = 0;
      for (int i = 0; i < 16; i++) worst = fmax(worst, fabs(o1[i] - o2[i]));
      CHECK_MSG(worst < 1e-5, "drop tf%d (causal %d): scores moved by %.2e", drop, causal, worst);
      /* the plan of the dropped model with the genome that dropped it */
      petra_plan *pl = petra_plan_build(p, &g, &err);
      if (!pl) fprintf(stderr, "plan: %s\n", err.msg);
      REQUIRE(pl);
      void *sc = malloc(petra_plan_scratch_bytes(pl, 16));
      CHECK(petra_plan_score(pl, 16, ex, o3, sc) == 0);
      worst = 0;
      for (int i = 0; i < 16; i++) worst = fmax(worst, fabs(o3[i] - o2[i]));
      CHECK_MSG(worst < (drop ? 1e-5 : 0.05), "drop tf%d: plan differs by %.2e", drop, worst);
      free(sc);
      petra_plan_free(pl);
      free(ex);
      petra_model_free(p);
      petra_model_free(z);
    }
    petra_genome g;
    petra_err err = {0};
    REQUIRE(petra_genome_parse("tf0:drop=1;tf1:drop=1", &g, &err) == 0);
    CHECK(petra_prune(m, &g, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "drops every transformer layer") != NULL, "%s", err.msg);
    REQUIRE(petra_genome_parse("emb.mcc:drop=1", &g, &err) == 0);
    CHECK(petra_prune(m, &g, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "drop=1 applies to a core's droppable layers") != NULL, "%s", err.msg);
    petra_model_free(m);
  }
}

TEST(ts_mlp_and_gru_prune_consistently) {
  const char *specs[] = {"ts window=12 horizon=3 channels=2 arch=mlp hidden=10 ci=1",
                         "ts window=6 horizon=2 channels=3 arch=gru gru=8 ci=0 target=1"};
  for (int k = 0; k < 2; k++) {
    petra_model_spec spec;
    REQUIRE(petra_model_spec_parse(specs[k], &spec, NULL) == 0);
    petra_model *m = petra_model_new(&spec, 9, NULL);
    petra_genome g;
    petra_genome_parse("dense0:keep=0.3;gru0:keep=0.5", &g, NULL);
    petra_err err = {0};
    petra_model *p = petra_prune(m, &g, &err);
    REQUIRE(p);
    CHECK(petra_model_n_params(p) < petra_model_n_params(m));
    float *ex = examples(m, 4);
    float o[64];
    CHECK(petra_model_forward(p, 4, ex, o) == 0);
    for (int i = 0; i < 4 * petra_model_n_outputs(p); i++) CHECK(isfinite(o[i]));
    free(ex);
    petra_model_free(p);
    petra_model_free(m);
  }
}

/* Unstructured sparsity zeroes exactly round(s·n) weights of each of the layer's matrices,
 * the smallest in magnitude (every surviving |w| >= every zeroed one's original |w|), and
 * leaves biases and embeddings alone; the identity genome zeroes nothing. */
TEST(sparsity_zeroes_the_smallest_weights_exactly) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:30:6 numeric=3 len=5 dense=8 gru=6", &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 5, NULL);
  petra_genome g;
  petra_err err = {0};
  REQUIRE(petra_genome_parse("dense0:sparsity=0.5;gru0:sparsity=0.75;head:sparsity=0.3", &g, &err) == 0);
  petra_model *p = petra_prune(m, &g, &err);
  REQUIRE(p);
  const struct {
    const char *t;
    double s;
  } want[] = {{"dense0.w", 0.5}, {"gru0.wih", 0.75}, {"gru0.whh", 0.75}, {"head.w", 0.3},
              {"dense0.b", 0}, {"gru0.bih", 0}, {"emb.mcc", 0}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const petra_tensor_info *t = petra_model_find_tensor(p, want[i].t);
    REQUIRE(t);
    const float *a = petra_model_params(p) + t->offset, *o = petra_model_params(m) + t->offset;
    size_t n = (size_t)t->rows * t->cols, zeros = 0;
    float max_zeroed = 0, min_kept = INFINITY;
    for (size_t j = 0; j < n; j++) {
      if (a[j] == 0.0f) {
        zeros++;
        max_zeroed = fmaxf(max_zeroed, fabsf(o[j]));
      } else {
        CHECK(a[j] == o[j]); /* survivors unchanged */
        min_kept = fminf(min_kept, fabsf(a[j]));
      }
    }
    CHECK_MSG(zeros == (size_t)lround(want[i].s * (double)n), "%s: %zu zeros of %zu", want[i].t, zeros, n);
    CHECK_MSG(max_zeroed <= min_kept, "%s: zeroed %g > kept %g", want[i].t, max_zeroed, min_kept);
  }
  /* applying it again changes nothing; the identity genome zeroes nothing */
  size_t np = petra_model_n_params(p);
  float *before = malloc(sizeof(float) * np);
  memcpy(before, petra_model_params(p), sizeof(float) * np);
  CHECK(petra_sparsify(p, &g) == 0);
  CHECK(memcmp(before, petra_model_params(p), sizeof(float) * np) == 0);
  free(before);
  petra_genome id;
  petra_genome_identity(&id);
  CHECK(petra_sparsify(m, &id) == 0);
  petra_model *q = petra_prune(m, &id, &err);
  CHECK(memcmp(petra_model_params(q), petra_model_params(m), petra_model_n_params(m) * 4) == 0);
  petra_model_free(q);
  petra_model_free(p);
  petra_model_free(m);
}

/* A recovery fine-tune with keep_zeros holds the sparsity mask (every zero stays zero while
 * the other weights move); without it the zeroed weights move again. */
TEST(fine_tune_keeps_the_sparsity_mask) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:30:6 numeric=3 len=5 dense=8 gru=6", &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 6, NULL);
  petra_genome g;
  REQUIRE(petra_genome_parse("dense0:sparsity=0.6;gru0:sparsity=0.6;head:sparsity=0.5", &g, NULL) == 0);
  float *ex = examples(m, 64);
  for (int keep = 1; keep >= 0; keep--) {
    petra_model *p = petra_prune(m, &g, NULL);
    REQUIRE(p);
    size_t np = petra_model_n_params(p);
    float *before = malloc(sizeof(float) * np);
    memcpy(before, petra_model_params(p), sizeof(float) * np);
    petra_trainer_conf tc = petra_trainer_defaults();
    tc.keep_zeros = keep;
    petra_trainer *t = petra_trainer_new(p, &tc, NULL);
    REQUIRE(t);
    for (int s = 0; s < 20; s++) REQUIRE(petra_trainer_step(t, 64, ex, NULL) == 0);
    size_t zeros = 0, moved_zero = 0, moved = 0;
    const float *w = petra_model_params(p);
    for (size_t i = 0; i < np; i++) {
      if (before[i] == 0.0f) {
        zeros++;
        moved_zero += w[i] != 0.0f;
      }
      moved += w[i] != before[i];
    }
    CHECK(zeros > 100);
    CHECK(moved > np / 4);
    if (keep)
      CHECK_MSG(moved_zero == 0, "%zu of %zu zeros moved", moved_zero, zeros);
    else
      CHECK(moved_zero > zeros / 2);
    petra_trainer_free(t);
    free(before);
    petra_model_free(p);
  }
  free(ex);
  petra_model_free(m);
}
