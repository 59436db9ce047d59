/* cmd-deploy.c - kiln deploy REF --group G --count N --key PUB: new hosts of a verified image. */
#include "cli/fleet-cli.h"
#include "common/banned.h"

enum { OPT_COUNT = 1 };

CLI_COMMAND(deploy)
{
    static const struct option opts[] = {
        FLEET_CLI_LONGOPTS, CLI_COMMON_LONGOPTS, { "count", required_argument, NULL, OPT_COUNT }, { 0 },
    };
    struct fleet_cli fc = { .cmd = "deploy" };
    unsigned count = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = fleet_cli_opt(&fc, c, optarg);
        if (h == 2)
            return 2;
        if (h)
            continue;
        if (c == OPT_COUNT) {
            if (fleet_cli_uint("deploy", "count", optarg, 1, 1000, &count) < 0)
                return 2;
            continue;
        }
        h = cli_common_opt(ctx, "deploy", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("deploy", "unknown option");
    }
    if (optind + 1 != argc)
        return cli_usage_error("deploy", "deploy takes one image reference");
    if (!fc.spec.group)
        return cli_usage_error("deploy", "give the hosts' group with --group G");
    if (!count)
        return cli_usage_error("deploy", "give the number of hosts with --count N");
    if (!fc.n_keys)
        return cli_usage_error("deploy", "give the trusted public key with --key PUB");
    if (fc.n_connect > 1)
        return cli_usage_error("deploy", "deploy works on one --connect URI");
    cli_setup_log(ctx);
    return fleet_cli_apply(ctx, &fc, argv[optind], NULL, FLEET_CLI_DEPLOY, count, NULL);
}
