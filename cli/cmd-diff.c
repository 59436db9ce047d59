/* cmd-diff.c - kiln diff REF_A REF_B: files added, removed and changed.
 *
 * Exits 0 whether or not the images differ (the output says how); 1 or 2
 * only when an image or its file manifest cannot be read. */
#include <string.h>

#include "cli/cli.h"
#include "images/diff.h"
#include "images/export.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct export_source, export_source_free)

static int load_files(const char *store, const char *ref, json_t **out, struct kiln_err *err)
{
    _cleanup_(export_source_freep) struct export_source *s = NULL;
    int r = export_source_load(store, ref, &s, err);
    if (r == 0)
        r = export_source_files(s, out, err);
    return r;
}

void cli_print_diff(const struct diff *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct diff_entry *e = &d->v[i];
        if (e->op != '~') {
            printf("%c %s\n", e->op, e->path);
            continue;
        }
        const char *names[6];
        size_t n = diff_field_names(e->fields, names);
        printf("~ %s (", e->path);
        for (size_t k = 0; k < n; k++)
            printf("%s%s", k ? ", " : "", names[k]);
        printf(")\n");
    }
}

CLI_COMMAND(diff)
{
    static const struct option opts[] = { CLI_COMMON_LONGOPTS, { 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = cli_common_opt(ctx, "diff", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("diff", "unknown option");
    }
    if (optind + 2 != argc)
        return cli_usage_error("diff", "diff takes exactly two image references");

    _cleanup_free_ char *store = cli_store_path(ctx);
    struct kiln_err err = KILN_ERR_INIT;
    json_auto_t *a = NULL;
    json_auto_t *b = NULL;
    if (load_files(store, argv[optind], &a, &err) < 0 ||
        load_files(store, argv[optind + 1], &b, &err) < 0)
        return cli_fail(&err);
    struct diff d;
    if (diff_files(a, b, &d, &err) < 0)
        return cli_fail(&err);
    if (ctx->json)
        cli_print_json(diff_to_json(&d));
    else
        cli_print_diff(&d);
    diff_release(&d);
    return 0;
}
