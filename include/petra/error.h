/* Error codes and messages of libpetra.
 *
 * Functions that can fail return int: 0 on success, a negative PETRA_E* code on failure.
 * Constructors return NULL on failure and, when given a petra_err, fill it with the code
 * and a message that says what failed, on which input, and what to do. */
#ifndef PETRA_ERROR_H
#define PETRA_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
  PETRA_OK = 0,
  PETRA_EINVAL = -1,    /* invalid argument or malformed input */
  PETRA_ENOMEM = -2,    /* out of memory */
  PETRA_ERANGE = -3,    /* value out of range */
  PETRA_ESHAPE = -4,    /* tensor shapes do not fit */
  PETRA_EVERSION = -5,  /* unknown schema or format version */
  PETRA_ECHECKSUM = -6, /* checksum or hash mismatch */
  PETRA_EIO = -7,       /* I/O failed (daemon edge only) */
  PETRA_ENOTFOUND = -8, /* named thing does not exist */
  PETRA_ESTATE = -9,    /* operation not valid in the current state */
};

typedef struct petra_err {
  int code;
  char msg[512];
} petra_err;

/* Name of an error code ("invalid argument", ...); never NULL. */
const char *petra_strerror(int code);

/* Fill err (may be NULL) with code and a printf-style message; returns code. */
int petra_err_set(petra_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
