/* Compiled inference plan: the immutable thing that scores, and the thing snapshots carry.
 *
 * Built from a (possibly pruned) model and a genome: each layer keeps fp32 weights
 * (bits=32) or int8 weights (bits=8: per-output-row symmetric scale s_o = max|W_o|/127,
 * q = round(W/s_o) in [−127, 127], row-major; activations quantized per row at run time the
 * same way and offset by +128 to use unsigned×signed dot products; accumulation in int32,
 * exact; y = s_x·s_o·Σ q_x q_w + b). Embedding tables with bits=8 store one scale per code.
 * Biases, layer norm and GRU gate arithmetic stay fp32.
 *
 * A plan is safe to share between threads: petra_plan_score only reads it and writes the
 * scratch the caller passes. */
#ifndef PETRA_PLAN_H
#define PETRA_PLAN_H
#include <stddef.h>

#include "petra/error.h"
#include "petra/genome.h"
#include "petra/model.h"

typedef struct petra_plan petra_plan;

/* fp32 layers with zeros (a gene's sparsity) are stored in CSR when that is smaller; whether
 * scoring uses the sparse or the dense kernel is measured at build for that layer's shape
 * (one example's rows, and 64 examples' rows), unless the options force it. The choice only
 * changes the order of float additions. int8/int4 layers keep their zeros dense. */
enum { PETRA_SPARSE_AUTO = 0, PETRA_SPARSE_ALWAYS = 1, PETRA_SPARSE_NEVER = 2 };
typedef struct petra_plan_opts {
  int sparse; /* PETRA_SPARSE_* */
} petra_plan_opts;

petra_plan *petra_plan_build(const petra_model *m, const petra_genome *g, petra_err *err);
/* petra_plan_build with options (NULL = defaults). */
petra_plan *petra_plan_build_ex(const petra_model *m, const petra_genome *g, const petra_plan_opts *o,
                                petra_err *err);
/* The bits a linear layer with `in` inputs is compiled at for a gene's bits: 32, or 4 where
 * int4 blocks (32 inputs per scale) are smaller than int8 rows, else 8. */
int petra_plan_linear_bits(int bits, int in);
/* Layers scored by the sparse kernel for a call of n examples (for tests and `petra inspect`). */
int petra_plan_sparse_layers(const petra_plan *p, int n);
void petra_plan_free(petra_plan *p);

const petra_model_spec *petra_plan_spec(const petra_plan *p);
const petra_genome *petra_plan_genome(const petra_plan *p);
/* Packed bytes of all weights, scales and biases (what a snapshot carries). */
size_t petra_plan_bytes(const petra_plan *p);
int petra_plan_example_floats(const petra_plan *p);
int petra_plan_n_outputs(const petra_plan *p);

/* Scratch for scoring n examples at once, in bytes. */
size_t petra_plan_scratch_bytes(const petra_plan *p, int n);
/* Scores n examples (the model's example layout) into out [n × n_outputs]. scratch: at
 * least petra_plan_scratch_bytes(p, n) bytes, 64-byte aligned is best. */
int petra_plan_score(const petra_plan *p, int n, const float *examples, float *out, void *scratch);
#endif
