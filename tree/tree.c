/* tree.c - the in-memory root file system: entries, path resolution, contents. */
#include "tree/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tree/tree-internal.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "common/text.h"
#include "common/banned.h"

#define SPOOL_BUF (1u << 20)

void tree_limits_default(struct tree_limits *l)
{
    l->max_bytes = TREE_DEFAULT_MAX_BYTES;
    l->max_entries = TREE_DEFAULT_MAX_ENTRIES;
    l->allow_devices = 0;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void table_insert(struct tree *t, struct tree_entry *e);

static void table_grow(struct tree *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 1024;
    struct tree_entry **old = t->buckets;
    size_t oldn = t->nbuckets;
    t->buckets = xcalloc(nb, sizeof(*t->buckets));
    t->nbuckets = nb;
    t->count = 0;
    for (size_t i = 0; i < oldn; i++) {
        struct tree_entry *e = old[i];
        while (e) {
            struct tree_entry *nx = e->hnext;
            table_insert(t, e);
            e = nx;
        }
    }
    free(old);
}

static void table_insert(struct tree *t, struct tree_entry *e)
{
    if (t->count + 1 > t->nbuckets)
        table_grow(t);
    size_t b = hash_str(e->path) & (t->nbuckets - 1);
    e->hnext = t->buckets[b];
    t->buckets[b] = e;
    t->count++;
}

static void table_remove(struct tree *t, struct tree_entry *e)
{
    size_t b = hash_str(e->path) & (t->nbuckets - 1);
    for (struct tree_entry **p = &t->buckets[b]; *p; p = &(*p)->hnext) {
        if (*p == e) {
            *p = e->hnext;
            t->count--;
            return;
        }
    }
}

struct tree_entry *tree_get(const struct tree *t, const char *path)
{
    if (!t->nbuckets)
        return NULL;
    size_t b = hash_str(path) & (t->nbuckets - 1);
    for (struct tree_entry *e = t->buckets[b]; e; e = e->hnext)
        if (strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

void tree_content_unref(struct tree_content *c)
{
    if (!c || --c->refs > 0)
        return;
    free(c->data);
    free(c);
}

static void entry_free_fields(struct tree_entry *e)
{
    free(e->target);
    e->target = NULL;
    for (size_t i = 0; i < e->n_xattrs; i++) {
        free(e->xattrs[i].name);
        free(e->xattrs[i].value);
    }
    free(e->xattrs);
    e->xattrs = NULL;
    e->n_xattrs = 0;
    tree_content_unref(e->content);
    e->content = NULL;
}

static void unlink_child(struct tree_entry *e)
{
    if (!e->parent)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        e->parent->child = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->parent = e->next = e->prev = NULL;
}

static void link_child(struct tree_entry *parent, struct tree_entry *e)
{
    e->parent = parent;
    e->prev = NULL;
    e->next = parent->child;
    if (parent->child)
        parent->child->prev = e;
    parent->child = e;
}

/* Frees e and everything below it; removes them from the table. */
static void subtree_free(struct tree *t, struct tree_entry *e)
{
    while (e->child) {
        struct tree_entry *c = e->child;
        unlink_child(c);
        subtree_free(t, c);
    }
    unlink_child(e);
    table_remove(t, e);
    entry_free_fields(e);
    free(e->path);
    free(e);
}

static struct tree_entry *entry_new(struct tree *t, const char *path)
{
    struct tree_entry *e = xcalloc(1, sizeof(*e));
    e->path = xstrdup(path);
    const char *slash = strrchr(e->path, '/');
    e->name = slash ? slash + 1 : e->path;
    e->layer = t->layer;
    return e;
}

int tree_new(const char *scratch_dir, const struct tree_limits *limits, struct tree **out,
             struct kiln_err *err)
{
    struct tree *t = xcalloc(1, sizeof(*t));
    t->spool_fd = -1;
    if (limits)
        t->limits = *limits;
    else
        tree_limits_default(&t->limits);
    t->spool_path = xasprintf("%s/spool.XXXXXX", scratch_dir);
    t->spool_fd = mkostemp(t->spool_path, O_CLOEXEC);
    if (t->spool_fd < 0) {
        int e = errno;
        free(t->spool_path);
        free(t);
        return kiln_errno(err, KILN_EFAIL, e, "cannot create a spool file in '%s'", scratch_dir);
    }
    unlink(t->spool_path); /* anonymous from now on: gone with the process */
    t->wbuf = xmalloc(SPOOL_BUF);
    struct tree_entry *root = entry_new(t, "/");
    root->name = "";
    root->type = TREE_DIR;
    root->mode = 0755;
    table_insert(t, root);
    t->root = root;
    *out = t;
    return 0;
}

void tree_free(struct tree *t)
{
    if (!t)
        return;
    subtree_free(t, t->root);
    free(t->buckets);
    if (t->spool_fd >= 0)
        close(t->spool_fd);
    free(t->spool_path);
    free(t->wbuf);
    if (t->cur_hash)
        hash_free(t->cur_hash);
    free(t);
}

void tree_set_epoch(struct tree *t, int64_t sde)
{
    t->epoch = sde;
}

int64_t tree_epoch(const struct tree *t)
{
    return t->epoch;
}

int64_t tree_newest_mtime(const struct tree *t)
{
    return t->newest;
}

size_t tree_count(const struct tree *t)
{
    return t->count;
}

uint64_t tree_content_bytes(const struct tree *t)
{
    return t->bytes;
}

void tree_begin_layer(struct tree *t, unsigned layer)
{
    t->layer = layer;
}

const char *tree_type_name(enum tree_type type)
{
    switch (type) {
    case TREE_FILE: return "file";
    case TREE_DIR: return "dir";
    case TREE_SYMLINK: return "symlink";
    case TREE_HARDLINK: return "hardlink";
    case TREE_CHAR: return "char";
    case TREE_BLOCK: return "block";
    case TREE_FIFO: return "fifo";
    }
    return "unknown";
}

int tree_valid_name(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

int tree_normalize(const char *what, const char *path, char **out, struct kiln_err *err)
{
    size_t len = strlen(path);
    if (len == 0)
        return kiln_errf(err, KILN_EINVAL, "%s: an entry has an empty name", what);
    if (len > TREE_MAX_PATH)
        return kiln_errf(err, KILN_EINVAL, "%s: entry '%.64s...' has a name longer than %d bytes",
                         what, path, TREE_MAX_PATH);
    if (!tree_valid_name(path))
        return kiln_errf(err, KILN_EINVAL,
                         "%s: an entry name contains a control character", what);
    char *res = xmalloc(len + 2);
    size_t n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t cl = end ? (size_t)(end - p) : strlen(p);
        if (cl == 1 && p[0] == '.') {
            /* skip */
        } else if (cl == 2 && p[0] == '.' && p[1] == '.') {
            free(res);
            return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' escapes the root", what, path);
        } else {
            res[n++] = '/';
            memcpy(res + n, p, cl);
            n += cl;
        }
        p += cl;
    }
    if (n == 0)
        res[n++] = '/';
    res[n] = '\0';
    *out = res;
    return 0;
}

/* Finds or creates the parent directory of the normalised path, refusing
 * any component that is a symlink or not a directory. */
static int get_parent(struct tree *t, const char *what, const char *orig, const char *path,
                      int create, struct tree_entry **out, struct kiln_err *err)
{
    _cleanup_free_ char *buf = xstrdup(path);
    struct tree_entry *cur = t->root;
    char *slash = strrchr(buf, '/');
    if (slash == buf) {
        *out = cur;
        return 0;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        struct tree_entry *e = tree_get(t, buf);
        if (!e) {
            if (!create) {
                *out = NULL;
                return 0;
            }
            if (t->added >= t->limits.max_entries)
                return kiln_errf(err, KILN_EINVAL, "%s: more than %llu entries (set KILN_MAX_ENTRIES)",
                                 what, (unsigned long long)t->limits.max_entries);
            t->added++;
            e = entry_new(t, buf);
            e->type = TREE_DIR;
            e->mode = 0755;
            e->mtime = t->epoch;
            table_insert(t, e);
            link_child(cur, e);
        } else if (e->type == TREE_SYMLINK) {
            return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' is written through the symlink '%s'",
                             what, orig, buf);
        } else if (e->type != TREE_DIR) {
            return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' has a parent '%s' that is not a directory",
                             what, orig, buf);
        }
        cur = e;
        *p = saved;
        if (p == slash)
            break;
    }
    *out = cur;
    return 0;
}

struct tree_entry *tree_resolve(const struct tree *t, const char *path)
{
    /* Work on a component list; each symlink splices its target in. */
    _cleanup_free_ char *cur = xstrdup("/");  /* resolved prefix */
    _cleanup_free_ char *rest = xstrdup(path);
    int links = 0;
    for (;;) {
        char *p = rest;
        while (*p == '/')
            p++;
        if (!*p)
            return tree_get(t, cur);
        char *end = strchr(p, '/');
        size_t cl = end ? (size_t)(end - p) : strlen(p);
        char *comp = xstrndup(p, cl);
        char *tail = xstrdup(p + cl);
        free(rest);
        rest = tail;
        if (strcmp(comp, ".") == 0) {
            free(comp);
            continue;
        }
        if (strcmp(comp, "..") == 0) {
            free(comp);
            char *s = strrchr(cur, '/');
            if (s && s != cur)
                *s = '\0';
            else
                cur[1] = '\0';
            continue;
        }
        char *next = strcmp(cur, "/") == 0 ? xasprintf("/%s", comp) : xasprintf("%s/%s", cur, comp);
        free(comp);
        struct tree_entry *e = tree_get(t, next);
        if (!e) {
            free(next);
            return NULL;
        }
        if (e->type == TREE_SYMLINK) {
            if (++links > 40 || !e->target) {
                free(next);
                return NULL;
            }
            char *nr = xasprintf("%s/%s", e->target, rest);
            free(rest);
            rest = nr;
            free(next);
            if (e->target[0] == '/')
                cur[1] = '\0';
            continue;
        }
        if (rest[strspn(rest, "/")] && e->type != TREE_DIR) {
            free(next);
            return NULL;
        }
        free(cur);
        cur = next;
    }
}

int tree_device_harmless(unsigned major, unsigned minor)
{
    /* null zero full random urandom; tty console ptmx: what a minimal rootfs
     * (mmdebstrap, debootstrap) ships and what a container runtime provides. */
    static const unsigned ok[][2] = { { 1, 3 }, { 1, 5 }, { 1, 7 }, { 1, 8 }, { 1, 9 },
                                      { 5, 0 }, { 5, 1 }, { 5, 2 } };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
        if (ok[i][0] == major && ok[i][1] == minor)
            return 1;
    return 0;
}

static int check_owner(const char *what, const char *path, int64_t id, const char *kind,
                       struct kiln_err *err)
{
    if (id < 0 || id > 4294967294ll)
        return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' has an invalid %s %lld", what, path, kind,
                         (long long)id);
    return 0;
}

int tree_add(struct tree *t, const char *what, const struct tree_new_entry *ne,
             struct tree_entry **out, struct kiln_err *err)
{
    _cleanup_free_ char *path = NULL;
    int r = tree_normalize(what, ne->path, &path, err);
    if (r < 0)
        return r;
    if (ne->type != TREE_DIR) {
        /* "x/." or "." naming a non-directory is never an honest entry. */
        size_t l = strlen(ne->path);
        while (l > 1 && ne->path[l - 1] == '/')
            l--;
        if ((l == 1 && ne->path[0] == '.') || (l >= 2 && ne->path[l - 1] == '.' && ne->path[l - 2] == '/'))
            return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' is a %s named '.'", what, ne->path,
                             tree_type_name(ne->type == TREE_HARDLINK ? TREE_FILE : ne->type));
    }
    const char *base = strrchr(path, '/') + 1;
    if (strncmp(base, ".wh.", 4) == 0)
        return kiln_errf(err, KILN_EINVAL,
                         "%s: entry '%s' has a whiteout name ('.wh.'), which an image layer cannot carry",
                         what, ne->path);
    if ((r = check_owner(what, ne->path, ne->uid, "uid", err)) < 0 ||
        (r = check_owner(what, ne->path, ne->gid, "gid", err)) < 0)
        return r;
    if ((ne->type == TREE_CHAR || ne->type == TREE_BLOCK) && !t->limits.allow_devices &&
        !(ne->type == TREE_CHAR && tree_device_harmless(ne->major, ne->minor)))
        return kiln_errf(err, KILN_EINVAL,
                         "%s: entry '%s' is a %s device %u:%u; only the standard character devices "
                         "(null, zero, full, random, urandom, tty, console, ptmx) are accepted "
                         "(set KILN_ALLOW_DEVICES=1 to accept all device nodes)",
                         what, ne->path, ne->type == TREE_CHAR ? "character" : "block", ne->major, ne->minor);
    if (t->added >= t->limits.max_entries)
        return kiln_errf(err, KILN_EINVAL, "%s: more than %llu entries (set KILN_MAX_ENTRIES)", what,
                         (unsigned long long)t->limits.max_entries);
    if (ne->type == TREE_SYMLINK || ne->type == TREE_HARDLINK) {
        if (!ne->link_target || !ne->link_target[0])
            return kiln_errf(err, KILN_EINVAL, "%s: link '%s' has an empty target", what, ne->path);
        if (strlen(ne->link_target) > TREE_MAX_PATH)
            return kiln_errf(err, KILN_EINVAL, "%s: link '%s' has a target longer than %d bytes",
                             what, ne->path, TREE_MAX_PATH);
        if (!tree_valid_name(ne->link_target))
            return kiln_errf(err, KILN_EINVAL,
                             "%s: link '%s' has a target that contains a control character",
                             what, ne->path);
    }
    if (ne->n_xattrs > TREE_MAX_XATTRS)
        return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' has more than %d extended attributes",
                         what, ne->path, TREE_MAX_XATTRS);

    if (strcmp(path, "/") == 0) {
        if (ne->type != TREE_DIR)
            return kiln_errf(err, KILN_EINVAL, "%s: entry '%s' would replace the root with a %s",
                             what, ne->path, tree_type_name(ne->type));
    }

    /* Hard link: the target must be an existing file reached without symlinks. */
    struct tree_content *shared = NULL;
    struct tree_entry *link = NULL;
    if (ne->type == TREE_HARDLINK) {
        _cleanup_free_ char *tp = NULL;
        if ((r = tree_normalize(what, ne->link_target, &tp, err)) < 0)
            return kiln_errf(err, KILN_EINVAL, "%s: hard link '%s' points outside the root ('%s')",
                             what, ne->path, ne->link_target);
        struct tree_entry *tparent = NULL;
        if ((r = get_parent(t, what, ne->link_target, tp, 0, &tparent, err)) < 0)
            return kiln_errf(err, KILN_EINVAL, "%s: hard link '%s' points through a symlink ('%s')",
                             what, ne->path, ne->link_target);
        link = tparent ? tree_get(t, tp) : NULL;
        if (!link)
            return kiln_errf(err, KILN_EINVAL, "%s: hard link '%s' points at a missing entry '%s'",
                             what, ne->path, ne->link_target);
        if (link->type != TREE_FILE)
            return kiln_errf(err, KILN_EINVAL, "%s: hard link '%s' points at a %s '%s'", what,
                             ne->path, tree_type_name(link->type), ne->link_target);
        if (strcmp(tp, path) == 0)
            return kiln_errf(err, KILN_EINVAL, "%s: hard link '%s' points at itself", what, ne->path);
        shared = link->content;
        if (shared)
            shared->refs++; /* held before anything is replaced below */
    }

    struct tree_entry lk = { 0 };
    if (link)
        lk = *link;
    struct tree_entry *parent = t->root;
    if (strcmp(path, "/") != 0 && (r = get_parent(t, what, ne->path, path, 1, &parent, err)) < 0) {
        tree_content_unref(shared);
        return r;
    }
    t->added++;

    struct tree_entry *e = tree_get(t, path);
    if (e && !(e->type == TREE_DIR && ne->type == TREE_DIR)) {
        /* Replaced (tar semantics: unlink, then create). */
        subtree_free(t, e);
        e = NULL;
    }
    if (!e) {
        e = entry_new(t, path);
        table_insert(t, e);
        link_child(parent, e);
    } else {
        entry_free_fields(e);
        e->layer = t->layer;
    }
    if (ne->type == TREE_HARDLINK) {
        e->type = TREE_FILE;
        e->mode = lk.mode;
        e->uid = lk.uid;
        e->gid = lk.gid;
        e->mtime = lk.mtime;
        e->content = shared;
    } else {
        e->type = ne->type;
        e->mode = ne->mode & 07777;
        e->uid = (uint32_t)ne->uid;
        e->gid = (uint32_t)ne->gid;
        e->mtime = ne->mtime;
        if (ne->mtime > t->newest)
            t->newest = ne->mtime;
        e->major = ne->major;
        e->minor = ne->minor;
        if (ne->type == TREE_SYMLINK)
            e->target = xstrdup(ne->link_target);
    }
    if (ne->n_xattrs) {
        e->xattrs = xcalloc(ne->n_xattrs, sizeof(*e->xattrs));
        for (size_t i = 0; i < ne->n_xattrs; i++) {
            e->xattrs[i].name = xstrdup(ne->xattrs[i].name);
            e->xattrs[i].value = xmalloc(ne->xattrs[i].len + 1);
            memcpy(e->xattrs[i].value, ne->xattrs[i].value, ne->xattrs[i].len);
            e->xattrs[i].len = ne->xattrs[i].len;
        }
        e->n_xattrs = ne->n_xattrs;
    }
    if (out)
        *out = e;
    return 0;
}

int tree_remove(struct tree *t, const char *what, const char *path, struct kiln_err *err)
{
    _cleanup_free_ char *np = NULL;
    int r = tree_normalize(what, path, &np, err);
    if (r < 0)
        return r;
    if (strcmp(np, "/") == 0)
        return kiln_errf(err, KILN_EINVAL, "%s: cannot remove the root", what);
    struct tree_entry *parent = NULL;
    if ((r = get_parent(t, what, path, np, 0, &parent, err)) < 0)
        return r;
    struct tree_entry *e = tree_get(t, np);
    if (e)
        subtree_free(t, e);
    return 0;
}

/* Removes the children of dir that came from lower layers. */
static void remove_lower_children(struct tree *t, struct tree_entry *dir)
{
    struct tree_entry *c = dir->child;
    while (c) {
        struct tree_entry *nx = c->next;
        if (c->layer < t->layer)
            subtree_free(t, c);
        else if (c->type == TREE_DIR)
            remove_lower_children(t, c);
        c = nx;
    }
}

int tree_whiteout(struct tree *t, const char *what, const char *path, struct kiln_err *err)
{
    _cleanup_free_ char *np = NULL;
    int r = tree_normalize(what, path, &np, err);
    if (r < 0)
        return r;
    char *slash = strrchr(np, '/');
    const char *name = slash + 1;
    if (strncmp(name, ".wh.", 4) != 0)
        return kiln_errf(err, KILN_EINVAL, "%s: '%s' is not a whiteout", what, path);
    const char *victim = name + 4;
    struct tree_entry *parent = NULL;
    if ((r = get_parent(t, what, path, np, 0, &parent, err)) < 0)
        return r;
    if (strcmp(victim, ".wh..opq") == 0) {
        if (parent)
            remove_lower_children(t, parent);
        return 0;
    }
    if (!victim[0] || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0 ||
        strncmp(victim, ".wh.", 4) == 0 || strchr(victim, '/'))
        return kiln_errf(err, KILN_EINVAL, "%s: malformed whiteout '%s'", what, path);
    if (!parent)
        return 0;
    *slash = '\0';
    _cleanup_free_ char *vp = xasprintf("%s/%s", np[0] ? np : "", victim);
    struct tree_entry *e = tree_get(t, vp);
    if (e && e->layer < t->layer)
        subtree_free(t, e);
    return 0;
}

/* --- contents ------------------------------------------------------------ */

static int spool_flush(struct tree *t, struct kiln_err *err)
{
    size_t off = 0;
    while (off < t->wlen) {
        ssize_t n = pwrite(t->spool_fd, t->wbuf + off, t->wlen - off,
                           (off_t)(t->spool_len - t->wlen + off));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kiln_errno(err, KILN_EFAIL, errno, "cannot write the spool file");
        }
        off += (size_t)n;
    }
    t->wlen = 0;
    return 0;
}

int tree_content_begin(struct tree *t, struct kiln_err *err)
{
    (void)err;
    if (t->cur_hash)
        hash_free(t->cur_hash);
    t->cur_hash = hash_new();
    if (!t->cur_hash)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    t->cur_off = t->spool_len;
    return 0;
}

int tree_content_write(struct tree *t, const char *what, const void *data, size_t len,
                       struct kiln_err *err)
{
    if (len > t->limits.max_bytes || t->bytes > t->limits.max_bytes - len)
        return kiln_errf(err, KILN_EINVAL,
                         "%s: expanded content is larger than %llu bytes (set KILN_MAX_EXPANDED_BYTES)",
                         what, (unsigned long long)t->limits.max_bytes);
    t->bytes += len;
    hash_update(t->cur_hash, data, len);
    const unsigned char *p = data;
    while (len) {
        size_t room = SPOOL_BUF - t->wlen;
        size_t n = len < room ? len : room;
        memcpy(t->wbuf + t->wlen, p, n);
        t->wlen += n;
        t->spool_len += n;
        p += n;
        len -= n;
        if (t->wlen == SPOOL_BUF) {
            int r = spool_flush(t, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int tree_content_end(struct tree *t, struct tree_entry *e, struct kiln_err *err)
{
    (void)err;
    struct tree_content *c = xcalloc(1, sizeof(*c));
    c->refs = 1;
    c->off = t->cur_off;
    c->size = t->spool_len - t->cur_off;
    hash_final_hex(t->cur_hash, c->sha256);
    hash_free(t->cur_hash);
    t->cur_hash = NULL;
    tree_content_unref(e->content);
    e->content = c;
    return 0;
}

int tree_set_inline(struct tree *t, struct tree_entry *e, const void *data, size_t len,
                    struct kiln_err *err)
{
    (void)t;
    (void)err;
    struct tree_content *c = xcalloc(1, sizeof(*c));
    c->refs = 1;
    c->inline_ = 1;
    c->data = xmalloc(len + 1);
    memcpy(c->data, data, len);
    c->data[len] = 0;
    c->size = len;
    hash_sha256_hex(data, len, c->sha256);
    tree_content_unref(e->content);
    e->content = c;
    return 0;
}

int tree_pread(struct tree *t, const struct tree_entry *e, void *dst, size_t len, uint64_t off,
               struct kiln_err *err)
{
    const struct tree_content *c = e->content;
    if (!c || off + len > c->size)
        return kiln_errf(err, KILN_EFAIL, "'%s': read past the end of its content", e->path);
    if (c->inline_) {
        memcpy(dst, c->data + off, len);
        return 0;
    }
    if (t->wlen) {
        int r = spool_flush(t, err);
        if (r < 0)
            return r;
    }
    unsigned char *p = dst;
    uint64_t pos = c->off + off;
    while (len) {
        ssize_t n = pread(t->spool_fd, p, len, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kiln_errno(err, KILN_EFAIL, n < 0 ? errno : EIO, "cannot read the spool file");
        p += n;
        pos += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int tree_read_content(struct tree *t, const struct tree_entry *e, size_t limit, char **out,
                      size_t *len, struct kiln_err *err)
{
    uint64_t size = e->content ? e->content->size : 0;
    if (limit && size > limit)
        return kiln_errf(err, KILN_EINVAL, "'%s' is larger than %zu bytes", e->path, limit);
    char *data = xmalloc((size_t)size + 1);
    if (size) {
        int r = tree_pread(t, e, data, (size_t)size, 0, err);
        if (r < 0) {
            free(data);
            return r;
        }
    }
    data[size] = '\0';
    *out = data;
    if (len)
        *len = (size_t)size;
    return 0;
}

/* --- listing --------------------------------------------------------------- */

static int cmp_entry(const void *a, const void *b)
{
    const struct tree_entry *x = *(struct tree_entry *const *)a;
    const struct tree_entry *y = *(struct tree_entry *const *)b;
    return strcmp(x->path, y->path);
}

int tree_sorted(const struct tree *t, struct tree_entry ***out, size_t *n, struct kiln_err *err)
{
    (void)err;
    struct tree_entry **v = xcalloc(t->count ? t->count : 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct tree_entry *e = t->buckets[i]; e; e = e->hnext)
            if (e != t->root)
                v[k++] = e;
    qsort(v, k, sizeof(*v), cmp_entry);
    *out = v;
    *n = k;
    return 0;
}

void tree_json_set_name(json_t *o, const char *key, const char *name)
{
    _cleanup_free_ char *text = utf8_lossy(name);
    json_object_set_new(o, key, json_string(text));
    if (strcmp(text, name)) {
        _cleanup_free_ char *hexkey = xasprintf("%sHex", key);
        _cleanup_free_ char *hex = text_hex(name, strlen(name));
        json_object_set_new(o, hexkey, json_string(hex));
    }
}

char *tree_json_get_name(json_t *o, const char *key)
{
    _cleanup_free_ char *hexkey = xasprintf("%sHex", key);
    const char *hex = json_string_value(json_object_get(o, hexkey));
    if (hex)
        return text_unhex(hex);
    const char *text = json_string_value(json_object_get(o, key));
    return text ? xstrdup(text) : NULL;
}

json_t *tree_file_manifest(struct tree *t)
{
    struct tree_entry **v = NULL;
    size_t n = 0;
    tree_sorted(t, &v, &n, NULL);
    for (size_t i = 0; i < n; i++)
        if (v[i]->content)
            v[i]->content->written = NULL;
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        struct tree_entry *e = v[i];
        json_t *o = json_object();
        char mode[16];
        snprintf(mode, sizeof(mode), "%04o", e->mode & 07777);
        tree_json_set_name(o, "path", e->path);
        json_object_set_new(o, "mode", json_string(mode));
        json_object_set_new(o, "uid", json_integer(e->uid));
        json_object_set_new(o, "gid", json_integer(e->gid));
        enum tree_type type = e->type;
        switch (e->type) {
        case TREE_FILE:
            if (e->content && e->content->refs > 1 && e->content->written) {
                type = TREE_HARDLINK;
                tree_json_set_name(o, "target", e->content->written);
                break;
            }
            if (e->content)
                e->content->written = e->path;
            json_object_set_new(o, "size", json_integer(e->content ? (json_int_t)e->content->size : 0));
            json_object_set_new(o, "sha256", json_string(e->content ? e->content->sha256
                                 : "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
            break;
        case TREE_SYMLINK:
            tree_json_set_name(o, "target", e->target);
            break;
        case TREE_CHAR:
        case TREE_BLOCK:
            json_object_set_new(o, "major", json_integer(e->major));
            json_object_set_new(o, "minor", json_integer(e->minor));
            break;
        default:
            break;
        }
        json_object_set_new(o, "type", json_string(tree_type_name(type)));
        json_array_append_new(files, o);
    }
    for (size_t i = 0; i < n; i++)
        if (v[i]->content)
            v[i]->content->written = NULL;
    free(v);
    json_t *m = json_object();
    json_object_set_new(m, "files", files);
    json_object_set_new(m, "version", json_integer(1));
    return m;
}
