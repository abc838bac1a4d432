/* Every layer's backward pass agrees with finite differences of its forward pass
 * (relative error < 1e-3 in float), for inputs and parameters. */
#include <stdint.h>

#include "check.h"
#include "gradcheck.h"
#include "petra/activation.h"
#include "petra/dense.h"
#include "petra/embedding.h"
#include "petra/gru.h"
#include "petra/lstm.h"
#include "petra/rnn.h"
#include "petra/tf.h"
#include "core.h"
#include "kernels.h"
#include "petra/loss.h"
#include "petra/norm.h"

#define TOL 1e-3

static void fill(float *x, size_t n, petra_rng *r, float scale) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(petra_rng_normal(r) * scale);
}
static double dotc(const float *y, const float *c, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)y[i] * c[i];
  return s;
}

/* ---- dense */
struct dense_ctx {
  int n, in, out;
  float x[5 * 7], W[4 * 7], b[4], y[5 * 4], c[5 * 4];
};
static double dense_loss(void *p) {
  struct dense_ctx *d = p;
  petra_dense_forward(d->n, d->in, d->out, d->x, d->W, d->b, d->y);
  return dotc(d->y, d->c, (size_t)d->n * d->out);
}
TEST(dense_gradients_match_finite_differences) {
  struct dense_ctx d = {.n = 5, .in = 7, .out = 4};
  petra_rng r;
  petra_rng_seed(&r, 1);
  fill(d.x, sizeof d.x / 4, &r, 1);
  fill(d.W, sizeof d.W / 4, &r, 0.5f);
  fill(d.b, 4, &r, 0.5f);
  fill(d.c, sizeof d.c / 4, &r, 1);
  float dx[5 * 7], dW[4 * 7] = {0}, db[4] = {0};
  petra_dense_backward(d.n, d.in, d.out, d.x, d.W, d.c, dx, dW, db);
  CHECK(gradcheck(dense_loss, &d, d.W, dW, 28, 100, 1e-2f, 2, "dense.W") < TOL);
  CHECK(gradcheck(dense_loss, &d, d.b, db, 4, 100, 1e-2f, 3, "dense.b") < TOL);
  CHECK(gradcheck(dense_loss, &d, d.x, dx, 35, 100, 1e-2f, 4, "dense.x") < TOL);
  /* batch-1 path (GEMV) gives the same outputs as the batched path */
  float y1[4];
  petra_dense_forward(1, d.in, d.out, d.x + 7, d.W, d.b, y1);
  petra_dense_forward(d.n, d.in, d.out, d.x, d.W, d.b, d.y);
  for (int j = 0; j < 4; j++) CHECK_NEAR(y1[j], d.y[4 + j], 1e-5);
}

/* ---- activations */
struct act_ctx {
  petra_act a;
  float x[64], y[64], c[64];
};
static double act_loss(void *p) {
  struct act_ctx *d = p;
  petra_act_forward(d->a, 64, d->x, d->y);
  return dotc(d->y, d->c, 64);
}
TEST(activation_gradients_match_finite_differences) {
  petra_act acts[] = {PETRA_ACT_RELU, PETRA_ACT_TANH, PETRA_ACT_SIGMOID, PETRA_ACT_GELU};
  for (int k = 0; k < 4; k++) {
    struct act_ctx d = {.a = acts[k]};
    petra_rng r;
    petra_rng_seed(&r, 10 + k);
    fill(d.x, 64, &r, 1.5f);
    /* keep ReLU inputs away from its kink so the finite difference is defined */
    for (int i = 0; i < 64; i++)
      if (fabsf(d.x[i]) < 0.05f) d.x[i] = 0.3f;
    fill(d.c, 64, &r, 1);
    float dx[64];
    petra_act_forward(d.a, 64, d.x, d.y);
    petra_act_backward(d.a, 64, d.x, d.y, d.c, dx);
    CHECK(gradcheck(act_loss, &d, d.x, dx, 64, 64, 1e-2f, 5, petra_act_name(d.a)) < TOL);
  }
  CHECK_EQ_INT(petra_act_parse("gelu"), PETRA_ACT_GELU);
  CHECK_EQ_INT(petra_act_parse("swish"), -1);
}

/* ---- layer norm */
struct ln_ctx {
  float x[6 * 10], g[10], b[10], y[60], st[12], c[60];
};
static double ln_loss(void *p) {
  struct ln_ctx *d = p;
  petra_layernorm_forward(6, 10, d->x, d->g, d->b, d->y, d->st);
  return dotc(d->y, d->c, 60);
}
TEST(layernorm_gradients_match_finite_differences) {
  struct ln_ctx d;
  petra_rng r;
  petra_rng_seed(&r, 20);
  fill(d.x, 60, &r, 2);
  fill(d.g, 10, &r, 1);
  fill(d.b, 10, &r, 1);
  fill(d.c, 60, &r, 1);
  float dx[60], dg[10] = {0}, db[10] = {0};
  ln_loss(&d);
  petra_layernorm_backward(6, 10, d.x, d.g, d.st, d.c, dx, dg, db);
  CHECK(gradcheck(ln_loss, &d, d.x, dx, 60, 60, 1e-2f, 6, "layernorm.x") < TOL);
  CHECK(gradcheck(ln_loss, &d, d.g, dg, 10, 10, 1e-2f, 7, "layernorm.gamma") < TOL);
  CHECK(gradcheck(ln_loss, &d, d.b, db, 10, 10, 1e-2f, 8, "layernorm.beta") < TOL);
  /* each normalized row has mean beta-weighted 0 when gamma=1, beta=0 */
  for (int j = 0; j < 10; j++) {
    d.g[j] = 1;
    d.b[j] = 0;
  }
  ln_loss(&d);
  double mean = 0;
  for (int j = 0; j < 10; j++) mean += d.y[j];
  CHECK_NEAR(mean / 10, 0, 1e-5);
}

/* ---- dropout */
TEST(dropout_is_seeded_scaled_and_backprops_through_its_mask) {
  float x[1000], y[1000], mask[1000], dy[1000], dx[1000];
  for (int i = 0; i < 1000; i++) x[i] = dy[i] = 1.0f;
  petra_rng r1, r2;
  petra_rng_seed(&r1, 5);
  petra_rng_seed(&r2, 5);
  petra_dropout_forward(1000, 0.25f, &r1, x, y, mask);
  int zeros = 0;
  for (int i = 0; i < 1000; i++) {
    zeros += y[i] == 0.0f;
    CHECK(y[i] == 0.0f || fabsf(y[i] - 1.0f / 0.75f) < 1e-6f);
  }
  CHECK(zeros > 200 && zeros < 300);
  float y2[1000], mask2[1000];
  petra_dropout_forward(1000, 0.25f, &r2, x, y2, mask2);
  CHECK(memcmp(y, y2, sizeof y) == 0);
  petra_dropout_backward(1000, mask, dy, dx);
  CHECK(memcmp(dx, y, sizeof y) == 0);
}

/* ---- embedding */
struct emb_ctx {
  float tab[10 * 3], out[6 * 5], c[6 * 5];
  int32_t codes[6];
};
static double emb_loss(void *p) {
  struct emb_ctx *d = p;
  petra_embedding_forward(6, 3, d->tab, d->codes, d->out, 5);
  double s = 0;
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 3; j++) s += d->out[i * 5 + j] * d->c[i * 5 + j];
  return s;
}
TEST(embedding_sparse_gradient_matches_finite_differences) {
  struct emb_ctx d = {.codes = {1, 4, 1, 9, 0, 4}};
  petra_rng r;
  petra_rng_seed(&r, 30);
  fill(d.tab, 30, &r, 1);
  fill(d.c, 30, &r, 1);
  float dt[30] = {0};
  petra_embedding_backward(6, 3, d.codes, d.c, 5, dt);
  CHECK(gradcheck(emb_loss, &d, d.tab, dt, 30, 30, 1e-2f, 9, "embedding") < TOL);
  /* rows never looked up get no gradient */
  for (int j = 0; j < 3; j++) CHECK(dt[2 * 3 + j] == 0.0f);
}

/* ---- GRU */
#define GT 5
#define GB 3
#define GI 4
#define GH 6
struct gru_ctx {
  float x[GT * GB * GI], Wih[3 * GH * GI], Whh[3 * GH * GH], bih[3 * GH], bhh[3 * GH];
  float h0[GB * GH];
  float hs[(GT + 1) * GB * GH];
  float ws[GT * GB * 3 * GH + GT * GB * GH + GB * 3 * GH + GH * 3 * GH];
  float cT[GB * GH], call[GT * GB * GH];
  int len[GB];
};
static double gru_loss(void *p) {
  struct gru_ctx *d = p;
  petra_gru_forward(GT, GB, GI, GH, d->x, d->len, d->h0, d->Wih, d->Whh, d->bih, d->bhh, d->hs,
                    d->ws);
  /* a loss on every step's output and on the final state */
  return dotc(d->hs + GB * GH, d->call, GT * GB * GH) + dotc(d->hs + GT * GB * GH, d->cT, GB * GH);
}
/* Random inputs, weights and initial states (seeded). */
static void gru_fill(struct gru_ctx *d, petra_rng *r) {
  fill(d->x, sizeof d->x / 4, r, 1);
  fill(d->Wih, sizeof d->Wih / 4, r, 0.5f);
  fill(d->Whh, sizeof d->Whh / 4, r, 0.5f);
  fill(d->bih, sizeof d->bih / 4, r, 0.3f);
  fill(d->bhh, sizeof d->bhh / 4, r, 0.3f);
  fill(d->h0, sizeof d->h0 / 4, r, 0.5f);
}
TEST(gru_gradients_match_finite_differences_with_variable_lengths) {
  struct gru_ctx d = {.len = {5, 2, 4}};
  petra_rng r;
  petra_rng_seed(&r, 40);
  gru_fill(&d, &r);
  fill(d.cT, sizeof d.cT / 4, &r, 1);
  fill(d.call, sizeof d.call / 4, &r, 1);
  CHECK(petra_gru_fwd_ws_floats(GT, GB, GH) == sizeof d.ws / 4);
  gru_loss(&d);
  static float bws[2 * GT * GB * 3 * GH + 3 * GB * GH];
  float dx[GT * GB * GI], dh0[GB * GH];
  float dWih[3 * GH * GI] = {0}, dWhh[3 * GH * GH] = {0}, dbih[3 * GH] = {0}, dbhh[3 * GH] = {0};
  petra_gru_backward(GT, GB, GI, GH, d.x, d.len, d.Wih, d.Whh, d.hs, d.ws, d.call, d.cT, dx, dh0,
                     dWih, dWhh, dbih, dbhh, bws);
  CHECK(gradcheck(gru_loss, &d, d.Wih, dWih, sizeof dWih / 4, 200, 1e-2f, 41, "gru.Wih") < TOL);
  CHECK(gradcheck(gru_loss, &d, d.Whh, dWhh, sizeof dWhh / 4, 200, 1e-2f, 42, "gru.Whh") < TOL);
  CHECK(gradcheck(gru_loss, &d, d.bih, dbih, sizeof dbih / 4, 200, 1e-2f, 43, "gru.bih") < TOL);
  CHECK(gradcheck(gru_loss, &d, d.bhh, dbhh, sizeof dbhh / 4, 200, 1e-2f, 44, "gru.bhh") < TOL);
  CHECK(gradcheck(gru_loss, &d, d.x, dx, sizeof dx / 4, 200, 1e-2f, 45, "gru.x") < TOL);
  CHECK(gradcheck(gru_loss, &d, d.h0, dh0, sizeof dh0 / 4, 200, 1e-2f, 46, "gru.h0") < TOL);
  /* sequence 1 has length 2: its state after step 2 is carried to the end */
  gru_loss(&d);
  for (int j = 0; j < GH; j++) CHECK(d.hs[(GT * GB + 1) * GH + j] == d.hs[(2 * GB + 1) * GH + j]);
}

/* A single sequence (B = 1: the one-row recurrent kernel) gives the states it has in a batch
 * (B > 1: the GEMM). */
TEST(gru_one_sequence_matches_its_row_in_a_batch) {
  struct gru_ctx d = {.len = {5, 2, 4}};
  petra_rng r;
  petra_rng_seed(&r, 47);
  gru_fill(&d, &r);
  petra_gru_forward(GT, GB, GI, GH, d.x, d.len, d.h0, d.Wih, d.Whh, d.bih, d.bhh, d.hs, d.ws);
  double worst = 0;
  for (int b = 0; b < GB; b++) {
    float x1[GT * GI], hs1[(GT + 1) * GH], ws1[GT * 3 * GH + GT * GH + 3 * GH + GH * 3 * GH];
    for (int t = 0; t < GT; t++) memcpy(x1 + t * GI, d.x + (t * GB + b) * GI, sizeof(float) * GI);
    petra_gru_forward(GT, 1, GI, GH, x1, &d.len[b], d.h0 + b * GH, d.Wih, d.Whh, d.bih, d.bhh, hs1, ws1);
    for (int t = 0; t <= GT; t++)
      for (int j = 0; j < GH; j++) worst = fmax(worst, fabs(hs1[t * GH + j] - d.hs[(t * GB + b) * GH + j]));
  }
  CHECK_MSG(worst < 1e-6, "B=1 and B=%d states differ by %.2e", GB, worst);
}

TEST(gru_matches_pytorch_reference_values) {
  /* torch.nn.GRU(2, 2) with all weights 0.1, biases 0, x = [[1, 2]], h0 = 0:
   * r = z = σ(0.3), n = tanh(0.3), h = (1−z)·n. */
  float W[6 * 2], U[6 * 2], b[6] = {0}, x[2] = {1, 2}, hs[4], ws[6 + 2 + 6 + 12];
  for (int i = 0; i < 12; i++) W[i] = U[i] = 0.1f;
  petra_gru_forward(1, 1, 2, 2, x, NULL, NULL, W, U, b, b, hs, ws);
  double z = 1.0 / (1.0 + exp(-0.3)), n = tanh(0.3);
  CHECK_NEAR(hs[2], (1 - z) * n, 1e-6);
  CHECK_NEAR(hs[3], (1 - z) * n, 1e-6);
}

/* ---- LSTM (the GRU's sizes) */
struct lstm_ctx {
  float x[GT * GB * GI], Wih[4 * GH * GI], Whh[4 * GH * GH], bih[4 * GH], bhh[4 * GH];
  float h0[GB * GH];
  float hs[(GT + 1) * GB * GH];
  float ws[GT * GB * 4 * GH + (GT + 1) * GB * GH + GB * 4 * GH + GH * 4 * GH];
  float cT[GB * GH], call[GT * GB * GH];
  int len[GB];
};
static double lstm_loss(void *p) {
  struct lstm_ctx *d = p;
  petra_lstm_forward(GT, GB, GI, GH, d->x, d->len, d->h0, d->Wih, d->Whh, d->bih, d->bhh, d->hs, d->ws);
  return dotc(d->hs + GB * GH, d->call, GT * GB * GH) + dotc(d->hs + GT * GB * GH, d->cT, GB * GH);
}
TEST(lstm_gradients_match_finite_differences_with_variable_lengths) {
  struct lstm_ctx d = {.len = {5, 2, 4}};
  petra_rng r;
  petra_rng_seed(&r, 50);
  fill(d.x, sizeof d.x / 4, &r, 1);
  fill(d.Wih, sizeof d.Wih / 4, &r, 0.5f);
  fill(d.Whh, sizeof d.Whh / 4, &r, 0.5f);
  fill(d.bih, sizeof d.bih / 4, &r, 0.3f);
  fill(d.bhh, sizeof d.bhh / 4, &r, 0.3f);
  fill(d.h0, sizeof d.h0 / 4, &r, 0.5f);
  fill(d.cT, sizeof d.cT / 4, &r, 1);
  fill(d.call, sizeof d.call / 4, &r, 1);
  CHECK(petra_lstm_fwd_ws_floats(GT, GB, GH) == sizeof d.ws / 4);
  lstm_loss(&d);
  static float bws[GT * GB * 4 * GH + 3 * GB * GH + GH];
  CHECK(petra_lstm_bwd_ws_floats(GT, GB, GH) == sizeof bws / 4);
  float dx[GT * GB * GI], dh0[GB * GH];
  float dWih[4 * GH * GI] = {0}, dWhh[4 * GH * GH] = {0}, dbih[4 * GH] = {0}, dbhh[4 * GH] = {0};
  petra_lstm_backward(GT, GB, GI, GH, d.x, d.len, d.Wih, d.Whh, d.hs, d.ws, d.call, d.cT, dx, dh0, dWih, dWhh,
                      dbih, dbhh, bws);
  CHECK(gradcheck(lstm_loss, &d, d.Wih, dWih, sizeof dWih / 4, 200, 1e-2f, 51, "lstm.Wih") < TOL);
  CHECK(gradcheck(lstm_loss, &d, d.Whh, dWhh, sizeof dWhh / 4, 200, 1e-2f, 52, "lstm.Whh") < TOL);
  CHECK(gradcheck(lstm_loss, &d, d.bih, dbih, sizeof dbih / 4, 200, 1e-2f, 53, "lstm.bih") < TOL);
  CHECK(gradcheck(lstm_loss, &d, d.bhh, dbhh, sizeof dbhh / 4, 200, 1e-2f, 54, "lstm.bhh") < TOL);
  CHECK(gradcheck(lstm_loss, &d, d.x, dx, sizeof dx / 4, 200, 1e-2f, 55, "lstm.x") < TOL);
  CHECK(gradcheck(lstm_loss, &d, d.h0, dh0, sizeof dh0 / 4, 200, 1e-2f, 56, "lstm.h0") < TOL);
  /* sequence 1 has length 2: its state after step 2 is carried to the end */
  lstm_loss(&d);
  for (int j = 0; j < GH; j++) CHECK(d.hs[(GT * GB + 1) * GH + j] == d.hs[(2 * GB + 1) * GH + j]);
}

TEST(lstm_matches_pytorch_reference_values) {
  /* torch.nn.LSTM(2, 2) with all weights 0.1, biases 0, x = [[1, 2]], h0 = c0 = 0: every gate's
   * pre-activation is 0.3, c = σ(0.3)·tanh(0.3), h = σ(0.3)·tanh(c); a second step from there */
  float W[8 * 2], U[8 * 2], b[8] = {0}, x[4] = {1, 2, 0, 0}, hs[6], ws[2 * 8 + 3 * 2 + 8 + 2 * 8];
  for (int i = 0; i < 16; i++) W[i] = U[i] = 0.1f;
  petra_lstm_forward(2, 1, 2, 2, x, NULL, NULL, W, U, b, b, hs, ws);
  double sg = 1.0 / (1.0 + exp(-0.3)), c = sg * tanh(0.3), h = sg * tanh(c);
  CHECK_NEAR(hs[2], h, 1e-6);
  CHECK_NEAR(hs[3], h, 1e-6);
  double a = 0.1 * 2 * h, s2 = 1.0 / (1.0 + exp(-a)), c2 = s2 * c + s2 * tanh(a);
  CHECK_NEAR(hs[4], s2 * tanh(c2), 1e-6);
}

/* The plans' cell step (the kernel on rows from the two products) is the forward pass's
 * step, in every kernel variant this CPU runs. */
TEST(lstm_cell_rows_match_the_forward_pass) {
  struct lstm_ctx d = {.len = {5, 2, 4}};
  petra_rng r;
  petra_rng_seed(&r, 57);
  fill(d.x, sizeof d.x / 4, &r, 1);
  fill(d.Wih, sizeof d.Wih / 4, &r, 0.5f);
  fill(d.Whh, sizeof d.Whh / 4, &r, 0.5f);
  fill(d.bih, sizeof d.bih / 4, &r, 0.3f);
  fill(d.bhh, sizeof d.bhh / 4, &r, 0.3f);
  petra_lstm_forward(GT, GB, GI, GH, d.x, d.len, NULL, d.Wih, d.Whh, d.bih, d.bhh, d.hs, d.ws);
  float h[GB * GH] = {0}, c[GB * GH] = {0}, hn[GB * GH], pre[GB * 4 * GH], hh[GB * 4 * GH];
  double worst = 0;
  for (int t = 0; t < GT; t++) {
    for (int b = 0; b < GB; b++)
      for (int o = 0; o < 4 * GH; o++) {
        double a = d.bih[o], u = d.bhh[o];
        for (int i = 0; i < GI; i++) a += (double)d.Wih[o * GI + i] * d.x[(t * GB + b) * GI + i];
        for (int i = 0; i < GH; i++) u += (double)d.Whh[o * GH + i] * h[b * GH + i];
        pre[b * 4 * GH + o] = (float)a;
        hh[b * 4 * GH + o] = (float)u;
      }
    memcpy(hn, h, sizeof h);
    petra_kernels_best()->lstm_fwd_rows(GH, GB, pre, hh, c, hn, d.len, t);
    memcpy(h, hn, sizeof h);
    for (int k = 0; k < GB * GH; k++) worst = fmax(worst, fabs(h[k] - d.hs[(t + 1) * GB * GH + k]));
  }
  CHECK_MSG(worst < 1e-5, "cell rows and the forward pass differ by %.2e", worst);
}

/* ---- every recurrent core in engine/core.c's table, through the row alone: a kind added
 * to the table is checked here without a test of its own (its passes against finite
 * differences with variable lengths and h0; its plan step against the forward pass). */
#define CG 4 /* most gates per unit of any row */
struct core_ctx {
  const petra_core *c;
  float x[GT * GB * GI], Wih[CG * GH * GI], Whh[CG * GH * GH], bih[CG * GH], bhh[CG * GH];
  float h0[GB * GH], hs[(GT + 1) * GB * GH], cT[GB * GH], call[GT * GB * GH];
  float *ws;
  int len[GB];
};
static double core_loss(void *p) {
  struct core_ctx *d = p;
  d->c->forward(GT, GB, GI, GH, d->x, d->len, d->h0, d->Wih, d->Whh, d->bih, d->bhh, d->hs, d->ws);
  return dotc(d->hs + GB * GH, d->call, GT * GB * GH) + dotc(d->hs + GT * GB * GH, d->cT, GB * GH);
}
TEST(every_recurrent_core_row_passes_finite_differences_and_its_plan_step_matches_its_forward) {
  CHECK(petra_n_cores >= 3);
  for (int ci = 0; ci < petra_n_cores; ci++) {
    static struct core_ctx d;
    memset(&d, 0, sizeof d);
    d.c = &petra_cores[ci];
    d.len[0] = 5, d.len[1] = 2, d.len[2] = 4;
    CHECK(d.c->kind == (petra_core_kind)ci && d.c->gates <= CG && petra_core_by_key(d.c->key) == d.c);
    const int G = d.c->gates * GH;
    petra_rng r;
    petra_rng_seed(&r, 90 + (uint64_t)ci);
    fill(d.x, GT * GB * GI, &r, 1);
    fill(d.Wih, (size_t)G * GI, &r, 0.5f);
    fill(d.Whh, (size_t)G * GH, &r, 0.5f);
    fill(d.bih, (size_t)G, &r, 0.3f);
    fill(d.bhh, (size_t)G, &r, 0.3f);
    fill(d.h0, GB * GH, &r, 0.5f);
    fill(d.cT, GB * GH, &r, 1);
    fill(d.call, GT * GB * GH, &r, 1);
    d.ws = calloc(d.c->fwd_ws_floats(GT, GB, GH), sizeof(float));
    float *bws = calloc(d.c->bwd_ws_floats(GT, GB, GH), sizeof(float));
    float dx[GT * GB * GI], dh0[GB * GH];
    static float dWih[CG * GH * GI], dWhh[CG * GH * GH], dbih[CG * GH], dbhh[CG * GH];
    memset(dWih, 0, sizeof dWih), memset(dWhh, 0, sizeof dWhh), memset(dbih, 0, sizeof dbih), memset(dbhh, 0, sizeof dbhh);
    core_loss(&d);
    d.c->backward(GT, GB, GI, GH, d.x, d.len, d.Wih, d.Whh, d.hs, d.ws, d.call, d.cT, dx, dh0, dWih, dWhh, dbih,
                  dbhh, bws);
    char nm[6][32];
    const char *part[6] = {"Wih", "Whh", "bih", "x", "h0", "bhh"};
    for (int k = 0; k < 6; k++) snprintf(nm[k], sizeof nm[k], "%s.%s", d.c->key, part[k]);
    CHECK(gradcheck(core_loss, &d, d.Wih, dWih, (size_t)G * GI, 200, 1e-2f, 91, nm[0]) < TOL);
    CHECK(gradcheck(core_loss, &d, d.Whh, dWhh, (size_t)G * GH, 200, 1e-2f, 92, nm[1]) < TOL);
    CHECK(gradcheck(core_loss, &d, d.bih, dbih, (size_t)G, 200, 1e-2f, 93, nm[2]) < TOL);
    CHECK(gradcheck(core_loss, &d, d.x, dx, GT * GB * GI, 200, 1e-2f, 95, nm[3]) < TOL);
    CHECK(gradcheck(core_loss, &d, d.h0, dh0, GB * GH, 200, 1e-2f, 96, nm[4]) < TOL);
    CHECK(gradcheck(core_loss, &d, d.bhh, dbhh, (size_t)G, 200, 1e-2f, 94, nm[5]) < TOL);
    /* sequence 1 has length 2: its state after step 2 is carried to the end */
    core_loss(&d);
    for (int j = 0; j < GH; j++) CHECK(d.hs[(GT * GB + 1) * GH + j] == d.hs[(2 * GB + 1) * GH + j]);
    /* the plans' step (the products in double here) from h0 = 0, as plan.c's core loop runs it */
    float *h = calloc(3 * GB * GH, sizeof(float)), *aux = h + GB * GH, *hn = aux + GB * GH;
    float *pre = malloc(sizeof(float) * GB * G), *hh = malloc(sizeof(float) * GB * G);
    d.c->forward(GT, GB, GI, GH, d.x, d.len, NULL, d.Wih, d.Whh, d.bih, d.bhh, d.hs, d.ws);
    double worst = 0;
    for (int t = 0; t < GT; t++) {
      for (int b = 0; b < GB; b++)
        for (int o = 0; o < G; o++) {
          double a = d.bih[o], u = d.bhh[o];
          for (int i = 0; i < GI; i++) a += (double)d.Wih[o * GI + i] * d.x[(t * GB + b) * GI + i];
          for (int i = 0; i < GH; i++) u += (double)d.Whh[o * GH + i] * h[b * GH + i];
          pre[b * G + o] = (float)a;
          hh[b * G + o] = (float)u;
        }
      d.c->step_rows(GH, GB, pre, hh, h, aux, hn, d.len, t);
      for (int b = 0; b < GB; b++)
        if (t >= d.len[b]) memcpy(hn + b * GH, h + b * GH, sizeof(float) * GH);
      memcpy(h, hn, sizeof(float) * GB * GH);
      for (int k = 0; k < GB * GH; k++) worst = fmax(worst, fabs(h[k] - d.hs[(t + 1) * GB * GH + k]));
    }
    CHECK_MSG(worst < 1e-5, "%s: the plan step and the forward pass differ by %.2e", d.c->key, worst);
    free(h), free(pre), free(hh), free(bws), free(d.ws);
  }
}

TEST(rnn_matches_pytorch_reference_values) {
  /* torch.nn.RNN(2, 2) (tanh) with all weights 0.1, biases 0.05, x = [[1, 2], [0, 1]], h0 = 0:
   * h1 = tanh(0.3 + 0.1), h2 = tanh(0.1 + 0.1 + 0.1·2·h1) */
  float W[4], U[4], b[2] = {0.05f, 0.05f}, x[4] = {1, 2, 0, 1}, hs[6], ws[2 * 2 + 2 + 4];
  for (int i = 0; i < 4; i++) W[i] = U[i] = 0.1f;
  CHECK(petra_rnn_fwd_ws_floats(2, 1, 2) == sizeof ws / 4);
  petra_rnn_forward(2, 1, 2, 2, x, NULL, NULL, W, U, b, b, hs, ws);
  double h1 = tanh(0.4), h2 = tanh(0.2 + 0.2 * h1);
  CHECK_NEAR(hs[2], h1, 1e-6);
  CHECK_NEAR(hs[3], h1, 1e-6);
  CHECK_NEAR(hs[4], h2, 1e-6);
  CHECK_NEAR(hs[5], h2, 1e-6);
}

/* ---- transformer encoder */
enum { TT = 4, TB = 3, TI = 5, TW = 8, TH = 2, TF = 6, TL = 2 };
struct tf_ctx {
  petra_tf_dims d;
  float x[TT * TB * TI], win[TW * TI], bin[TW], pos[TT * TW], lnf_g[TW], lnf_b[TW];
  float ln1g[TL][TW], ln1b[TL][TW], wqkv[TL][3 * TW * TW], bqkv[TL][3 * TW], wo[TL][TW * TW], bo[TL][TW];
  float ln2g[TL][TW], ln2b[TL][TW], w1[TL][TF * TW], b1[TL][TF], w2[TL][TW * TF], b2[TL][TW];
  float c[TB * TW], out[TB * TW];
  float tau[TT * TB], t2v_w[PETRA_TF_T2V], t2v_b[PETRA_TF_T2V], t2v_p[TW * PETRA_TF_T2V];
  int len[TB];
  float *ws;
  petra_tf_params p;
};
static void tf_lin(void *ctx, int id, int n, const float *x, float *y) {
  struct tf_ctx *c = ctx;
  if (id == PETRA_TF_IN) {
    petra_dense_forward(n, TI, TW, x, c->win, c->bin, y);
    return;
  }
  int l = id / 4, k = id % 4;
  if (k == PETRA_TF_QKV) petra_dense_forward(n, TW, 3 * TW, x, c->wqkv[l], c->bqkv[l], y);
  if (k == PETRA_TF_O) petra_dense_forward(n, TW, TW, x, c->wo[l], c->bo[l], y);
  if (k == PETRA_TF_F1) petra_dense_forward(n, TW, TF, x, c->w1[l], c->b1[l], y);
  if (k == PETRA_TF_F2) petra_dense_forward(n, TF, TW, x, c->w2[l], c->b2[l], y);
}
static double tf_loss(void *ctx) {
  struct tf_ctx *c = ctx;
  petra_tf_forward(&c->d, &c->p, tf_lin, c, c->x, c->len, c->ws, c->out);
  return dotc(c->out, c->c, TB * TW);
}
/* (a step of 2e-3: these narrow random layers are strongly curved, and at 1e-2 the central
 * differences are off by their third-order term) */
static void tf_check(int causal, int pool_mean, int time) {
  static struct tf_ctx c;
  memset(&c, 0, sizeof c);
  c.d = (petra_tf_dims){.T = TT, .B = TB, .in = TI, .W = TW, .heads = TH, .layers = TL, .causal = causal,
                        .pool_mean = pool_mean, .F = {TF, TF}};
  c.len[0] = 4, c.len[1] = 2, c.len[2] = 3;
  petra_rng r;
  petra_rng_seed(&r, 70 + causal * 2 + pool_mean + 4 * time);
  fill(c.x, sizeof c.x / 4, &r, 1);
  fill(c.win, sizeof c.win / 4, &r, 0.5f);
  fill(c.bin, sizeof c.bin / 4, &r, 0.2f);
  fill(c.pos, sizeof c.pos / 4, &r, 0.3f);
  fill(c.c, sizeof c.c / 4, &r, 1);
  if (time) { /* time-aware positions: an event age per row, decreasing along each sequence */
    for (int t = 0; t < TT; t++)
      for (int b = 0; b < TB; b++) c.tau[t * TB + b] = 1.5f - 0.7f * (float)t + 0.1f * (float)b;
    fill(c.t2v_w, PETRA_TF_T2V, &r, 1.0f);
    fill(c.t2v_b, PETRA_TF_T2V, &r, 1.5f);
    fill(c.t2v_p, TW * PETRA_TF_T2V, &r, 0.3f);
    c.d.tau = c.tau;
    c.d.tau_stride = 1;
  }
  for (int j = 0; j < TW; j++) c.lnf_g[j] = 1.0f + 0.1f * (float)petra_rng_normal(&r), c.lnf_b[j] = 0.1f * (float)petra_rng_normal(&r);
  for (int l = 0; l < TL; l++) {
    fill(c.wqkv[l], 3 * TW * TW, &r, 0.5f);
    fill(c.bqkv[l], 3 * TW, &r, 0.2f);
    fill(c.wo[l], TW * TW, &r, 0.4f);
    fill(c.bo[l], TW, &r, 0.2f);
    fill(c.w1[l], TF * TW, &r, 0.5f);
    fill(c.b1[l], TF, &r, 0.3f);
    fill(c.w2[l], TW * TF, &r, 0.4f);
    fill(c.b2[l], TW, &r, 0.2f);
    for (int j = 0; j < TW; j++) {
      c.ln1g[l][j] = 1.0f + 0.1f * (float)petra_rng_normal(&r), c.ln1b[l][j] = 0.1f * (float)petra_rng_normal(&r);
      c.ln2g[l][j] = 1.0f + 0.1f * (float)petra_rng_normal(&r), c.ln2b[l][j] = 0.1f * (float)petra_rng_normal(&r);
    }
    c.p.l[l] = (petra_tf_layer_params){c.ln1g[l], c.ln1b[l], c.wqkv[l], c.bqkv[l], c.wo[l], c.bo[l],
                                       c.ln2g[l], c.ln2b[l], c.w1[l], c.b1[l], c.w2[l], c.b2[l]};
  }
  c.p.win = c.win, c.p.bin = c.bin, c.p.pos = time ? NULL : c.pos, c.p.lnf_g = c.lnf_g, c.p.lnf_b = c.lnf_b;
  c.p.t2v_w = c.t2v_w, c.p.t2v_b = c.t2v_b, c.p.t2v_p = c.t2v_p;
  c.ws = calloc(petra_tf_fwd_ws_floats(&c.d), sizeof(float));
  float *bws = calloc(petra_tf_bwd_ws_floats(&c.d), sizeof(float));
  static float g[8][TL][3 * TW * TW], gwin[TW * TI], gbin[TW], gpos[TT * TW], gfg[TW], gfb[TW], gln[4][TL][TW];
  static float gtw[PETRA_TF_T2V], gtb[PETRA_TF_T2V], gtp[TW * PETRA_TF_T2V];
  memset(g, 0, sizeof g), memset(gwin, 0, sizeof gwin), memset(gbin, 0, sizeof gbin), memset(gpos, 0, sizeof gpos);
  memset(gfg, 0, sizeof gfg), memset(gfb, 0, sizeof gfb), memset(gln, 0, sizeof gln);
  memset(gtw, 0, sizeof gtw), memset(gtb, 0, sizeof gtb), memset(gtp, 0, sizeof gtp);
  petra_tf_grads gr = {.win = gwin, .bin = gbin, .pos = gpos, .lnf_g = gfg, .lnf_b = gfb,
                       .t2v_w = gtw, .t2v_b = gtb, .t2v_p = gtp};
  for (int l = 0; l < TL; l++)
    gr.l[l] = (petra_tf_layer_grads){gln[0][l], gln[1][l], g[0][l], g[1][l], g[2][l], g[3][l],
                                     gln[2][l], gln[3][l], g[4][l], g[5][l], g[6][l], g[7][l]};
  float dx[TT * TB * TI];
  tf_loss(&c);
  petra_tf_backward(&c.d, &c.p, c.x, c.len, c.ws, c.c, dx, &gr, bws);
  char what[64];
  snprintf(what, sizeof what, "tf causal=%d mean=%d time=%d", causal, pool_mean, time);
  CHECK_MSG(gradcheck(tf_loss, &c, c.x, dx, sizeof c.x / 4, 200, 2e-3f, 71, "tf.x") < TOL, "%s x", what);
  CHECK_MSG(gradcheck(tf_loss, &c, c.win, gwin, TW * TI, 200, 2e-3f, 72, "tf.win") < TOL, "%s win", what);
  if (time) {
    CHECK_MSG(gradcheck(tf_loss, &c, c.t2v_w, gtw, PETRA_TF_T2V, 200, 2e-3f, 83, "tf.t2v_w") < TOL, "%s t2v.w", what);
    CHECK_MSG(gradcheck(tf_loss, &c, c.t2v_b, gtb, PETRA_TF_T2V, 200, 2e-3f, 84, "tf.t2v_b") < TOL, "%s t2v.b", what);
    CHECK_MSG(gradcheck(tf_loss, &c, c.t2v_p, gtp, TW * PETRA_TF_T2V, 200, 2e-3f, 85, "tf.t2v_p") < TOL, "%s t2v.p", what);
    double gsum = 0; /* (the table is not read: its gradient stays 0) */
    for (int i = 0; i < TT * TW; i++) gsum += fabs(gpos[i]);
    CHECK_MSG(gsum == 0, "%s: the position table got a gradient", what);
  } else {
    CHECK_MSG(gradcheck(tf_loss, &c, c.pos, gpos, TT * TW, 200, 2e-3f, 73, "tf.pos") < TOL, "%s pos", what);
  }
  CHECK_MSG(gradcheck(tf_loss, &c, c.lnf_g, gfg, TW, 200, 2e-3f, 74, "tf.lnf_g") < TOL, "%s lnf", what);
  for (int l = 0; l < TL; l++) {
    CHECK_MSG(gradcheck(tf_loss, &c, c.wqkv[l], g[0][l], 3 * TW * TW, 200, 2e-3f, 75, "tf.wqkv") < TOL, "%s wqkv %d", what, l);
    CHECK_MSG(gradcheck(tf_loss, &c, c.bqkv[l], g[1][l], 3 * TW, 200, 2e-3f, 76, "tf.bqkv") < TOL, "%s bqkv %d", what, l);
    CHECK_MSG(gradcheck(tf_loss, &c, c.wo[l], g[2][l], TW * TW, 200, 2e-3f, 77, "tf.wo") < TOL, "%s wo %d", what, l);
    CHECK_MSG(gradcheck(tf_loss, &c, c.w1[l], g[4][l], TF * TW, 200, 2e-3f, 78, "tf.w1") < TOL, "%s w1 %d", what, l);
    CHECK_MSG(gradcheck(tf_loss, &c, c.b1[l], g[5][l], TF, 200, 2e-3f, 79, "tf.b1") < TOL, "%s b1 %d", what, l);
    CHECK_MSG(gradcheck(tf_loss, &c, c.w2[l], g[6][l], TW * TF, 200, 2e-3f, 80, "tf.w2") < TOL, "%s w2 %d", what, l);
    CHECK_MSG(gradcheck(tf_loss, &c, c.ln1g[l], gln[0][l], TW, 200, 2e-3f, 81, "tf.ln1g") < TOL, "%s ln1g %d", what, l);
    CHECK_MSG(gradcheck(tf_loss, &c, c.ln2b[l], gln[3][l], TW, 200, 2e-3f, 82, "tf.ln2b") < TOL, "%s ln2b %d", what, l);
  }
  /* padding: events past a sequence's length change nothing */
  tf_loss(&c);
  float o1[TB * TW];
  memcpy(o1, c.out, sizeof o1);
  for (int t = c.len[1]; t < TT; t++)
    for (int i = 0; i < TI; i++) c.x[(t * TB + 1) * TI + i] += 3.0f;
  tf_loss(&c);
  CHECK_MSG(!memcmp(o1, c.out, sizeof o1), "%s: padding reached the output", what);
  /* out_only (plans, evaluation; with last-event pooling the last layer on B rows): the same out */
  c.d.out_only = 1;
  tf_loss(&c);
  c.d.out_only = 0;
  double dmax = 0;
  for (int i = 0; i < TB * TW; i++) dmax = fmax(dmax, fabs(c.out[i] - o1[i]));
  CHECK_MSG(dmax < 1e-6, "%s: out_only differs by %.2e", what, dmax);
  free(c.ws);
  free(bws);
}
TEST(transformer_gradients_match_finite_differences_with_padding) {
  tf_check(0, 0, 0);
  tf_check(1, 0, 0);
  tf_check(0, 1, 0);
  tf_check(0, 0, 1);
  tf_check(1, 1, 1);
}

/* ---- losses */
struct loss_ctx {
  petra_loss l;
  int n, k;
  float out[12], tgt[12];
};
static double loss_only(void *p) {
  struct loss_ctx *d = p;
  return petra_loss_eval(d->l, d->n, d->k, d->out, d->tgt, NULL);
}
TEST(loss_gradients_match_finite_differences) {
  struct loss_ctx cases[4] = {
      {.l = PETRA_LOSS_BCE, .n = 6, .k = 1, .tgt = {0, 1, 1, 0, 1, 0}},
      {.l = PETRA_LOSS_CE, .n = 3, .k = 4, .tgt = {0, 3, 2}},
      {.l = PETRA_LOSS_MSE, .n = 3, .k = 4},
      {.l = PETRA_LOSS_HUBER, .n = 3, .k = 4},
  };
  petra_rng r;
  petra_rng_seed(&r, 50);
  for (int c = 0; c < 4; c++) {
    struct loss_ctx *d = &cases[c];
    fill(d->out, 12, &r, 2);
    if (d->l >= PETRA_LOSS_MSE) fill(d->tgt, 12, &r, 2);
    float g[12];
    petra_loss_eval(d->l, d->n, d->k, d->out, d->tgt, g);
    CHECK(gradcheck(loss_only, d, d->out, g, (size_t)d->n * d->k, 12, 1e-2f, 51,
                    petra_loss_name(d->l)) < TOL);
  }
  /* BCE of a confident wrong logit stays finite */
  float z = 200, y = 0;
  CHECK(isfinite(petra_loss_eval(PETRA_LOSS_BCE, 1, 1, &z, &y, NULL)));
  CHECK_NEAR(petra_loss_eval(PETRA_LOSS_BCE, 1, 1, &z, &y, NULL), 200, 1e-3);
}
