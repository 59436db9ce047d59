#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/banned.h"

char *path_join(const char *a, const char *b)
{
    if (b[0] == '/' || a[0] == '\0')
        return xstrdup(b);
    size_t la = strlen(a);
    if (a[la - 1] == '/')
        return xasprintf("%s%s", a, b);
    return xasprintf("%s/%s", a, b);
}

char *path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

char *path_resolve_from(const char *base_file, const char *path)
{
    if (path[0] == '/')
        return xstrdup(path);
    _cleanup_free_ char *dir = path_dirname(base_file);
    return path_join(dir, path);
}

int path_is_beneath(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 1 && dir[0] == '/')
        return path[0] == '/';
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int fs_open_nofollow(const char *canonical, int flags)
{
    if (canonical[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    const char *p = canonical;
    while (dir >= 0) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        const char *next = p + len;
        while (*next == '/')
            next++;
        if (len == 0) { /* the path is "/" itself */
            int fd = openat(dir, ".", flags | O_CLOEXEC);
            close(dir);
            return fd;
        }
        if (len >= NAME_MAX + 1 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
            close(dir);
            errno = len > NAME_MAX ? ENAMETOOLONG : EINVAL;
            return -1;
        }
        char name[NAME_MAX + 1];
        memcpy(name, p, len);
        name[len] = '\0';
        int last = *next == '\0';
        int fd = openat(dir, name, last ? flags | O_NOFOLLOW | O_CLOEXEC
                                        : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(dir);
        if (last || fd < 0) {
            errno = e;
            return fd;
        }
        dir = fd;
        p = next;
    }
    return -1;
}

int fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int fs_fsync_dir(const char *dir, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open directory '%s'", dir);
    if (fsync(fd) < 0 && errno != EINVAL)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot sync directory '%s'", dir);
    return 0;
}

int fs_commit_tmp(int fd, const char *tmp, const char *path, struct kiln_err *err)
{
    if (fsync(fd) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot sync '%s'", tmp);
    if (rename(tmp, path) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot rename '%s' to '%s'", tmp, path);
    _cleanup_free_ char *dir = path_dirname(path);
    return fs_fsync_dir(dir, err);
}

/* Writes all of [data, data+len) with write(), or with pwrite() from *off. */
static int write_loop(int fd, const void *data, size_t len, const uint64_t *off, const char *what,
                      struct kiln_err *err)
{
    const char *p = data;
    uint64_t at = off ? *off : 0;
    while (len) {
        ssize_t n = off ? pwrite(fd, p, len, (off_t)at) : write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kiln_errno(err, KILN_EFAIL, n < 0 ? errno : EIO, "cannot write '%s'", what);
        p += n;
        len -= (size_t)n;
        at += (uint64_t)n;
    }
    return 0;
}

int fs_write_all(int fd, const void *data, size_t len, const char *what, struct kiln_err *err)
{
    return write_loop(fd, data, len, NULL, what, err);
}

int fs_pwrite_all(int fd, const void *data, size_t len, uint64_t off, const char *what, struct kiln_err *err)
{
    return write_loop(fd, data, len, &off, what, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct kiln_err *err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create a temporary file for '%s'", path);
    int r = fs_write_all(fd, data, len, tmp, err);
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    if (fchmod(fd, mode) < 0) {
        int e = errno;
        unlink(tmp);
        return kiln_errno(err, KILN_EFAIL, e, "cannot chmod '%s'", tmp);
    }
    r = fs_commit_tmp(fd, tmp, path, err);
    if (r < 0)
        unlink(tmp);
    return r;
}

int fs_mkdir_p(const char *path, mode_t mode, struct kiln_err *err)
{
    _cleanup_free_ char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot create directory '%s'", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create directory '%s'", p);
    struct stat st;
    if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
        return kiln_errf(err, KILN_EFAIL, "'%s' exists and is not a directory", p);
    return 0;
}

int fs_read_fd(int fd, const char *path, size_t limit, struct buf *out, struct kiln_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot stat '%s'", path);
    if (S_ISDIR(st.st_mode))
        return kiln_errf(err, KILN_EINVAL, "'%s' is a directory", path);
    if (limit && st.st_size > 0 && (size_t)st.st_size > limit)
        return kiln_errf(err, KILN_EINVAL, "'%s' is larger than %zu bytes", path, limit);
    size_t saved = out->limit;
    out->limit = limit ? out->len + limit : 0;
    char chunk[65536];
    int r = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", path);
            break;
        }
        if (n == 0)
            break;
        r = buf_add(out, chunk, (size_t)n, err);
        if (r < 0) {
            if (r == KILN_EINVAL)
                kiln_errf(err, KILN_EINVAL, "'%s' is larger than %zu bytes", path, limit);
            break;
        }
    }
    out->limit = saved;
    return r;
}

int fs_read_file(const char *path, size_t limit, struct buf *out, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_errno(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EFAIL, errno, "cannot open '%s'", path);
    return fs_read_fd(fd, path, limit, out, err);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_rm_rf(const char *path, struct kiln_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : kiln_errno(err, KILN_EFAIL, errno, "cannot stat '%s'", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot remove '%s'", path);
        return 0;
    }
    /* Directories we made read-only inside rootfs trees still need removing. */
    if (nftw(path, rm_cb, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot remove '%s'", path);
    return 0;
}

int fs_mkdtemp(const char *parent, const char *prefix, char **out, struct kiln_err *err)
{
    char *t = xasprintf("%s/%sXXXXXX", parent, prefix);
    if (!mkdtemp(t)) {
        int e = errno;
        kiln_errno(err, KILN_EFAIL, e, "cannot create a temporary directory in '%s'", parent);
        free(t);
        return KILN_EFAIL;
    }
    *out = t;
    return 0;
}
