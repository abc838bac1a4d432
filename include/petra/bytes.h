/* Little-endian byte writer and bounds-checked reader for engine binary formats
 * (checkpoints, daemon state). A writer that failed to grow, or a reader that ran
 * past its end, sets err and turns every later call into a no-op. */
#ifndef PETRA_BYTES_H
#define PETRA_BYTES_H
#include <stddef.h>
#include <stdint.h>

typedef struct petra_bytes_w {
  uint8_t *p;
  size_t len, cap;
  int err;
} petra_bytes_w;

typedef struct petra_bytes_r {
  const uint8_t *p;
  size_t len, off;
  int err;
} petra_bytes_r;

void petra_bw_u32(petra_bytes_w *w, uint32_t v);
void petra_bw_u64(petra_bytes_w *w, uint64_t v);
void petra_bw_f64(petra_bytes_w *w, double v);
void petra_bw_f32s(petra_bytes_w *w, const float *v, size_t n);
void petra_bw_raw(petra_bytes_w *w, const void *v, size_t n);
void petra_bw_str(petra_bytes_w *w, const char *s); /* u32 length + bytes */

uint32_t petra_br_u32(petra_bytes_r *r);
uint64_t petra_br_u64(petra_bytes_r *r);
double petra_br_f64(petra_bytes_r *r);
void petra_br_f32s(petra_bytes_r *r, float *v, size_t n);
void petra_br_raw(petra_bytes_r *r, void *v, size_t n);
/* Copies a string of at most size−1 bytes; longer is an error. */
void petra_br_str(petra_bytes_r *r, char *out, size_t size);

/* FNV-1a 64-bit hash (corruption check of checkpoint files, not a security measure). */
uint64_t petra_fnv1a64(const void *data, size_t n);
#endif
