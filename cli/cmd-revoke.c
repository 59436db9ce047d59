/* cmd-revoke.c - kiln revoke NAME:VERSION --key KEY: a signed revocation of
 * the image, listed as its referrer; `kiln verify` and `kiln pull` refuse an
 * image a trusted key revoked.  With HOST[:PORT]/REPO:VERSION (an argument
 * with a '/') the revocation is pushed to the registry as the image's
 * referrer instead (registry_promote() in revoke mode). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/fsutil.h"
#include "images/store.h"
#include "registry/registry.h"
#include "signing/signing.h"
#include "common/banned.h"

static int revoke_local(struct cli_ctx *ctx, const char *ref_s, const struct signing_key *key, struct kiln_err *err)
{
    struct image_ref ref;
    if (image_ref_parse(ref_s, &ref, err) < 0)
        return err->code;
    if (ref.kind != REF_VERSION) {
        image_ref_release(&ref);
        return kiln_errf(err, KILN_EINVAL, "revoke needs NAME:VERSION, not '%s'", ref_s);
    }
    image_ref_release(&ref);
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    struct store_image *img = NULL;
    struct oci_desc rev = { 0 };
    int r = store_open(dir, STORE_WRITE, &st, err);
    if (r == 0)
        r = store_resolve(st, ref_s, &img, err);
    if (r == 0) {
        struct oci_desc subject = { .media_type = img->media_type, .digest = img->digest, .size = (int64_t)img->size };
        r = signing_revocation_put(st, &subject, img->name, img->version, (int64_t)time(NULL), key, &rev, err);
    }
    if (r == 0)
        r = store_referrer_add(st, img->digest, rev.digest, rev.media_type, rev.artifact_type, (uint64_t)rev.size,
                               rev.annotations, err);
    if (r == 0) {
        if (ctx->json)
            cli_print_json(json_pack("{s:s,s:s,s:s,s:s}", "ref", ref_s, "digest", img->digest, "revocation",
                                     rev.digest, "keyId", signing_key_id(key)));
        else
            printf("revoked %s (%s): revocation %s\n", ref_s, img->digest, rev.digest);
    }
    oci_desc_release(&rev);
    store_image_free(img);
    store_close(st);
    return r;
}

static int revoke_remote(struct cli_ctx *ctx, const char *dest_s, const char *name, const char *ca_file, int insecure,
                         const struct signing_key *key, struct kiln_err *err)
{
    struct registry_ref dest;
    if (registry_ref_parse(dest_s, insecure, &dest, err) < 0)
        return err->code;
    struct registry_promote_opts o = { .revoke = 1, .key = key, .now = (int64_t)time(NULL) };
    const char *slash = strrchr(dest.repo, '/');
    o.name = name ? name : slash ? slash + 1 : dest.repo;
    o.conn.ca_file = ca_file;
    int r = 0;
    if (ca_file && dest.plain_http)
        r = kiln_errf(err, KILN_EINVAL, "--ca-file is for HTTPS; '%s' is plain HTTP", dest_s);
    if (r == 0)
        r = ref_check_name(o.name, err);
    struct registry_promote_result res;
    memset(&res, 0, sizeof(res));
    if (r == 0)
        r = cli_registry_promote(&dest, &o, &res, err);
    if (r == 0) {
        if (ctx->json)
            cli_print_json(json_pack("{s:s,s:s,s:s,s:s}", "ref", dest_s, "digest", res.digest, "revocation",
                                     res.statement, "keyId", signing_key_id(key)));
        else
            printf("revoked %s (%s): revocation %s\n", dest_s, res.digest, res.statement);
    }
    registry_ref_release(&dest);
    return r;
}

CLI_COMMAND(revoke)
{
    enum { OPT_KEY = 1, OPT_PASS, OPT_CA, OPT_INSECURE, OPT_NAME };
    static const struct option opts[] = {
        { "key", required_argument, NULL, OPT_KEY },
        { "passphrase-env", required_argument, NULL, OPT_PASS },
        { "ca-file", required_argument, NULL, OPT_CA },
        { "insecure", no_argument, NULL, OPT_INSECURE },
        { "name", required_argument, NULL, OPT_NAME },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *key_path = NULL, *pass_env = NULL, *ca_file = NULL, *name = NULL;
    int insecure = 0, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_KEY:
            key_path = optarg;
            break;
        case OPT_PASS:
            pass_env = optarg;
            break;
        case OPT_CA:
            ca_file = optarg;
            break;
        case OPT_INSECURE:
            insecure = 1;
            break;
        case OPT_NAME:
            name = optarg;
            break;
        default: {
            int h = cli_common_opt(ctx, "revoke", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("revoke", "unknown option");
        }
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("revoke", "revoke takes one NAME:VERSION or HOST[:PORT]/REPO:VERSION");
    if (!key_path)
        return cli_usage_error("revoke", "a revocation is signed: give --key KEY");
    int remote = strchr(argv[optind], '/') != NULL;
    if (!remote && (ca_file || insecure || name))
        return cli_usage_error("revoke", "--ca-file, --insecure and --name are for a registry (HOST[:PORT]/REPO:VERSION)");
    struct kiln_err err = KILN_ERR_INIT;
    struct signing_key *key = NULL;
    int r = cli_signing_key(key_path, pass_env, &key, &err);
    if (r == 0)
        r = remote ? revoke_remote(ctx, argv[optind], name, ca_file, insecure, key, &err)
                   : revoke_local(ctx, argv[optind], key, &err);
    signing_key_free(key);
    return r < 0 ? cli_fail(&err) : 0;
}
