/* base-oci.c - an OCI image layout as the base: index.json -> manifest ->
 * layers applied in order (OCI whiteouts resolved), every blob's digest and
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
#include "images/manifest.h"
#include "images/ref.h"
#include "common/banned.h"

#define OCI_DOC_LIMIT (4u << 20)

static int blob_path(const char *what, const char *layout, const char *digest, char **out,
                     struct kiln_err *err)
{
    const char *hex = digest_hex(digest);
    if (!hex)
        return kiln_errf(err, KILN_EINVAL, "%s: invalid digest '%s'", what, digest);
    *out = xasprintf("%s/blobs/sha256/%s", layout, hex);
    return 0;
}

static int open_blob(const char *what, const char *path, const char *digest, int *fd, struct kiln_err *err)
{
    *fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0)
        return kiln_errno(err, errno == ENOENT ? KILN_EINVAL : KILN_EFAIL, errno,
                          "%s: blob '%s' is missing", what, digest);
    struct stat st;
    if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(*fd);
        *fd = -1;
        return kiln_errf(err, KILN_EINVAL, "%s: blob '%s' is not a regular file", what, digest);
    }
    return 0;
}

/* Reads a small blob, verifying digest and (size >= 0) size. */
static int read_doc(const char *what, const char *layout, const char *digest, int64_t size,
                    struct buf *out, struct kiln_err *err)
{
    _cleanup_free_ char *path = NULL;
    int r = blob_path(what, layout, digest, &path, err);
    if (r < 0)
        return r;
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return kiln_errf(err, KILN_EINVAL, "%s: blob '%s' is not a regular file", what, digest);
    r = fs_read_file(path, OCI_DOC_LIMIT, out, err);
    if (r == KILN_ENOTFOUND)
        return kiln_errf(err, KILN_EINVAL, "%s: blob '%s' is missing", what, digest);
    if (r < 0)
        return r;
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(out->data, out->len, hex);
    if (strcmp(hex, digest_hex(digest)) != 0)
        return kiln_errf(err, KILN_EINVAL, "%s: blob '%s' is corrupt (its content hashes to sha256:%s)",
                         what, digest, hex);
    if (size >= 0 && (uint64_t)size != out->len)
        return kiln_errf(err, KILN_EINVAL, "%s: blob '%s' has %zu bytes, its descriptor says %lld", what,
                         digest, out->len, (long long)size);
    return 0;
}

/* Parses a manifest or index; other tools may leave out the optional
 * mediaType, which kiln's parser wants: it is filled in from the shape. */
static int parse_doc(const struct buf *b, struct oci_manifest **out, struct kiln_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(j)) {
        json_decref(j);
        return kiln_errf(err, KILN_EINVAL, "not a JSON object");
    }
    if (!json_object_get(j, "mediaType"))
        json_object_set_new(j, "mediaType",
                            json_string(json_object_get(j, "manifests") ? OCI_MT_INDEX : OCI_MT_MANIFEST));
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    int r = oci_manifest_parse(s, strlen(s), out, err);
    free(s);
    return r;
}

static int is_layer_type(const char *mt)
{
    static const char *const ok[] = {
        OCI_MT_LAYER_TAR, OCI_MT_LAYER_GZIP, OCI_MT_LAYER_ZSTD,
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
        if (strcmp(mt, ok[i]) == 0)
            return 1;
    return 0;
}

/* Finds the manifest named ref in index.json; follows one nested index to
 * its linux/amd64 manifest. */
static int find_manifest(const char *what, const char *layout, const char *ref, struct oci_manifest **out,
                         char digest_out[DIGEST_STR_SIZE], struct kiln_err *err)
{
    struct buf b = BUF_INIT;
    _cleanup_free_ char *ipath = xasprintf("%s/index.json", layout);
    int r = fs_read_file(ipath, OCI_DOC_LIMIT, &b, err);
    if (r < 0) {
        buf_release(&b);
        return kiln_errf(err, KILN_EINVAL, "%s: not an OCI image layout (no readable index.json)", what);
    }
    struct oci_manifest *idx = NULL;
    r = parse_doc(&b, &idx, err);
    buf_release(&b);
    if (r < 0)
        return kiln_err_prefix(err, "%s: index.json", what);
    if (idx->kind != OCI_KIND_INDEX) {
        oci_manifest_free(idx);
        return kiln_errf(err, KILN_EINVAL, "%s: index.json is not an image index", what);
    }
    const struct oci_desc *d = NULL;
    for (size_t i = 0; i < idx->n_descs; i++) {
        const char *name = oci_desc_annotation(&idx->descs[i], OCI_ANN_REF_NAME);
        if (name && strcmp(name, ref) == 0) {
            d = &idx->descs[i];
            break;
        }
    }
    if (!d) {
        oci_manifest_free(idx);
        return kiln_errf(err, KILN_EINVAL, "%s: no image named '%s' in index.json", what, ref);
    }
    struct oci_desc cur;
    oci_desc_copy(&cur, d);
    oci_manifest_free(idx);
    for (int depth = 0;; depth++) {
        struct buf mb = BUF_INIT;
        r = read_doc(what, layout, cur.digest, cur.size, &mb, err);
        struct oci_manifest *m = NULL;
        if (r == 0 && (r = parse_doc(&mb, &m, err)) < 0)
            kiln_err_prefix(err, "%s: manifest '%s'", what, cur.digest);
        buf_release(&mb);
        if (r < 0) {
            oci_desc_release(&cur);
            return r;
        }
        if (m->kind == OCI_KIND_MANIFEST) {
            snprintf(digest_out, DIGEST_STR_SIZE, "%s", cur.digest);
            oci_desc_release(&cur);
            *out = m;
            return 0;
        }
        const struct oci_desc *pick = NULL;
        for (size_t i = 0; i < m->n_descs; i++) {
            const struct oci_desc *x = &m->descs[i];
            if (x->platform_os && x->platform_arch && strcmp(x->platform_os, "linux") == 0 &&
                strcmp(x->platform_arch, "amd64") == 0 && oci_media_type_is_manifest(x->media_type)) {
                pick = x;
                break;
            }
        }
        oci_desc_release(&cur);
        if (!pick || depth >= 2) {
            oci_manifest_free(m);
            return kiln_errf(err, KILN_EINVAL, "%s: '%s' has no linux/amd64 image manifest", what, ref);
        }
        oci_desc_copy(&cur, pick);
        oci_manifest_free(m);
    }
}

int base_oci_run(struct build_ctx *ctx, struct kiln_err *err)
{
    const struct recipe_base *b = &ctx->recipe->base;
    const char *ref = b->ref ? b->ref : "latest";
    _cleanup_free_ char *what = xasprintf("base oci '%s:%s'", b->path, ref);
    struct oci_manifest *m = NULL;
    char mdigest[DIGEST_STR_SIZE];
    int r = find_manifest(what, b->path, ref, &m, mdigest, err);
    if (r < 0)
        return r;

    /* The config: verified, kept for inheritance. */
    struct buf cb = BUF_INIT;
    if ((r = read_doc(what, b->path, m->config.digest, m->config.size, &cb, err)) < 0)
        goto out;
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
        _cleanup_free_ char *path = NULL;
        if ((r = blob_path(lwhat, b->path, l->digest, &path, err)) < 0)
            goto out;
        int fd = -1;
        if ((r = open_blob(lwhat, path, l->digest, &fd, err)) < 0)
            goto out;
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
    build_add_input(ctx, name, b->path, digest_hex(mdigest));
    free(name);
out:
    oci_manifest_free(m);
    return r;
}
