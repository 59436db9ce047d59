/* cmd-sbom.c - kiln sbom REF [--format spdx|cyclonedx] [--key PUB]...: prints
 * the SBOM attached to an image (the predicate of its SPDX or CycloneDX
 * attestation).  With --key, only an SBOM signed by one of the keys is
 * printed. */
#include <string.h>

#include "cli/cli.h"
#include "images/store.h"
#include "signing/signing.h"
#include "common/banned.h"

#define SBOM_MAX_KEYS 64

CLI_COMMAND(sbom)
{
    enum { OPT_FORMAT = 1, OPT_KEY };
    static const struct option opts[] = {
        { "format", required_argument, NULL, OPT_FORMAT },
        { "key", required_argument, NULL, OPT_KEY },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *format = "spdx";
    const char *key_paths[SBOM_MAX_KEYS];
    size_t n_keys = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT:
            format = optarg;
            break;
        case OPT_KEY:
            if (n_keys == SBOM_MAX_KEYS)
                return cli_usage_error("sbom", "at most %d keys", SBOM_MAX_KEYS);
            key_paths[n_keys++] = optarg;
            break;
        default: {
            int h = cli_common_opt(ctx, "sbom", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("sbom", "unknown option");
        }
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("sbom", "sbom takes one image reference");
    const char *at, *pt, *label;
    if (strcmp(format, "spdx") == 0)
        at = SIGNING_AT_SBOM_SPDX, pt = SIGNING_PREDICATE_SPDX, label = "SPDX";
    else if (strcmp(format, "cyclonedx") == 0)
        at = SIGNING_AT_SBOM_CYCLONEDX, pt = SIGNING_PREDICATE_CYCLONEDX, label = "CycloneDX";
    else
        return cli_usage_error("sbom", "unknown format '%s' (spdx or cyclonedx)", format);
    const char *ref = argv[optind];

    struct kiln_err err = KILN_ERR_INIT;
    struct signing_pubkey *keys[SBOM_MAX_KEYS] = { 0 };
    int r = 0;
    for (size_t i = 0; i < n_keys && r == 0; i++)
        r = signing_pubkey_load(key_paths[i], &keys[i], &err);
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    struct store_image *img = NULL;
    json_t *found = NULL;
    if (r == 0)
        r = store_open(dir, 0, &st, &err);
    if (r == 0)
        r = store_resolve(st, ref, &img, &err);
    _cleanup_free_ char *subject = img && img->name && img->version ? xasprintf("%s:%s", img->name, img->version)
                                                                    : NULL;
    if (r == 0)
        r = signing_attestation_find(st, img->digest, at, pt, subject, keys, n_keys, &found, &err);
    json_t *stmt = json_object_get(found, "statement");
    if (r == 0 && !found)
        r = kiln_errf(&err, KILN_ENOTFOUND, "image '%s' has no %s SBOM", ref, label);
    else if (r == 0 && !stmt)
        r = kiln_errf(&err, KILN_EVERIFY, "the %s SBOM of '%s' (%s): %s", label, ref,
                      json_string_value(json_object_get(found, "artifact")),
                      json_string_value(json_object_get(found, "error")));
    else if (r == 0 && n_keys && !json_is_true(json_object_get(found, "verified")))
        r = kiln_errf(&err, KILN_EVERIFY, "the %s SBOM of '%s' (%s) is not signed by a given key", label, ref,
                      json_string_value(json_object_get(found, "artifact")));
    if (r == 0)
        cli_print_json(json_incref(json_object_get(stmt, "predicate")));
    json_decref(found);
    store_image_free(img);
    store_close(st);
    for (size_t i = 0; i < n_keys; i++)
        signing_pubkey_free(keys[i]);
    return r < 0 ? cli_fail(&err) : 0;
}
