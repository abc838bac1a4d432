/* petra: the offline tool. Subcommands are added per module. */
#include <stdio.h>
#include <string.h>

#include "version.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: petra COMMAND [OPTIONS]\n"
          "\n"
          "commands:\n"
          "  --version        print versions and exit\n"
          "  --help           this text\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    petra_print_version("petra", stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "petra: unknown command '%s' (see petra --help)\n", argv[1]);
  return 2;
}
