/* Structured pruning: a smaller model with whole units removed, its weights copied from the
 * kept units, so it can be fine-tuned and compiled like any model.
 *
 * Per layer, the genome's keep fraction k keeps ceil(k·units) units (at least 1), ranked by
 * importance = (L2 norm of the unit's incoming weights) × (L2 norm of its outgoing weights):
 *   emb.<field>  embedding dimensions (and the matching input columns of the next layer)
 *   dense0       output units (rows of W, and input columns of the GRU or the next layer)
 *   gru0         hidden units, consistently across the r, z, n gates: rows j, H+j, 2H+j of
 *                Wih, Whh and the biases, column j of Whh, and input column j of the head
 * head outputs are never pruned. A ts linear model has nothing to prune.
 *
 * Unstructured sparsity: a gene's sparsity s zeroes the round(s·n) smallest-magnitude weights
 * (ties broken by position) of each of the layer's weight matrices (dense0.w; gru0.wih and
 * gru0.whh; head.w); biases and embeddings are left dense. petra_prune applies it after the
 * structural cut; a recovery fine-tune keeps the mask (petra_trainer_conf.keep_zeros). */
#ifndef PETRA_PRUNE_H
#define PETRA_PRUNE_H

#include "petra/error.h"
#include "petra/genome.h"
#include "petra/model.h"

petra_model *petra_prune(const petra_model *m, const petra_genome *g, petra_err *err);
/* Returns 0 or PETRA_ENOMEM. */
int petra_sparsify(petra_model *m, const petra_genome *g);
#endif
