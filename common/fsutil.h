/* fsutil.h - file system helpers with one write discipline.
 *
 * fs_write_atomic(): temp file in the same directory -> write -> fsync ->
 * rename -> fsync the directory.  A reader sees the old file or the new
 * one, never a part.  Every returned string is owned by the caller. */
#ifndef KILN_FSUTIL_H
#define KILN_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct kiln_err *err);
/* Writes all of [data, data+len) to fd (at off for fs_pwrite_all), retrying
 * short writes and EINTR; `what` names the file in the error. */
int fs_write_all(int fd, const void *data, size_t len, const char *what, struct kiln_err *err);
int fs_pwrite_all(int fd, const void *data, size_t len, uint64_t off, const char *what, struct kiln_err *err);
int fs_fsync_dir(const char *dir, struct kiln_err *err);
/* fsync an open fd, then rename tmp to path and fsync path's directory. */
int fs_commit_tmp(int fd, const char *tmp, const char *path, struct kiln_err *err);
int fs_mkdir_p(const char *path, mode_t mode, struct kiln_err *err);
/* Reads a whole file; fails with KILN_EINVAL if it is larger than limit. */
int fs_read_file(const char *path, size_t limit, struct buf *out, struct kiln_err *err);
/* The same from an open fd (its current offset to the end); path names it in messages. */
int fs_read_fd(int fd, const char *path, size_t limit, struct buf *out, struct kiln_err *err);
/* Removes path and everything below it; never follows symlinks. ENOENT is fine. */
int fs_rm_rf(const char *path, struct kiln_err *err);
/* Creates a fresh directory parent/prefixXXXXXX; *out is owned by the caller. */
int fs_mkdtemp(const char *parent, const char *prefix, char **out, struct kiln_err *err);
int fs_exists(const char *path);
/* Opens `canonical`, an absolute path without symlinks, '.' or '..' (as
 * realpath() gives it), walking from '/' one component at a time with
 * O_NOFOLLOW: the file opened is the one at that path now, never one that a
 * symlink swapped in since the path was resolved leads to.  flags are for
 * the last component (O_NOFOLLOW and O_CLOEXEC are added).  Returns the fd,
 * or -1 with errno set (ELOOP or ENOTDIR: a component is now a symlink;
 * EINVAL: the path is not canonical). */
int fs_open_nofollow(const char *canonical, int flags);
/* 1 if the canonical path is dir or below it (dir canonical too). */
int path_is_beneath(const char *path, const char *dir);
/* Caller-owned "a/b" (b absolute -> b). */
char *path_join(const char *a, const char *b);
/* Caller-owned directory part of path ("." when none). */
char *path_dirname(const char *path);
/* Caller-owned absolute path of path relative to base's directory, unless already absolute. */
char *path_resolve_from(const char *base_file, const char *path);

#endif
