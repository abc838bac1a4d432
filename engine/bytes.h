/* Little-endian byte writer and bounds-checked reader for engine binary formats
 * (checkpoints). Internal to libpetra. A writer that failed to grow, or a reader that ran
 * past its end, sets err and turns every later call into a no-op. */
#ifndef PETRA_ENGINE_BYTES_H
#define PETRA_ENGINE_BYTES_H
#include <stddef.h>
#include <stdint.h>

typedef struct bytes_w {
  uint8_t *p;
  size_t len, cap;
  int err;
} bytes_w;

typedef struct bytes_r {
  const uint8_t *p;
  size_t len, off;
  int err;
} bytes_r;

void bw_u32(bytes_w *w, uint32_t v);
void bw_u64(bytes_w *w, uint64_t v);
void bw_f64(bytes_w *w, double v);
void bw_f32s(bytes_w *w, const float *v, size_t n);
void bw_raw(bytes_w *w, const void *v, size_t n);
void bw_str(bytes_w *w, const char *s); /* u32 length + bytes */

uint32_t br_u32(bytes_r *r);
uint64_t br_u64(bytes_r *r);
double br_f64(bytes_r *r);
void br_f32s(bytes_r *r, float *v, size_t n);
void br_raw(bytes_r *r, void *v, size_t n);
/* Copies a string of at most size−1 bytes; longer is an error. */
void br_str(bytes_r *r, char *out, size_t size);

/* FNV-1a 64-bit hash (corruption check of checkpoint files, not a security measure). */
uint64_t petra_fnv1a64(const void *data, size_t n);
#endif
