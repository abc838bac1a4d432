/* Instantiates kernels_body.inc for each instruction set and picks one by CPU detection. */
#include "kernels.h"

#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define K(name) name##_portable
#define KATTR
#include "kernels_body.inc"
#undef K
#undef KATTR

#if defined(__x86_64__)
#define K(name) name##_avx2
#define KATTR __attribute__((target("avx2,fma")))
#include "kernels_body.inc"
#undef K
#undef KATTR

#define K(name) name##_avx512
#if defined(__clang__) /* clang has no prefer-vector-width in target() */
#define KATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma")))
#else
#define KATTR                                                                              \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,"         \
                        "prefer-vector-width=512")))
#endif
#include "kernels_body.inc"
#undef K
#undef KATTR
#endif

#if defined(__x86_64__)
#include <immintrin.h>

/* VNNI: one vpdpbusd adds 4 u8×s8 products into each of 16 int32 lanes (one lane per row);
 * four accumulators hide its latency. */
__attribute__((target("avx512f,avx512vnni"))) static void qdot_packed_vnni(
    int rows16, int in4, const int8_t *Wp, const uint8_t *xu, int32_t *acc) {
  const int groups = in4 / 4;
  for (int rb = 0; rb < rows16 / 16; rb++) {
    const int8_t *blk = Wp + (size_t)rb * 16 * in4;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    int g = 0;
    for (; g + 4 <= groups; g += 4) {
      int32_t x0, x1, x2, x3;
      __builtin_memcpy(&x0, xu + 4 * g, 4);
      __builtin_memcpy(&x1, xu + 4 * g + 4, 4);
      __builtin_memcpy(&x2, xu + 4 * g + 8, 4);
      __builtin_memcpy(&x3, xu + 4 * g + 12, 4);
      a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(x0), _mm512_loadu_si512(blk + (size_t)g * 64));
      a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(x1), _mm512_loadu_si512(blk + (size_t)g * 64 + 64));
      a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(x2), _mm512_loadu_si512(blk + (size_t)g * 64 + 128));
      a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(x3), _mm512_loadu_si512(blk + (size_t)g * 64 + 192));
    }
    for (; g < groups; g++) {
      int32_t x0;
      __builtin_memcpy(&x0, xu + 4 * g, 4);
      a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(x0), _mm512_loadu_si512(blk + (size_t)g * 64));
    }
    a0 = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
    _mm512_storeu_si512(acc + rb * 16, a0);
  }
}
#define qdot_packed_avx512 qdot_packed_vnni

/* Four activation rows per pass over a 16-row weight block: each 64-byte weight group is
 * loaded once and feeds four independent vpdpbusd chains. */
__attribute__((target("avx512f,avx512vnni"))) static void qgemm_packed_vnni(
    int n, int rows16, int in4, const int8_t *Wp, const uint8_t *xu, int32_t *acc) {
  const int groups = in4 / 4;
  for (int rb = 0; rb < rows16 / 16; rb++) {
    const int8_t *blk = Wp + (size_t)rb * 16 * in4;
    int r = 0;
    for (; r + 4 <= n; r += 4) {
      const uint8_t *x0 = xu + (size_t)r * in4, *x1 = x0 + in4, *x2 = x1 + in4, *x3 = x2 + in4;
      __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
      for (int g = 0; g < groups; g++) {
        __m512i w = _mm512_loadu_si512(blk + (size_t)g * 64);
        int32_t v0, v1, v2, v3;
        __builtin_memcpy(&v0, x0 + 4 * g, 4);
        __builtin_memcpy(&v1, x1 + 4 * g, 4);
        __builtin_memcpy(&v2, x2 + 4 * g, 4);
        __builtin_memcpy(&v3, x3 + 4 * g, 4);
        a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(v0), w);
        a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(v1), w);
        a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(v2), w);
        a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(v3), w);
      }
      _mm512_storeu_si512(acc + (size_t)r * rows16 + rb * 16, a0);
      _mm512_storeu_si512(acc + (size_t)(r + 1) * rows16 + rb * 16, a1);
      _mm512_storeu_si512(acc + (size_t)(r + 2) * rows16 + rb * 16, a2);
      _mm512_storeu_si512(acc + (size_t)(r + 3) * rows16 + rb * 16, a3);
    }
    for (; r < n; r++) {
      const uint8_t *x0 = xu + (size_t)r * in4;
      __m512i a0 = _mm512_setzero_si512();
      for (int g = 0; g < groups; g++) {
        int32_t v0;
        __builtin_memcpy(&v0, x0 + 4 * g, 4);
        a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(v0), _mm512_loadu_si512(blk + (size_t)g * 64));
      }
      _mm512_storeu_si512(acc + (size_t)r * rows16 + rb * 16, a0);
    }
  }
}
#define qgemm_packed_avx512 qgemm_packed_vnni

/* quant_rows with 16-lane masked loads: the same max (NaN ignored: vmaxps returns its
 * second operand when the first is NaN), the same round-to-nearest-even and clamp, so the
 * bytes equal the portable variant's. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void quant_rows_avx512f(
    int n, int in, int ld, const float *x, uint8_t *xu, float *s) {
  const __m512 sign = _mm512_set1_ps(-0.0f), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i off = _mm512_set1_epi32(128);
  for (int r = 0; r < n; r++) {
    const float *xr = x + (size_t)r * in;
    uint8_t *u = xu + (size_t)r * ld;
    __m512 mx = _mm512_setzero_ps();
    for (int i = 0; i < in; i += 16) {
      __mmask16 k = in - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (in - i)) - 1);
      mx = _mm512_max_ps(_mm512_andnot_ps(sign, _mm512_maskz_loadu_ps(k, xr + i)), mx);
    }
    float m = _mm512_reduce_max_ps(mx);
    float sc = m > 0.0f ? m / 127.0f : 1.0f;
    __m512 inv = _mm512_set1_ps(1.0f / sc);
    for (int i = 0; i < in; i += 16) {
      __mmask16 k = in - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (in - i)) - 1);
      __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, xr + i), inv),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __mmask16 num = _mm512_cmp_ps_mask(q, q, _CMP_ORD_Q);
      q = _mm512_maskz_mov_ps(num, _mm512_min_ps(_mm512_max_ps(q, lo), hi));
      __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(q), off);
      _mm_mask_storeu_epi8(u + i, k, _mm512_cvtepi32_epi8(v));
    }
    for (int i = in; i < ld; i++) u[i] = 128;
    s[r] = sc;
  }
}
#define quant_rows_avx512 quant_rows_avx512f

/* The GRU step with 16-lane masked vectors, for any H (the compiled loop runs scalar below 16
 * units, and pruned GRUs are often that small): e^x as K(expf_) computes it (clamp, 2^k by
 * scaling, the same degree-6 polynomial). */
#define AVX512_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
AVX512_ATTR static inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.42860682030941723e-6f),
                              _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x));
  __m512 p = _mm512_set1_ps(1.38888889e-3f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.33333333e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(4.16666667e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.66666667e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, k);
}
/* One 16-unit block j (mask k) of the GRU step for M rows at once (M independent chains: the
 * step is a long dependent sequence per row, exp → divide → exp → divide). */
AVX512_ATTR static inline __attribute__((always_inline)) void gru_block(int M, int H, int j, __mmask16 k, float *g,
                                                                        const float *h2, const float *hp, float *hn,
                                                                        float *hc) {
  const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f), zero = _mm512_setzero_ps();
  const int G = 3 * H;
  __m512 r[4], z[4], hh[4], n[4];
  for (int i = 0; i < M; i++) {
    float *gi = g + (size_t)i * G;
    const float *h2i = h2 + (size_t)i * G;
    __m512 ar = _mm512_add_ps(_mm512_maskz_loadu_ps(k, gi + j), _mm512_maskz_loadu_ps(k, h2i + j));
    __m512 az = _mm512_add_ps(_mm512_maskz_loadu_ps(k, gi + H + j), _mm512_maskz_loadu_ps(k, h2i + H + j));
    r[i] = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(zero, ar))));
    z[i] = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(zero, az))));
  }
  for (int i = 0; i < M; i++) {
    float *gi = g + (size_t)i * G;
    hh[i] = _mm512_maskz_loadu_ps(k, h2 + (size_t)i * G + 2 * H + j);
    __m512 a = _mm512_fmadd_ps(r[i], hh[i], _mm512_maskz_loadu_ps(k, gi + 2 * H + j));
    n[i] = _mm512_sub_ps(_mm512_div_ps(two, _mm512_add_ps(one, exp16(_mm512_mul_ps(_mm512_set1_ps(-2.0f), a)))), one);
  }
  for (int i = 0; i < M; i++) {
    float *gi = g + (size_t)i * G;
    _mm512_mask_storeu_ps(gi + j, k, r[i]);
    _mm512_mask_storeu_ps(gi + H + j, k, z[i]);
    _mm512_mask_storeu_ps(gi + 2 * H + j, k, n[i]);
    _mm512_mask_storeu_ps(hn + (size_t)i * H + j, k, hh[i]);
    /* (1 − z)·n + z·h_prev */
    __m512 c = _mm512_fmadd_ps(z[i], _mm512_maskz_loadu_ps(k, hp + (size_t)i * H + j),
                               _mm512_mul_ps(_mm512_sub_ps(one, z[i]), n[i]));
    _mm512_mask_storeu_ps(hc + (size_t)i * H + j, k, c);
  }
}
AVX512_ATTR static void gru_fwd_avx512m(int H, float *restrict g, const float *restrict h2, const float *restrict hp,
                                        float *restrict hn, float *restrict hc) {
  for (int j = 0; j < H; j += 16)
    gru_block(1, H, j, H - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (H - j)) - 1), g, h2, hp, hn, hc);
}
AVX512_ATTR static void gru_fwd_rows_avx512m(int H, int R, float *restrict g, const float *restrict h2,
                                             const float *restrict hp, float *restrict hn, float *restrict hc) {
  const size_t G = 3 * (size_t)H;
  int r = 0;
  for (; r + 4 <= R; r += 4)
    for (int j = 0; j < H; j += 16)
      gru_block(4, H, j, H - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (H - j)) - 1), g + r * G,
                h2 + r * G, hp + (size_t)r * H, hn + (size_t)r * H, hc + (size_t)r * H);
  for (; r < R; r++) gru_fwd_avx512m(H, g + r * G, h2 + r * G, hp + (size_t)r * H, hn + (size_t)r * H, hc + (size_t)r * H);
}
#define gru_fwd_rows_avx512 gru_fwd_rows_avx512m
#define gru_fwd_avx512 gru_fwd_avx512m

/* Calls F(M, NB, ...) with NB = nb (1..4) as a constant, so that the block's accumulators are
 * sized at compile time and stay in registers. */
#define NB_CASES(F, M, ...)                   \
  switch (nb) {                               \
    case 4: F(M, 4, __VA_ARGS__); break;      \
    case 3: F(M, 3, __VA_ARGS__); break;      \
    case 2: F(M, 2, __VA_ARGS__); break;      \
    default: F(M, 1, __VA_ARGS__); break;     \
  }

/* sgemm_rows in register blocks of M rows × NB·16 outputs; every output is the same chain of
 * fused multiply-adds over k as in a block of any other shape, so a row's result does not
 * depend on how many rows are scored with it. */
AVX512_ATTR static inline __attribute__((always_inline)) void sg_block(int M, int NB, int in, int out, int ld,
                                                                       const float *x, const float *wt,
                                                                       const float *b, float *y, int o0) {
  __m512 acc[6][4];
  for (int i = 0; i < M; i++)
    for (int j = 0; j < NB; j++) acc[i][j] = _mm512_setzero_ps();
  __mmask16 mk[4];
  for (int j = 0; j < NB; j++) {
    int o = o0 + 16 * j;
    mk[j] = out - o >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (out - o)) - 1);
  }
  for (int k = 0; k < in; k++) {
    const float *w = wt + (size_t)k * ld + o0;
    __m512 wv[4];
    for (int j = 0; j < NB; j++) wv[j] = _mm512_maskz_loadu_ps(mk[j], w + 16 * j); /* never past out */
    for (int i = 0; i < M; i++) {
      __m512 xv = _mm512_set1_ps(x[(size_t)i * in + k]);
      for (int j = 0; j < NB; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int j = 0; j < NB; j++) {
    int o = o0 + 16 * j;
    __mmask16 m = out - o >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (out - o)) - 1);
    __m512 bv = b ? _mm512_maskz_loadu_ps(m, b + o) : _mm512_setzero_ps();
    for (int i = 0; i < M; i++) {
      __m512 v = b ? _mm512_add_ps(acc[i][j], bv) : acc[i][j];
      _mm512_mask_storeu_ps(y + (size_t)i * out + o, m, v);
    }
  }
}
AVX512_ATTR static void sgemm_rows_avx512f(int n, int in, int out, int ld, const float *restrict x,
                                          const float *restrict wt, const float *restrict b, float *restrict y) {
  for (int o0 = 0; o0 < out; o0 += 64) {
    int nb = (out - o0 + 15) / 16;
    if (nb > 4) nb = 4;
    int r = 0;
    for (; r + 6 <= n; r += 6) { /* 24 accumulators: 4 loads and 6 broadcasts per 24 FMAs */
      const float *xr = x + (size_t)r * in;
      float *yr = y + (size_t)r * out;
      NB_CASES(sg_block, 6, in, out, ld, xr, wt, b, yr, o0);
    }
    for (; r + 4 <= n; r += 4) {
      const float *xr = x + (size_t)r * in;
      float *yr = y + (size_t)r * out;
      NB_CASES(sg_block, 4, in, out, ld, xr, wt, b, yr, o0);
    }
    for (; r < n; r++) {
      const float *xr = x + (size_t)r * in;
      float *yr = y + (size_t)r * out;
      NB_CASES(sg_block, 1, in, out, ld, xr, wt, b, yr, o0);
    }
  }
}
#define sgemm_rows_avx512 sgemm_rows_avx512f

/* sgemv_rm: four output rows at a time, each a 16-lane dot product over in (masked tail)
 * reduced at the end; the single-row product of batch-1 inference (OpenBLAS's sgemv costs
 * several times this on the GRU's 192 × 64). */
AVX512_ATTR static void sgemv_rm_avx512f(int out, int in, const float *restrict W, const float *restrict x,
                                        const float *restrict b, float *restrict y) {
  int o = 0;
  for (; o + 4 <= out; o += 4) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *w0 = W + (size_t)o * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
    for (int k = 0; k < in; k += 16) {
      __mmask16 m = in - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (in - k)) - 1);
      __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w0 + k), xv, a0);
      a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w1 + k), xv, a1);
      a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w2 + k), xv, a2);
      a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w3 + k), xv, a3);
    }
    float r0 = _mm512_reduce_add_ps(a0), r1 = _mm512_reduce_add_ps(a1);
    float r2 = _mm512_reduce_add_ps(a2), r3 = _mm512_reduce_add_ps(a3);
    y[o] = b ? b[o] + r0 : r0;
    y[o + 1] = b ? b[o + 1] + r1 : r1;
    y[o + 2] = b ? b[o + 2] + r2 : r2;
    y[o + 3] = b ? b[o + 3] + r3 : r3;
  }
  for (; o < out; o++) {
    __m512 a0 = _mm512_setzero_ps();
    const float *w0 = W + (size_t)o * in;
    for (int k = 0; k < in; k += 16) {
      __mmask16 m = in - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (in - k)) - 1);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w0 + k), _mm512_maskz_loadu_ps(m, x + k), a0);
    }
    float r0 = _mm512_reduce_add_ps(a0);
    y[o] = b ? b[o] + r0 : r0;
  }
}
#define sgemv_rm_avx512 sgemv_rm_avx512f

/* sgemm_tn in register blocks of 6 outputs × NB·16 inputs, summed over every row in
 * registers and added to dW once: dy and x are streamed once per block, from cache. */
AVX512_ATTR static inline __attribute__((always_inline)) void tn_block(int MO, int NB, int n, int in, const float *dy,
                                                                       int ldy, const float *x, int ldx, float *dW,
                                                                       int o0, int i0) {
  __m512 acc[6][4];
  __mmask16 mk[4];
  for (int j = 0; j < NB; j++) {
    int i = i0 + 16 * j;
    mk[j] = in - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (in - i)) - 1);
  }
  for (int a = 0; a < MO; a++)
    for (int j = 0; j < NB; j++) acc[a][j] = _mm512_setzero_ps();
  for (int r = 0; r < n; r++) {
    const float *xr = x + (size_t)r * ldx + i0, *dr = dy + (size_t)r * ldy + o0;
    __m512 xv[4];
    for (int j = 0; j < NB; j++) xv[j] = _mm512_maskz_loadu_ps(mk[j], xr + 16 * j);
    for (int a = 0; a < MO; a++) {
      __m512 d = _mm512_set1_ps(dr[a]);
      for (int j = 0; j < NB; j++) acc[a][j] = _mm512_fmadd_ps(d, xv[j], acc[a][j]);
    }
  }
  for (int a = 0; a < MO; a++)
    for (int j = 0; j < NB; j++) {
      float *w = dW + (size_t)(o0 + a) * in + i0 + 16 * j;
      _mm512_mask_storeu_ps(w, mk[j], _mm512_add_ps(_mm512_maskz_loadu_ps(mk[j], w), acc[a][j]));
    }
}
AVX512_ATTR static void sgemm_tn_avx512f(int n, int out, int in, const float *restrict dy, int ldy,
                                        const float *restrict x, int ldx, float *restrict dW) {
  for (int i0 = 0; i0 < in; i0 += 64) {
    int nb = (in - i0 + 15) / 16;
    if (nb > 4) nb = 4;
    int o = 0;
    /* 6 outputs × 4 vectors: 24 accumulators, 4 loads and 6 broadcasts per 24 FMAs */
    for (; o + 6 <= out; o += 6)
      NB_CASES(tn_block, 6, n, in, dy, ldy, x, ldx, dW, o, i0);
    for (; o < out; o++)
      NB_CASES(tn_block, 1, n, in, dy, ldy, x, ldx, dW, o, i0);
  }
}
#define sgemm_tn_avx512 sgemm_tn_avx512f

/* int4: per group of 4 inputs, 32 bytes of nibbles expand to the 64 signed bytes of 16 rows ×
 * 4 inputs (low nibbles: rows 0–7, high nibbles: rows 8–15) and one vpdpbusd adds them in. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void qdot4_vnni(int rows16, int nb, const uint8_t *W4,
                                                                             const uint8_t *xu, int32_t *bacc) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m512i eight = _mm512_set1_epi8(8);
  for (int rb = 0; rb < rows16 / 16; rb++)
    for (int b = 0; b < nb; b++) {
      const uint8_t *blk = W4 + ((size_t)rb * nb + b) * 256;
      __m512i acc = _mm512_setzero_si512();
      for (int g = 0; g < 8; g++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(blk + g * 32));
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        __m512i w = _mm512_sub_epi8(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), eight);
        int32_t x4;
        __builtin_memcpy(&x4, xu + (size_t)b * 32 + g * 4, 4);
        acc = _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(x4), w);
      }
      int32_t a[16];
      _mm512_storeu_si512(a, acc);
      for (int r = 0; r < 16; r++) bacc[(size_t)(rb * 16 + r) * nb + b] = a[r];
    }
}
#define qdot4_avx512 qdot4_vnni

/* qgemm4: each 256-byte block is expanded to signed bytes once and used for every row. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void qgemm4_vnni(int n, int rows16, int nb,
                                                                              const uint8_t *W4, const uint8_t *xu,
                                                                              int32_t *acc) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m512i eight = _mm512_set1_epi8(8);
  for (int rb = 0; rb < rows16 / 16; rb++)
    for (int b = 0; b < nb; b++) {
      const uint8_t *blk = W4 + ((size_t)rb * nb + b) * 256;
      __m512i w[8];
      for (int g = 0; g < 8; g++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(blk + g * 32));
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        w[g] = _mm512_sub_epi8(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), eight);
      }
      for (int r = 0; r < n; r++) {
        const uint8_t *xr = xu + (size_t)r * nb * 32 + (size_t)b * 32;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0;
        for (int g = 0; g < 8; g += 2) {
          int32_t x0, x1;
          __builtin_memcpy(&x0, xr + g * 4, 4);
          __builtin_memcpy(&x1, xr + g * 4 + 4, 4);
          a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(x0), w[g]);
          a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(x1), w[g + 1]);
        }
        _mm512_storeu_si512(acc + ((size_t)r * nb + b) * rows16 + rb * 16, _mm512_add_epi32(a0, a1));
      }
    }
}
#define qgemm4_avx512 qgemm4_vnni
#endif

void petra_transpose(int rows, int cols, const float *src, float *dst) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

void petra_qpack4(int rows, int in, const int8_t *q, uint8_t *W4) {
  int rows16 = (rows + 15) / 16 * 16, nb = (in + 31) / 32;
  for (int rb = 0; rb < rows16 / 16; rb++)
    for (int b = 0; b < nb; b++)
      for (int g = 0; g < 8; g++)
        for (int j = 0; j < 32; j++) {
          int r = j / 4, k = j % 4, col = b * 32 + g * 4 + k;
          int r0 = rb * 16 + r, r1 = r0 + 8;
          int v0 = r0 < rows && col < in ? q[(size_t)r0 * in + col] : 0;
          int v1 = r1 < rows && col < in ? q[(size_t)r1 * in + col] : 0;
          W4[((size_t)rb * nb + b) * 256 + g * 32 + j] = (uint8_t)((v0 + 8) | ((v1 + 8) << 4));
        }
}

void petra_qpack(int rows, int in, const int8_t *W, int8_t *Wp) {
  int rows16 = (rows + 15) / 16 * 16, in4 = (in + 3) / 4 * 4;
  for (int rb = 0; rb < rows16 / 16; rb++)
    for (int g = 0; g < in4 / 4; g++)
      for (int r = 0; r < 16; r++)
        for (int k = 0; k < 4; k++) {
          int row = rb * 16 + r, col = g * 4 + k;
          Wp[(size_t)rb * 16 * in4 + (size_t)g * 64 + r * 4 + k] =
              row < rows && col < in ? W[(size_t)row * in + col] : 0;
        }
}

#define TABLE(sfx, fast)                                                                       \
  {#sfx,        gru_fwd_##sfx, gru_bwd_##sfx, sigmoid_##sfx, tanh_##sfx, exp_##sfx, attn_row_##sfx, gelu_##sfx, gelu_bwd_##sfx, layernorm_rows_##sfx, relu_##sfx, \
   relu_bwd_##sfx, qdot_##sfx, qdot_packed_##sfx, quant_row_##sfx, quant_rows_##sfx, qgemm_packed_##sfx, qdot4_##sfx, qgemm4_##sfx, \
   sgemm_rows_##sfx, gru_fwd_rows_##sfx, lstm_fwd_rows_##sfx, sgemv_rm_##sfx, sgemm_tn_##sfx, qdequant_rows_##sfx, \
   q4dequant_rows_##sfx, fast}

static const petra_kernels variants[] = {
    TABLE(portable, 0),
#if defined(__x86_64__)
    TABLE(avx2, 0),
    TABLE(avx512, 1),
#endif
};

const petra_kernels *petra_kernels_variant(int i) {
  if (i < 0 || i >= (int)(sizeof variants / sizeof variants[0])) return NULL;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (i == 1 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return NULL;
  if (i == 2 && !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vnni")))
    return NULL;
#endif
  return &variants[i];
}

static const petra_kernels *choose(void) {
  /* PETRA_KERNELS=portable|avx2|avx512 forces a variant this CPU runs (tests of the
   * OpenBLAS paths on an AVX-512 machine; an operator's way round a kernel fault) */
  const char *force = getenv("PETRA_KERNELS");
  if (force && *force)
    for (int i = 0; i < (int)(sizeof variants / sizeof variants[0]); i++) {
      const petra_kernels *k = petra_kernels_variant(i);
      if (k && !strcmp(k->name, force)) return k;
    }
  for (int i = (int)(sizeof variants / sizeof variants[0]) - 1; i > 0; i--) {
    const petra_kernels *k = petra_kernels_variant(i);
    if (k) return k;
  }
  return &variants[0];
}

/* Chosen once per process (the environment and the CPU do not change under it); the hot
 * loops ask per call. Racing first callers store the same pointer. */
const petra_kernels *petra_kernels_best(void) {
  static const petra_kernels *_Atomic chosen;
  const petra_kernels *k = atomic_load_explicit(&chosen, memory_order_acquire);
  if (!k) {
    k = choose();
    atomic_store_explicit(&chosen, k, memory_order_release);
  }
  return k;
}
