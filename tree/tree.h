/* tree.h - an in-memory root file system: what every base reads into,
 * every host-side step edits and every output writes out.
 *
 * A tree is a set of entries keyed by normalised absolute path ("/" is
 * the root, "/etc/passwd" a file).  Paths never contain "." or ".."
 * components and never escape the root.  File contents live in a spool
 * file in a scratch directory (appended once, read back with pread) or
 * inline in memory; each content's SHA-256 is computed while it is
 * copied in.  Hard links are files that share one content object.
 *
 * Every archive and directory read into a tree is treated as hostile:
 * see tree_add() and the limits below.  Names are bytes: any byte but a
 * control character, UTF-8 or not, kept as read.  libarchive converts pax
 * names between UTF-8 and the locale, and in a UTF-8 locale normalises them
 * to NFC (two files become one), so kiln stays in the C locale, where a name
 * it cannot convert keeps its bytes: reading, ARCHIVE_WARN ("can't be
 * converted from UTF-8") is not an error; writing, such a name goes out as
 * its bytes under hdrcharset=BINARY.  Writing is deterministic: entries
 * sorted by path (strcmp), numeric owners only, mtimes clamped to the
 * tree's source_date_epoch, pax headers only where ustar cannot say it.
 *
 * Ownership: struct tree is owned by its creator (tree_new/tree_free);
 * entries, contents and strings inside it are owned by the tree. */
#ifndef KILN_TREE_H
#define KILN_TREE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/hash.h"

/* Defaults of the hostile-input limits; the CLI may override them from
 * $KILN_MAX_EXPANDED_BYTES, $KILN_MAX_ENTRIES and $KILN_ALLOW_DEVICES. */
#define TREE_DEFAULT_MAX_BYTES   (64ull << 30)  /* expanded content, whole tree: 64 GiB */
#define TREE_DEFAULT_MAX_ENTRIES 2000000ull     /* entries, whole tree */
#define TREE_MAX_PATH            4096           /* bytes of a path or link target */
#define TREE_MAX_XATTRS          64             /* per entry */
#define TREE_MAX_XATTR_BYTES     65536          /* per value */

struct tree_limits {
    uint64_t max_bytes;     /* total content bytes read into the tree */
    uint64_t max_entries;   /* entries added, including replaced ones */
    int allow_devices;      /* accept every char/block device node (default: only the
                               harmless character devices, see tree_device_harmless) */
};

enum tree_type {
    TREE_FILE,
    TREE_DIR,
    TREE_SYMLINK,
    TREE_HARDLINK,   /* only in written output: a file sharing content with an earlier path */
    TREE_CHAR,
    TREE_BLOCK,
    TREE_FIFO,
};

struct tree_xattr {
    char *name;
    unsigned char *value;
    size_t len;
};

/* Shared by hard-linked files; reference-counted by the tree. */
struct tree_content {
    int refs;
    int inline_;           /* 1: data holds the bytes; 0: [off, off+size) of the spool */
    unsigned char *data;
    uint64_t off;
    uint64_t size;
    char sha256[HASH_HEX_LEN + 1];
    const char *written;   /* while writing: first path emitted with this content */
};

struct tree_entry {
    char *path;            /* normalised absolute path; owned */
    const char *name;      /* last component (points into path) */
    enum tree_type type;   /* never TREE_HARDLINK inside a tree */
    unsigned mode;         /* permission bits, 07777 */
    uint32_t uid, gid;
    int64_t mtime;
    char *target;          /* symlink target as written, or NULL */
    unsigned major, minor; /* char, block */
    struct tree_xattr *xattrs;
    size_t n_xattrs;
    struct tree_content *content; /* files only */

    /* internal */
    unsigned layer;
    struct tree_entry *parent, *child, *next, *prev, *hnext;
};

struct tree;

/* A new empty tree whose spool lives in scratch_dir; the root "/" is a
 * directory 0755 owned by 0:0.  *out is owned by the caller. */
int tree_new(const char *scratch_dir, const struct tree_limits *limits, struct tree **out,
             struct kiln_err *err);
void tree_free(struct tree *t);
void tree_limits_default(struct tree_limits *l);

/* Sets the time written out as the newest mtime and used for new entries. */
void tree_set_epoch(struct tree *t, int64_t source_date_epoch);
int64_t tree_epoch(const struct tree *t);
/* The newest mtime of the entries added so far, as read (0 when none). */
int64_t tree_newest_mtime(const struct tree *t);
size_t tree_count(const struct tree *t);
uint64_t tree_content_bytes(const struct tree *t);

/* Normalises a path from an archive or a recipe into "/a/b" form in *out
 * (owned by the caller): leading "/" and "./" are dropped, "." and empty
 * components skipped; ".." anywhere is refused, as is a path longer than
 * TREE_MAX_PATH.  `what` names the source in the error. */
int tree_normalize(const char *what, const char *path, char **out, struct kiln_err *err);

/* Looks up an exact normalised path without following symlinks; NULL if absent. */
struct tree_entry *tree_get(const struct tree *t, const char *path);

/* Resolves path like the kernel would inside the root (symlinks in every
 * component followed, absolute targets relative to the tree's root, at
 * most 40 links); NULL if it does not resolve to an existing entry. */
struct tree_entry *tree_resolve(const struct tree *t, const char *path);

/* How an entry arrives (from an archive, a directory or a step). */
struct tree_new_entry {
    const char *path;      /* as written in the source; normalised by tree_add */
    enum tree_type type;   /* TREE_HARDLINK: link_target names an existing file */
    unsigned mode;
    int64_t uid, gid;
    int64_t mtime;
    const char *link_target; /* symlink target, or hard link target path */
    unsigned major, minor;
    const struct tree_xattr *xattrs;
    size_t n_xattrs;
};

/* Adds an entry, replacing what is at its path (a directory over a
 * directory keeps the children).  Refuses, with KILN_EINVAL and a message
 * prefixed by `what`: paths escaping the root, names starting ".wh." (a
 * written layer would turn them into whiteouts), an entry whose parent
 * crosses a symlink or is not a directory, a non-directory at the root,
 * hard links to missing or non-file entries (or through symlinks),
 * device nodes other than the harmless ones unless allowed, sockets, owners beyond 2^32-2 and
 * exceeding the entry limit.  Missing parent directories are created
 * 0755 root-owned.  For files, the content must be set afterwards with
 * tree_set_content_*; *out (may be NULL) points at the new entry. */
int tree_add(struct tree *t, const char *what, const struct tree_new_entry *ne,
             struct tree_entry **out, struct kiln_err *err);

/* Removes path and, for a directory, everything below it; absent is fine.
 * Refuses paths whose parent crosses a symlink. */
int tree_remove(struct tree *t, const char *what, const char *path, struct kiln_err *err);

/* Content: streamed into the spool (hash computed on the way) or inline. */
int tree_content_begin(struct tree *t, struct kiln_err *err);
int tree_content_write(struct tree *t, const char *what, const void *data, size_t len,
                       struct kiln_err *err);
/* Attaches the bytes written since tree_content_begin to file e. */
int tree_content_end(struct tree *t, struct tree_entry *e, struct kiln_err *err);
/* Replaces e's content with a copy of data (e becomes a file of its own). */
int tree_set_inline(struct tree *t, struct tree_entry *e, const void *data, size_t len,
                    struct kiln_err *err);
/* Reads a file's content into *out (caller-owned, NUL-terminated), at most limit bytes. */
int tree_read_content(struct tree *t, const struct tree_entry *e, size_t limit, char **out,
                      size_t *len, struct kiln_err *err);
/* Copies [off, off+len) of e's content into dst. */
int tree_pread(struct tree *t, const struct tree_entry *e, void *dst, size_t len, uint64_t off,
               struct kiln_err *err);

/* Layers (OCI bases): entries added after tree_begin_layer(n) belong to
 * layer n; whiteouts only remove entries of lower layers. */
void tree_begin_layer(struct tree *t, unsigned layer);
/* Applies an OCI whiteout entry found at path (its name starts ".wh.").
 * Malformed whiteouts (".wh." alone, ".wh..", ".wh..wh.x" other than the
 * opaque marker) are refused. */
int tree_whiteout(struct tree *t, const char *what, const char *path, struct kiln_err *err);

/* The entries sorted by path (strcmp), root excluded.  *out is a
 * caller-owned array of pointers into the tree (valid until it changes). */
int tree_sorted(const struct tree *t, struct tree_entry ***out, size_t *n, struct kiln_err *err);

/* Reads a tar (any compression libarchive knows) from fd into the tree.
 * `what` names the archive in errors ("base tarball 'x.tar'").  Names
 * starting ".wh." are applied as OCI whiteouts when whiteouts is set and
 * refused otherwise (a rootfs cannot carry them into a layer).  When
 * sha256_out is not NULL it receives the digest of the bytes read from fd
 * (the whole file) and *size_out their count. */
struct tree_read_opts {
    int whiteouts;
    char *sha256_out;      /* HASH_HEX_LEN + 1, or NULL */
    uint64_t *size_out;
};
int tree_read_tar(struct tree *t, const char *what, int fd, const struct tree_read_opts *opts,
                  struct kiln_err *err);

/* Reads the host directory open as dirfd (borrowed) into the tree: an
 * lstat walk relative to it, symlinks stored as symlinks, never followed. */
int tree_read_dir(struct tree *t, const char *what, int dirfd, struct kiln_err *err);

/* Writes the tree as an uncompressed tar through the callback (called
 * with chunks of the stream; returns 0 or a negative code). */
typedef int (*tree_sink_fn)(void *ud, const void *data, size_t len, struct kiln_err *err);
int tree_write_tar(struct tree *t, tree_sink_fn sink, void *ud, struct kiln_err *err);
/* A sink writing to the file descriptor *(int *)ud. */
int tree_sink_fd(void *ud, const void *data, size_t len, struct kiln_err *err);

/* The file manifest (application/vnd.dev.kiln.files.v1+json): a new
 * reference owned by the caller. */
json_t *tree_file_manifest(struct tree *t);

/* A name (path or link target) in a file manifest: o[key] is its text, and
 * when the name is not UTF-8 that text is utf8_lossy() and o[key + "Hex"]
 * holds its exact bytes (see common/text.h). */
void tree_json_set_name(json_t *o, const char *key, const char *name);
/* The exact name back (owned by the caller), or NULL when o has none or its
 * hex is malformed. */
char *tree_json_get_name(json_t *o, const char *key);

const char *tree_type_name(enum tree_type type);
/* 1 for the character devices every minimal rootfs has and that give no
 * access to hardware: null 1:3, zero 1:5, full 1:7, random 1:8, urandom 1:9,
 * tty 5:0, console 5:1, ptmx 5:2.  Other device nodes in a base are refused
 * unless allowed: extracted as root, a block device such as 8:0 opens the
 * host's disk to whoever can reach the extracted tree. */
int tree_device_harmless(unsigned major, unsigned minor);

#endif
