/* cmd-replace.c - kiln replace HOST --key PUB: a fresh host of the same image, then the sick one put aside. */
#include <string.h>

#include "cli/fleet-cli.h"
#include "common/banned.h"

CLI_COMMAND(replace)
{
    static const struct option opts[] = { FLEET_CLI_LONGOPTS, CLI_COMMON_LONGOPTS, { 0 } };
    struct fleet_cli fc = { .cmd = "replace" };
    int st = fleet_cli_parse(ctx, &fc, argc, argv, opts, 1, 0);
    if (st)
        return st < 0 ? 0 : st;
    const char *name = argv[optind];
    struct kiln_err err = KILN_ERR_INIT;
    struct fleet_host h;
    int r = fleet_host_lookup(fc.n_connect ? fc.connect[0] : NULL, name, &h, &err);
    if (r < 0)
        return cli_fail(&err);
    /* the image the sick host should run, verified again */
    _cleanup_free_ char *ref = xasprintf("%s:%s", h.image_name ? h.image_name : "", h.image_version ? h.image_version : "");
    _cleanup_free_ char *group = xstrdup(h.group);
    _cleanup_free_ char *digest = xstrdup(h.image_digest);
    fleet_host_release(&h);
    fc.spec.group = group;
    return fleet_cli_apply(ctx, &fc, ref, digest, FLEET_CLI_REPLACE, 0, name);
}
