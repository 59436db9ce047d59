/* cmd-gc.c - kiln gc [--json]: delete blobs that no image refers to. */
#include <stdio.h>

#include "cli/cli.h"
#include "images/gc.h"
#include "images/store.h"
#include "common/banned.h"

CLI_COMMAND(gc)
{
    static const struct option opts[] = { CLI_COMMON_LONGOPTS, { 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = cli_common_opt(ctx, "gc", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("gc", "unknown option");
    }
    if (optind != argc)
        return cli_usage_error("gc", "gc takes no arguments");
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct kiln_err err = KILN_ERR_INIT;
    struct store *st = NULL;
    struct store_gc_report rep = { 0 };
    int r = store_open(dir, STORE_WRITE, &st, &err);
    if (r == 0)
        r = store_gc(st, &rep, &err);
    store_close(st);
    if (r < 0)
        return cli_fail(&err);
    if (ctx->json)
        cli_print_json(json_pack("{s:I,s:I,s:I,s:I}", "blobsRemoved", (json_int_t)rep.blobs_removed, "bytesFreed",
                                 (json_int_t)rep.bytes_removed, "blobsKept", (json_int_t)rep.blobs_kept,
                                 "tempFilesRemoved", (json_int_t)rep.tmp_removed));
    else
        printf("removed %llu blob%s (%llu bytes), kept %llu; removed %llu stale temporary file%s\n",
               (unsigned long long)rep.blobs_removed, rep.blobs_removed == 1 ? "" : "s",
               (unsigned long long)rep.bytes_removed, (unsigned long long)rep.blobs_kept,
               (unsigned long long)rep.tmp_removed, rep.tmp_removed == 1 ? "" : "s");
    return 0;
}
