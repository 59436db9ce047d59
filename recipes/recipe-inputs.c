/* recipe-inputs.c - the host files a recipe names: inside the build context
 * (recipe_open_input), and, for recipe_check_inputs(), existing, of the
 * right kind, and matching their declared sha256 (streamed). */
#include "recipes/recipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "images/layout.h"
#include "common/banned.h"

const char *recipe_base_path_key(enum recipe_base_kind kind)
{
    switch (kind) {
    case BASE_TARBALL: return "base.tarball.path";
    case BASE_DISK: return "base.disk.path";
    case BASE_DIRECTORY: return "base.directory";
    case BASE_OCI: return "base.oci.layout";
    case BASE_SCRATCH:
    case BASE_DEBIAN:
        break;
    }
    return NULL;
}

/* "'A'" or "'A', 'B', ..." for messages. */
static char *context_shown(const struct recipe *r)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < r->context.n; i++) {
        if (i)
            buf_adds(&b, ", ", NULL);
        buf_addch(&b, '\'', NULL);
        buf_adds(&b, r->context.v[i], NULL);
        buf_addch(&b, '\'', NULL);
    }
    return buf_detach(&b, NULL);
}

int recipe_open_input(const struct recipe *r, const char *key, const char *path, int flags, char **real_out,
                      struct kiln_err *err)
{
    if (real_out)
        *real_out = NULL;
    _cleanup_free_ char *real = realpath(path, NULL);
    if (!real)
        return kiln_errno(err, KILN_EINVAL, errno, "%s '%s' cannot be read", key, path);
    int inside = 0;
    for (size_t i = 0; i < r->context.n && !inside; i++)
        inside = path_is_beneath(real, r->context.v[i]);
    if (!inside) {
        _cleanup_free_ char *ctx = context_shown(r);
        _cleanup_free_ char *via = strcmp(real, path) ? xasprintf(" (it resolves to '%s')", real) : xstrdup("");
        return kiln_errf(err, KILN_EINVAL, "%s '%s'%s is outside the build context %s (use --context to widen it)",
                         key, path, via, ctx);
    }
    /* Opened along the resolved path with no symlink followed: what is
     * opened is at that path, inside the context, even if a symlink was
     * swapped in since realpath(). */
    int fd = fs_open_nofollow(real, flags);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            return kiln_errf(err, KILN_EINVAL, "%s '%s' changed while it was opened (a symlink appeared on '%s')",
                             key, path, real);
        return kiln_errno(err, KILN_EINVAL, errno, "%s '%s' cannot be read", key, path);
    }
    if (real_out)
        *real_out = TAKE_PTR(real);
    return fd;
}

/* In an OCI layout, the entries kiln reads by name may not be symlinks:
 * they could lead out of the build context. */
static int layout_entries_plain(int dirfd, const char *path, struct kiln_err *err)
{
    static const char *const names[] = { "oci-layout", "index.json", "blobs", "blobs/sha256" };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        struct stat st;
        if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return kiln_errf(err, KILN_EINVAL,
                             "base.oci.layout '%s': '%s' is a symlink, which could lead out of the build context",
                             path, names[i]);
    }
    return 0;
}

int recipe_open_layout(const struct recipe *r, struct kiln_err *err)
{
    const struct recipe_base *b = &r->base;
    int fd = recipe_open_input(r, "base.oci.layout", b->path, O_RDONLY | O_DIRECTORY, NULL, err);
    if (fd < 0)
        return fd;
    int rc = layout_entries_plain(fd, b->path, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int recipe_check_mirror(const struct recipe *r, struct kiln_err *err)
{
    const char *m = r->base.mirror;
    if (r->base.kind != BASE_DEBIAN || !m || strncmp(m, "file://", 7) != 0)
        return 0;
    _cleanup_close_ int fd = recipe_open_input(r, "base.debian.mirror", m + 7, O_RDONLY | O_DIRECTORY, NULL, err);
    return fd < 0 ? fd : 0;
}

int recipe_open_keyring(const struct recipe *r, struct kiln_err *err)
{
    if (r->base.kind != BASE_DEBIAN || !r->base.keyring)
        return 0;
    return recipe_open_input(r, "base.debian.keyring", r->base.keyring, O_RDONLY | O_NOCTTY, NULL, err);
}

static int pos_errf(const struct recipe *r, struct recipe_pos pos, struct kiln_err *err, int code,
                    const char *fmt, ...) KILN_PRINTF(5, 6);
static int pos_errf(const struct recipe *r, struct recipe_pos pos, struct kiln_err *err, int code,
                    const char *fmt, ...)
{
    char msg[420];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kiln_errf(err, code, "%s:%u:%u: %s", r->source ? r->source : r->path, pos.line, pos.col, msg);
}

static int pos_prefix(const struct recipe *r, struct recipe_pos pos, struct kiln_err *err)
{
    return kiln_err_prefix(err, "%s:%u:%u", r->source ? r->source : r->path, pos.line, pos.col);
}

/* A regular file inside the context; with want, of that sha256. */
static int check_file(const struct recipe *r, struct recipe_pos pos, const char *key, const char *what,
                      const char *path, const char *want, struct kiln_err *err)
{
    _cleanup_close_ int fd = recipe_open_input(r, key, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, NULL, err);
    if (fd < 0)
        return pos_prefix(r, pos, err);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' cannot be read: %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' is not a regular file", what, path);
    if (!want || !want[0])
        return 0;
    char got[HASH_HEX_LEN + 1];
    struct kiln_err e = KILN_ERR_INIT;
    if (hash_fd_sha256(fd, path, got, NULL, &e) < 0)
        return pos_errf(r, pos, err, KILN_EINVAL, "%s", e.msg);
    if (strcmp(got, want) != 0)
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' has sha256 %s, the recipe declares %s", what, path,
                        got, want);
    return 0;
}


/* The layout has an oci-layout file and an index.json entry named ref. */
static int check_oci_ref(const struct recipe *r, struct kiln_err *err)
{
    const struct recipe_base *b = &r->base;
    _cleanup_close_ int dirfd = recipe_open_layout(r, err);
    if (dirfd < 0)
        return pos_prefix(r, b->path_pos, err);
    struct stat st;
    if (fstatat(dirfd, "oci-layout", &st, 0) < 0)
        return pos_errf(r, b->path_pos, err, KILN_EINVAL, "base OCI layout '%s' has no 'oci-layout' file", b->path);
    _cleanup_free_ char *layout_path = xasprintf("/proc/self/fd/%d", dirfd);
    struct kiln_err e = KILN_ERR_INIT;
    struct oci_layout *l = NULL;
    struct oci_index *ix = NULL;
    const struct oci_desc *d = NULL;
    int rc = 0;
    if (oci_layout_open(layout_path, &l, &e) < 0)
        rc = pos_errf(r, b->path_pos, err, KILN_EINVAL, "base OCI layout '%s': %s", b->path, e.msg);
    else if (oci_layout_index(l, &ix, &e) < 0)
        rc = pos_errf(r, b->path_pos, err, KILN_EINVAL, "base OCI layout '%s' has no valid index.json (%s)",
                      b->path, e.msg);
    else if (oci_index_resolve(ix, b->ref, &d, &e) < 0)
        rc = pos_errf(r, b->pos, err, KILN_EINVAL, "base OCI layout '%s' has no image named '%s'", b->path,
                      b->ref);
    oci_index_free(ix);
    oci_layout_close(l);
    return rc;
}

static int check_dir(const struct recipe *r, struct kiln_err *err)
{
    const struct recipe_base *b = &r->base;
    _cleanup_close_ int fd = recipe_open_input(r, "base.directory", b->path, O_RDONLY, NULL, err);
    if (fd < 0)
        return pos_prefix(r, b->path_pos, err);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
        return pos_errf(r, b->path_pos, err, KILN_EINVAL, "base directory '%s' is not a directory", b->path);
    return 0;
}

int recipe_check_inputs(const struct recipe *r, struct kiln_err *err)
{
    const struct recipe_base *b = &r->base;
    int rc = 0;
    switch (b->kind) {
    case BASE_TARBALL:
        rc = check_file(r, b->path_pos, "base.tarball.path", "base tarball", b->path, b->sha256, err);
        break;
    case BASE_DISK:
        rc = check_file(r, b->path_pos, "base.disk.path", "base disk", b->path, b->sha256, err);
        break;
    case BASE_DIRECTORY:
        rc = check_dir(r, err);
        break;
    case BASE_OCI:
        rc = check_oci_ref(r, err);
        break;
    case BASE_DEBIAN:
        rc = recipe_check_mirror(r, err);
        if (rc < 0) {
            pos_prefix(r, b->path_pos, err);
        } else if ((rc = recipe_open_keyring(r, err)) < 0) {
            pos_prefix(r, b->keyring_pos, err);
        } else if (rc > 0) {
            close(rc);
            rc = 0;
        }
        break;
    case BASE_SCRATCH:
        break;
    }
    for (size_t i = 0; rc == 0 && i < r->n_files; i++) {
        const struct recipe_file *f = &r->files[i];
        if (f->src) {
            char key[64];
            snprintf(key, sizeof(key), "files[%zu].src", i);
            rc = check_file(r, f->src_pos, key, key, f->src, NULL, err);
        }
    }
    return rc;
}
