/* What the compression genome acts on, and how weights are quantized: one definition shared
 * by the plan compiler, the snapshot encoder, pruning, regularizers and the trainer, so a
 * reader compiles the same integers the writer measured. Internal to libpetra. */
#ifndef PETRA_ENGINE_QUANT_H
#define PETRA_ENGINE_QUANT_H
#include <stdint.h>

/* The weight matrices the genome compresses (sparsity, bits, rank) and the regularizers act
 * on, known by their names (engine/core.h's layer names): dense0.w, head.w, each recurrent
 * layer's wih and whh (gru0.wih, lstm1.whh...), the transformer's input tf.in.w and its
 * layers' wqkv, wo, w1, w2; biases, layer norm, positions and embeddings are not among them.
 * Returns 1 and the genome layer the tensor belongs to (gru1, tf0, head) in layer [n], or 0. */
#include <stddef.h>
int petra_weight_matrix_layer(const char *tensor, char *layer, size_t n);
/* A tensor named "<stem><digits>.<part>" with part one of parts (NULL-terminated): 1 and the
 * layer "<stem><digits>" in layer [n], or 0. */
int petra_layer_of(const char *tensor, const char *stem, const char *const *parts, char *layer, size_t n);

/* int8, one symmetric scale per row: s = max|w|/127 (1 for an all-zero row),
 * q = clamp(round(w/s), ±127). rowsum (may be NULL) receives Σ q per row. */
void petra_quant_i8_rows(const float *w, int rows, int cols, int8_t *q, float *scale, int32_t *rowsum);
/* int4 in blocks of 32 inputs per row, one scale per block: s = max|w|/7 (1 for an all-zero
 * block), q = clamp(round(w/s), ±7) into q [rows × cols]; scale and bsum (may be NULL) are
 * [rows × ceil(cols/32)]. */
void petra_quant_i4_blocks(const float *w, int rows, int cols, int8_t *q, float *scale, int32_t *bsum);
#endif
