/* A small strict JSON reader (RFC 8259) for petractl: parses one document into a tree.
 * Limits: nesting depth 32; strings keep \uXXXX escapes below 0x80 decoded and others as
 * UTF-8. Everything lives in one allocation freed by mj_free. */
#ifndef PETRA_MINIJSON_H
#define PETRA_MINIJSON_H
#include <stddef.h>

typedef enum { MJ_NULL, MJ_BOOL, MJ_NUM, MJ_STR, MJ_ARR, MJ_OBJ } mj_type;

typedef struct mj {
  mj_type type;
  double num;       /* MJ_NUM; MJ_BOOL: 0 or 1 */
  char *str;        /* MJ_STR: NUL-terminated */
  char *key;        /* member name when the parent is an object */
  struct mj *child; /* first element / member */
  struct mj *next;  /* next sibling */
  int n;            /* number of children */
} mj;

typedef struct mj_doc mj_doc;

/* Returns the document (root via mj_root) or NULL with a message naming the byte offset. */
mj_doc *mj_parse(const char *text, size_t len, char *err, size_t errlen);
const mj *mj_root(const mj_doc *d);
void mj_free(mj_doc *d);
/* Member of an object by name, or NULL. */
const mj *mj_get(const mj *obj, const char *key);
#endif
