/* Trainable models built from a spec.
 *
 * seq — event-sequence classifier. Per event: categorical fields → embeddings, numeric
 *   inputs → concat → [dense + act (+ layer norm) (+ dropout)] → GRU → last state → dense
 *   head → 1 logit (binary, BCE) or K logits (multi-class, softmax CE).
 * ts — multivariate forecaster. Window W × C channels → normalization (norm=none, last value
 *   subtracted per channel, running z-score, or revin: the window's own mean and std) →
 *   linear, dlinear (trend/remainder decomposition, kernel=K), MLP or GRU → horizon H × C (or
 *   one target channel). Channel-independent mode (ci=1) applies one shared map per channel.
 *   init=zero starts the output layer at 0 (with norm=last: the naive forecast).
 *
 * Spec text: a kind then key=value pairs, e.g.
 *   "seq fields=mcc:400:16 numeric=16 len=32 dense=32 act=relu gru=64 classes=1"
 *   "ts window=336 horizon=96 channels=7 arch=linear ci=1 norm=last loss=mse"
 *
 * Examples are flat float records (so queues, replay buffers and checkpoints copy them as
 * bytes):
 *   seq: [len, codes[L][F] (as floats), numeric[L][N], label]   events left-aligned, 1 ≤ len ≤ L
 *   ts:  [window[W][C], target[H][C]]
 * All parameters live in one buffer, gradients in a twin; tensors are named views into it. */
#ifndef PETRA_MODEL_H
#define PETRA_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "petra/activation.h"
#include "petra/error.h"
#include "petra/loss.h"

#define PETRA_MAX_FIELDS 8
#define PETRA_NAME_MAX 32
#define PETRA_MAX_CORE_LAYERS 4 /* stacked recurrent layers of a seq model */

typedef enum petra_model_kind { PETRA_MODEL_SEQ = 0, PETRA_MODEL_TS = 1 } petra_model_kind;
/* DLINEAR: DLinear's decomposition (arXiv 2205.13504): a moving average of the window (kernel
 * ma_kernel, edge-padded) is the trend, the rest the remainder, each with its own linear map
 * (trend.w, head.w) and one bias. Linear in the window, so its plan, pruning, quantization
 * and compressed snapshots are those of the linear arch with the two maps folded into one
 * (petra_model_fold). */
typedef enum petra_ts_arch { PETRA_TS_LINEAR = 0, PETRA_TS_MLP, PETRA_TS_GRU, PETRA_TS_DLINEAR } petra_ts_arch;
/* The core of a seq model: a recurrent kind is its row in engine/core.c's table (its spec key
 * there: gru=, lstm=, rnn=; a new recurrent kind needs no name here), or the transformer. */
typedef enum petra_core_kind { PETRA_CORE_GRU = 0, PETRA_CORE_LSTM = 1, PETRA_CORE_TF = 64 } petra_core_kind;
/* REVIN: per-window instance normalization (the window's mean and standard deviation per
 * channel, subtracted and divided out, restored on the output; RevIN without the affine terms) */
typedef enum petra_ts_norm { PETRA_NORM_NONE = 0, PETRA_NORM_LAST, PETRA_NORM_RUNNING, PETRA_NORM_REVIN } petra_ts_norm;

typedef struct petra_field_spec {
  char name[PETRA_NAME_MAX];
  int vocab; /* codes 0 .. vocab−1 */
  int dim;   /* embedding width */
} petra_field_spec;

typedef struct petra_model_spec {
  petra_model_kind kind;
  /* seq */
  int n_fields;
  petra_field_spec fields[PETRA_MAX_FIELDS];
  int n_numeric; /* numeric inputs per event */
  int seq_len;   /* L: events per example */
  int dense;     /* units of the per-event dense layer; 0 = none */
  petra_act act;
  int layernorm; /* layer norm after the dense layer */
  float dropout; /* dropout after the dense layer (training only) */
  int classes;   /* 1 = binary; K > 1 = multi-class */
  /* ts */
  int window, horizon, channels;
  int target;    /* target channel, −1 = all */
  int ci;        /* channel-independent */
  petra_ts_arch arch;
  petra_ts_norm norm;
  int hidden;    /* MLP hidden units */
  int zero_head; /* ts init: 0 random, 1 zero (the head at 0: with norm=last the naive
                  * forecast), 2 mean (linear/dlinear maps at 1/window: DLinear's init) */
  int ma_kernel; /* ts arch=dlinear: moving-average kernel (odd, default 25) */
  /* both */
  int gru;       /* units of the recurrent core's first layer (seq: required; ts: arch=gru) */
  petra_core_kind core; /* seq: the core's kind (gru=N, lstm=N, tf=...); ts: always GRU */
  int n_stack;   /* seq: layers stacked on the first (gru=64,32: 1), each reading the one below */
  int stack[PETRA_MAX_CORE_LAYERS - 1]; /* their units */
  /* seq core=TF (tf=LAYERS:HEADS:WIDTH, petra/tf.h): gru holds WIDTH (what the head reads) */
  int tf_layers, tf_heads, tf_causal, tf_pool_mean;
  int tf_ffn[PETRA_MAX_CORE_LAYERS]; /* feed-forward units per layer (ffn=, default 2·WIDTH) */
  /* each layer's number in its tensors' and genes' names (tf<id>): 0, 1, ... as trained; a
   * model pruned with a layer dropped (genome drop=1) keeps the others' numbers (tfid=1) */
  int tf_id[PETRA_MAX_CORE_LAYERS];
  /* positions (pos=): 0 the learned table (pos=index); C + 1 time-aware from numeric column C
   * of each event (pos=time:C, Time2Vec: petra/tf.h), e.g. its event_age */
  int tf_time;
  petra_loss loss;
} petra_model_spec;

/* Layers of the recurrent core (0 without one, and for a transformer) and the units of layer
 * l; the head reads the top layer (a transformer: its width). */
static inline int petra_spec_core_layers(const petra_model_spec *s) {
  return s->gru > 0 && !(s->kind == PETRA_MODEL_SEQ && s->core == PETRA_CORE_TF) ? 1 + s->n_stack : 0;
}
static inline int petra_spec_is_tf(const petra_model_spec *s) { return s->kind == PETRA_MODEL_SEQ && s->core == PETRA_CORE_TF; }
static inline int petra_spec_core_units(const petra_model_spec *s, int l) { return l == 0 ? s->gru : s->stack[l - 1]; }
static inline int petra_spec_core_top(const petra_model_spec *s) {
  return s->gru > 0 ? petra_spec_core_units(s, s->n_stack) : 0;
}

/* Parses spec text; fills defaults for keys not given. Errors name the key and the allowed
 * range. */
int petra_model_spec_parse(const char *text, petra_model_spec *out, petra_err *err);
/* Canonical text form (parses back to the same spec). Returns the length written, as
 * snprintf does. */
int petra_model_spec_format(const petra_model_spec *s, char *buf, size_t size);

/* A named parameter tensor: rows × cols floats at offset in the parameter buffer. */
typedef struct petra_tensor_info {
  char name[PETRA_NAME_MAX];
  size_t offset;
  int rows, cols;
} petra_tensor_info;

typedef struct petra_model petra_model;

petra_model *petra_model_new(const petra_model_spec *spec, uint64_t seed, petra_err *err);
/* Number of parameters a spec needs, without allocating them (0 when out of memory). Readers
 * of untrusted input check it against the data they were given before building a model. */
size_t petra_model_spec_n_params(const petra_model_spec *spec);
void petra_model_free(petra_model *m);
/* The same function as a linear-arch model: for arch=dlinear the trend and remainder maps
 * folded into one head (W = W_rem + (W_trend − W_rem)·A, A the moving average); any other
 * model is copied. NULL when out of memory. */
petra_model *petra_model_fold(const petra_model *m, petra_err *err);
const petra_model_spec *petra_model_get_spec(const petra_model *m);

size_t petra_model_n_params(const petra_model *m);
float *petra_model_params(petra_model *m);
float *petra_model_grads(petra_model *m);
int petra_model_n_tensors(const petra_model *m);
const petra_tensor_info *petra_model_tensor(const petra_model *m, int i);
const petra_tensor_info *petra_model_find_tensor(const petra_model *m, const char *name);

/* Non-trainable state (running normalization statistics), for checkpoints. */
size_t petra_model_n_state(const petra_model *m);
float *petra_model_state(petra_model *m);

int petra_model_example_floats(const petra_model *m);
/* Outputs per example: logits (seq) or forecast values (ts). */
int petra_model_n_outputs(const petra_model *m);
/* ts models: the naive forecast of an example (every horizon step = the window's last value),
 * in the layout of petra_model_forward's outputs (n_outputs floats). Returns PETRA_EINVAL for
 * a seq model. */
int petra_model_naive_forecast(const petra_model *m, const float *example, float *out);
/* Floats of target per example, and where they start inside an example. */
int petra_model_target_floats(const petra_model *m);
const float *petra_model_example_target(const petra_model *m, const float *example);

/* n random valid examples, seeded (benchmarks and tests): seq sequences with codes inside
 * each vocabulary, normal numerics and a valid label, all seq_len events long when
 * full_length, else of random length 1..seq_len; ts windows of normal values plus ts_offset.
 * NULL when out of memory; the caller frees the result. */
float *petra_model_random_examples(const petra_model *m, int n, uint64_t seed, int full_length,
                                   double ts_offset);

/* Checks an example's structure (length, codes in vocabulary, finite values). */
int petra_model_check_example(const petra_model *m, const float *example, petra_err *err);

/* Inference: out [n × n_outputs]. Dropout off. ts outputs are in data units (the
 * normalization is undone). Returns PETRA_EINVAL on a malformed example. */
int petra_model_forward(petra_model *m, int n, const float *examples, float *out);

/* Training pass: zeroes the gradients, runs forward (dropout on), computes the mean loss over
 * the batch and back-propagates into the gradient buffer. out (may be NULL) receives the
 * outputs as petra_model_forward would give them. */
int petra_model_loss_grad(petra_model *m, int n, const float *examples, double *loss, float *out);

/* The model's random stream (dropout), for checkpoints. */
struct petra_rng *petra_model_rng(petra_model *m);

/* Updates running normalization statistics from examples (ts with norm=running). */
void petra_model_observe(petra_model *m, int n, const float *examples);

/* Loss of given outputs against examples' targets (no gradient). */
double petra_model_loss(const petra_model *m, int n, const float *examples, const float *out);

#endif
