/* systemd's notify protocol (sd_notify(3)): datagrams to $NOTIFY_SOCKET. A small
 * implementation of our own instead of libsystemd (which would pull in libgcrypt, lz4, zstd
 * and more). All calls are no-ops when the daemon is not run by systemd. */
#ifndef PETRA_NOTIFY_H
#define PETRA_NOTIFY_H
#include <stdint.h>

/* Sends state lines, e.g. "READY=1\nSTATUS=training". Returns 1 when sent, 0 when there is
 * no notify socket, −1 on error. */
int sdn_notify(const char *state);
/* Watchdog period in µs when systemd asked for keep-alives for this process, else 0. */
uint64_t sdn_watchdog_usec(void);
#endif
