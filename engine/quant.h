/* What the compression genome acts on, and how weights are quantized: one definition shared
 * by the plan compiler, the snapshot encoder, pruning, regularizers and the trainer, so a
 * reader compiles the same integers the writer measured. Internal to libpetra. */
#ifndef PETRA_ENGINE_QUANT_H
#define PETRA_ENGINE_QUANT_H
#include <stdint.h>

/* The weight matrices the genome compresses (sparsity, bits, rank) and the regularizers act
 * on, with the genome layer each belongs to; biases, layer norm and embeddings are not here. */
typedef struct petra_weight_matrix {
  const char *tensor, *layer;
} petra_weight_matrix;
#define PETRA_N_WEIGHT_MATRICES 35 /* dense0, head, wih/whh of 4 layers of each recurrent core, the transformer's input and 4 × 4 */
extern const petra_weight_matrix petra_weight_matrices[PETRA_N_WEIGHT_MATRICES];
/* The genome layer of a weight matrix tensor, or NULL when the tensor is not one. */
const char *petra_weight_matrix_layer(const char *tensor);

/* int8, one symmetric scale per row: s = max|w|/127 (1 for an all-zero row),
 * q = clamp(round(w/s), ±127). rowsum (may be NULL) receives Σ q per row. */
void petra_quant_i8_rows(const float *w, int rows, int cols, int8_t *q, float *scale, int32_t *rowsum);
/* int4 in blocks of 32 inputs per row, one scale per block: s = max|w|/7 (1 for an all-zero
 * block), q = clamp(round(w/s), ±7) into q [rows × cols]; scale and bsum (may be NULL) are
 * [rows × ceil(cols/32)]. */
void petra_quant_i4_blocks(const float *w, int rows, int cols, int8_t *q, float *scale, int32_t *bsum);
#endif
