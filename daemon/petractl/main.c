#include <stdio.h>
#include <string.h>

#include "version.h"

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--version")) {
    petra_print_version("petractl", stdout);
    return 0;
  }
  fprintf(stderr, "petractl: not built yet in this version; see README.md\n");
  return 2;
}
