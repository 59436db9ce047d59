/* output-tar.c - the flattened rootfs as one uncompressed tar, stored as an
 * artifact (artifactType application/vnd.dev.kiln.rootfs.tar.v1) whose one
 * layer is the tar, with the empty config and the file manifest annotation. */
#include "builder/output.h"

#include <string.h>

#include "builder/layer.h"
#include "common/common.h"
#include "common/log.h"
#include "common/banned.h"


int output_tar_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                   struct kiln_err *err)
{
    (void)o;
    int r = build_files_blob(ctx, err);
    if (r < 0)
        return r;
    struct layer_info li;
    if (ctx->rootfs_digest[0]) {
        memcpy(li.digest, ctx->rootfs_digest, sizeof(li.digest));
        li.size = ctx->rootfs_size;
    } else if ((r = layer_write(ctx, LAYER_NONE, 0, &li, err)) < 0) {
        return kiln_err_prefix(err, "tar output");
    }
    char edigest[DIGEST_STR_SIZE];
    if ((r = build_blob_put(ctx, "{}", 2, edigest, NULL, err)) < 0)
        return r;
    json_t *m = json_pack("{s:i,s:s,s:s,s:{s:s,s:s,s:i},s:[{s:s,s:s,s:I}],s:o}", "schemaVersion", 2,
                          "mediaType", OCI_MT_MANIFEST, "artifactType", KILN_AT_ROOTFS, "config", "mediaType",
                          OCI_MT_EMPTY, "digest", OCI_EMPTY_DIGEST, "size", 2, "layers", "mediaType",
                          KILN_AT_ROOTFS, "digest", li.digest, "size", (json_int_t)li.size, "annotations",
                          output_annotations(ctx));
    r = build_blob_put_json(ctx, m, out->digest, &out->size, err);
    json_decref(m);
    if (r < 0)
        return r;
    out->media_type = OCI_MT_MANIFEST;
    out->artifact_type = KILN_AT_ROOTFS;
    out->content_media_type = KILN_AT_ROOTFS;
    out->content_size = li.size;
    return 0;
}
