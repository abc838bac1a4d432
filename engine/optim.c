#include "petra/optim.h"

#include <math.h>
#include <stdlib.h>

petra_adam_conf petra_adam_defaults(void) {
  return (petra_adam_conf){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .min_lr_frac = 0.1f};
}

petra_adam *petra_adam_new(const petra_adam_conf *conf, size_t n) {
  petra_adam *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->conf = *conf;
  o->n = n;
  o->m = calloc(n ? n : 1, sizeof(float));
  o->v = calloc(n ? n : 1, sizeof(float));
  if (!o->m || !o->v) {
    petra_adam_free(o);
    return NULL;
  }
  return o;
}

void petra_adam_free(petra_adam *o) {
  if (!o) return;
  free(o->m);
  free(o->v);
  free(o);
}

float petra_clip_grad_norm(float *g, size_t n, float max_norm) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
  float norm = (float)sqrt(s);
  if (!isfinite(norm)) return norm; /* nothing to scale by: the caller refuses the step */
  if (max_norm > 0 && norm > max_norm) {
    float k = max_norm / (norm + 1e-6f);
    for (size_t i = 0; i < n; i++) g[i] *= k;
  }
  return norm;
}

float petra_adam_lr(const petra_adam *o, uint64_t t) {
  const petra_adam_conf *c = &o->conf;
  if (c->warmup_steps > 0 && t < (uint64_t)c->warmup_steps)
    return c->lr * (float)(t + 1) / (float)c->warmup_steps;
  if (c->decay_steps > 0) {
    double p = (double)(t - (uint64_t)c->warmup_steps) / c->decay_steps;
    if (p > 1) p = 1;
    double lo = c->lr * c->min_lr_frac;
    return (float)(lo + 0.5 * (c->lr - lo) * (1 + cos(3.141592653589793 * p)));
  }
  return c->lr;
}

float petra_adam_step(petra_adam *o, float *p, float *g) {
  const petra_adam_conf *c = &o->conf;
  float norm = petra_clip_grad_norm(g, o->n, c->clip_norm);
  /* clipping an infinite norm scales by 0 and inf·0 is NaN: refuse the step instead */
  if (!isfinite(norm)) return norm;
  float lr = petra_adam_lr(o, o->t);
  o->t++;
  const float b1 = c->beta1, b2 = c->beta2;
  const float bc1 = 1.0f - powf(b1, (float)o->t), bc2 = 1.0f - powf(b2, (float)o->t);
  const float step = lr / bc1, rbc2 = 1.0f / sqrtf(bc2), decay = lr * c->weight_decay;
  float *m = o->m, *v = o->v;
  for (size_t i = 0; i < o->n; i++) {
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    p[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + c->eps) + decay * p[i];
  }
  return norm;
}
