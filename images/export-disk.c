/* export-disk.c - the disk formats: qcow2, raw and a KubeVirt containerDisk.
 *
 * The disk blob is copied with its digest checked as it is read.  When the
 * image holds the disk in the other format, qemu-img converts the verified
 * copy (formats always given: qemu never guesses).  A containerDisk is an
 * OCI image layout whose one uncompressed layer holds the qcow2 at
 * /disk/<name>.qcow2, owned by 107:107 (the qemu user in KubeVirt). */
#include "images/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/run.h"
#include "common/timefmt.h"
#include "images/manifest.h"
#include "images/ref.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct archive, archive_write_free)

#define CONTAINERDISK_UID 107

/* The disk layer of the image: prefer want ("qcow2"/"raw"), else the other. */
static int find_disk(const struct export_source *s, int want_qcow2, char **digest, int *is_qcow2,
                     struct kiln_err *err)
{
    const char *ats[2] = { want_qcow2 ? KILN_AT_QCOW2 : KILN_AT_RAW, want_qcow2 ? KILN_AT_RAW : KILN_AT_QCOW2 };
    for (int i = 0; i < 2; i++) {
        json_t *m = NULL;
        struct kiln_err e2 = KILN_ERR_INIT;
        int r = export_source_artifact(s, ats[i], &m, &e2);
        if (r == KILN_ENOTFOUND)
            continue;
        if (r < 0) {
            *err = e2;
            return r;
        }
        json_t *l = json_array_get(json_object_get(m, "layers"), 0);
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        const char *dg = json_string_value(json_object_get(l, "digest"));
        if (!mt || !dg || (strcmp(mt, KILN_MT_QCOW2) != 0 && strcmp(mt, KILN_MT_RAW) != 0)) {
            json_decref(m);
            return kiln_errf(err, KILN_EINVAL, "image '%s': its disk artifact has no disk layer", s->ref);
        }
        *is_qcow2 = strcmp(mt, KILN_MT_QCOW2) == 0;
        *digest = xstrdup(dg);
        json_decref(m);
        return 0;
    }
    return kiln_errf(err, KILN_EINVAL, "image '%s' has no disk (build it with a qcow2 or raw output)", s->ref);
}

/* Copies blob digest into dest, verified (dest NULL: only checks it). */
static int copy_verified(const struct export_source *s, const char *digest, const char *dest,
                         struct kiln_err *err)
{
    int in = -1;
    uint64_t size = 0;
    int r = export_blob_open(s, digest, &in, &size, err);
    if (r < 0)
        return r;
    _cleanup_close_ int ifd = in;
    _cleanup_close_ int ofd = -1;
    if (dest) {
        ofd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (ofd < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", dest);
    }
    struct export_fd_out out = { ofd, dest };
    if ((r = export_blob_copy(ifd, size, digest, dest ? export_fd_sink : NULL, &out, err)) < 0)
        return r;
    if (ofd >= 0 && fsync(ofd) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot sync '%s'", dest);
    return 0;
}

/* A stored qcow2 must stand alone: qemu-img would read a backing file it names. */
static int refuse_backing(const char *path, struct kiln_err *err)
{
    unsigned char h[20];
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
        return kiln_errf(err, KILN_EVERIFY, "disk blob '%s' has no qcow2 header", path);
    int backed = 0;
    for (int i = 8; i < 20; i++)
        backed |= h[i] != 0;
    if (memcmp(h, "QFI\xfb", 4) != 0 || backed)
        return kiln_errf(err, KILN_EVERIFY, "disk blob '%s' is not a stand-alone qcow2 image", path);
    return 0;
}

/* The disk, verified, at dest in the wanted format. */
static int disk_to(const struct export_source *s, int want_qcow2, const char *dest, struct kiln_err *err)
{
    _cleanup_free_ char *digest = NULL;
    int is_qcow2 = 0;
    int r = find_disk(s, want_qcow2, &digest, &is_qcow2, err);
    if (r < 0)
        return r;
    if (is_qcow2 == want_qcow2)
        return copy_verified(s, digest, dest, err);
    /* Converting: check the stored blob first, then let qemu-img read it
     * (read-only, its format given) straight into dest. */
    if ((r = copy_verified(s, digest, NULL, err)) < 0)
        return r;
    _cleanup_free_ char *src = export_blob_path(s, digest);
    if (is_qcow2 && (r = refuse_backing(src, err)) < 0)
        return r;
    char *argv[] = { "qemu-img", "convert", "-q", "-f", is_qcow2 ? "qcow2" : "raw", "-O",
                     want_qcow2 ? "qcow2" : "raw", src, (char *)dest, NULL };
    return run_argv(argv, NULL, NULL, err);
}

int export_disk_source(const struct export_source *s, char **path, const char **format, struct kiln_err *err)
{
    _cleanup_free_ char *digest = NULL;
    int is_qcow2 = 0;
    int r = find_disk(s, 1, &digest, &is_qcow2, err);
    if (r == 0)
        r = copy_verified(s, digest, NULL, err);
    _cleanup_free_ char *src = r == 0 ? export_blob_path(s, digest) : NULL;
    if (r == 0 && is_qcow2)
        r = refuse_backing(src, err);
    if (r < 0)
        return r;
    *path = TAKE_PTR(src);
    *format = is_qcow2 ? "qcow2" : "raw";
    return 0;
}

int export_write_qcow2(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    int r = disk_to(s, 1, tmp, err);
    if (r < 0)
        unlink(tmp);
    return r;
}

int export_write_raw(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    int r = disk_to(s, 0, tmp, err);
    if (r < 0)
        unlink(tmp);
    return r;
}

static int put_blob_file(const char *dir, const char *path, char digest[DIGEST_STR_SIZE], uint64_t *size,
                         struct kiln_err *err)
{
    char hex[HASH_HEX_LEN + 1];
    int r = hash_file_sha256(path, hex, size, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *dest = xasprintf("%s/blobs/sha256/%s", dir, hex);
    if (rename(path, dest) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot move '%s'", path);
    snprintf(digest, DIGEST_STR_SIZE, "sha256:%s", hex);
    return 0;
}

static int put_blob_json(const char *dir, json_t *j, char digest[DIGEST_STR_SIZE], uint64_t *size,
                         struct kiln_err *err)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(s, strlen(s), hex);
    _cleanup_free_ char *dest = xasprintf("%s/blobs/sha256/%s", dir, hex);
    int r = fs_write_atomic(dest, s, strlen(s), 0644, err);
    *size = strlen(s);
    free(s);
    snprintf(digest, DIGEST_STR_SIZE, "sha256:%s", hex);
    return r;
}

static int write_layer(const struct export_source *s, const char *qcow2, const char *layer, const char *name,
                       struct kiln_err *err)
{
    _cleanup_(archive_write_freep) struct archive *out = export_tar_open(layer, err);
    if (!out)
        return err->code;
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "disk/");
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0555);
    archive_entry_set_uid(e, CONTAINERDISK_UID);
    archive_entry_set_gid(e, CONTAINERDISK_UID);
    archive_entry_set_mtime(e, s->created, 0);
    int ok = archive_write_header(out, e) == ARCHIVE_OK;
    archive_entry_free(e);
    if (!ok)
        return kiln_errf(err, KILN_EFAIL, "cannot write '%s': %s", layer, archive_error_string(out));
    _cleanup_free_ char *path = xasprintf("disk/%s.qcow2", name);
    struct export_tar_file f = { path, qcow2, 0444, CONTAINERDISK_UID, CONTAINERDISK_UID, s->created };
    int r = export_tar_add_file(out, &f, NULL, layer, err);
    return r < 0 ? r : export_tar_close(out, layer, err); /* out is still freed on return */
}

static int containerdisk(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    _cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", tmp);
    int r = fs_mkdir_p(blobs, 0755, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *qcow2 = xasprintf("%s/disk.qcow2", tmp);
    if ((r = disk_to(s, 1, qcow2, err)) < 0)
        return r;
    _cleanup_free_ char *layer = xasprintf("%s/layer.tar", tmp);
    const char *name = s->name ? s->name : "disk";
    r = write_layer(s, qcow2, layer, name, err);
    unlink(qcow2);
    if (r < 0)
        return r;
    char ldigest[DIGEST_STR_SIZE], cdigest[DIGEST_STR_SIZE], mdigest[DIGEST_STR_SIZE];
    uint64_t lsize, csize, msize;
    if ((r = put_blob_file(tmp, layer, ldigest, &lsize, err)) < 0)
        return r;
    char created[RFC3339_SIZE];
    rfc3339_format(s->created, created);
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:{},s:{s:s,s:[s]}}", "architecture", "amd64", "os", "linux",
                            "created", created, "config", "rootfs", "type", "layers", "diff_ids", ldigest);
    r = put_blob_json(tmp, cfg, cdigest, &csize, err);
    json_decref(cfg);
    if (r < 0)
        return r;
    json_t *m = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}],s:{s:s}}", "schemaVersion", 2,
                          "mediaType", OCI_MT_MANIFEST, "config", "mediaType", OCI_MT_CONFIG, "digest", cdigest,
                          "size", (json_int_t)csize, "layers", "mediaType", OCI_MT_LAYER_TAR, "digest", ldigest,
                          "size", (json_int_t)lsize, "annotations", OCI_ANN_CREATED, created);
    r = put_blob_json(tmp, m, mdigest, &msize, err);
    json_decref(m);
    if (r < 0)
        return r;
    json_t *idx = json_pack("{s:i,s:[{s:s,s:s,s:I}]}", "schemaVersion", 2, "manifests", "mediaType",
                            OCI_MT_MANIFEST, "digest", mdigest, "size", (json_int_t)msize);
    if (s->ref_name)
        json_object_set_new(json_array_get(json_object_get(idx, "manifests"), 0), "annotations",
                            json_pack("{s:s}", OCI_ANN_REF_NAME, s->ref_name));
    char *doc = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(idx);
    _cleanup_free_ char *ipath = xasprintf("%s/index.json", tmp);
    r = fs_write_atomic(ipath, doc, strlen(doc), 0644, err);
    free(doc);
    if (r < 0)
        return r;
    static const char layout[] = OCI_LAYOUT_JSON;
    _cleanup_free_ char *lpath = xasprintf("%s/oci-layout", tmp);
    return fs_write_atomic(lpath, layout, sizeof(layout) - 1, 0644, err);
}

int export_write_containerdisk(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    if (mkdir(tmp, 0755) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", tmp);
    int r = containerdisk(s, tmp, err);
    if (r < 0)
        fs_rm_rf(tmp, NULL);
    return r;
}
