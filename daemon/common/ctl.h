/* Control-socket protocol shared by petrad and petractl.
 *
 * A client sends one command per line (at most CTL_MAX_LINE bytes including the newline):
 *   health | status | population | pareto | metrics | pause | resume | evolve | snapshot |
 *   checkpoint | reload | loglevel LEVEL | help
 * and petrad answers each with exactly one line: a JSON object with "ok" true/false ("error"
 * says why when false). `metrics` carries the Prometheus text in the "text" member.
 * Parsing is strict: printable ASCII only, single spaces or tabs between words, no
 * arguments where none are expected. */
#ifndef PETRA_CTL_H
#define PETRA_CTL_H
#include <stddef.h>

#define CTL_MAX_LINE 256

typedef enum ctl_cmd {
  CTL_HEALTH = 1, CTL_STATUS, CTL_POPULATION, CTL_PARETO, CTL_METRICS, CTL_PAUSE, CTL_RESUME,
  CTL_EVOLVE, CTL_SNAPSHOT, CTL_CHECKPOINT, CTL_RELOAD, CTL_LOGLEVEL, CTL_HELP, CTL_CORE_TRIAL
} ctl_cmd;

typedef struct ctl_request {
  ctl_cmd cmd;
  char arg[32]; /* loglevel: error|warn|info|debug */
} ctl_request;

/* Parses one line (without or with its trailing "\n" / "\r\n"). Returns 0, or −1 with a
 * message for the client in err. */
int ctl_parse(const char *line, size_t len, ctl_request *out, char *err, size_t errlen);
const char *ctl_cmd_name(ctl_cmd c);
/* The command list for `help` and usage text, space-separated. */
const char *ctl_commands(void);

/* A growable text buffer for building replies (JSON, Prometheus text). On allocation
 * failure it stops growing and sets oom; the caller checks it once at the end. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;
void sb_init(sbuf *b);
void sb_free(sbuf *b);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_put(sbuf *b, const char *s, size_t n);
/* A JSON string literal (quotes included), escaping quotes, backslashes and control bytes. */
void sb_json_str(sbuf *b, const char *s);
/* A JSON number; NaN and infinities become null (JSON has no spelling for them). */
void sb_json_num(sbuf *b, double v);
#endif
