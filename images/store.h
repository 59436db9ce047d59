/* store.h - kiln's content store: an OCI image layout with refs and gc.
 *
 * Layout (readable by skopeo `oci:DIR:NAME:VERSION` and umoci):
 *   DIR/oci-layout            {"imageLayoutVersion":"1.0.0"}
 *   DIR/index.json            the only mutable file: image refs, channels, referrers
 *   DIR/blobs/sha256/<hex>    immutable blobs, named by the SHA-256 of their content
 *   DIR/.kiln/tmp/            blobs being written (same file system, renamed in)
 *   DIR/.kiln/index.lock      flock: serialises read-modify-write of index.json
 *   DIR/.kiln/gc.lock         flock: writers hold it shared, gc exclusive
 *
 * Write discipline: temp file -> fsync -> rename -> fsync the directory, for
 * blobs and for index.json.  A reader sees the old index.json or the new one;
 * index.json only ever names blobs that are already durable.
 *
 * index.json entries:
 *   image      ref.name "NAME:VERSION", dev.kiln.name, dev.kiln.version,
 *              dev.kiln.recipe.digest (when known), org.opencontainers.image.created,
 *              plus the image's extra annotations
 *   channel    ref.name "NAME:CHANNEL", dev.kiln.channel, dev.kiln.name, dev.kiln.version
 *              (the version it points at), same digest as that version
 *   referrer   dev.kiln.subject = the image digest (signatures, attestations); no ref.name
 *
 * Reading goes through layout.h (the store is one OCI image layout among
 * others); gc is in gc.h.
 *
 * Concurrency: a handle opened with STORE_WRITE (or STORE_CREATE) holds
 * .kiln/gc.lock shared from store_open() until store_close(), so gc (which
 * takes it exclusively, waiting for writers) never deletes a blob that a live
 * writer wrote but has not yet added to index.json.  One process should not
 * call store_gc() while holding a second write handle on the same store.
 *
 * Ownership: every char * and struct returned through an out-parameter is
 * owned by the caller and freed with the matching *_free().  Strings passed in
 * are borrowed (copied when kept).  All functions take `err` last and return
 * 0 or a negative KILN_E* code. */
#ifndef KILN_IMAGES_STORE_H
#define KILN_IMAGES_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "images/layout.h"
#include "images/manifest.h"
#include "images/ref.h"

/* Limits on what the store reads. */
#define STORE_MANIFEST_LIMIT OCI_LAYOUT_DOC_LIMIT /* a manifest, index or config blob */
#define STORE_INDEX_LIMIT OCI_LAYOUT_INDEX_LIMIT  /* index.json */
#define STORE_FILES_LIMIT OCI_LAYOUT_FILES_LIMIT  /* a dev.kiln.files file manifest */

struct store;              /* opaque handle */
struct store_blob_writer;  /* opaque: one blob being written */

enum store_open_flags {
    STORE_CREATE = 1 << 0, /* create the layout if DIR is missing or empty (implies STORE_WRITE) */
    STORE_WRITE = 1 << 1,  /* writes allowed; holds the gc lock shared until close */
};

/* Opens the store at dir.  Without STORE_CREATE a missing store is
 * KILN_ENOTFOUND (so is an empty directory, or one whose creation was
 * interrupted: oci-layout is written last; STORE_CREATE finishes it).  A
 * directory that exists but is not an OCI image layout is refused
 * (KILN_EINVAL), also with STORE_CREATE.  A read-only handle (flags 0) takes no locks and
 * refuses every write.  *out is owned by the caller: store_close(). */
int store_open(const char *dir, int flags, struct store **out, struct kiln_err *err);
/* Releases the locks and frees st (NULL is fine). */
void store_close(struct store *st);
/* The directory given to store_open (borrowed from st). */
const char *store_dir(const struct store *st);
/* The store read as any OCI image layout (borrowed from st): resolve,
 * platforms, referrers and file manifests go through layout.h. */
const struct oci_layout *store_layout(const struct store *st);

/* ---- blobs ------------------------------------------------------------- */

/* Starts a blob: a temp file in DIR/.kiln/tmp.  *out is owned by the caller
 * until store_blob_commit() or store_blob_abort(), which free it. */
int store_blob_begin(struct store *st, struct store_blob_writer **out, struct kiln_err *err);
/* Appends data, hashing as it goes. */
int store_blob_write(struct store_blob_writer *w, const void *data, size_t len, struct kiln_err *err);
/* The digest ("sha256:<hex>") and size of what store_blob_write() appended
 * so far, from its running hash: a caller that must check the content before
 * it keeps it (a download) hashes it once, here.  Nothing can be appended
 * after it; store_blob_commit() reuses the digest.  size may be NULL. */
void store_blob_sum(struct store_blob_writer *w, char digest_out[DIGEST_STR_SIZE], uint64_t *size);
/* The temp file's descriptor, for a writer (libarchive) that writes to it
 * directly; borrowed, do not close it.  After this, commit re-hashes the file
 * from the start instead of using the running hash; do not mix with
 * store_blob_write(). */
int store_blob_fd(struct store_blob_writer *w);
/* The temp file's path (borrowed from w). */
const char *store_blob_tmp_path(const struct store_blob_writer *w);
/* fsyncs, computes the digest, checks it against expected_digest (may be
 * NULL; mismatch is KILN_EVERIFY), renames the blob into blobs/sha256/ and
 * fsyncs the directory (if the blob exists already the temp file is dropped).
 * digest_out (may be NULL) gets "sha256:<hex>", size_out (may be NULL) the
 * size.  Frees w in every case. */
int store_blob_commit(struct store_blob_writer *w, const char *expected_digest,
                      char digest_out[DIGEST_STR_SIZE], uint64_t *size_out, struct kiln_err *err);
/* Removes the temp file and frees w (NULL is fine). */
void store_blob_abort(struct store_blob_writer *w);

/* Stores len bytes as a blob. */
int store_blob_put(struct store *st, const void *data, size_t len, char digest_out[DIGEST_STR_SIZE],
                   struct kiln_err *err);
/* Copies the file at path into the store (streamed). */
int store_blob_put_file(struct store *st, const char *path, char digest_out[DIGEST_STR_SIZE],
                        uint64_t *size_out, struct kiln_err *err);

/* The path of a blob, owned by the caller; NULL if digest is not a valid
 * "sha256:<hex>" (a path is never built from an unchecked string).  The
 * blob need not exist. */
char *store_blob_path(const struct store *st, const char *digest);
/* 1 if the blob exists (a regular file), 0 if not or digest is invalid. */
int store_blob_exists(const struct store *st, const char *digest);
/* Opens a blob for streamed reading: *fd (caller closes it) and *size.  The
 * content is NOT verified: hash it as you read, or call store_blob_verify(). */
int store_blob_open(const struct store *st, const char *digest, int *fd, uint64_t *size,
                    struct kiln_err *err);
/* Reads a whole blob into out (appended; out's own limit is replaced by
 * limit) and verifies its digest (KILN_EVERIFY on mismatch).  limit 0 means
 * STORE_MANIFEST_LIMIT; a larger blob is KILN_EINVAL. */
int store_blob_read(const struct store *st, const char *digest, size_t limit, struct buf *out,
                    struct kiln_err *err);
/* Re-hashes a blob in constant memory; KILN_EVERIFY naming the blob when the
 * content or (expected_size >= 0) the size does not match; KILN_ENOTFOUND when
 * it is missing. */
int store_blob_verify(const struct store *st, const char *digest, int64_t expected_size,
                      struct kiln_err *err);

/* Reads, verifies (digest, and size when expected_size >= 0) and parses a
 * manifest or index blob, capped at STORE_MANIFEST_LIMIT.  *out: oci_manifest_free(). */
int store_manifest_read(const struct store *st, const char *digest, int64_t expected_size,
                        struct oci_manifest **out, struct kiln_err *err);

/* ---- walking an image's closure ---------------------------------------- */

/* Called once per distinct blob reachable from the root, parents before
 * children: the root itself, manifests in an index, each manifest's config,
 * layers, subject and `dev.kiln.files` blob (size -1: not written in the
 * manifest).  `parent` is NULL for the root.  Return 0 to go on, a negative
 * code to stop the walk with that code (set err yourself), 1 to not descend
 * into this descriptor (for manifests/indexes). */
typedef int (*store_walk_fn)(const struct oci_desc *d, const struct oci_desc *parent, void *ud,
                             struct kiln_err *err);

enum store_walk_flags {
    STORE_WALK_SUBJECT = 1 << 0, /* also follow `subject` (gc does; export of an image does not need to) */
};

/* Walks from root (its size/mediaType as listed in index.json).  Manifests
 * and indexes are read with store_manifest_read() (verified); other blobs are
 * only passed to fn.  A missing manifest is KILN_ENOTFOUND naming it. Nesting
 * deeper than 8 levels is refused. */
int store_walk(const struct store *st, const struct oci_desc *root, int flags, store_walk_fn fn,
               void *ud, struct kiln_err *err);

/* ---- images, refs, versions, channels ---------------------------------- */

/* An image as stored in index.json.  Heap object: store_image_free(). */
struct store_image {
    char *name;
    char *version;
    char *digest;          /* of the manifest or index */
    char *media_type;      /* OCI_MT_MANIFEST or OCI_MT_INDEX */
    uint64_t size;         /* of the manifest or index; 0 on add = take it from the blob */
    char *artifact_type;   /* optional */
    char *recipe_digest;   /* "sha256:<hex>" of the recipe, optional (bare hex is accepted on add) */
    char *created;         /* RFC 3339 UTC; NULL on add = now */
    char *channel;         /* on add: also point this channel at the new version; optional */
    char **channels;       /* from resolve/list: NULL-terminated channels pointing at this version */
    json_t *annotations;   /* extra entry annotations (object of strings), optional; own reference */
    time_t now;            /* on add: the clock for `created` and auto versions; 0 = time(NULL) */
};

/* Frees img and everything it holds (NULL is fine). */
void store_image_free(struct store_image *img);
/* Frees a vector of n images and the vector (NULL is fine). */
void store_image_list_free(struct store_image **v, size_t n);

enum store_add_flags {
    STORE_ADD_FORCE = 1 << 0,        /* replace NAME:VERSION even if it has another digest */
    STORE_ADD_AUTO_VERSION = 1 << 1, /* img->version is a base MAJOR.MINOR.PATCH: store as
                                        BASE-nightly.YYYYMMDD.N, allocated under the index lock */
};

/* Adds NAME:VERSION -> digest to index.json, under the exclusive index lock
 * (re-read inside the lock, replaced atomically).  The manifest/index blob
 * and every blob it reaches must be in the store (checked).  A version is
 * immutable: the same NAME:VERSION with another digest is KILN_EEXIST
 * ("image 'x:1.0.0' exists with digest ...; use --force to replace it")
 * unless STORE_ADD_FORCE; the same digest again is a no-op success.
 * version_out (may be NULL) gets the version stored (caller-owned), which
 * differs from img->version with STORE_ADD_AUTO_VERSION. */
int store_image_add(struct store *st, const struct store_image *img, int flags, char **version_out,
                    struct kiln_err *err);

/* The checks store_image_add() makes before any I/O: name, version (with
 * STORE_ADD_AUTO_VERSION a MAJOR.MINOR.PATCH base), channel, recipe digest and
 * media type (each when given).  KILN_EINVAL naming the bad value. */
int store_image_check(const struct store_image *img, int flags, struct kiln_err *err);

/* The auto version that an add at `now` would get next: "BASE-nightly.YYYYMMDD.N",
 * N = 1 + the highest N stored for NAME and BASE that UTC day.  Informational
 * only (not reserved): use STORE_ADD_AUTO_VERSION to allocate one.  *out is
 * caller-owned. */
int store_next_auto_version(struct store *st, const char *name, const char *base, time_t now,
                            char **out, struct kiln_err *err);

/* Points NAME:CHANNEL at NAME:VERSION (which must exist); promotion and
 * rollback are the same call.  Pointing it where it already points is a no-op. */
int store_channel_set(struct store *st, const char *name, const char *channel, const char *version,
                      struct kiln_err *err);

/* Resolves NAME (highest semver version, prereleases included), NAME:VERSION,
 * NAME:CHANNEL or NAME@sha256:<hex> (the highest version with that digest).
 * KILN_ENOTFOUND with a message naming the ref otherwise; KILN_EINVAL for a
 * malformed ref.  *out: store_image_free(). */
int store_resolve(struct store *st, const char *ref, struct store_image **out, struct kiln_err *err);

/* Lists images (not channel entries; each image lists its channels), sorted
 * by name then semver ascending; name may be NULL for all.  *out is a vector
 * of *n images: store_image_list_free(). */
int store_list(struct store *st, const char *name, struct store_image ***out, size_t *n,
               struct kiln_err *err);

enum store_rm_flags {
    STORE_RM_FORCE = 1 << 0, /* also remove channels that point at the version */
};

/* Removes REF from index.json:
 *   NAME:VERSION  the version; refused (KILN_EFAIL naming the channel) while a
 *                 channel points at it, unless STORE_RM_FORCE, which removes those
 *                 channel entries too
 *   NAME:CHANNEL  only the channel pointer
 *   NAME@DIGEST   every version of NAME with that digest (same channel rule)
 * A bare NAME is refused.  Referrer entries whose subject no longer has any
 * image entry are removed as well.  Blobs stay until store_gc(). */
int store_rm(struct store *st, const char *ref, int flags, struct kiln_err *err);

/* ---- referrers (signatures, attestations) ------------------------------ */

/* Lists manifest_digest in index.json as an artifact whose subject is
 * subject_digest (annotation dev.kiln.subject; no ref.name).  The manifest
 * blob and everything it reaches must be in the store, subject_digest must be
 * listed (KILN_ENOTFOUND), and a manifest with a `subject` must name
 * subject_digest (KILN_EINVAL).  artifact_type and annotations (object of
 * strings; borrowed) may be NULL; size 0 = take it from the blob.  Adding the
 * same manifest again is a no-op. */
int store_referrer_add(struct store *st, const char *subject_digest, const char *manifest_digest,
                       const char *media_type, const char *artifact_type, uint64_t size,
                       json_t *annotations, struct kiln_err *err);

/* The referrers of subject_digest, optionally only those of artifact_type
 * (NULL = all), in index.json order (oci_layout_referrers() on the store's
 * layout).  *out is a vector of *n descriptors: oci_desc_list_free(). */
int store_referrers(struct store *st, const char *subject_digest, const char *artifact_type,
                    struct oci_desc **out, size_t *n, struct kiln_err *err);

/* ---- several changes, one index.json write ----------------------------- */

/* A transaction holds the exclusive index lock from store_txn_begin() (which
 * reads index.json inside it) to store_txn_commit() (one atomic write of
 * everything added, none when nothing changed) or store_txn_abort() (nothing
 * written).  Each add makes exactly the checks of its single-shot twin above
 * and sees what the transaction added before it (a referrer of an image added
 * in the same transaction).  After a failed add, the caller aborts.  Other
 * writers of the store wait while a transaction is open: keep it short. */
struct store_txn;

/* *out is owned by the caller until commit or abort, which free it. */
int store_txn_begin(struct store *st, struct store_txn **out, struct kiln_err *err);
/* store_image_add() inside t. */
int store_txn_add_image(struct store_txn *t, const struct store_image *img, int flags, char **version_out,
                        struct kiln_err *err);
/* store_referrer_add() inside t. */
int store_txn_add_referrer(struct store_txn *t, const char *subject_digest, const char *manifest_digest,
                           const char *media_type, const char *artifact_type, uint64_t size,
                           json_t *annotations, struct kiln_err *err);
/* Writes index.json once, releases the lock and frees t (also on failure,
 * when index.json is left as it was). */
int store_txn_commit(struct store_txn *t, struct kiln_err *err);
/* Releases the lock and frees t without writing (NULL is fine). */
void store_txn_abort(struct store_txn *t);

/* ---- build cache entries ----------------------------------------------- */

/* A build cache entry (builder/cache.h) is an index.json entry naming an OCI
 * index blob, annotated with dev.kiln.cache.key = key (64 hex) and no
 * ref.name, so gc keeps everything it reaches.  Lists index_digest under key
 * (replacing an entry of the same key) after checking that every blob it
 * reaches is in the store; annotations (object of strings, borrowed, may be
 * NULL) are added to the entry. */
int store_txn_put_cache(struct store_txn *t, const char *key, const char *index_digest, json_t *annotations,
                        struct kiln_err *err);
/* Removes the entry listed under key, if any (*removed, may be NULL, says
 * whether one was). */
int store_txn_drop_cache(struct store_txn *t, const char *key, int *removed, struct kiln_err *err);

/* ---- index.json, raw --------------------------------------------------- */

/* Reads and checks index.json (capped at STORE_INDEX_LIMIT): a new
 * reference for the caller.  For readers that need the raw entries (export). */
int store_index_read(const struct store *st, json_t **out, struct kiln_err *err);

#endif
