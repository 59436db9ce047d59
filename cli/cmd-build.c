/* cmd-build.c - kiln build RECIPE: bake a recipe into the store.
 *
 * The reference (name:version or auto, channel) is checked before any work.
 * The build runs in a scratch directory and its blobs are held in the
 * store's temp area; build_publish() then makes the image, its provenance
 * and its signature visible in one step (signing/publish.h) or none of them.
 * A failed build, or one stopped by SIGINT/SIGTERM/SIGHUP (a signal thread
 * removes the scratch directory and the held temp blobs; it waits for a
 * publish in progress), leaves index.json as it was.
 *
 * Environment: SOURCE_DATE_EPOCH (see builder/build.h), TMPDIR (scratch),
 * KILN_MAX_EXPANDED_BYTES, KILN_MAX_ENTRIES, KILN_ALLOW_DEVICES=1 (limits
 * for base archives and directories, see tree/tree.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boot/accel.h"
#include "builder/build.h"
#include "cli/cli.h"
#include "common/log.h"
#include "images/ref.h"
#include "images/store.h"
#include "recipes/recipe.h"
#include "registry/registry.h"
#include "signing/publish.h"
#include "signing/signing.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct recipe, recipe_free)
DEFINE_CLEANUP(struct store, store_close)
DEFINE_CLEANUP(struct signing_key, signing_key_free)

enum { OPT_VERSION = 1, OPT_CHANNEL, OPT_FORCE, OPT_SIGN, OPT_COMPRESSION, OPT_CONTEXT, OPT_NO_CACHE, OPT_CACHE, OPT_CACHE_CA, OPT_CACHE_INSECURE };

/* The build's cleanup on SIGINT/SIGTERM/SIGHUP.  It does not claim that
 * nothing was written: the signal may come after the image was published. */
static int build_stop(void)
{
    build_emergency_cleanup();
    return 0;
}

static int env_u64(const char *name, uint64_t *out, struct kiln_err *err)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-' || v == 0)
        return kiln_errf(err, KILN_EINVAL, "$%s: '%s' is not a positive number", name, s);
    *out = v;
    return 0;
}

/* $XDG_CACHE_HOME/kiln, else ~/.cache/kiln (static storage). */
static const char *disk_cache_dir(void)
{
    static char *dir;
    if (!dir) {
        const char *x = getenv("XDG_CACHE_HOME");
        const char *home = getenv("HOME");
        if (x && *x == '/')
            dir = xasprintf("%s/kiln", x);
        else
            dir = xasprintf("%s/.cache/kiln", home && *home ? home : "/tmp");
    }
    return dir;
}

int cli_build_opts(struct build_opts *o, struct kiln_err *err)
{
    tree_limits_default(&o->limits);
    int r;
    if ((r = env_u64("KILN_MAX_EXPANDED_BYTES", &o->limits.max_bytes, err)) < 0 ||
        (r = env_u64("KILN_MAX_ENTRIES", &o->limits.max_entries, err)) < 0)
        return r;
    const char *dev = getenv("KILN_ALLOW_DEVICES");
    o->limits.allow_devices = dev && strcmp(dev, "1") == 0;
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (errno || *end || v < 0 || v > 253402300799ll)
            return kiln_errf(err, KILN_EINVAL, "$SOURCE_DATE_EPOCH: '%s' is not a time in seconds", sde);
        o->has_source_date_epoch = 1;
        o->source_date_epoch = v;
    }
    o->cache_dir = disk_cache_dir();
    return cli_scratch_and_accel(&o->scratch_parent, err);
}

/* The shared cache's credentials, wiped when the command ends. */
struct cache_creds {
    char *user, *password;
};

static void cache_creds_release(struct cache_creds *c)
{
    cli_registry_creds_free(c->user, c->password);
}

int cli_recipe_load(const char *path, const char *const *contexts, size_t n_contexts, struct recipe **out,
                    struct kiln_err *err)
{
    struct recipe *r = NULL;
    int rc = recipe_load(path, &r, err);
    for (size_t k = 0; k < n_contexts && rc == 0; k++)
        if ((rc = recipe_context_add(r, contexts[k], err)) < 0)
            kiln_err_prefix(err, "--context");
    if (rc == 0)
        rc = recipe_check_inputs(r, err);
    if (rc < 0) {
        recipe_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static const char *output_type_name(const struct output_desc *d)
{
    return recipe_output_name(d->type);
}

CLI_COMMAND(build)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        { "version", required_argument, NULL, OPT_VERSION },
        { "channel", required_argument, NULL, OPT_CHANNEL },
        { "force", no_argument, NULL, OPT_FORCE },
        { "sign", required_argument, NULL, OPT_SIGN },
        { "compression", required_argument, NULL, OPT_COMPRESSION },
        { "context", required_argument, NULL, OPT_CONTEXT },
        { "no-cache", no_argument, NULL, OPT_NO_CACHE },
        { "cache", required_argument, NULL, OPT_CACHE },
        { "cache-ca-file", required_argument, NULL, OPT_CACHE_CA },
        { "cache-insecure", no_argument, NULL, OPT_CACHE_INSECURE },
        { 0 },
    };
    const char *version = NULL, *channel = NULL, *sign = NULL;
    _cleanup_free_ const char **contexts = xcalloc((size_t)argc + 1, sizeof(*contexts));
    size_t n_contexts = 0;
    int force = 0;
    struct build_opts bo = { 0 };
    struct registry_opts cache_conn = { 0 };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = cli_common_opt(ctx, "build", c, optarg);
        if (h < 0)
            return 0;
        if (h)
            continue;
        switch (c) {
        case OPT_VERSION:
            version = optarg;
            break;
        case OPT_CHANNEL:
            channel = optarg;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case OPT_SIGN:
            sign = optarg;
            break;
        case OPT_COMPRESSION:
            bo.has_compression = 1;
            if (strcmp(optarg, "gzip") == 0)
                bo.compression = COMPRESSION_GZIP;
            else if (strcmp(optarg, "zstd") == 0)
                bo.compression = COMPRESSION_ZSTD;
            else
                return cli_usage_error("build", "--compression must be gzip or zstd, not '%s'", optarg);
            break;
        case OPT_CONTEXT:
            contexts[n_contexts++] = optarg;
            break;
        case OPT_NO_CACHE:
            bo.no_cache = 1;
            break;
        case OPT_CACHE:
            bo.shared_cache = optarg;
            break;
        case OPT_CACHE_CA:
            cache_conn.ca_file = optarg;
            break;
        case OPT_CACHE_INSECURE:
            bo.shared_cache_plain_http = 1;
            break;
        default:
            return cli_usage_error("build", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("build", "build takes exactly one recipe");
    if (bo.no_cache && bo.shared_cache)
        return cli_usage_error("build", "--no-cache and --cache exclude each other");
    if (!bo.shared_cache && (cache_conn.ca_file || bo.shared_cache_plain_http))
        return cli_usage_error("build", "--cache-ca-file and --cache-insecure go with --cache");
    struct kiln_err err = KILN_ERR_INIT;
    __attribute__((cleanup(cache_creds_release))) struct cache_creds cc = { NULL, NULL };
    if (bo.shared_cache) {
        /* Checked before any work; credentials as push and pull find them. */
        struct registry_ref cr;
        if (registry_ref_parse(bo.shared_cache, bo.shared_cache_plain_http, &cr, &err) < 0) {
            kiln_err_prefix(&err, "--cache");
            return cli_fail(&err);
        }
        int r = cli_registry_creds(cr.host, &cc.user, &cc.password, &err);
        registry_ref_release(&cr);
        if (r < 0)
            return cli_fail(&err);
        cache_conn.user = cc.user;
        cache_conn.password = cc.password;
        bo.shared_cache_conn = &cache_conn;
    }
    if (cli_build_opts(&bo, &err) < 0)
        return cli_fail(&err);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    _cleanup_(recipe_freep) struct recipe *r = NULL;
    if (cli_recipe_load(argv[optind], contexts, n_contexts, &r, &err) < 0)
        return cli_fail(&err);
    int autov = version && strcmp(version, "auto") == 0;
    if (autov && ref_check_auto_base(r->version, &err) < 0) {
        kiln_err_prefix(&err, "--version auto");
        return cli_fail(&err);
    }
    struct publish_ref ref = {
        .name = r->name,
        .version = version && !autov ? version : r->version,
        .auto_version = autov,
        .channel = channel,
        .force = force,
    };
    /* The reference the build will be stored under is checked before any work. */
    if (publish_ref_check(&ref, &err) < 0)
        return cli_fail(&err);
    _cleanup_(signing_key_freep) struct signing_key *key = NULL;
    /* --sign - takes the PEM key from $KILN_SIGNING_KEY (CI secrets). */
    if (sign && cli_signing_key(strcmp(sign, "-") == 0 ? NULL : sign, NULL, &key, &err) < 0)
        return cli_fail(&err);

    if (cli_on_stop(build_stop, &err) < 0)
        return cli_fail(&err);

    _cleanup_free_ char *dir = cli_store_path(ctx);
    _cleanup_(store_closep) struct store *st = NULL;
    if (store_open(dir, STORE_CREATE, &st, &err) < 0)
        return cli_fail(&err);

    _cleanup_free_ char *unchanged = xasprintf("%s:%s", ref.name, ref.version);
    if (!autov && !channel && !key)
        bo.unchanged_ref = unchanged;
    if (!ctx->quiet || ctx->verbose)
        kiln_log(KILN_LOG_INFO, "building %s:%s from %s", r->name, version ? version : r->version, r->path);
    struct build_result res;
    if (build_run(r, st, &bo, &res, &err) < 0)
        return cli_fail(&err);
    _cleanup_free_ char *ver = NULL;
    if (build_publish(&res, &ref, key, &ver, &err) < 0) {
        build_result_release(&res);
        return cli_fail(&err);
    }

    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (ctx->json) {
        json_t *outs = json_array();
        uint64_t total = res.size;
        for (size_t i = 0; i < res.n_outputs; i++) {
            const struct output_desc *d = &res.outputs[i];
            json_array_append_new(outs, json_pack("{s:s,s:s,s:s,s:I}", "type", output_type_name(d), "digest",
                                                  d->digest, "media_type", d->artifact_type ? d->artifact_type
                                                                                             : d->media_type,
                                                  "size", (json_int_t)d->content_size));
            total += d->content_size + (res.n_outputs > 1 ? d->size : 0);
        }
        cli_print_json(json_pack("{s:s,s:s,s:s,s:o,s:I,s:f}", "name", r->name, "version", ver, "digest",
                                 res.digest, "outputs", outs, "size", (json_int_t)total, "duration", secs));
    } else {
        printf("%s:%s@%s\n", r->name, ver, res.digest);
    }
    build_result_release(&res);
    return 0;
}
