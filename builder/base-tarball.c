/* base-tarball.c - a rootfs tarball (any compression) as the base.  The
 * archive, inside the build context, is hostile until proven otherwise: see
 * tree_read_tar(). */
#include "builder/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/banned.h"

int base_tarball_run(struct build_ctx *ctx, struct kiln_err *err)
{
    const struct recipe_base *b = &ctx->recipe->base;
    const char *slash = strrchr(b->path, '/');
    _cleanup_free_ char *what = xasprintf("base tarball '%s'", slash ? slash + 1 : b->path);
    _cleanup_close_ int fd = recipe_open_input(ctx->recipe, "base.tarball.path", b->path, O_RDONLY, NULL, err);
    if (fd < 0)
        return fd;
    char hex[HASH_HEX_LEN + 1];
    uint64_t size = 0;
    struct tree_read_opts o = { .whiteouts = 0, .sha256_out = hex, .size_out = &size };
    int r = tree_read_tar(ctx->tree, what, fd, &o, err);
    if (r < 0)
        return r;
    if (b->sha256[0] && strcmp(b->sha256, hex) != 0)
        return kiln_errf(err, KILN_EVERIFY, "%s: sha256 is %s, the recipe expects %s", what, hex, b->sha256);
    _cleanup_free_ char *name = xasprintf("base tarball %s", slash ? slash + 1 : b->path);
    build_add_input(ctx, name, b->path, hex);
    return 0;
}
