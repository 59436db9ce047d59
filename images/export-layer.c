/* export-layer.c - layer blobs read through libarchive with their digest
 * checked on the way, and the tar writer every export format shares. */
#include "images/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "images/store.h"
#include "common/banned.h"

#define LAYER_CHUNK EXPORT_LAYER_CHUNK

static la_ssize_t layer_read(struct archive *a, void *ud, const void **out)
{
    struct export_layer *l = ud;
    for (;;) {
        ssize_t n = read(l->fd, l->rbuf, LAYER_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            archive_set_error(a, errno, "cannot read blob '%s'", l->digest);
            return -1;
        }
        hash_update(l->h, l->rbuf, (size_t)n);
        l->done += (uint64_t)n;
        *out = l->rbuf;
        return n;
    }
}

int export_layer_open(const struct export_source *s, const char *digest, int raw,
                      struct export_layer *l, struct kiln_err *err)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    int r = export_blob_open(s, digest, &l->fd, &l->size, err);
    if (r < 0)
        return r;
    l->src = s;
    l->digest = xstrdup(digest);
    l->chunk = xmalloc(LAYER_CHUNK);
    l->rbuf = xmalloc(LAYER_CHUNK);
    l->h = hash_new();
    l->ar = archive_read_new();
    if (!l->h || !l->ar) {
        export_layer_close(l);
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    }
    archive_read_support_filter_gzip(l->ar);
    archive_read_support_filter_zstd(l->ar);
    if (raw)
        archive_read_support_format_raw(l->ar);
    else
        archive_read_support_format_tar(l->ar);
    if (archive_read_open(l->ar, l, NULL, layer_read, NULL) != ARCHIVE_OK) {
        r = export_layer_error(l, err);
        export_layer_close(l);
        return r;
    }
    return 0;
}

int export_layer_finish(struct export_layer *l, struct kiln_err *err)
{
    for (;;) {
        ssize_t n = read(l->fd, l->chunk, LAYER_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot read blob '%s'", l->digest);
        if (n == 0)
            break;
        hash_update(l->h, l->chunk, (size_t)n);
        l->done += (uint64_t)n;
    }
    struct hash_ctx *h = l->h;
    l->h = NULL;
    if (l->done != l->size) {
        hash_free(h);
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' changed while it was read", l->digest);
    }
    return export_blob_hash_check(h, l->digest, err);
}

int export_layer_error(struct export_layer *l, struct kiln_err *err)
{
    struct kiln_err verr = KILN_ERR_INIT;
    if (store_blob_verify(l->src->st, l->digest, -1, &verr) == KILN_EVERIFY) {
        *err = verr;
        return err->code;
    }
    return kiln_errf(err, KILN_EINVAL, "layer '%s': %s", l->digest, archive_error_string(l->ar));
}

void export_layer_close(struct export_layer *l)
{
    if (l->ar)
        archive_read_free(l->ar);
    if (l->fd >= 0)
        close(l->fd);
    hash_free(l->h);
    free(l->chunk);
    free(l->rbuf);
    free(l->digest);
    memset(l, 0, sizeof(*l));
    l->fd = -1;
}

static struct archive *tar_open(const char *path, int ustar, struct kiln_err *err)
{
    struct archive *ar = archive_write_new();
    if (!ar) {
        kiln_errf(err, KILN_ENOMEM, "out of memory");
        return NULL;
    }
    if ((ustar ? archive_write_set_format_ustar(ar) : archive_write_set_format_pax_restricted(ar)) !=
            ARCHIVE_OK ||
        archive_write_add_filter_none(ar) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(ar, 1) != ARCHIVE_OK ||
        archive_write_open_filename(ar, path) != ARCHIVE_OK) {
        kiln_errf(err, KILN_EFAIL, "cannot create '%s': %s", path, archive_error_string(ar));
        archive_write_free(ar);
        return NULL;
    }
    return ar;
}

struct archive *export_tar_open(const char *path, struct kiln_err *err)
{
    return tar_open(path, 0, err);
}

struct archive *export_ustar_open(const char *path, struct kiln_err *err)
{
    return tar_open(path, 1, err);
}

int export_tar_close(struct archive *ar, const char *path, struct kiln_err *err)
{
    if (archive_write_close(ar) != ARCHIVE_OK)
        return kiln_errf(err, KILN_EFAIL, "cannot write '%s': %s", path, archive_error_string(ar));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return kiln_errno(err, KILN_EFAIL, e, "cannot sync '%s'", path);
    }
    close(fd);
    return 0;
}

int export_tar_add_file(struct archive *ar, const struct export_tar_file *f, struct hash_ctx *h, const char *tar,
                        struct kiln_err *err)
{
    _cleanup_close_ int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open '%s'", f->path);
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    archive_entry_set_pathname(e, f->name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, f->mode);
    archive_entry_set_uid(e, f->uid);
    archive_entry_set_gid(e, f->gid);
    archive_entry_set_mtime(e, f->mtime, 0);
    archive_entry_set_size(e, st.st_size);
    int ar_r = archive_write_header(ar, e);
    archive_entry_free(e);
    if (ar_r != ARCHIVE_OK)
        return kiln_errf(err, KILN_EFAIL, "cannot write '%s' into '%s': %s", f->name, tar, archive_error_string(ar));
    _cleanup_free_ char *chunk = xmalloc(EXPORT_LAYER_CHUNK);
    uint64_t done = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, EXPORT_LAYER_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", f->path);
        if (n == 0)
            break;
        done += (uint64_t)n;
        if (h)
            hash_update(h, chunk, (size_t)n);
        if (archive_write_data(ar, chunk, (size_t)n) != n)
            return kiln_errf(err, KILN_EFAIL, "cannot write '%s' into '%s': %s", f->name, tar,
                             archive_error_string(ar));
    }
    if (done != (uint64_t)st.st_size)
        return kiln_errf(err, KILN_EFAIL, "'%s' changed size while it was copied", f->path);
    return 0;
}
