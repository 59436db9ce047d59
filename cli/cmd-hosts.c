/* cmd-hosts.c - kiln hosts: the kiln hosts of one or more libvirt connections. */
#include <string.h>

#include "cli/fleet-cli.h"
#include "common/banned.h"

static const char *c_name(const struct fleet_host *h, char *t, size_t n) { (void)t, (void)n; return h->name; }
static const char *c_group(const struct fleet_host *h, char *t, size_t n) { (void)t, (void)n; return h->group; }
static const char *c_state(const struct fleet_host *h, char *t, size_t n) { (void)t, (void)n; return fleet_state_name(h->state); }
static const char *c_image(const struct fleet_host *h, char *t, size_t n)
{
    snprintf(t, n, "%s:%s", h->image_name ? h->image_name : "?", h->image_version ? h->image_version : "?");
    return t;
}
static const char *c_gen(const struct fleet_host *h, char *t, size_t n)
{
    snprintf(t, n, "%u", h->generation);
    return t;
}
/* Health as the domain shows it: an active host must run. */
static const char *c_health(const struct fleet_host *h, char *t, size_t n)
{
    (void)t, (void)n;
    if (h->state == FLEET_ACTIVE)
        return h->running ? "up" : "down";
    return h->running ? "running" : "stopped";
}
static const char *c_deployed(const struct fleet_host *h, char *t, size_t n) { (void)t, (void)n; return h->deployed ? h->deployed : "-"; }
static const char *c_uri(const struct fleet_host *h, char *t, size_t n) { (void)t, (void)n; return h->uri; }

/* The columns of `kiln hosts`, in order; another column is one more row. */
const struct fleet_cli_column fleet_cli_columns[] = {
    { "HOST", c_name }, { "GROUP", c_group }, { "STATE", c_state }, { "HEALTH", c_health },
    { "IMAGE", c_image }, { "GEN", c_gen }, { "DEPLOYED", c_deployed }, { "URI", c_uri },
};
const size_t fleet_cli_n_columns = sizeof(fleet_cli_columns) / sizeof(fleet_cli_columns[0]);

CLI_COMMAND(hosts)
{
    static const struct option opts[] = { FLEET_CLI_LONGOPTS, CLI_COMMON_LONGOPTS, { 0 } };
    struct fleet_cli fc = { .cmd = "hosts" };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = fleet_cli_opt(&fc, c, optarg);
        if (h == 2)
            return 2;
        if (h == 1 && (c == FLEET_OPT_CONNECT || c == FLEET_OPT_GROUP))
            continue;
        if (h == 1)
            return cli_usage_error("hosts", "hosts takes --group, --connect and --json");
        h = cli_common_opt(ctx, "hosts", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("hosts", "unknown option");
    }
    if (optind != argc)
        return cli_usage_error("hosts", "hosts takes no arguments");
    if (!fc.n_connect)
        fc.connect[fc.n_connect++] = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    struct fleet_host *all = NULL;
    size_t n = 0;
    int r = 0;
    for (size_t i = 0; i < fc.n_connect && r == 0; i++) {
        struct fleet *f = NULL;
        struct fleet_host *hs = NULL;
        size_t k = 0;
        if ((r = fleet_open(fc.connect[i], &f, &err)) == 0 && (r = fleet_list(f, fc.spec.group, &hs, &k, &err)) == 0) {
            all = xrealloc(all, (n + k + 1) * sizeof(*all));
            memcpy(all + n, hs, k * sizeof(*hs));
            n += k;
            free(hs);
        }
        fleet_close(f);
    }
    if (r < 0) {
        fleet_hosts_free(all, n);
        return cli_fail(&err);
    }
    if (ctx->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, fleet_cli_host_json(&all[i]));
        cli_print_json(a);
    } else {
        fleet_cli_print_table(all, n, fleet_cli_columns, fleet_cli_n_columns);
    }
    fleet_hosts_free(all, n);
    return 0;
}
