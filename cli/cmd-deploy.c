/* cmd-deploy.c - kiln deploy REF --group G --count N --key PUB: new hosts of a verified image. */
#include "cli/fleet-cli.h"
#include "common/banned.h"

CLI_COMMAND(deploy)
{
    static const struct option opts[] = {
        FLEET_CLI_LONGOPTS, CLI_COMMON_LONGOPTS, { "count", required_argument, NULL, FLEET_OPT_COUNT }, { 0 },
    };
    struct fleet_cli fc = { .cmd = "deploy" };
    int st = fleet_cli_parse(ctx, &fc, argc, argv, opts, 1, 1);
    if (st)
        return st < 0 ? 0 : st;
    if (!fc.count)
        return cli_usage_error("deploy", "give the number of hosts with --count N");
    return fleet_cli_apply(ctx, &fc, argv[optind], NULL, FLEET_CLI_DEPLOY, fc.count, NULL);
}
