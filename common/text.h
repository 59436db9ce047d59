/* text.h - bytes that should be text: UTF-8 checks and lossless hex.
 *
 * File names are bytes: a tar entry or a directory entry may name a file
 * with bytes that are not UTF-8, and kiln keeps them as they are.  Where a
 * name must become text (JSON, SPDX), the text is utf8_lossy() and, when
 * that is not the name, the exact bytes go beside it as text_hex(). */
#ifndef KILN_TEXT_H
#define KILN_TEXT_H

#include <stddef.h>

/* 1 when s[0, len) is valid UTF-8 (shortest forms, no surrogates, at most
 * U+10FFFF), else 0. */
int utf8_valid(const void *s, size_t len);

/* s with each byte that is not part of a valid UTF-8 sequence replaced by
 * U+FFFD; owned by the caller. */
char *utf8_lossy(const char *s);

/* The bytes s[0, len) as lowercase hex; owned by the caller. */
char *text_hex(const void *s, size_t len);

/* The bytes hex stands for, NUL-terminated, or NULL when hex is not an
 * even number of hex digits or stands for a NUL byte; owned by the caller. */
char *text_unhex(const char *hex);

#endif
