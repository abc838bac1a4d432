/* Element-wise kernels of the hot loops (GRU gates, activations), compiled once per
 * instruction set from one source (kernels_body.inc) and chosen at run time by CPU
 * detection. Internal to libpetra.
 *
 * The exponential is a branch-free range reduction to 2^f with f in [-1/2, 1/2] and a
 * degree-6 polynomial (relative error below 2e-7 over the clamped range); sigmoid and tanh
 * are built on it, so compilers vectorize the loops. Every variant computes the same
 * formulas; test_kernels checks each against the portable variant and against libm. */
#ifndef PETRA_ENGINE_KERNELS_H
#define PETRA_ENGINE_KERNELS_H
#include <stddef.h>
#include <stdint.h>

typedef struct petra_kernels {
  const char *name; /* "portable", "avx2", "avx512" */
  /* GRU forward step for one row: g [3H] holds x·Wihᵀ+bih and receives r, z, n; h2 [3H] is
   * h·Whhᵀ+bhh; hp the previous state; writes hn = h2[2H..3H) and hc the new state. */
  void (*gru_fwd)(int H, float *g, const float *h2, const float *hp, float *hn, float *hc);
  /* GRU backward step for one row (see gru.c for the formulas). */
  void (*gru_bwd)(int H, const float *g, const float *hn, const float *hp, const float *dh,
                  float *dg, float *dhh, float *dhp);
  void (*sigmoid)(size_t n, const float *x, float *y);
  void (*tanh)(size_t n, const float *x, float *y);
  void (*exp)(size_t n, const float *x, float *y);
  /* One attention query (tf.c): p [n] = softmax(scale · q·k_u), o [dh] = Σ_u p[u] · v_u, the
   * keys given transposed (kt [dh × ld]), the values as rows (v_u at v + u·vs). */
  void (*attn_row)(int n, int dh, float scale, const float *q, const float *kt, int ld, const float *v, size_t vs,
                   float *p, float *o);
  /* GELU (tanh form) and dx = dy · GELU'(x) (dx may alias dy) */
  void (*gelu)(size_t n, const float *x, float *y);
  void (*gelu_bwd)(size_t n, const float *x, const float *dy, float *dx);
  /* Layer norm of n rows x [n × d]: y = (x − mean)·rstd·gamma + beta, stats [n][2] = mean,
   * rstd = 1/sqrt(var + 1e-5) (the backward pass in norm.c reads them). */
  void (*layernorm_rows)(int n, int d, const float *x, const float *gamma, const float *beta, float *y,
                         float *stats);
  void (*relu)(size_t n, const float *x, float *y);
  /* dx = dy where x > 0, else 0 (dx may alias dy) */
  void (*relu_bwd)(size_t n, const float *x, const float *dy, float *dx);
  /* int8 matrix × vector: acc[o] = Σ_i xu[i]·W[o][i] for o < rows, W [rows × in] signed,
   * xu unsigned (activations offset by +128; the caller subtracts 128·Σ_i W[o][i]). Exact
   * integer arithmetic: every variant gives identical results. */
  void (*qdot)(int rows, int in, const int8_t *W, const uint8_t *xu, int32_t *acc);
  /* The same product on weights packed by petra_qpack (16-row blocks of 4-input groups);
   * in4 = in rounded up to a multiple of 4, xu padded to in4 bytes; acc has rows rounded up
   * to 16 entries. */
  void (*qdot_packed)(int rows16, int in4, const int8_t *Wp, const uint8_t *xu, int32_t *acc);
  /* Quantizes x[n] to xu = round(x/s)+128 with s = max|x|/127 over the non-NaN x (s = 1 when
   * x is all zero; a NaN product, from an infinite or NaN input, quantizes to 0); returns s. */
  float (*quant_row)(int n, const float *x, uint8_t *xu);
  /* quant_row on n rows of x [n × in] into xu [n × ld] (ld >= in; bytes past in set to 128,
   * the quantized zero) with the scales in s[n]. */
  void (*quant_rows)(int n, int in, int ld, const float *x, uint8_t *xu, float *s);
  /* qdot_packed for n activation rows xu [n × in4] at once: acc [n × rows16]. Exact. */
  void (*qgemm_packed)(int n, int rows16, int in4, const int8_t *Wp, const uint8_t *xu, int32_t *acc);
  /* int4 matrix × vector in blocks of 32 inputs, on weights packed by petra_qpack4:
   * bacc[o·nb + b] = Σ_j xu[32b + j]·q[o][32b + j] for o < rows16 (rows rounded up to 16),
   * xu padded to 32·nb bytes. Exact integer arithmetic: every variant gives identical results. */
  void (*qdot4)(int rows16, int nb, const uint8_t *W4, const uint8_t *xu, int32_t *bacc);
  /* qdot4 for n activation rows xu [n × 32·nb] at once, accumulators laid out block-major:
   * acc[(r·nb + b)·rows16 + o] = Σ_j xu[r][32b + j]·q[o][32b + j]. Exact. */
  void (*qgemm4)(int n, int rows16, int nb, const uint8_t *W4, const uint8_t *xu, int32_t *acc);
  /* fp32 y [n × out] = x [n × in] · W + b, W given transposed as wt [in × ld] (ld >= out; only
   * the first out of each row are read), b may be NULL. Each output is the fused multiply-add chain over k from 0,
   * then + b: a row's result is the same whatever n is (plans score one example or a batch
   * bit-identically). Variants may differ in the last bits (FMA vs not). */
  void (*sgemm_rows)(int n, int in, int out, int ld, const float *x, const float *wt, const float *b, float *y);
  /* gru_fwd for R rows stored back to back (g, h2 [R × 3H]; hp, hn, hc [R × H]); each row's
   * result equals gru_fwd's on it alone, bit for bit. */
  void (*gru_fwd_rows)(int H, int R, float *g, const float *h2, const float *hp, float *hn, float *hc);
  /* LSTM steps for R rows (a, hh [R × 4H]: the two products with their biases; a receives
   * the activated gates i, f, g, o; c [R × H] in place; hc [R × H] the new state); rows with
   * len[r] <= t untouched (len may be NULL). Every row alone gives the same bits. */
  void (*lstm_fwd_rows)(int H, int R, float *a, const float *hh, float *c, float *hc, const int *len, int t);
  /* fp32 y [out] = W [out × in] · x + b for one row (W row-major, b may be NULL). */
  void (*sgemv_rm)(int out, int in, const float *W, const float *x, const float *b, float *y);
  /* fp32 weight gradient dW [out × in] += Σ_r dy[r][o]·x[r][i] over n rows (row strides ldy,
   * ldx). */
  void (*sgemm_tn)(int n, int out, int in, const float *dy, int ldy, const float *x, int ldx, float *dW);
  /* The int8 layers' float epilogue on n rows of qgemm_packed's acc [n × ld]:
   * y[r][o] = sx[r]·scale[o]·(acc[r][o] − 128·rowsum[o]) + b[o] (b may be NULL), each product
   * and the sum rounded on its own (no fused multiply-add): every variant gives the portable
   * result bit for bit, so a plan scores alike on every CPU. */
  void (*qdequant_rows)(int n, int out, int ld, const int32_t *acc, const float *sx, const float *scale,
                        const int32_t *rowsum, const float *b, float *y);
  /* The int4 layers' epilogue on qgemm4's acc (o16 = rows16): y[r][o] = sx[r]·Σ_b bscale[b][o]·
   * (acc[r][b][o] − 128·bsum[b][o]) + b[o], summed over the nb blocks in order; bit for bit
   * alike in every variant. */
  void (*q4dequant_rows)(int n, int out, int nb, int o16, const int32_t *acc, const float *sx,
                         const float *bscale, const int32_t *bsum, const float *b, float *y);
  /* 1 when the fp32 products above beat OpenBLAS here (the hand-blocked AVX-512 ones: 1.3–2×
   * on Zen 4 with OpenBLAS 0.3.21); the layers' training paths use them only then. Plans use
   * sgemm_rows always (a row's score must not depend on the batch). */
  int fp32_fast;
} petra_kernels;

/* Packs W [rows × in] into the qdot_packed layout: for each block of 16 rows, for each
 * group of 4 inputs, 16 rows × 4 bytes (row-major within the group); padding is zero.
 * Wp has round16(rows) · round4(in) bytes. */
void petra_qpack(int rows, int in, const int8_t *W, int8_t *Wp);

/* Packs int4 values q [rows × in] (each in [-8, 7]) for qdot4: for each block of 16 rows,
 * for each block of 32 inputs, for each group of 4 inputs, 32 bytes: byte r·4 + k holds
 * q[row r][input k] + 8 in its low nibble and q[row r + 8][input k] + 8 in its high nibble
 * (so one AVX-512 register takes the group's 16 rows × 4 inputs as bytes). Padding is q = 0.
 * W4 has round16(rows) · nb · 128 bytes, nb = ceil(in / 32). */
void petra_qpack4(int rows, int in, const int8_t *q, uint8_t *W4);

/* dst [cols × rows] = src [rows × cols]ᵀ (the row kernels' operand; in 16 × 16 tiles it took
 * as long on the GRU's 192 × 64) */
void petra_transpose(int rows, int cols, const float *src, float *dst);

/* The best variant this CPU runs. */
const petra_kernels *petra_kernels_best(void);
/* Variant i (0 = portable, 1 = avx2, 2 = avx512) or NULL when this CPU lacks it. */
const petra_kernels *petra_kernels_variant(int i);
#endif
