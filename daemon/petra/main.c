/* petra: the offline tool. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "version.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *doc;
} commands[] = {
    {"train", cmd_train, "train a model spec on a CSV file and report hold-out metrics"},
    {"bench", cmd_bench, "benchmarks: bench train|infer --preset r1 (JSON lines)"},
    {"gen", cmd_gen, "generate transactions or series (to stdout as CSV, or to Kafka)"},
    {"evolve", cmd_evolve, "evolutionary compression search on a preset (--preset r1)"},
    {"inspect", cmd_inspect, "verify and describe a snapshot (file or --from-kafka)"},
    {"replay", cmd_replay, "stream a CSV file to Kafka as protobuf Events or SeriesPoints"},
    {"compress", cmd_compress, "apply a compression genome to a snapshot: fine-tune, measure before/after"},
    {"score", cmd_score, "score events with the latest snapshot (Kafka in/out, or CSV files)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out, "usage: petra COMMAND [OPTIONS]   (petra COMMAND --help for its options)\n\ncommands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].doc);
  fprintf(out, "  %-8s %s\n  %-8s %s\n", "version", "print versions", "help", "this text");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    petra_print_version("petra", stdout);
    return 0;
  }
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "petra: unknown command '%s' (see petra --help)\n", cmd);
  return 2;
}
