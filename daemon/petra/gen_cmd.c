#include <stdio.h>

#include "cli.h"

int cmd_gen(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "petra gen: not yet\n");
  return 2;
}
