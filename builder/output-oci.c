/* output-oci.c - the container image: one layer with the whole tree, the
 * image config and the manifest (canonical JSON), with the file manifest
 * referenced by the `dev.kiln.files` annotation. */
#include "builder/output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/layer.h"
#include "common/common.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/banned.h"

/* The base's config with the recipe's container settings and labels on top. */
static json_t *image_config(struct build_ctx *ctx)
{
    const struct recipe *r = ctx->recipe;
    const struct recipe_container *c = &r->container;
    json_t *cfg = json_object();
    static const char *const keep[] = { "Env", "Entrypoint", "Cmd", "WorkingDir", "User",
                                         "ExposedPorts", "Labels", "StopSignal", "Volumes" };
    if (ctx->base_config)
        for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
            json_t *v = json_object_get(ctx->base_config, keep[i]);
            if (v && !json_is_null(v))
                json_object_set(cfg, keep[i], v);
        }
    if (c->entrypoint.n) {
        json_t *a = json_array();
        for (size_t i = 0; i < c->entrypoint.n; i++)
            json_array_append_new(a, json_string(c->entrypoint.v[i]));
        json_object_set_new(cfg, "Entrypoint", a);
        if (!c->cmd.n)
            json_object_del(cfg, "Cmd"); /* a new entrypoint drops the base's cmd */
    }
    if (c->cmd.n) {
        json_t *a = json_array();
        for (size_t i = 0; i < c->cmd.n; i++)
            json_array_append_new(a, json_string(c->cmd.v[i]));
        json_object_set_new(cfg, "Cmd", a);
    }
    if (c->n_env) {
        json_t *env = json_object_get(cfg, "Env");
        json_t *a = json_is_array(env) ? json_deep_copy(env) : json_array();
        for (size_t i = 0; i < c->n_env; i++) {
            size_t kl = strlen(c->env[i].key);
            size_t idx;
            json_t *v;
            json_array_foreach(a, idx, v) {
                const char *s = json_string_value(v);
                if (s && strncmp(s, c->env[i].key, kl) == 0 && s[kl] == '=') {
                    json_array_remove(a, idx);
                    break;
                }
            }
            char *kv = xasprintf("%s=%s", c->env[i].key, c->env[i].value);
            json_array_append_new(a, json_string(kv));
            free(kv);
        }
        json_object_set_new(cfg, "Env", a);
    }
    if (c->workdir)
        json_object_set_new(cfg, "WorkingDir", json_string(c->workdir));
    if (c->user)
        json_object_set_new(cfg, "User", json_string(c->user));
    if (c->ports.n) {
        json_t *p = json_object_get(cfg, "ExposedPorts");
        json_t *o = json_is_object(p) ? json_deep_copy(p) : json_object();
        for (size_t i = 0; i < c->ports.n; i++)
            json_object_set_new(o, c->ports.v[i], json_object());
        json_object_set_new(cfg, "ExposedPorts", o);
    }
    if (r->n_labels) {
        json_t *l = json_object_get(cfg, "Labels");
        json_t *o = json_is_object(l) ? json_deep_copy(l) : json_object();
        for (size_t i = 0; i < r->n_labels; i++)
            json_object_set_new(o, r->labels[i].key, json_string(r->labels[i].value));
        json_object_set_new(cfg, "Labels", o);
    }
    return cfg;
}

void output_drift_annotation(struct build_ctx *ctx, json_t *ann)
{
    const struct strv *v = &ctx->recipe->drift_ignore;
    if (!v->n)
        return;
    json_t *a = json_array();
    for (size_t i = 0; i < v->n; i++)
        json_array_append_new(a, json_string(v->v[i]));
    _cleanup_free_ char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    json_object_set_new(ann, KILN_ANN_DRIFT_IGNORE, json_string(s ? s : "[]"));
}

json_t *output_annotations(struct build_ctx *ctx)
{
    char created[RFC3339_SIZE];
    rfc3339_format(ctx->sde, created);
    json_t *a = json_object();
    for (size_t i = 0; i < ctx->recipe->n_labels; i++)
        if (strncmp(ctx->recipe->labels[i].key, OCI_ANN_PREFIX, strlen(OCI_ANN_PREFIX)) == 0)
            json_object_set_new(a, ctx->recipe->labels[i].key, json_string(ctx->recipe->labels[i].value));
    json_object_set_new(a, OCI_ANN_CREATED, json_string(created));
    if (ctx->recipe->description && !json_object_get(a, OCI_ANN_DESCRIPTION))
        json_object_set_new(a, OCI_ANN_DESCRIPTION, json_string(ctx->recipe->description));
    json_object_set_new(a, KILN_ANN_FILES, json_string(ctx->files_digest));
    output_drift_annotation(ctx, a);
    if (ctx->sysprep_verified)
        json_object_set_new(a, KILN_ANN_SYSPREP, json_string("verified"));
    return a;
}

int output_oci_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                   struct kiln_err *err)
{
    int r = build_files_blob(ctx, err);
    if (r < 0)
        return r;
    enum recipe_compression comp = ctx->opts->has_compression ? ctx->opts->compression : o->compression;
    /* A later tar output gets its tar from this same pass. */
    int tee = 0;
    for (const struct recipe_output *x = o + 1; x < ctx->recipe->outputs + ctx->recipe->n_outputs; x++)
        tee |= x->type == OUTPUT_TAR && !ctx->rootfs_digest[0];
    struct layer_info li;
    if ((r = layer_write(ctx, comp == COMPRESSION_ZSTD ? LAYER_ZSTD : LAYER_GZIP, tee, &li, err)) < 0)
        return kiln_err_prefix(err, "oci output");
    if (li.tar_stored) {
        memcpy(ctx->rootfs_digest, li.diff_id, sizeof(ctx->rootfs_digest));
        ctx->rootfs_size = li.tar_size;
    }
    const char *layer_mt = comp == COMPRESSION_ZSTD ? OCI_MT_LAYER_ZSTD : OCI_MT_LAYER_GZIP;

    char created[RFC3339_SIZE];
    rfc3339_format(ctx->sde, created);
    _cleanup_free_ char *by = xasprintf("kiln %s build %s:%s", KILN_VERSION, ctx->recipe->name,
                                        ctx->recipe->version);
    json_t *config = json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:[s]},s:[{s:s,s:s}]}", "architecture", "amd64",
                               "os", "linux", "created", created, "config", image_config(ctx), "rootfs",
                               "type", "layers", "diff_ids", li.diff_id, "history", "created", created,
                               "created_by", by);
    char cdigest[DIGEST_STR_SIZE];
    uint64_t csize;
    r = build_blob_put_json(ctx, config, cdigest, &csize, err);
    json_decref(config);
    if (r < 0)
        return r;

    json_t *m = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}],s:o}", "schemaVersion", 2, "mediaType",
                          OCI_MT_MANIFEST, "config", "mediaType", OCI_MT_CONFIG, "digest", cdigest, "size",
                          (json_int_t)csize, "layers", "mediaType", layer_mt, "digest", li.digest, "size",
                          (json_int_t)li.size, "annotations", output_annotations(ctx));
    r = build_blob_put_json(ctx, m, out->digest, &out->size, err);
    json_decref(m);
    if (r < 0)
        return r;
    out->media_type = OCI_MT_MANIFEST;
    out->artifact_type = NULL;
    out->content_media_type = layer_mt;
    out->content_size = li.size;
    kiln_log(KILN_LOG_INFO, "oci: layer %s (%llu bytes, %llu uncompressed)", li.digest,
             (unsigned long long)li.size, (unsigned long long)li.tar_size);
    return 0;
}
