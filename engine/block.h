/* Cores that are not recurrent. A block maps a seq model's per-event inputs x [T][B][in]
 * (time-major, rows t·B + b, as the recurrent cores take them) to one vector per sequence,
 * [B][W] with W = petra_spec_core_top, which the head reads. Each kind is its own file with
 * the hooks below and one row of petra_blocks[] (engine/core.c): the model's tensors and
 * passes (model.c), its plan (plan.c), structured pruning (prune.c), the genome's layers
 * (evolve.c) and the names quantization acts on (quant.c) reach it only through this table.
 * The recurrent kinds are rows of engine/core.h's table. Internal to libpetra. */
#ifndef PETRA_ENGINE_BLOCK_H
#define PETRA_ENGINE_BLOCK_H
#include <stddef.h>

#include "petra/error.h"
#include "petra/genome.h"
#include "petra/model.h"

/* the most tensors and compiled linear layers a block may have */
#define PETRA_BLOCK_MAX_TENSORS (8 + 12 * PETRA_MAX_CORE_LAYERS)
#define PETRA_BLOCK_MAX_LINEARS (1 + 4 * PETRA_MAX_CORE_LAYERS)
#define PETRA_BLOCK_MAX_GENES (1 + PETRA_MAX_CORE_LAYERS)

/* The examples' per-event inputs before the dense layer, x0 [T][B][E] with the numeric
 * columns last: for a block that reads an event's own columns (time-aware positions). */
typedef struct petra_block_events {
  const float *x0;
  int E;
} petra_block_events;

/* Plan compilation of a weight matrix w [rows × cols] as the genome's gene `layer` says
 * (bits, rank, sparsity); bias (may be NULL) must live as long as the plan (in the block's
 * plan state). Returns the linear's handle (>= 0) or −1 (out of memory). */
typedef struct petra_block_linker {
  int (*add)(struct petra_block_linker *lk, const float *w, int rows, int cols, const char *layer,
             const float *bias);
} petra_block_linker;
/* y [n × rows] = x [n × cols] · Wᵀ + b through the compiled linear `handle` */
typedef void (*petra_block_apply)(void *ctx, int handle, int n, const float *x, float *y);

typedef struct petra_block {
  petra_core_kind kind; /* petra_model_spec.core */
  const char *key;      /* the spec key; the block's genome layers and tensors are named from it */
  /* a small core in spec text ("tf=2:2:8 ffn=12,8"): the table-driven tests take every block
   * through gradients, plans, pruning and snapshots with it */
  const char *example;
  /* The spec: nonzero when key k is the block's (parsed into s, the result in *rc; every
   * block is asked, whatever the core); its keys checked against the whole spec, made
   * canonical when the core is another; the text after "KEY=" in the spec's text. */
  int (*parse)(petra_model_spec *s, const char *k, const char *v, int *rc, petra_err *err);
  int (*check)(petra_model_spec *s, petra_err *err);
  void (*format)(const petra_model_spec *s, char *buf, size_t n);
  /* The genome layers the search may change, in order: their names (at most max) and flags
   * (petra/evolve.h: PETRA_EVO_FIXED_UNITS, PETRA_EVO_DROPPABLE); returns how many. */
  int (*genes)(const petra_model_spec *s, char (*names)[32], unsigned char *flags, int max);
  /* 1 and the genome layer of `tensor` if it is a weight matrix the genome compresses, else 0 */
  int (*weight_layer)(const char *tensor, char *layer, size_t n);
  /* the name of the tensor that reads the block's input (its columns are the input's) */
  void (*input_tensor)(const petra_model_spec *s, char *buf, size_t n);

  /* Model: its tensors, added by petra_model_add_tensor, their indices kept in idx. */
  void (*layout)(petra_model *m, int in, int *idx);
  void (*init)(petra_model *m, const int *idx); /* from petra_model_rng */
  size_t (*ws_floats)(const petra_model *m, const int *idx, int B);
  /* The outputs [B][W] (in ws). train = 0: no backward pass follows. */
  const float *(*forward)(petra_model *m, const int *idx, int B, const float *x, const int *len,
                          petra_block_events ev, float *ws, int train);
  /* After forward with train = 1, given dtop [B][W]: adds the block's gradients to the
   * model's and writes dx [T][B][in] when not NULL. */
  void (*backward)(petra_model *m, const int *idx, int B, const float *x, const int *len,
                   petra_block_events ev, float *ws, const float *dtop, float *dx);

  /* Plan: a state of its own (fp32 vectors, the handles of the linears lk compiled as the
   * genome says; *bytes_f32 the bytes
   * it keeps beside the linears), NULL with err set on failure. */
  void *(*plan_build)(const petra_model *m, int in, petra_block_linker *lk,
                      size_t *bytes_f32, petra_err *err);
  size_t (*plan_ws_floats)(const void *st, int B);
  const float *(*plan_forward)(const void *st, int B, const float *x, const int *len,
                               petra_block_events ev, float *ws, petra_block_apply apply,
                               void *ctx);
  void (*plan_free)(void *st);

  /* Structured pruning as the genome says: the pruned spec in *ns and what the copy needs in
   * *keep (0), or an error; then the copy of the kept weights into out, whose input columns
   * are in_cols of m's (NULL: all); then prune_free (accepts NULL). */
  int (*prune_spec)(const petra_model *m, const petra_genome *g, petra_model_spec *ns, void **keep,
                    petra_err *err);
  void (*prune_copy)(const petra_model *m, petra_model *out, const void *keep, const int *in_cols,
                     int n_in_cols);
  void (*prune_free)(void *keep);
} petra_block;

extern const petra_block *const petra_blocks[];
extern const int petra_n_blocks;

/* The spec's block, or NULL (a recurrent core, or none). */
const petra_block *petra_block_of(const petra_model_spec *s);
/* 1 and the genome layer of tensor if some block compresses it (quant.c), else 0. */
int petra_block_weight_layer(const char *tensor, char *layer, size_t n);
/* The flags of genome layer `layer` of the spec's block (0: not the block's, or no block). */
unsigned petra_block_gene_flags(const petra_model_spec *s, const char *layer);

/* model.c's builder, for the blocks' layouts: appends a [rows × cols] tensor, returns its index. */
int petra_model_add_tensor(petra_model *m, const char *name, int rows, int cols);

/* model_spec.c's parsers, for the blocks' keys: an integer in [lo, hi] (0 or an error naming
 * key); a comma list of at most max of them (their count, −1 on a bad value, −2 on too many). */
int petra_spec_parse_int(const char *key, const char *v, long lo, long hi, int *out,
                         petra_err *err);
int petra_spec_parse_int_list(const char *key, const char *v, long lo, long hi, int max, int *out,
                              petra_err *err);

/* prune.c's helpers, for the blocks' pruning rules: units kept of n at fraction keep (at least
 * one); the indices of the k largest scores in ascending order (malloc'ed, NULL: out of
 * memory); rows ri (nr, NULL: the first nr) and columns ci (nc, NULL: the first nc) of a
 * [*, cols] matrix into dst [nr × nc]; squared norms of a row and of a column. */
int petra_prune_kept(float keep, int n);
int *petra_prune_top_k(const double *score, int n, int k);
void petra_prune_gather(const float *src, int cols, const int *ri, int nr, const int *ci, int nc,
                        float *dst);
double petra_prune_row_norm2(const float *w, int cols, int r);
double petra_prune_col_norm2(const float *w, int rows, int cols, int c);
#endif
