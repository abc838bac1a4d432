#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sdn_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return 0;
  size_t len = strlen(path);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path) return -1;
  memcpy(sa.sun_path, path, len);
  if (path[0] == '@') sa.sun_path[0] = 0; /* abstract namespace */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sl);
  int e = errno;
  close(fd);
  errno = e;
  return n == (ssize_t)strlen(state) ? 1 : -1;
}

uint64_t sdn_watchdog_usec(void) {
  const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
  if (!us) return 0;
  if (pid && (pid_t)strtol(pid, NULL, 10) != getpid()) return 0;
  char *end;
  unsigned long long v = strtoull(us, &end, 10);
  return *end ? 0 : (uint64_t)v;
}
