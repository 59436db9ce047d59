/* cmd-promote.c - kiln promote NAME:VERSION --channel NAME: move a channel.
 * Rolling back is promoting the older version again. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "images/store.h"
#include "common/banned.h"

CLI_COMMAND(promote)
{
    static const struct option opts[] = {
        { "channel", required_argument, NULL, 'c' },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *channel = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (c == 'c') {
            channel = optarg;
            continue;
        }
        int h = cli_common_opt(ctx, "promote", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("promote", "unknown option");
    }
    if (optind + 1 != argc)
        return cli_usage_error("promote", "promote takes exactly one NAME:VERSION");
    if (!channel)
        return cli_usage_error("promote", "--channel is required");
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
