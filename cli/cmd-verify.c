/* cmd-verify.c - kiln verify: check an image's signatures and every blob it reaches. */
#include <string.h>

#include "cli/cli.h"
#include "images/store.h"
#include "signing/signing.h"
#include "common/banned.h"

#define VERIFY_MAX_KEYS 64

/* An exported layout names images by tag alone ("1.0.0") or by "NAME:VERSION";
 * a digest names an entry directly.  Used when store_resolve() finds nothing. */
static int resolve_in_layout(struct store *st, const char *ref, struct store_image **out, struct kiln_err *err)
{
    json_t *index = NULL;
    int r = store_index_read(st, &index, err);
    if (r < 0)
        return r;
    const char *colon = strrchr(ref, ':');
    const char *tag = colon ? colon + 1 : ref;
    size_t i;
    json_t *e, *found = NULL;
    json_array_foreach(json_object_get(index, "manifests"), i, e) {
        json_t *ann = json_object_get(e, "annotations");
        const char *rn = json_string_value(json_object_get(ann, OCI_ANN_REF_NAME));
        const char *dg = json_string_value(json_object_get(e, "digest"));
        if ((rn && (strcmp(rn, ref) == 0 || strcmp(rn, tag) == 0)) || (dg && strcmp(dg, ref) == 0)) {
            found = e;
            break;
        }
    }
    if (!found) {
        json_decref(index);
        return kiln_errf(err, KILN_ENOTFOUND, "image '%s' is not in layout '%s'", ref, store_dir(st));
    }
    json_t *ann = json_object_get(found, "annotations");
    struct store_image *img = xcalloc(1, sizeof(*img));
    img->digest = xstrdup(json_string_value(json_object_get(found, "digest")));
    const char *mt = json_string_value(json_object_get(found, "mediaType"));
    img->media_type = xstrdup(mt ? mt : OCI_MT_MANIFEST);
    img->size = (uint64_t)json_integer_value(json_object_get(found, "size"));
    const char *n = json_string_value(json_object_get(ann, KILN_ANN_NAME));
    const char *v = json_string_value(json_object_get(ann, KILN_ANN_VERSION));
    if (n)
        img->name = xstrdup(n);
    if (v)
        img->version = xstrdup(v);
    json_decref(index);
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
}

CLI_COMMAND(verify)
{
    enum { OPT_KEY = 1, OPT_LAYOUT };
    static const struct option opts[] = {
        { "key", required_argument, NULL, OPT_KEY },
        { "layout", required_argument, NULL, OPT_LAYOUT },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *key_paths[VERIFY_MAX_KEYS];
    size_t n_keys = 0;
    const char *layout = NULL;
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
