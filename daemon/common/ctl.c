#include "ctl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  ctl_cmd cmd;
  int args; /* 0 or 1 */
} cmds[] = {
    {"health", CTL_HEALTH, 0},         {"status", CTL_STATUS, 0},   {"population", CTL_POPULATION, 0},
    {"pareto", CTL_PARETO, 0},         {"metrics", CTL_METRICS, 0}, {"pause", CTL_PAUSE, 0},
    {"resume", CTL_RESUME, 0},         {"evolve", CTL_EVOLVE, 0},   {"snapshot", CTL_SNAPSHOT, 0},
    {"checkpoint", CTL_CHECKPOINT, 0}, {"reload", CTL_RELOAD, 0},   {"loglevel", CTL_LOGLEVEL, 1},
    {"help", CTL_HELP, 0},             {"core-trial", CTL_CORE_TRIAL, 0},
};

const char *ctl_commands(void) {
  return "health status population pareto metrics pause resume evolve core-trial snapshot "
         "checkpoint reload loglevel help";
}

const char *ctl_cmd_name(ctl_cmd c) {
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (cmds[i].cmd == c) return cmds[i].name;
  return "?";
}

int ctl_parse(const char *line, size_t len, ctl_request *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (len > 0 && line[len - 1] == '\n') len--;
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len + 2 > CTL_MAX_LINE) {
    snprintf(err, errlen, "command longer than %d bytes", CTL_MAX_LINE - 2);
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)line[i];
    if (c != '\t' && (c < 0x20 || c > 0x7e)) {
      snprintf(err, errlen, "byte 0x%02x at column %zu is not printable ASCII", c, i + 1);
      return -1;
    }
  }
  /* split into at most 3 words (a third one is always an error) */
  const char *w[3];
  size_t wl[3];
  int nw = 0;
  size_t i = 0;
  while (i < len) {
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len) break;
    size_t s = i;
    while (i < len && line[i] != ' ' && line[i] != '\t') i++;
    if (nw == 3) break;
    w[nw] = line + s;
    wl[nw++] = i - s;
  }
  if (nw == 0) {
    snprintf(err, errlen, "empty command; try: help");
    return -1;
  }
  for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
    if (strlen(cmds[k].name) != wl[0] || memcmp(cmds[k].name, w[0], wl[0])) continue;
    if (nw - 1 != cmds[k].args) {
      if (cmds[k].args)
        snprintf(err, errlen, "%s needs one argument (error, warn, info or debug)", cmds[k].name);
      else
        snprintf(err, errlen, "%s takes no arguments", cmds[k].name);
      return -1;
    }
    out->cmd = cmds[k].cmd;
    if (cmds[k].cmd == CTL_LOGLEVEL) {
      static const char *levels[] = {"error", "warn", "info", "debug"};
      int ok = 0;
      for (int l = 0; l < 4; l++)
        if (strlen(levels[l]) == wl[1] && !memcmp(levels[l], w[1], wl[1])) {
          snprintf(out->arg, sizeof out->arg, "%s", levels[l]);
          ok = 1;
        }
      if (!ok) {
        snprintf(err, errlen, "loglevel: '%.*s' is not one of error, warn, info, debug",
                 (int)(wl[1] > 16 ? 16 : wl[1]), w[1]);
        return -1;
      }
    }
    return 0;
  }
  snprintf(err, errlen, "unknown command '%.*s'; commands: %s", (int)(wl[0] > 32 ? 32 : wl[0]), w[0],
           ctl_commands());
  return -1;
}

/* ---------------------------------------------------------------- sbuf */

void sb_init(sbuf *b) { memset(b, 0, sizeof *b); }
void sb_free(sbuf *b) {
  free(b->p);
  sb_init(b);
}

static int sb_reserve(sbuf *b, size_t extra) {
  if (b->oom) return -1;
  if (b->len + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void sb_put(sbuf *b, const char *s, size_t n) {
  if (sb_reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    sb_put(b, small, (size_t)n);
    return;
  }
  if (sb_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void sb_json_str(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      char e[2] = {'\\', (char)*p};
      sb_put(b, e, 2);
    } else if (*p < 0x20) {
      char e[8];
      snprintf(e, sizeof e, "\\u%04x", *p);
      sb_put(b, e, 6);
    } else {
      sb_put(b, (const char *)p, 1);
    }
  }
  sb_put(b, "\"", 1);
}

void sb_json_num(sbuf *b, double v) {
  if (!isfinite(v))
    sb_put(b, "null", 4);
  else if (v == floor(v) && fabs(v) < 9e15)
    sb_printf(b, "%.0f", v);
  else
    sb_printf(b, "%.6g", v);
}
