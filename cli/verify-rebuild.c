/* verify-rebuild.c - kiln verify REF --rebuild RECIPE: does the recipe give
 * the same bytes again?  (builder/rebuild.h does the work.)
 *
 * Exit status: 0 identical, 3 different (the report says which outputs,
 * files and disk structures), 1 when the rebuild itself failed, 2 for a bad
 * recipe or argument.  With --sign KEY an identical rebuild is attested by a
 * signed statement attached to the image. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "builder/build.h"
#include "builder/rebuild.h"
#include "cli/cli.h"
#include "common/fsutil.h"
#include "images/diff.h"
#include "images/store.h"
#include "recipes/recipe.h"
#include "signing/signing.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct recipe, recipe_free)
DEFINE_CLEANUP(struct store, store_close)
DEFINE_CLEANUP(struct signing_key, signing_key_free)

/* The scratch store's directory, for rebuild_stop(). */
static char *scratch_dir;

static int rebuild_stop(void)
{
    build_emergency_cleanup();
    if (scratch_dir)
        fs_rm_rf(scratch_dir, NULL);
    return 0;
}

static const char *s(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "none";
}

static void print_files(json_t *files)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(files, "added"), i, e)
        printf("    + %s\n", json_string_value(e));
    json_array_foreach(json_object_get(files, "removed"), i, e)
        printf("    - %s\n", json_string_value(e));
    json_array_foreach(json_object_get(files, "changed"), i, e) {
        printf("    ~ %s (", s(e, "path"));
        size_t k;
        json_t *f;
        json_array_foreach(json_object_get(e, "fields"), k, f)
            printf("%s%s", k ? ", " : "", json_string_value(f));
        printf(")\n");
    }
}

static void print_report(json_t *rep)
{
    int same = json_is_true(json_object_get(rep, "identical"));
    if (same)
        printf("identical %s:%s %s\n", s(rep, "name"), s(rep, "version"), s(rep, "recorded"));
    else
        printf("DIFFERENT %s:%s: recorded %s, rebuilt %s\n", s(rep, "name"), s(rep, "version"), s(rep, "recorded"),
               s(rep, "rebuilt"));
    json_t *rc = json_object_get(rep, "recipe");
    if (strcmp(s(rc, "recorded"), s(rc, "rebuilt")) != 0)
        printf("  recipe: recorded sha256:%s, rebuilt from sha256:%s\n", s(rc, "recorded"), s(rc, "rebuilt"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(rep, "inputs"), i, e)
        printf("  input '%s': recorded sha256:%s, rebuilt sha256:%s\n", s(e, "name"), s(e, "recorded"),
               s(e, "rebuilt"));
    json_array_foreach(json_object_get(rep, "outputs"), i, e) {
        if (json_is_true(json_object_get(e, "identical"))) {
            printf("  %s %s identical\n", s(e, "type"), s(e, "rebuilt"));
            continue;
        }
        printf("  %s differs: recorded %s, rebuilt %s\n", s(e, "type"), s(e, "recorded"), s(e, "rebuilt"));
        size_t k;
        json_t *d;
        json_array_foreach(json_object_get(e, "disk"), k, d)
            printf("    %s: %s\n", s(d, "region"), s(d, "detail"));
    }
    json_t *files = json_object_get(rep, "files");
    if (files) {
        size_t n = json_array_size(json_object_get(files, "added")) +
                   json_array_size(json_object_get(files, "removed")) +
                   json_array_size(json_object_get(files, "changed"));
        printf("  files that differ: %zu\n", n);
        print_files(files);
    }
}

int cli_verify_rebuild(struct cli_ctx *ctx, const char *ref, const char *recipe, const char *const *contexts,
                       size_t n_contexts, const char *sign)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct build_opts bo = { 0 };
    if (cli_build_opts(&bo, &err) < 0)
        return cli_fail(&err);
    _cleanup_(recipe_freep) struct recipe *r = NULL;
    if (cli_recipe_load(recipe, contexts, n_contexts, &r, &err) < 0)
        return cli_fail(&err);
    _cleanup_(signing_key_freep) struct signing_key *key = NULL;
    if (sign && cli_signing_key(strcmp(sign, "-") == 0 ? NULL : sign, NULL, &key, &err) < 0)
        return cli_fail(&err);
    if (cli_on_stop(rebuild_stop, &err) < 0)
        return cli_fail(&err);
    _cleanup_free_ char *dir = cli_store_path(ctx);
    _cleanup_(store_closep) struct store *st = NULL;
    if (store_open(dir, key ? STORE_WRITE : 0, &st, &err) < 0)
        return cli_fail(&err);

    json_t *rep = NULL;
    if (fs_mkdtemp(bo.scratch_parent, "kiln-rebuild-", &scratch_dir, &err) < 0)
        return cli_fail(&err);
    int rc = rebuild_verify(st, ref, r, &bo, scratch_dir, &rep, &err);
    fs_rm_rf(scratch_dir, NULL);
    if (rc == 0 && key) {
        json_t *pred = rebuild_predicate(rep, (int64_t)time(NULL));
        rc = signing_attach_rebuild(st, s(rep, "name"), s(rep, "version"), s(rep, "recorded"), pred, key, &err);
        json_decref(pred);
        if (rc == 0)
            json_object_set_new(rep, "signedBy", json_string(signing_key_id(key)));
    }
    if (rep) {
        if (ctx->json) {
            cli_print_json(json_incref(rep));
        } else {
            print_report(rep);
            if (rc == 0 && key)
                printf("  signed rebuild statement attached (key %s)\n", signing_key_id(key));
        }
    }
    json_decref(rep);
    if (rc < 0)
        return cli_fail(&err);
    return 0;
}
