/* Model spec: text form <-> struct, with defaults and range checks. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra/model.h"

#include "block.h"
#include "core.h"

static void defaults(petra_model_spec *s, petra_model_kind kind) {
  memset(s, 0, sizeof *s);
  s->kind = kind;
  if (kind == PETRA_MODEL_SEQ) {
    s->n_numeric = 2;
    s->seq_len = 32;
    s->dense = 32;
    s->act = PETRA_ACT_RELU;
    s->gru = 64;
    s->classes = 1;
    s->loss = PETRA_LOSS_BCE;
  } else {
    s->window = 96;
    s->horizon = 24;
    s->channels = 1;
    s->target = -1;
    s->ci = 1;
    s->arch = PETRA_TS_LINEAR;
    s->norm = PETRA_NORM_LAST;
    s->hidden = 64;
    s->ma_kernel = 25;
    s->act = PETRA_ACT_RELU;
    s->loss = PETRA_LOSS_MSE;
  }
}

int petra_spec_parse_int(const char *key, const char *v, long lo, long hi, int *out, petra_err *err) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return petra_err_set(err, PETRA_ERANGE, "model spec: %s=%s: expected an integer in [%ld, %ld]",
                         key, v, lo, hi);
  *out = (int)x;
  return 0;
}

/* KEY=a,b,c: up to max integers in [lo, hi] into out; returns how many, -1 with err set for a
 * bad one, -2 when there are more than max (the caller says which limit). */
int petra_spec_parse_int_list(const char *key, const char *v, long lo, long hi, int max, int *out, petra_err *err) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", v);
  char *save = NULL;
  int n = 0;
  for (char *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
    if (n == max) return -2;
    if (petra_spec_parse_int(key, u, lo, hi, &out[n++], err)) return -1;
  }
  return n;
}

static int parse_field(const char *v, petra_field_spec *f, petra_err *err) {
  /* name:vocab:dim */
  const char *c1 = strchr(v, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c1 || !c2 || c1 == v || (size_t)(c1 - v) >= PETRA_NAME_MAX)
    return petra_err_set(err, PETRA_EINVAL,
                         "model spec: field '%s': expected name:vocab:dim, e.g. mcc:400:16", v);
  memcpy(f->name, v, (size_t)(c1 - v));
  f->name[c1 - v] = 0;
  char num[32];
  size_t n1 = (size_t)(c2 - c1 - 1);
  if (n1 == 0 || n1 >= sizeof num)
    return petra_err_set(err, PETRA_EINVAL, "model spec: field '%s': bad vocabulary size", v);
  memcpy(num, c1 + 1, n1);
  num[n1] = 0;
  int rc = petra_spec_parse_int("vocab", num, 1, 10000000, &f->vocab, err);
  if (rc) return rc;
  return petra_spec_parse_int("dim", c2 + 1, 1, 1024, &f->dim, err);
}

/* 1 if a block takes key k (its result in *rc), else 0 */
static int blocks_parse(petra_model_spec *s, const char *k, const char *v, int *rc, petra_err *err) {
  for (int b = 0; b < petra_n_blocks; b++)
    if (petra_blocks[b]->parse(s, k, v, rc, err)) return 1;
  return 0;
}

int petra_model_spec_parse(const char *text, petra_model_spec *s, petra_err *err) {
  char buf[1024];
  if (!text || strlen(text) >= sizeof buf)
    return petra_err_set(err, PETRA_EINVAL, "model spec: missing or longer than %zu bytes",
                         sizeof buf - 1);
  strcpy(buf, text);
  char *save = NULL;
  char *tok = strtok_r(buf, " \t\n", &save);
  if (!tok)
    return petra_err_set(err, PETRA_EINVAL, "model spec is empty: expected 'seq ...' or 'ts ...'");
  if (!strcmp(tok, "seq"))
    defaults(s, PETRA_MODEL_SEQ);
  else if (!strcmp(tok, "ts"))
    defaults(s, PETRA_MODEL_TS);
  else
    return petra_err_set(err, PETRA_EINVAL, "model spec: unknown kind '%s': expected seq or ts", tok);
  int seq = s->kind == PETRA_MODEL_SEQ;
  int loss_given = 0;
  while ((tok = strtok_r(NULL, " \t\n", &save))) {
    char *eq = strchr(tok, '=');
    if (!eq) return petra_err_set(err, PETRA_EINVAL, "model spec: '%s' is not key=value", tok);
    *eq = 0;
    const char *k = tok, *v = eq + 1;
    int rc = 0;
    if (seq && !strcmp(k, "fields")) {
      s->n_fields = 0;
      char fbuf[512];
      snprintf(fbuf, sizeof fbuf, "%s", v);
      char *fs = NULL;
      for (char *f = strtok_r(fbuf, ",", &fs); f; f = strtok_r(NULL, ",", &fs)) {
        if (s->n_fields == PETRA_MAX_FIELDS)
          return petra_err_set(err, PETRA_ERANGE, "model spec: more than %d categorical fields",
                               PETRA_MAX_FIELDS);
        if ((rc = parse_field(f, &s->fields[s->n_fields++], err))) return rc;
      }
    } else if (seq && !strcmp(k, "numeric")) {
      rc = petra_spec_parse_int(k, v, 0, 4096, &s->n_numeric, err);
    } else if (seq && !strcmp(k, "len")) {
      rc = petra_spec_parse_int(k, v, 1, 4096, &s->seq_len, err);
    } else if (seq && !strcmp(k, "dense")) {
      rc = petra_spec_parse_int(k, v, 0, 65536, &s->dense, err);
    } else if (seq && !strcmp(k, "layernorm")) {
      rc = petra_spec_parse_int(k, v, 0, 1, &s->layernorm, err);
    } else if (seq && !strcmp(k, "dropout")) {
      char *end;
      double d = strtod(v, &end);
      float df = (float)d; /* checked as stored */
      if (end == v || *end || !(df >= 0.0f && df < 1.0f))
        return petra_err_set(err, PETRA_ERANGE, "model spec: dropout=%s: expected [0, 1)", v);
      s->dropout = df;
    } else if (seq && !strcmp(k, "classes")) {
      rc = petra_spec_parse_int(k, v, 1, 100000, &s->classes, err);
    } else if (seq && blocks_parse(s, k, v, &rc, err)) {
      /* a block's key (engine/block.h): tf=, ffn=, causal= ... */
    } else if (!strcmp(k, "gru") || (seq && petra_core_by_key(k))) {
      /* the recurrent core's kind and units per layer: gru=64, lstm=64, gru=64,32 (engine/core.c) */
      int units[PETRA_MAX_CORE_LAYERS];
      const int max = seq ? PETRA_MAX_CORE_LAYERS : 1;
      int n = petra_spec_parse_int_list(k, v, seq ? 1 : 0, 65536, max, units, err);
      if (n == -1) return PETRA_ERANGE;
      if (n == -2)
        return petra_err_set(err, PETRA_ERANGE, "model spec: %s=%s: at most %d stacked layers%s", k, v, max,
                             seq ? "" : " (ts models)");
      if (n == 0) return petra_spec_parse_int(k, "", 0, 0, &s->gru, err); /* "gru=": the usual message */
      s->gru = units[0];
      s->n_stack = n - 1;
      for (int l = 1; l < n; l++) s->stack[l - 1] = units[l];
      if (seq) s->core = petra_core_by_key(k)->kind;
    } else if (!strcmp(k, "act")) {
      int a = petra_act_parse(v);
      if (a < 0)
        return petra_err_set(err, PETRA_EINVAL,
                             "model spec: act=%s: expected relu, tanh, sigmoid, gelu or none", v);
      s->act = (petra_act)a;
    } else if (!strcmp(k, "loss")) {
      int l = petra_loss_parse(v);
      if (l < 0)
        return petra_err_set(err, PETRA_EINVAL, "model spec: loss=%s: expected bce, ce, mse or huber",
                             v);
      s->loss = (petra_loss)l;
      loss_given = 1;
    } else if (!seq && !strcmp(k, "window")) {
      rc = petra_spec_parse_int(k, v, 1, 100000, &s->window, err);
    } else if (!seq && !strcmp(k, "horizon")) {
      rc = petra_spec_parse_int(k, v, 1, 100000, &s->horizon, err);
    } else if (!seq && !strcmp(k, "channels")) {
      rc = petra_spec_parse_int(k, v, 1, 4096, &s->channels, err);
    } else if (!seq && !strcmp(k, "target")) {
      if (!strcmp(v, "all"))
        s->target = -1;
      else
        rc = petra_spec_parse_int(k, v, 0, 4095, &s->target, err);
    } else if (!seq && !strcmp(k, "ci")) {
      rc = petra_spec_parse_int(k, v, 0, 1, &s->ci, err);
    } else if (!seq && !strcmp(k, "hidden")) {
      rc = petra_spec_parse_int(k, v, 1, 65536, &s->hidden, err);
    } else if (!seq && !strcmp(k, "arch")) {
      if (!strcmp(v, "linear")) s->arch = PETRA_TS_LINEAR;
      else if (!strcmp(v, "mlp")) s->arch = PETRA_TS_MLP;
      else if (!strcmp(v, "gru")) s->arch = PETRA_TS_GRU;
      else if (!strcmp(v, "dlinear")) s->arch = PETRA_TS_DLINEAR;
      else return petra_err_set(err, PETRA_EINVAL, "model spec: arch=%s: expected linear, dlinear, mlp or gru", v);
    } else if (!seq && !strcmp(k, "kernel")) {
      rc = petra_spec_parse_int(k, v, 1, 4095, &s->ma_kernel, err);
      if (!rc && s->ma_kernel % 2 == 0)
        return petra_err_set(err, PETRA_EINVAL, "model spec: kernel=%d: the moving average needs an odd kernel", s->ma_kernel);
    } else if (!seq && !strcmp(k, "norm")) {
      if (!strcmp(v, "none")) s->norm = PETRA_NORM_NONE;
      else if (!strcmp(v, "last")) s->norm = PETRA_NORM_LAST;
      else if (!strcmp(v, "running")) s->norm = PETRA_NORM_RUNNING;
      else if (!strcmp(v, "revin")) s->norm = PETRA_NORM_REVIN;
      else return petra_err_set(err, PETRA_EINVAL, "model spec: norm=%s: expected none, last, running or revin", v);
    } else if (!seq && !strcmp(k, "init")) {
      if (!strcmp(v, "random")) s->zero_head = 0;
      else if (!strcmp(v, "zero")) s->zero_head = 1;
      else if (!strcmp(v, "mean")) s->zero_head = 2;
      else return petra_err_set(err, PETRA_EINVAL, "model spec: init=%s: expected random, zero or mean", v);
    } else {
      return petra_err_set(err, PETRA_EINVAL, "model spec: unknown key '%s' for a %s model", k,
                           seq ? "seq" : "ts");
    }
    if (rc) return rc;
  }
  if (seq) {
    if (!loss_given) s->loss = s->classes > 1 ? PETRA_LOSS_CE : PETRA_LOSS_BCE;
    if (s->n_fields == 0 && s->n_numeric == 0)
      return petra_err_set(err, PETRA_EINVAL, "model spec: a seq model needs fields or numeric inputs");
    for (int b = 0; b < petra_n_blocks; b++) { /* each block's keys against the spec (and canonical) */
      int brc = petra_blocks[b]->check(s, err);
      if (brc) return brc;
    }
    if (s->loss == PETRA_LOSS_CE && s->classes < 2)
      return petra_err_set(err, PETRA_EINVAL, "model spec: loss=ce needs classes >= 2");
    if (s->loss == PETRA_LOSS_BCE && s->classes != 1)
      return petra_err_set(err, PETRA_EINVAL, "model spec: loss=bce needs classes=1");
  } else {
    if (s->target >= s->channels)
      return petra_err_set(err, PETRA_ERANGE, "model spec: target=%d but channels=%d", s->target,
                           s->channels);
    if (s->arch == PETRA_TS_GRU && s->gru < 1)
      return petra_err_set(err, PETRA_EINVAL, "model spec: arch=gru needs gru=UNITS");
    if (s->loss != PETRA_LOSS_MSE && s->loss != PETRA_LOSS_HUBER)
      return petra_err_set(err, PETRA_EINVAL, "model spec: a ts model's loss is mse or huber");
  }
  return 0;
}

int petra_model_spec_format(const petra_model_spec *s, char *buf, size_t size) {
  if (s->kind == PETRA_MODEL_SEQ) {
    char units[256];
    const char *ckey = petra_core_of(s)->key;
    size_t uo;
    const petra_block *blk = petra_block_of(s);
    if (blk) {
      ckey = blk->key;
      blk->format(s, units, sizeof units);
    } else {
      uo = (size_t)snprintf(units, sizeof units, "%d", s->gru);
      for (int l = 0; l < s->n_stack && uo < sizeof units; l++)
        uo += (size_t)snprintf(units + uo, sizeof units - uo, ",%d", s->stack[l]);
    }
    char fields[512] = "";
    size_t off = 0;
    for (int i = 0; i < s->n_fields && off < sizeof fields; i++)
      off += (size_t)snprintf(fields + off, sizeof fields - off, "%s%s:%d:%d", i ? "," : "",
                              s->fields[i].name, s->fields[i].vocab, s->fields[i].dim);
    return snprintf(buf, size,
                    "seq%s%s numeric=%d len=%d dense=%d act=%s layernorm=%d dropout=%g %s=%s "
                    "classes=%d loss=%s",
                    s->n_fields ? " fields=" : "", fields, s->n_numeric, s->seq_len, s->dense,
                    petra_act_name(s->act), s->layernorm, (double)s->dropout, ckey, units, s->classes,
                    petra_loss_name(s->loss));
  }
  static const char *archs[] = {"linear", "mlp", "gru", "dlinear"}, *norms[] = {"none", "last", "running", "revin"};
  char target[16], kern[24] = "";
  if (s->arch == PETRA_TS_DLINEAR) snprintf(kern, sizeof kern, " kernel=%d", s->ma_kernel);
  if (s->target < 0)
    strcpy(target, "all");
  else
    snprintf(target, sizeof target, "%d", s->target);
  return snprintf(buf, size,
                  "ts window=%d horizon=%d channels=%d target=%s ci=%d arch=%s norm=%s hidden=%d "
                  "act=%s gru=%d loss=%s%s%s",
                  s->window, s->horizon, s->channels, target, s->ci, archs[s->arch],
                  norms[s->norm], s->hidden, petra_act_name(s->act), s->gru,
                  petra_loss_name(s->loss), s->zero_head == 1 ? " init=zero" : s->zero_head == 2 ? " init=mean" : "", kern);
}
