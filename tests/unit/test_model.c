/* Whole models: spec text round trip and bad specs, finite-difference gradients of every
 * parameter of seq and ts models, shapes of outputs, reproducibility from a seed. */
#include "check.h"
#include "exgen.h"
#include "gradcheck.h"
#include "petra/model.h"
#include "block.h"
#include "core.h"

#define TOL 1e-3

/* Random valid examples for any spec. */
static float *make_examples(petra_model *m, int n, uint64_t seed) { return exgen(m, n, seed, 3.0); }

struct mctx {
  petra_model *m;
  int n;
  float *ex;
};
static double model_loss(void *p) {
  struct mctx *c = p;
  int no = petra_model_n_outputs(c->m);
  float *out = malloc(sizeof(float) * c->n * no);
  /* forward in inference mode equals training mode for models without dropout */
  petra_model_forward(c->m, c->n, c->ex, out);
  double l = petra_model_loss(c->m, c->n, c->ex, out);
  free(out);
  return l;
}

static void check_model_gradients(const char *spec_text, int n, float eps) {
  petra_model_spec spec;
  petra_err err = {0};
  int rc = petra_model_spec_parse(spec_text, &spec, &err);
  CHECK_MSG(rc == 0, "%s: %s", spec_text, err.msg);
  if (rc) return;
  petra_model *m = petra_model_new(&spec, 7, &err);
  REQUIRE(m);
  /* time-aware positions: at its init (N(0, 0.02²)) P makes the frequencies' and phases'
   * gradients smaller than the float loss resolves over a step; checked at 15× that scale */
  const petra_tensor_info *tp = petra_model_find_tensor(m, "tf.t2v.p");
  for (size_t i = 0; tp && i < (size_t)tp->rows * tp->cols; i++) petra_model_params(m)[tp->offset + i] *= 15.0f;
  struct mctx c = {m, n, make_examples(m, n, 99)};
  double loss;
  REQUIRE(petra_model_loss_grad(m, n, c.ex, &loss, NULL) == 0);
  CHECK_NEAR(loss, model_loss(&c), 1e-5 * fmax(1, fabs(loss)));
  size_t np = petra_model_n_params(m);
  float *g = malloc(sizeof(float) * np);
  memcpy(g, petra_model_grads(m), sizeof(float) * np);
  for (int t = 0; t < petra_model_n_tensors(m); t++) {
    const petra_tensor_info *ti = petra_model_tensor(m, t);
    char what[96];
    snprintf(what, sizeof what, "%.40s", ti->name);
    double rel = gradcheck(model_loss, &c, petra_model_params(m) + ti->offset, g + ti->offset,
                           (size_t)ti->rows * ti->cols, 60, eps, (uint64_t)t, what);
    CHECK_MSG(rel < TOL, "%s: tensor %s rel %.2e", spec_text, ti->name, rel);
  }
  free(g);
  free(c.ex);
  petra_model_free(m);
}

TEST(seq_binary_model_gradients_match_finite_differences) {
  check_model_gradients("seq fields=mcc:20:4,chan:3:2 numeric=3 len=6 dense=8 act=tanh gru=5", 4,
                        1e-2f);
}
TEST(seq_multiclass_layernorm_gelu_gradients_match_finite_differences) {
  check_model_gradients(
      "seq fields=mcc:10:3 numeric=2 len=5 dense=6 act=gelu layernorm=1 gru=4 classes=4", 3,
      1e-2f);
}
TEST(seq_without_dense_layer_gradients_match_finite_differences) {
  check_model_gradients("seq fields=mcc:10:3 numeric=2 len=4 dense=0 gru=4", 3, 1e-2f);
}
TEST(seq_lstm_gradients_match_finite_differences) {
  check_model_gradients("seq fields=mcc:20:4,chan:3:2 numeric=3 len=6 dense=8 act=tanh lstm=5", 4, 1e-2f);
  check_model_gradients("seq fields=mcc:10:3 numeric=2 len=4 dense=0 lstm=4 classes=3", 3, 1e-2f);
}
TEST(seq_stacked_cores_gradients_match_finite_differences) {
  check_model_gradients("seq fields=mcc:20:4 numeric=3 len=6 dense=8 act=tanh gru=5,4", 4, 1e-2f);
  /* (a deeper LSTM's lowest gradients fall to the float loss's difference noise, ~1e-6: these
   * sizes keep them well above it) */
  check_model_gradients("seq fields=mcc:20:4 numeric=3 len=4 dense=8 act=tanh lstm=6,6 classes=4", 4, 2e-2f);
  check_model_gradients("seq fields=mcc:20:4 numeric=3 len=4 dense=8 act=tanh gru=5,4,4 classes=3", 4, 1e-2f);
}
/* every recurrent core of engine/core.c's table, one layer and two stacked, in a model */
TEST(every_recurrent_core_in_a_model_matches_finite_differences) {
  for (int c = 0; c < petra_n_cores; c++) {
    char spec[160];
    snprintf(spec, sizeof spec, "seq fields=mcc:20:4 numeric=3 len=5 dense=8 act=tanh %s=5 classes=1", petra_cores[c].key);
    check_model_gradients(spec, 4, 1e-2f);
    snprintf(spec, sizeof spec, "seq fields=mcc:20:4 numeric=3 len=4 dense=0 %s=6,5 classes=3", petra_cores[c].key);
    check_model_gradients(spec, 4, 2e-2f);
  }
}
/* every block of engine/core.c's second table (engine/block.h), by its example core */
TEST(every_block_core_in_a_model_matches_finite_differences) {
  CHECK(petra_n_blocks >= 1);
  for (int b = 0; b < petra_n_blocks; b++) {
    char spec[160];
    snprintf(spec, sizeof spec, "seq fields=mcc:20:4 numeric=3 len=5 dense=8 act=tanh %s classes=1", petra_blocks[b]->example);
    check_model_gradients(spec, 4, 2e-3f);
    snprintf(spec, sizeof spec, "seq fields=mcc:10:3 numeric=2 len=4 dense=0 %s classes=3", petra_blocks[b]->example);
    check_model_gradients(spec, 3, 3e-3f);
  }
}
TEST(seq_transformer_gradients_match_finite_differences) {
  check_model_gradients("seq fields=mcc:20:4 numeric=3 len=5 dense=8 act=tanh tf=2:2:8 ffn=12,8", 4, 2e-3f);
  check_model_gradients("seq fields=mcc:10:3 numeric=2 len=4 dense=0 tf=1:2:6 causal=1 pool=mean classes=3", 3, 2e-3f);
  check_model_gradients("seq fields=mcc:20:4 numeric=3 len=5 dense=8 act=tanh tf=2:2:8 ffn=12,8 pos=time:2", 4, 3e-3f);
}
TEST(ts_linear_mlp_gru_gradients_match_finite_differences) {
  check_model_gradients("ts window=8 horizon=3 channels=2 arch=linear ci=1 norm=last", 3, 1e-2f);
  check_model_gradients("ts window=8 horizon=3 channels=3 arch=mlp hidden=5 act=tanh ci=0 norm=none",
                        3, 1e-2f);
  check_model_gradients("ts window=6 horizon=2 channels=2 arch=gru gru=4 ci=0 target=1 norm=last",
                        3, 1e-2f);
  check_model_gradients("ts window=6 horizon=2 channels=2 arch=gru gru=3 ci=1 loss=huber", 2,
                        1e-2f);
}

TEST(ts_dlinear_and_revin_gradients_match_finite_differences) {
  check_model_gradients("ts window=9 horizon=3 channels=2 arch=dlinear kernel=3 ci=1 norm=last", 3, 1e-2f);
  check_model_gradients("ts window=8 horizon=2 channels=3 arch=dlinear kernel=5 ci=0 norm=revin", 3, 1e-2f);
  check_model_gradients("ts window=8 horizon=3 channels=2 arch=linear ci=1 norm=revin", 3, 1e-2f);
  /* a kernel wider than the window (all edge padding) */
  check_model_gradients("ts window=4 horizon=2 channels=1 arch=dlinear kernel=7 ci=1 norm=none", 3, 1e-2f);
}

/* dlinear is linear in the window: the folded linear model computes the same forecasts, the
 * trend map really is applied to the moving average (changing it changes the output), and
 * init=zero with norm=last is the naive forecast exactly */
TEST(dlinear_folds_into_the_linear_model_it_equals) {
  const char *specs[] = {"ts window=30 horizon=5 channels=3 arch=dlinear kernel=7 ci=1 norm=last",
                         "ts window=20 horizon=4 channels=2 arch=dlinear kernel=25 ci=0 norm=revin"};
  for (int k = 0; k < 2; k++) {
    petra_model_spec spec;
    REQUIRE(petra_model_spec_parse(specs[k], &spec, NULL) == 0);
    petra_model *m = petra_model_new(&spec, 5, NULL);
    REQUIRE(m);
    int ef = petra_model_example_floats(m), no = petra_model_n_outputs(m);
    float *ex = exgen(m, 16, 3, 2.0), *a = malloc(sizeof(float) * 16 * no), *b = malloc(sizeof(float) * 16 * no);
    REQUIRE(petra_model_forward(m, 16, ex, a) == 0);
    petra_model *f = petra_model_fold(m, NULL);
    REQUIRE(f);
    CHECK(petra_model_get_spec(f)->arch == PETRA_TS_LINEAR);
    CHECK(petra_model_n_params(f) < petra_model_n_params(m));
    REQUIRE(petra_model_forward(f, 16, ex, b) == 0);
    double md = 0;
    for (int i = 0; i < 16 * no; i++) md = fmax(md, fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)a[i])));
    CHECK_MSG(md < 1e-5, "%s: folded vs dlinear %g", specs[k], md);
    const petra_tensor_info *tw = petra_model_find_tensor(m, "trend.w");
    REQUIRE(tw);
    petra_model_params(m)[tw->offset] += 0.5f;
    REQUIRE(petra_model_forward(m, 16, ex, b) == 0);
    md = 0;
    for (int i = 0; i < 16 * no; i++) md = fmax(md, fabs((double)a[i] - b[i]));
    CHECK(md > 1e-3);
    (void)ef;
    free(ex);
    free(a);
    free(b);
    petra_model_free(f);
    petra_model_free(m);
  }
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("ts window=12 horizon=3 channels=2 arch=dlinear kernel=5 ci=1 norm=last init=zero",
                                 &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 5, NULL);
  float *ex = exgen(m, 4, 8, 2.0), out[4 * 6];
  REQUIRE(petra_model_forward(m, 4, ex, out) == 0);
  int ef = petra_model_example_floats(m), bad = 0;
  for (int b2 = 0; b2 < 4; b2++)
    for (int h = 0; h < 3; h++)
      for (int c = 0; c < 2; c++) bad += out[b2 * 6 + h * 2 + c] != ex[(size_t)b2 * ef + 11 * 2 + c];
  CHECK_EQ_INT(bad, 0);
  free(ex);
  petra_model_free(m);
  /* init=mean: each output starts as the window mean of its channel */
  REQUIRE(petra_model_spec_parse("ts window=10 horizon=2 channels=2 arch=dlinear kernel=3 ci=0 norm=none init=mean",
                                 &spec, NULL) == 0);
  m = petra_model_new(&spec, 5, NULL);
  ex = exgen(m, 2, 8, 2.0);
  REQUIRE(petra_model_forward(m, 2, ex, out) == 0);
  ef = petra_model_example_floats(m);
  double md = 0;
  for (int b2 = 0; b2 < 2; b2++)
    for (int h = 0; h < 2; h++)
      for (int c = 0; c < 2; c++) {
        double mean = 0;
        for (int t = 0; t < 10; t++) mean += ex[(size_t)b2 * ef + t * 2 + c] / 10.0;
        md = fmax(md, fabs(out[b2 * 4 + h * 2 + c] - mean));
      }
  CHECK_MSG(md < 1e-5, "init=mean: %g from the window mean", md);
  free(ex);
  petra_model_free(m);
}

TEST(spec_text_round_trips) {
  const char *specs[] = {
      "ts window=336 horizon=96 channels=8 arch=dlinear kernel=25 ci=1 norm=last init=zero",
      "ts window=96 horizon=24 channels=7 arch=linear ci=1 norm=revin",
      "ts window=48 horizon=12 channels=3 arch=dlinear kernel=5 ci=0 norm=none init=mean",
      "seq fields=mcc:400:16 numeric=16 len=32 dense=32 act=relu gru=64 classes=1",
      "seq fields=mcc:66:8,day:7:2 numeric=3 len=20 dense=0 gru=32 classes=4 dropout=0.1",
      "seq fields=mcc:66:8 numeric=3 len=20 dense=16 lstm=24 classes=1",
      "seq fields=mcc:66:8 numeric=3 len=20 dense=16 gru=64,32 classes=1",
      "seq numeric=3 len=20 dense=16 lstm=32,16,8,8 classes=2 loss=ce",
      "seq numeric=3 len=20 dense=16 rnn=32,16 classes=1",
      "seq fields=mcc:66:8 numeric=3 len=20 dense=16 tf=2:4:32 ffn=64,48 causal=1 pool=mean classes=1",
      "seq numeric=3 len=8 dense=0 tf=1:1:8 ffn=16 causal=0 pool=last classes=1",
      "seq numeric=3 len=8 dense=0 tf=1:1:8 ffn=16 pos=time:2 classes=1",
      "seq numeric=3 len=8 dense=0 tf=2:2:8 ffn=16,12 tfid=1,3 causal=1 pool=last classes=1",
      "ts window=336 horizon=96 channels=7 arch=linear ci=1 norm=last",
      "ts window=96 horizon=24 channels=7 target=6 arch=gru gru=32 ci=0 norm=running loss=huber",
  };
  for (unsigned i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    petra_model_spec a, b;
    petra_err err = {0};
    CHECK_MSG(petra_model_spec_parse(specs[i], &a, &err) == 0, "%s", err.msg);
    char text[1024];
    petra_model_spec_format(&a, text, sizeof text);
    CHECK_MSG(petra_model_spec_parse(text, &b, &err) == 0, "%s: %s", text, err.msg);
    CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "%s -> %s", specs[i], text);
  }
}

TEST(bad_specs_are_rejected_with_the_key_named) {
  struct {
    const char *text, *expect;
  } bad[] = {
      {"", "empty"},
      {"cnn", "unknown kind"},
      {"seq gru=0", "gru=0"},
      {"seq fields=mcc:0:4", "vocab"},
      {"seq fields=mcc", "name:vocab:dim"},
      {"seq fields=:4:4", "name:vocab:dim"},
      {"seq len=abc", "len=abc"},
      {"seq dropout=1.5", "dropout"},
      {"seq dropout=0.99999999", "dropout"}, /* rounds to 1 as a float */
      {"seq classes=3 loss=bce", "loss=bce"},
      {"seq colour=red", "unknown key 'colour'"},
      {"seq gru", "not key=value"},
      {"ts window=0", "window=0"},
      {"ts channels=2 target=5", "target=5"},
      {"ts arch=cnn", "arch=cnn"},
      {"ts loss=bce", "mse or huber"},
      {"ts norm=minmax", "norm=minmax"},
      {"ts fields=a:1:1", "unknown key 'fields'"},
      {"ts arch=dlinear kernel=4", "odd kernel"},
      {"ts arch=dlinear kernel=0", "kernel=0"},
      {"ts init=ones", "init=ones"},
      {"seq init=zero", "unknown key 'init'"},
      {"seq lstm=0", "lstm=0"},
      {"seq gru=64,0", "gru=0"},
      {"seq gru=8,8,8,8,8", "at most 4 stacked layers"},
      {"seq gru=8,x", "gru=x"},
      {"ts arch=gru gru=8,4", "ts models"},
      {"seq tf=2:3:32", "multiple of HEADS"},
      {"seq tf=5:1:8", "LAYERS:HEADS:WIDTH"},
      {"seq tf=2:4", "LAYERS:HEADS:WIDTH"},
      {"seq tf=1:1:8 pool=max", "pool=max"},
      {"seq tf=1:1:8 causal=2", "causal=2"},
      {"seq numeric=2 tf=1:1:8 pos=time:2", "has 2 numeric input(s) (columns 0..1)"},
      {"seq numeric=2 gru=8 pos=time:0", "applies to a transformer"},
      {"seq numeric=2 tf=1:1:8 pos=abs", "pos=abs"},
      {"seq numeric=2 tf=1:1:8 pos=time:", "expected an integer"},
      {"seq numeric=2 tf=1:1:8 pos=time:-1", "expected an integer"},
      {"ts tf=1:1:8", "unknown key 'tf'"},
      {"seq tf=1:1:8 ffn=", "ffn="},  /* found by fuzz_text: an empty list indexed layer −1 */
      {"seq tf=1:1:8 ffn=,,", "ffn=,,"},
      {"seq tf=1:1:8 ffn=8,8,8,8,8", "at most 4 layers"},
      {"seq gru=", "gru="},
      {"seq lstm=,", "lstm="},
      {"ts arch=gru lstm=4", "unknown key 'lstm'"},
      {"seq tf=2:1:8 tfid=1", "one number per layer"},
      {"seq tf=2:1:8 tfid=1,1", "increasing"},
      {"seq tf=1:1:8 tfid=4", "tfid=4"},
      {"seq gru=8 tfid=0", "one number per layer"},
      {"seq tf=1:1:8 tfid=", "tfid="},
      {"seq tf=2:4:32 len=2048", "at most 16777216"}, /* 2 x 4 x 2048^2 attention weights per example */
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    petra_model_spec s;
    petra_err err = {0};
    int rc = petra_model_spec_parse(bad[i].text, &s, &err);
    CHECK_MSG(rc < 0, "'%s' was accepted", bad[i].text);
    CHECK_MSG(strstr(err.msg, bad[i].expect) != NULL, "'%s': message '%s' lacks '%s'",
              bad[i].text, err.msg, bad[i].expect);
  }
}

TEST(same_seed_gives_same_parameters_and_outputs) {
  petra_model_spec spec;
  petra_model_spec_parse("seq fields=mcc:400:16 numeric=16 len=32 dense=32 gru=64", &spec, NULL);
  petra_model *a = petra_model_new(&spec, 42, NULL), *b = petra_model_new(&spec, 42, NULL),
              *c = petra_model_new(&spec, 43, NULL);
  REQUIRE(a && b && c);
  size_t np = petra_model_n_params(a);
  /* R1: emb 400·16 + dense 32·32+32 + GRU 3·64·(32+64)+2·192 + head 64+1 */
  CHECK_EQ_INT(np, 400 * 16 + 32 * 32 + 32 + 3 * 64 * 96 + 2 * 192 + 65);
  CHECK(memcmp(petra_model_params(a), petra_model_params(b), np * 4) == 0);
  CHECK(memcmp(petra_model_params(a), petra_model_params(c), np * 4) != 0);
  float *ex = make_examples(a, 8, 1);
  float oa[8], ob[8];
  CHECK(petra_model_forward(a, 8, ex, oa) == 0);
  CHECK(petra_model_forward(b, 8, ex, ob) == 0);
  CHECK(memcmp(oa, ob, sizeof oa) == 0);
  /* batch-1 forward equals the batched forward for the same example */
  float o1;
  CHECK(petra_model_forward(a, 1, ex + 3 * petra_model_example_floats(a), &o1) == 0);
  CHECK_NEAR(o1, oa[3], 1e-5);
  free(ex);
  petra_model_free(a);
  petra_model_free(b);
  petra_model_free(c);
}

TEST(malformed_examples_are_rejected) {
  petra_model_spec spec;
  petra_model_spec_parse("seq fields=mcc:10:2 numeric=1 len=3 dense=4 gru=4", &spec, NULL);
  petra_model *m = petra_model_new(&spec, 1, NULL);
  REQUIRE(m);
  float *ex = make_examples(m, 1, 3);
  petra_err err = {0};
  CHECK(petra_model_check_example(m, ex, &err) == 0);
  float keep = ex[0];
  ex[0] = 0;
  CHECK(petra_model_check_example(m, ex, &err) == PETRA_ERANGE);
  ex[0] = 4;
  CHECK(petra_model_check_example(m, ex, &err) == PETRA_ERANGE);
  float out;
  CHECK(petra_model_forward(m, 1, ex, &out) == PETRA_EINVAL);
  ex[0] = keep;
  ex[1] = 10; /* code outside vocabulary */
  CHECK(petra_model_check_example(m, ex, &err) == PETRA_ERANGE);
  CHECK(strstr(err.msg, "mcc") != NULL);
  ex[1] = 1;
  ex[1 + 3] = NAN;
  CHECK(petra_model_check_example(m, ex, &err) == PETRA_EINVAL);
  free(ex);
  petra_model_free(m);
}
