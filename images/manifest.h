/* manifest.h - OCI descriptors, manifests and indexes, parsed and checked;
 * every image media type and annotation key kiln reads or writes, defined
 * once (the signing artifacts' own are in signing/signing.h).
 *
 * Parsing validates what kiln relies on: mediaType where required, digest
 * syntax ("sha256:<hex>"), size >= 0, the shape of config/layers/manifests/
 * subject, and the `dev.kiln.files` annotation's digest.  Documents come
 * from outside (a store, a layout) and are bounded by the caller's read
 * limit (OCI_LAYOUT_DOC_LIMIT, layout.h).  No I/O here. */
#ifndef KILN_IMAGES_MANIFEST_H
#define KILN_IMAGES_MANIFEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define OCI_MT_EMPTY "application/vnd.oci.empty.v1+json"
/* The empty descriptor's content is "{}". */
#define OCI_EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* Layers other tools write (accepted by an `oci:` base). */
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define DOCKER_MT_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"

/* An OCI image layout's marker file, DIR/oci-layout. */
#define OCI_LAYOUT_VERSION "1.0.0"
#define OCI_LAYOUT_JSON "{\"imageLayoutVersion\":\"" OCI_LAYOUT_VERSION "\"}"

#define KILN_MT_FILES "application/vnd.dev.kiln.files.v1+json"
/* Disk images: the layer media types and the artifact types of their manifests. */
#define KILN_MT_QCOW2 "application/vnd.dev.kiln.disk.qcow2"
#define KILN_MT_RAW "application/vnd.dev.kiln.disk.raw"
#define KILN_AT_QCOW2 "application/vnd.dev.kiln.disk.qcow2.v1"
#define KILN_AT_RAW "application/vnd.dev.kiln.disk.raw.v1"
#define KILN_AT_ROOTFS "application/vnd.dev.kiln.rootfs.tar.v1"
/* Signature and provenance types are signing/'s own (signing/signing.h). */

#define OCI_ANN_REF_NAME "org.opencontainers.image.ref.name"
#define OCI_ANN_CREATED "org.opencontainers.image.created"
#define OCI_ANN_TITLE "org.opencontainers.image.title"
#define OCI_ANN_DESCRIPTION "org.opencontainers.image.description"
#define OCI_ANN_PREFIX "org.opencontainers.image."
#define KILN_ANN_NAME "dev.kiln.name"
#define KILN_ANN_VERSION "dev.kiln.version"
#define KILN_ANN_CHANNEL "dev.kiln.channel"
#define KILN_ANN_RECIPE_DIGEST "dev.kiln.recipe.digest"
#define KILN_ANN_SUBJECT "dev.kiln.subject"
#define KILN_ANN_CACHE_KEY "dev.kiln.cache.key"   /* a build cache entry (builder/cache.h) */
#define KILN_ANN_CACHE_STEP "dev.kiln.cache.step"
#define KILN_ANN_FILES "dev.kiln.files"
/* The recipe's drift.ignore patterns, a compact JSON array (fleet/drift.h). */
#define KILN_ANN_DRIFT_IGNORE "dev.kiln.drift.ignore"
#define KILN_ANN_PROMOTED "dev.kiln.promoted"
#define KILN_ANN_SYSPREP "dev.kiln.sysprep"
#define KILN_ANN_DISK_BOOTABLE "dev.kiln.disk.bootable"
#define KILN_ANN_DISK_FIRMWARE "dev.kiln.disk.firmware"       /* "bios", "uefi" or "hybrid" */
#define KILN_ANN_DISK_SECURE_BOOT "dev.kiln.disk.secure-boot" /* "true": Debian's signed chain */
#define KILN_ANN_BOOT_MARKER "dev.kiln.boot-test.marker"
#define KILN_ANN_BOOT_TIMEOUT "dev.kiln.boot-test.timeout"
/* On the extra `REF.oci` entry that names the container image of a
 * multi-output index (for tools without platform selection, such as umoci):
 * the ref.name of the entry it derives from.  Kept in step by the store. */
#define KILN_ANN_CONTAINER_OF "dev.kiln.container-of"
#define KILN_CONTAINER_SUFFIX ".oci"

/* A descriptor.  Embedded: oci_desc_release() frees the members. */
struct oci_desc {
    char *media_type;     /* never NULL after parsing */
    char *digest;         /* "sha256:<hex>", checked */
    int64_t size;         /* >= 0; -1 only for walk entries whose size is not written (files) */
    char *artifact_type;  /* NULL when absent */
    json_t *annotations;  /* an object of strings (own reference), or NULL */
    char *platform_os;    /* index entries: platform.os, NULL when absent */
    char *platform_arch;  /* index entries: platform.architecture, NULL when absent */
};

void oci_desc_release(struct oci_desc *d);
/* A deep copy (caller releases it). */
void oci_desc_copy(struct oci_desc *dst, const struct oci_desc *src);
/* Sorts n descriptors largest first (parallel transfers that start with the
 * largest end together). */
void oci_desc_sort_largest_first(struct oci_desc *v, size_t n);
/* Parses and checks a descriptor object; `what` names it in errors
 * ("layer 2").  On error *out is left empty. */
int oci_desc_parse(json_t *j, const char *what, struct oci_desc *out, struct kiln_err *err);
/* A new JSON object for d (caller owns the reference). */
json_t *oci_desc_to_json(const struct oci_desc *d);
/* A descriptor's annotation value, or NULL. Borrowed from d. */
const char *oci_desc_annotation(const struct oci_desc *d, const char *key);

enum oci_kind { OCI_KIND_MANIFEST = 1, OCI_KIND_INDEX = 2 };

/* A parsed image manifest or image index.  Heap object: oci_manifest_free(). */
struct oci_manifest {
    enum oci_kind kind;
    char *media_type;       /* the document's mediaType (required by kiln) */
    char *artifact_type;    /* NULL when absent */
    struct oci_desc config; /* manifests only (zeroed for an index) */
    struct oci_desc *descs; /* layers (manifest) or manifests (index) */
    size_t n_descs;
    struct oci_desc *subject; /* NULL when absent */
    json_t *annotations;    /* object of strings or NULL */
    char *files_digest;     /* the `dev.kiln.files` annotation, checked, or NULL */
    json_t *json;           /* the whole parsed document (own reference) */
};

/* Parses a manifest or an index from data (len bytes; need not be NUL-terminated).
 * A document with both `manifests` and `layers` or `config` is refused.
 * *out is owned by the caller.  A document with more than OCI_MAX_DESCS layers or
 * manifests is refused. */
#define OCI_MAX_DESCS 4096
int oci_manifest_parse(const void *data, size_t len, struct oci_manifest **out, struct kiln_err *err);
/* The same for a parsed document; takes over the reference to j (also on error). */
int oci_manifest_from_json(json_t *j, struct oci_manifest **out, struct kiln_err *err);
void oci_manifest_free(struct oci_manifest *m);

/* 1 for the manifest and index media types (the ones whose blobs the walk reads). */
int oci_media_type_is_manifest(const char *mt);
int oci_media_type_is_index(const char *mt);

#endif
