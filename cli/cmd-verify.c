/* cmd-verify.c - kiln verify: check an image's signatures and every blob it
 * reaches; with --rebuild RECIPE, rebuild it and compare (verify-rebuild.c). */
#include <string.h>

#include "cli/cli.h"
#include "images/layout.h"
#include "images/store.h"
#include "signing/signing.h"
#include "common/banned.h"

#define VERIFY_MAX_KEYS 64

/* An image of a layout that store_resolve() does not find (one written by
 * another tool: a tag alone, no dev.kiln.* annotations), by the layout's
 * own reference forms. */
static int resolve_in_layout(struct store *st, const char *ref, struct store_image **out, struct kiln_err *err)
{
    struct oci_index *ix = NULL;
    int r = oci_layout_index(store_layout(st), &ix, err);
    if (r < 0)
        return r;
    const struct oci_desc *d;
    if ((r = oci_index_resolve(ix, ref, &d, err)) < 0) {
        oci_index_free(ix);
        return kiln_err_prefix(err, "layout '%s'", store_dir(st));
    }
    struct store_image *img = xcalloc(1, sizeof(*img));
    img->digest = xstrdup(d->digest);
    img->media_type = xstrdup(d->media_type);
    img->size = (uint64_t)d->size;
    const char *n = oci_desc_annotation(d, KILN_ANN_NAME), *v = oci_desc_annotation(d, KILN_ANN_VERSION);
    img->name = n ? xstrdup(n) : NULL;
    img->version = v ? xstrdup(v) : NULL;
    oci_index_free(ix);
    *out = img;
    return 0;
}

static void print_text(json_t *rep, const char *ref, int ok)
{
    printf("%s %s %s\n", ok ? "verified" : "FAILED", ref, json_string_value(json_object_get(rep, "digest")));
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(rep, "signatures"), i, s) {
        if (json_is_true(json_object_get(s, "valid")))
            printf("  signed by %s (%s) at %s\n", json_string_value(json_object_get(s, "keyId")),
                   json_string_value(json_object_get(s, "algorithm")),
                   json_string_value(json_object_get(s, "created")));
        else
            printf("  not trusted: %s\n", json_string_value(json_object_get(s, "error")));
    }
    size_t nb = json_array_size(json_object_get(rep, "blobs")), bad = 0;
    json_array_foreach(json_object_get(rep, "blobs"), i, s)
        if (!json_is_true(json_object_get(s, "ok"))) {
            bad++;
            printf("  blob %s: %s\n", json_string_value(json_object_get(s, "digest")),
                   json_string_value(json_object_get(s, "error")));
        }
    printf("  %zu blobs re-hashed, %zu bad\n", nb, bad);
    json_t *p = json_object_get(rep, "provenance");
    if (p)
        printf("  provenance %s%s\n", json_string_value(json_object_get(p, "artifact")),
               json_is_true(json_object_get(p, "verified")) ? " (signed by a trusted key)"
               : json_is_true(json_object_get(p, "signed")) ? " (signed, not by a given key)" : " (unsigned)");
    json_array_foreach(json_object_get(rep, "sboms"), i, s)
        printf("  sbom %s %s%s\n", json_string_value(json_object_get(s, "artifact")),
               json_string_value(json_object_get(s, "predicateType")),
               json_is_true(json_object_get(s, "verified")) ? " (signed by a trusted key)"
               : json_is_true(json_object_get(s, "signed")) ? " (signed, not by a given key)" : " (unsigned)");
}

CLI_COMMAND(verify)
{
    enum { OPT_KEY = 1, OPT_LAYOUT, OPT_REBUILD, OPT_CONTEXT, OPT_SIGN };
    static const struct option opts[] = {
        { "key", required_argument, NULL, OPT_KEY },
        { "layout", required_argument, NULL, OPT_LAYOUT },
        { "rebuild", required_argument, NULL, OPT_REBUILD },
        { "context", required_argument, NULL, OPT_CONTEXT },
        { "sign", required_argument, NULL, OPT_SIGN },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *key_paths[VERIFY_MAX_KEYS];
    size_t n_keys = 0;
    const char *layout = NULL, *rebuild = NULL, *sign = NULL;
    _cleanup_free_ const char **contexts = xcalloc((size_t)argc + 1, sizeof(*contexts));
    size_t n_contexts = 0;
    int c;
    while ((c = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
        case OPT_KEY:
            if (n_keys == VERIFY_MAX_KEYS)
                return cli_usage_error("verify", "at most %d keys", VERIFY_MAX_KEYS);
            key_paths[n_keys++] = optarg;
            break;
        case OPT_LAYOUT:
            layout = optarg;
            break;
        case OPT_REBUILD:
            rebuild = optarg;
            break;
        case OPT_CONTEXT:
            contexts[n_contexts++] = optarg;
            break;
        case OPT_SIGN:
            sign = optarg;
            break;
        default: {
            int h = cli_common_opt(ctx, "verify", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("verify", "unknown option");
        }
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("verify", "verify takes one image reference");
    if (!rebuild && (n_contexts || sign))
        return cli_usage_error("verify", "--context and --sign go with --rebuild RECIPE");
    if (rebuild && (layout || n_keys))
        return cli_usage_error("verify", "--rebuild checks an image in the store by rebuilding it: without --layout and --key");
    if (rebuild)
        return cli_verify_rebuild(ctx, argv[optind], rebuild, contexts, n_contexts, sign);
    if (!n_keys)
        return cli_usage_error("verify", "give at least one trusted public key with --key PUB");
    if (layout && ctx->store)
        return cli_usage_error("verify", "--store and --layout exclude each other");
    const char *ref = argv[optind];
    struct kiln_err err = KILN_ERR_INIT;

    struct signing_pubkey *keys[VERIFY_MAX_KEYS] = { 0 };
    int r = 0;
    for (size_t i = 0; i < n_keys && r == 0; i++)
        r = signing_pubkey_load(key_paths[i], &keys[i], &err);
    _cleanup_free_ char *dir = layout ? xstrdup(layout) : cli_store_path(ctx);
    struct store *st = NULL;
    struct store_image *img = NULL;
    json_t *rep = NULL;
    if (r == 0)
        r = store_open(dir, 0, &st, &err);
    if (r == 0) {
        struct kiln_err e2 = KILN_ERR_INIT;
        r = store_resolve(st, ref, &img, &err);
        if (r < 0 && layout && resolve_in_layout(st, ref, &img, &e2) == 0)
            r = 0;
    }
    if (r == 0) {
        struct signing_verify_opts o = { keys, n_keys, NULL, NULL };
        /* The payload must name what the reference names. */
        struct image_ref pr;
        if (image_ref_parse(ref, &pr, NULL) == 0) {
            o.name = img->name;
            if (pr.kind == REF_VERSION || pr.kind == REF_CHANNEL || pr.kind == REF_LATEST)
                o.version = img->version;
            image_ref_release(&pr);
        }
        r = signing_verify_image(st, img->digest, img->media_type, (long long)img->size, &o, &rep, &err);
        if (rep) {
            json_object_set_new(rep, "image", json_string(ref));
            if (r < 0)
                json_object_set_new(rep, "error", json_string(err.msg));
            if (ctx->json)
                cli_print_json(json_incref(rep));
            else
                print_text(rep, ref, r == 0);
        }
    }
    json_decref(rep);
    store_image_free(img);
    store_close(st);
    for (size_t i = 0; i < n_keys; i++)
        signing_pubkey_free(keys[i]);
    if (r < 0) {
        if (r == KILN_EVERIFY)
            kiln_err_prefix(&err, "verification of '%s' failed", ref);
        return cli_fail(&err);
    }
    return 0;
}
