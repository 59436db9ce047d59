/* ctx.h - what every stage of a build receives: struct build_ctx (the
 * recipe, the tree being built, the scratch directory, SOURCE_DATE_EPOCH),
 * the build record's inputs and the held blobs.
 *
 * Held blobs: everything a step stores is written into the store's temp
 * area and held, uncommitted, until build_commit() (builder/build.h); an
 * interrupt or a failure removes them.  Only build.c creates a context. */
#ifndef KILN_BUILD_CTX_H
#define KILN_BUILD_CTX_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "builder/build.h"
#include "common/err.h"
#include "images/store.h"
#include "recipes/recipe.h"
#include "tree/tree.h"

struct plan_step;
struct cache;
struct debian_base;

struct build_ctx {
    const struct recipe *recipe;
    const struct plan_step *step; /* the plan step being run (builder/plan.h) */
    const struct build_opts *opts;
    struct store *store;
    struct tree *tree;
    char *scratch;                /* owned; removed by build_abort/build_result_release */
    int64_t sde;
    json_t *inputs;               /* build record inputs (array) */
    json_t *base_config;          /* the OCI base's config object, or NULL */
    struct debian_base *debian;   /* the debian base's checked mirror (builder/base.h), or NULL; owned */
    char files_digest[DIGEST_STR_SIZE]; /* the file manifest blob, once written */
    char *guest_disk;             /* the raw disk the guest stage made (in scratch), or NULL; owned */
    int sysprep_verified;         /* the guest stage checked the sysprep post-condition */
    char rootfs_digest[DIGEST_STR_SIZE]; /* the uncompressed rootfs tar, when an oci output stored it */
    uint64_t rootfs_size;
    struct cache *cache;          /* the build cache (builder/cache.h), NULL with --no-cache; owned */
    json_t *cache_pending;        /* entries to list in the cache once published (build-cache.c) */
    json_t *cache_keep;           /* cached states whose strings res->outputs points into */

    /* blobs written but not committed */
    pthread_mutex_t lock;
    struct build_blob { struct store_blob_writer *w; char digest[DIGEST_STR_SIZE]; uint64_t size; } *blobs;
    size_t n_blobs, cap_blobs;
    int closed;                   /* set by build_emergency_cleanup: no more work */
};

/* Records an input for the build record (name, file:// uri, sha256 hex). */
void build_add_input(struct build_ctx *ctx, const char *name, const char *path, const char *sha256);

/* A blob being written into the store's temp area, held until build_commit(). */
struct build_blob_writer;
int build_blob_begin(struct build_ctx *ctx, struct build_blob_writer **out, struct kiln_err *err);
int build_blob_write(struct build_blob_writer *w, const void *data, size_t len, struct kiln_err *err);
/* Finishes: digest_out gets "sha256:<hex>" and size_out the size; the blob is held. */
int build_blob_end(struct build_blob_writer *w, char digest_out[DIGEST_STR_SIZE], uint64_t *size_out,
                   struct kiln_err *err);
void build_blob_cancel(struct build_blob_writer *w);
/* A whole blob from memory (canonical JSON documents). */
int build_blob_put(struct build_ctx *ctx, const void *data, size_t len, char digest_out[DIGEST_STR_SIZE],
                   uint64_t *size_out, struct kiln_err *err);
/* json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) as a held blob. */
int build_blob_put_json(struct build_ctx *ctx, json_t *j, char digest_out[DIGEST_STR_SIZE],
                        uint64_t *size_out, struct kiln_err *err);
/* The file manifest blob for the current tree (written once per build). */
int build_files_blob(struct build_ctx *ctx, struct kiln_err *err);

#endif
