#include "bytes.h"

#include <stdlib.h>
#include <string.h>

static int grow(bytes_w *w, size_t n) {
  if (w->err) return -1;
  if (w->len + n <= w->cap) return 0;
  size_t cap = w->cap ? w->cap : 256;
  while (cap < w->len + n) cap *= 2;
  uint8_t *p = realloc(w->p, cap);
  if (!p) {
    w->err = 1;
    return -1;
  }
  w->p = p;
  w->cap = cap;
  return 0;
}

void bw_raw(bytes_w *w, const void *v, size_t n) {
  if (grow(w, n)) return;
  memcpy(w->p + w->len, v, n);
  w->len += n;
}
void bw_u32(bytes_w *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  bw_raw(w, b, 4);
}
void bw_u64(bytes_w *w, uint64_t v) {
  bw_u32(w, (uint32_t)v);
  bw_u32(w, (uint32_t)(v >> 32));
}
void bw_f64(bytes_w *w, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  bw_u64(w, u);
}
void bw_f32s(bytes_w *w, const float *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    bw_u32(w, u);
  }
}
void bw_str(bytes_w *w, const char *s) {
  size_t n = strlen(s);
  bw_u32(w, (uint32_t)n);
  bw_raw(w, s, n);
}

void br_raw(bytes_r *r, void *v, size_t n) {
  if (r->err || n > r->len - r->off) {
    r->err = 1;
    memset(v, 0, n);
    return;
  }
  memcpy(v, r->p + r->off, n);
  r->off += n;
}
uint32_t br_u32(bytes_r *r) {
  uint8_t b[4];
  br_raw(r, b, 4);
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
uint64_t br_u64(bytes_r *r) {
  uint64_t lo = br_u32(r);
  return lo | (uint64_t)br_u32(r) << 32;
}
double br_f64(bytes_r *r) {
  uint64_t u = br_u64(r);
  double v;
  memcpy(&v, &u, 8);
  return v;
}
void br_f32s(bytes_r *r, float *v, size_t n) {
  if (r->err || n > (r->len - r->off) / 4) {
    r->err = 1;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t u = br_u32(r);
    memcpy(&v[i], &u, 4);
  }
}
void br_str(bytes_r *r, char *out, size_t size) {
  uint32_t n = br_u32(r);
  if (r->err || n >= size || n > r->len - r->off) {
    r->err = 1;
    if (size) out[0] = 0;
    return;
  }
  memcpy(out, r->p + r->off, n);
  out[n] = 0;
  r->off += n;
}

uint64_t petra_fnv1a64(const void *data, size_t n) {
  const uint8_t *p = data;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
