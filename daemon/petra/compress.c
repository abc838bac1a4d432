/* petra compress: applies a compression genome to a trained snapshot (what petrad publishes
 * or petra train --save writes), runs the genome's recovery fine-tune on examples built from
 * a CSV with the same feature code as petrad, and reports size, batch-1 latency p50/p99,
 * batch-64 throughput and the metric on a hold-out split, before and after; --out writes the
 * compressed snapshot (pruned weights + genome, version + 1).
 *
 * Data: for seq models, petra gen's CSV (rows of kind event/label) or any events CSV with a
 * label column (--label); the first 80% of the examples (in time order) tune, the last 20%
 * are the hold-out. For ts models, a CSV of a time column and one column per channel. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "checkpoint.h"
#include "cli.h"
#include "petra/metrics.h"
#include "config.h"
#include "csv.h"
#include "csvmap.h"
#include "feature_state.h"
#include "petra/candidate.h"
#include "petra/plan.h"
#include "petra/snapshot.h"

static double clock_us(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int push(exset *s, int *cap, const float *ex, int n) {
  for (int i = 0; i < n; i++) {
    if (s->n == *cap) {
      *cap = *cap ? *cap * 2 : 4096;
      float *x = realloc(s->x, sizeof(float) * (size_t)*cap * s->ef);
      if (!x) return -1;
      s->x = x;
    }
    memcpy(s->x + (size_t)s->n * s->ef, ex + (size_t)i * s->ef, sizeof(float) * (size_t)s->ef);
    s->n++;
  }
  return 0;
}

/* Examples from the CSV through the shared feature state. */
static int load_examples(features *feat, const petra_model_spec *spec, const char *path, csvmap_opts *mo, exset *out,
                         char *err, size_t n) {
  csv_reader *r = csv_open(path, err, n);
  if (!r) return -1;
  out->ef = features_example_floats(feat);
  int cap = 0, rc = 0;
  float *ex = malloc(sizeof(float) * 16 * (size_t)out->ef);
  char **f;
  int nf;
  if (spec->kind == PETRA_MODEL_SEQ) {
    static csvmap map;
    if (csvmap_init(&map, mo, r, err, n)) {
      csv_close(r);
      free(ex);
      return -1;
    }
    int c_kind = csv_column(r, "kind"), c_label = csv_column(r, "label");
    while ((rc = csv_next(r, &f, &nf, err, n)) == 1) {
      int made = 0;
      if (c_kind >= 0 && !strcmp(f[c_kind], "label")) {
        /* petra gen's label rows: entity, time and value */
        Petra__V1__Label l = PETRA__V1__LABEL__INIT;
        double v;
        l.schema_version = PETRA_SCHEMA_VERSION;
        l.entity_id = f[map.c_ent];
        if (!csvmap_time_ms(f[map.c_time], &l.label_time_ms) || c_label < 0 || !csvmap_number(f[c_label], &v)) continue;
        l.value = (float)v;
        made = features_label(feat, &l, ex, err, n);
      } else {
        Petra__V1__Event e;
        if (csvmap_event(&map, f, &e, err, n)) continue;
        made = features_event(feat, &e, ex, 16, err, n);
      }
      if (made > 0 && push(out, &cap, ex, made)) {
        rc = -1;
        break;
      }
    }
  } else {
    int C = spec->channels;
    if (csv_columns(r) < C + 1) {
      snprintf(err, n, "%s: %d columns; a time column and %d channels expected", path, csv_columns(r), C);
      csv_close(r);
      free(ex);
      return -1;
    }
    float vals[256];
    while ((rc = csv_next(r, &f, &nf, err, n)) == 1) {
      Petra__V1__SeriesPoint p = PETRA__V1__SERIES_POINT__INIT;
      p.schema_version = PETRA_SCHEMA_VERSION;
      p.series_id = "series";
      csvmap_time_ms(f[0], &p.time_ms);
      int ok = C <= 256;
      for (int c = 0; c < C && ok; c++) {
        double v;
        ok = csvmap_number(f[c + 1], &v);
        vals[c] = (float)v;
      }
      if (!ok) continue;
      p.n_values = (size_t)C;
      p.values = vals;
      int made = features_series(feat, &p, ex, err, n);
      if (made > 0 && push(out, &cap, ex, made)) {
        rc = -1;
        break;
      }
    }
  }
  csv_close(r);
  free(ex);
  return rc < 0 ? -1 : 0;
}

static void report(const char *what, const char *genome, const petra_plan *p, const exset *ho, int json,
                   const char *metric_name) {
  double p50, p99, tput;
  plan_speed(p, ho, &p50, &p99, &tput);
  double metric = petra_plan_metric(p, ho->n, ho->x);
  if (json)
    printf("{\"compress\":\"%s\",\"genome\":\"%s\",\"bytes\":%zu,\"p50_us\":%.2f,\"p99_us\":%.2f,"
           "\"throughput_per_s\":%.0f,\"metric\":%.6f,\"metric_name\":\"%s\",\"holdout\":%d}\n",
           what, genome, petra_plan_bytes(p), p50, p99, tput, metric, metric_name, ho->n);
  else
    printf("%-6s %9zu bytes  p50 %7.1f us  p99 %7.1f us  %8.0f/s at batch 64  %s %.4f  (%s)\n", what,
           petra_plan_bytes(p), p50, p99, tput, metric_name, metric, genome);
}

int cmd_compress(int argc, char **argv) {
  const char *snap = NULL, *genome = NULL, *csvp = NULL, *outp = NULL, *config = NULL;
  int json = 0;
  csvmap_opts mo = {"entity_id", "time_ms", "amount", NULL, NULL, NULL};
  static const struct option opts[] = {{"snapshot", 1, 0, 's'}, {"genome", 1, 0, 'g'}, {"csv", 1, 0, 'c'},
                                       {"out", 1, 0, 'o'},      {"config", 1, 0, 'C'}, {"json", 0, 0, 'j'},
                                       {"entity", 1, 0, 'e'},   {"time", 1, 0, 'T'},   {"amount", 1, 0, 'a'},
                                       {"categorical", 1, 0, 'K'}, {"numeric", 1, 0, 'N'}, {"label", 1, 0, 'l'},
                                       {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
  int o;
  optind = 1;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
      case 's': snap = optarg; break;
      case 'g': genome = optarg; break;
      case 'c': csvp = optarg; break;
      case 'o': outp = optarg; break;
      case 'C': config = optarg; break;
      case 'j': json = 1; break;
      case 'e': mo.entity = optarg; break;
      case 'T': mo.time = optarg; break;
      case 'a': mo.amount = optarg; break;
      case 'K': mo.categorical = optarg; break;
      case 'N': mo.numeric = optarg; break;
      case 'l': mo.label = optarg; break;
      case 'h':
        printf("usage: petra compress --snapshot IN --genome G --csv DATA [--out OUT] [--config petrad.conf] [--json]\n"
               "  seq models: petra gen's CSV, or events with --label COL (and --entity/--time/--amount/\n"
               "  --categorical F=COL,.../--numeric COL,... as petra train); ts models: time + channel columns.\n"
               "  features.numerics comes from --config (as petrad's); the snapshot's feature schema must match.\n"
               "  Prints size, latency p50/p99, batch-64 throughput and the hold-out metric before and after.\n");
        return 0;
      default: return 2;
    }
  }
  if (!snap || !genome || !csvp) {
    fprintf(stderr, "petra compress: --snapshot, --genome and --csv are required (see --help)\n");
    return 2;
  }
  openblas_set_num_threads(1);
  char err[1024];
  petrad_config cfg;
  petrad_config_defaults(&cfg);
  if (config && petrad_config_load(&cfg, config, err, sizeof err)) {
    fprintf(stderr, "petra compress: %s\n", err);
    return 2;
  }
  petra_genome g;
  petra_err pe = {0};
  if (petra_genome_parse(genome, &g, &pe)) {
    fprintf(stderr, "petra compress: --genome: %s\n", pe.msg);
    return 2;
  }
  uint8_t *buf;
  size_t len;
  int rc = read_whole_file(snap, &buf, &len);
  if (rc) {
    fprintf(stderr, "petra compress: %s: %s\n", snap, strerror(-rc));
    return 1;
  }
  petra_snapshot_info info;
  petra_model *m = petra_snapshot_decode_model(buf, len, 0, &info, &pe);
  free(buf);
  if (!m) {
    fprintf(stderr, "petra compress: %s: %s\n", snap, pe.msg);
    return 1;
  }
  if (info.genome[0]) {
    fprintf(stderr, "petra compress: %s is already compressed (genome %s); give an uncompressed snapshot\n", snap,
            info.genome);
    petra_model_free(m);
    return 2;
  }
  const petra_model_spec *spec = petra_model_get_spec(m);
  if (spec->kind == PETRA_MODEL_SEQ && !mo.categorical) {
    static char cats[1024];
    size_t k = 0;
    for (int f = 0; f < spec->n_fields && k < sizeof cats - 80; f++)
      k += (size_t)snprintf(cats + k, sizeof cats - k, "%s%s=%s", f ? "," : "", spec->fields[f].name, spec->fields[f].name);
    mo.categorical = cats;
  }
  if (spec->kind == PETRA_MODEL_SEQ && !mo.numeric && cfg.feature_numerics[0]) mo.numeric = cfg.feature_numerics;
  if (spec->kind == PETRA_MODEL_SEQ && !mo.label) mo.label = "label";
  features_conf fc;
  petrad_config_features(&cfg, &fc);
  features *feat = features_new_conf(spec, &fc, err, sizeof err);
  if (!feat) {
    fprintf(stderr, "petra compress: %s\n", err);
    petra_model_free(m);
    return 2;
  }
  if (info.feature_schema_hash && petra_feature_schema_hash(features_schema(feat)) != info.feature_schema_hash)
    fprintf(stderr, "petra compress: warning: the snapshot's feature schema (%s) differs from these features (%s)\n",
            info.feature_schema, features_schema(feat));
  exset all = {0};
  int lrc = load_examples(feat, spec, csvp, &mo, &all, err, sizeof err);
  if (lrc || all.n < 50) {
    fprintf(stderr, "petra compress: %s: %s\n", csvp, lrc ? err : "fewer than 50 examples");
    features_free(feat);
    petra_model_free(m);
    free(all.x);
    return 1;
  }
  exset tune = {all.n * 4 / 5, all.ef, all.x};
  exset ho = {all.n - tune.n, all.ef, all.x + (size_t)tune.n * all.ef};
  const char *mname = petra_metric_name_for(spec->kind == PETRA_MODEL_SEQ ? spec->classes : 0);
  if (!json) printf("%s: %d examples (%d tune, %d hold-out)\n", csvp, all.n, tune.n, ho.n);
  petra_genome id;
  petra_genome_identity(&id);
  petra_plan *before = petra_plan_build(m, &id, &pe);
  if (!before) {
    fprintf(stderr, "petra compress: %s\n", pe.msg);
    return 1;
  }
  report("before", "fp32", before, &ho, json, mname);
  petra_plan_free(before);
  petra_candidate c = {.base = m, .tune = tune.x, .n_tune = tune.n, .holdout = ho.x, .n_holdout = ho.n,
                       .clock = clock_us, .latency_reps = 200, .seed = 1, .keep_result = 1};
  petra_fitness fit;
  rc = petra_candidate_eval(&c, &g, &fit);
  if (rc) {
    fprintf(stderr, "petra compress: %s\n", petra_strerror(rc));
  } else {
    char text[1024];
    petra_genome_format(&g, text, sizeof text);
    report("after", text, c.plan, &ho, json, mname);
    if (outp) {
      petra_snapshot_info ni = info;
      ni.base_version = info.version;
      ni.version = info.version + 1;
      snprintf(ni.genome, sizeof ni.genome, "%s", text);
      ni.size_bytes = petra_plan_bytes(c.plan);
      ni.metric = fit.metric;
      ni.latency_p50_us = fit.p50_us;
      ni.latency_p99_us = fit.p99_us;
      uint8_t *ob;
      size_t ol;
      char werr[512];
      char dirb[1024];
      snprintf(dirb, sizeof dirb, "%s", outp);
      char *sl = strrchr(dirb, '/');
      const char *dir = ".", *base = outp;
      if (sl) {
        *sl = 0;
        dir = dirb[0] ? dirb : "/";
        base = sl + 1;
      }
      if (petra_snapshot_encode_model(c.model, &ni, &ob, &ol, &pe) ||
          atomic_write_file(dir, base, ob, ol, 0, werr, sizeof werr)) {
        fprintf(stderr, "petra compress: writing %s failed\n", outp);
        rc = 1;
      } else {
        if (!json) printf("wrote %s (%zu bytes, version %llu)\n", outp, ol, (unsigned long long)ni.version);
        free(ob);
      }
    }
  }
  petra_model_free(c.model);
  petra_plan_free(c.plan);
  features_free(feat);
  petra_model_free(m);
  free(all.x);
  return rc ? 1 : 0;
}
