#include <stdio.h>
#include <string.h>

#include "version.h"

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--version")) {
    petra_print_version("petrad", stdout);
    return 0;
  }
  fprintf(stderr, "petrad: not built yet in this version; see README.md\n");
  return 2;
}
