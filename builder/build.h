/* build.h - the build pipeline: recipe -> plan -> tree -> outputs -> store blobs.
 *
 *   plan_make()      recipe -> ordered steps with content hashes (builder/plan.h, no I/O)
 *   build_run()      runs the plan in a scratch directory:
 *                      base (scratch | tarball | directory | oci)  -> struct tree
 *                      host steps on the tree: files, users, hostname, files' owners
 *                      guest stage (packages, run, services, debian/disk bases), see below
 *                      outputs: one output_*_run() per recipe output (oci, tar; qcow2/raw
 *                      plug in the same way), each returning a struct output_desc
 *                      several outputs -> an OCI image index naming them all
 *                    Every blob is written into the store's temp area and held
 *                    uncommitted: nothing in the store changes until build_publish().
 *   build_publish()  hands the held blobs to publish_image() (signing/publish.h),
 *                    which commits them and lists the image, its provenance and
 *                    its signature in one index.json write; a failed or killed
 *                    build leaves index.json as it was.
 *   build_abort()    removes the held temp blobs and the scratch directory.
 *
 * Reproducibility.  SOURCE_DATE_EPOCH is opts->source_date_epoch when set
 * (the CLI takes $SOURCE_DATE_EPOCH), else derived from the inputs: for a
 * base whose bytes are pinned (tarball, OCI image, disk, bootstrapped Debian)
 * the newest mtime found in that base, which the same base always gives
 * again; for scratch and directory bases (whose mtimes are the checkout's,
 * not the content's) 0, 1970-01-01T00:00:00Z.  The wall clock and host file
 * mtimes never count.  It is the config's `created`, the mtime of every
 * entry kiln creates, and the clamp for every mtime written (newer ones are
 * lowered to it).  Layers are written sorted by path with numeric owners and
 * no atime/ctime; gzip headers carry no name and no time; zstd runs with a
 * fixed worker count (its output does not depend on scheduling).  The same
 * recipe and inputs therefore give the same manifest digest on any day.
 *
 * Layers.  An OCI output is one layer holding the whole tree (an OCI base is
 * flattened: its layers applied in order, whiteouts resolved; its layers are
 * not reused as they are, because their diff_ids could not be checked without
 * a second read).  gzip layers use zlib level 4 on two threads; a tar output
 * next to an oci output is stored from the same pass.  The base
 * image's config (Env, Entrypoint, Cmd, WorkingDir, User, ExposedPorts,
 * Labels) is inherited; the recipe's `container` and `labels` override it.
 *
 * Guest stage hook.  Recipes that need code run inside the image (packages,
 * run, services, debian or disk bases: recipe_needs_guest()) go through
 * opts->guest: the tree is written to IN_TAR (a plain tar in the scratch
 * directory), the hook runs the guest steps and writes the resulting rootfs to
 * OUT_TAR, which is read back as the tree (as a trusted base: whiteouts
 * refused, devices allowed).  With no hook, such recipes fail with
 * KILN_EFAIL and a message saying the in-guest builder is not available.
 *
 * Hostile input.  Bases are read through builder/tree.h, which refuses
 * escaping paths, writes through symlinks, bad hard links, whiteout names
 * outside OCI layers, malformed whiteouts, device nodes other than null, zero, full, random,
 * urandom, tty, console and ptmx (unless
 * $KILN_ALLOW_DEVICES=1) and more than $KILN_MAX_ENTRIES entries or
 * $KILN_MAX_EXPANDED_BYTES of content (defaults in tree.h); OCI bases have
 * every blob's digest and size checked.  All of these are KILN_EINVAL.
 *
 * Ownership: struct build_ctx is owned by build_run's caller through
 * build_result (build_result_release()). */
#ifndef KILN_BUILD_H
#define KILN_BUILD_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "builder/tree.h"
#include "common/err.h"
#include "images/store.h"
#include "recipes/recipe.h"

struct build_ctx;
struct publish_ref;  /* signing/publish.h */
struct signing_key;  /* signing/signing.h */

/* Runs the guest steps of the recipe on the rootfs in in_tar, writing the new
 * rootfs to out_tar.  It may call build_add_input() for what it downloads. */
typedef int (*build_guest_fn)(struct build_ctx *ctx, const char *in_tar, const char *out_tar,
                              struct kiln_err *err);

struct build_opts {
    const char *scratch_parent;   /* the scratch directory is created here ($TMPDIR) */
    int has_source_date_epoch;
    int64_t source_date_epoch;
    int has_compression;          /* --compression overrides every oci output */
    enum recipe_compression compression;
    struct tree_limits limits;    /* hostile-input limits for bases */
    build_guest_fn guest;         /* NULL: guest recipes are refused */
    const char *cache_dir;        /* for downloaded bases (debian); NULL = none */
};

/* One stored output, as the output_*_run functions describe it. */
struct output_desc {
    enum recipe_output_type type;
    const char *media_type;       /* OCI_MT_MANIFEST */
    const char *artifact_type;    /* NULL for the container image */
    const char *content_media_type; /* the layer / payload media type */
    char digest[DIGEST_STR_SIZE]; /* of its manifest */
    uint64_t size;                /* of its manifest */
    uint64_t content_size;        /* bytes of its layers / payload */
};

struct build_ctx {
    const struct recipe *recipe;
    const struct build_opts *opts;
    struct store *store;
    struct tree *tree;
    char *scratch;                /* owned; removed by build_abort/build_result_release */
    int64_t sde;
    json_t *inputs;               /* build record inputs (array) */
    json_t *base_config;          /* the OCI base's config object, or NULL */
    char files_digest[DIGEST_STR_SIZE]; /* the file manifest blob, once written */
    char *guest_disk;             /* the raw disk the guest stage made (in scratch), or NULL; owned */
    int sysprep_verified;         /* the guest stage checked the sysprep post-condition */
    char rootfs_digest[DIGEST_STR_SIZE]; /* the uncompressed rootfs tar, when an oci output stored it */
    uint64_t rootfs_size;

    /* blobs written but not committed */
    pthread_mutex_t lock;
    struct build_blob { struct store_blob_writer *w; char digest[DIGEST_STR_SIZE]; uint64_t size; } *blobs;
    size_t n_blobs, cap_blobs;
    int closed;                   /* set by build_emergency_cleanup: no more work */
};

struct build_result {
    struct build_ctx *ctx;        /* owned */
    char digest[DIGEST_STR_SIZE]; /* what NAME:VERSION names: the manifest, or the index */
    const char *media_type;
    const char *artifact_type;    /* of a single artifact output, else NULL */
    uint64_t size;
    struct output_desc *outputs;  /* owned, n_outputs */
    size_t n_outputs;
    json_t *record;               /* the build record (own reference) */
};

/* Runs the whole pipeline up to held blobs.  On failure everything is
 * already cleaned up.  res is filled on success: build_result_release(). */
int build_run(const struct recipe *r, struct store *st, const struct build_opts *opts,
              struct build_result *res, struct kiln_err *err);
/* Publishes the finished build under ref (name, version or auto, channel,
 * force) into the store it was built in, with its provenance and, when key
 * is not NULL, its signature: publish_image() with the held blobs, the
 * manifest or index and the build record.  An interrupt (build_emergency_cleanup())
 * waits until it returns, so the image is then either whole or absent.
 * version_out (may be NULL) gets the version stored, caller-owned. */
int build_publish(struct build_result *res, const struct publish_ref *ref, const struct signing_key *key,
                  char **version_out, struct kiln_err *err);
/* Aborts held blobs (if any) and removes the scratch directory; frees res. */
void build_result_release(struct build_result *res);
/* For a signal-handling thread: removes the held temp blobs and the scratch
 * directory of the build in progress (if any) and stops further commits. */
void build_emergency_cleanup(void);

/* --- for the step and output files ----------------------------------------- */

/* Records an input for the build record (name, file:// uri, sha256 hex). */
void build_add_input(struct build_ctx *ctx, const char *name, const char *path, const char *sha256);

/* A blob being written into the store's temp area, held until build_publish(). */
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
/* The deterministic manifest annotations of an output: org.opencontainers.image.*
 * labels, created (= SOURCE_DATE_EPOCH), description, dev.kiln.files.  New reference. */
json_t *output_annotations(struct build_ctx *ctx);
/* RFC 3339 UTC for t into out (at least 32 bytes). */
void build_rfc3339(int64_t t, char *out, size_t n);

/* Bases (base-*.c) and host steps (step-*.c). */
int base_scratch_run(struct build_ctx *ctx, struct kiln_err *err);
int base_tarball_run(struct build_ctx *ctx, struct kiln_err *err);
int base_directory_run(struct build_ctx *ctx, struct kiln_err *err);
int base_oci_run(struct build_ctx *ctx, struct kiln_err *err);
int step_files_run(struct build_ctx *ctx, struct kiln_err *err);
int step_users_run(struct build_ctx *ctx, struct kiln_err *err);
int step_hostname_run(struct build_ctx *ctx, struct kiln_err *err);
/* Applies the files' owners (after users, so recipe users can own files). */
int step_owners_run(struct build_ctx *ctx, struct kiln_err *err);

/* Outputs (output-*.c): write the tree's output, store its blobs (held) and
 * describe its manifest in *out.  qcow2/raw are added with the same signature. */
typedef int (*output_fn)(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                         struct kiln_err *err);
int output_oci_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                   struct kiln_err *err);
int output_tar_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                   struct kiln_err *err);

#endif
