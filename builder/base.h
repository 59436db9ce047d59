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

/* The debian base (base-debian.c).  Its state: the mirror checked
 * (builder/debian-mirror.h), the keyring, the cache key, the packages. */
struct debian_base;
struct build_plan;

/* Checks the mirror of the recipe's debian base: each suite's InRelease,
 * verified with gpgv against base.debian.keyring (or Debian's archive
 * keyring), copied into the scratch directory.  Sets ctx->debian (owned by
 * the context) and completes the base step of plan with the InRelease
 * digests: the base's key is known before anything is bootstrapped. */
int base_debian_begin(struct build_ctx *ctx, struct build_plan *plan, struct kiln_err *err);
void base_debian_free(struct debian_base *d);

/* The rootfs tar for d: cache_dir/debian/KEY.tar when KEY.json records its
 * digest (a tarball that does not match is removed and made again), else
 * made by `mmdebstrap --variant=V [--include=P,...] --keyring=... SUITE OUT.tar
 * "deb URL SUITE COMPONENTS"...`, with apt trusting only d's keyring, and its
 * installed packages resolved against the mirror's signed Packages indices.
 * *tar_path (owned by the caller) is the cached rootfs tar; sha256 receives
 * its digest. */
int base_debian_tar(struct debian_base *d, const char *cache_dir, char **tar_path,
                    char sha256[HASH_HEX_LEN + 1], struct kiln_err *err);

/* Records in the build record each suite's InRelease (uri, sha256) and each
 * installed package (name, purl, sha256 of its .deb, annotations version and
 * architecture). */
void base_debian_inputs(struct build_ctx *ctx, const struct debian_base *d);

/* The cache key of a debian base (64 hex + NUL): its parameters and the
 * digests of its suites' InRelease files (states, n of them). */
void base_debian_key(const struct recipe_base *b, const char *const *states, size_t n,
                     char key[HASH_HEX_LEN + 1]);

#endif
