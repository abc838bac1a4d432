/* Instantiates kernels_body.inc for each instruction set and picks one by CPU detection. */
#include "kernels.h"

#include <stddef.h>

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

#define TABLE(sfx)                                                                         \
  {#sfx,        gru_fwd_##sfx, gru_bwd_##sfx, sigmoid_##sfx, tanh_##sfx, exp_##sfx, relu_##sfx, \
   relu_bwd_##sfx, qdot_##sfx, qdot_packed_##sfx, quant_row_##sfx, quant_rows_##sfx, qgemm_packed_##sfx, qdot4_##sfx, qgemm4_##sfx}

static const petra_kernels variants[] = {
    TABLE(portable),
#if defined(__x86_64__)
    TABLE(avx2),
    TABLE(avx512),
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

const petra_kernels *petra_kernels_best(void) {
  for (int i = (int)(sizeof variants / sizeof variants[0]) - 1; i > 0; i--) {
    const petra_kernels *k = petra_kernels_variant(i);
    if (k) return k;
  }
  return &variants[0];
}
