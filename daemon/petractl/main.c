/* petractl: talks to petrad over its control socket. One command per run; the reply (one
 * JSON line) is printed as a table, or verbatim with --json.
 *
 * Exit codes: 0 ok; 1 the daemon refused or failed the command (or `health` is degraded);
 * 2 `health` is failing; 3 petrad is unreachable (no socket, refused, timed out);
 * 64 usage error.
 * It links only the protocol code (no Kafka, BLAS or libuv): it starts in well under a
 * millisecond, which is most of what a health probe costs. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "minijson.h"

#define EXIT_UNREACHABLE 3
#define EXIT_USAGE 64
#define MAX_REPLY (64u << 20)

static void usage(FILE *out) {
  fprintf(out,
          "usage: petractl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARG]\n"
          "\n"
          "Commands (sent to petrad's control socket):\n"
          "  health        ok / degraded / failing with reasons (exit 0 / 1 / 2); standby\n"
          "                (ha.enabled: another petrad owns the model) exits 4\n"
          "  status        model, versions, rates, lag per partition, loss and metric, queue,\n"
          "                champion genome, size and latency, last snapshot and checkpoint\n"
          "  population    evolution population with fitness\n"
          "  pareto        Pareto archive (feasible non-dominated genomes)\n"
          "  metrics       Prometheus text exposition\n"
          "  pause|resume  stop / restart consuming input\n"
          "  evolve        run one evolution step now\n"
          "  core-trial    run a core trial now (evolution.cores): train the live core and\n"
          "                the listed ones on the replay buffer, keep the best\n"
          "  snapshot      build and publish a snapshot now\n"
          "  checkpoint    write a checkpoint now\n"
          "  reload        re-read the configuration file (as SIGHUP)\n"
          "  loglevel L    set the log level: error, warn, info or debug\n"
          "\n"
          "Options:\n"
          "  -s, --socket PATH    control socket (default $PETRA_CONTROL_SOCKET or\n"
          "                       /run/petra/petrad.sock)\n"
          "  -j, --json           print the reply as JSON, unchanged\n"
          "  -t, --timeout S      give up after S seconds (default 5)\n"
          "  -V, --version        print the version\n"
          "  -h, --help           this text\n"
          "\n"
          "Exit codes: 0 ok, 1 command failed or health degraded, 2 health failing,\n"
          "3 petrad unreachable, 64 usage error.\n");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends the command and reads one reply line. Returns the line (malloc'd) or NULL. */
static char *roundtrip(const char *path, const char *cmd, double timeout, char *err, size_t n) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(err, n, "socket: %s", strerror(errno));
    return NULL;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, n, "%s: path too long", path);
    close(fd);
    return NULL;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  double deadline = now_s() + timeout;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS && errno != EAGAIN) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  size_t cl = strlen(cmd), sent = 0;
  char *buf = NULL;
  size_t len = 0, cap = 0;
  while (1) {
    int ms = (int)((deadline - now_s()) * 1000);
    if (ms <= 0) {
      snprintf(err, n, "%s: no reply within %.1f s", path, timeout);
      break;
    }
    struct pollfd p = {fd, (short)(sent < cl ? POLLOUT : POLLIN), 0};
    int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    if (sent < cl) {
      ssize_t w = send(fd, cmd + sent, cl - sent, MSG_NOSIGNAL);
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        /* petrad closed at once (refused): its reason may still be there to read */
        sent = cl;
        continue;
      }
      if (w < 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        break;
      }
      sent += (size_t)w;
      continue;
    }
    if (cap - len < 65536) {
      cap = cap ? cap * 2 : 131072;
      char *nb = cap > MAX_REPLY ? NULL : realloc(buf, cap);
      if (!nb) {
        snprintf(err, n, "reply larger than %u bytes", MAX_REPLY);
        break;
      }
      buf = nb;
    }
    ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got <= 0) {
      snprintf(err, n, "%s: connection closed before a reply%s%s", path, got < 0 ? ": " : "",
               got < 0 ? strerror(errno) : "");
      break;
    }
    len += (size_t)got;
    char *nl = memchr(buf, '\n', len);
    if (nl) {
      *nl = 0;
      close(fd);
      return buf;
    }
  }
  free(buf);
  close(fd);
  return NULL;
}

/* ---------------------------------------------------------------- printing */

static void scalar(const mj *v, char *out, size_t n) {
  switch (v->type) {
    case MJ_NULL: snprintf(out, n, "-"); break;
    case MJ_BOOL: snprintf(out, n, "%s", v->num ? "yes" : "no"); break;
    case MJ_NUM:
      if (v->num == floor(v->num) && fabs(v->num) < 1e15) snprintf(out, n, "%.0f", v->num);
      else snprintf(out, n, "%.4g", v->num);
      break;
    case MJ_STR: snprintf(out, n, "%s", v->str); break;
    default: snprintf(out, n, "(%d items)", v->n); break;
  }
}

/* An array of objects as a table: columns from the first element's members. */
static void table(const mj *arr, const char *indent) {
  if (!arr->child || arr->child->type != MJ_OBJ) {
    printf("%s(none)\n", indent);
    return;
  }
  enum { MAXC = 16 };
  const char *cols[MAXC];
  int nc = 0;
  size_t w[MAXC];
  for (const mj *c = arr->child->child; c && nc < MAXC; c = c->next) {
    cols[nc] = c->key;
    w[nc++] = strlen(c->key);
  }
  char cell[512];
  for (const mj *row = arr->child; row; row = row->next)
    for (int i = 0; i < nc; i++) {
      const mj *v = mj_get(row, cols[i]);
      if (!v) continue;
      scalar(v, cell, sizeof cell);
      if (strlen(cell) > w[i]) w[i] = strlen(cell);
    }
  printf("%s", indent);
  for (int i = 0; i < nc; i++) printf("%-*s%s", (int)w[i], cols[i], i + 1 < nc ? "  " : "\n");
  for (const mj *row = arr->child; row; row = row->next) {
    printf("%s", indent);
    for (int i = 0; i < nc; i++) {
      const mj *v = mj_get(row, cols[i]);
      if (v) scalar(v, cell, sizeof cell);
      else snprintf(cell, sizeof cell, "-");
      printf("%-*s%s", (int)w[i], cell, i + 1 < nc ? "  " : "\n");
    }
  }
}

static void print_object(const mj *o, const char *prefix) {
  char cell[1024], key[256];
  for (const mj *c = o->child; c; c = c->next) {
    if (!prefix[0] && (!strcmp(c->key, "ok") || !strcmp(c->key, "command"))) continue;
    snprintf(key, sizeof key, "%s%s", prefix, c->key);
    if (c->type == MJ_OBJ) {
      char p[256];
      snprintf(p, sizeof p, "%.200s.", key);
      print_object(c, p);
    } else if (c->type == MJ_ARR && c->child && c->child->type == MJ_OBJ) {
      printf("%s:\n", key);
      table(c, "  ");
    } else if (c->type == MJ_ARR) {
      printf("%-28s", key);
      if (!c->child) printf(" -");
      for (const mj *e = c->child; e; e = e->next) {
        scalar(e, cell, sizeof cell);
        printf("%s%s", e == c->child ? " " : "\n                             ", cell);
      }
      printf("\n");
    } else {
      scalar(c, cell, sizeof cell);
      printf("%-28s %s\n", key, cell);
    }
  }
}

int main(int argc, char **argv) {
  const char *sock = getenv("PETRA_CONTROL_SOCKET");
  if (!sock || !sock[0]) sock = "/run/petra/petrad.sock";
  int json = 0;
  double timeout = 5;
  static const struct option opts[] = {{"socket", required_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
                                       {"timeout", required_argument, 0, 't'}, {"version", no_argument, 0, 'V'},
                                       {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "+s:jt:Vh", opts, NULL)) != -1) {
    switch (o) {
      case 's': sock = optarg; break;
      case 'j': json = 1; break;
      case 't': {
        char *end;
        timeout = strtod(optarg, &end);
        if (*end || !(timeout > 0) || timeout > 3600) {
          fprintf(stderr, "petractl: --timeout %s: expected seconds in (0, 3600]\n", optarg);
          return EXIT_USAGE;
        }
        break;
      }
      case 'V': printf("petractl %s\n", PETRA_VERSION); return 0;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return EXIT_USAGE;
  }
  /* the command line is checked here with the daemon's own parser, so a typo is a usage
   * error (64) rather than a round trip */
  char line[CTL_MAX_LINE];
  size_t k = 0;
  for (int i = optind; i < argc; i++) {
    int w = snprintf(line + k, sizeof line - k, "%s%s", i > optind ? " " : "", argv[i]);
    if (w < 0 || (size_t)w >= sizeof line - k) {
      fprintf(stderr, "petractl: command too long\n");
      return EXIT_USAGE;
    }
    k += (size_t)w;
  }
  ctl_request rq;
  char err[512];
  if (ctl_parse(line, k, &rq, err, sizeof err)) {
    fprintf(stderr, "petractl: %s\n", err);
    return EXIT_USAGE;
  }
  line[k++] = '\n';
  line[k] = 0;
  char *reply = roundtrip(sock, line, timeout, err, sizeof err);
  if (!reply) {
    fprintf(stderr, "petractl: petrad unreachable: %s\n", err);
    return EXIT_UNREACHABLE;
  }
  mj_doc *doc = mj_parse(reply, strlen(reply), err, sizeof err);
  if (!doc || mj_root(doc)->type != MJ_OBJ) {
    fprintf(stderr, "petractl: unreadable reply (%s): %.200s\n", doc ? "not an object" : err, reply);
    mj_free(doc);
    free(reply);
    return 1;
  }
  const mj *root = mj_root(doc);
  const mj *ok = mj_get(root, "ok");
  int rc = 0;
  if (!ok || ok->type != MJ_BOOL || !ok->num) {
    const mj *e = mj_get(root, "error");
    if (json) printf("%s\n", reply);
    fprintf(stderr, "petractl: %s: %s\n", ctl_cmd_name(rq.cmd), e && e->type == MJ_STR ? e->str : "failed");
    rc = 1;
  } else if (json) {
    printf("%s\n", reply);
  } else if (rq.cmd == CTL_METRICS) {
    const mj *t = mj_get(root, "text");
    fputs(t && t->type == MJ_STR ? t->str : "", stdout);
  } else if (rq.cmd == CTL_HEALTH) {
    const mj *h = mj_get(root, "health"), *rs = mj_get(root, "reasons");
    printf("%s\n", h && h->type == MJ_STR ? h->str : "?");
    if (rs && rs->type == MJ_ARR)
      for (const mj *r = rs->child; r; r = r->next)
        if (r->type == MJ_STR) printf("  - %s\n", r->str);
  } else if (rq.cmd == CTL_POPULATION || rq.cmd == CTL_PARETO) {
    const mj *st = mj_get(root, "evolution_steps"), *m = mj_get(root, "members");
    printf("evolution steps: %.0f\n", st && st->type == MJ_NUM ? st->num : 0.0);
    if (m && m->type == MJ_ARR) table(m, "");
  } else {
    print_object(root, "");
  }
  if (rc == 0 && rq.cmd == CTL_HEALTH) {
    const mj *l = mj_get(root, "level");
    /* 0 ok, 1 degraded, 2 failing, 4 standby (ha: another petrad owns the model) */
    rc = l && l->type == MJ_NUM && ((l->num >= 0 && l->num <= 2) || l->num == 4) ? (int)l->num : 2;
  }
  mj_free(doc);
  free(reply);
  fflush(stdout);
  return rc;
}
