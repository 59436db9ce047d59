/* build.c - runs a plan step by step: scratch directory, base, host steps, guest step,
 * outputs, each step's key completed as it ends, and the held blobs that
 * build_publish() hands to publish_image(). */
#include "builder/build.h"
#include "builder/base.h"
#include "builder/build-cache.h"
#include "builder/cache.h"
#include "builder/ctx.h"
#include "builder/output.h"
#include "builder/step.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/plan.h"
#include "signing/publish.h"
#include "signing/signing.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/banned.h"

/* The build in progress, for build_emergency_cleanup(). */
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct build_ctx *current;

void build_add_input(struct build_ctx *ctx, const char *name, const char *path, const char *sha256)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    if (path) {
        char *uri = xasprintf("file://%s", path);
        json_object_set_new(o, "uri", json_string(uri));
        free(uri);
    }
    json_object_set_new(o, "sha256", json_string(sha256));
    json_array_append_new(ctx->inputs, o);
}

/* --- held blobs ------------------------------------------------------------- */

struct build_blob_writer {
    struct build_ctx *ctx;
    struct store_blob_writer *w;
    struct hash_ctx *h;
    uint64_t size;
};

int build_blob_begin(struct build_ctx *ctx, struct build_blob_writer **out, struct kiln_err *err)
{
    struct build_blob_writer *b = xcalloc(1, sizeof(*b));
    b->ctx = ctx;
    b->h = hash_new();
    if (!b->h) {
        free(b);
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&ctx->lock);
    int r = ctx->closed ? kiln_errf(err, KILN_EFAIL, "build interrupted")
                        : store_blob_begin(ctx->store, &b->w, err);
    if (r == 0) {
        /* Registered at once so an interrupt can remove its temp file. */
        if (ctx->n_blobs == ctx->cap_blobs) {
            ctx->cap_blobs = ctx->cap_blobs ? ctx->cap_blobs * 2 : 8;
            ctx->blobs = xrealloc(ctx->blobs, ctx->cap_blobs * sizeof(*ctx->blobs));
        }
        ctx->blobs[ctx->n_blobs++] = (struct build_blob){ b->w, "", 0 };
    }
    pthread_mutex_unlock(&ctx->lock);
    if (r < 0) {
        hash_free(b->h);
        free(b);
        return r;
    }
    *out = b;
    return 0;
}

int build_blob_write(struct build_blob_writer *b, const void *data, size_t len, struct kiln_err *err)
{
    hash_update(b->h, data, len);
    b->size += len;
    return store_blob_write(b->w, data, len, err);
}

static struct build_blob *held(struct build_ctx *ctx, struct store_blob_writer *w)
{
    for (size_t i = 0; i < ctx->n_blobs; i++)
        if (ctx->blobs[i].w == w)
            return &ctx->blobs[i];
    return NULL;
}

int build_blob_end(struct build_blob_writer *b, char digest_out[DIGEST_STR_SIZE], uint64_t *size_out,
                   struct kiln_err *err)
{
    (void)err;
    char hex[HASH_HEX_LEN + 1];
    hash_final_hex(b->h, hex);
    hash_free(b->h);
    pthread_mutex_lock(&b->ctx->lock);
    struct build_blob *h = held(b->ctx, b->w);
    if (h) {
        snprintf(h->digest, sizeof(h->digest), "sha256:%s", hex);
        h->size = b->size;
    }
    pthread_mutex_unlock(&b->ctx->lock);
    snprintf(digest_out, DIGEST_STR_SIZE, "sha256:%s", hex);
    if (size_out)
        *size_out = b->size;
    free(b);
    return 0;
}

void build_blob_cancel(struct build_blob_writer *b)
{
    if (!b)
        return;
    /* The writer stays registered; build_abort removes it. */
    hash_free(b->h);
    free(b);
}

int build_blob_put(struct build_ctx *ctx, const void *data, size_t len, char digest_out[DIGEST_STR_SIZE],
                   uint64_t *size_out, struct kiln_err *err)
{
    struct build_blob_writer *b = NULL;
    int r = build_blob_begin(ctx, &b, err);
    if (r < 0)
        return r;
    if ((r = build_blob_write(b, data, len, err)) < 0) {
        build_blob_cancel(b);
        return r;
    }
    return build_blob_end(b, digest_out, size_out, err);
}

int build_blob_put_json(struct build_ctx *ctx, json_t *j, char digest_out[DIGEST_STR_SIZE],
                        uint64_t *size_out, struct kiln_err *err)
{
    _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        return kiln_errf(err, KILN_EFAIL, "cannot encode a JSON document");
    return build_blob_put(ctx, s, strlen(s), digest_out, size_out, err);
}

int build_files_blob(struct build_ctx *ctx, struct kiln_err *err)
{
    if (ctx->files_digest[0])
        return 0;
    json_t *m = tree_file_manifest(ctx->tree);
    int r = build_blob_put_json(ctx, m, ctx->files_digest, NULL, err);
    json_decref(m);
    if (r < 0)
        ctx->files_digest[0] = '\0';
    return r;
}

/* --- pipeline ------------------------------------------------------------------ */

static void ctx_free(struct build_ctx *ctx)
{
    if (!ctx)
        return;
    pthread_mutex_lock(&current_lock);
    if (current == ctx)
        current = NULL;
    pthread_mutex_unlock(&current_lock);
    for (size_t i = 0; i < ctx->n_blobs; i++)
        store_blob_abort(ctx->blobs[i].w);
    free(ctx->blobs);
    tree_free(ctx->tree);
    if (ctx->scratch) {
        fs_rm_rf(ctx->scratch, NULL);
        free(ctx->scratch);
    }
    free(ctx->guest_disk);
    json_decref(ctx->inputs);
    json_decref(ctx->base_config);
    cache_free(ctx->cache);
    json_decref(ctx->cache_pending);
    json_decref(ctx->cache_keep);
    base_debian_free(ctx->debian);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

void build_emergency_cleanup(void)
{
    pthread_mutex_lock(&current_lock);
    struct build_ctx *ctx = current;
    if (ctx) {
        pthread_mutex_lock(&ctx->lock);
        ctx->closed = 1;
        for (size_t i = 0; i < ctx->n_blobs; i++)
            if (ctx->blobs[i].w)
                unlink(store_blob_tmp_path(ctx->blobs[i].w));
        if (ctx->scratch)
            fs_rm_rf(ctx->scratch, NULL);
        pthread_mutex_unlock(&ctx->lock);
    }
    /* current_lock stays held: the build must not go on committing. */
}

/* The guest step, or the disk step (disk_step), on the tree: the tree goes
 * in as a tar, the rootfs that comes back replaces it. */
static int run_guest(struct build_ctx *ctx, int disk_step, int lay_out_disk, struct kiln_err *err)
{
    _cleanup_free_ char *in = xasprintf("%s/guest-in.tar", ctx->scratch);
    _cleanup_free_ char *out = xasprintf("%s/guest-out.tar", ctx->scratch);
    {
        _cleanup_close_ int fd = open(in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", in);
        int r = tree_write_tar(ctx->tree, tree_sink_fd, &fd, err);
        if (r < 0)
            return r;
    }
    int r = disk_step ? step_disk_run(ctx, in, out, err) : step_guest_run(ctx, in, out, lay_out_disk, err);
    unlink(in);
    if (r < 0)
        return r;
    /* The guest's rootfs replaces the tree; it is our own output, devices allowed. */
    struct tree_limits lim = ctx->opts->limits;
    lim.allow_devices = 1;
    struct tree *t = NULL;
    if ((r = tree_new(ctx->scratch, &lim, &t, err)) < 0)
        return r;
    tree_set_epoch(t, ctx->sde);
    _cleanup_close_ int fd = open(out, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tree_free(t);
        return kiln_errno(err, KILN_EFAIL, errno, "guest stage: cannot open '%s'", out);
    }
    if ((r = tree_read_tar(t, "guest stage output", fd, NULL, err)) < 0) {
        tree_free(t);
        return r;
    }
    unlink(out);
    tree_free(ctx->tree);
    ctx->tree = t;
    return 0;
}

/* Without $SOURCE_DATE_EPOCH, a base whose bytes are pinned (a tarball, an
 * OCI image, a disk, a bootstrapped Debian) gives the build its time: the
 * newest mtime in the base as read, which the same base always gives again.
 * Scratch and directory bases (whose mtimes depend on the checkout) keep 0. */
static void default_epoch_from_base(struct build_ctx *ctx)
{
    enum recipe_base_kind k = ctx->recipe->base.kind;
    if (ctx->opts->has_source_date_epoch || k == BASE_SCRATCH || k == BASE_DIRECTORY)
        return;
    ctx->sde = tree_newest_mtime(ctx->tree);
    tree_set_epoch(ctx->tree, ctx->sde);
}

static int run_base(struct build_ctx *ctx, struct kiln_err *err)
{
    switch (ctx->recipe->base.kind) {
    case BASE_SCRATCH:
        return base_scratch_run(ctx, err);
    case BASE_TARBALL:
        return base_tarball_run(ctx, err);
    case BASE_DIRECTORY:
        return base_directory_run(ctx, err);
    case BASE_OCI:
        return base_oci_run(ctx, err);
    case BASE_DEBIAN:
        return base_debian_run(ctx, err);
    case BASE_DISK:
        return base_disk_run(ctx, err);
    }
    return kiln_errf(err, KILN_EINVAL, "unknown base kind");
}

/* One output_*_run per output type; qcow2 and raw are added here. */
static output_fn output_for(enum recipe_output_type t)
{
    switch (t) {
    case OUTPUT_OCI:
        return output_oci_run;
    case OUTPUT_TAR:
        return output_tar_run;
    case OUTPUT_QCOW2:
    case OUTPUT_RAW:
        return output_disk_run;
    default:
        return NULL;
    }
}

static json_t *make_index(struct build_ctx *ctx, const struct output_desc *outs, size_t n)
{
    json_t *manifests = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", outs[i].media_type, "digest", outs[i].digest,
                              "size", (json_int_t)outs[i].size);
        if (outs[i].artifact_type)
            json_object_set_new(d, "artifactType", json_string(outs[i].artifact_type));
        else
            json_object_set_new(d, "platform", json_pack("{s:s,s:s}", "architecture", "amd64", "os", "linux"));
        json_array_append_new(manifests, d);
    }
    char created[RFC3339_SIZE];
    rfc3339_format(ctx->sde, created);
    json_t *ann = json_pack("{s:s}", OCI_ANN_CREATED, created);
    if (ctx->files_digest[0])
        json_object_set_new(ann, KILN_ANN_FILES, json_string(ctx->files_digest));
    output_drift_annotation(ctx, ann);
    return json_pack("{s:i,s:s,s:o,s:o}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX, "manifests",
                     manifests, "annotations", ann);
}

/* 1 when every output came from the cache and opts->unchanged_ref already
 * names the image they make: build_publish() will publish nothing. */
static int result_unchanged(struct build_ctx *ctx, const struct build_opts *opts, const struct build_result *res)
{
    if (!opts->unchanged_ref)
        return 0;
    char digest[DIGEST_STR_SIZE];
    if (res->n_outputs == 1) {
        memcpy(digest, res->outputs[0].digest, sizeof(digest));
    } else {
        json_t *idx = make_index(ctx, res->outputs, res->n_outputs);
        _cleanup_free_ char *s = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(idx);
        if (!s)
            return 0;
        char hex[HASH_HEX_LEN + 1];
        hash_sha256_hex(s, strlen(s), hex);
        snprintf(digest, sizeof(digest), "sha256:%s", hex);
    }
    struct store_image *img = NULL;
    struct kiln_err ignore = KILN_ERR_INIT;
    int same = store_resolve(ctx->store, opts->unchanged_ref, &img, &ignore) == 0 && !strcmp(img->digest, digest);
    store_image_free(img);
    return same;
}

/* Undoes build_cache_all_outputs(): the build runs its steps after all. */
static void forget_cached_outputs(struct build_ctx *ctx, const struct build_opts *opts, struct build_result *res)
{
    memset(res->outputs, 0, res->n_outputs * sizeof(*res->outputs));
    res->n_outputs = 0;
    res->cached = 0;
    json_decref(ctx->inputs);
    ctx->inputs = json_array();
    json_decref(ctx->base_config);
    ctx->base_config = NULL;
    ctx->files_digest[0] = '\0';
    ctx->sysprep_verified = 0;
    ctx->sde = opts->has_source_date_epoch ? opts->source_date_epoch : 0;
    tree_set_epoch(ctx->tree, ctx->sde);
}

/* Completes step i's key with the digests of the inputs it recorded. */
static int complete_step(struct build_ctx *ctx, struct build_plan *plan, size_t i, size_t first_input,
                         struct kiln_err *err)
{
    size_t n = json_array_size(ctx->inputs) - first_input;
    const char **v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t k = 0; k < n; k++)
        v[k] = json_string_value(json_object_get(json_array_get(ctx->inputs, first_input + k), "sha256"));
    int rc = plan_complete_step(plan, i, v, n, err);
    free(v);
    return rc;
}

static json_t *make_record(struct build_ctx *ctx, const struct build_plan *plan, time_t started)
{
    char s[RFC3339_SIZE], f[RFC3339_SIZE], host[256] = "";
    rfc3339_format(started, s);
    rfc3339_format(time(NULL), f);
    gethostname(host, sizeof(host) - 1);
    return json_pack("{s:{s:s,s:s},s:O,s:s,s:s,s:s,s:s,s:I,s:o}", "recipe", "path", ctx->recipe->path,
                     "sha256", ctx->recipe->sha256, "inputs", ctx->inputs, "kiln_version", KILN_VERSION,
                     "started", s, "finished", f, "host", host, "source_date_epoch",
                     (json_int_t)ctx->sde, "steps", plan_keys_json(plan));
}

int build_run(const struct recipe *r, struct store *st, const struct build_opts *opts,
              struct build_result *res, struct kiln_err *err)
{
    memset(res, 0, sizeof(*res));
    time_t started = time(NULL);
    struct build_plan *plan = NULL;
    struct plan_opts po = { opts->has_source_date_epoch, opts->source_date_epoch, opts->has_compression,
                            opts->compression };
    int rc = plan_make(r, &po, &plan, err);
    if (rc == 0 && plan_has(plan, PLAN_DISK))
        rc = step_disk_possible(r, err);
    if (rc < 0) {
        plan_free(plan);
        return rc;
    }
    for (size_t i = 0; i < r->n_outputs; i++)
        if (!output_for(r->outputs[i].type)) {
            plan_free(plan);
            return kiln_errf(err, KILN_EFAIL, "output '%s' is not available in this build",
                             recipe_output_name(r->outputs[i].type));
        }

    struct build_ctx *ctx = xcalloc(1, sizeof(*ctx));
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->recipe = r;
    ctx->opts = opts;
    ctx->store = st;
    ctx->inputs = json_array();
    ctx->sde = opts->has_source_date_epoch ? opts->source_date_epoch : 0;
    pthread_mutex_lock(&current_lock);
    current = ctx;
    pthread_mutex_unlock(&current_lock);

    const char *parent = opts->scratch_parent ? opts->scratch_parent : "/tmp";
    if ((rc = fs_mkdtemp(parent, "kiln-build-", &ctx->scratch, err)) < 0)
        goto fail;
    if ((rc = tree_new(ctx->scratch, &opts->limits, &ctx->tree, err)) < 0)
        goto fail;
    tree_set_epoch(ctx->tree, ctx->sde);

    /* A debian base's key is its mirror's state, known before it runs. */
    if (r->base.kind == BASE_DEBIAN && (rc = base_debian_begin(ctx, plan, err)) < 0)
        goto fail;

    size_t n_out = 0;
    res->outputs = xcalloc(r->n_outputs, sizeof(*res->outputs));
    if (!opts->no_cache) {
        if ((rc = cache_open(st, &ctx->cache, err)) < 0)
            goto fail;
        if (opts->shared_cache && (rc = cache_set_remote(ctx->cache, opts->shared_cache, opts->shared_cache_plain_http,
                                                         opts->shared_cache_conn, err)) < 0)
            goto fail;
        cache_prehash(r, plan);
        if (build_cache_all_outputs(ctx, plan, res)) {
            if (result_unchanged(ctx, opts, res)) {
                build_cache_log_all(plan);
                goto outputs_done;
            }
            /* A new image needs its SBOMs, made from the tree: build it step
             * by step, from the furthest cached tree on. */
            kiln_log(KILN_LOG_INFO, "every output is cached, but the image is new here: its tree is needed");
            forget_cached_outputs(ctx, opts, res);
        }
    }
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_step *s = &plan->steps[i];
        size_t last;
        if (s->kind != PLAN_OUTPUT && build_cache_restore(ctx, plan, i, &last)) {
            i = last;
            continue;
        }
        if (s->kind == PLAN_OUTPUT && build_cache_output(ctx, s, &res->outputs[n_out])) {
            kiln_log(KILN_LOG_INFO, "step %zu/%zu: %s: cached (key %.12s)", i + 1, plan->n,
                     plan_step_name(s->kind), s->key);
            n_out++;
            continue;
        }
        kiln_log(KILN_LOG_INFO, "step %zu/%zu: %s", i + 1, plan->n, plan_step_name(s->kind));
        ctx->step = s;
        size_t first_input = json_array_size(ctx->inputs);
        switch (s->kind) {
        case PLAN_BASE:
            rc = run_base(ctx, err);
            if (rc == 0)
                default_epoch_from_base(ctx);
            break;
        case PLAN_FILES:
            rc = step_files_run(ctx, err);
            break;
        case PLAN_USERS:
            rc = step_users_run(ctx, err);
            break;
        case PLAN_HOSTNAME:
            rc = step_hostname_run(ctx, err);
            break;
        case PLAN_OWNERS:
            rc = step_owners_run(ctx, err);
            break;
        case PLAN_GUEST:
            rc = run_guest(ctx, 0, !plan_has(plan, PLAN_DISK), err);
            break;
        case PLAN_FILES_LATE:
            rc = step_files_run(ctx, err);
            break;
        case PLAN_DISK:
            rc = run_guest(ctx, 1, 1, err);
            break;
        case PLAN_OUTPUT: {
            const struct recipe_output *o = &r->outputs[s->index];
            rc = output_for(o->type)(ctx, o, &res->outputs[n_out], err);
            if (rc == 0)
                res->outputs[n_out++].type = o->type;
            if (rc == 0 && (rc = complete_step(ctx, plan, i, first_input, err)) == 0)
                build_cache_note_output(ctx, s, &res->outputs[n_out - 1]);
            break;
        }
        }
        if (rc == 0 && s->kind != PLAN_OUTPUT && !(s->kind == PLAN_BASE && s->digests))
            rc = complete_step(ctx, plan, i, first_input, err);
        if (rc < 0)
            goto fail;
        ctx->step = NULL;
        build_cache_save_tree(ctx, plan, i);
        kiln_log(KILN_LOG_DEBUG, "step %zu/%zu: %s: key %s", i + 1, plan->n, plan_step_name(s->kind), s->key);
    }
    res->n_outputs = n_out;
outputs_done:
    n_out = res->n_outputs;
    if (n_out == 1) {
        memcpy(res->digest, res->outputs[0].digest, sizeof(res->digest));
        res->media_type = res->outputs[0].media_type;
        res->artifact_type = res->outputs[0].artifact_type;
        res->size = res->outputs[0].size;
    } else {
        json_t *idx = make_index(ctx, res->outputs, n_out);
        rc = build_blob_put_json(ctx, idx, res->digest, &res->size, err);
        json_decref(idx);
        if (rc < 0)
            goto fail;
        res->media_type = OCI_MT_INDEX;
    }
    /* Every output came from the cache: nothing will be published. */
    if (!res->cached && (rc = step_sbom_run(ctx, &res->sbom_spdx, &res->sbom_cyclonedx, err)) < 0)
        goto fail;
    res->record = make_record(ctx, plan, started);
    res->ctx = ctx;
    plan_free(plan);
    /* The tree and its spool are no longer needed. */
    tree_free(ctx->tree);
    ctx->tree = NULL;
    return 0;
fail:
    plan_free(plan);
    json_decref(res->sbom_spdx);
    json_decref(res->sbom_cyclonedx);
    res->sbom_spdx = res->sbom_cyclonedx = NULL;
    free(res->outputs);
    res->outputs = NULL;
    ctx_free(ctx);
    return rc;
}

int build_publish(struct build_result *res, const struct publish_ref *ref, const struct signing_key *key,
                  char **version_out, struct kiln_err *err)
{
    if (version_out)
        *version_out = NULL;
    struct build_ctx *ctx = res->ctx;
    /* Every output came from the cache and NAME:VERSION names this digest
     * already: there is nothing new to publish. */
    if (res->cached && !ref->auto_version && !ref->channel && !key) {
        struct store_image *img = NULL;
        struct kiln_err ignore = KILN_ERR_INIT;
        _cleanup_free_ char *name = xasprintf("%s:%s", ref->name, ref->version);
        int same = store_resolve(ctx->store, name, &img, &ignore) == 0 && !strcmp(img->digest, res->digest);
        store_image_free(img);
        if (same) {
            kiln_log(KILN_LOG_INFO, "%s is unchanged: nothing to publish", name);
            if (version_out)
                *version_out = xstrdup(ref->version);
            return 0;
        }
    }
    /* build_emergency_cleanup() waits for current_lock: a signal does not
     * stop the publish half-way. */
    pthread_mutex_lock(&current_lock);
    pthread_mutex_lock(&ctx->lock);
    int rc = 0;
    struct publish_blob *blobs = xcalloc(ctx->n_blobs + 1, sizeof(*blobs));
    size_t n = 0;
    if (ctx->closed)
        rc = kiln_errf(err, KILN_EFAIL, "build interrupted");
    /* The held blobs are handed over to publish_image(). */
    for (size_t i = 0; i < ctx->n_blobs && rc == 0; i++) {
        struct build_blob *b = &ctx->blobs[i];
        if (b->w && b->digest[0]) {
            blobs[n].w = b->w;
            memcpy(blobs[n++].digest, b->digest, sizeof(b->digest));
        } else {
            store_blob_abort(b->w);
        }
        b->w = NULL;
    }
    pthread_mutex_unlock(&ctx->lock);
    if (rc == 0) {
        struct publish_attestation atts[] = {
            { SIGNING_AT_SBOM_SPDX, SIGNING_PREDICATE_SPDX, res->sbom_spdx },
            { SIGNING_AT_SBOM_CYCLONEDX, SIGNING_PREDICATE_CYCLONEDX, res->sbom_cyclonedx },
        };
        struct publish_request req = {
            .ref = *ref,
            .digest = res->digest,
            .media_type = res->media_type,
            .size = res->size,
            .artifact_type = res->artifact_type,
            .recipe_digest = ctx->recipe->sha256,
            .blobs = blobs,
            .n_blobs = n,
            .build_record = res->record,
            .attestations = atts,
            .n_attestations = res->sbom_spdx && res->sbom_cyclonedx ? ARRAY_SIZE(atts) : 0,
            .key = key,
        };
        rc = publish_image(ctx->store, &req, version_out, err);
    }
    pthread_mutex_unlock(&current_lock);
    free(blobs);
    /* The cache entries come after the image (each listed whole, or not). */
    if (rc == 0)
        build_cache_published(ctx);
    return rc;
}

void build_result_release(struct build_result *res)
{
    if (!res)
        return;
    if (res->ctx) {
        /* Blobs not committed are removed by ctx_free. */
        size_t k = 0;
        for (size_t i = 0; i < res->ctx->n_blobs; i++)
            if (res->ctx->blobs[i].w)
                res->ctx->blobs[k++] = res->ctx->blobs[i];
        res->ctx->n_blobs = k;
        ctx_free(res->ctx);
    }
    free(res->outputs);
    json_decref(res->record);
    json_decref(res->sbom_spdx);
    json_decref(res->sbom_cyclonedx);
    memset(res, 0, sizeof(*res));
}
