/* petra bench: engine benchmarks that print one JSON line each.
 *   petra bench train --preset r1 [--seconds S]   training throughput (examples/s)
 *   petra bench infer --preset r1 [--reps N]      batch-1 latency p50/p99 (µs)
 * Preset R1: seq model, one categorical field (vocab 400, embedding 16) + 16 numeric
 * inputs -> dense 32 + ReLU -> GRU 64 -> dense 1; batch 64, sequence length 32, Adam,
 * 1 thread. Inputs are random with a fixed seed. */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "petra/candidate.h"
#include "petra/plan.h"
#include "petra/prune.h"
#include "petra/snapshot.h"
#include "petra/stats.h"
#include "petra/trainer.h"

typedef struct preset {
  const char *name, *spec;
  int batch;
} preset;

static const preset presets[] = {
    {"r1", R1_SPEC, 64},
};

static const preset *find_preset(const char *name) {
  for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
    if (!strcmp(presets[i].name, name)) return &presets[i];
  return NULL;
}

/* Random full-length examples for a seq spec (or random windows for ts). */
static float *random_examples(petra_model *m, int n, uint64_t seed) {
  return petra_model_random_examples(m, n, seed, 1, 0.0);
}


int cmd_bench_compress(const char *preset);

/* petra bench plan --snapshot FILE [--batch N] [--seconds S]: a snapshot's compiled plan
 * alone, on random valid examples of its spec: examples/s at batch N (one core) and batch-1
 * p50/p99. What petra score's pipeline is measured against (tests/bench/score.sh). */
static int bench_plan(int argc, char **argv) {
  const char *path = NULL;
  int batch = 64;
  double seconds = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--snapshot")) path = argv[i + 1];
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    else {
      fprintf(stderr, "petra bench plan: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (!path || batch < 1 || batch > 4096 || !(seconds > 0)) {
    fprintf(stderr, "usage: petra bench plan --snapshot FILE [--batch N (1..4096)] [--seconds S]\n");
    return 2;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "petra bench plan: cannot read %s\n", path);
    return 1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0, got;
  do {
    if (len == cap && !(buf = realloc(buf, cap = cap * 2 + 65536))) break;
    got = fread(buf + len, 1, cap - len, f);
    len += got;
  } while (got);
  fclose(f);
  petra_err err = {0};
  petra_loaded *l = buf ? petra_snapshot_load(buf, len, 0, &err) : NULL;
  free(buf);
  if (!l) {
    fprintf(stderr, "petra bench plan: %s: %s\n", path, err.msg);
    return 1;
  }
  openblas_set_num_threads(1);
  petra_model *m = petra_model_new(petra_plan_spec(l->plan), 1, &err);
  if (!m) {
    fprintf(stderr, "petra bench plan: %s\n", err.msg);
    petra_loaded_free(l);
    return 1;
  }
  enum { NB = 8 };
  const int ef = petra_plan_example_floats(l->plan), no = petra_plan_n_outputs(l->plan);
  float *ex = random_examples(m, batch * NB, 5), *out = malloc(sizeof(float) * (size_t)no * batch);
  void *scratch = malloc(petra_plan_scratch_bytes(l->plan, batch));
  double *lat = malloc(sizeof(double) * 20000);
  int rc = 1;
  if (ex && out && scratch && lat) {
    long calls = 0;
    double t0 = cli_now_s(), el;
    do {
      for (int i = 0; i < 10; i++, calls++)
        petra_plan_score(l->plan, batch, ex + (size_t)(calls % NB) * batch * ef, out, scratch);
      el = cli_now_s() - t0;
    } while (el < seconds);
    int reps = 20000;
    for (int i = 0; i < reps; i++) {
      double a = cli_now_s();
      petra_plan_score(l->plan, 1, ex + (size_t)(i % (batch * NB)) * ef, out, scratch);
      lat[i] = (cli_now_s() - a) * 1e6;
    }
    petra_sort_doubles(lat, (size_t)reps);
    printf("{\"bench\":\"plan\",\"snapshot_version\":%llu,\"bytes\":%zu,\"batch\":%d,\"examples_per_s\":%.0f,"
           "\"batch1_p50_us\":%.2f,\"batch1_p99_us\":%.2f}\n",
           (unsigned long long)l->info.version, petra_plan_bytes(l->plan), batch, (double)calls * batch / el,
           petra_quantile_sorted(lat, (size_t)reps, 0.5), petra_quantile_sorted(lat, (size_t)reps, 0.99));
    rc = 0;
  }
  free(ex);
  free(out);
  free(scratch);
  free(lat);
  petra_model_free(m);
  petra_loaded_free(l);
  return rc;
}

int cmd_bench(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "plan")) return bench_plan(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "compress")) {
    const char *pn = "r1", *csv = "../shared/data/ett/ETTh1.csv";
    for (int i = 2; i + 1 < argc; i++) {
      if (!strcmp(argv[i], "--preset")) pn = argv[i + 1];
      if (!strcmp(argv[i], "--csv")) csv = argv[i + 1];
    }
    openblas_set_num_threads(1);
    if (!strcmp(pn, "etth1")) {
      /* the README's ETTh1 model (h=96, linear, channel-independent), trained once with fixed
       * seeds, then compiled with each genome */
      char *targv[] = {"train", "--spec", "ts window=336 horizon=96 arch=linear ci=1 norm=last", "--csv",
                       (char *)csv, "--split", "8640,2880,2880", "--epochs", "10", "--batch", "32", "--lr",
                       "0.005", "--lr-decay", "0.5", "--quiet", "--bench-compress", "etth1",
                       "--genome", "", "--genome", "head:bits=8", "--genome", "head:bits=4",
                       "--genome", "head:rank=0.25", "--genome", "head:rank=0.25,bits=8", NULL};
      return cmd_train((int)(sizeof targv / sizeof targv[0]) - 1, targv);
    }
    return cmd_bench_compress(pn);
  }
  if (argc < 2 || (strcmp(argv[1], "train") && strcmp(argv[1], "infer"))) {
    fprintf(stderr, "usage: petra bench train|infer|compress --preset r1 [--seconds S] [--reps N] [--threads N]\n"
                    "       petra bench plan --snapshot FILE [--batch N] [--seconds S]\n");
    return 2;
  }
  const char *what = argv[1];
  const char *pname = "r1";
  double seconds = 3;
  int reps = 5000, threads = 1;
  static const struct option opts[] = {{"preset", 1, 0, 'p'}, {"seconds", 1, 0, 's'},
                                       {"reps", 1, 0, 'r'},   {"threads", 1, 0, 't'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'p': pname = optarg; break;
      case 's': seconds = atof(optarg); break;
      case 'r': reps = atoi(optarg); break;
      case 't': threads = atoi(optarg); break;
      default: return 2;
    }
  }
  const preset *p = find_preset(pname);
  if (!p || !(seconds > 0) || reps < 100 || threads < 1) {
    fprintf(stderr, "petra bench: unknown preset '%s' or bad --seconds/--reps/--threads\n", pname);
    return 2;
  }
  openblas_set_num_threads(threads);
  petra_model_spec spec;
  petra_err err = {0};
  if (petra_model_spec_parse(p->spec, &spec, &err)) {
    fprintf(stderr, "petra bench: %s\n", err.msg);
    return 1;
  }
  petra_model *m = petra_model_new(&spec, 1, &err);
  if (!m) return 1;
  int ef = petra_model_example_floats(m);
  if (!strcmp(what, "train")) {
    enum { NB = 16 };
    float *ex = random_examples(m, p->batch * NB, 7);
    petra_trainer_conf tc = petra_trainer_defaults();
    tc.batch = p->batch;
    tc.adam.clip_norm = 0;
    petra_trainer *t = petra_trainer_new(m, &tc, &err);
    for (int i = 0; i < 5; i++) petra_trainer_step(t, p->batch, ex + (size_t)(i % NB) * p->batch * ef, NULL);
    long steps = 0;
    double t0 = cli_now_s(), el;
    do {
      for (int i = 0; i < 10; i++, steps++)
        petra_trainer_step(t, p->batch, ex + (size_t)(steps % NB) * p->batch * ef, NULL);
      el = cli_now_s() - t0;
    } while (el < seconds);
    printf("{\"bench\":\"train\",\"preset\":\"%s\",\"threads\":%d,\"batch\":%d,\"steps\":%ld,"
           "\"examples_per_s\":%.0f,\"loss\":%.4f}\n",
           p->name, threads, p->batch, steps, (double)steps * p->batch / el,
           petra_trainer_get_stats(t)->last_loss);
    petra_trainer_free(t);
    free(ex);
  } else {
    enum { NE = 64 };
    float *ex = random_examples(m, NE, 9);
    int no = petra_model_n_outputs(m);
    float *out = malloc(sizeof(float) * no);
    double *lat = malloc(sizeof(double) * reps);
    for (int i = 0; i < 200; i++) petra_model_forward(m, 1, ex + (size_t)(i % NE) * ef, out);
    double sum = 0;
    for (int i = 0; i < reps; i++) {
      double t0 = cli_now_s();
      petra_model_forward(m, 1, ex + (size_t)(i % NE) * ef, out);
      lat[i] = (cli_now_s() - t0) * 1e6;
      sum += out[0];
    }
    petra_sort_doubles(lat, (size_t)reps);
    printf("{\"bench\":\"infer\",\"preset\":\"%s\",\"threads\":%d,\"batch\":1,\"p50_us\":%.2f,"
           "\"p99_us\":%.2f,\"bytes\":%zu,\"checksum\":%.4f}\n",
           p->name, threads, petra_quantile_sorted(lat, (size_t)reps, 0.5),
           petra_quantile_sorted(lat, (size_t)reps, 0.99),
           petra_model_n_params(m) * sizeof(float), sum / reps);
    free(out);
    free(lat);
    free(ex);
  }
  petra_model_free(m);
  return 0;
}

/* ---------------------------------------------------------------- bench compress */


int cmd_bench_compress(const char *pname) {
  petra_model_spec spec;
  exset all = {0}, tr, te;
  int classes;
  const char **genomes;
  int n_genomes;
  static const char *r1_genomes[] = {
      "",
      "emb.mcc:bits=8;dense0:bits=8;gru0:bits=8;head:bits=8",
      "emb.mcc:keep=0.5,bits=8;dense0:keep=0.5,bits=8;gru0:keep=0.5,bits=8;head:bits=8;global:finetune_steps=300",
      "emb.mcc:keep=0.5;dense0:keep=0.5;gru0:keep=0.5;global:finetune_steps=300",
      "emb.mcc:keep=0.5,bits=8;dense0:keep=0.5,bits=4;gru0:keep=0.5,bits=4;head:bits=8;global:finetune_steps=300",
      "dense0:sparsity=0.8;gru0:sparsity=0.8;head:sparsity=0.8;global:finetune_steps=300",
      "dense0:rank=0.25;gru0:rank=0.25",
      "emb.mcc:bits=8;dense0:rank=0.25,bits=8;gru0:rank=0.25,bits=8;head:bits=8",
  };
  if (!strcmp(pname, "r1")) {
    petra_model_spec_parse(presets[0].spec, &spec, NULL);
    if (r1_data(&spec, 400000, &all)) return 1;
    tr = (exset){all.n * 4 / 5, all.ef, all.x};
    te = (exset){all.n - tr.n, all.ef, all.x + (size_t)tr.n * all.ef};
    classes = 1;
    genomes = r1_genomes;
    n_genomes = (int)(sizeof r1_genomes / sizeof r1_genomes[0]);
  } else {
    fprintf(stderr, "petra bench compress: unknown preset '%s'\n", pname);
    return 2;
  }
  petra_model *base = petra_model_new(&spec, 1, NULL);
  double t0 = cli_now_s();
  train_steps(base, &tr, 2500, 2e-3f, 1, 0);
  fprintf(stderr, "trained fp32 base on %d examples in %.1f s; test %d examples\n", tr.n,
          cli_now_s() - t0, te.n);
  for (int gi = 0; gi < n_genomes; gi++) {
    petra_genome g;
    petra_err err = {0};
    if (petra_genome_parse(genomes[gi], &g, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    petra_model *m = petra_prune(base, &g, &err);
    if (!m) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    if (g.finetune_steps) train_steps(m, &tr, g.finetune_steps, g.finetune_lr, 7, 1); /* keeps the sparsity mask */
    petra_plan *p = petra_plan_build(m, &g, &err);
    if (!p) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    double metric = petra_plan_metric(p, te.n, te.x), p50, p99, tput;
    plan_speed(p, &te, &p50, &p99, &tput);
    char text[1024] = "fp32";
    if (genomes[gi][0]) snprintf(text, sizeof text, "%s", genomes[gi]);
    printf("{\"bench\":\"compress\",\"preset\":\"%s\",\"genome\":\"%s\",\"bytes\":%zu,\"p50_us\":%.2f,"
           "\"p99_us\":%.2f,\"throughput_per_s\":%.0f,\"metric\":%.4f,\"metric_name\":\"%s\"}\n",
           pname, text, petra_plan_bytes(p), p50, p99, tput, metric, petra_metric_name_for(classes));
    fflush(stdout);
    petra_plan_free(p);
    petra_model_free(m);
  }
  petra_model_free(base);
  free(all.x);
  return 0;
}
