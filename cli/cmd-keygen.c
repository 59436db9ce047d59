/* cmd-keygen.c - kiln keygen: make a signing key pair. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "signing/signing.h"
#include "common/banned.h"

CLI_COMMAND(keygen)
{
    enum { OPT_OUTPUT = 1, OPT_ALG, OPT_PASS };
    static const struct option opts[] = {
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "algorithm", required_argument, NULL, OPT_ALG },
        { "passphrase-env", required_argument, NULL, OPT_PASS },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *prefix = NULL, *alg = SIGNING_ALG_ECDSA_P256, *pass_env = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
        case OPT_OUTPUT:
            prefix = optarg;
            break;
        case OPT_ALG:
            alg = optarg;
            break;
        case OPT_PASS:
            pass_env = optarg;
            break;
        default: {
            int h = cli_common_opt(ctx, "keygen", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("keygen", "unknown option");
        }
        }
    }
    if (optind < argc)
        return cli_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
    if (!prefix || !prefix[0])
        return cli_usage_error("keygen", "--output PREFIX is required");
    if (strcmp(alg, SIGNING_ALG_ECDSA_P256) != 0 && strcmp(alg, SIGNING_ALG_ED25519) != 0)
        return cli_usage_error("keygen", "unsupported algorithm '%s'; use ecdsa-p256 or ed25519", alg);
    struct kiln_err err = KILN_ERR_INIT;
    const char *pass = NULL;
    if (pass_env) {
        pass = getenv(pass_env);
        if (!pass || !pass[0]) {
            kiln_errf(&err, KILN_EINVAL, "passphrase variable '%s' is %s", pass_env, pass ? "empty" : "not set");
            return cli_fail(&err);
        }
    }
    char id[SIGNING_KEY_ID_SIZE];
    if (signing_keygen(prefix, alg, pass, id, &err) < 0)
        return cli_fail(&err);
    if (ctx->json)
        cli_print_json(json_pack("{s:s, s:s, s:s%, s:s%, s:b}", "keyId", id, "algorithm", alg,
                                 "privateKey", prefix, strlen(prefix), "publicKey", prefix, strlen(prefix),
                                 "encrypted", pass != NULL));
    else
        printf("%s\n", id);
    if (!ctx->quiet && !ctx->json)
        fprintf(stderr, "kiln: wrote %s.key (private, keep it secret) and %s.pub (%s)\n", prefix, prefix, alg);
    return 0;
}
