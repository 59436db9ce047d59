/* cmd-rollback.c - kiln rollback --group G --key PUB: roll the group onto the image it ran before. */
#include "cli/fleet-cli.h"
#include "common/log.h"
#include "common/banned.h"

enum { OPT_SURGE = 1, OPT_UNAVAIL, OPT_KEEP };

CLI_COMMAND(rollback)
{
    static const struct option opts[] = {
        FLEET_CLI_LONGOPTS,
        CLI_COMMON_LONGOPTS,
        { "max-surge", required_argument, NULL, OPT_SURGE },
        { "max-unavailable", required_argument, NULL, OPT_UNAVAIL },
        { "keep", required_argument, NULL, OPT_KEEP },
        { 0 },
    };
    struct fleet_cli fc = { .cmd = "rollback" };
    struct fleet_rollout_opts o = { 1, 0, 0, FLEET_DEFAULT_KEEP, 0 };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = fleet_cli_opt(&fc, c, optarg);
        if (h == 2)
            return 2;
        if (h)
            continue;
        if (c == OPT_SURGE) {
            if (fleet_cli_uint("rollback", "max-surge", optarg, 0, 1000, &o.max_surge) < 0)
                return 2;
            continue;
        }
        if (c == OPT_UNAVAIL) {
            if (fleet_cli_uint("rollback", "max-unavailable", optarg, 0, 1000, &o.max_unavailable) < 0)
                return 2;
            continue;
        }
        if (c == OPT_KEEP) {
            if (fleet_cli_uint("rollback", "keep", optarg, 0, 1000, &o.keep) < 0)
                return 2;
            continue;
        }
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
    if (o.max_surge == 0 && o.max_unavailable == 0)
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
    struct fleet_cli_image im;
    if ((r = fleet_cli_image(ctx, &fc, ref, digest, &im, &err)) < 0)
        return cli_fail(&err);
    f = NULL;
    if ((r = fleet_cli_begin(&fc, "rollback", &f, &err)) < 0) {
        fleet_cli_image_release(&im);
        return cli_fail(&err);
    }
    kiln_log(KILN_LOG_INFO, "group '%s': rolling back to %s", fc.spec.group, ref);
    json_t *events = json_array();
    r = fleet_rollout(f, &im.img, &fc.spec, &o, events, &err);
    int st = fleet_cli_finish(ctx, &fc, f, events, r, &err);
    json_decref(events);
    fleet_cli_end(&fc, f);
    fleet_cli_image_release(&im);
    return st;
}
