/* export.h - write an image out of the store in another format.
 *
 * export_run() resolves REF in the store, loads what every format needs
 * (the descriptor NAME:VERSION points at, its manifest or index, the
 * container image manifest and config, the referrers) into a struct
 * export_source, and hands it to one writer from export_formats[].
 *
 * A writer creates exactly one new file or directory at `tmp`, a fresh
 * path in the output's directory; export_run() then renames it over the
 * output, so a reader never sees a half-written export and a failed
 * export leaves nothing behind.  An existing non-empty output is refused
 * unless opts->force.
 *
 * Formats (one writer each, in export-<format>.c):
 *   oci             an OCI image layout directory with the image's closure and
 *                   every referrer (signatures, attestations) whose subject is
 *                   in it; index.json names the image "NAME:VERSION"
 *   oci-archive     the same layout as one tar
 *   docker-archive  a `docker load`-able tar (manifest.json, <hex>.json config,
 *                   <diff_id>/layer.tar uncompressed layers)
 *   tar             the flattened root file system (layers applied in order,
 *                   whiteouts honoured) as one tar
 * Every tar written is deterministic: entries in a fixed order, fixed owners
 * and times, so the same image always exports to the same bytes. */
#ifndef KILN_EXPORT_H
#define KILN_EXPORT_H

#include <jansson.h>
#include <stdint.h>

#include "common/err.h"
#include "common/hash.h"

/* Limits on what we read from the store. */
#define EXPORT_MAX_JSON (4u << 20)          /* a manifest, index or config */
#define EXPORT_MAX_FILES_JSON (256u << 20)  /* a file manifest */

/* The resolved image.  Every member is owned by the source and freed by
 * export_source_free(); writers only read it. */
struct store;
struct export_source {
    struct store *st;     /* the store, opened read-only */
    char *store;          /* its directory */
    char *ref;            /* REF as the user gave it */
    char *ref_name;       /* "NAME:VERSION" of the image */
    char *name, *version; /* its parts */
    char *channel;        /* the channel REF named, or NULL */
    json_t *top;          /* descriptor of the image as index.json lists NAME:VERSION
                             (mediaType, digest, size[, artifactType], annotations) */
    json_t *top_doc;      /* that manifest or index, parsed */
    char *image_digest;   /* the container image manifest: the top one, or the index's
                             linux/amd64 image; NULL when there is none */
    json_t *image;        /* that manifest, parsed; NULL when none */
    json_t *config;       /* its config, parsed; NULL when none */
    json_t *referrers;    /* index.json descriptors whose dev.kiln.subject is in the closure */
    char **closure;       /* every blob digest to copy, sorted, unique, NULL-terminated */
    int64_t created;      /* the image's creation time (config "created"), 0 when unknown;
                             used as the mtime of every entry of a layout tar */
};

/* Loads REF from the store.  *out is owned by the caller (export_source_free). */
int export_source_load(const char *store, const char *ref, struct export_source **out,
                       struct kiln_err *err);
void export_source_free(struct export_source *s);

/* The path of blob `digest` ("sha256:<hex>") in the store; caller-owned. */
char *export_blob_path(const struct export_source *s, const char *digest);

/* Opens blob `digest` for reading; *fd is owned by the caller.  The content
 * is not verified: hash every byte read (hash_new()) and end with
 * export_blob_hash_check(). */
int export_blob_open(const struct export_source *s, const char *digest, int *fd, uint64_t *size,
                     struct kiln_err *err);
/* Fails with KILN_EVERIFY if h (consumed and freed) does not hash to digest. */
int export_blob_hash_check(struct hash_ctx *h, const char *digest, struct kiln_err *err);

/* Streams the size bytes of blob digest from in (from export_blob_open())
 * to sink (NULL: only checks it), hashing every byte: KILN_EVERIFY when the
 * blob changes size while it is read or does not hash to its digest.  The
 * sink has seen the bytes before the hash is checked, so it must write to
 * something the caller discards on failure. */
typedef int (*export_sink_fn)(void *ud, const void *data, size_t len, struct kiln_err *err);
int export_blob_copy(int in, uint64_t size, const char *digest, export_sink_fn sink, void *ud,
                     struct kiln_err *err);
/* The export_sink_fn that writes to fd (path names it in errors). */
struct export_fd_out {
    int fd;
    const char *path;
};
int export_fd_sink(void *ud, const void *data, size_t len, struct kiln_err *err);

/* Reads, verifies and parses a JSON blob no larger than limit; *out is a new reference. */
int export_blob_json(const struct export_source *s, const char *digest, size_t limit, json_t **out,
                     struct kiln_err *err);

/* Loads the image's file manifest (the dev.kiln.files annotation of the top
 * index or manifest, else of the container image).  *out is a new reference. */
int export_source_files(const struct export_source *s, json_t **out, struct kiln_err *err);

/* Reading a layer blob through libarchive, its digest checked as it is read.
 * raw = 1: one entry holding the decompressed stream (format "raw");
 * raw = 0: the layer's tar entries. */
struct archive;
struct export_layer {
    const struct export_source *src;
    struct archive *ar;   /* owned; read entries from it */
    int fd;
    struct hash_ctx *h;
    char *rbuf;           /* what libarchive reads from */
    char *chunk;          /* free for the caller's use: EXPORT_LAYER_CHUNK bytes */
    char *digest;
    uint64_t size, done;
};

#define EXPORT_LAYER_CHUNK (1u << 20)

int export_layer_open(const struct export_source *s, const char *digest, int raw,
                      struct export_layer *l, struct kiln_err *err);
/* Reads the rest of the blob and checks its digest (KILN_EVERIFY on mismatch). */
int export_layer_finish(struct export_layer *l, struct kiln_err *err);
/* The error for a failed read from l->ar: KILN_EVERIFY when the blob is
 * corrupt (checked first), else KILN_EINVAL with libarchive's message. */
int export_layer_error(struct export_layer *l, struct kiln_err *err);
/* Frees everything; safe after a failed export_layer_open() and twice. */
void export_layer_close(struct export_layer *l);

/* A tar writer for an export: pax (ustar where it fits), no compression,
 * written to path.  Returns NULL with err set on failure; free with
 * archive_write_free().  export_tar_close() finishes and syncs the file. */
struct archive *export_tar_open(const char *path, struct kiln_err *err);
/* The same in plain ustar (no pax headers: an entry that does not fit,
 * such as a file of 8 GiB or more, fails), as OVF asks of an OVA. */
struct archive *export_ustar_open(const char *path, struct kiln_err *err);
int export_tar_close(struct archive *ar, const char *path, struct kiln_err *err);
/* Appends the regular file at path to the tar as entry name, streamed;
 * h, when not NULL, is fed every byte copied.  tar names the archive in
 * messages. */
struct export_tar_file {
    const char *name;     /* the entry's path in the tar */
    const char *path;     /* the file on disk */
    unsigned mode;        /* permission bits */
    int64_t uid, gid;
    int64_t mtime;
};
int export_tar_add_file(struct archive *ar, const struct export_tar_file *f, struct hash_ctx *h, const char *tar,
                        struct kiln_err *err);

/* The artifact manifest of type `artifact_type` (e.g. KILN_AT_QCOW2) in the
 * image's index, read and verified: *out is a new reference.  KILN_ENOTFOUND
 * naming the image when it has none.  For the disk formats: the artifact's
 * first layer is the disk, copied with export_blob_open(). */
int export_source_artifact(const struct export_source *s, const char *artifact_type, json_t **out,
                           struct kiln_err *err);

/* One output format.  write() creates `tmp` (which does not exist yet).
 * To add one: a writer in export-<format>.c, declared below, and a row in
 * export_formats[] (export.c). */
struct export_format {
    const char *name;
    int (*write)(const struct export_source *s, const char *tmp, struct kiln_err *err);
};

/* The table, terminated by { NULL, NULL }. */
extern const struct export_format export_formats[];

const struct export_format *export_format_find(const char *name);

/* The writers (export-oci.c, export-docker.c, export-tar.c). */
int export_write_oci(const struct export_source *s, const char *tmp, struct kiln_err *err);
int export_write_oci_archive(const struct export_source *s, const char *tmp, struct kiln_err *err);
int export_write_docker_archive(const struct export_source *s, const char *tmp, struct kiln_err *err);
int export_write_rootfs_tar(const struct export_source *s, const char *tmp, struct kiln_err *err);
/* export-disk.c: the disk as a qcow2 or raw file; a KubeVirt containerDisk layout. */
int export_write_qcow2(const struct export_source *s, const char *tmp, struct kiln_err *err);
int export_write_raw(const struct export_source *s, const char *tmp, struct kiln_err *err);
int export_write_containerdisk(const struct export_source *s, const char *tmp, struct kiln_err *err);
/* The image's stored disk (qcow2 preferred), its blob checked against its
 * digest and a qcow2 checked to name no backing file, for qemu-img to read:
 * *path (caller-owned) is the blob in the store, *format "qcow2" or "raw". */
int export_disk_source(const struct export_source *s, char **path, const char **format, struct kiln_err *err);
/* export-vm.c: the disk for a hypervisor or cloud, converted by qemu-img:
 * vmdk (monolithicSparse: VMware Workstation/Fusion, VirtualBox, ESXi via
 * vmkfstools), vhdx (Hyper-V), vhd (fixed, its size a multiple of 1 MiB:
 * Azure), ova (a ustar tar: NAME.ovf, NAME-disk1.vmdk streamOptimized,
 * NAME.mf with the SHA-256 of both, in that order). */
int export_write_vmdk(const struct export_source *s, const char *tmp, struct kiln_err *err);
int export_write_vhdx(const struct export_source *s, const char *tmp, struct kiln_err *err);
int export_write_vhd(const struct export_source *s, const char *tmp, struct kiln_err *err);
int export_write_ova(const struct export_source *s, const char *tmp, struct kiln_err *err);

struct export_opts {
    const char *store;
    const char *ref;
    const char *format;  /* a name from export_formats */
    const char *output;  /* the file or directory to create */
    int force;           /* replace an existing non-empty output */
};

struct export_result {
    char digest[7 + HASH_HEX_LEN + 1]; /* what REF resolved to */
    char *ref_name;                    /* "NAME:VERSION" or NULL; owned by the result */
};

void export_result_release(struct export_result *r);

int export_run(const struct export_opts *o, struct export_result *res, struct kiln_err *err);

/* Removes the temporary files of the export in progress, if any.  For the
 * program's signal thread (not a signal handler): after it, exit at once.
 * Returns 1 when nothing was written (an unfinished output was removed, or
 * none was begun), 0 when the output was already complete and in place. */
int export_emergency_cleanup(void);

#endif
