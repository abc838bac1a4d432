/* Compression genome: what to do to each prunable layer, and global recovery settings.
 *
 * Text form: "layer:key=value,key=value;layer:...;global:key=value", e.g.
 *   "gru0:keep=0.5,bits=8;dense0:keep=0.5,bits=8;head:bits=8;global:finetune_steps=200"
 * Layer keys: keep (kept fraction of units, (0, 1]), sparsity ([0, 0.99]), bits (32, 8, 4),
 * rank (low-rank ratio, (0, 1]), drop (0 or 1: a transformer layer tf0, tf1... removed whole; its
 * pre-norm block then adds nothing to the residual stream). Global keys: l1, group_lasso (>= 0), finetune_steps
 * (0..1000000), finetune_lr (> 0). Layers not named keep everything at 32 bits.
 * Layer names are a model's layers: emb.<field>, dense0, gru0, head. */
#ifndef PETRA_GENOME_H
#define PETRA_GENOME_H
#include <stddef.h>

#include "petra/error.h"

#define PETRA_GENOME_MAX_LAYERS 16

typedef struct petra_layer_gene {
  char layer[32];
  float keep;     /* kept fraction of units (structured pruning) */
  float sparsity; /* unstructured: fraction of weights zeroed */
  int bits;       /* 32, 8 or 4 */
  float rank;     /* low-rank ratio; 1 = none */
  int drop;       /* 1: the layer is removed (transformer layers only) */
} petra_layer_gene;

typedef struct petra_genome {
  int n_layers;
  petra_layer_gene layers[PETRA_GENOME_MAX_LAYERS];
  float l1, group_lasso;
  int finetune_steps;
  float finetune_lr;
} petra_genome;

/* The identity genome: nothing pruned, 32 bits, no fine-tune. */
void petra_genome_identity(petra_genome *g);
int petra_genome_parse(const char *text, petra_genome *g, petra_err *err);
/* Canonical text (parses back to the same genome); returns the length as snprintf does. */
int petra_genome_format(const petra_genome *g, char *buf, size_t size);
/* The gene of a layer: the named one, or the identity gene when the layer is not listed. */
petra_layer_gene petra_genome_gene(const petra_genome *g, const char *layer);
/* Sets (adding if needed) a layer's gene. Returns 0 or PETRA_ERANGE when full. */
int petra_genome_set(petra_genome *g, const petra_layer_gene *gene);
#endif
