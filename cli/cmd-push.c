/* cmd-push.c - kiln push REF DEST: an image and its referrers to a registry.
 * Credentials: cli_registry_creds(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "images/store.h"
#include "registry/registry.h"
#include "common/banned.h"

static int parse_jobs(const char *s, unsigned *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > 16)
        return -1;
    *out = (unsigned)v;
    return 0;
}

CLI_COMMAND(push)
{
    static const struct option opts[] = {
        { "ca-file", required_argument, NULL, 'C' },
        { "insecure", no_argument, NULL, 'I' },
        { "jobs", required_argument, NULL, 'j' },
        { "mount-from", required_argument, NULL, 'M' },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    struct registry_push_opts o = { 0 };
    const char *mount_from[REGISTRY_MOUNT_MAX];
    int insecure = 0, c;
    while ((c = getopt_long(argc, argv, "j:", opts, NULL)) != -1) {
        switch (c) {
        case 'C':
            o.conn.ca_file = optarg;
            break;
        case 'I':
            insecure = 1;
            break;
        case 'M':
            if (o.n_mount_from == REGISTRY_MOUNT_MAX)
                return cli_usage_error("push", "at most %d --mount-from", REGISTRY_MOUNT_MAX);
            if (!registry_repo_valid(optarg))
                return cli_usage_error("push", "--mount-from takes a repository on the same registry, not '%s'",
                                       optarg);
            mount_from[o.n_mount_from++] = optarg;
            break;
        case 'j':
            if (parse_jobs(optarg, &o.jobs) < 0)
                return cli_usage_error("push", "--jobs takes a number from 1 to 16, not '%s'", optarg);
            break;
        default: {
            int h = cli_common_opt(ctx, "push", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("push", "unknown option");
        }
        }
    }
    if (optind + 2 != argc)
        return cli_usage_error("push", "push takes REF and DEST");
    const char *ref = argv[optind], *dest_s = argv[optind + 1];
    o.mount_from = mount_from;
    struct kiln_err err = KILN_ERR_INIT;
    struct registry_ref dest;
    if (registry_ref_parse(dest_s, insecure, &dest, &err) < 0)
        return cli_fail(&err);
    if (o.conn.ca_file && dest.plain_http) {
        registry_ref_release(&dest);
        return cli_usage_error("push", "--ca-file is for HTTPS; '%s' is plain HTTP", dest_s);
    }

    char *user = NULL, *password = NULL;
    int r = cli_registry_creds(dest.host, &user, &password, &err);
    o.conn.user = user;
    o.conn.password = password;

    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    struct registry_push_result res;
    memset(&res, 0, sizeof(res));
    if (r >= 0)
        r = store_open(dir, 0, &st, &err);
    if (r >= 0)
        r = registry_push(st, ref, &dest, &o, &res, &err);
    store_close(st);
    cli_registry_creds_free(user, password);
    if (r < 0) {
        registry_ref_release(&dest);
        return cli_fail(&err);
    }
    _cleanup_free_ char *where = xasprintf("%s/%s:%s", dest.host, dest.repo, res.tag);
    if (ctx->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I}", "ref", ref, "destination", where, "tag",
                              res.tag, "digest", res.digest, "blobs_pushed", (json_int_t)res.blobs_pushed,
                              "blobs_mounted", (json_int_t)res.blobs_mounted, "blobs_skipped",
                              (json_int_t)res.blobs_skipped, "bytes_pushed", (json_int_t)res.bytes_pushed,
                              "manifests_pushed", (json_int_t)res.manifests_pushed, "referrers_pushed",
                              (json_int_t)res.referrers_pushed, "referrers",
                              res.referrers_api ? "api" : "tag", "referrers_settle_ms", (json_int_t)res.settle_ms);
        cli_print_json(j);
    } else {
        printf("pushed %s to %s (%s): %llu blobs sent (%llu bytes), %llu mounted, %llu already there, "
               "%llu referrers\n", ref, where, res.digest,
               (unsigned long long)(res.blobs_pushed - res.blobs_mounted), (unsigned long long)res.bytes_pushed,
               (unsigned long long)res.blobs_mounted, (unsigned long long)res.blobs_skipped,
               (unsigned long long)res.referrers_pushed);
    }
    registry_push_result_release(&res);
    registry_ref_release(&dest);
    return 0;
}
