#include "petra/activation.h"

#include <math.h>
#include <string.h>

#include "kernels.h"

static const char *const names[] = {"none", "relu", "tanh", "sigmoid", "gelu"};

const char *petra_act_name(petra_act a) {
  return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

int petra_act_parse(const char *name) {
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(name, names[i])) return (int)i;
  return -1;
}

void petra_act_forward(petra_act a, size_t n, const float *x, float *y) {
  switch (a) {
    case PETRA_ACT_NONE:
      if (y != x) memmove(y, x, n * sizeof *y);
      break;
    case PETRA_ACT_RELU:
      petra_kernels_best()->relu(n, x, y);
      break;
    case PETRA_ACT_TANH:
      petra_kernels_best()->tanh(n, x, y);
      break;
    case PETRA_ACT_SIGMOID:
      petra_kernels_best()->sigmoid(n, x, y);
      break;
    case PETRA_ACT_GELU:
      petra_kernels_best()->gelu(n, x, y);
      break;
  }
}

void petra_act_backward(petra_act a, size_t n, const float *x, const float *y, const float *dy,
                        float *dx) {
  switch (a) {
    case PETRA_ACT_NONE:
      if (dx != dy) memmove(dx, dy, n * sizeof *dx);
      break;
    case PETRA_ACT_RELU:
      petra_kernels_best()->relu_bwd(n, x, dy, dx);
      break;
    case PETRA_ACT_TANH:
      for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      break;
    case PETRA_ACT_SIGMOID:
      for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
      break;
    case PETRA_ACT_GELU:
      petra_kernels_best()->gelu_bwd(n, x, dy, dx);
      break;
  }
}
