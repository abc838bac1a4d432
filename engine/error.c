#include "petra/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *petra_strerror(int code) {
  switch (code) {
    case PETRA_OK: return "ok";
    case PETRA_EINVAL: return "invalid argument";
    case PETRA_ENOMEM: return "out of memory";
    case PETRA_ERANGE: return "value out of range";
    case PETRA_ESHAPE: return "shape mismatch";
    case PETRA_EVERSION: return "unsupported version";
    case PETRA_ECHECKSUM: return "checksum mismatch";
    case PETRA_EIO: return "i/o error";
    case PETRA_ENOTFOUND: return "not found";
    case PETRA_ESTATE: return "invalid state";
    default: return "unknown error";
  }
}

int petra_err_set(petra_err *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}
