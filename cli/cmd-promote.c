/* cmd-promote.c - kiln promote NAME:VERSION --channel NAME: move a channel.
 * Rolling back is promoting the older version again.
 *
 * With a registry (HOST[:PORT]/REPO:VERSION: an argument with a '/', which
 * no image name has) the channel moves there instead: a signed channel
 * statement pushed as the image's referrer, and the channel tag
 * (registry_promote()); the local store is not touched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/fsutil.h"
#include "images/store.h"
#include "registry/registry.h"
#include "signing/signing.h"
#include "common/banned.h"

#define PROMOTE_DEFAULT_EXPIRY (30 * 86400)

/* "30d", "12h", "90m", "45s" or plain seconds -> seconds (1 s to 10 years). */
static int parse_duration(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    long long unit = 1;
    if (end == s || v <= 0)
        return -1;
    if (*end == 'd')
        unit = 86400;
    else if (*end == 'h')
        unit = 3600;
    else if (*end == 'm')
        unit = 60;
    else if (*end == 's')
        unit = 1;
    else if (*end)
        return -1;
    if (*end && end[1])
        return -1;
    if (v > 10LL * 366 * 86400 / unit)
        return -1;
    *out = (int64_t)(v * unit);
    return 0;
}

struct remote_opts {
    const char *key_path, *pass_env, *ca_file, *name, *expires;
    int insecure;
};

static int promote_remote(struct cli_ctx *ctx, const char *dest_s, const char *channel, const struct remote_opts *ro)
{
    struct registry_promote_opts o = { .channel = channel, .lifetime = PROMOTE_DEFAULT_EXPIRY };
    if (!ro->key_path)
        return cli_usage_error("promote", "a channel on a registry is a signed statement: give --key KEY");
    if (ro->expires && parse_duration(ro->expires, &o.lifetime) < 0)
        return cli_usage_error("promote", "--expires takes a duration such as 30d, 12h, 90m or 45s, not '%s'",
                               ro->expires);
    struct kiln_err err = KILN_ERR_INIT;
    struct registry_ref dest;
    if (registry_ref_parse(dest_s, ro->insecure, &dest, &err) < 0)
        return cli_fail(&err);
    if (ro->ca_file && dest.plain_http) {
        registry_ref_release(&dest);
        return cli_usage_error("promote", "--ca-file is for HTTPS; '%s' is plain HTTP", dest_s);
    }
    const char *slash = strrchr(dest.repo, '/');
    o.name = ro->name ? ro->name : slash ? slash + 1 : dest.repo;
    o.conn.ca_file = ro->ca_file;
    int r = ref_check_name(o.name, &err);
    if (r == 0)
        r = ref_check_channel(channel, &err);
    struct signing_key *key = NULL;
    if (r == 0)
        r = cli_signing_key(strcmp(ro->key_path, "-") ? ro->key_path : NULL, ro->pass_env, &key, &err);
    o.key = key;
    o.now = (int64_t)time(NULL);
    struct registry_promote_result res;
    memset(&res, 0, sizeof(res));
    if (r == 0)
        r = cli_registry_promote(&dest, &o, &res, &err);
    signing_key_free(key);
    if (r < 0) {
        registry_ref_release(&dest);
        return cli_fail(&err);
    }
    if (ctx->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "name", o.name, "channel", channel, "version", dest.tag,
                              "digest", res.digest, "statement", res.statement, "expires_in", (json_int_t)o.lifetime,
                              "referrers", res.referrers_api ? "api" : "tag");
        cli_print_json(j);
    } else {
        printf("promoted %s/%s:%s (%s) to channel %s, signed statement %s\n", dest.host, dest.repo, dest.tag,
               res.digest, channel, res.statement);
    }
    registry_ref_release(&dest);
    return 0;
}

CLI_COMMAND(promote)
{
    enum { OPT_KEY = 1, OPT_PASS, OPT_CA, OPT_INSECURE, OPT_NAME, OPT_EXPIRES };
    static const struct option opts[] = {
        { "channel", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, OPT_KEY },
        { "passphrase-env", required_argument, NULL, OPT_PASS },
        { "ca-file", required_argument, NULL, OPT_CA },
        { "insecure", no_argument, NULL, OPT_INSECURE },
        { "name", required_argument, NULL, OPT_NAME },
        { "expires", required_argument, NULL, OPT_EXPIRES },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *channel = NULL;
    struct remote_opts ro = { 0 };
    int c, remote_only = 0;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            channel = optarg;
            continue;
        case OPT_KEY:
            ro.key_path = optarg;
            continue;
        case OPT_PASS:
            ro.pass_env = optarg;
            continue;
        case OPT_CA:
            ro.ca_file = optarg;
            remote_only = 1;
            continue;
        case OPT_INSECURE:
            ro.insecure = 1;
            remote_only = 1;
            continue;
        case OPT_NAME:
            ro.name = optarg;
            remote_only = 1;
            continue;
        case OPT_EXPIRES:
            ro.expires = optarg;
            remote_only = 1;
            continue;
        default:
            break;
        }
        int h = cli_common_opt(ctx, "promote", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("promote", "unknown option");
    }
    if (optind + 1 != argc)
        return cli_usage_error("promote", "promote takes exactly one NAME:VERSION or HOST[:PORT]/REPO:VERSION");
    if (!channel)
        return cli_usage_error("promote", "--channel is required");
    if (strchr(argv[optind], '/'))
        return promote_remote(ctx, argv[optind], channel, &ro);
    if (remote_only || ro.key_path)
        return cli_usage_error("promote", "--key, --expires, --name, --ca-file and --insecure are for a channel on a "
                               "registry (HOST[:PORT]/REPO:VERSION)");
    struct kiln_err err = KILN_ERR_INIT;
    struct image_ref ref;
    if (image_ref_parse(argv[optind], &ref, &err) < 0)
        return cli_fail(&err);
    if (ref.kind != REF_VERSION) {
        image_ref_release(&ref);
        return cli_usage_error("promote", "promote needs NAME:VERSION, not '%s'", argv[optind]);
    }
    if (ref_check_channel(channel, &err) < 0) {
        image_ref_release(&ref);
        return cli_fail(&err);
    }

    _cleanup_free_ char *dir = cli_store_path(ctx);
    _cleanup_free_ char *chref = xasprintf("%s:%s", ref.name, channel);
    struct store *st = NULL;
    struct store_image *prev = NULL, *now = NULL;
    int r = store_open(dir, STORE_WRITE, &st, &err);
    if (r == 0) {
        if (store_resolve(st, chref, &prev, NULL) < 0)
            prev = NULL;
        r = store_channel_set(st, ref.name, channel, ref.version, &err);
    }
    if (r == 0)
        r = store_resolve(st, chref, &now, &err);
    store_close(st);
    if (r < 0) {
        store_image_free(prev);
        image_ref_release(&ref);
        return cli_fail(&err);
    }
    if (ctx->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "name", ref.name, "channel", channel, "version", ref.version,
                              "digest", now->digest);
        json_object_set_new(j, "previous", prev ? json_string(prev->version) : json_null());
        cli_print_json(j);
    } else if (prev && !strcmp(prev->version, ref.version)) {
        printf("%s already points at %s\n", chref, ref.version);
    } else {
        printf("promoted %s:%s to %s", ref.name, ref.version, chref);
        if (prev)
            printf(" (was %s)", prev->version);
        putchar('\n');
    }
    store_image_free(prev);
    store_image_free(now);
    image_ref_release(&ref);
    return 0;
}
