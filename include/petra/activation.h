/* Element-wise activations over n floats. Forward may run in place (y == x). Backward takes
 * the forward's input x or output y as noted and dy, and writes dx (may alias dy). */
#ifndef PETRA_ACTIVATION_H
#define PETRA_ACTIVATION_H
#include <math.h>
#include <stddef.h>

typedef enum petra_act {
  PETRA_ACT_NONE = 0,
  PETRA_ACT_RELU,
  PETRA_ACT_TANH,
  PETRA_ACT_SIGMOID,
  PETRA_ACT_GELU, /* tanh approximation, as PyTorch's gelu(approximate="tanh") */
} petra_act;

/* Name <-> enum ("relu", "tanh", "sigmoid", "gelu", "none"); parse returns -1 if unknown. */
const char *petra_act_name(petra_act a);
int petra_act_parse(const char *name);

void petra_act_forward(petra_act a, size_t n, const float *x, float *y);
/* x: forward input; y: forward output (both kept by the caller). */
void petra_act_backward(petra_act a, size_t n, const float *x, const float *y, const float *dy,
                        float *dx);

/* Scalar helpers shared by the GRU and the losses. */
static inline float petra_sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

#endif
