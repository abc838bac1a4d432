#include "minijson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mj_doc {
  mj *nodes;
  size_t n_nodes, cap_nodes;
  char *strs;
  size_t strs_len, strs_cap;
  mj *root;
};

typedef struct P {
  const char *s;
  size_t len, i;
  mj_doc *d;
  char *err;
  size_t errlen;
  int failed;
} P;

static int fail(P *p, const char *what) {
  if (!p->failed) snprintf(p->err, p->errlen, "JSON: %s at byte %zu", what, p->i);
  p->failed = 1;
  return -1;
}

static void ws(P *p) {
  while (p->i < p->len && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
}

static mj *node(P *p) {
  /* nodes are never more than input bytes + 1, reserved up front: pointers stay valid */
  if (p->d->n_nodes == p->d->cap_nodes) return NULL;
  mj *n = &p->d->nodes[p->d->n_nodes++];
  memset(n, 0, sizeof *n);
  return n;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void put(P *p, char c) {
  /* strings total at most the input length: the buffer is reserved up front */
  if (p->d->strs_len < p->d->strs_cap) p->d->strs[p->d->strs_len++] = c;
}

static char *string(P *p) {
  if (p->i >= p->len || p->s[p->i] != '"') return fail(p, "expected a string"), NULL;
  p->i++;
  char *out = p->d->strs + p->d->strs_len;
  while (1) {
    if (p->i >= p->len) return fail(p, "unterminated string"), NULL;
    unsigned char c = (unsigned char)p->s[p->i++];
    if (c == '"') break;
    if (c < 0x20) return fail(p, "control character in string"), NULL;
    if (c != '\\') {
      put(p, (char)c);
      continue;
    }
    if (p->i >= p->len) return fail(p, "unterminated escape"), NULL;
    char e = p->s[p->i++];
    switch (e) {
      case '"': put(p, '"'); break;
      case '\\': put(p, '\\'); break;
      case '/': put(p, '/'); break;
      case 'b': put(p, '\b'); break;
      case 'f': put(p, '\f'); break;
      case 'n': put(p, '\n'); break;
      case 'r': put(p, '\r'); break;
      case 't': put(p, '\t'); break;
      case 'u': {
        if (p->i + 4 > p->len) return fail(p, "short \\u escape"), NULL;
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
          int h = hexv(p->s[p->i + (size_t)k]);
          if (h < 0) return fail(p, "bad \\u escape"), NULL;
          v = v * 16 + (unsigned)h;
        }
        p->i += 4;
        if (v == 0) return fail(p, "\\u0000 in string"), NULL;
        /* 1..3-byte UTF-8 (a surrogate half stays as its 3-byte form: petra never sends
         * one) — never longer than the 6 input bytes of the escape */
        if (v < 0x80) {
          put(p, (char)v);
        } else if (v < 0x800) {
          put(p, (char)(0xc0 | (v >> 6)));
          put(p, (char)(0x80 | (v & 0x3f)));
        } else {
          put(p, (char)(0xe0 | (v >> 12)));
          put(p, (char)(0x80 | ((v >> 6) & 0x3f)));
          put(p, (char)(0x80 | (v & 0x3f)));
        }
        break;
      }
      default: return fail(p, "bad escape"), NULL;
    }
  }
  put(p, 0);
  return out;
}

static mj *value(P *p, int depth);

static int number(P *p, mj *n) {
  size_t s = p->i;
  if (p->i < p->len && p->s[p->i] == '-') p->i++;
  if (p->i >= p->len) return fail(p, "bad number");
  if (p->s[p->i] == '0') {
    p->i++;
  } else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
    while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
  } else {
    return fail(p, "bad number");
  }
  if (p->i < p->len && p->s[p->i] == '.') {
    p->i++;
    size_t f = p->i;
    while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i == f) return fail(p, "bad fraction");
  }
  if (p->i < p->len && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    if (p->i < p->len && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
    size_t f = p->i;
    while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i == f) return fail(p, "bad exponent");
  }
  char tmp[64];
  size_t k = p->i - s;
  if (k >= sizeof tmp) return fail(p, "number too long");
  memcpy(tmp, p->s + s, k);
  tmp[k] = 0;
  n->type = MJ_NUM;
  n->num = strtod(tmp, NULL);
  return 0;
}

static int lit(P *p, const char *w) {
  size_t k = strlen(w);
  if (p->i + k > p->len || memcmp(p->s + p->i, w, k)) return fail(p, "unexpected character");
  p->i += k;
  return 0;
}

static mj *value(P *p, int depth) {
  if (depth > 32) return fail(p, "nesting deeper than 32"), NULL;
  ws(p);
  if (p->i >= p->len) return fail(p, "unexpected end"), NULL;
  mj *n = node(p);
  if (!n) return fail(p, "too many values"), NULL;
  char c = p->s[p->i];
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    n->type = c == '{' ? MJ_OBJ : MJ_ARR;
    p->i++;
    ws(p);
    if (p->i < p->len && p->s[p->i] == close) {
      p->i++;
      return n;
    }
    mj *last = NULL;
    while (1) {
      char *key = NULL;
      if (n->type == MJ_OBJ) {
        ws(p);
        if (!(key = string(p))) return NULL;
        ws(p);
        if (p->i >= p->len || p->s[p->i] != ':') return fail(p, "expected ':'"), NULL;
        p->i++;
      }
      mj *v = value(p, depth + 1);
      if (!v) return NULL;
      v->key = key;
      if (last) last->next = v;
      else n->child = v;
      last = v;
      n->n++;
      ws(p);
      if (p->i < p->len && p->s[p->i] == ',') {
        p->i++;
        continue;
      }
      if (p->i < p->len && p->s[p->i] == close) {
        p->i++;
        return n;
      }
      return fail(p, n->type == MJ_OBJ ? "expected ',' or '}'" : "expected ',' or ']'"), NULL;
    }
  }
  if (c == '"') {
    n->type = MJ_STR;
    return (n->str = string(p)) ? n : NULL;
  }
  if (c == 't') return lit(p, "true") ? NULL : (n->type = MJ_BOOL, n->num = 1, n);
  if (c == 'f') return lit(p, "false") ? NULL : (n->type = MJ_BOOL, n->num = 0, n);
  if (c == 'n') return lit(p, "null") ? NULL : (n->type = MJ_NULL, n);
  return number(p, n) ? NULL : n;
}

mj_doc *mj_parse(const char *text, size_t len, char *err, size_t errlen) {
  mj_doc *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->cap_nodes = len / 2 + 2; /* every value but the first needs a separator or bracket */
  d->strs_cap = len + 1;
  d->nodes = malloc(sizeof(mj) * d->cap_nodes);
  d->strs = malloc(d->strs_cap);
  if (!d->nodes || !d->strs) {
    snprintf(err, errlen, "JSON: out of memory");
    mj_free(d);
    return NULL;
  }
  P p = {text, len, 0, d, err, errlen, 0};
  d->root = value(&p, 0);
  if (d->root) {
    ws(&p);
    if (p.i != len) {
      fail(&p, "trailing characters");
      d->root = NULL;
    }
  }
  if (!d->root) {
    mj_free(d);
    return NULL;
  }
  return d;
}

const mj *mj_root(const mj_doc *d) { return d->root; }

void mj_free(mj_doc *d) {
  if (!d) return;
  free(d->nodes);
  free(d->strs);
  free(d);
}

const mj *mj_get(const mj *obj, const char *key) {
  if (!obj || obj->type != MJ_OBJ) return NULL;
  for (const mj *c = obj->child; c; c = c->next)
    if (c->key && !strcmp(c->key, key)) return c;
  return NULL;
}
