/* store.c - the OCI layout on disk: opening, locks, blobs, manifests, walks.
 *
 * Blobs are written like redis writes its dump: into a temp file on the
 * same file system (DIR/.kiln/tmp), hashed while written, fsynced, checked,
 * renamed into blobs/sha256/ and the directory fsynced.  A blob in
 * blobs/sha256/ is therefore always complete; index.json (index.c) is the
 * only file ever replaced. */
#include "images/store-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/banned.h"

#define EMPTY_INDEX_JSON \
    "{\"manifests\":[],\"mediaType\":\"" OCI_MT_INDEX "\",\"schemaVersion\":2}"
#define WALK_MAX_DEPTH 8

const struct oci_layout *store_layout(const struct store *st)
{
    return st->layout;
}

const char *store_dir(const struct store *st)
{
    return st->dir;
}

int store_require_write(const struct store *st, struct kiln_err *err)
{
    if (!st->writable)
        return kiln_errf(err, KILN_EINVAL, "store '%s' was opened read-only", st->dir);
    return 0;
}

static int lock_file(const char *path, int op, int *out, struct kiln_err *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open lock '%s'", path);
    while (flock(fd, op) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        return kiln_errno(err, KILN_EFAIL, e, "cannot lock '%s'", path);
    }
    *out = fd;
    return 0;
}

int store_index_lock(const struct store *st, int *fd, struct kiln_err *err)
{
    _cleanup_free_ char *p = path_join(st->kdir, "index.lock");
    return lock_file(p, LOCK_EX, fd, err);
}

int store_index_write(const struct store *st, json_t *index, struct kiln_err *err)
{
    _cleanup_free_ char *s = json_dumps(index, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        return kiln_errf(err, KILN_ENOMEM, "cannot serialise index.json");
    int r = fs_write_atomic(st->index, s, strlen(s), 0644, err);
    if (r < 0)
        return kiln_err_prefix(err, "store '%s'", st->dir);
    return 0;
}

/* 1 if dir holds nothing but what an interrupted creation leaves. */
static int dir_is_fresh(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int fresh = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, ".kiln") || !strcmp(n, "blobs") ||
            !strcmp(n, "index.json") || !strncmp(n, "index.json.tmp.", 15) || !strncmp(n, "oci-layout.tmp.", 15))
            continue;
        fresh = 0;
        break;
    }
    closedir(d);
    return fresh;
}

/* Creates the layout.  Under the index lock, so two first builds racing
 * each other create it once; oci-layout is written last, and an existing
 * index.json is never replaced. */
static int create_layout(struct store *st, struct kiln_err *err)
{
    int r;
    if ((r = fs_mkdir_p(st->tmp, 0755, err)) < 0 || (r = fs_mkdir_p(st->blobs, 0755, err)) < 0)
        return r;
    _cleanup_close_ int lock = -1;
    if ((r = store_index_lock(st, &lock, err)) < 0)
        return r;
    if (!fs_exists(st->index) &&
        (r = fs_write_atomic(st->index, EMPTY_INDEX_JSON, strlen(EMPTY_INDEX_JSON), 0644, err)) < 0)
        return r;
    _cleanup_free_ char *layout = path_join(st->dir, "oci-layout");
    if (!fs_exists(layout) &&
        (r = fs_write_atomic(layout, OCI_LAYOUT_JSON, strlen(OCI_LAYOUT_JSON), 0644, err)) < 0)
        return r;
    _cleanup_free_ char *blobs = path_join(st->dir, "blobs");
    if ((r = fs_fsync_dir(blobs, err)) < 0 || (r = fs_fsync_dir(st->dir, err)) < 0)
        return r;
    return 0;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->gc_fd >= 0)
        close(st->gc_fd);
    free(st->dir);
    free(st->blobs);
    free(st->kdir);
    free(st->tmp);
    free(st->index);
    oci_layout_close(st->layout);
    free(st);
}

DEFINE_CLEANUP(struct store, store_close)

int store_open(const char *dir, int flags, struct store **out, struct kiln_err *err)
{
    *out = NULL;
    if (!dir || !dir[0])
        return kiln_errf(err, KILN_EINVAL, "store directory is empty");
    _cleanup_(store_closep) struct store *st = xcalloc(1, sizeof(*st));
    st->gc_fd = -1;
    st->dir = xstrdup(dir);
    st->blobs = path_join(dir, "blobs/sha256");
    st->kdir = path_join(dir, ".kiln");
    st->tmp = path_join(dir, ".kiln/tmp");
    st->index = path_join(dir, "index.json");
    st->writable = (flags & (STORE_CREATE | STORE_WRITE)) != 0;

    _cleanup_free_ char *layout = path_join(dir, "oci-layout");
    struct stat sb;
    int r;
    if (stat(dir, &sb) < 0) {
        if (errno != ENOENT)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot open store '%s'", dir);
        if (!(flags & STORE_CREATE))
            return kiln_errf(err, KILN_ENOTFOUND, "store '%s' does not exist", dir);
    } else if (!S_ISDIR(sb.st_mode)) {
        return kiln_errf(err, KILN_EINVAL, "store '%s' is not a directory", dir);
    }
    if (!fs_exists(layout)) {
        if (!(flags & STORE_CREATE)) {
            /* oci-layout is written last: without it, a directory holding only
             * what creation writes first is a store that was never finished. */
            if (!fs_exists(dir) || dir_is_fresh(dir))
                return kiln_errf(err, KILN_ENOTFOUND, "store '%s' does not exist", dir);
            return kiln_errf(err, KILN_EINVAL, "'%s' is not an OCI image layout (no 'oci-layout' file)", dir);
        }
        if (fs_exists(dir) && !dir_is_fresh(dir))
            return kiln_errf(err, KILN_EINVAL,
                             "'%s' exists and is not an OCI image layout; refusing to create a store in it", dir);
        if ((r = create_layout(st, err)) < 0)
            return kiln_err_prefix(err, "cannot create store '%s'", dir);
    }
    if ((r = oci_layout_open(dir, &st->layout, err)) < 0)
        return r;
    if (stat(st->index, &sb) < 0 || !S_ISREG(sb.st_mode))
        return kiln_errf(err, KILN_EINVAL, "'%s' is not an OCI image layout (no 'index.json')", dir);
    if (st->writable) {
        if ((r = fs_mkdir_p(st->tmp, 0755, err)) < 0 || (r = fs_mkdir_p(st->blobs, 0755, err)) < 0)
            return r;
        _cleanup_free_ char *gc = path_join(st->kdir, "gc.lock");
        if ((r = lock_file(gc, LOCK_SH, &st->gc_fd, err)) < 0)
            return r;
    }
    *out = TAKE_PTR(st);
    return 0;
}

/* ---- blobs ------------------------------------------------------------- */

struct store_blob_writer {
    struct store *st;
    int fd;
    char *tmp;
    struct hash_ctx *h;
    uint64_t size;
    int external; /* the fd was handed out: re-hash on commit */
    int summed;   /* store_blob_sum() finished the hash into hex */
    char hex[HASH_HEX_LEN + 1];
};

char *store_blob_path(const struct store *st, const char *digest)
{
    return oci_layout_blob_path(st->layout, digest);
}

int store_blob_exists(const struct store *st, const char *digest)
{
    _cleanup_free_ char *p = store_blob_path(st, digest);
    struct stat sb;
    return p && lstat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int bad_digest(const char *digest, struct kiln_err *err)
{
    return kiln_errf(err, KILN_EINVAL, "'%.80s' is not a digest (sha256:<64 lowercase hex>)",
                     digest ? digest : "(null)");
}

int store_blob_begin(struct store *st, struct store_blob_writer **out, struct kiln_err *err)
{
    *out = NULL;
    int r = store_require_write(st, err);
    if (r < 0)
        return r;
    struct store_blob_writer *w = xcalloc(1, sizeof(*w));
    w->st = st;
    w->tmp = xasprintf("%s/blob-XXXXXX", st->tmp);
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0) {
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot create a temporary blob in '%s'", st->tmp);
        free(w->tmp);
        free(w);
        return r;
    }
    w->h = hash_new();
    if (!w->h) {
        store_blob_abort(w);
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    }
    *out = w;
    return 0;
}

int store_blob_write(struct store_blob_writer *w, const void *data, size_t len, struct kiln_err *err)
{
    if (w->summed)
        return kiln_errf(err, KILN_EINVAL, "'%s': written to after its digest was taken", w->tmp);
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(w->fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kiln_errno(err, KILN_EFAIL, errno, "cannot write '%s'", w->tmp);
        }
        p += n;
        left -= (size_t)n;
    }
    hash_update(w->h, data, len);
    w->size += len;
    return 0;
}

void store_blob_sum(struct store_blob_writer *w, char digest_out[DIGEST_STR_SIZE], uint64_t *size)
{
    if (!w->summed) {
        hash_final_hex(w->h, w->hex);
        w->summed = 1;
    }
    snprintf(digest_out, DIGEST_STR_SIZE, "sha256:%s", w->hex);
    if (size)
        *size = w->size;
}

int store_blob_fd(struct store_blob_writer *w)
{
    w->external = 1;
    return w->fd;
}

const char *store_blob_tmp_path(const struct store_blob_writer *w)
{
    return w->tmp;
}

void store_blob_abort(struct store_blob_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    hash_free(w->h);
    free(w);
}

int store_blob_commit(struct store_blob_writer *w, const char *expected_digest, char digest_out[DIGEST_STR_SIZE],
                      uint64_t *size_out, struct kiln_err *err)
{
    char hex[HASH_HEX_LEN + 1];
    uint64_t size = w->size;
    _cleanup_free_ char *path = NULL;
    int r;
    if (expected_digest && !digest_valid(expected_digest)) {
        r = bad_digest(expected_digest, err);
        goto out;
    }
    if (w->external) {
        if ((r = hash_file_sha256(w->tmp, hex, &size, err)) < 0)
            goto out;
    } else if (w->summed) {
        memcpy(hex, w->hex, sizeof(hex));
    } else {
        hash_final_hex(w->h, hex);
    }
    char digest[DIGEST_STR_SIZE];
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    if (expected_digest && strcmp(expected_digest, digest) != 0) {
        r = kiln_errf(err, KILN_EVERIFY, "blob '%s': content has digest '%s'", expected_digest, digest);
        goto out;
    }
    path = store_blob_path(w->st, digest);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == size) {
        /* Content-addressed: the blob is there already. */
        r = 0;
        goto out;
    }
    if (fchmod(w->fd, 0644) < 0) {
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot chmod '%s'", w->tmp);
        goto out;
    }
    if ((r = fs_commit_tmp(w->fd, w->tmp, path, err)) < 0)
        goto out;
    free(w->tmp);
    w->tmp = NULL; /* renamed: nothing to remove */
out:
    if (r == 0) {
        if (digest_out)
            snprintf(digest_out, DIGEST_STR_SIZE, "sha256:%s", hex);
        if (size_out)
            *size_out = size;
    }
    store_blob_abort(w);
    return r;
}

int store_blob_put(struct store *st, const void *data, size_t len, char digest_out[DIGEST_STR_SIZE],
                   struct kiln_err *err)
{
    struct store_blob_writer *w;
    int r = store_blob_begin(st, &w, err);
    if (r < 0)
        return r;
    if ((r = store_blob_write(w, data, len, err)) < 0) {
        store_blob_abort(w);
        return r;
    }
    return store_blob_commit(w, NULL, digest_out, NULL, err);
}

int store_blob_put_file(struct store *st, const char *path, char digest_out[DIGEST_STR_SIZE], uint64_t *size_out,
                        struct kiln_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_errno(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EFAIL, errno, "cannot open '%s'", path);
    struct store_blob_writer *w;
    int r = store_blob_begin(st, &w, err);
    if (r < 0)
        return r;
    static __thread char chunk[1 << 16];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", path);
            store_blob_abort(w);
            return r;
        }
        if (n == 0)
            break;
        if ((r = store_blob_write(w, chunk, (size_t)n, err)) < 0) {
            store_blob_abort(w);
            return r;
        }
    }
    return store_blob_commit(w, NULL, digest_out, size_out, err);
}

int store_blob_open(const struct store *st, const char *digest, int *fd, uint64_t *size, struct kiln_err *err)
{
    return oci_layout_blob_open(st->layout, digest, fd, size, err);
}

int store_blob_read(const struct store *st, const char *digest, size_t limit, struct buf *out, struct kiln_err *err)
{
    return oci_layout_blob_read(st->layout, digest, -1, limit, out, err);
}

int store_blob_verify(const struct store *st, const char *digest, int64_t expected_size, struct kiln_err *err)
{
    _cleanup_free_ char *p = store_blob_path(st, digest);
    if (!p)
        return bad_digest(digest, err);
    struct stat sb;
    if (lstat(p, &sb) < 0 || !S_ISREG(sb.st_mode))
        return kiln_errf(err, KILN_ENOTFOUND, "blob '%s' is not in store '%s'", digest, st->dir);
    if (expected_size >= 0 && sb.st_size != expected_size)
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' has %lld bytes, expected %lld", digest,
                         (long long)sb.st_size, (long long)expected_size);
    char hex[HASH_HEX_LEN + 1];
    uint64_t size = 0;
    int r = hash_file_sha256(p, hex, &size, err);
    if (r < 0)
        return r;
    if (strcmp(hex, digest + 7) != 0)
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' is corrupt: its content has digest 'sha256:%s'", digest, hex);
    if (expected_size >= 0 && size != (uint64_t)expected_size)
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' has %llu bytes, expected %lld", digest,
                         (unsigned long long)size, (long long)expected_size);
    return 0;
}

int store_manifest_read(const struct store *st, const char *digest, int64_t expected_size,
                        struct oci_manifest **out, struct kiln_err *err)
{
    return oci_layout_manifest_read(st->layout, digest, expected_size, out, err);
}

/* ---- walk -------------------------------------------------------------- */

struct walk {
    const struct store *st;
    int flags;
    store_walk_fn fn;
    void *ud;
    json_t *seen; /* digest -> true */
};

static int walk_rec(struct walk *w, const struct oci_desc *d, const struct oci_desc *parent, int depth,
                    struct kiln_err *err)
{
    if (json_object_get(w->seen, d->digest))
        return 0;
    json_object_set_new(w->seen, d->digest, json_true());
    int r = w->fn(d, parent, w->ud, err);
    if (r < 0)
        return r;
    if (r == 1)
        return 0;
    if (!oci_media_type_is_manifest(d->media_type) && !oci_media_type_is_index(d->media_type))
        return 0;
    if (depth >= WALK_MAX_DEPTH)
        return kiln_errf(err, KILN_EINVAL, "manifest '%s' is nested more than %d levels deep", d->digest,
                         WALK_MAX_DEPTH);
    struct oci_manifest *m = NULL;
    if ((r = store_manifest_read(w->st, d->digest, d->size, &m, err)) < 0)
        return r;
    if (strcmp(m->media_type, d->media_type) != 0) {
        r = kiln_errf(err, KILN_EINVAL, "manifest '%s' has media type '%s' but is listed as '%s'", d->digest,
                      m->media_type, d->media_type);
        goto out;
    }
    if (m->kind == OCI_KIND_MANIFEST && (r = walk_rec(w, &m->config, d, depth + 1, err)) < 0)
        goto out;
    for (size_t i = 0; i < m->n_descs; i++)
        if ((r = walk_rec(w, &m->descs[i], d, depth + 1, err)) < 0)
            goto out;
    if (m->files_digest) {
        struct oci_desc f = { .media_type = (char *)KILN_MT_FILES, .digest = m->files_digest, .size = -1 };
        if ((r = walk_rec(w, &f, d, depth + 1, err)) < 0)
            goto out;
    }
    if (m->subject && (w->flags & STORE_WALK_SUBJECT))
        r = walk_rec(w, m->subject, d, depth + 1, err);
out:
    oci_manifest_free(m);
    return r < 0 ? r : 0;
}

int store_walk(const struct store *st, const struct oci_desc *root, int flags, store_walk_fn fn, void *ud,
               struct kiln_err *err)
{
    if (!digest_valid(root->digest))
        return bad_digest(root->digest, err);
    struct walk w = { st, flags, fn, ud, json_object() };
    int r = walk_rec(&w, root, NULL, 0, err);
    json_decref(w.seen);
    return r;
}
