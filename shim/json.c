/* The JSON the plugin reads: one pass that checks a whole document, then members looked up in it. */
#include <string.h>
#include "json.h"

#define MAX_DEPTH 64

static int bad(scan *s, const char *what) { if (s->err == NULL) s->err = what; return -1; }
static int peek(scan *s) { return s->p < s->end ? (unsigned char)*s->p : -1; }
int is_digit(int c) { return c >= '0' && c <= '9'; }

static void ws(scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

static int skip_string(scan *s) {
  if (peek(s) != '"') return bad(s, "expected a string");
  s->p++;
  while (s->p < s->end) {
    unsigned char c = (unsigned char)*s->p++;
    if (c == '"') return 0;
    if (c < 0x20) return bad(s, "control character in a string");
    if (c != '\\') continue;
    if (s->p >= s->end) break;
    char e = *s->p++;
    unsigned v;
    if (e == 'u') {
      if (s->end - s->p < 4 || hex4(s->p, &v) != 0) return bad(s, "bad \\u escape");
      s->p += 4;
    } else if (e == '\0' || strchr("\"\\/bfnrt", e) == NULL) {
      return bad(s, "bad escape in a string");
    }
  }
  return bad(s, "unterminated string");
}

static int skip_digits(scan *s) {
  if (!is_digit(peek(s))) return bad(s, "bad number");
  while (is_digit(peek(s))) s->p++;
  return 0;
}

static int skip_number(scan *s) {
  if (peek(s) == '-') s->p++;
  if (peek(s) == '0') s->p++;
  else if (skip_digits(s) != 0) return -1;
  if (peek(s) == '.') { s->p++; if (skip_digits(s) != 0) return -1; }
  if (peek(s) == 'e' || peek(s) == 'E') {
    s->p++;
    if (peek(s) == '+' || peek(s) == '-') s->p++;
    if (skip_digits(s) != 0) return -1;
  }
  return 0;
}

static int skip_word(scan *s, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0) return bad(s, "unexpected character");
  s->p += n;
  return 0;
}

static int skip_value(scan *s, int depth) {
  ws(s);
  int c = peek(s);
  if (c == -1) return bad(s, "unexpected end of input");
  if (c == '{' || c == '[') {
    int close = c == '{' ? '}' : ']';
    if (depth >= MAX_DEPTH) return bad(s, "nested too deeply");
    s->p++;
    ws(s);
    if (peek(s) == close) { s->p++; return 0; }
    for (;;) {
      if (close == '}') {
        ws(s);
        if (skip_string(s) != 0) return -1;
        ws(s);
        if (peek(s) != ':') return bad(s, "expected ':'");
        s->p++;
      }
      if (skip_value(s, depth + 1) != 0) return -1;
      ws(s);
      if (peek(s) == ',') { s->p++; continue; }
      if (peek(s) == close) { s->p++; return 0; }
      return bad(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  if (c == '"') return skip_string(s);
  if (c == 't') return skip_word(s, "true");
  if (c == 'f') return skip_word(s, "false");
  if (c == 'n') return skip_word(s, "null");
  if (c == '-' || is_digit(c)) return skip_number(s);
  return bad(s, "unexpected character");
}

static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | (cp >> 6 & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t unescape(const char *q, const char *end, char *out) {
  size_t n = 0;
  for (const char *p = q + 1; p < end - 1; p++) {
    if (*p != '\\') { out[n++] = *p; continue; }
    char e = *++p;
    unsigned cp, lo;
    switch (e) {
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'n': out[n++] = '\n'; break;
      case 'r': out[n++] = '\r'; break;
      case 't': out[n++] = '\t'; break;
      case 'u':
        hex4(p + 1, &cp);
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && end - p > 6 && p[1] == '\\' && p[2] == 'u' && hex4(p + 3, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        } else if (cp >= 0xD800 && cp < 0xE000) {
          cp = 0xFFFD;
        }
        n += put_utf8(out + n, cp);
        break;
      default: out[n++] = e;
    }
  }
  return n;
}

int member(span o, const char *key, span *value) {
  scan s = { o.start + 1, o.end, NULL };
  int found = 0;
  ws(&s);
  if (peek(&s) == '}') return -1;
  for (;;) {
    ws(&s);
    const char *k = s.p;
    skip_string(&s);
    char name[64];
    size_t klen = (size_t)(s.p - k) < sizeof name ? unescape(k, s.p, name) : sizeof name;
    ws(&s);
    s.p++; /* ':' */
    ws(&s);
    const char *v = s.p;
    skip_value(&s, 0);
    if (klen == strlen(key) && memcmp(name, key, klen) == 0) { value->start = v; value->end = s.p; found = 1; }
    ws(&s);
    if (peek(&s) != ',') break;
    s.p++;
  }
  return found ? 0 : -1;
}

span document(const char *p, size_t n, scan *s) {
  s->p = p; s->end = p + n; s->err = NULL;
  if (skip_value(s, 0) == 0) { ws(s); if (s->p != s->end) bad(s, "unexpected data after the JSON value"); }
  scan at = { p, p + n, NULL };
  ws(&at);
  return (span){ at.p, s->p };
}
