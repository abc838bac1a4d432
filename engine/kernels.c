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
#define KATTR                                                                              \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,"         \
                        "prefer-vector-width=512")))
#include "kernels_body.inc"
#undef K
#undef KATTR
#endif

#define TABLE(sfx)                                                                         \
  {#sfx,        gru_fwd_##sfx, gru_bwd_##sfx, sigmoid_##sfx, tanh_##sfx, exp_##sfx, relu_##sfx, \
   relu_bwd_##sfx, qdot_##sfx, quant_row_##sfx}

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
