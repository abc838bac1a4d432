/* Input encoder: how raw event values become model inputs, with statistics learned from the
 * data. One per feature state (petrad, `petra score`, `petra train`); it travels in every
 * snapshot so a scorer computes exactly the inputs the model was trained on.
 *
 * Numeric columns. Each has a transform, then a running robust z-score:
 *   log  — pre = sign(x)·log1p(|x|) (heavy-tailed money amounts, counts, time gaps), the default
 *   z    — pre = x
 *   raw  — pre = x, and no z-score (the producer scaled it); still clipped
 * The pre-transformed value is what feature rings store; the z-score is applied when an
 * example is formed: z = (pre − mean) / sd, clipped to ±PETRA_ENCODER_CLIP (raw: the value
 * itself, clipped to ±PETRA_ENCODER_RAW_CLIP). So a hostile number (1e30, a column jumping by
 * 10^6) becomes a bounded input. Statistics: exact mean/variance (Welford) for the first
 * PETRA_ENCODER_WARMUP values, then an exponentially weighted mean/variance with horizon
 * PETRA_ENCODER_HORIZON values, each update winsorized at mean ± 5 sd (one outlier moves
 * them little; a lasting shift is followed within a few horizons). A constant column gives
 * z = 0 for its constant value.
 *
 * Categorical fields. Each has a mode:
 *   index — the code is the id; it must be in [0, vocab) (else the input is refused)
 *   hash  — id = 1 + fnv(code) mod (vocab − 1); 0 is "missing"
 *   vocab — ids 1..vocab−1 are given to codes in the order first seen (a bounded learned
 *           vocabulary); a code seen after it is full, or by a frozen encoder, gets the
 *           out-of-vocabulary bucket 0 (also "missing")
 *
 * A frozen encoder (scorers: the snapshot's values) no longer learns. The description
 * (petra_encoder_describe) names the transforms and modes, not the current values: it is
 * part of the feature schema whose hash snapshots carry. Owned by one thread at a time. */
#ifndef PETRA_ENCODER_H
#define PETRA_ENCODER_H
#include <stddef.h>
#include <stdint.h>

#include "petra/error.h"

#define PETRA_ENCODER_MAX_NUMERIC 72
#define PETRA_ENCODER_MAX_FIELDS 8
#define PETRA_ENCODER_CLIP 8.0f
#define PETRA_ENCODER_RAW_CLIP 1e4f
#define PETRA_ENCODER_WARMUP 256
#define PETRA_ENCODER_HORIZON 20000.0

typedef enum petra_num_transform {
  PETRA_NUM_LOG = 0,
  PETRA_NUM_Z = 1,
  PETRA_NUM_RAW = 2
} petra_num_transform;
typedef enum petra_cat_mode { PETRA_CAT_INDEX = 0, PETRA_CAT_HASH = 1, PETRA_CAT_VOCAB = 2 } petra_cat_mode;

/* Running statistics of one numeric column (plain data: tests compare them). */
typedef struct petra_num_stats {
  uint64_t n;
  double mean, var;
} petra_num_stats;

typedef struct petra_encoder petra_encoder;

/* n_numeric transforms (may be NULL: all log), n_fields modes with their vocabulary sizes
 * (modes NULL: all index). */
petra_encoder *petra_encoder_new(int n_numeric, const petra_num_transform *transforms,
                                 int n_fields, const petra_cat_mode *modes, const int *vocab,
                                 petra_err *err);
void petra_encoder_free(petra_encoder *e);
petra_encoder *petra_encoder_clone(const petra_encoder *e);
/* Replaces e's statistics and vocabularies with src's; the layouts must match
 * (PETRA_ESHAPE otherwise, e unchanged). */
int petra_encoder_copy_state(petra_encoder *e, const petra_encoder *src, petra_err *err);
void petra_encoder_freeze(petra_encoder *e, int frozen);
int petra_encoder_frozen(const petra_encoder *e);

int petra_encoder_n_numeric(const petra_encoder *e);
int petra_encoder_n_fields(const petra_encoder *e);
petra_num_transform petra_encoder_transform(const petra_encoder *e, int col);
petra_cat_mode petra_encoder_mode(const petra_encoder *e, int field);
const petra_num_stats *petra_encoder_stats(const petra_encoder *e, int col);

/* The stored (pre-transformed) value of a raw number; non-finite input gives 0. */
float petra_encoder_pre(const petra_encoder *e, int col, double raw);
/* Learns from a pre-transformed value (nothing when frozen). */
void petra_encoder_observe(petra_encoder *e, int col, float pre);
/* The model input for a pre-transformed value: z-scored and clipped, always finite. */
float petra_encoder_scale(const petra_encoder *e, int col, float pre);
/* The same scaling for many values of one column: prepare once (the column's sd), apply to
 * each (bit for bit petra_encoder_scale's result while the statistics do not change). */
typedef struct petra_scale_prep {
  int raw;
  double mean, sd;
  float clip;
} petra_scale_prep;
void petra_encoder_scale_prep(const petra_encoder *e, int col, petra_scale_prep *p);
static inline float petra_encoder_scale_apply(const petra_scale_prep *p, float pre) {
  double z = p->raw ? (double)pre : ((double)pre - p->mean) / p->sd;
  if (!(z == z)) return 0.0f; /* NaN */
  if (z > p->clip) return p->clip;
  if (z < -p->clip) return -p->clip;
  return (float)z;
}

/* The id of a raw categorical code (learning it in vocab mode unless frozen). Returns 0, or
 * PETRA_ERANGE for an index-mode code outside [0, vocab). */
int petra_encoder_code(petra_encoder *e, int field, int32_t raw, int32_t *id);
/* The id of a raw code without learning: what petra_encoder_code gives a frozen encoder
 * (index mode: 0 for a code outside the vocabulary). PETRA_ENCODER_MISSING gives 0. */
#define PETRA_ENCODER_MISSING INT32_MIN
int32_t petra_encoder_id(const petra_encoder *e, int field, int32_t raw);
/* Codes learned so far by a vocab-mode field. */
int petra_encoder_vocab_used(const petra_encoder *e, int field);

/* "log,log,z;vocab,index" style text naming the transforms and modes (for feature schemas). */
int petra_encoder_describe(const petra_encoder *e, char *buf, size_t size);

/* Serialized statistics and vocabularies (layout included); *buf malloc'ed. */
int petra_encoder_save(const petra_encoder *e, uint8_t **buf, size_t *len);
/* A new encoder from saved bytes; every count and id is validated. */
petra_encoder *petra_encoder_load(const uint8_t *buf, size_t len, petra_err *err);

int petra_num_transform_parse(const char *s, petra_num_transform *out);
int petra_cat_mode_parse(const char *s, petra_cat_mode *out);
const char *petra_num_transform_name(petra_num_transform t);
const char *petra_cat_mode_name(petra_cat_mode m);
#endif
