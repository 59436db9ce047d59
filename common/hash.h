/* hash.h - SHA-256, streamed.  Digests are written as 64 lowercase hex
 * characters plus NUL (HASH_HEX_LEN + 1 bytes). */
#ifndef KILN_HASH_H
#define KILN_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define HASH_HEX_LEN 64

struct hash_ctx; /* opaque */

/* Returns a new context (owned by the caller; free with hash_free), or NULL on OOM. */
struct hash_ctx *hash_new(void);
/* The same for SHA-1 (40 hex characters), only where a format demands it
 * (SPDX 2.x file checksums); never for anything kiln trusts. */
struct hash_ctx *hash_new_sha1(void);
void hash_update(struct hash_ctx *h, const void *data, size_t len);
/* Writes the hex digest; the context can be freed afterwards, not reused. */
void hash_final_hex(struct hash_ctx *h, char hex[HASH_HEX_LEN + 1]);
void hash_free(struct hash_ctx *h);

void hash_sha256_hex(const void *data, size_t len, char hex[HASH_HEX_LEN + 1]);
/* Streams a file through SHA-256 in fixed-size chunks; *size may be NULL. */
int hash_file_sha256(const char *path, char hex[HASH_HEX_LEN + 1], uint64_t *size, struct kiln_err *err);
/* The same from an open fd, read from its current offset to the end; name
 * is the file in messages. */
int hash_fd_sha256(int fd, const char *name, char hex[HASH_HEX_LEN + 1], uint64_t *size, struct kiln_err *err);
/* 1 if s is exactly 64 lowercase hex characters. */
int hash_is_hex(const char *s);

#endif
