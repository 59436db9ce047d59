/* buf.h - a growable byte buffer with git strbuf's invariants.
 *
 * - data is always NUL-terminated (data[len] == '\0'), also when empty;
 * - the buffer owns data; buf_detach() is the only hand-over;
 * - a buffer fed by outside data has a limit: growing past it fails
 *   with KILN_EINVAL ("... is larger than N bytes"). limit 0 = none. */
#ifndef KILN_BUF_H
#define KILN_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "common/err.h"

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;
};

#define BUF_INIT { NULL, 0, 0, 0 }

void buf_init(struct buf *b, size_t limit);
void buf_release(struct buf *b);
/* Returns the data (owned by the caller; never NULL) and empties b. */
char *buf_detach(struct buf *b, size_t *len);
void buf_reset(struct buf *b);

int buf_grow(struct buf *b, size_t extra, struct kiln_err *err);
int buf_add(struct buf *b, const void *data, size_t len, struct kiln_err *err);
int buf_adds(struct buf *b, const char *s, struct kiln_err *err);
int buf_addch(struct buf *b, char c, struct kiln_err *err);
int buf_addf(struct buf *b, struct kiln_err *err, const char *fmt, ...) KILN_PRINTF(3, 4);
int buf_vaddf(struct buf *b, struct kiln_err *err, const char *fmt, va_list ap);

/* Never-failing helpers for program code: abort on out-of-memory. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xasprintf(const char *fmt, ...) KILN_PRINTF(1, 2);

#define BUF_CLEANUP __attribute__((cleanup(buf_release)))

#endif
