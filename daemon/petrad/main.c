/* petrad: command line. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "petrad.h"
#include "version.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: petrad [OPTIONS]\n"
          "\n"
          "Consumes events/series from Kafka, trains the model incrementally, evolves compressed\n"
          "variants and publishes snapshots and metrics. With no brokers configured (or with\n"
          "--embedded) it runs librdkafka's in-process mock cluster and a built-in generator.\n"
          "\n"
          "  -c, --config FILE        configuration file (default " PETRA_SYSCONFDIR
          "/petra/petrad.conf if present)\n"
          "      --embedded           mock cluster + generator, whatever the config says\n"
          "      --run-for SECONDS    stop by itself after this long (draining as on SIGTERM);\n"
          "                           the last stdout line is a JSON summary\n"
          "      --state-dir DIR      checkpoint directory (overrides state.dir)\n"
          "      --control-socket P   control socket path (overrides control.socket)\n"
          "      --set KEY=VALUE      override any configuration key (repeatable)\n"
          "      --check-config       validate the configuration and exit (0 = valid)\n"
          "      --help-config        list every configuration key with default and range\n"
          "      --log-format F       text (default) or json\n"
          "      --quiet              no periodic progress lines\n"
          "  -V, --version            print versions\n"
          "  -h, --help               this text\n");
}

enum { O_EMBEDDED = 256, O_RUNFOR, O_STATE, O_SOCK, O_SET, O_CHECK, O_HELPCFG, O_LOGFMT, O_QUIET };

int main(int argc, char **argv) {
  /* a control or HTTP client that hangs up before its reply (petractl --timeout, a health probe
   * giving up) must not end the daemon: writes to it fail with EPIPE instead */
  signal(SIGPIPE, SIG_IGN);
  static const struct option opts[] = {
      {"config", required_argument, 0, 'c'},   {"embedded", no_argument, 0, O_EMBEDDED},
      {"run-for", required_argument, 0, O_RUNFOR}, {"state-dir", required_argument, 0, O_STATE},
      {"control-socket", required_argument, 0, O_SOCK}, {"set", required_argument, 0, O_SET},
      {"check-config", no_argument, 0, O_CHECK}, {"help-config", no_argument, 0, O_HELPCFG},
      {"log-format", required_argument, 0, O_LOGFMT}, {"quiet", no_argument, 0, O_QUIET},
      {"version", no_argument, 0, 'V'},          {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  static petrad d;
  petrad_config_defaults(&d.cfg);
  d.opt.print_progress = 1;
  int check = 0;
  int c;
  while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
    switch (c) {
      case 'c': d.opt.config_path = optarg; break;
      case O_EMBEDDED: d.opt.embedded = 1; break;
      case O_RUNFOR: {
        char *end;
        d.opt.run_for_s = strtod(optarg, &end);
        if (*end || !(d.opt.run_for_s > 0)) {
          fprintf(stderr, "petrad: --run-for %s: expected a positive number of seconds\n", optarg);
          return 2;
        }
        break;
      }
      case O_STATE: d.opt.state_dir = optarg; break;
      case O_SOCK: d.opt.control_socket = optarg; break;
      case O_SET:
        if (d.opt.nsets == 64) {
          fprintf(stderr, "petrad: too many --set options\n");
          return 2;
        }
        d.opt.sets[d.opt.nsets++] = optarg;
        break;
      case O_CHECK: check = 1; break;
      case O_HELPCFG: petrad_config_describe(stdout); return 0;
      case O_LOGFMT:
        if (!strcmp(optarg, "json")) plog_set_json(1);
        else if (strcmp(optarg, "text")) {
          fprintf(stderr, "petrad: --log-format %s: expected text or json\n", optarg);
          return 2;
        }
        break;
      case O_QUIET: d.opt.print_progress = 0; break;
      case 'V': petra_print_version("petrad", stdout); return 0;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "petrad: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  char err[1024];
  const char *def = PETRA_SYSCONFDIR "/petra/petrad.conf";
  if (!d.opt.config_path && !d.opt.embedded && access(def, R_OK) == 0) d.opt.config_path = def;
  if (petrad_options_config(&d.opt, &d.cfg, err, sizeof err)) {
    fprintf(stderr, "petrad: %s\n", err);
    return 2;
  }
  const char *state_dir = d.opt.state_dir;
  char tmpdir[] = "/tmp/petrad-embedded-XXXXXX";
  static char embedded_sock[CFG_STR];
  if (!d.cfg.brokers[0]) d.opt.embedded = 1;
  if (!state_dir && d.opt.embedded && !check) {
    /* the mock cluster is new each run: old offsets would not match it, so the embedded
     * default keeps its state in a fresh directory unless one is given */
    if (!mkdtemp(tmpdir)) {
      perror("petrad: mkdtemp");
      return 1;
    }
    snprintf(d.cfg.state_dir, sizeof d.cfg.state_dir, "%s", tmpdir);
    d.opt.state_dir = tmpdir; /* a reload keeps it */
  }
  /* the embedded default runs unprivileged: its control socket lives in its state
   * directory unless one is given (the production default is under /run/petra) */
  if (d.opt.embedded && !d.opt.control_socket && !strcmp(d.cfg.control_socket, "/run/petra/petrad.sock") &&
      !check) {
    snprintf(embedded_sock, sizeof embedded_sock, "%.490s/control.sock", d.cfg.state_dir);
    snprintf(d.cfg.control_socket, sizeof d.cfg.control_socket, "%s", embedded_sock);
    d.opt.control_socket = embedded_sock;
  }
  if (petrad_config_validate(&d.cfg, err, sizeof err)) {
    fprintf(stderr, "petrad: %s%s%s\n", d.opt.config_path ? d.opt.config_path : "",
            d.opt.config_path ? ": " : "", err);
    return 2;
  }
  if (check) {
    printf("configuration ok%s%s\n", d.opt.config_path ? ": " : "",
           d.opt.config_path ? d.opt.config_path : " (defaults)");
    return 0;
  }
  int rc = petrad_run(&d);
  if (!state_dir && d.opt.embedded) {
    char path[1200];
    const char *files[] = {"checkpoint", "checkpoint.prev", "checkpoint.tmp", "snapshot_version",
                           "snapshot_version.tmp"};
    for (int i = 0; i < 5; i++) {
      snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
      unlink(path);
    }
    rmdir(tmpdir);
  }
  return rc;
}
