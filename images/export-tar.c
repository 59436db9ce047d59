/* export-tar.c - the container image's root file system, flattened into
 * one tar: layers applied in order, OCI whiteouts honoured.
 *
 * Two passes over the layers, neither holding file data in memory:
 *   1. read every layer's headers into a list of (path, layer, position)
 *      records, sorted by path with '/' ordered first so that a path's
 *      descendants follow it; then kill every record a later layer hides:
 *      whiteouts (.wh.NAME), opaque directories (.wh..wh..opq), a path
 *      replaced by a non-directory, and all but the last version of a path;
 *   2. stream the layers again, copying the surviving entries.
 * The output keeps the layers' entry order (layer by layer), headers and
 * contents, so the same image always flattens to the same bytes. */
#include "images/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct archive, archive_write_free)

#define FLAT_MAX_ENTRIES 4000000u
#define FLAT_MAX_PATH 4096
#define FLAT_MAX_LAYERS 1000

enum rec_kind { REC_ENTRY, REC_WHITEOUT, REC_OPAQUE };

struct rec {
    char *path;      /* normalised: no leading "/" or "./", no trailing "/"; "" is the root */
    uint32_t layer;
    uint32_t idx;    /* position in its layer */
    uint8_t kind;
    uint8_t isdir;
    uint8_t dead;
};

struct flat {
    const struct export_source *src;
    struct rec *recs;
    size_t n, cap;
    size_t nlayers;
    uint32_t *counts;   /* entries per layer */
    uint8_t **keep;     /* keep[layer][idx] */
};

/* strcmp with '/' below every other byte: a directory's descendants sort
 * right after it, before its siblings ("a", "a/b", "a-b"). */
static int path_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca == '/')
            ca = 1;
        if (cb == '/')
            cb = 1;
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (!ca)
            return 0;
    }
}

static int rec_cmp(const void *x, const void *y)
{
    const struct rec *a = x, *b = y;
    int c = path_cmp(a->path, b->path);
    if (c)
        return c;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Normalises a layer entry name into a caller-owned string, or NULL when it
 * leaves the root. */
static char *normalise(const char *name)
{
    size_t len = strlen(name);
    char *out = xmalloc(len + 1);
    size_t o = 0;
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0)
            break;
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return NULL;
        }
        if (!(n == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    out[o] = '\0';
    return out;
}

static void flat_release(struct flat *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->recs[i].path);
    free(f->recs);
    for (size_t i = 0; i < f->nlayers && f->keep; i++)
        free(f->keep[i]);
    free(f->keep);
    free(f->counts);
}

static int add_rec(struct flat *f, char *path, uint32_t layer, uint32_t idx, int kind, int isdir,
                   struct kiln_err *err)
{
    if (f->n >= FLAT_MAX_ENTRIES) {
        free(path);
        return kiln_errf(err, KILN_EINVAL, "image '%s' has more than %u file system entries",
                         f->src->ref, FLAT_MAX_ENTRIES);
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4096;
        f->recs = xrealloc(f->recs, f->cap * sizeof(*f->recs));
    }
    f->recs[f->n++] = (struct rec){ path, layer, idx, (uint8_t)kind, (uint8_t)isdir, 0 };
    return 0;
}

static const char *layer_digest(const struct export_source *s, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(s->image, "layers"), i), "digest"));
}

/* Pass 1: the headers of layer i. */
static int scan_layer(struct flat *f, uint32_t layer, struct kiln_err *err)
{
    const char *digest = layer_digest(f->src, layer);
    struct export_layer l;
    int r = export_layer_open(f->src, digest, 0, &l, err);
    if (r < 0)
        return r;
    uint32_t idx = 0;
    struct archive_entry *e;
    int ar;
    while ((ar = archive_read_next_header(l.ar, &e)) == ARCHIVE_OK ||
           ar == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(e);
        if (!name || strlen(name) > FLAT_MAX_PATH) {
            r = kiln_errf(err, KILN_EINVAL, "layer '%s': entry %u has no name or one too long",
                          digest, idx + 1);
            break;
        }
        char *path = normalise(name);
        if (!path) {
            r = kiln_errf(err, KILN_EINVAL, "layer '%s': entry '%s' escapes the root", digest, name);
            break;
        }
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (strncmp(base, ".wh.", 4) == 0) {
            size_t dirlen = (size_t)(base - path);
            char *dir = xstrndup(path, dirlen ? dirlen - 1 : 0);
            if (strcmp(base, ".wh..wh..opq") == 0) {
                r = add_rec(f, dir, layer, idx, REC_OPAQUE, 1, err);
            } else if (strncmp(base, ".wh..wh.", 8) == 0) {
                free(dir); /* other aufs metadata: not part of the file system */
            } else {
                char *target = dirlen ? xasprintf("%s/%s", dir, base + 4) : xstrdup(base + 4);
                free(dir);
                r = add_rec(f, target, layer, idx, REC_WHITEOUT, 0, err);
            }
            free(path);
        } else {
            r = add_rec(f, path, layer, idx, REC_ENTRY, archive_entry_filetype(e) == AE_IFDIR, err);
        }
        if (r < 0)
            break;
        idx++;
        archive_read_data_skip(l.ar);
    }
    if (r == 0 && ar != ARCHIVE_EOF)
        r = export_layer_error(&l, err);
    if (r == 0)
        r = export_layer_finish(&l, err);
    export_layer_close(&l);
    f->counts[layer] = idx;
    return r;
}

/* Kills the entries at or below path (or strictly below, when below_only)
 * from layers before `layer`. */
static void kill_range(struct flat *f, const char *path, int below_only, uint32_t layer)
{
    size_t len = strlen(path);
    /* first record >= path */
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (path_cmp(f->recs[mid].path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < f->n; i++) {
        struct rec *r = &f->recs[i];
        int same = strcmp(r->path, path) == 0;
        int below = len == 0 ? r->path[0] != '\0'
                             : strncmp(r->path, path, len) == 0 && r->path[len] == '/';
        if (!same && !below)
            break;
        if (r->kind == REC_ENTRY && r->layer < layer && (below || !below_only))
            r->dead = 1;
    }
}

static int resolve(struct flat *f)
{
    qsort(f->recs, f->n, sizeof(*f->recs), rec_cmp);
    for (size_t i = 0; i < f->n; i++) {
        struct rec *r = &f->recs[i];
        if (r->kind == REC_WHITEOUT)
            kill_range(f, r->path, 0, r->layer);
        else if (r->kind == REC_OPAQUE)
            kill_range(f, r->path, 1, r->layer);
        else if (!r->isdir)
            kill_range(f, r->path, 1, r->layer);
    }
    /* of the live versions of a path, the last one wins */
    for (size_t i = 0; i < f->n; i++) {
        struct rec *r = &f->recs[i];
        if (r->kind != REC_ENTRY || r->dead)
            continue;
        for (size_t k = i + 1; k < f->n && strcmp(f->recs[k].path, r->path) == 0; k++)
            if (f->recs[k].kind == REC_ENTRY && !f->recs[k].dead) {
                r->dead = 1;
                break;
            }
        if (!r->dead)
            f->keep[r->layer][r->idx] = 1;
    }
    return 0;
}

/* Pass 2: copies the surviving entries of layer i. */
static int copy_layer(struct flat *f, uint32_t layer, struct archive *out, const char *tmp,
                      struct kiln_err *err)
{
    const char *digest = layer_digest(f->src, layer);
    struct export_layer l;
    int r = export_layer_open(f->src, digest, 0, &l, err);
    if (r < 0)
        return r;
    uint32_t idx = 0;
    struct archive_entry *e;
    int ar;
    while ((ar = archive_read_next_header(l.ar, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        if (idx >= f->counts[layer]) {
            r = kiln_errf(err, KILN_EVERIFY, "layer '%s' changed while it was read", digest);
            break;
        }
        if (!f->keep[layer][idx++]) {
            archive_read_data_skip(l.ar);
            continue;
        }
        _cleanup_free_ char *path = normalise(archive_entry_pathname(e));
        _cleanup_free_ char *name = path && path[0] ? xstrdup(path) : xstrdup("./");
        archive_entry_set_pathname(e, name);
        const char *link = archive_entry_hardlink(e);
        if (link) {
            _cleanup_free_ char *target = normalise(link);
            if (!target || !target[0]) {
                r = kiln_errf(err, KILN_EINVAL, "layer '%s': hard link '%s' points outside the root",
                              digest, name);
                break;
            }
            archive_entry_set_hardlink(e, target);
        }
        archive_entry_sparse_clear(e);
        /* ARCHIVE_WARN: a name that is not ASCII, written as its bytes (hdrcharset=BINARY). */
        if (archive_write_header(out, e) < ARCHIVE_WARN) {
            r = kiln_errf(err, KILN_EFAIL, "cannot write '%s': %s", tmp, archive_error_string(out));
            break;
        }
        for (;;) {
            la_ssize_t n = archive_read_data(l.ar, l.chunk, EXPORT_LAYER_CHUNK);
            if (n < 0) {
                r = export_layer_error(&l, err);
                break;
            }
            if (n == 0)
                break;
            if (archive_write_data(out, l.chunk, (size_t)n) != n) {
                r = kiln_errf(err, KILN_EFAIL, "cannot write '%s': %s", tmp,
                              archive_error_string(out));
                break;
            }
        }
        if (r < 0)
            break;
    }
    if (r == 0 && ar != ARCHIVE_EOF)
        r = export_layer_error(&l, err);
    if (r == 0)
        r = export_layer_finish(&l, err);
    export_layer_close(&l);
    return r;
}

int export_write_rootfs_tar(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    if (!s->image)
        return kiln_errf(err, KILN_EINVAL, "image '%s' has no container image to flatten", s->ref);
    json_t *layers = json_object_get(s->image, "layers");
    size_t n = json_array_size(layers);
    if (n > FLAT_MAX_LAYERS)
        return kiln_errf(err, KILN_EINVAL, "image '%s' has more than %d layers", s->ref,
                         FLAT_MAX_LAYERS);
    struct flat f = { .src = s, .nlayers = n };
    f.counts = xcalloc(n ? n : 1, sizeof(*f.counts));
    f.keep = xcalloc(n ? n : 1, sizeof(*f.keep));
    int r = 0;
    for (uint32_t i = 0; i < n && r == 0; i++)
        r = scan_layer(&f, i, err);
    for (size_t i = 0; i < n && r == 0; i++)
        f.keep[i] = xcalloc(f.counts[i] ? f.counts[i] : 1, 1);
    if (r == 0)
        r = resolve(&f);
    if (r == 0) {
        _cleanup_(archive_write_freep) struct archive *out = export_tar_open(tmp, err);
        if (!out)
            r = err->code;
        for (uint32_t i = 0; i < n && r == 0; i++)
            r = copy_layer(&f, i, out, tmp, err);
        if (r == 0)
            r = export_tar_close(out, tmp, err);
    }
    flat_release(&f);
    return r;
}
