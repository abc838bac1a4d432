/* Embedding lookup: out[n×d] = table[codes[i]]. Codes are checked by the caller (feature
 * code validates them against the vocabulary before they reach a model). */
#ifndef PETRA_EMBEDDING_H
#define PETRA_EMBEDDING_H
#include <stdint.h>

/* Gathers rows; out rows are `stride` floats apart (so several fields can be written side
 * by side into one concatenated input row). */
void petra_embedding_forward(int n, int d, const float *table, const int32_t *codes, float *out,
                             int stride);
/* Sparse gradient: adds dout rows into dtable at the looked-up rows only. */
void petra_embedding_backward(int n, int d, const int32_t *codes, const float *dout, int stride,
                              float *dtable);
#endif
