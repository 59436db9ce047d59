/* step-files.c - the recipe's `files`: host files (src, inside the build
 * context), inline content and symlinks (link), with mode and owner, placed
 * through the tree's own symlinks but never outside its root. */
#include "builder/step.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/plan.h"
#include "common/common.h"
#include "disk/disk.h"
#include "common/banned.h"

#define IO_CHUNK (1u << 20)

static int copy_src(struct build_ctx *ctx, const char *what, size_t idx, const struct recipe_file *f,
                    struct tree_entry *e, struct kiln_err *err)
{
    char key[64];
    snprintf(key, sizeof(key), "files[%zu].src", idx);
    _cleanup_close_ int fd = recipe_open_input(ctx->recipe, key, f->src, O_RDONLY | O_NOCTTY | O_NONBLOCK, NULL, err);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "%s: cannot stat '%s'", what, f->src);
    if (!S_ISREG(st.st_mode))
        return kiln_errf(err, KILN_EINVAL, "%s: '%s' is not a regular file", what, f->src);
    int r = tree_content_begin(ctx->tree, err);
    if (r < 0)
        return r;
    _cleanup_free_ unsigned char *buf = xmalloc(IO_CHUNK);
    for (;;) {
        ssize_t n = read(fd, buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "%s: cannot read '%s'", what, f->src);
        if (n == 0)
            break;
        if ((r = tree_content_write(ctx->tree, what, buf, (size_t)n, err)) < 0)
            return r;
    }
    if ((r = tree_content_end(ctx->tree, e, err)) < 0)
        return r;
    _cleanup_free_ char *name = xasprintf("file %s", f->dest);
    build_add_input(ctx, name, f->src, e->content->sha256);
    return 0;
}

/* 1 when the step being run is the one after the guest step. */
static int late_step(const struct build_ctx *ctx)
{
    return ctx->step && ctx->step->kind == PLAN_FILES_LATE;
}

/* The owners of the files written before the guest step (late 0), or after it. */
static int owners(struct build_ctx *ctx, int late, struct kiln_err *err)
{
    const struct recipe *rc = ctx->recipe;
    for (size_t i = 0; i < rc->n_files; i++) {
        const struct recipe_file *f = &rc->files[i];
        if (!f->owner || f->after_run != late)
            continue;
        _cleanup_free_ char *what = xasprintf("files: '%s'", f->dest);
        uint32_t uid, gid;
        int r = step_owner(ctx, what, f->owner, &uid, &gid, err);
        if (r < 0)
            return r;
        _cleanup_free_ char *dest = NULL;
        if ((r = step_resolve_dest(ctx, what, f->dest, &dest, err)) < 0)
            return r;
        struct tree_entry *e = tree_get(ctx->tree, dest);
        if (!e)
            return kiln_errf(err, KILN_EINVAL, "%s: gone before its owner could be set", what);
        e->uid = uid;
        e->gid = gid;
    }
    return 0;
}

int step_owners_run(struct build_ctx *ctx, struct kiln_err *err)
{
    return owners(ctx, 0, err);
}

int step_files_run(struct build_ctx *ctx, struct kiln_err *err)
{
    const struct recipe *rc = ctx->recipe;
    int late = late_step(ctx);
    for (size_t i = 0; i < rc->n_files; i++) {
        const struct recipe_file *f = &rc->files[i];
        if (f->after_run != late)
            continue;
        _cleanup_free_ char *what = xasprintf("files: '%s'", f->dest);
        uint32_t uid = 0, gid = 0;
        _cleanup_free_ char *dest = NULL;
        int r;
        if ((r = step_resolve_dest(ctx, what, f->dest, &dest, err)) < 0)
            return r;
        /* The guest step's sysprep ran and was verified before it: what
         * sysprep clears would stay, and the image would claim otherwise. */
        if (late && ctx->sysprep_verified && disk_sysprep_clears(dest, !f->link))
            return kiln_errf(err, KILN_EINVAL, "files[%zu]: '%s' is cleared by sysprep, which runs before files "
                             "marked after_run: drop after_run, or set sysprep: false", i, dest);
        struct tree_new_entry ne = {
            .path = dest,
            .type = f->link ? TREE_SYMLINK : TREE_FILE,
            .mode = f->link ? 0777 : (f->has_mode ? f->mode : 0644),
            .uid = uid,
            .gid = gid,
            .mtime = ctx->sde,
            .link_target = f->link,
        };
        struct tree_entry *e = tree_get(ctx->tree, dest);
        if (e && e->type == TREE_DIR)
            return kiln_errf(err, KILN_EINVAL, "%s: is a directory in the image", what);
        if ((r = tree_add(ctx->tree, what, &ne, &e, err)) < 0)
            return r;
        if (f->link)
            continue;
        if (f->content)
            r = tree_set_inline(ctx->tree, e, f->content, f->content_len, err);
        else if (f->src)
            r = copy_src(ctx, what, i, f, e, err);
        else
            r = tree_set_inline(ctx->tree, e, "", 0, err);
        if (r < 0)
            return r;
    }
    /* After the guest step the users are there already: owners at once. */
    return late ? owners(ctx, 1, err) : 0;
}
