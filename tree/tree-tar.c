/* tree-tar.c - tar archives in and out of a tree (libarchive). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tree/tree-internal.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/banned.h"

#define IO_CHUNK (1u << 20)

DEFINE_CLEANUP(struct archive, archive_read_free)

struct reader {
    int fd;
    struct hash_ctx *h;
    uint64_t n;
    unsigned char *buf;
    int eof;
    int error;
};

static la_ssize_t reader_read(struct archive *a, void *ud, const void **out)
{
    struct reader *r = ud;
    for (;;) {
        ssize_t n = read(r->fd, r->buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r->error = errno;
            archive_set_error(a, errno, "read error");
            return -1;
        }
        if (n == 0)
            r->eof = 1;
        if (r->h)
            hash_update(r->h, r->buf, (size_t)n);
        r->n += (uint64_t)n;
        *out = r->buf;
        return n;
    }
}

static int archive_fail(struct archive *a, const char *what, struct kiln_err *err)
{
    const char *msg = archive_error_string(a);
    return kiln_errf(err, KILN_EINVAL, "%s: corrupt or truncated archive: %s", what,
                     msg ? msg : "unknown error");
}

static enum tree_type entry_type(struct archive_entry *e, int *ok)
{
    *ok = 1;
    switch (archive_entry_filetype(e)) {
    case AE_IFREG: return TREE_FILE;
    case AE_IFDIR: return TREE_DIR;
    case AE_IFLNK: return TREE_SYMLINK;
    case AE_IFCHR: return TREE_CHAR;
    case AE_IFBLK: return TREE_BLOCK;
    case AE_IFIFO: return TREE_FIFO;
    default:
        *ok = 0;
        return TREE_FILE;
    }
}

static int read_entry(struct tree *t, const char *what, struct archive *a, struct archive_entry *ae,
                      const struct tree_read_opts *opts, unsigned char *buf, struct kiln_err *err)
{
    const char *path = archive_entry_pathname(ae);
    if (!path || !path[0])
        return kiln_errf(err, KILN_EINVAL, "%s: an entry has no name", what);
    if (!tree_valid_name(path))
        return kiln_errf(err, KILN_EINVAL,
                         "%s: an entry name contains a control character", what);
    const char *base = strrchr(path, '/');
    /* "dir/" names a directory; its base name is the component before the slash. */
    size_t plen = strlen(path);
    if (base && base[1] == '\0' && plen > 1) {
        const char *q = base;
        while (q > path && q[-1] != '/')
            q--;
        base = q;
    } else {
        base = base ? base + 1 : path;
    }
    if (strncmp(base, ".wh.", 4) == 0) {
        if (!opts || !opts->whiteouts)
            return kiln_errf(err, KILN_EINVAL,
                             "%s: entry '%s' has a whiteout name ('.wh.'), which an image layer cannot carry",
                             what, path);
        return tree_whiteout(t, what, path, err);
    }

    struct tree_new_entry ne = {
        .path = path,
        .mode = archive_entry_perm(ae) & 07777,
        .uid = archive_entry_uid(ae),
        .gid = archive_entry_gid(ae),
        .mtime = archive_entry_mtime(ae),
    };
    if (ne.mtime < 0)
        ne.mtime = 0;
    const char *hl = archive_entry_hardlink(ae);
    if (hl) {
        ne.type = TREE_HARDLINK;
        ne.link_target = hl;
    } else {
        int ok;
        ne.type = entry_type(ae, &ok);
        if (!ok)
            return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' has an unsupported type (socket or unknown)",
                             what, path);
        if (ne.type == TREE_SYMLINK) {
            ne.link_target = archive_entry_symlink(ae);
            if (!ne.link_target)
                return kiln_errf(err, KILN_EINVAL, "%s: symlink '%s' has no target", what, path);
        }
        if (ne.type == TREE_CHAR || ne.type == TREE_BLOCK) {
            ne.major = archive_entry_rdevmajor(ae);
            ne.minor = archive_entry_rdevminor(ae);
        }
    }

    /* Extended attributes. */
    struct tree_xattr xs[TREE_MAX_XATTRS];
    size_t nx = 0;
    int count = archive_entry_xattr_reset(ae);
    if (count > TREE_MAX_XATTRS)
        return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' has more than %d extended attributes",
                         what, path, TREE_MAX_XATTRS);
    const char *xname;
    const void *xval;
    size_t xlen;
    while (archive_entry_xattr_next(ae, &xname, &xval, &xlen) == ARCHIVE_OK) {
        if (xlen > TREE_MAX_XATTR_BYTES)
            return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' has an extended attribute larger than %d bytes",
                             what, path, TREE_MAX_XATTR_BYTES);
        if (!tree_valid_name(xname))
            return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' has a malformed extended attribute name",
                             what, path);
        xs[nx].name = (char *)xname;
        xs[nx].value = (unsigned char *)xval;
        xs[nx].len = xlen;
        nx++;
    }
    ne.xattrs = xs;
    ne.n_xattrs = nx;

    struct tree_entry *e = NULL;
    int r = tree_add(t, what, &ne, &e, err);
    if (r < 0)
        return r;
    if (ne.type != TREE_FILE)
        return 0;

    int64_t want = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;
    if (want < 0)
        return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' has a negative size", what, path);
    if ((r = tree_content_begin(t, err)) < 0)
        return r;
    uint64_t got = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, IO_CHUNK);
        if (n == 0)
            break;
        if (n < 0)
            return archive_fail(a, what, err);
        if ((r = tree_content_write(t, what, buf, (size_t)n, err)) < 0)
            return r;
        got += (uint64_t)n;
    }
    if (got != (uint64_t)want)
        return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' is truncated (%llu of %lld bytes)", what, path,
                         (unsigned long long)got, (long long)want);
    return tree_content_end(t, e, err);
}

int tree_read_tar(struct tree *t, const char *what, int fd, const struct tree_read_opts *opts,
                  struct kiln_err *err)
{
    _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
    if (!a)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    _cleanup_free_ unsigned char *rbuf = xmalloc(IO_CHUNK);
    _cleanup_free_ unsigned char *dbuf = xmalloc(IO_CHUNK);
    struct reader rd = { .fd = fd, .buf = rbuf };
    if (opts && opts->sha256_out) {
        rd.h = hash_new();
        if (!rd.h)
            return kiln_errf(err, KILN_ENOMEM, "out of memory");
    }
    int r = 0;
    if (archive_read_open(a, &rd, NULL, reader_read, NULL) != ARCHIVE_OK) {
        r = rd.error ? kiln_errno(err, KILN_EFAIL, rd.error, "%s: cannot read", what)
                     : archive_fail(a, what, err);
        goto out;
    }
    /* The tar stream itself is bounded too: headers and padding of a
     * compression bomb count against the content limit. */
    uint64_t stream_limit = t->limits.max_bytes + (1ull << 30);
    uint64_t entries = 0;
    for (;;) {
        struct archive_entry *ae;
        int rc = archive_read_next_header(a, &ae);
        if (rc == ARCHIVE_EOF)
            break;
        if (rc == ARCHIVE_RETRY)
            continue;
        if (rc < ARCHIVE_WARN) {
            r = rd.error ? kiln_errno(err, KILN_EFAIL, rd.error, "%s: cannot read", what)
                         : archive_fail(a, what, err);
            goto out;
        }
        if (++entries % 4096 == 0)
            kiln_progress("reading", rd.n, 0);
        if ((uint64_t)archive_filter_bytes(a, 0) > stream_limit) {
            r = kiln_errf(err, KILN_EINVAL,
                          "%s: expanded archive is larger than %llu bytes (set KILN_MAX_EXPANDED_BYTES)",
                          what, (unsigned long long)stream_limit);
            goto out;
        }
        if ((r = read_entry(t, what, a, ae, opts, dbuf, err)) < 0)
            goto out;
    }
    /* Whatever follows the end-of-archive marker still counts for the digest. */
    while (!rd.eof) {
        const void *p;
        la_ssize_t n = reader_read(a, &rd, &p);
        if (n < 0) {
            r = kiln_errno(err, KILN_EFAIL, rd.error, "%s: cannot read", what);
            goto out;
        }
    }
    if (opts && opts->sha256_out)
        hash_final_hex(rd.h, opts->sha256_out);
    if (opts && opts->size_out)
        *opts->size_out = rd.n;
out:
    if (rd.h)
        hash_free(rd.h);
    return r;
}

/* --- writing ----------------------------------------------------------------- */

struct writer {
    tree_sink_fn sink;
    void *ud;
    struct kiln_err *err;
    int failed;
};

static la_ssize_t writer_write(struct archive *a, void *ud, const void *data, size_t len)
{
    struct writer *w = ud;
    if (w->sink(w->ud, data, len, w->err) < 0) {
        w->failed = 1;
        archive_set_error(a, EIO, "write failed");
        return -1;
    }
    return (la_ssize_t)len;
}

DEFINE_CLEANUP(struct archive, archive_write_free)
DEFINE_CLEANUP(struct archive_entry, archive_entry_free)

static int write_fail(struct archive *a, struct writer *w, struct kiln_err *err)
{
    if (w->failed)
        return err->code ? err->code : KILN_EFAIL;
    const char *msg = archive_error_string(a);
    return kiln_errf(err, KILN_EFAIL, "cannot write the tar stream: %s", msg ? msg : "unknown error");
}

int tree_sink_fd(void *ud, const void *data, size_t len, struct kiln_err *err)
{
    return fs_write_all(*(int *)ud, data, len, "the root file system's tar", err);
}

int tree_write_tar(struct tree *t, tree_sink_fn sink, void *ud, struct kiln_err *err)
{
    _cleanup_(archive_write_freep) struct archive *a = archive_write_new();
    _cleanup_(archive_entry_freep) struct archive_entry *ae = archive_entry_new();
    if (!a || !ae)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    struct writer w = { sink, ud, err, 0 };
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") < ARCHIVE_WARN ||
        archive_write_set_bytes_per_block(a, 65536) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open2(a, &w, NULL, writer_write, NULL, NULL) != ARCHIVE_OK)
        return write_fail(a, &w, err);

    struct tree_entry **v = NULL;
    size_t n = 0;
    int r = tree_sorted(t, &v, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (v[i]->content)
            v[i]->content->written = NULL;
    _cleanup_free_ unsigned char *buf = xmalloc(IO_CHUNK);
    uint64_t done = 0, total = t->bytes;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct tree_entry *e = v[i];
        archive_entry_clear(ae);
        archive_entry_set_pathname(ae, e->path + 1);
        archive_entry_set_perm(ae, e->mode & 07777);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        int64_t mt = e->mtime < 0 ? 0 : e->mtime;
        if (mt > t->epoch)
            mt = t->epoch;
        archive_entry_set_mtime(ae, (time_t)mt, 0);
        for (size_t k = 0; k < e->n_xattrs; k++)
            archive_entry_xattr_add_entry(ae, e->xattrs[k].name, e->xattrs[k].value, e->xattrs[k].len);
        int data = 0;
        switch (e->type) {
        case TREE_FILE:
            archive_entry_set_filetype(ae, AE_IFREG);
            if (e->content && e->content->refs > 1 && e->content->written) {
                archive_entry_set_hardlink(ae, e->content->written + 1);
                archive_entry_set_size(ae, 0);
            } else {
                if (e->content)
                    e->content->written = e->path;
                archive_entry_set_size(ae, e->content ? (la_int64_t)e->content->size : 0);
                data = e->content && e->content->size;
            }
            break;
        case TREE_DIR:
            archive_entry_set_filetype(ae, AE_IFDIR);
            break;
        case TREE_SYMLINK:
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e->target);
            break;
        case TREE_CHAR:
        case TREE_BLOCK:
            archive_entry_set_filetype(ae, e->type == TREE_CHAR ? AE_IFCHR : AE_IFBLK);
            archive_entry_set_rdevmajor(ae, e->major);
            archive_entry_set_rdevminor(ae, e->minor);
            break;
        case TREE_FIFO:
            archive_entry_set_filetype(ae, AE_IFIFO);
            break;
        case TREE_HARDLINK:
            break;
        }
        if (archive_write_header(a, ae) < ARCHIVE_WARN) {
            r = write_fail(a, &w, err);
            break;
        }
        if (!data)
            continue;
        uint64_t off = 0, size = e->content->size;
        while (off < size) {
            size_t chunk = size - off < IO_CHUNK ? (size_t)(size - off) : IO_CHUNK;
            if ((r = tree_pread(t, e, buf, chunk, off, err)) < 0)
                break;
            if (archive_write_data(a, buf, chunk) != (la_ssize_t)chunk) {
                r = write_fail(a, &w, err);
                break;
            }
            off += chunk;
            done += chunk;
        }
        kiln_progress("writing layer", done, total);
    }
    for (size_t i = 0; i < n; i++)
        if (v[i]->content)
            v[i]->content->written = NULL;
    free(v);
    if (r < 0)
        return r;
    if (archive_write_close(a) != ARCHIVE_OK)
        return write_fail(a, &w, err);
    return 0;
}
