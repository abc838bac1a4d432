#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "petra/bytes.h"

#define MAGIC "PETRADCK"
#define FORMAT 2u /* 2: generation; format 1 reads as generation 0 */

void ckpt_clear(ckpt *c) {
  free(c->trainer);
  free(c->features);
  memset(c, 0, sizeof *c);
}

int ckpt_encode(const ckpt *c, uint8_t **buf, size_t *len) {
  petra_bytes_w w = {0};
  petra_bw_raw(&w, MAGIC, 8);
  petra_bw_u32(&w, FORMAT);
  petra_bw_u64(&w, c->generation);
  petra_bw_u64(&w, c->snapshot_version);
  petra_bw_u64(&w, c->events);
  petra_bw_u64(&w, c->dead_letters);
  petra_bw_u32(&w, (uint32_t)c->n_offsets);
  for (int i = 0; i < c->n_offsets; i++) {
    petra_bw_str(&w, c->offsets[i].topic);
    petra_bw_u32(&w, (uint32_t)c->offsets[i].partition);
    petra_bw_u64(&w, (uint64_t)c->offsets[i].offset);
  }
  petra_bw_u64(&w, c->trainer_len);
  petra_bw_raw(&w, c->trainer, c->trainer_len);
  petra_bw_u64(&w, c->features_len);
  petra_bw_raw(&w, c->features, c->features_len);
  petra_bw_u64(&w, petra_fnv1a64(w.p, w.len));
  if (w.err) {
    free(w.p);
    return -ENOMEM;
  }
  *buf = w.p;
  *len = w.len;
  return 0;
}

int ckpt_decode(const uint8_t *buf, size_t len, ckpt *c, char *err, size_t n) {
  memset(c, 0, sizeof *c);
  if (len < 8 + 4 + 8 || memcmp(buf, MAGIC, 8) != 0) {
    snprintf(err, n, "not a petrad checkpoint");
    return -1;
  }
  petra_bytes_r h = {buf + len - 8, 8, 0, 0};
  if (petra_fnv1a64(buf, len - 8) != petra_br_u64(&h)) {
    snprintf(err, n, "hash mismatch: truncated or corrupt");
    return -1;
  }
  petra_bytes_r r = {buf, len - 8, 8, 0};
  uint32_t fmt = petra_br_u32(&r);
  if (fmt != FORMAT && fmt != 1) {
    snprintf(err, n, "format %u, this build reads 1 and %u", fmt, FORMAT);
    return -1;
  }
  c->generation = fmt >= 2 ? petra_br_u64(&r) : 0;
  c->snapshot_version = petra_br_u64(&r);
  c->events = petra_br_u64(&r);
  c->dead_letters = petra_br_u64(&r);
  uint32_t no = petra_br_u32(&r);
  if (no > CKPT_MAX_OFFSETS) r.err = 1;
  for (uint32_t i = 0; i < no && !r.err; i++) {
    petra_br_str(&r, c->offsets[i].topic, sizeof c->offsets[i].topic);
    c->offsets[i].partition = (int32_t)petra_br_u32(&r);
    c->offsets[i].offset = (int64_t)petra_br_u64(&r);
  }
  c->n_offsets = r.err ? 0 : (int)no;
  uint64_t tl = petra_br_u64(&r);
  if (r.err || tl > r.len - r.off) goto bad;
  c->trainer = malloc(tl ? tl : 1);
  if (!c->trainer) goto bad;
  petra_br_raw(&r, c->trainer, tl);
  c->trainer_len = tl;
  uint64_t fl = petra_br_u64(&r);
  if (r.err || fl > r.len - r.off) goto bad;
  c->features = malloc(fl ? fl : 1);
  if (!c->features) goto bad;
  petra_br_raw(&r, c->features, fl);
  c->features_len = fl;
  if (r.err || r.off != r.len) goto bad;
  return 0;
bad:
  snprintf(err, n, "structure is inconsistent");
  ckpt_clear(c);
  return -1;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -errno;
  int rc = fsync(fd) ? -errno : 0;
  close(fd);
  return rc;
}

int atomic_write_file(const char *dir, const char *name, const void *buf, size_t len,
                      int keep_prev, char *err, size_t n) {
  char tmp[1024], path[1024], prev[1100];
  snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(prev, sizeof prev, "%s/%s.prev", dir, name);
  int rc = 0;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = -errno;
    snprintf(err, n, "cannot create %s: %s", tmp, strerror(errno));
    return rc;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, (const uint8_t *)buf + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    off += (size_t)w;
  }
  if (!rc && fsync(fd)) rc = -errno;
  if (close(fd) && !rc) rc = -errno;
  if (rc) {
    snprintf(err, n, "writing %s failed: %s (the previous file is kept)", tmp, strerror(-rc));
    unlink(tmp);
    return rc;
  }
  /* keep the last good one as .prev; a crash between the renames leaves .prev to load */
  if (keep_prev && rename(path, prev) && errno != ENOENT) {
    rc = -errno;
    snprintf(err, n, "rename %s: %s", path, strerror(errno));
    unlink(tmp);
    return rc;
  }
  if (rename(tmp, path)) {
    rc = -errno;
    snprintf(err, n, "rename %s: %s", tmp, strerror(errno));
    return rc;
  }
  if ((rc = fsync_dir(dir))) {
    snprintf(err, n, "fsync %s: %s", dir, strerror(-rc));
    return rc;
  }
  return 0;
}

int ckpt_write(const char *dir, const char *name, const ckpt *c, char *err, size_t n) {
  uint8_t *buf;
  size_t len;
  if (ckpt_encode(c, &buf, &len)) {
    snprintf(err, n, "checkpoint: out of memory");
    return -ENOMEM;
  }
  char e2[768];
  int rc = atomic_write_file(dir, name, buf, len, 1, e2, sizeof e2);
  free(buf);
  if (rc) snprintf(err, n, "checkpoint: %s", e2);
  return rc;
}

int read_whole_file(const char *path, uint8_t **buf, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st)) {
    int e = -errno;
    close(fd);
    return e;
  }
  size_t sz = (size_t)st.st_size;
  uint8_t *p = malloc(sz ? sz : 1);
  if (!p) {
    close(fd);
    return -ENOMEM;
  }
  size_t off = 0;
  while (off < sz) {
    ssize_t r = read(fd, p + off, sz - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    off += (size_t)r;
  }
  close(fd);
  *buf = p;
  *len = off;
  return 0;
}

int ckpt_read(const char *dir, const char *name, ckpt *c, char *err, size_t n) {
  const char *suffix[] = {"", ".prev"};
  int found = 0;
  err[0] = 0;
  for (int i = 0; i < 2; i++) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix[i]);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = read_whole_file(path, &buf, &len);
    if (rc == -ENOENT) continue;
    found = 1;
    char why[256] = "";
    if (rc == 0) {
      rc = ckpt_decode(buf, len, c, why, sizeof why);
      free(buf);
      if (rc == 0) return 1;
    } else {
      snprintf(why, sizeof why, "%s", strerror(-rc));
    }
    char aside[1200];
    snprintf(aside, sizeof aside, "%s.corrupt-%ld", path, (long)time(NULL));
    rename(path, aside);
    size_t l = strlen(err);
    snprintf(err + l, n - l, "%s%s: %s (moved to %s)", l ? "; " : "", path, why, aside);
  }
  return found ? -1 : 0;
}
