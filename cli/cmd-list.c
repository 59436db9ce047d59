/* cmd-list.c - kiln list [NAME] [--json]: the images in the store. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "images/store.h"
#include "common/banned.h"

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static void print_channels(char **v)
{
    if (!v || !v[0]) {
        fputs("-", stdout);
        return;
    }
    for (size_t i = 0; v[i]; i++)
        printf("%s%s", i ? "," : "", v[i]);
}

CLI_COMMAND(list)
{
    static const struct option opts[] = { CLI_COMMON_LONGOPTS, { 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = cli_common_opt(ctx, "list", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("list", "unknown option");
    }
    if (argc - optind > 1)
        return cli_usage_error("list", "list takes at most one NAME");
    const char *name = optind < argc ? argv[optind] : NULL;
    struct kiln_err err = KILN_ERR_INIT;
    if (name && ref_check_name(name, &err) < 0)
        return cli_fail(&err);

    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    struct store_image **v = NULL;
    size_t n = 0;
    int r = store_open(dir, 0, &st, &err);
    if (r == KILN_ENOTFOUND)
        r = 0; /* no store yet: nothing to list */
    else if (r == 0)
        r = store_list(st, name, &v, &n, &err);
    store_close(st);
    if (r < 0)
        return cli_fail(&err);

    if (ctx->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "name", v[i]->name, "version", v[i]->version,
                                  "digest", v[i]->digest, "mediaType", v[i]->media_type ? v[i]->media_type : "",
                                  "size", (json_int_t)v[i]->size, "channels", strv_json(v[i]->channels));
            if (v[i]->created)
                json_object_set_new(o, "created", json_string(v[i]->created));
            if (v[i]->recipe_digest)
                json_object_set_new(o, "recipeDigest", json_string(v[i]->recipe_digest));
            if (v[i]->artifact_type)
                json_object_set_new(o, "artifactType", json_string(v[i]->artifact_type));
            json_array_append_new(arr, o);
        }
        cli_print_json(json_pack("{s:s,s:o}", "store", dir, "images", arr));
    } else if (n) {
        size_t wn = 4, wv = 7;
        for (size_t i = 0; i < n; i++) {
            wn = strlen(v[i]->name) > wn ? strlen(v[i]->name) : wn;
            wv = strlen(v[i]->version) > wv ? strlen(v[i]->version) : wv;
        }
        printf("%-*s  %-*s  %-19s  %-20s  %s\n", (int)wn, "NAME", (int)wv, "VERSION", "DIGEST", "CREATED",
               "CHANNELS");
        for (size_t i = 0; i < n; i++) {
            printf("%-*s  %-*s  %.19s  %-20s  ", (int)wn, v[i]->name, (int)wv, v[i]->version, v[i]->digest,
                   v[i]->created ? v[i]->created : "-");
            print_channels(v[i]->channels);
            putchar('\n');
        }
    }
    store_image_list_free(v, n);
    return 0;
}
