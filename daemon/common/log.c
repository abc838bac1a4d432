#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int level = PLOG_INFO;
static atomic_int json;
static const char *const names[] = {"error", "warn", "info", "debug"};

void plog_set_level(int l) { atomic_store(&level, l); }
int plog_get_level(void) { return atomic_load(&level); }
void plog_set_json(int on) { atomic_store(&json, on); }
const char *plog_level_name(int l) { return l >= 0 && l <= PLOG_DEBUG ? names[l] : "?"; }
int plog_parse_level(const char *name) {
  for (int i = 0; i <= PLOG_DEBUG; i++)
    if (!strcmp(name, names[i])) return i;
  return -1;
}

/* Appends kv text as JSON members: key=value pairs split at spaces outside quotes. */
static size_t kv_to_json(const char *kv, char *out, size_t cap) {
  size_t o = 0;
  const char *p = kv;
  while (*p && o + 8 < cap) {
    while (*p == ' ') p++;
    if (!*p) break;
    const char *eq = strchr(p, '=');
    if (!eq) break;
    o += (size_t)snprintf(out + o, cap - o, ",\"%.*s\":\"", (int)(eq - p), p);
    p = eq + 1;
    int quoted = *p == '"';
    if (quoted) p++;
    while (*p && (quoted ? *p != '"' : *p != ' ') && o + 4 < cap) {
      if (*p == '\\' || (*p == '"' && !quoted)) out[o++] = '\\';
      out[o++] = *p++;
    }
    if (quoted && *p == '"') p++;
    if (o + 2 < cap) out[o++] = '"';
  }
  out[o < cap ? o : cap - 1] = 0;
  return o;
}

void plog(int l, const char *event, const char *fmt, ...) {
  if (l > atomic_load(&level)) return;
  char kv[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(kv, sizeof kv, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + w, sizeof when - w, ".%03ldZ", ts.tv_nsec / 1000000);
  char line[4096];
  int n;
  if (atomic_load(&json)) {
    char members[3000];
    kv_to_json(kv, members, sizeof members);
    n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"%s}\n", when,
                 names[l], event, members);
  } else {
    n = snprintf(line, sizeof line, "%s %-5s %s %s\n", when, names[l], event, kv);
  }
  if (n > (int)sizeof line - 1) {
    n = (int)sizeof line - 1;
    line[n - 1] = '\n';
  }
  ssize_t wr = write(STDERR_FILENO, line, (size_t)n);
  (void)wr;
}
