/* cmd-sign.c - kiln sign: sign an image in the store. */
#include <string.h>

#include "cli/cli.h"
#include "images/store.h"
#include "signing/signing.h"
#include "common/banned.h"

CLI_COMMAND(sign)
{
    enum { OPT_KEY = 1, OPT_PASS };
    static const struct option opts[] = {
        { "key", required_argument, NULL, OPT_KEY },
        { "passphrase-env", required_argument, NULL, OPT_PASS },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *key_path = NULL, *pass_env = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
        case OPT_KEY:
            key_path = optarg;
            break;
        case OPT_PASS:
            pass_env = optarg;
            break;
        default: {
            int h = cli_common_opt(ctx, "sign", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("sign", "unknown option");
        }
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("sign", "sign takes one image reference");
    const char *ref = argv[optind];
    struct kiln_err err = KILN_ERR_INIT;

    /* The key first: a bad key is bad input whatever the store holds. */
    struct signing_key *key = NULL;
    if (cli_signing_key(key_path, pass_env, &key, &err) < 0)
        return cli_fail(&err);
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    struct store_image *img = NULL;
    char sig[SIGNING_KEY_ID_SIZE];
    int r = store_open(dir, STORE_WRITE, &st, &err);
    if (r == 0)
        r = store_resolve(st, ref, &img, &err);
    if (r == 0)
        r = signing_sign_image_ex(st, img->name, img->version, img->digest, key, sig, &err);
    if (r == 0) {
        if (ctx->json)
            cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", img->name, "version", img->version,
                                     "digest", img->digest, "keyId", signing_key_id(key), "algorithm",
                                     signing_key_algorithm(key), "signature", sig));
        else
            printf("signed %s:%s (%s) with key %s\nsignature %s\n", img->name, img->version, img->digest,
                   signing_key_id(key), sig);
    }
    store_image_free(img);
    store_close(st);
    signing_key_free(key);
    return r < 0 ? cli_fail(&err) : 0;
}
