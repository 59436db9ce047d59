/* step-util.c - editing a tree like a file system inside the image. */
#include "builder/step.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/banned.h"

int step_resolve_dest(struct build_ctx *ctx, const char *what, const char *dest, char **out,
                      struct kiln_err *err)
{
    _cleanup_free_ char *norm = NULL;
    int r = tree_normalize(what, dest, &norm, err);
    if (r < 0)
        return r;
    if (strcmp(norm, "/") == 0)
        return kiln_errf(err, KILN_EINVAL, "%s: '%s' is the root", what, dest);
    char *slash = strrchr(norm, '/');
    *slash = '\0';
    const char *name = slash + 1;
    if (norm[0] == '\0') {
        *out = xasprintf("/%s", name);
        return 0;
    }
    struct tree_entry *p = tree_resolve(ctx->tree, norm);
    if (!p) {
        *out = xasprintf("%s/%s", norm, name); /* missing parents are created */
        return 0;
    }
    if (p->type != TREE_DIR)
        return kiln_errf(err, KILN_EINVAL, "%s: the parent of '%s' is not a directory", what, dest);
    *out = strcmp(p->path, "/") == 0 ? xasprintf("/%s", name) : xasprintf("%s/%s", p->path, name);
    return 0;
}

int step_read_text(struct build_ctx *ctx, const char *path, char **out, size_t *len, struct kiln_err *err)
{
    struct tree_entry *e = tree_resolve(ctx->tree, path);
    if (!e || e->type != TREE_FILE) {
        *out = xstrdup("");
        if (len)
            *len = 0;
        return 0;
    }
    return tree_read_content(ctx->tree, e, STEP_TEXT_LIMIT, out, len, err);
}

int step_write_text(struct build_ctx *ctx, const char *what, const char *path, const char *data, size_t len,
                    unsigned mode, uint32_t uid, uint32_t gid, struct kiln_err *err)
{
    struct tree_entry *e = tree_resolve(ctx->tree, path);
    if (!e || e->type != TREE_FILE) {
        _cleanup_free_ char *dest = NULL;
        int r = step_resolve_dest(ctx, what, path, &dest, err);
        if (r < 0)
            return r;
        struct tree_new_entry ne = { .path = dest, .type = TREE_FILE, .mode = mode, .uid = uid, .gid = gid,
                                     .mtime = ctx->sde };
        if ((r = tree_add(ctx->tree, what, &ne, &e, err)) < 0)
            return r;
    }
    e->mtime = ctx->sde;
    return tree_set_inline(ctx->tree, e, data, len, err);
}

/* Field n (0-based) of a colon-separated line, copied into out. */
static int field(const char *line, size_t llen, int n, char *out, size_t outn)
{
    const char *p = line, *end = line + llen;
    for (int i = 0; i < n; i++) {
        const char *c = memchr(p, ':', (size_t)(end - p));
        if (!c)
            return 0;
        p = c + 1;
    }
    const char *c = memchr(p, ':', (size_t)(end - p));
    size_t fl = c ? (size_t)(c - p) : (size_t)(end - p);
    if (fl >= outn)
        return 0;
    memcpy(out, p, fl);
    out[fl] = '\0';
    return 1;
}

static int parse_id(const char *s, long *out)
{
    if (!*s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 4294967294l)
        return 0;
    *out = v;
    return 1;
}

int step_db_lookup(const char *text, const char *name, long *id, long *gid)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        char f0[256], f2[32], f3[32];
        if (field(p, ll, 0, f0, sizeof(f0)) && strcmp(f0, name) == 0 && field(p, ll, 2, f2, sizeof(f2)) &&
            parse_id(f2, id)) {
            if (gid) {
                if (!field(p, ll, 3, f3, sizeof(f3)) || !parse_id(f3, gid))
                    *gid = *id;
            }
            return 1;
        }
        p += ll + (nl ? 1 : 0);
    }
    return 0;
}

int step_db_has_id(const char *text, long id)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        char f2[32];
        long v;
        if (field(p, ll, 2, f2, sizeof(f2)) && parse_id(f2, &v) && v == id)
            return 1;
        p += ll + (nl ? 1 : 0);
    }
    return 0;
}

int step_owner(struct build_ctx *ctx, const char *what, const char *owner, uint32_t *uid, uint32_t *gid,
               struct kiln_err *err)
{
    *uid = 0;
    *gid = 0;
    if (!owner || !owner[0])
        return 0;
    _cleanup_free_ char *u = xstrdup(owner);
    char *g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    long id, pg = -1;
    if (parse_id(u, &id)) {
        *uid = (uint32_t)id;
        *gid = (uint32_t)id;
    } else {
        _cleanup_free_ char *passwd = NULL;
        int r = step_read_text(ctx, "/etc/passwd", &passwd, NULL, err);
        if (r < 0)
            return r;
        if (!step_db_lookup(passwd, u, &id, &pg))
            return kiln_errf(err, KILN_EINVAL, "%s: user '%s' is not in the image's /etc/passwd", what, u);
        *uid = (uint32_t)id;
        *gid = (uint32_t)pg;
    }
    if (g && *g) {
        if (parse_id(g, &id)) {
            *gid = (uint32_t)id;
        } else {
            _cleanup_free_ char *group = NULL;
            int r = step_read_text(ctx, "/etc/group", &group, NULL, err);
            if (r < 0)
                return r;
            if (!step_db_lookup(group, g, &id, NULL))
                return kiln_errf(err, KILN_EINVAL, "%s: group '%s' is not in the image's /etc/group", what, g);
            *gid = (uint32_t)id;
        }
    }
    return 0;
}
