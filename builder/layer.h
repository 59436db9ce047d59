/* layer.h - the tree written as a layer blob in one pass.
 *
 * Two threads: the caller's writes the tar (reading contents from the
 * spool) and hashes it (the diff_id); a second compresses, hashes and writes
 * the blob into the store's temp area.  Compression is deterministic: gzip
 * through zlib with no name and no time in its header, zstd with a fixed
 * worker count. */
#ifndef KILN_LAYER_H
#define KILN_LAYER_H

#include <stdint.h>

#include "builder/ctx.h"

enum layer_compression { LAYER_NONE, LAYER_GZIP, LAYER_ZSTD };

struct layer_info {
    char digest[DIGEST_STR_SIZE];   /* of the blob as stored */
    uint64_t size;
    char diff_id[DIGEST_STR_SIZE];  /* of the uncompressed tar */
    uint64_t tar_size;
    int tar_stored;                 /* tee: the uncompressed tar is a held blob too (digest = diff_id) */
};

/* tee: also store the uncompressed tar as a second blob in the same pass
 * (for a build with both an oci and a tar output). */
int layer_write(struct build_ctx *ctx, enum layer_compression c, int tee, struct layer_info *out,
                struct kiln_err *err);

#endif
