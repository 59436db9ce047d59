/* cmd-export.c - kiln export REF --format F --output PATH [--force] */
#include <string.h>

#include "cli/cli.h"
#include "images/export.h"
#include "common/banned.h"

CLI_COMMAND(export)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "force", no_argument, NULL, 'F' },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    struct export_opts o = { 0 };
    int c;
    while ((c = getopt_long(argc, argv, "f:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o.format = optarg;
            break;
        case 'o':
            o.output = optarg;
            break;
        case 'F':
            o.force = 1;
            break;
        default: {
            int h = cli_common_opt(ctx, "export", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("export", "unknown option");
        }
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("export", "export takes exactly one REF");
    if (!o.format)
        return cli_usage_error("export", "--format is required");
    if (!o.output || !o.output[0])
        return cli_usage_error("export", "--output is required");
    if (!export_format_find(o.format))
        return cli_usage_error("export", "unknown format '%s'", o.format);

    _cleanup_free_ char *store = cli_store_path(ctx);
    o.store = store;
    o.ref = argv[optind];
    struct kiln_err err = KILN_ERR_INIT;
    struct export_result res = { 0 };
    if (cli_on_stop(export_emergency_cleanup, &err) < 0)
        return cli_fail(&err);
    if (export_run(&o, &res, &err) < 0)
        return cli_fail(&err);
    if (ctx->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "ref", o.ref, "digest", res.digest, "format",
                              o.format, "output", o.output);
        if (res.ref_name)
            json_object_set_new(j, "name", json_string(res.ref_name));
        cli_print_json(j);
    } else {
        printf("exported %s (%s) as %s to %s\n", res.ref_name ? res.ref_name : o.ref, res.digest,
               o.format, o.output);
    }
    export_result_release(&res);
    return 0;
}
