/* base-directory.c - a host directory inside the build context as the base
 * (lstat walk, no symlink followed; mtimes newer than SOURCE_DATE_EPOCH are
 * clamped on output). */
#include "builder/base.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "common/banned.h"

int base_directory_run(struct build_ctx *ctx, struct kiln_err *err)
{
    const struct recipe_base *b = &ctx->recipe->base;
    _cleanup_free_ char *what = xasprintf("base directory '%s'", b->path);
    _cleanup_close_ int fd = recipe_open_input(ctx->recipe, "base.directory", b->path, O_RDONLY | O_DIRECTORY,
                                               NULL, err);
    if (fd < 0)
        return fd;
    int r = tree_read_dir(ctx->tree, what, fd, err);
    if (r < 0)
        return r;
    /* A directory has no digest of its own: record its file manifest's. */
    json_t *m = tree_file_manifest(ctx->tree);
    _cleanup_free_ char *s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    if (!s)
        return kiln_errf(err, KILN_EFAIL, "cannot encode the file manifest of %s", what);
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(s, strlen(s), hex);
    _cleanup_free_ char *name = xasprintf("base directory %s (file manifest)", b->path);
    build_add_input(ctx, name, b->path, hex);
    return 0;
}
