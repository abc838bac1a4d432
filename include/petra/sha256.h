/* SHA-256 (FIPS 180-4), for snapshot integrity. */
#ifndef PETRA_SHA256_H
#define PETRA_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct petra_sha256 {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t fill;
} petra_sha256;

void petra_sha256_init(petra_sha256 *s);
void petra_sha256_update(petra_sha256 *s, const void *data, size_t n);
void petra_sha256_final(petra_sha256 *s, uint8_t out[32]);
void petra_sha256_digest(const void *data, size_t n, uint8_t out[32]);
#endif
