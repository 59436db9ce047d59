/* cmd-pull.c - kiln pull SRC --key PUB: an image and its referrers from a
 * registry into the store, verified before anything is listed.
 * Credentials: cli_registry_creds(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "images/store.h"
#include "registry/registry.h"
#include "signing/signing.h"
#include "common/banned.h"

#define PULL_MAX_KEYS 64

static int pull_stop(void)
{
    registry_pull_emergency_cleanup();
    return 1;
}

CLI_COMMAND(pull)
{
    enum { OPT_KEY = 1, OPT_CA, OPT_INSECURE, OPT_DOWNGRADE, OPT_JOBS };
    static const struct option opts[] = {
        { "key", required_argument, NULL, OPT_KEY },
        { "ca-file", required_argument, NULL, OPT_CA },
        { "insecure", no_argument, NULL, OPT_INSECURE },
        { "allow-downgrade", no_argument, NULL, OPT_DOWNGRADE },
        { "jobs", required_argument, NULL, OPT_JOBS },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *key_paths[PULL_MAX_KEYS];
    size_t n_keys = 0;
    struct registry_pull_opts o = { 0 };
    int insecure = 0, c;
    while ((c = getopt_long(argc, argv, "k:j:", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
        case OPT_KEY:
            if (n_keys == PULL_MAX_KEYS)
                return cli_usage_error("pull", "at most %d keys", PULL_MAX_KEYS);
            key_paths[n_keys++] = optarg;
            break;
        case OPT_CA:
            o.conn.ca_file = optarg;
            break;
        case OPT_INSECURE:
            insecure = 1;
            break;
        case OPT_DOWNGRADE:
            o.allow_downgrade = 1;
            break;
        case 'j':
        case OPT_JOBS: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 1 || v > REGISTRY_PULL_MAX_JOBS)
                return cli_usage_error("pull", "--jobs takes a number from 1 to %d, not '%s'", REGISTRY_PULL_MAX_JOBS,
                                       optarg);
            o.jobs = (unsigned)v;
            break;
        }
        default: {
            int h = cli_common_opt(ctx, "pull", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("pull", "unknown option");
        }
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("pull", "pull takes one SRC");
    if (!n_keys)
        return cli_usage_error("pull", "give at least one trusted public key with --key PUB");
    const char *src_s = argv[optind];
    struct kiln_err err = KILN_ERR_INIT;
    struct registry_ref src;
    if (registry_src_parse(src_s, insecure, &src, &err) < 0)
        return cli_fail(&err);
    if (o.conn.ca_file && src.plain_http) {
        registry_ref_release(&src);
        return cli_usage_error("pull", "--ca-file is for HTTPS; '%s' is plain HTTP", src_s);
    }

    struct signing_pubkey *keys[PULL_MAX_KEYS] = { 0 };
    int r = 0;
    for (size_t i = 0; i < n_keys && r == 0; i++)
        r = signing_pubkey_load(key_paths[i], &keys[i], &err);
    o.keys = keys;
    o.n_keys = n_keys;
    char *user = NULL, *password = NULL;
    if (r == 0)
        r = cli_registry_creds(src.host, &user, &password, &err);
    o.conn.user = user;
    o.conn.password = password;

    /* an interrupt removes what was fetched: nothing is left in the store */
    if (r == 0)
        r = cli_on_stop(pull_stop, &err);
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    struct registry_pull_result res;
    memset(&res, 0, sizeof(res));
    if (r == 0)
        r = store_open(dir, STORE_CREATE | STORE_WRITE, &st, &err);
    if (r == 0)
        r = registry_pull(st, &src, &o, &res, &err);
    store_close(st);
    cli_registry_creds_free(user, password);
    for (size_t i = 0; i < n_keys; i++)
        signing_pubkey_free(keys[i]);
    if (r < 0) {
        registry_ref_release(&src);
        return cli_fail(&err);
    }
    _cleanup_free_ char *ref = xasprintf("%s:%s@%s", res.name, res.version, res.digest);
    if (ctx->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "source", src_s, "ref", ref,
                              "name", res.name, "version", res.version, "digest", res.digest, "signed_by",
                              res.signed_by, "blobs_fetched", (json_int_t)res.blobs_fetched, "blobs_present",
                              (json_int_t)res.blobs_present, "bytes_fetched", (json_int_t)res.bytes_fetched,
                              "manifests_fetched", (json_int_t)res.manifests_fetched, "referrers_fetched",
                              (json_int_t)res.referrers_fetched, "referrers", res.referrers_api ? "api" : "tag");
        cli_print_json(j);
    } else {
        printf("pulled %s as %s, signed by %s: %llu blobs fetched (%llu bytes), %llu already there, "
               "%llu referrers\n", src_s, ref, res.signed_by, (unsigned long long)res.blobs_fetched,
               (unsigned long long)res.bytes_fetched, (unsigned long long)res.blobs_present,
               (unsigned long long)res.referrers_fetched);
    }
    registry_pull_result_release(&res);
    registry_ref_release(&src);
    return 0;
}
