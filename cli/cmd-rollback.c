/* cmd-rollback.c - kiln rollback --group G --key PUB: roll the group onto the image it ran before. */
#include "cli/fleet-cli.h"
#include "common/log.h"
#include "common/banned.h"

CLI_COMMAND(rollback)
{
    static const struct option opts[] = { FLEET_CLI_LONGOPTS, FLEET_CLI_WAVE_LONGOPTS, CLI_COMMON_LONGOPTS, { 0 } };
    struct fleet_cli fc = { .cmd = "rollback", .waves = { 1, 0, 0, FLEET_DEFAULT_KEEP, 0 }, .moves = 1 };
    int st = fleet_cli_parse(ctx, &fc, argc, argv, opts, 0, 1);
    if (st)
        return st < 0 ? 0 : st;
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
