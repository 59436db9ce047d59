/* build.h - the build pipeline: recipe -> plan -> tree -> outputs -> store blobs.
 *
 *   plan_make()      recipe -> ordered steps, each with the key of what can change
 *                    its result (builder/plan.h, no I/O)
 *   build_run()      runs the plan's steps in order in a scratch directory, each
 *                    step getting its plan step:
 *                      base (builder/base.h)           -> struct tree (tree/tree.h)
 *                      host steps on the tree (builder/step.h): files, users,
 *                        hostname, files' owners
 *                      guest stage (packages, run, services, debian/disk bases;
 *                        disk layout, disk/disk.h), see below
 *                      files marked after_run (their owners with them), then
 *                        the disk step, which lays the disk out instead of the
 *                        guest stage when there are such files
 *                      outputs (builder/output.h): one per recipe output (oci, tar,
 *                        qcow2, raw), each returning a struct output_desc
 *                      several outputs -> an OCI image index naming them all
 *                    What every stage receives is in builder/ctx.h.
 *                    Every blob is written into the store's temp area and held
 *                    uncommitted: nothing in the store changes until build_publish().
 *   build_publish()  hands the held blobs to publish_image() (signing/publish.h),
 *                    which commits them and lists the image, its provenance and
 *                    its signature in one index.json write; a failed or killed
 *                    build leaves index.json as it was.
 *   build_abort()    removes the held temp blobs and the scratch directory.
 *
 * Cache.  Unless opts->no_cache, build_run() looks the plan's steps up in
 * the build cache in the store (builder/cache.h; the cache points are in
 * builder/build-cache.h): when every output is cached no step runs
 * (build_result.cached), else the build starts from the furthest cached tree
 * and takes each cached output as it is.  A cached result is the one the
 * steps would give: the same digest, the same build record.  The entries of
 * what a build made are listed after build_publish() succeeds; a no-op
 * publish (every output cached, NAME:VERSION naming that digest already, no
 * key, channel or auto version) writes nothing.
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
 * Guest stage.  Recipes that need code run inside the image (packages, run,
 * services, a disk base, a debian base's sysprep: recipe_needs_guest()) or that have a
 * disk output go through the guest step: the tree is written to a plain tar
 * in the scratch directory, disk/disk.h lays out the disk (on the host when
 * nothing runs inside the image, else in one appliance launch) and writes
 * the resulting rootfs to a second tar, which is read back as the tree (as
 * a trusted base: whiteouts refused, devices allowed).
 *
 * Hostile input.  Bases are read through tree/tree.h, which refuses
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
#include <stdint.h>

#include "common/err.h"
#include "images/store.h"
#include "recipes/recipe.h"
#include "tree/tree.h"

struct build_ctx;
struct publish_ref;  /* signing/publish.h */
struct signing_key;  /* signing/signing.h */
struct registry_opts; /* registry/registry.h */

struct build_opts {
    const char *scratch_parent;   /* the scratch directory is created here ($TMPDIR) */
    int has_source_date_epoch;
    int64_t source_date_epoch;
    int has_compression;          /* --compression overrides every oci output */
    enum recipe_compression compression;
    struct tree_limits limits;    /* hostile-input limits for bases */
    const char *cache_dir;        /* for downloaded bases (debian); NULL = none */
    int no_cache;                 /* bypass the build cache (builder/cache.h): no lookup, no entries */
    const char *shared_cache;     /* [http[s]://]REGISTRY/REPO: the shared build cache, or NULL */
    int shared_cache_plain_http;  /* reach it over plain HTTP */
    const struct registry_opts *shared_cache_conn; /* its CA file and credentials (with shared_cache) */
    const char *unchanged_ref;    /* "NAME:VERSION" when build_publish() will publish nothing if it
                                     already names the result (no --sign, --channel, --version auto);
                                     only then may every output come from the cache without the tree
                                     (whose SBOMs a new image needs); NULL otherwise */
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

struct build_result {
    struct build_ctx *ctx;        /* owned */
    char digest[DIGEST_STR_SIZE]; /* what NAME:VERSION names: the manifest, or the index */
    const char *media_type;
    const char *artifact_type;    /* of a single artifact output, else NULL */
    uint64_t size;
    struct output_desc *outputs;  /* owned, n_outputs */
    size_t n_outputs;
    json_t *record;               /* the build record (own reference) */
    int cached;                   /* every output came from the build cache */
    json_t *sbom_spdx, *sbom_cyclonedx; /* the SBOMs of the tree (own references) */
};

/* Runs the whole pipeline up to held blobs.  On failure everything is
 * already cleaned up.  res is filled on success: build_result_release(). */
int build_run(const struct recipe *r, struct store *st, const struct build_opts *opts,
              struct build_result *res, struct kiln_err *err);
/* Publishes the finished build under ref (name, version or auto, channel,
 * force) into the store it was built in, with its provenance, its SBOMs
 * (SPDX and CycloneDX attestations) and, when key
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

#endif
