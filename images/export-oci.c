/* export-oci.c - the image's closure as an OCI image layout: a directory
 * ("oci") or one deterministic tar of it ("oci-archive").
 *
 * index.json lists the image as "NAME:VERSION" (also "NAME:CHANNEL" when
 * REF named a channel) and every referrer with its dev.kiln.subject, the same
 * way the store does, so `kiln verify --layout` and skopeo's oci: transport
 * read the copy like the store itself. */
#include "images/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "images/manifest.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct archive, archive_write_free)

/* Where layout files go: a directory, or a tar when ar is set. */
struct layout_out {
    const struct export_source *src;
    const char *root;    /* directory mode */
    struct archive *ar;  /* tar mode */
    const char *tmp;     /* for messages */
};

static int ar_fail(struct layout_out *o, struct kiln_err *err)
{
    return kiln_errf(err, KILN_EFAIL, "cannot write '%s': %s", o->tmp, archive_error_string(o->ar));
}

static struct archive_entry *new_entry(const struct export_source *s, const char *path,
                                       mode_t type, mode_t perm, int64_t size)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, size);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, s->created, 0);
    return e;
}

static int out_dir(struct layout_out *o, const char *rel, struct kiln_err *err)
{
    if (o->ar) {
        _cleanup_free_ char *p = xasprintf("%s/", rel);
        struct archive_entry *e = new_entry(o->src, p, AE_IFDIR, 0755, 0);
        int r = archive_write_header(o->ar, e);
        archive_entry_free(e);
        return r == ARCHIVE_OK ? 0 : ar_fail(o, err);
    }
    _cleanup_free_ char *p = path_join(o->root, rel);
    if (mkdir(p, 0755) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create directory '%s'", p);
    return 0;
}

static int out_mem(struct layout_out *o, const char *rel, const char *data, size_t len,
                   struct kiln_err *err)
{
    if (o->ar) {
        struct archive_entry *e = new_entry(o->src, rel, AE_IFREG, 0644, (int64_t)len);
        int r = archive_write_header(o->ar, e);
        archive_entry_free(e);
        if (r != ARCHIVE_OK || archive_write_data(o->ar, data, len) != (la_ssize_t)len)
            return ar_fail(o, err);
        return 0;
    }
    _cleanup_free_ char *p = path_join(o->root, rel);
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", p);
    int r = fs_write_all(fd, data, len, p, err);
    if (r == 0 && fsync(fd) < 0)
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot sync '%s'", p);
    return r;
}

/* Where out_blob() sends a blob: the archive, else a file. */
struct blob_out {
    struct layout_out *o;
    struct export_fd_out file;
};

static int blob_sink(void *ud, const void *data, size_t len, struct kiln_err *err)
{
    struct blob_out *b = ud;
    if (b->o->ar)
        return archive_write_data(b->o->ar, data, len) == (la_ssize_t)len ? 0 : ar_fail(b->o, err);
    return export_fd_sink(&b->file, data, len, err);
}

/* Copies a blob, checking its digest on the way. */
static int out_blob(struct layout_out *o, const char *digest, struct kiln_err *err)
{
    _cleanup_close_ int in = -1;
    uint64_t size = 0;
    int r = export_blob_open(o->src, digest, &in, &size, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", digest + 7);
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *p = NULL;
    if (o->ar) {
        struct archive_entry *e = new_entry(o->src, rel, AE_IFREG, 0644, (int64_t)size);
        int ar = archive_write_header(o->ar, e);
        archive_entry_free(e);
        if (ar != ARCHIVE_OK)
            return ar_fail(o, err);
    } else {
        p = path_join(o->root, rel);
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", p);
    }
    struct blob_out bo = { o, { fd, p } };
    r = export_blob_copy(in, size, digest, blob_sink, &bo, err);
    if (r < 0)
        return r;
    if (fd >= 0 && fsync(fd) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot sync '%s'", p);
    return 0;
}

/* For a multi-output index: the `REF.oci` entry naming its container image
 * alone, as the store keeps it (see KILN_ANN_CONTAINER_OF), or NULL. */
static json_t *container_name_entry(const struct export_source *s, const char *ref_name)
{
    json_t *list = json_object_get(s->top_doc, "manifests");
    if (!s->image_digest || !json_is_array(list))
        return NULL;
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        const char *digest = json_string_value(json_object_get(d, "digest"));
        if (!digest || strcmp(digest, s->image_digest) != 0)
            continue;
        _cleanup_free_ char *rn = xasprintf("%s%s", ref_name, KILN_CONTAINER_SUFFIX);
        return json_pack("{s:O, s:O, s:O, s:{s:s, s:s}}", "mediaType", json_object_get(d, "mediaType"),
                         "digest", json_object_get(d, "digest"), "size", json_object_get(d, "size"),
                         "annotations", OCI_ANN_REF_NAME, rn, KILN_ANN_CONTAINER_OF, ref_name);
    }
    return NULL;
}

/* The exported index.json, canonical JSON.  Caller-owned. */
static char *layout_index(const struct export_source *s)
{
    json_t *manifests = json_array();
    json_array_append(manifests, s->top);
    json_t *c = container_name_entry(s, s->ref_name);
    if (c)
        json_array_append_new(manifests, c);
    if (s->channel) {
        json_t *ch = json_deep_copy(s->top);
        json_t *ann = json_object_get(ch, "annotations");
        _cleanup_free_ char *rn = xasprintf("%s:%s", s->name, s->channel);
        json_object_set_new(ann, OCI_ANN_REF_NAME, json_string(rn));
        json_object_set_new(ann, KILN_ANN_CHANNEL, json_string(s->channel));
        json_array_append_new(manifests, ch);
        if ((c = container_name_entry(s, rn)))
            json_array_append_new(manifests, c);
    }
    size_t i;
    json_t *d;
    json_array_foreach(s->referrers, i, d)
        json_array_append(manifests, d);
    json_auto_t *index = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
                                   OCI_MT_INDEX, "manifests", manifests);
    return json_dumps(index, JSON_COMPACT | JSON_SORT_KEYS);
}

static const char oci_layout[] = OCI_LAYOUT_JSON;

/* Sorted order, so the tar form is the same bytes every time. */
static int write_layout(struct layout_out *o, struct kiln_err *err)
{
    int r = out_dir(o, "blobs", err);
    if (r == 0)
        r = out_dir(o, "blobs/sha256", err);
    for (char **d = o->src->closure; r == 0 && *d; d++)
        r = out_blob(o, *d, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *index = layout_index(o->src);
    if (!index)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    r = out_mem(o, "index.json", index, strlen(index), err);
    if (r == 0)
        r = out_mem(o, "oci-layout", oci_layout, strlen(oci_layout), err);
    return r;
}

int export_write_oci(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    if (mkdir(tmp, 0755) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create directory '%s'", tmp);
    struct layout_out o = { .src = s, .root = tmp, .tmp = tmp };
    int r = write_layout(&o, err);
    if (r == 0)
        r = fs_fsync_dir(tmp, err);
    return r;
}

int export_write_oci_archive(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    _cleanup_(archive_write_freep) struct archive *ar = export_tar_open(tmp, err);
    if (!ar)
        return err->code;
    struct layout_out o = { .src = s, .ar = ar, .tmp = tmp };
    int r = write_layout(&o, err);
    if (r == 0)
        r = export_tar_close(ar, tmp, err);
    return r;
}
