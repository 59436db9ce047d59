/* base.h - the first step: a base read into ctx->tree (tree/tree.h).
 *
 * One function per base kind (base-*.c); each reads its source as hostile
 * input through the tree's readers and records what it read with
 * build_add_input().  The debian base bootstraps with mmdebstrap into a
 * cache; the disk base reads a disk through disk/disk.h. */
#ifndef KILN_BUILD_BASE_H
#define KILN_BUILD_BASE_H

#include "builder/ctx.h"
#include "common/hash.h"

int base_scratch_run(struct build_ctx *ctx, struct kiln_err *err);
int base_tarball_run(struct build_ctx *ctx, struct kiln_err *err);
int base_directory_run(struct build_ctx *ctx, struct kiln_err *err);
int base_oci_run(struct build_ctx *ctx, struct kiln_err *err);
int base_debian_run(struct build_ctx *ctx, struct kiln_err *err);
int base_disk_run(struct build_ctx *ctx, struct kiln_err *err);

/* The debian base: runs `mmdebstrap --variant=V [--include=P,...] SUITE OUT.tar
 * MIRROR` unless cache_dir already holds the result for these parameters
 * (cache_dir/debian/<sha256 of the parameters>.tar).  *tar_path (owned by
 * the caller) is the cached rootfs tar; sha256 receives its digest. */
int base_debian_tar(const struct recipe_base *b, const char *cache_dir, char **tar_path,
                    char sha256[HASH_HEX_LEN + 1], struct kiln_err *err);

/* The cache key of a debian base (64 hex + NUL). */
void base_debian_key(const struct recipe_base *b, char key[HASH_HEX_LEN + 1]);

#endif
