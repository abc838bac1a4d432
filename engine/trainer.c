#include "petra/trainer.h"

#include "petra/regularize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra/bytes.h"
#include "petra/drift.h"
#include "petra/rng.h"
#include "quant.h"

#define CKPT_MAGIC "PETRACK1"
#define CKPT_VERSION 1u
#define FEED_CHUNK 256

struct petra_trainer {
  petra_model *m;
  petra_trainer_conf conf;
  petra_adam *opt;
  petra_replay *replay;
  petra_metrics *metrics;
  petra_drift drift;
  petra_trainer_stats stats;
  int ef, n_fresh;      /* floats per example; fresh examples per step */
  float *pending;       /* n_fresh examples */
  int n_pending;
  float *batch;         /* batch examples */
  float *out;           /* FEED_CHUNK outputs */
  float *sel;           /* one example's target in output layout */
  petra_metrics *naive; /* ts: prequential metrics of the naive (last value) forecast */
  float *naive_out;
  uint32_t *zeros;      /* keep_zeros: parameter indices held at zero */
  size_t n_zeros;
  /* the last weights known finite, with the optimizer state that went with them */
  float *good_p, *good_m, *good_v;
  uint64_t good_t, steps_since_good;
};

petra_trainer_conf petra_trainer_defaults(void) {
  petra_trainer_conf c = {
      .batch = 64,
      .replay_frac = 0.5f,
      .replay_capacity = 4096,
      .adam = petra_adam_defaults(),
      .metrics_window = 2000,
      .drift_delta = 0.005,
      .drift_lambda = 50.0,
      .drift_min_samples = 500,
      .seed = 1,
  };
  c.adam.clip_norm = 5.0f;
  return c;
}

static void keep_good(petra_trainer *t);

static int check_conf(const petra_trainer_conf *c, petra_err *err) {
  if (c->batch < 1 || c->batch > 65536)
    return petra_err_set(err, PETRA_ERANGE, "trainer: batch %d outside [1, 65536]", c->batch);
  if (!(c->replay_frac >= 0 && c->replay_frac < 1))
    return petra_err_set(err, PETRA_ERANGE, "trainer: replay_frac %g outside [0, 1)",
                         (double)c->replay_frac);
  if (c->replay_capacity < 0)
    return petra_err_set(err, PETRA_ERANGE, "trainer: replay capacity is negative");
  if (!(c->adam.lr > 0) || !isfinite(c->adam.lr))
    return petra_err_set(err, PETRA_ERANGE, "trainer: learning rate must be > 0");
  if (c->metrics_window < 1)
    return petra_err_set(err, PETRA_ERANGE, "trainer: metrics window must be >= 1");
  return 0;
}

petra_trainer *petra_trainer_new(petra_model *m, const petra_trainer_conf *conf, petra_err *err) {
  if (check_conf(conf, err)) return NULL;
  petra_trainer *t = calloc(1, sizeof *t);
  if (!t) goto oom;
  t->m = m;
  t->conf = *conf;
  t->ef = petra_model_example_floats(m);
  t->n_fresh = conf->batch - (int)lroundf(conf->batch * conf->replay_frac);
  if (t->n_fresh < 1) t->n_fresh = 1;
  const petra_model_spec *s = petra_model_get_spec(m);
  t->opt = petra_adam_new(&conf->adam, petra_model_n_params(m));
  t->replay = petra_replay_new(conf->replay_capacity, t->ef, conf->seed ^ 0x5eedULL);
  t->metrics = petra_metrics_new(s->kind == PETRA_MODEL_SEQ ? s->classes : 0,
                                 petra_model_n_outputs(m), conf->metrics_window);
  t->pending = malloc(sizeof(float) * t->n_fresh * t->ef);
  t->batch = malloc(sizeof(float) * (size_t)conf->batch * t->ef);
  t->out = malloc(sizeof(float) * FEED_CHUNK * petra_model_n_outputs(m));
  t->sel = malloc(sizeof(float) * petra_model_n_outputs(m));
  if (s->kind == PETRA_MODEL_TS) {
    t->naive = petra_metrics_new(0, petra_model_n_outputs(m), conf->metrics_window);
    t->naive_out = malloc(sizeof(float) * petra_model_n_outputs(m));
    if (!t->naive || !t->naive_out) goto oom;
  }
  size_t np = petra_model_n_params(m) ? petra_model_n_params(m) : 1;
  t->good_p = malloc(sizeof(float) * np);
  t->good_m = malloc(sizeof(float) * np);
  t->good_v = malloc(sizeof(float) * np);
  if (!t->opt || !t->replay || !t->metrics || !t->pending || !t->batch || !t->out || !t->sel ||
      !t->good_p || !t->good_m || !t->good_v)
    goto oom;
  petra_drift_init(&t->drift, conf->drift_delta, conf->drift_lambda, conf->drift_min_samples);
  if (conf->keep_zeros) {
    const float *w = petra_model_params(m);
    for (int pass = 0; pass < 2; pass++) { /* count, then record */
      size_t k = 0;
      for (int i = 0; i < petra_model_n_tensors(m); i++) {
        const petra_tensor_info *ti = petra_model_tensor(m, i);
        char layer[32];
        if (!petra_weight_matrix_layer(ti->name, layer, sizeof layer)) continue;
        for (size_t j = ti->offset; j < ti->offset + (size_t)ti->rows * ti->cols; j++)
          if (w[j] == 0.0f) {
            if (pass) t->zeros[k] = (uint32_t)j;
            k++;
          }
      }
      if (!pass) {
        t->n_zeros = k;
        if (!(t->zeros = malloc(sizeof(uint32_t) * (k ? k : 1)))) goto oom;
      }
    }
  }
  keep_good(t);
  return t;
oom:
  petra_err_set(err, PETRA_ENOMEM, "trainer: out of memory");
  petra_trainer_free(t);
  return NULL;
}

void petra_trainer_free(petra_trainer *t) {
  if (!t) return;
  petra_adam_free(t->opt);
  petra_replay_free(t->replay);
  petra_metrics_free(t->metrics);
  petra_metrics_free(t->naive);
  free(t->naive_out);
  free(t->pending);
  free(t->batch);
  free(t->out);
  free(t->sel);
  free(t->zeros);
  free(t->good_p);
  free(t->good_m);
  free(t->good_v);
  free(t);
}

petra_model *petra_trainer_model(petra_trainer *t) { return t->m; }
void petra_trainer_set_lr(petra_trainer *t, float lr) { t->opt->conf.lr = lr; }
float petra_trainer_get_lr(const petra_trainer *t) { return t->opt->conf.lr; }
const petra_trainer_stats *petra_trainer_get_stats(const petra_trainer *t) { return &t->stats; }
const petra_metrics *petra_trainer_metrics(const petra_trainer *t) { return t->metrics; }
const petra_metrics *petra_trainer_naive_metrics(const petra_trainer *t) { return t->naive; }
petra_replay *petra_trainer_replay(petra_trainer *t) { return t->replay; }
int petra_trainer_pending(const petra_trainer *t) { return t->n_pending; }

int petra_trainer_take_drift(petra_trainer *t) {
  int d = t->stats.drift_since_read;
  t->stats.drift_since_read = 0;
  return d;
}

void petra_trainer_remember(petra_trainer *t, int n, const float *ex) {
  for (int i = 0; i < n; i++) petra_replay_add(t->replay, ex + (size_t)i * t->ef);
}

static void keep_good(petra_trainer *t) {
  size_t np = petra_model_n_params(t->m);
  memcpy(t->good_p, petra_model_params(t->m), sizeof(float) * np);
  memcpy(t->good_m, t->opt->m, sizeof(float) * np);
  memcpy(t->good_v, t->opt->v, sizeof(float) * np);
  t->good_t = t->opt->t;
  t->steps_since_good = 0;
}

static int weights_finite(const petra_trainer *t) {
  const float *w = petra_model_params(t->m);
  size_t np = petra_model_n_params(t->m);
  float acc = 0;
  for (size_t i = 0; i < np; i++) acc += w[i] * 0.0f; /* NaN iff some w[i] is inf or NaN */
  return acc == acc;
}

/* Back to the last weights known finite, with the optimizer state that went with them. */
static void roll_back(petra_trainer *t) {
  size_t np = petra_model_n_params(t->m);
  memcpy(petra_model_params(t->m), t->good_p, sizeof(float) * np);
  memcpy(t->opt->m, t->good_m, sizeof(float) * np);
  memcpy(t->opt->v, t->good_v, sizeof(float) * np);
  t->opt->t = t->good_t;
  t->steps_since_good = 0;
  t->stats.rollbacks++;
}

static void note_nonfinite(petra_trainer *t, const char *what, double v) {
  snprintf(t->stats.last_nonfinite, sizeof t->stats.last_nonfinite, "%s %g at step %llu", what, v,
           (unsigned long long)t->stats.steps);
}

int petra_trainer_step(petra_trainer *t, int n, const float *ex, double *loss) {
  double l;
  int rc = petra_model_loss_grad(t->m, n, ex, &l, NULL);
  if (rc) return rc;
  if (t->conf.l1 > 0 || t->conf.group_lasso > 0)
    l += petra_regularize(t->m, t->conf.l1, t->conf.group_lasso, petra_model_grads(t->m));
  if (loss) *loss = l;
  if (!isfinite(l)) {
    t->stats.skipped_nonfinite++;
    note_nonfinite(t, "loss", l);
    if (!weights_finite(t)) roll_back(t); /* bad weights made it: they must not stay */
    return 0;
  }
  float gn = petra_adam_step(t->opt, petra_model_params(t->m), petra_model_grads(t->m));
  if (!isfinite(gn)) {
    t->stats.skipped_nonfinite++;
    note_nonfinite(t, "gradient norm", gn);
    return 0;
  }
  float *w = petra_model_params(t->m);
  for (size_t i = 0; i < t->n_zeros; i++) w[t->zeros[i]] = 0.0f;
  /* a finite gradient can still overflow a weight (a huge step): check, and roll back */
  if (!weights_finite(t)) {
    roll_back(t);
    note_nonfinite(t, "weights after step, rolled back; loss", l);
    return 0;
  }
  if (++t->steps_since_good >= PETRA_TRAINER_GOOD_EVERY) keep_good(t);
  t->stats.steps++;
  t->stats.last_loss = l;
  return 0;
}

/* fresh pending examples + replay sample -> one step; the fresh ones then join the replay. */
static int step_pending(petra_trainer *t) {
  size_t row = sizeof(float) * t->ef;
  int nf = t->n_pending;
  memcpy(t->batch, t->pending, row * nf);
  int nr = nf < t->conf.batch
               ? petra_replay_sample(t->replay, t->conf.batch - nf, t->batch + (size_t)nf * t->ef)
               : 0;
  int rc = petra_trainer_step(t, nf + nr, t->batch, NULL);
  if (rc) return rc;
  petra_trainer_remember(t, nf, t->pending);
  t->n_pending = 0;
  return 0;
}

int petra_trainer_feed(petra_trainer *t, int n, const float *ex) {
  for (int i = 0; i < n; i++) {
    int rc = petra_model_check_example(t->m, ex + (size_t)i * t->ef, NULL);
    if (rc) return rc;
  }
  const int no = petra_model_n_outputs(t->m);
  const petra_model_spec *s = petra_model_get_spec(t->m);
  int steps = 0;
  for (int off = 0; off < n; off += FEED_CHUNK) {
    int k = n - off < FEED_CHUNK ? n - off : FEED_CHUNK;
    const float *chunk = ex + (size_t)off * t->ef;
    petra_model_observe(t->m, k, chunk);
    /* test ... */
    int rc = petra_model_forward(t->m, k, chunk, t->out);
    if (rc) return rc;
    for (int i = 0; i < k; i++) {
      const float *e = chunk + (size_t)i * t->ef;
      const float *o = t->out + (size_t)i * no;
      const float *tgt = petra_model_example_target(t->m, e);
      if (s->kind == PETRA_MODEL_TS && s->target >= 0) {
        /* metrics compare the forecast with the target channel only */
        for (int h = 0; h < s->horizon; h++) t->sel[h] = tgt[(size_t)h * s->channels + s->target];
        tgt = t->sel;
      }
      petra_metrics_add(t->metrics, o, tgt);
      if (t->naive) { /* ts: the last value carried forward, scored on the same targets */
        petra_model_naive_forecast(t->m, e, t->naive_out);
        petra_metrics_add(t->naive, t->naive_out, tgt);
      }
      double l = petra_model_loss(t->m, 1, e, o);
      t->stats.ema_loss = t->stats.examples == 0 ? l : 0.99 * t->stats.ema_loss + 0.01 * l;
      t->stats.examples++;
      if (petra_drift_update(&t->drift, l)) {
        t->stats.drift_alarms++;
        t->stats.drift_since_read = 1;
      }
    }
    /* ... then train */
    for (int i = 0; i < k; i++) {
      if (t->n_pending >= t->n_fresh) { /* left over from a checkpoint with a larger batch */
        if ((rc = step_pending(t))) return rc;
        steps++;
      }
      memcpy(t->pending + (size_t)t->n_pending * t->ef, chunk + (size_t)i * t->ef,
             sizeof(float) * t->ef);
      if (++t->n_pending >= t->n_fresh) {
        if ((rc = step_pending(t))) return rc;
        steps++;
      }
    }
  }
  return steps;
}

int petra_evaluate(petra_model *m, int n, const float *ex, petra_metrics *metrics) {
  const int no = petra_model_n_outputs(m), ef = petra_model_example_floats(m);
  const petra_model_spec *s = petra_model_get_spec(m);
  float *out = malloc(sizeof(float) * FEED_CHUNK * no);
  float *sel = malloc(sizeof(float) * no);
  if (!out || !sel) {
    free(out);
    free(sel);
    return PETRA_ENOMEM;
  }
  int rc = 0;
  for (int off = 0; off < n && !rc; off += FEED_CHUNK) {
    int k = n - off < FEED_CHUNK ? n - off : FEED_CHUNK;
    rc = petra_model_forward(m, k, ex + (size_t)off * ef, out);
    for (int i = 0; i < k && !rc; i++) {
      const float *tgt = petra_model_example_target(m, ex + (size_t)(off + i) * ef);
      if (s->kind == PETRA_MODEL_TS && s->target >= 0) {
        for (int h = 0; h < s->horizon; h++) sel[h] = tgt[(size_t)h * s->channels + s->target];
        tgt = sel;
      }
      petra_metrics_add(metrics, out + (size_t)i * no, tgt);
    }
  }
  free(out);
  free(sel);
  return rc;
}

int petra_evaluate_naive(const petra_model *m, int n, const float *ex, petra_metrics *metrics) {
  const petra_model_spec *s = petra_model_get_spec(m);
  if (s->kind != PETRA_MODEL_TS) return PETRA_EINVAL;
  const int no = petra_model_n_outputs(m), ef = petra_model_example_floats(m);
  float *out = malloc(sizeof(float) * (size_t)no), *sel = malloc(sizeof(float) * (size_t)no);
  if (!out || !sel) {
    free(out);
    free(sel);
    return PETRA_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    const float *e = ex + (size_t)i * ef;
    petra_model_naive_forecast(m, e, out);
    const float *tgt = petra_model_example_target(m, e);
    if (s->target >= 0) {
      for (int h = 0; h < s->horizon; h++) sel[h] = tgt[(size_t)h * s->channels + s->target];
      tgt = sel;
    }
    petra_metrics_add(metrics, out, tgt);
  }
  free(out);
  free(sel);
  return 0;
}

/* ---------------------------------------------------------------- checkpoints */

int petra_trainer_save(const petra_trainer *t, uint8_t **buf, size_t *len) {
  petra_bytes_w w = {0};
  char spec[1024];
  petra_model_spec_format(petra_model_get_spec(t->m), spec, sizeof spec);
  petra_bw_raw(&w, CKPT_MAGIC, 8);
  petra_bw_u32(&w, CKPT_VERSION);
  petra_bw_str(&w, spec);
  petra_model *m = t->m;
  size_t np = petra_model_n_params(m), ns = petra_model_n_state(m);
  petra_bw_u64(&w, np);
  petra_bw_f32s(&w, petra_model_params(m), np);
  petra_bw_u64(&w, ns);
  petra_bw_f32s(&w, petra_model_state(m), ns);
  petra_rng *mr = petra_model_rng(m);
  for (int i = 0; i < 4; i++) petra_bw_u64(&w, mr->s[i]);
  /* optimizer */
  petra_bw_u64(&w, t->opt->t);
  petra_bw_f32s(&w, t->opt->m, np);
  petra_bw_f32s(&w, t->opt->v, np);
  /* replay */
  const petra_replay *r = t->replay;
  petra_bw_u32(&w, (uint32_t)r->width);
  petra_bw_u32(&w, (uint32_t)r->size);
  petra_bw_u64(&w, r->seen);
  for (int i = 0; i < 4; i++) petra_bw_u64(&w, r->rng.s[i]);
  petra_bw_f32s(&w, r->data, (size_t)r->size * r->width);
  /* queued examples */
  petra_bw_u32(&w, (uint32_t)t->n_pending);
  petra_bw_f32s(&w, t->pending, (size_t)t->n_pending * t->ef);
  /* counters and drift test */
  petra_bw_u64(&w, t->stats.examples);
  petra_bw_u64(&w, t->stats.steps);
  petra_bw_f64(&w, t->stats.last_loss);
  petra_bw_f64(&w, t->stats.ema_loss);
  petra_bw_u64(&w, t->stats.drift_alarms);
  petra_bw_u64(&w, t->drift.n);
  petra_bw_f64(&w, t->drift.mean);
  petra_bw_f64(&w, t->drift.cum);
  petra_bw_f64(&w, t->drift.min_cum);
  petra_bw_u64(&w, petra_fnv1a64(w.p, w.len));
  if (w.err) {
    free(w.p);
    return PETRA_ENOMEM;
  }
  *buf = w.p;
  *len = w.len;
  return 0;
}

petra_trainer *petra_trainer_restore(const uint8_t *buf, size_t len, const petra_trainer_conf *conf,
                                     petra_model **model_out, petra_err *err) {
  *model_out = NULL;
  if (len < 8 + 4 + 8 || memcmp(buf, CKPT_MAGIC, 8) != 0) {
    petra_err_set(err, PETRA_EINVAL, "checkpoint: not a petra checkpoint (bad magic)");
    return NULL;
  }
  uint64_t want;
  {
    petra_bytes_r hr = {buf + len - 8, 8, 0, 0};
    want = petra_br_u64(&hr);
  }
  if (petra_fnv1a64(buf, len - 8) != want) {
    petra_err_set(err, PETRA_ECHECKSUM, "checkpoint: hash mismatch (truncated or corrupt file)");
    return NULL;
  }
  petra_bytes_r r = {buf, len - 8, 8, 0};
  uint32_t ver = petra_br_u32(&r);
  if (ver != CKPT_VERSION) {
    petra_err_set(err, PETRA_EVERSION, "checkpoint: format version %u, this build reads %u", ver,
                  CKPT_VERSION);
    return NULL;
  }
  char spec_text[1024];
  petra_br_str(&r, spec_text, sizeof spec_text);
  petra_model_spec spec;
  if (r.err || petra_model_spec_parse(spec_text, &spec, err)) {
    if (r.err) petra_err_set(err, PETRA_EINVAL, "checkpoint: truncated model spec");
    return NULL;
  }
  petra_model *m = petra_model_new(&spec, 0, err);
  if (!m) return NULL;
  petra_trainer *t = petra_trainer_new(m, conf, err);
  if (!t) {
    petra_model_free(m);
    return NULL;
  }
  size_t np = petra_model_n_params(m), ns = petra_model_n_state(m);
  if (petra_br_u64(&r) != np) goto bad;
  petra_br_f32s(&r, petra_model_params(m), np);
  if (petra_br_u64(&r) != ns) goto bad;
  petra_br_f32s(&r, petra_model_state(m), ns);
  petra_rng *mr = petra_model_rng(m);
  for (int i = 0; i < 4; i++) mr->s[i] = petra_br_u64(&r);
  t->opt->t = petra_br_u64(&r);
  petra_br_f32s(&r, t->opt->m, np);
  petra_br_f32s(&r, t->opt->v, np);
  uint32_t width = petra_br_u32(&r), size = petra_br_u32(&r);
  if (width != (uint32_t)t->ef) goto bad;
  /* a smaller configured capacity keeps the first `capacity` stored examples */
  uint64_t seen = petra_br_u64(&r);
  uint64_t rs[4];
  for (int i = 0; i < 4; i++) rs[i] = petra_br_u64(&r);
  if (r.err || size > (r.len - r.off) / 4 / (width ? width : 1)) goto bad;
  {
    petra_replay *rp = t->replay;
    uint32_t keep = size < (uint32_t)rp->capacity ? size : (uint32_t)rp->capacity;
    petra_br_f32s(&r, rp->data, (size_t)keep * width);
    float tmp[64];
    for (size_t rest = (size_t)(size - keep) * width; rest > 0 && !r.err;) {
      size_t k = rest < 64 ? rest : 64;
      petra_br_f32s(&r, tmp, k);
      rest -= k;
    }
    rp->size = (int)keep;
    rp->seen = seen;
    memcpy(rp->rng.s, rs, sizeof rs);
  }
  uint32_t np_pending = petra_br_u32(&r);
  if (r.err || np_pending > (r.len - r.off) / 4 / (uint32_t)t->ef) goto bad;
  if (np_pending > (uint32_t)t->n_fresh) {
    /* saved with a larger batch: keep every queued example; the next feed trains on them */
    float *p = realloc(t->pending, sizeof(float) * np_pending * t->ef);
    float *b = realloc(t->batch, sizeof(float) * (np_pending + (size_t)t->conf.batch) * t->ef);
    if (p) t->pending = p;
    if (b) t->batch = b;
    if (!p || !b) goto bad;
  }
  petra_br_f32s(&r, t->pending, (size_t)np_pending * t->ef);
  t->n_pending = (int)np_pending;
  t->stats.examples = petra_br_u64(&r);
  t->stats.steps = petra_br_u64(&r);
  t->stats.last_loss = petra_br_f64(&r);
  t->stats.ema_loss = petra_br_f64(&r);
  t->stats.drift_alarms = petra_br_u64(&r);
  t->drift.n = petra_br_u64(&r);
  t->drift.mean = petra_br_f64(&r);
  t->drift.cum = petra_br_f64(&r);
  t->drift.min_cum = petra_br_f64(&r);
  if (r.err || r.off != r.len) goto bad;
  keep_good(t);
  *model_out = m;
  return t;
bad:
  petra_err_set(err, PETRA_EINVAL,
                "checkpoint: contents do not match its model spec '%s' (truncated or corrupt)",
                spec_text);
  petra_trainer_free(t);
  petra_model_free(m);
  return NULL;
}
