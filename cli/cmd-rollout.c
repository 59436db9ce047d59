/* cmd-rollout.c - kiln rollout REF --group G: replace a group's hosts with hosts of a new image, in waves. */
#include "cli/fleet-cli.h"
#include "common/banned.h"

CLI_COMMAND(rollout)
{
    static const struct option opts[] = { FLEET_CLI_LONGOPTS, FLEET_CLI_WAVE_LONGOPTS, CLI_COMMON_LONGOPTS, { 0 } };
    struct fleet_cli fc = { .cmd = "rollout", .waves = { 1, 0, 0, FLEET_DEFAULT_KEEP, 0 }, .moves = 1 };
    int st = fleet_cli_parse(ctx, &fc, argc, argv, opts, 1, 1);
    if (st)
        return st < 0 ? 0 : st;
    return fleet_cli_apply(ctx, &fc, argv[optind], NULL, FLEET_CLI_ROLLOUT, 0, NULL);
}
