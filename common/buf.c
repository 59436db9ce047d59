#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char empty_buf[1];

void buf_init(struct buf *b, size_t limit)
{
    b->data = empty_buf;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
    empty_buf[0] = '\0';
}

void buf_release(struct buf *b)
{
    if (b->cap)
        free(b->data);
    b->data = empty_buf;
    b->len = 0;
    b->cap = 0;
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *d;
    if (len)
        *len = b->len;
    if (b->cap) {
        d = b->data;
    } else {
        d = xmalloc(1);
        d[0] = '\0';
    }
    b->data = empty_buf;
    b->len = 0;
    b->cap = 0;
    return d;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->cap)
        b->data[0] = '\0';
}

int buf_grow(struct buf *b, size_t extra, struct kiln_err *err)
{
    if (!b->data)
        buf_init(b, 0);
    if (extra > (size_t)-1 - b->len - 1)
        return kiln_errf(err, KILN_ENOMEM, "buffer size overflow");
    size_t need = b->len + extra;
    if (b->limit && need > b->limit)
        return kiln_errf(err, KILN_EINVAL, "data is larger than %zu bytes", b->limit);
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap < ((size_t)-1) / 2 ? cap * 2 : need + 1;
    char *d = realloc(b->cap ? b->data : NULL, cap);
    if (!d)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    if (!b->cap)
        d[0] = '\0';
    b->data = d;
    b->cap = cap;
    return 0;
}

int buf_add(struct buf *b, const void *data, size_t len, struct kiln_err *err)
{
    int r = buf_grow(b, len, err);
    if (r < 0)
        return r;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s, struct kiln_err *err)
{
    return buf_add(b, s, strlen(s), err);
}

int buf_addch(struct buf *b, char c, struct kiln_err *err)
{
    return buf_add(b, &c, 1, err);
}

int buf_vaddf(struct buf *b, struct kiln_err *err, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return kiln_errf(err, KILN_EFAIL, "bad format string");
    int r = buf_grow(b, (size_t)n, err);
    if (r < 0)
        return r;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_addf(struct buf *b, struct kiln_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vaddf(b, err, fmt, ap);
    va_end(ap);
    return r;
}

static void oom(void)
{
    fputs("kiln: out of memory\n", stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        oom();
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        oom();
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom();
    return s;
}
