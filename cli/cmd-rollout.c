/* cmd-rollout.c - kiln rollout REF --group G: replace a group's hosts with hosts of a new image, in waves. */
#include "cli/fleet-cli.h"
#include "common/banned.h"

enum { OPT_SURGE = 1, OPT_UNAVAIL, OPT_PAUSE, OPT_KEEP, OPT_AUTO_ROLLBACK };

CLI_COMMAND(rollout)
{
    static const struct option opts[] = {
        FLEET_CLI_LONGOPTS,
        CLI_COMMON_LONGOPTS,
        { "max-surge", required_argument, NULL, OPT_SURGE },
        { "max-unavailable", required_argument, NULL, OPT_UNAVAIL },
        { "pause", required_argument, NULL, OPT_PAUSE },
        { "keep", required_argument, NULL, OPT_KEEP },
        { "auto-rollback", no_argument, NULL, OPT_AUTO_ROLLBACK },
        { 0 },
    };
    struct fleet_cli fc = { .cmd = "rollout" };
    struct fleet_rollout_opts o = { 1, 0, 0, FLEET_DEFAULT_KEEP, 0 };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = fleet_cli_opt(&fc, c, optarg);
        if (h == 2)
            return 2;
        if (h)
            continue;
        switch (c) {
        case OPT_SURGE:
            if (fleet_cli_uint("rollout", "max-surge", optarg, 0, 1000, &o.max_surge) < 0)
                return 2;
            continue;
        case OPT_UNAVAIL:
            if (fleet_cli_uint("rollout", "max-unavailable", optarg, 0, 1000, &o.max_unavailable) < 0)
                return 2;
            continue;
        case OPT_PAUSE:
            if (fleet_cli_uint("rollout", "pause", optarg, 0, 86400, &o.pause) < 0)
                return 2;
            continue;
        case OPT_KEEP:
            if (fleet_cli_uint("rollout", "keep", optarg, 0, 1000, &o.keep) < 0)
                return 2;
            continue;
        case OPT_AUTO_ROLLBACK:
            o.auto_rollback = 1;
            continue;
        }
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
    if (o.max_surge == 0 && o.max_unavailable == 0)
        return cli_usage_error("rollout", "--max-surge and --max-unavailable cannot both be 0");
    cli_setup_log(ctx);
    struct kiln_err err = KILN_ERR_INIT;
    struct fleet_cli_image im;
    int r = fleet_cli_image(ctx, &fc, argv[optind], NULL, &im, &err);
    if (r < 0)
        return cli_fail(&err);
    struct fleet *f = NULL;
    if ((r = fleet_cli_begin(&fc, "rollout", &f, &err)) < 0) {
        fleet_cli_image_release(&im);
        return cli_fail(&err);
    }
    json_t *events = json_array();
    r = fleet_rollout(f, &im.img, &fc.spec, &o, events, &err);
    int st = fleet_cli_finish(ctx, &fc, f, events, r, &err);
    json_decref(events);
    fleet_cli_end(&fc, f);
    fleet_cli_image_release(&im);
    return st;
}
