/* Compressibility regularizers (L1, group lasso): gradients against finite differences,
 * alone and with the training loss; with a strong group lasso, training drives whole units
 * of dense0 toward zero (so structured pruning loses little). */
#include <math.h>

#include "check.h"
#include "exgen.h"
#include "gradcheck.h"
#include "petra/regularize.h"
#include "petra/trainer.h"

typedef struct ctx {
  petra_model *m;
  float l1, gl;
  const float *ex;
  int n;
} ctx;

static double penalty_only(void *p) {
  ctx *c = p;
  return petra_regularize(c->m, c->l1, c->gl, NULL);
}

static double loss_plus_penalty(void *p) {
  ctx *c = p;
  double l;
  petra_model_loss_grad(c->m, c->n, c->ex, &l, NULL);
  return l + petra_regularize(c->m, c->l1, c->gl, NULL);
}

TEST(regularizer_gradients_match_finite_differences) {
  const char *specs[] = {"seq fields=mcc:30:4 numeric=2 len=5 dense=6 act=tanh gru=5 classes=1",
                         "ts window=12 horizon=3 channels=2 arch=mlp hidden=8 ci=0 norm=none"};
  for (int k = 0; k < 2; k++) {
    petra_model_spec spec;
    REQUIRE(petra_model_spec_parse(specs[k], &spec, NULL) == 0);
    petra_model *m = petra_model_new(&spec, 3 + (uint64_t)k, NULL);
    REQUIRE(m);
    size_t np = petra_model_n_params(m);
    float *g = calloc(np, sizeof(float));
    struct {
      float l1, gl;
    } cases[] = {{0.01f, 0}, {0, 0.05f}, {0.003f, 0.02f}};
    for (int c = 0; c < 3; c++) {
      memset(g, 0, sizeof(float) * np);
      ctx cx = {m, cases[c].l1, cases[c].gl, NULL, 0};
      double pen = petra_regularize(m, cx.l1, cx.gl, g);
      CHECK(pen > 0);
      /* |w| has a kink at 0: initial weights are never exactly 0, and eps stays below them */
      double e = gradcheck(penalty_only, &cx, petra_model_params(m), g, np, 400, 1e-4f, 7, "penalty");
      CHECK_MSG(e < 2e-3, "%s l1=%g gl=%g: relative error %g", specs[k], cx.l1, cx.gl, e);
    }
    /* with the loss: the trainer adds the same gradient to the loss gradient */
    float *ex = exgen(m, 8, 11, 1.0);
    ctx cx = {m, 0.002f, 0.01f, ex, 8};
    double l;
    REQUIRE(petra_model_loss_grad(m, 8, ex, &l, NULL) == 0);
    memcpy(g, petra_model_grads(m), sizeof(float) * np);
    petra_regularize(m, cx.l1, cx.gl, g);
    double e = gradcheck(loss_plus_penalty, &cx, petra_model_params(m), g, np, 300, 1e-3f, 9, "loss+penalty");
    CHECK_MSG(e < 2e-2, "%s: loss+penalty relative error %g", specs[k], e);
    free(ex);
    free(g);
    petra_model_free(m);
  }
}

static double unit_norm(const petra_model *m, const char *t, int r) {
  const petra_tensor_info *ti = petra_model_find_tensor(m, t);
  const float *w = petra_model_params((petra_model *)m) + ti->offset + (size_t)r * ti->cols;
  double s = 0;
  for (int c = 0; c < ti->cols; c++) s += (double)w[c] * w[c];
  return sqrt(s);
}

TEST(group_lasso_training_zeroes_whole_units) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:30:4 numeric=2 len=5 dense=16 act=relu gru=8 classes=1", &spec, NULL) == 0);
  double small[2];
  for (int run = 0; run < 2; run++) {
    petra_model *m = petra_model_new(&spec, 5, NULL);
    petra_trainer_conf tc = petra_trainer_defaults();
    tc.adam.lr = 0.01f;
    tc.group_lasso = run ? 0.004f : 0.0f;
    petra_trainer *t = petra_trainer_new(m, &tc, NULL);
    REQUIRE(t);
    float *ex = exgen(m, 64, 13, 1.0);
    for (int s = 0; s < 400; s++) petra_trainer_step(t, 64, ex, NULL);
    int n_small = 0;
    for (int r = 0; r < 16; r++) n_small += unit_norm(m, "dense0.w", r) < 0.05;
    small[run] = n_small;
    free(ex);
    petra_trainer_free(t);
    petra_model_free(m);
  }
  fprintf(stderr, "near-zero dense0 units: %g without, %g with group lasso\n", small[0], small[1]);
  /* the regularized run has clearly more near-zero units */
  CHECK_MSG(small[1] >= small[0] + 4, "near-zero dense0 units: %g without, %g with group lasso", small[0], small[1]);
}
