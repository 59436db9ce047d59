/* cmd-rollback.c - kiln rollback --group G --key PUB: roll the group onto the image it ran before. */
#include "cli/fleet-cli.h"
#include "common/log.h"
#include "common/banned.h"

CLI_COMMAND(rollback)
{
    static const struct option opts[] = { FLEET_CLI_LONGOPTS, FLEET_CLI_WAVE_LONGOPTS, CLI_COMMON_LONGOPTS, { 0 } };
    struct fleet_cli fc = { .cmd = "rollback", .waves = { 1, 0, 0, FLEET_DEFAULT_KEEP, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = fleet_cli_opt(&fc, c, optarg);
        if (h == 2)
            return 2;
        if (h)
            continue;
        h = cli_common_opt(ctx, "rollback", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("rollback", "unknown option");
    }
    if (optind != argc)
        return cli_usage_error("rollback", "rollback takes no arguments");
    if (!fc.spec.group)
        return cli_usage_error("rollback", "give the group with --group G");
    if (!fc.n_keys)
        return cli_usage_error("rollback", "give the trusted public key with --key PUB");
    if (fc.n_connect > 1)
        return cli_usage_error("rollback", "rollback works on one --connect URI");
    if (fc.waves.max_surge == 0 && fc.waves.max_unavailable == 0)
        return cli_usage_error("rollback", "--max-surge and --max-unavailable cannot both be 0");
    cli_setup_log(ctx);
    struct kiln_err err = KILN_ERR_INIT;
    struct fleet *f = NULL;
    _cleanup_free_ char *name = NULL, *version = NULL, *digest = NULL;
    int r = fleet_open(fc.n_connect ? fc.connect[0] : NULL, &f, &err);
    if (r == 0)
        r = fleet_previous_image(f, fc.spec.group, &name, &version, &digest, &err);
    fleet_close(f);
    if (r < 0)
        return cli_fail(&err);
    _cleanup_free_ char *ref = xasprintf("%s:%s", name, version);
    kiln_log(KILN_LOG_INFO, "group '%s': rolling back to %s", fc.spec.group, ref);
    /* the image is verified again, and must be the digest the hosts ran */
    return fleet_cli_apply(ctx, &fc, ref, digest, FLEET_CLI_ROLLOUT, 0, NULL);
}
