/* cmd-cache.c - kiln cache ls | prune [--keep-days N]: the build cache's
 * entries in the store (builder/cache.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder/cache.h"
#include "cli/cli.h"
#include "images/gc.h"
#include "images/store.h"
#include "common/banned.h"

enum { OPT_KEEP_DAYS = 1 };

static void format_age(int64_t secs, char *out, size_t n)
{
    if (secs < 0)
        secs = 0;
    if (secs < 120)
        snprintf(out, n, "%llds", (long long)secs);
    else if (secs < 7200)
        snprintf(out, n, "%lldm", (long long)(secs / 60));
    else if (secs < 172800)
        snprintf(out, n, "%lldh", (long long)(secs / 3600));
    else
        snprintf(out, n, "%lldd", (long long)(secs / 86400));
}

static int cache_ls(struct cli_ctx *ctx, struct store *st)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct cache_entry *v = NULL;
    size_t n = 0;
    if (cache_list(st, &v, &n, &err) < 0)
        return cli_fail(&err);
    time_t now = time(NULL);
    uint64_t total = 0;
    json_t *a = ctx->json ? json_array() : NULL;
    if (!ctx->json && n)
        printf("%-12s  %-8s  %12s  %s\n", "KEY", "STEP", "SIZE", "AGE");
    for (size_t i = 0; i < n; i++) {
        total += v[i].size;
        if (ctx->json) {
            json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "key", v[i].key, "step", v[i].step,
                                               "digest", v[i].digest, "size", (json_int_t)v[i].size, "time",
                                               (json_int_t)v[i].time, "age", (json_int_t)(now - v[i].time)));
            continue;
        }
        char age[32];
        format_age((int64_t)now - v[i].time, age, sizeof(age));
        printf("%.12s  %-8s  %12llu  %s\n", v[i].key, v[i].step, (unsigned long long)v[i].size, age);
    }
    if (ctx->json)
        cli_print_json(json_pack("{s:o,s:I}", "entries", a, "size", (json_int_t)total));
    else
        printf("%zu entr%s, %llu bytes\n", n, n == 1 ? "y" : "ies", (unsigned long long)total);
    cache_entries_free(v, n);
    return 0;
}

static int cache_prune_cmd(struct cli_ctx *ctx, struct store *st, int64_t keep_days)
{
    struct kiln_err err = KILN_ERR_INIT;
    size_t removed = 0;
    struct store_gc_report rep = { 0 };
    if (cache_prune(st, keep_days * 86400, time(NULL), &removed, &err) < 0 || store_gc(st, &rep, &err) < 0)
        return cli_fail(&err);
    if (ctx->json)
        cli_print_json(json_pack("{s:I,s:I,s:I}", "entriesRemoved", (json_int_t)removed, "blobsRemoved",
                                 (json_int_t)rep.blobs_removed, "bytesFreed", (json_int_t)rep.bytes_removed));
    else
        printf("removed %zu cache entr%s; %llu blob%s (%llu bytes) freed\n", removed, removed == 1 ? "y" : "ies",
               (unsigned long long)rep.blobs_removed, rep.blobs_removed == 1 ? "" : "s",
               (unsigned long long)rep.bytes_removed);
    return 0;
}

CLI_COMMAND(cache)
{
    static const struct option opts[] = { CLI_COMMON_LONGOPTS, { "keep-days", required_argument, NULL, OPT_KEEP_DAYS },
                                           { 0 } };
    int64_t keep_days = 0;
    int has_keep = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = cli_common_opt(ctx, "cache", c, optarg);
        if (h < 0)
            return 0;
        if (h)
            continue;
        if (c != OPT_KEEP_DAYS)
            return cli_usage_error("cache", "unknown option");
        char *end;
        errno = 0;
        long long d = strtoll(optarg, &end, 10);
        if (errno || *end || !*optarg || d < 0 || d > 36500)
            return cli_usage_error("cache", "--keep-days must be a number of days (0 to 36500), not '%s'", optarg);
        keep_days = d;
        has_keep = 1;
    }
    if (optind + 1 != argc)
        return cli_usage_error("cache", "cache takes one action: ls or prune");
    const char *action = argv[optind];
    int ls = strcmp(action, "ls") == 0;
    if (!ls && strcmp(action, "prune") != 0)
        return cli_usage_error("cache", "unknown action '%s' (ls or prune)", action);
    if (ls && has_keep)
        return cli_usage_error("cache", "--keep-days goes with prune");
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct kiln_err err = KILN_ERR_INIT;
    struct store *st = NULL;
    if (store_open(dir, ls ? 0 : STORE_WRITE, &st, &err) < 0)
        return cli_fail(&err);
    int r = ls ? cache_ls(ctx, st) : cache_prune_cmd(ctx, st, keep_days);
    store_close(st);
    return r;
}
