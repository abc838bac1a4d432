/* Every SIMD variant of the element-wise kernels agrees with the portable variant (within
 * 1e-6 relative: the same formulas, differing only in FMA contraction) and with libm's
 * functions (within 2e-6), on random inputs and edge cases: zeros, ±large magnitudes where
 * the exponential clamps, odd lengths that exercise vector tails. */
#include "check.h"
#include "kernels.h"
#include "petra/rng.h"

#define N 1037 /* odd: exercises the scalar tail after vector blocks */

static void inputs(float *x, petra_rng *r) {
  for (int i = 0; i < N; i++) x[i] = (float)(petra_rng_normal(r) * 6);
  const float edge[] = {0.0f, -0.0f, 1e-8f, -1e-8f, 20.0f, -20.0f, 87.0f, -87.0f, 100.0f, -100.0f,
                        1e30f, -1e30f};
  memcpy(x, edge, sizeof edge);
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-30); }

TEST(kernel_variants_match_portable_and_libm) {
  const petra_kernels *ref = petra_kernels_variant(0);
  REQUIRE(ref);
  CHECK_STR(ref->name, "portable");
  float x[N], y0[N], y1[N];
  petra_rng r;
  petra_rng_seed(&r, 1);
  inputs(x, &r);
  /* portable vs libm */
  ref->exp(N, x, y0);
  double worst = 0;
  for (int i = 0; i < N; i++) {
    double xe = x[i] < -87 ? -87 : (x[i] > 88 ? 88 : x[i]);
    worst = fmax(worst, rel(y0[i], exp(xe)));
  }
  fprintf(stderr, "exp worst relative error vs libm: %.2e\n", worst);
  CHECK(worst < 2e-6);
  ref->sigmoid(N, x, y0);
  worst = 0;
  for (int i = 0; i < N; i++) worst = fmax(worst, fabs(y0[i] - 1.0 / (1.0 + exp(-(double)x[i]))));
  CHECK(worst < 2e-7);
  ref->tanh(N, x, y0);
  worst = 0;
  for (int i = 0; i < N; i++) worst = fmax(worst, fabs(y0[i] - tanh((double)x[i])));
  fprintf(stderr, "tanh worst absolute error vs libm: %.2e\n", worst);
  CHECK(worst < 5e-7);
  CHECK(y0[0] == 0.0f);
  ref->gelu(N, x, y0);
  worst = 0;
  for (int i = 0; i < N; i++) {
    double v = x[i];
    worst = fmax(worst, fabs(y0[i] - 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))) / fmax(1, fabs(v)));
  }
  fprintf(stderr, "gelu worst error vs libm (relative above 1): %.2e\n", worst);
  CHECK(worst < 1e-6);

  for (int v = 1; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) {
      fprintf(stderr, "variant %d not supported by this CPU: not compared\n", v);
      continue;
    }
    void (*fns[4][2])(size_t, const float *, float *) = {
        {ref->exp, k->exp}, {ref->sigmoid, k->sigmoid}, {ref->tanh, k->tanh}, {ref->gelu, k->gelu}};
    for (int f = 0; f < 4; f++) {
      fns[f][0](N, x, y0);
      fns[f][1](N, x, y1);
      double w = 0;
      for (int i = 0; i < N; i++) w = fmax(w, fabs(y1[i] - y0[i]) / fmax(fabs(y0[i]), 1e-6));
      CHECK_MSG(w < 1e-6, "%s function %d differs by %.2e", k->name, f, w);
    }
    /* ReLU paths are exact */
    float dy[N], d0[N], d1[N];
    for (int i = 0; i < N; i++) dy[i] = (float)petra_rng_normal(&r);
    ref->relu(N, x, y0);
    k->relu(N, x, y1);
    CHECK(memcmp(y0, y1, sizeof y0) == 0);
    ref->relu_bwd(N, x, dy, d0);
    k->relu_bwd(N, x, dy, d1);
    CHECK(memcmp(d0, d1, sizeof d0) == 0);
    ref->gelu_bwd(N, x, dy, d0);
    k->gelu_bwd(N, x, dy, d1);
    double wg = 0;
    for (int i = 0; i < N; i++) wg = fmax(wg, fabs(d1[i] - d0[i]) / fmax(fabs(d0[i]), 1e-3));
    CHECK_MSG(wg < 1e-5, "%s gelu_bwd differs by %.2e", k->name, wg);
    /* GRU steps on random rows */
    /* (37: vectors and a masked tail; 8 and 5: below one vector, as pruned GRUs are; 32: whole vectors) */
    enum { HM = 37 };
    static const int hs[] = {37, 8, 5, 32};
    for (int hi = 0; hi < 4; hi++) {
      const int H = hs[hi];
      float g0[3 * HM], g1[3 * HM], h2[3 * HM], hp[HM], hn0[HM], hn1[HM], hc0[HM], hc1[HM];
      for (int i = 0; i < 3 * H; i++) g0[i] = g1[i] = (float)petra_rng_normal(&r), h2[i] = (float)petra_rng_normal(&r);
      for (int i = 0; i < H; i++) hp[i] = (float)petra_rng_normal(&r);
      ref->gru_fwd(H, g0, h2, hp, hn0, hc0);
      k->gru_fwd(H, g1, h2, hp, hn1, hc1);
      double w = 0;
      for (int i = 0; i < H; i++) w = fmax(w, fabs(hc0[i] - hc1[i]));
      for (int i = 0; i < 3 * H; i++) w = fmax(w, fabs(g0[i] - g1[i]));
      CHECK_MSG(w < 1e-6, "%s gru_fwd (H=%d) differs by %.2e", k->name, H, w);
      float dh[HM], dg0[3 * HM], dg1[3 * HM], dhh0[3 * HM], dhh1[3 * HM], dp0[HM], dp1[HM];
      for (int i = 0; i < H; i++) dh[i] = (float)petra_rng_normal(&r);
      ref->gru_bwd(H, g0, hn0, hp, dh, dg0, dhh0, dp0);
      k->gru_bwd(H, g0, hn0, hp, dh, dg1, dhh1, dp1);
      w = 0;
      for (int i = 0; i < 3 * H; i++) w = fmax(w, fmax(fabs(dg0[i] - dg1[i]), fabs(dhh0[i] - dhh1[i])));
      for (int i = 0; i < H; i++) w = fmax(w, fabs(dp0[i] - dp1[i]));
      CHECK_MSG(w < 1e-6, "%s gru_bwd (H=%d) differs by %.2e", k->name, H, w);
    }
  }
  CHECK(petra_kernels_best() != NULL);
  CHECK(petra_kernels_variant(3) == NULL);
}

/* LSTM steps: the portable variant against the formulas in double with libm, every variant
 * against the portable one, a row in a batch bit for bit as alone, masked rows untouched. */
TEST(lstm_kernel_matches_libm_portable_and_a_row_alone) {
  enum { RR = 5, HMAX = 37 };
  static const int hs[] = {37, 8, 5, 32};
  const int len[RR] = {3, 1, 3, 2, 3}, t = 1; /* row 1 is past its length */
  for (int hi = 0; hi < 4; hi++) {
    const int H = hs[hi], G = 4 * H;
    petra_rng r;
    petra_rng_seed(&r, 60 + hi);
    float a0[RR * 4 * HMAX], hh[RR * 4 * HMAX], c0[RR * HMAX], h0[RR * HMAX];
    for (int i = 0; i < RR * G; i++) a0[i] = (float)(2 * petra_rng_normal(&r)), hh[i] = (float)petra_rng_normal(&r);
    for (int i = 0; i < RR * H; i++) c0[i] = (float)petra_rng_normal(&r), h0[i] = (float)petra_rng_normal(&r);
    float cr[RR * HMAX], hr[RR * HMAX];
    for (int v = 0; v < 3; v++) {
      const petra_kernels *k = petra_kernels_variant(v);
      if (!k) continue;
      float a[RR * 4 * HMAX], c[RR * HMAX], h[RR * HMAX];
      memcpy(a, a0, sizeof a);
      memcpy(c, c0, sizeof c);
      memcpy(h, h0, sizeof h);
      k->lstm_fwd_rows(H, RR, a, hh, c, h, len, t);
      double worst = 0;
      for (int b = 0; b < RR; b++) {
        if (b == 1) { /* masked: nothing written */
          CHECK(!memcmp(c + b * H, c0 + b * H, sizeof(float) * H) && !memcmp(h + b * H, h0 + b * H, sizeof(float) * H));
          continue;
        }
        for (int j = 0; j < H; j++) {
          const float *p = a0 + b * G, *u = hh + b * G;
          double gi = 1 / (1 + exp(-(double)(p[j] + u[j]))), gf = 1 / (1 + exp(-(double)(p[H + j] + u[H + j])));
          double gg = tanh((double)(p[2 * H + j] + u[2 * H + j])), go = 1 / (1 + exp(-(double)(p[3 * H + j] + u[3 * H + j])));
          double cc = gf * c0[b * H + j] + gi * gg, hv = go * tanh(cc);
          worst = fmax(worst, fmax(fabs(c[b * H + j] - cc), fabs(h[b * H + j] - hv)));
        }
        /* alone */
        float a1[4 * HMAX], c1[HMAX], h1[HMAX];
        memcpy(a1, a0 + b * G, sizeof(float) * G);
        memcpy(c1, c0 + b * H, sizeof(float) * H);
        k->lstm_fwd_rows(H, 1, a1, hh + b * G, c1, h1, NULL, 0);
        CHECK_MSG(!memcmp(c1, c + b * H, sizeof(float) * H) && !memcmp(h1, h + b * H, sizeof(float) * H) &&
                      !memcmp(a1, a + b * G, sizeof(float) * G),
                  "%s lstm_fwd_rows (H=%d) row %d differs from the row alone", k->name, H, b);
      }
      CHECK_MSG(worst < 2e-6, "%s lstm_fwd_rows (H=%d) %.2e from the double reference", k->name, H, worst);
      if (v == 0) {
        memcpy(cr, c, sizeof c);
        memcpy(hr, h, sizeof h);
      } else {
        double w = 0;
        for (int i = 0; i < RR * H; i++) w = fmax(w, fmax(fabs(c[i] - cr[i]), fabs(h[i] - hr[i])));
        CHECK_MSG(w < 1e-6, "%s lstm_fwd_rows (H=%d) differs from portable by %.2e", k->name, H, w);
      }
    }
  }
}

/* One attention query: every variant against softmax and the weighted sum in double. */
TEST(attention_row_matches_a_double_reference) {
  enum { NK = 37, DH = 11, LDV = 40 };
  petra_rng r;
  petra_rng_seed(&r, 90);
  float q[DH], kt[DH * NK], v[NK * LDV];
  for (int i = 0; i < DH; i++) q[i] = (float)petra_rng_normal(&r);
  for (int i = 0; i < DH * NK; i++) kt[i] = (float)petra_rng_normal(&r);
  for (int i = 0; i < NK * LDV; i++) v[i] = (float)petra_rng_normal(&r);
  static const int ns[] = {1, 5, 16, 37};
  for (int ni = 0; ni < 4; ni++) {
    const int n = ns[ni];
    double pd[NK], od[DH] = {0}, mx = -1e30, sum = 0;
    for (int u = 0; u < n; u++) {
      pd[u] = 0;
      for (int j = 0; j < DH; j++) pd[u] += (double)q[j] * kt[j * NK + u] * 0.3;
      mx = fmax(mx, pd[u]);
    }
    for (int u = 0; u < n; u++) sum += pd[u] = exp(pd[u] - mx);
    for (int u = 0; u < n; u++) {
      pd[u] /= sum;
      for (int j = 0; j < DH; j++) od[j] += pd[u] * v[u * LDV + j];
    }
    for (int vi = 0; vi < 3; vi++) {
      const petra_kernels *k = petra_kernels_variant(vi);
      if (!k) continue;
      float p[NK], o[DH];
      k->attn_row(n, DH, 0.3f, q, kt, NK, v, LDV, p, o);
      double w = 0;
      for (int u = 0; u < n; u++) w = fmax(w, fabs(p[u] - pd[u]));
      for (int j = 0; j < DH; j++) w = fmax(w, fabs(o[j] - od[j]));
      CHECK_MSG(w < 1e-5, "%s attn_row n=%d: %.2e from the double reference", k->name, n, w);
    }
  }
}

/* Layer norm rows (widths below, at and past the 16 partial sums, with a large offset): every
 * variant against mean, variance and the affine map in double. */
TEST(layernorm_rows_match_a_double_reference) {
  enum { NR = 3, MAXD = 67 };
  static const int ds[] = {1, 7, 16, 32, 67};
  petra_rng r;
  petra_rng_seed(&r, 91);
  float x[NR * MAXD], g[MAXD], b[MAXD], y[NR * MAXD], st[2 * NR];
  for (int i = 0; i < NR * MAXD; i++) x[i] = (float)(petra_rng_normal(&r) * 3 + (i / MAXD == 2 ? 1000 : 0));
  for (int j = 0; j < MAXD; j++) g[j] = (float)(1 + 0.2 * petra_rng_normal(&r)), b[j] = (float)petra_rng_normal(&r);
  for (int di = 0; di < 5; di++) {
    const int d = ds[di];
    for (int vi = 0; vi < 3; vi++) {
      const petra_kernels *k = petra_kernels_variant(vi);
      if (!k) continue;
      k->layernorm_rows(NR, d, x, g, b, y, st);
      double w = 0;
      for (int i = 0; i < NR; i++) {
        double m = 0, v = 0;
        for (int j = 0; j < d; j++) m += x[i * d + j];
        m /= d;
        for (int j = 0; j < d; j++) v += (x[i * d + j] - m) * (x[i * d + j] - m);
        double rs = 1 / sqrt(v / d + 1e-5);
        w = fmax(w, fabs(st[2 * i] - m) / (1 + fabs(m)));
        w = fmax(w, fabs(st[2 * i + 1] - rs) / rs);
        for (int j = 0; j < d; j++) w = fmax(w, fabs(y[i * d + j] - ((x[i * d + j] - m) * rs * g[j] + b[j])));
      }
      CHECK_MSG(w < 2e-4, "%s layernorm_rows d=%d: %.2e from the double reference", k->name, d, w);
    }
  }
}

TEST(row_kernels_match_portable_and_a_row_alone) {
  const petra_kernels *ref = petra_kernels_variant(0);
  /* gru_fwd_rows: each row bit for bit as gru_fwd on it alone, in every variant */
  for (int v = 0; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) continue;
    static const int hs[] = {8, 37, 5};
    for (int hi = 0; hi < 3; hi++) {
      enum { RR = 7, HMAX = 37 };
      const int H = hs[hi], G = 3 * H;
      petra_rng r;
      petra_rng_seed(&r, 5 + hi);
      float g0[RR * 3 * HMAX], g1[RR * 3 * HMAX], h2[RR * 3 * HMAX], hp[RR * HMAX];
      float hn0[RR * HMAX], hn1[RR * HMAX], hc0[RR * HMAX], hc1[RR * HMAX];
      for (int i = 0; i < RR * G; i++) g0[i] = g1[i] = (float)petra_rng_normal(&r), h2[i] = (float)petra_rng_normal(&r);
      for (int i = 0; i < RR * H; i++) hp[i] = (float)petra_rng_normal(&r);
      k->gru_fwd_rows(H, RR, g1, h2, hp, hn1, hc1);
      for (int i = 0; i < RR; i++) k->gru_fwd(H, g0 + i * G, h2 + i * G, hp + i * H, hn0 + i * H, hc0 + i * H);
      CHECK_MSG(!memcmp(g0, g1, sizeof(float) * RR * G) && !memcmp(hn0, hn1, sizeof(float) * RR * H) &&
                    !memcmp(hc0, hc1, sizeof(float) * RR * H),
                "%s gru_fwd_rows (H=%d) differs from gru_fwd row by row", k->name, H);
    }
  }
  /* weight gradient dW += dyᵀ·x against the portable variant (tails of 4 outputs, 16 inputs,
   * row strides wider than the rows) */
  for (int v = 1; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) continue;
    enum { TN = 23, TO = 7, TI = 37, LDY = 9, LDX = 40 };
    petra_rng r;
    petra_rng_seed(&r, 79);
    float dy[TN * LDY], x[TN * LDX], d0[TO * TI], d1[TO * TI];
    for (int i = 0; i < TN * LDY; i++) dy[i] = (float)petra_rng_normal(&r);
    for (int i = 0; i < TN * LDX; i++) x[i] = (float)petra_rng_normal(&r);
    for (int i = 0; i < TO * TI; i++) d0[i] = d1[i] = (float)petra_rng_normal(&r);
    ref->sgemm_tn(TN, TO, TI, dy, LDY, x, LDX, d0);
    k->sgemm_tn(TN, TO, TI, dy, LDY, x, LDX, d1);
    double w = 0;
    for (int i = 0; i < TO * TI; i++) w = fmax(w, fabs(d0[i] - d1[i]) / fmax(1.0, fabs(d0[i])));
    CHECK_MSG(w < 1e-5, "%s sgemm_tn differs by %.2e", k->name, w);
  }
  /* one-row product W·x + b against the portable variant (tails of 4 rows and of 16 inputs) */
  for (int v = 1; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) continue;
    enum { GO = 39, GI = 37 };
    petra_rng r;
    petra_rng_seed(&r, 78);
    float W[GO * GI], x[GI], b[GO], y0[GO], y1[GO];
    for (int i = 0; i < GO * GI; i++) W[i] = (float)petra_rng_normal(&r);
    for (int i = 0; i < GI; i++) x[i] = (float)petra_rng_normal(&r);
    for (int i = 0; i < GO; i++) b[i] = (float)petra_rng_normal(&r);
    for (int wb = 0; wb < 2; wb++) {
      ref->sgemv_rm(GO, GI, W, x, wb ? b : NULL, y0);
      k->sgemv_rm(GO, GI, W, x, wb ? b : NULL, y1);
      double w = 0;
      for (int i = 0; i < GO; i++) w = fmax(w, fabs(y0[i] - y1[i]) / fmax(1.0, fabs(y0[i])));
      CHECK_MSG(w < 1e-5, "%s sgemv_rm%s differs by %.2e", k->name, wb ? " with bias" : "", w);
    }
  }
  /* fp32 rows: close to the portable variant, and each row the same whatever the batch */
  for (int v = 1; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) continue;
    enum { NR = 11, IN = 19, OUT = 37, LD = 48 };
    petra_rng r;
    petra_rng_seed(&r, 77);
    float x[NR * IN], wt[IN * LD], b[OUT], y0[NR * OUT], y1[NR * OUT], y2[OUT];
    for (int i = 0; i < NR * IN; i++) x[i] = (float)petra_rng_normal(&r);
    for (int i = 0; i < IN * LD; i++) wt[i] = (float)petra_rng_normal(&r);
    for (int i = 0; i < OUT; i++) b[i] = (float)petra_rng_normal(&r);
    ref->sgemm_rows(NR, IN, OUT, LD, x, wt, b, y0);
    k->sgemm_rows(NR, IN, OUT, LD, x, wt, b, y1);
    double w = 0;
    for (int i = 0; i < NR * OUT; i++) w = fmax(w, fabs(y0[i] - y1[i]) / fmax(1.0, fabs(y0[i])));
    CHECK_MSG(w < 1e-5, "%s sgemm_rows differs by %.2e", k->name, w);
    int differ = 0;
    for (int i = 0; i < NR; i++) {
      k->sgemm_rows(1, IN, OUT, LD, x + i * IN, wt, b, y2);
      differ += memcmp(y2, y1 + i * OUT, sizeof y2) != 0;
    }
    CHECK_MSG(differ == 0, "%s sgemm_rows: %d rows differ alone", k->name, differ);
    k->sgemm_rows(NR, IN, OUT, LD, x, wt, NULL, y1);
    ref->sgemm_rows(NR, IN, OUT, LD, x, wt, NULL, y0);
    w = 0;
    for (int i = 0; i < NR * OUT; i++) w = fmax(w, fabs(y0[i] - y1[i]) / fmax(1.0, fabs(y0[i])));
    CHECK_MSG(w < 1e-5, "%s sgemm_rows without bias differs by %.2e", k->name, w);
  }
}

/* The int8 and int4 layers' float epilogues: every variant gives a scalar reference's bits
 * (the plan's scores are the same on every CPU), with and without a bias, output tails of
 * 16 and accumulator rows wider than the outputs. */
TEST(int_epilogues_match_a_scalar_reference_bit_for_bit) {
  enum { EN = 5, EOUT = 37, ELD = 48, ENB = 3 };
  petra_rng r;
  petra_rng_seed(&r, 91);
  static int32_t acc[EN * ENB * ELD], rowsum[EOUT], bsum[ENB * EOUT];
  static float sx[EN], scale[EOUT], bscale[ENB * EOUT], b[EOUT], ref[EN * EOUT], y[EN * EOUT];
  for (int i = 0; i < EN * ENB * ELD; i++) acc[i] = (int32_t)petra_rng_below(&r, 20001) - 10000;
  for (int i = 0; i < EOUT; i++) {
    rowsum[i] = (int32_t)petra_rng_below(&r, 401) - 200;
    scale[i] = (float)(0.01 + 0.02 * petra_rng_uniform(&r));
    b[i] = (float)petra_rng_normal(&r);
  }
  for (int i = 0; i < ENB * EOUT; i++) {
    bsum[i] = (int32_t)petra_rng_below(&r, 201) - 100;
    bscale[i] = (float)(0.01 + 0.02 * petra_rng_uniform(&r));
  }
  for (int i = 0; i < EN; i++) sx[i] = (float)(0.005 + 0.01 * petra_rng_uniform(&r));
  for (int v = 0; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) continue;
    for (int wb = 0; wb < 2; wb++) {
      for (int i = 0; i < EN; i++)
        for (int o = 0; o < EOUT; o++) {
          float t = sx[i] * scale[o];
          t = t * (float)(acc[i * ELD + o] - 128 * rowsum[o]);
          if (wb) t = t + b[o];
          ref[i * EOUT + o] = t;
        }
      k->qdequant_rows(EN, EOUT, ELD, acc, sx, scale, rowsum, wb ? b : NULL, y);
      CHECK_MSG(!memcmp(ref, y, sizeof y), "%s qdequant_rows%s differs from the reference", k->name,
                wb ? " with bias" : "");
      for (int i = 0; i < EN; i++)
        for (int o = 0; o < EOUT; o++) {
          float t = 0;
          for (int q = 0; q < ENB; q++) {
            float u = bscale[q * EOUT + o] * (float)(acc[(i * ENB + q) * ELD + o] - 128 * bsum[q * EOUT + o]);
            t = t + u;
          }
          t = t * sx[i];
          if (wb) t = t + b[o];
          ref[i * EOUT + o] = t;
        }
      k->q4dequant_rows(EN, EOUT, ENB, ELD, acc, sx, bscale, bsum, wb ? b : NULL, y);
      CHECK_MSG(!memcmp(ref, y, sizeof y), "%s q4dequant_rows%s differs from the reference", k->name,
                wb ? " with bias" : "");
    }
  }
}
