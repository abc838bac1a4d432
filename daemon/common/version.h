/* Version line shared by the programs. */
#ifndef PETRA_DAEMON_VERSION_H
#define PETRA_DAEMON_VERSION_H
#include <stdio.h>
void petra_print_version(const char *prog, FILE *out);
#endif
