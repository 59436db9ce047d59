/* text.c - UTF-8 checks and lossless hex (see text.h). */
#include "common/text.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/banned.h"

/* The length of the valid UTF-8 sequence at s[0, len), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        n = 1, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
        n = 2, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
        n = 3, min = 0x10000, c &= 0x07;
    else
        return 0;
    if (len <= n)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return n + 1;
}

int utf8_valid(const void *s, size_t len)
{
    const unsigned char *p = s;
    for (size_t i = 0, n; i < len; i += n)
        if (!(n = utf8_seq(p + i, len - i)))
            return 0;
    return 1;
}

char *utf8_lossy(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    char *out = xmalloc(len * 3 + 1); /* U+FFFD is 3 bytes, for one byte at most */
    size_t o = 0;
    for (size_t i = 0, n; i < len; i += n) {
        if ((n = utf8_seq(p + i, len - i))) {
            memcpy(out + o, p + i, n);
            o += n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            n = 1;
        }
    }
    out[o] = '\0';
    return out;
}

char *text_hex(const void *s, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = s;
    char *out = xmalloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[len * 2] = '\0';
    return out;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *text_unhex(const char *hex)
{
    size_t len = strlen(hex);
    if (len % 2)
        return NULL;
    char *out = xmalloc(len / 2 + 1);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            free(out);
            return NULL;
        }
        out[i] = (char)(hi << 4 | lo);
    }
    out[len / 2] = '\0';
    return out;
}
