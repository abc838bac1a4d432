/* Adam / AdamW over one flat parameter buffer, with global-norm gradient clipping and a
 * warm-up + cosine/constant learning-rate schedule. */
#ifndef PETRA_OPTIM_H
#define PETRA_OPTIM_H
#include <stddef.h>
#include <stdint.h>

typedef struct petra_adam_conf {
  float lr;           /* base learning rate */
  float beta1, beta2; /* moment decay (0.9, 0.999) */
  float eps;          /* 1e-8 */
  float weight_decay; /* decoupled (AdamW); 0 = plain Adam */
  float clip_norm;    /* global gradient norm cap; 0 = no clipping */
  int warmup_steps;   /* linear warm-up from 0 to lr */
  int decay_steps;    /* cosine decay to lr·min_lr_frac over this many steps after warm-up; 0 = constant */
  float min_lr_frac;
} petra_adam_conf;

typedef struct petra_adam {
  petra_adam_conf conf;
  size_t n;
  float *m, *v; /* first and second moments, n each */
  uint64_t t;   /* steps taken */
} petra_adam;

/* Defaults: lr 1e-3, betas 0.9/0.999, eps 1e-8, no decay, no clipping, constant rate. */
petra_adam_conf petra_adam_defaults(void);
/* Allocates moments for n parameters; returns NULL when out of memory. */
petra_adam *petra_adam_new(const petra_adam_conf *conf, size_t n);
void petra_adam_free(petra_adam *o);
/* Learning rate that step t (0-based) uses. */
float petra_adam_lr(const petra_adam *o, uint64_t t);
/* One update: clips grads in place when configured, applies bias-corrected Adam (and
 * decoupled weight decay). Returns the gradient's global norm before clipping. A gradient
 * whose norm is not finite (an inf or NaN anywhere) changes nothing — no step, moments and
 * step count untouched — and its norm (inf or NaN) is returned for the caller to count. */
float petra_adam_step(petra_adam *o, float *params, float *grads);

/* Scales g so that its L2 norm is at most max_norm; returns the norm before. */
float petra_clip_grad_norm(float *g, size_t n, float max_norm);
#endif
