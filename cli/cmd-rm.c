/* cmd-rm.c - kiln rm REF [--force]: remove a version or a channel from the
 * store's index.  Blobs are freed by `kiln gc`. */
#include <stdio.h>

#include "cli/cli.h"
#include "images/store.h"
#include "common/banned.h"

CLI_COMMAND(rm)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, 'f' },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    int force = 0;
    int c;
    while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
        if (c == 'f') {
            force = 1;
            continue;
        }
        int h = cli_common_opt(ctx, "rm", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("rm", "unknown option");
    }
    if (optind + 1 != argc)
        return cli_usage_error("rm", "rm takes exactly one REF");
    const char *ref = argv[optind];
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct kiln_err err = KILN_ERR_INIT;
    struct store *st = NULL;
    int r = store_open(dir, STORE_WRITE, &st, &err);
    if (r == 0)
        r = store_rm(st, ref, force ? STORE_RM_FORCE : 0, &err);
    store_close(st);
    if (r < 0)
        return cli_fail(&err);
    if (ctx->json)
        cli_print_json(json_pack("{s:s,s:b}", "removed", ref, "force", force));
    else
        printf("removed %s (run 'kiln gc' to free its blobs)\n", ref);
    return 0;
}
