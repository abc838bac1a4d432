/* petra subcommands. Each takes argc/argv after the subcommand name (argv[0] is the name)
 * and returns the process exit code: 0 ok, 1 failure, 2 usage error. */
#ifndef PETRA_CLI_H
#define PETRA_CLI_H

int cmd_train(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_inspect(int argc, char **argv);

/* Shared helpers */
double cli_now_s(void);
/* Parses a comma-separated list into at most max items (pointers into buf, which it edits). */
int cli_split(char *buf, char **items, int max);
#endif
