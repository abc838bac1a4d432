#include "petra/genome.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static petra_layer_gene identity_gene(const char *layer) {
  petra_layer_gene g = {.keep = 1.0f, .sparsity = 0.0f, .bits = 32, .rank = 1.0f};
  snprintf(g.layer, sizeof g.layer, "%s", layer);
  return g;
}

void petra_genome_identity(petra_genome *g) {
  memset(g, 0, sizeof *g);
  g->finetune_lr = 1e-3f;
}

petra_layer_gene petra_genome_gene(const petra_genome *g, const char *layer) {
  for (int i = 0; i < g->n_layers; i++)
    if (!strcmp(g->layers[i].layer, layer)) return g->layers[i];
  return identity_gene(layer);
}

int petra_genome_set(petra_genome *g, const petra_layer_gene *gene) {
  for (int i = 0; i < g->n_layers; i++)
    if (!strcmp(g->layers[i].layer, gene->layer)) {
      g->layers[i] = *gene;
      return 0;
    }
  if (g->n_layers == PETRA_GENOME_MAX_LAYERS) return PETRA_ERANGE;
  g->layers[g->n_layers++] = *gene;
  return 0;
}

static int number(const char *key, const char *v, double lo, double hi, int lo_open, double *out,
                  petra_err *err) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  /* range-checked as the float it will be stored as (1e-50 > 0, but not as a float) */
  float xf = (float)x;
  if (errno || end == v || *end || !isfinite(x) || xf > hi || (lo_open ? xf <= lo : xf < lo))
    return petra_err_set(err, PETRA_ERANGE, "genome: %s=%s: expected a number in %s%g, %g]", key,
                         v, lo_open ? "(" : "[", lo, hi);
  *out = xf;
  return 0;
}

int petra_genome_parse(const char *text, petra_genome *g, petra_err *err) {
  petra_genome_identity(g);
  char buf[2048];
  if (!text || strlen(text) >= sizeof buf)
    return petra_err_set(err, PETRA_EINVAL, "genome: missing or longer than %zu bytes", sizeof buf - 1);
  strcpy(buf, text);
  char *s1 = NULL;
  for (char *part = strtok_r(buf, ";", &s1); part; part = strtok_r(NULL, ";", &s1)) {
    while (*part == ' ') part++;
    if (!*part) continue;
    char *colon = strchr(part, ':');
    if (!colon || colon == part)
      return petra_err_set(err, PETRA_EINVAL, "genome: '%s' is not layer:key=value,...", part);
    *colon = 0;
    const char *layer = part;
    if (strlen(layer) >= sizeof g->layers[0].layer)
      return petra_err_set(err, PETRA_EINVAL, "genome: layer name '%s' too long", layer);
    int global = !strcmp(layer, "global");
    petra_layer_gene gene = global ? identity_gene("") : petra_genome_gene(g, layer);
    char *s2 = NULL;
    for (char *kv = strtok_r(colon + 1, ",", &s2); kv; kv = strtok_r(NULL, ",", &s2)) {
      char *eq = strchr(kv, '=');
      if (!eq) return petra_err_set(err, PETRA_EINVAL, "genome: %s: '%s' is not key=value", layer, kv);
      *eq = 0;
      const char *k = kv, *v = eq + 1;
      double x = 0;
      int rc;
      if (!global && !strcmp(k, "keep")) {
        if ((rc = number(k, v, 0, 1, 1, &x, err))) return rc;
        gene.keep = (float)x;
      } else if (!global && !strcmp(k, "sparsity")) {
        if ((rc = number(k, v, 0, 0.99, 0, &x, err))) return rc;
        gene.sparsity = (float)x;
      } else if (!global && !strcmp(k, "rank")) {
        if ((rc = number(k, v, 0, 1, 1, &x, err))) return rc;
        gene.rank = (float)x;
      } else if (!global && !strcmp(k, "drop")) {
        if (strcmp(v, "0") && strcmp(v, "1"))
          return petra_err_set(err, PETRA_ERANGE, "genome: %s: drop=%s: expected 0 or 1", layer, v);
        gene.drop = *v == '1';
      } else if (!global && !strcmp(k, "bits")) {
        if (strcmp(v, "32") && strcmp(v, "8") && strcmp(v, "4"))
          return petra_err_set(err, PETRA_ERANGE, "genome: %s: bits=%s: expected 32, 8 or 4", layer, v);
        gene.bits = atoi(v);
      } else if (global && !strcmp(k, "l1")) {
        if ((rc = number(k, v, 0, 1e3, 0, &x, err))) return rc;
        g->l1 = (float)x;
      } else if (global && !strcmp(k, "group_lasso")) {
        if ((rc = number(k, v, 0, 1e3, 0, &x, err))) return rc;
        g->group_lasso = (float)x;
      } else if (global && !strcmp(k, "finetune_steps")) {
        if ((rc = number(k, v, 0, 1e6, 0, &x, err))) return rc;
        if (x != floor(x))
          return petra_err_set(err, PETRA_ERANGE, "genome: finetune_steps=%s: expected an integer", v);
        g->finetune_steps = (int)x;
      } else if (global && !strcmp(k, "finetune_lr")) {
        if ((rc = number(k, v, 0, 10, 1, &x, err))) return rc;
        g->finetune_lr = (float)x;
      } else {
        return petra_err_set(err, PETRA_EINVAL, "genome: unknown key '%s' for %s", k,
                             global ? "global" : layer);
      }
    }
    if (!global && petra_genome_set(g, &gene))
      return petra_err_set(err, PETRA_ERANGE, "genome: more than %d layers", PETRA_GENOME_MAX_LAYERS);
  }
  return 0;
}

int petra_genome_format(const petra_genome *g, char *buf, size_t size) {
  size_t o = 0;
  buf[0] = 0;
#define OUT(...)                                                             \
  do {                                                                       \
    int w_ = snprintf(buf + (o < size ? o : size), o < size ? size - o : 0, __VA_ARGS__); \
    o += (size_t)(w_ > 0 ? w_ : 0);                                          \
  } while (0)
  for (int i = 0; i < g->n_layers; i++) {
    const petra_layer_gene *l = &g->layers[i];
    OUT("%s%s:keep=%g,sparsity=%g,bits=%d,rank=%g%s", i ? ";" : "", l->layer, (double)l->keep,
        (double)l->sparsity, l->bits, (double)l->rank, l->drop ? ",drop=1" : "");
  }
  OUT("%sglobal:l1=%g,group_lasso=%g,finetune_steps=%d,finetune_lr=%g", g->n_layers ? ";" : "",
      (double)g->l1, (double)g->group_lasso, g->finetune_steps, (double)g->finetune_lr);
#undef OUT
  return (int)o;
}
