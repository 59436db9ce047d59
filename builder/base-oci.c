/* base-oci.c - an OCI image layout inside the build context as the base
 * (read through its open directory, see recipe_open_layout): index.json ->
 * manifest -> layers applied in order (OCI whiteouts resolved), every blob's digest and
 * size verified while it is read.  The image config is kept so the new image
 * inherits Env, Entrypoint, Cmd, WorkingDir, User, ExposedPorts and Labels. */
#include "builder/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "images/layout.h"
#include "images/manifest.h"
#include "images/ref.h"
#include "common/banned.h"

static int is_layer_type(const char *mt)
{
    static const char *const ok[] = {
        OCI_MT_LAYER_TAR, OCI_MT_LAYER_GZIP, OCI_MT_LAYER_ZSTD, DOCKER_MT_LAYER_GZIP, DOCKER_MT_LAYER_TAR,
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
        if (strcmp(mt, ok[i]) == 0)
            return 1;
    return 0;
}

/* Anything wrong with the base's layout is invalid input (exit 2). */
static int invalid(const char *what, struct kiln_err *err)
{
    if (err)
        err->code = KILN_EINVAL;
    return kiln_err_prefix(err, "%s", what);
}

int base_oci_run(struct build_ctx *ctx, struct kiln_err *err)
{
    const struct recipe_base *b = &ctx->recipe->base;
    const char *ref = b->ref ? b->ref : "latest";
    _cleanup_free_ char *what = xasprintf("base oci '%s:%s'", b->path, ref);
    /* The layout is read through its directory opened inside the build
     * context, so that a path swapped since the check cannot lead out. */
    _cleanup_close_ int dirfd = recipe_open_layout(ctx->recipe, err);
    if (dirfd < 0)
        return dirfd;
    _cleanup_free_ char *layout_path = xasprintf("/proc/self/fd/%d", dirfd);
    struct oci_layout *layout = NULL;
    struct oci_manifest *m = NULL;
    struct oci_desc mdesc = { 0 };
    int r = oci_layout_open(layout_path, &layout, err);
    if (r == 0)
        r = oci_layout_resolve_image(layout, ref, NULL, NULL, &mdesc, &m, err);
    if (r < 0) {
        invalid(what, err);
        goto out;
    }

    /* The config: verified, kept for inheritance. */
    struct buf cb = BUF_INIT;
    if ((r = oci_layout_blob_read(layout, m->config.digest, m->config.size, 0, &cb, err)) < 0) {
        buf_release(&cb);
        invalid(what, err);
        goto out;
    }
    json_error_t jerr;
    json_t *cfg = json_loadb(cb.data, cb.len, 0, &jerr);
    buf_release(&cb);
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        r = kiln_errf(err, KILN_EINVAL, "%s: config '%s' is not a JSON object", what, m->config.digest);
        goto out;
    }
    json_t *inner = json_object_get(cfg, "config");
    if (json_is_object(inner))
        ctx->base_config = json_incref(inner);
    json_decref(cfg);

    for (size_t i = 0; i < m->n_descs; i++) {
        const struct oci_desc *l = &m->descs[i];
        _cleanup_free_ char *lwhat = xasprintf("%s: layer %zu", what, i + 1);
        if (!is_layer_type(l->media_type)) {
            r = kiln_errf(err, KILN_EINVAL, "%s has an unsupported media type '%s'", lwhat, l->media_type);
            goto out;
        }
        int fd = -1;
        if ((r = oci_layout_blob_open(layout, l->digest, &fd, NULL, err)) < 0) {
            invalid(lwhat, err);
            goto out;
        }
        char hex[HASH_HEX_LEN + 1];
        uint64_t size = 0;
        struct tree_read_opts o = { .whiteouts = 1, .sha256_out = hex, .size_out = &size };
        tree_begin_layer(ctx->tree, (unsigned)i + 1);
        r = tree_read_tar(ctx->tree, lwhat, fd, &o, err);
        close(fd);
        if (r < 0)
            goto out;
        if (strcmp(hex, digest_hex(l->digest)) != 0) {
            r = kiln_errf(err, KILN_EINVAL, "%s: blob '%s' is corrupt (its content hashes to sha256:%s)",
                          lwhat, l->digest, hex);
            goto out;
        }
        if (size != (uint64_t)l->size) {
            r = kiln_errf(err, KILN_EINVAL, "%s: blob '%s' has %llu bytes, its descriptor says %lld", lwhat,
                          l->digest, (unsigned long long)size, (long long)l->size);
            goto out;
        }
    }
    tree_begin_layer(ctx->tree, (unsigned)m->n_descs + 1);
    char *name = xasprintf("base oci %s:%s", b->path, ref);
    build_add_input(ctx, name, b->path, digest_hex(mdesc.digest));
    free(name);
out:
    oci_manifest_free(m);
    oci_desc_release(&mdesc);
    oci_layout_close(layout);
    return r;
}
