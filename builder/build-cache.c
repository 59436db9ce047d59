/* build-cache.c - the build pipeline's cache points (see build-cache.h). */
#include "builder/build-cache.h"

#include <stdlib.h>
#include <string.h>

#include "builder/cache.h"
#include "common/common.h"
#include "common/log.h"
#include "common/banned.h"

/* Step i's tree is a cache point. */
static int tree_point(const struct build_ctx *ctx, const struct build_plan *plan, size_t i)
{
    const struct plan_step *s = &plan->steps[i];
    if (s->kind == PLAN_OUTPUT)
        return 0;
    enum recipe_base_kind bk = ctx->recipe->base.kind;
    if (s->kind == PLAN_BASE && (bk == BASE_DEBIAN || bk == BASE_DISK))
        return 1;
    /* The tree the guest stage starts from: a changed `run` reruns from there. */
    if (i + 1 < plan->n && plan->steps[i + 1].kind == PLAN_GUEST)
        return 1;
    /* The tree the guest stage made, when files come after it (and a disk
     * step, if any, lays the disk out after them): a changed file of those
     * reruns from there. */
    if (s->kind == PLAN_GUEST && i + 1 < plan->n && plan->steps[i + 1].kind == PLAN_FILES_LATE)
        return 1;
    /* The tree the outputs start from, unless the guest stage made a disk
     * (the disk outputs need it and it is not kept). */
    if (i + 1 < plan->n && plan->steps[i + 1].kind == PLAN_OUTPUT)
        return !recipe_first_disk(ctx->recipe);
    return 0;
}

static json_t *ctx_state(const struct build_ctx *ctx)
{
    json_t *s = json_pack("{s:I,s:O,s:b}", "source_date_epoch", (json_int_t)ctx->sde, "inputs", ctx->inputs,
                          "sysprep_verified", ctx->sysprep_verified);
    if (ctx->base_config)
        json_object_set(s, "base_config", ctx->base_config);
    return s;
}

/* Takes SOURCE_DATE_EPOCH, the record's inputs and the base config from a state. */
static void ctx_from_state(struct build_ctx *ctx, json_t *state)
{
    ctx->sde = (int64_t)json_integer_value(json_object_get(state, "source_date_epoch"));
    json_t *in = json_object_get(state, "inputs");
    json_decref(ctx->inputs);
    ctx->inputs = json_is_array(in) ? json_deep_copy(in) : json_array();
    json_t *bc = json_object_get(state, "base_config");
    json_decref(ctx->base_config);
    ctx->base_config = json_is_object(bc) ? json_incref(bc) : NULL;
    ctx->sysprep_verified = json_is_true(json_object_get(state, "sysprep_verified"));
}

static void log_cached(const struct build_plan *plan, size_t i, const char *how)
{
    kiln_log(KILN_LOG_INFO, "step %zu/%zu: %s: %s (key %.12s)", i + 1, plan->n, plan_step_name(plan->steps[i].kind),
             how, plan->steps[i].key);
}

static void warn_corrupt(const struct build_plan *plan, size_t i, const char *why)
{
    kiln_log(KILN_LOG_WARN, "cache: entry of step %zu (%s, key %.12s) is corrupt, rebuilding: %s", i + 1,
             plan_step_name(plan->steps[i].kind), plan->steps[i].key, why);
}

int build_cache_restore(struct build_ctx *ctx, const struct build_plan *plan, size_t i, size_t *last)
{
    if (!ctx->cache)
        return 0;
    for (size_t j = plan->n; j-- > i;) {
        const struct plan_step *s = &plan->steps[j];
        if (!tree_point(ctx, plan, j) || !s->key[0] || !cache_has(ctx->cache, s->key))
            continue;
        struct tree *t = NULL;
        json_t *state = NULL;
        char *why = NULL;
        struct kiln_err err = KILN_ERR_INIT;
        int r = cache_get_tree(ctx->cache, s->key, ctx->scratch, &ctx->opts->limits, &t, &state, &why, &err);
        if (r < 0)
            kiln_log(KILN_LOG_WARN, "cache: %s", err.msg);
        if (why)
            warn_corrupt(plan, j, why);
        free(why);
        if (r <= 0)
            continue;
        ctx_from_state(ctx, state);
        json_decref(state);
        tree_set_epoch(t, ctx->sde);
        tree_free(ctx->tree);
        ctx->tree = t;
        for (size_t k = i; k <= j; k++)
            log_cached(plan, k, "cached");
        *last = j;
        return 1;
    }
    return 0;
}

static int sink_held(void *ud, const void *data, size_t len, struct kiln_err *err)
{
    return build_blob_write(ud, data, len, err);
}

void build_cache_save_tree(struct build_ctx *ctx, const struct build_plan *plan, size_t i)
{
    const struct plan_step *s = &plan->steps[i];
    if (!ctx->cache || !s->key[0] || !tree_point(ctx, plan, i) || cache_has_local(ctx->cache, s->key))
        return;
    /* The tree's tar is held with the build's blobs and listed once published. */
    struct build_blob_writer *w = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    char digest[DIGEST_STR_SIZE];
    uint64_t size = 0;
    int r = build_blob_begin(ctx, &w, &err);
    if (r == 0 && (r = tree_write_tar(ctx->tree, sink_held, w, &err)) < 0)
        build_blob_cancel(w);
    else if (r == 0)
        r = build_blob_end(w, digest, &size, &err);
    if (r < 0) {
        kiln_log(KILN_LOG_WARN, "cache: step %zu (%s) not stored: %s", i + 1, plan_step_name(s->kind), err.msg);
        return;
    }
    if (!ctx->cache_pending)
        ctx->cache_pending = json_array();
    json_array_append_new(ctx->cache_pending, json_pack("{s:s,s:s,s:s,s:I,s:o}", "key", s->key, "step",
                                                        plan_step_name(s->kind), "tar", digest, "size",
                                                        (json_int_t)size, "state", ctx_state(ctx)));
}

/* Fills *out from an output state (strings borrowed from state, kept alive in ctx). */
static int desc_from_state(struct build_ctx *ctx, json_t *state, struct output_desc *out)
{
    json_t *o = json_object_get(state, "output");
    const char *mt = json_string_value(json_object_get(o, "media_type"));
    const char *dg = json_string_value(json_object_get(o, "digest"));
    const char *cmt = json_string_value(json_object_get(o, "content_media_type"));
    if (!mt || !dg || strlen(dg) >= DIGEST_STR_SIZE)
        return 0;
    memset(out, 0, sizeof(*out));
    out->type = (enum recipe_output_type)json_integer_value(json_object_get(o, "type"));
    out->media_type = mt;
    out->artifact_type = json_string_value(json_object_get(o, "artifact_type"));
    out->content_media_type = cmt;
    memcpy(out->digest, dg, strlen(dg) + 1);
    out->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
    out->content_size = (uint64_t)json_integer_value(json_object_get(o, "content_size"));
    if (!ctx->cache_keep)
        ctx->cache_keep = json_array();
    json_array_append(ctx->cache_keep, state);
    return 1;
}

static int get_output(struct build_ctx *ctx, const struct build_plan *plan, size_t i, json_t **state)
{
    char *why = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    int r = cache_get_output(ctx->cache, plan->steps[i].key, state, &why, &err);
    if (r < 0)
        kiln_log(KILN_LOG_WARN, "cache: %s", err.msg);
    if (why)
        warn_corrupt(plan, i, why);
    free(why);
    return r > 0;
}

int build_cache_all_outputs(struct build_ctx *ctx, const struct build_plan *plan, struct build_result *res)
{
    if (!ctx->cache || !plan->key[0])
        return 0;
    for (size_t i = 0; i < plan->n; i++)
        if (plan->steps[i].kind == PLAN_OUTPUT && !cache_has(ctx->cache, plan->steps[i].key))
            return 0;
    size_t n = 0;
    json_t *first = NULL;
    for (size_t i = 0; i < plan->n; i++) {
        if (plan->steps[i].kind != PLAN_OUTPUT)
            continue;
        json_t *state = NULL;
        if (!get_output(ctx, plan, i, &state) || !desc_from_state(ctx, state, &res->outputs[n])) {
            json_decref(state);
            json_decref(first);
            return 0;
        }
        n++;
        if (!first)
            first = json_incref(state);
        json_decref(state);
    }
    ctx_from_state(ctx, first);
    const char *fd = json_string_value(json_object_get(first, "files_digest"));
    if (fd && strlen(fd) < sizeof(ctx->files_digest))
        memcpy(ctx->files_digest, fd, strlen(fd) + 1);
    json_decref(first);
    res->n_outputs = n;
    res->cached = 1;
    return 1;
}

void build_cache_log_all(const struct build_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++)
        log_cached(plan, i, plan->steps[i].kind == PLAN_OUTPUT ? "cached" : "skipped, every output is cached");
}

int build_cache_output(struct build_ctx *ctx, const struct plan_step *s, struct output_desc *out)
{
    if (!ctx->cache || !s->key[0] || !cache_has(ctx->cache, s->key))
        return 0;
    /* get_output wants the plan only for its messages: a one-step view. */
    struct build_plan one = { .steps = (struct plan_step *)s, .n = 1 };
    json_t *state = NULL;
    if (!get_output(ctx, &one, 0, &state))
        return 0;
    int ok = desc_from_state(ctx, state, out);
    const char *fd = json_string_value(json_object_get(state, "files_digest"));
    if (ok && fd && !ctx->files_digest[0] && strlen(fd) < sizeof(ctx->files_digest))
        memcpy(ctx->files_digest, fd, strlen(fd) + 1);
    json_decref(state);
    return ok;
}

static json_t *jstr_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

void build_cache_note_output(struct build_ctx *ctx, const struct plan_step *s, const struct output_desc *out)
{
    if (!ctx->cache || !s->key[0])
        return;
    json_t *o = json_pack("{s:i,s:s,s:o,s:o,s:s,s:I,s:I}", "type", (int)out->type, "media_type", out->media_type,
                          "artifact_type", jstr_or_null(out->artifact_type), "content_media_type",
                          jstr_or_null(out->content_media_type), "digest", out->digest, "size",
                          (json_int_t)out->size, "content_size", (json_int_t)out->content_size);
    json_t *state = ctx_state(ctx);
    json_object_set_new(state, "output", o);
    if (!ctx->cache_pending)
        ctx->cache_pending = json_array();
    json_array_append_new(ctx->cache_pending, json_pack("{s:s,s:o}", "key", s->key, "state", state));
}

void build_cache_published(struct build_ctx *ctx)
{
    size_t i;
    json_t *e;
    json_array_foreach(ctx->cache_pending, i, e) {
        const char *key = json_string_value(json_object_get(e, "key"));
        json_t *state = json_object_get(e, "state");
        struct kiln_err err = KILN_ERR_INIT;
        int r;
        if (json_object_get(e, "tar")) {
            r = cache_put_tree(ctx->cache, key, json_string_value(json_object_get(e, "step")),
                               json_string_value(json_object_get(e, "tar")),
                               (uint64_t)json_integer_value(json_object_get(e, "size")), state, &err);
        } else {
            json_t *o = json_object_get(state, "output");
            /* The file manifest the index names, known once every output ran. */
            if (ctx->files_digest[0])
                json_object_set_new(state, "files_digest", json_string(ctx->files_digest));
            r = cache_put_output(ctx->cache, key, json_string_value(json_object_get(o, "media_type")),
                                 json_string_value(json_object_get(o, "digest")),
                                 (uint64_t)json_integer_value(json_object_get(o, "size")), state, &err);
        }
        if (r < 0)
            kiln_log(KILN_LOG_WARN, "cache: entry %.12s not stored: %s", key, err.msg);
    }
}
