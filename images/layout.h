/* layout.h - reading any OCI image layout directory.
 *
 * One read API for every layout kiln meets: the store (store_layout()), an
 * exported layout (`kiln verify --layout`), an `oci:` base, later a
 * registry's answer written to disk.
 *
 *   DIR/oci-layout           {"imageLayoutVersion":"1.0.0"}, checked on open
 *   DIR/index.json           an image index, at most OCI_LAYOUT_INDEX_LIMIT bytes
 *   DIR/blobs/sha256/<hex>   blobs; a path is only ever built from a checked digest
 *
 * Everything read is verified: a blob's content must hash to its digest and,
 * when the descriptor gives one, have its size.  Manifests and indexes are
 * capped at OCI_LAYOUT_DOC_LIMIT, file manifests at OCI_LAYOUT_FILES_LIMIT.
 * Documents written by other tools may leave out the optional mediaType; it is
 * taken from the document's shape, and a document with both `manifests` and
 * `layers` (or `config`) is refused.
 *
 * References (oci_index_resolve), in the ref.name forms kiln writes:
 *   NAME:VERSION       the entry whose org.opencontainers.image.ref.name is
 *                      exactly that, else one whose ref.name is VERSION alone
 *                      (a tag, as other tools write it)
 *   TAG                an entry whose ref.name is TAG
 *   [NAME]@sha256:HEX  the first entry with that digest (and, with NAME, that
 *                      dev.kiln.name or a ref.name "NAME:...")
 *   sha256:HEX         the first entry with that digest
 *
 * Errors: a missing thing is KILN_ENOTFOUND, a malformed layout, document or
 * reference KILN_EINVAL, a blob whose content or size does not match its
 * descriptor KILN_EVERIFY; every message names the layout and the blob.
 *
 * Ownership: out-parameters are owned by the caller (free with the matching
 * *_free / *_release); borrowed pointers are marked.  Nothing here writes. */
#ifndef KILN_IMAGES_LAYOUT_H
#define KILN_IMAGES_LAYOUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "images/manifest.h"

#define OCI_LAYOUT_DOC_LIMIT (4u << 20)     /* a manifest, index or config blob */
#define OCI_LAYOUT_INDEX_LIMIT (64u << 20)  /* index.json (the store lists many images) */
#define OCI_LAYOUT_FILES_LIMIT (256u << 20) /* a dev.kiln.files file manifest */

/* The platform kiln builds for and picks by default. */
#define OCI_DEFAULT_OS "linux"
#define OCI_DEFAULT_ARCH "amd64"

struct oci_layout; /* opaque: one layout directory */

/* Opens the layout at dir: dir/oci-layout must say imageLayoutVersion 1.0.0
 * (KILN_EINVAL otherwise, KILN_ENOTFOUND when dir does not exist).
 * *out: oci_layout_close(). */
int oci_layout_open(const char *dir, struct oci_layout **out, struct kiln_err *err);
void oci_layout_close(struct oci_layout *l);
/* The directory given to oci_layout_open (borrowed). */
const char *oci_layout_dir(const struct oci_layout *l);

/* ---- index.json -------------------------------------------------------- */

/* index.json, typed.  Heap object: oci_index_free(). */
struct oci_index {
    struct oci_desc *manifests; /* every entry, checked (media type, digest, size, annotations) */
    size_t n_manifests;
    json_t *annotations;        /* the index's own annotations, or NULL */
    json_t *json;               /* the whole document (own reference), for writers that edit it */
};

/* Reads and checks index.json (schemaVersion 2, an index mediaType when
 * given, a `manifests` array of valid descriptors, no `layers` or `config`;
 * at most OCI_LAYOUT_INDEX_LIMIT bytes, any number of entries). */
int oci_layout_index(const struct oci_layout *l, struct oci_index **out, struct kiln_err *err);
void oci_index_free(struct oci_index *ix);

/* Finds ref (forms above) among the entries; *out is borrowed from ix.
 * KILN_ENOTFOUND naming ref when nothing matches; KILN_EINVAL for a digest
 * that is not sha256:<64 lowercase hex>. */
int oci_index_resolve(const struct oci_index *ix, const char *ref, const struct oci_desc **out,
                      struct kiln_err *err);

/* Picks the image manifest for os/arch out of n descriptors (an index's
 * manifests): the first with the manifest media type, no artifactType and
 * that platform.  os NULL = any platform.  *out is borrowed; KILN_ENOTFOUND
 * saying which platform is missing. */
int oci_descs_pick_platform(const struct oci_desc *descs, size_t n, const char *os, const char *arch,
                            const struct oci_desc **out, struct kiln_err *err);

/* ---- blobs ------------------------------------------------------------- */

/* The path of a blob; NULL when digest is not sha256:<64 lowercase hex>.
 * Caller-owned.  The blob need not exist. */
char *oci_layout_blob_path(const struct oci_layout *l, const char *digest);
/* Opens a blob (a regular file, symlinks refused) for streamed reading: *fd
 * (caller closes it) and *size.  NOT verified: hash it as you read. */
int oci_layout_blob_open(const struct oci_layout *l, const char *digest, int *fd, uint64_t *size,
                         struct kiln_err *err);
/* Appends a whole blob to out (out's limit is replaced; limit 0 means
 * OCI_LAYOUT_DOC_LIMIT, a larger blob is KILN_EINVAL) and verifies its digest
 * and, when size >= 0, its size. */
int oci_layout_blob_read(const struct oci_layout *l, const char *digest, int64_t size, size_t limit,
                         struct buf *out, struct kiln_err *err);
/* Reads, verifies and parses a manifest or index blob (oci_manifest_parse,
 * mediaType taken from the shape when absent).  *out: oci_manifest_free(). */
int oci_layout_manifest_read(const struct oci_layout *l, const char *digest, int64_t size,
                             struct oci_manifest **out, struct kiln_err *err);

/* ---- images ------------------------------------------------------------ */

/* Resolves ref in index.json and follows indexes (at most 2 levels) to the
 * image manifest for os/arch (NULL = OCI_DEFAULT_OS/ARCH).  *desc_out gets a
 * copy of that manifest's descriptor (oci_desc_release), *out the parsed
 * manifest; either may be NULL. */
int oci_layout_resolve_image(const struct oci_layout *l, const char *ref, const char *os, const char *arch,
                             struct oci_desc *desc_out, struct oci_manifest **out, struct kiln_err *err);

/* The referrers of subject: entries of ix whose dev.kiln.subject annotation
 * is subject (kiln's referrer records), and untagged manifest entries whose
 * `subject` field names it (read and verified).  An entry without
 * artifactType gets its manifest's (artifactType, else config mediaType, as
 * the OCI referrers API says); it stays NULL only when that manifest does not
 * read.  artifact_type (NULL = all) then filters.  In index order; *out is a vector
 * of *n copies: oci_desc_list_free(). */
int oci_layout_referrers(const struct oci_layout *l, const struct oci_index *ix, const char *subject,
                         const char *artifact_type, struct oci_desc **out, size_t *n, struct kiln_err *err);
void oci_desc_list_free(struct oci_desc *v, size_t n);

/* The image's file manifest (the dev.kiln.files annotation): on image's own
 * manifest or index, else, for an index, on its linux/amd64 (else any) image
 * manifest.  Read, verified, capped at OCI_LAYOUT_FILES_LIMIT; it must have a
 * "files" array.  *out is a new reference, NULL (and 0 returned) when the
 * image has no file manifest. */
int oci_layout_image_files(const struct oci_layout *l, const struct oci_desc *image, json_t **out,
                           struct kiln_err *err);

#endif
