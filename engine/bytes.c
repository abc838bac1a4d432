#include "petra/bytes.h"

#include <stdlib.h>
#include <string.h>

static int grow(petra_bytes_w *w, size_t n) {
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

void petra_bw_raw(petra_bytes_w *w, const void *v, size_t n) {
  if (n == 0) return; /* an empty blob may come as NULL (memcpy from NULL is undefined even for 0) */
  if (grow(w, n)) return;
  memcpy(w->p + w->len, v, n);
  w->len += n;
}
void petra_bw_u32(petra_bytes_w *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  petra_bw_raw(w, b, 4);
}
void petra_bw_u64(petra_bytes_w *w, uint64_t v) {
  petra_bw_u32(w, (uint32_t)v);
  petra_bw_u32(w, (uint32_t)(v >> 32));
}
void petra_bw_f64(petra_bytes_w *w, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  petra_bw_u64(w, u);
}
void petra_bw_f32s(petra_bytes_w *w, const float *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    petra_bw_u32(w, u);
  }
}
void petra_bw_str(petra_bytes_w *w, const char *s) {
  size_t n = strlen(s);
  petra_bw_u32(w, (uint32_t)n);
  petra_bw_raw(w, s, n);
}

void petra_br_raw(petra_bytes_r *r, void *v, size_t n) {
  if (r->err || n > r->len - r->off) {
    r->err = 1;
    memset(v, 0, n);
    return;
  }
  memcpy(v, r->p + r->off, n);
  r->off += n;
}
uint32_t petra_br_u32(petra_bytes_r *r) {
  uint8_t b[4];
  petra_br_raw(r, b, 4);
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
uint64_t petra_br_u64(petra_bytes_r *r) {
  uint64_t lo = petra_br_u32(r);
  return lo | (uint64_t)petra_br_u32(r) << 32;
}
double petra_br_f64(petra_bytes_r *r) {
  uint64_t u = petra_br_u64(r);
  double v;
  memcpy(&v, &u, 8);
  return v;
}
void petra_br_f32s(petra_bytes_r *r, float *v, size_t n) {
  if (r->err || n > (r->len - r->off) / 4) {
    r->err = 1;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t u = petra_br_u32(r);
    memcpy(&v[i], &u, 4);
  }
}
void petra_br_str(petra_bytes_r *r, char *out, size_t size) {
  uint32_t n = petra_br_u32(r);
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
