/* A JSON scanner for the plugin: validation of a whole document, members of objects, string values. */
#ifndef WEFT_JSON_H
#define WEFT_JSON_H
#include <stddef.h>

/* A position in a text; err names the first fault. */
typedef struct { const char *p, *end; const char *err; } scan;
/* One JSON value's text. */
typedef struct { const char *start, *end; } span;

int is_digit(int c);
/* The whole of [p, p + n) as one JSON value (nested at most 64 deep); s->err names the fault. */
span document(const char *p, size_t n, scan *s);
/* The member `key` of the validated object o (the last one, as JSON.parse keeps); 0 if found. */
int member(span o, const char *key, span *value);
/*
 * The value of a validated JSON string [q, end) (q at the opening quote) into out, which holds at
 * least end - q bytes (the value is never longer than its escaped form). A lone surrogate becomes
 * U+FFFD, as Node encodes it. Returns the length.
 */
size_t unescape(const char *q, const char *end, char *out);

#endif
