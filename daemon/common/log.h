/* Logging for the programs: one line per record to stderr, "LEVEL event key=value ...", or
 * one JSON object per line with --log-format json. journald keeps stderr lines as they are.
 * Thread-safe (each record is formatted first, then written with one call). */
#ifndef PETRA_LOG_H
#define PETRA_LOG_H

enum { PLOG_ERROR = 0, PLOG_WARN, PLOG_INFO, PLOG_DEBUG };

void plog_set_level(int level);
int plog_get_level(void);
/* "error", "warn", "info", "debug" -> level; −1 when unknown. */
int plog_parse_level(const char *name);
const char *plog_level_name(int level);
void plog_set_json(int on);

/* kv is printf-style "key=value key2=value2" text appended after the event name; values
 * with spaces should be quoted by the caller ("reason=\"...\""). */
void plog(int level, const char *event, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_ERROR(ev, ...) plog(PLOG_ERROR, ev, __VA_ARGS__)
#define LOG_WARN(ev, ...) plog(PLOG_WARN, ev, __VA_ARGS__)
#define LOG_INFO(ev, ...) plog(PLOG_INFO, ev, __VA_ARGS__)
#define LOG_DEBUG(ev, ...)                                  \
  do {                                                      \
    if (plog_get_level() >= PLOG_DEBUG) plog(PLOG_DEBUG, ev, __VA_ARGS__); \
  } while (0)
#endif
