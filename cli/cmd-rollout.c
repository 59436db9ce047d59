/* cmd-rollout.c - kiln rollout REF --group G: replace a group's hosts with hosts of a new image, in waves. */
#include "cli/fleet-cli.h"
#include "common/banned.h"

CLI_COMMAND(rollout)
{
    static const struct option opts[] = { FLEET_CLI_LONGOPTS, FLEET_CLI_WAVE_LONGOPTS, CLI_COMMON_LONGOPTS, { 0 } };
    struct fleet_cli fc = { .cmd = "rollout", .waves = { 1, 0, 0, FLEET_DEFAULT_KEEP, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = fleet_cli_opt(&fc, c, optarg);
        if (h == 2)
            return 2;
        if (h)
            continue;
        h = cli_common_opt(ctx, "rollout", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("rollout", "unknown option");
    }
    if (optind + 1 != argc)
        return cli_usage_error("rollout", "rollout takes one image reference");
    if (!fc.spec.group)
        return cli_usage_error("rollout", "give the group with --group G");
    if (!fc.n_keys)
        return cli_usage_error("rollout", "give the trusted public key with --key PUB");
    if (fc.n_connect > 1)
        return cli_usage_error("rollout", "rollout works on one --connect URI");
    if (fc.waves.max_surge == 0 && fc.waves.max_unavailable == 0)
        return cli_usage_error("rollout", "--max-surge and --max-unavailable cannot both be 0");
    cli_setup_log(ctx);
    return fleet_cli_apply(ctx, &fc, argv[optind], NULL, FLEET_CLI_ROLLOUT, 0, NULL);
}
