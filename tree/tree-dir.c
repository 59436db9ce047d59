/* tree-dir.c - a host directory into a tree: an lstat walk that never
 * follows symlinks (every directory is opened O_NOFOLLOW relative to its
 * parent's descriptor, every file O_NOFOLLOW, its capabilities read from
 * the open file), so a symlink in the source cannot lead the walk out of
 * it: a symlink is stored as a symlink. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tree/tree-internal.h"
#include "common/common.h"
#include "common/banned.h"

#define IO_CHUNK (1u << 20)
#define MAX_DEPTH 256

struct walk {
    struct tree *t;
    const char *what;
    unsigned char *buf;
    /* hard links: (dev, ino) of files with nlink > 1 -> first path */
    struct hl { dev_t dev; ino_t ino; char *path; } *hls;
    size_t n_hls, cap_hls;
};

static const char *hl_find(struct walk *w, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < w->n_hls; i++)
        if (w->hls[i].dev == dev && w->hls[i].ino == ino)
            return w->hls[i].path;
    return NULL;
}

static int copy_file(struct walk *w, int fd, const char *path, struct tree_entry *e, struct kiln_err *err)
{
    int r = tree_content_begin(w->t, err);
    if (r < 0)
        return r;
    for (;;) {
        ssize_t n = read(fd, w->buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "%s: cannot read '%s'", w->what, path);
        if (n == 0)
            break;
        if ((r = tree_content_write(w->t, w->what, w->buf, (size_t)n, err)) < 0)
            return r;
    }
    return tree_content_end(w->t, e, err);
}

/* File capabilities, read from the open file (never through a path). */
static int read_caps(int fd, struct tree_xattr *x)
{
    unsigned char v[256];
    ssize_t n = fgetxattr(fd, "security.capability", v, sizeof(v));
    if (n <= 0)
        return 0;
    x->name = (char *)"security.capability";
    x->value = xmalloc((size_t)n);
    memcpy(x->value, v, (size_t)n);
    x->len = (size_t)n;
    return 1;
}

static int walk_dir(struct walk *w, int dirfd, const char *rel, unsigned depth, struct kiln_err *err)
{
    if (depth > MAX_DEPTH)
        return kiln_errf(err, KILN_EINVAL, "%s: '%s' is nested deeper than %d levels", w->what, rel,
                         MAX_DEPTH);
    int dfd = dup(dirfd);
    if (dfd < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "%s: cannot open '%s'", w->what, rel);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return kiln_errno(err, KILN_EFAIL, errno, "%s: cannot open '%s'", w->what, rel);
    }
    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                r = kiln_errno(err, KILN_EFAIL, errno, "%s: cannot read '%s'", w->what, rel);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", rel, de->d_name);
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = kiln_errno(err, KILN_EFAIL, errno, "%s: cannot stat '%s'", w->what, path);
            break;
        }
        if (strncmp(de->d_name, ".wh.", 4) == 0) {
            r = kiln_errf(err, KILN_EINVAL,
                          "%s: entry '%s' has a whiteout name ('.wh.'), which an image layer cannot carry",
                          w->what, path);
            break;
        }
        struct tree_new_entry ne = {
            .path = path,
            .mode = st.st_mode & 07777,
            .uid = st.st_uid,
            .gid = st.st_gid,
            .mtime = st.st_mtim.tv_sec,
        };
        _cleanup_free_ char *target = NULL;
        const char *first = NULL;
        if (S_ISREG(st.st_mode)) {
            ne.type = TREE_FILE;
            if (st.st_nlink > 1 && (first = hl_find(w, st.st_dev, st.st_ino))) {
                ne.type = TREE_HARDLINK;
                ne.link_target = first;
            }
        } else if (S_ISDIR(st.st_mode)) {
            ne.type = TREE_DIR;
        } else if (S_ISLNK(st.st_mode)) {
            ne.type = TREE_SYMLINK;
            size_t cap = TREE_MAX_PATH + 2;
            target = xmalloc(cap);
            ssize_t n = readlinkat(dirfd, de->d_name, target, cap);
            if (n < 0) {
                r = kiln_errno(err, KILN_EFAIL, errno, "%s: cannot read link '%s'", w->what, path);
                break;
            }
            if ((size_t)n >= cap - 1) {
                r = kiln_errf(err, KILN_EINVAL, "%s: link '%s' has a target longer than %d bytes",
                              w->what, path, TREE_MAX_PATH);
                break;
            }
            target[n] = '\0';
            ne.link_target = target;
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            ne.type = S_ISCHR(st.st_mode) ? TREE_CHAR : TREE_BLOCK;
            ne.major = major(st.st_rdev);
            ne.minor = minor(st.st_rdev);
        } else if (S_ISFIFO(st.st_mode)) {
            ne.type = TREE_FIFO;
        } else {
            r = kiln_errf(err, KILN_EINVAL, "%s: entry '%s' is a socket, which an image cannot carry",
                          w->what, path);
            break;
        }
        struct tree_xattr cap = { 0 };
        _cleanup_close_ int fd = -1;
        if (ne.type == TREE_FILE) {
            fd = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
            if (fd < 0) {
                r = kiln_errno(err, KILN_EFAIL, errno, "%s: cannot open '%s'", w->what, path);
                break;
            }
            if (read_caps(fd, &cap)) {
                ne.xattrs = &cap;
                ne.n_xattrs = 1;
            }
        }
        struct tree_entry *e = NULL;
        r = tree_add(w->t, w->what, &ne, &e, err);
        free(cap.value);
        if (r < 0)
            break;
        if (ne.type == TREE_FILE) {
            if ((r = copy_file(w, fd, path, e, err)) < 0)
                break;
            if (st.st_nlink > 1) {
                if (w->n_hls == w->cap_hls) {
                    w->cap_hls = w->cap_hls ? w->cap_hls * 2 : 64;
                    w->hls = xrealloc(w->hls, w->cap_hls * sizeof(*w->hls));
                }
                w->hls[w->n_hls++] = (struct hl){ st.st_dev, st.st_ino, xstrdup(path) };
            }
        } else if (ne.type == TREE_DIR) {
            _cleanup_close_ int sub = openat(dirfd, de->d_name,
                                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                r = kiln_errno(err, KILN_EFAIL, errno, "%s: cannot open '%s'", w->what, path);
                break;
            }
            if ((r = walk_dir(w, sub, path, depth + 1, err)) < 0)
                break;
        }
    }
    closedir(d);
    return r;
}

int tree_read_dir(struct tree *t, const char *what, int dirfd, struct kiln_err *err)
{
    struct walk w = { .t = t, .what = what };
    w.buf = xmalloc(IO_CHUNK);
    int r = walk_dir(&w, dirfd, "", 0, err);
    free(w.buf);
    for (size_t i = 0; i < w.n_hls; i++)
        free(w.hls[i].path);
    free(w.hls);
    return r;
}
