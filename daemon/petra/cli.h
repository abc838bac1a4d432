/* petra subcommands. Each takes argc/argv after the subcommand name (argv[0] is the name)
 * and returns the process exit code: 0 ok, 1 failure, 2 usage error. */
#ifndef PETRA_CLI_H
#define PETRA_CLI_H

int cmd_train(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_compress(int argc, char **argv);

/* Shared helpers */
#include "petra/model.h"
typedef struct exset {
  int n, ef;
  float *x;
} exset;
/* R1-shaped labelled examples from the generator (n_records generator records). */
int r1_data(const petra_model_spec *spec, int n_records, exset *all);
/* steps Adam steps of batch 64 on examples drawn from tr. */
void train_steps(petra_model *m, const exset *tr, int steps, float lr, uint64_t seed, int keep_zeros);
#define R1_SPEC "seq fields=mcc:400:16 numeric=16 len=32 dense=32 act=relu gru=64 classes=1"
int cmd_evolve(int argc, char **argv);
/* petra evolve --csv: petra train's data path, then the search (train.c). */
int cmd_train_evolve(int argc, char **argv);

#include "petra/evolve.h"
typedef struct evolve_params {
  int steps, pop;
  double ratio, tol; /* latency budget as a ratio of fp32 p99; metric tolerance (<= 0: default) */
  double budget_us;  /* > 0: the latency budget itself (the search over cores: one budget for all) */
  uint64_t seed;
  const char *svg;   /* Pareto plot path, NULL = none */
  int json;
} evolve_params;
typedef struct evolve_result {
  petra_fitness base, champ;
  int have_champion;
  petra_genome champion;
  double latency_budget_us, seconds_per_step;
  int front_size;
} evolve_result;
/* The search on base: candidates fine-tune on tune and are judged on hold. Prints progress
 * (stderr), the front (stdout), the SVG and a JSON line as asked. 0 with a champion, 1 without. */
int evolve_search(petra_model *base, const exset *tune, const exset *hold, const evolve_params *p,
                  evolve_result *res);

double cli_now_s(void);
struct petra_plan;
/* Batch-1 latency p50/p99 (µs) and batch-64 throughput (examples/s) of a plan on te. */
void plan_speed(const struct petra_plan *p, const exset *te, double *p50, double *p99, double *tput);
/* Parses a comma-separated list into at most max items (pointers into buf, which it edits). */
int cli_split(char *buf, char **items, int max);
/* --config FILE of a Kafka tool (gen, replay, inspect): loads a petrad configuration into cfg
 * (its kafka.* properties: TLS, SASL) and, when *brokers is NULL, takes kafka.brokers. NULL
 * path: nothing to do. Returns 0, or 2 after printing "<who>: <error>". */
struct petrad_config;
int cli_load_config(const char *path, struct petrad_config *cfg, const char **brokers, const char *who);
#endif
