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
#endif

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
   relu_bwd_##sfx, qdot_##sfx, qdot_packed_##sfx, quant_row_##sfx}

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
