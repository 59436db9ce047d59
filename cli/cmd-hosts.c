/* cmd-hosts.c - kiln hosts: the kiln hosts of one or more libvirt connections. */
#include <string.h>

#include "cli/fleet-cli.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "fleet/drift.h"
#include "signing/signing.h"
#include "common/banned.h"

/* --drift: each listed host's drift, by its index in the listing. */
static const struct fleet_host *drift_hosts;
static char **drift_cells;
static char *drift_scratch; /* removed by the stop handler */

static int remove_drift_scratch(void)
{
    if (drift_scratch)
        fs_rm_rf(drift_scratch, NULL);
    return 0;
}

static const char *c_drift(const struct fleet_host *h, char *t, size_t n)
{
    (void)t, (void)n;
    return drift_cells ? drift_cells[h - drift_hosts] : "-";
}

/* Checks the disk of every active host against the image it was made from:
 * "none", "drift (N)", or "unknown" when it cannot be checked (the reason
 * logged).  *any_drift is set when one drifted. */
static int check_drift(struct cli_ctx *ctx, const struct fleet_cli *fc, const struct fleet_host *hs, size_t n,
                       json_t *json_out, int *any_drift, struct kiln_err *err)
{
    struct signing_pubkey *keys[FLEET_CLI_MAX] = { 0 };
    int r = 0;
    for (size_t i = 0; i < fc->n_keys && r == 0; i++)
        r = signing_pubkey_load(fc->keys[i], &keys[i], err);
    const char *tmp = "/tmp";
    if (r == 0 && (r = cli_scratch_and_accel(&tmp, err)) == 0)
        r = cli_on_stop(remove_drift_scratch, err);
    if (r == 0)
        r = fs_mkdtemp(tmp, "kiln-drift-", &drift_scratch, err);
    _cleanup_free_ char *store = cli_store_path(ctx);
    drift_hosts = hs;
    drift_cells = xcalloc(n + 1, sizeof(*drift_cells));
    for (size_t i = 0; i < n && r == 0; i++) {
        json_t *j = json_object();
        if (hs[i].state != FLEET_ACTIVE || !hs[i].disks || !hs[i].disks[0] || !hs[i].image_digest) {
            /* only an active host must hold its image */
            drift_cells[i] = xstrdup("-");
            json_decref(j);
            j = NULL;
        } else {
            _cleanup_free_ char *ref = xasprintf("%s@%s", hs[i].image_name, hs[i].image_digest);
            struct drift_opts o = { store, ref, keys, fc->n_keys, NULL, 0, drift_scratch };
            struct drift_report rep;
            struct kiln_err e = KILN_ERR_INIT;
            if (drift_check(hs[i].disks[0], &o, &rep, &e) < 0) {
                kiln_log(KILN_LOG_WARN, "host '%s': drift not checked: %s", hs[i].name, e.msg);
                drift_cells[i] = xstrdup("unknown");
                json_object_set_new(j, "drift", json_string("error"));
                json_object_set_new(j, "error", json_string(e.msg));
            } else {
                drift_cells[i] = rep.diff.n ? xasprintf("drift (%zu)", rep.diff.n) : xstrdup("none");
                *any_drift |= rep.diff.n > 0;
                json_decref(j);
                j = drift_report_json(&rep, hs[i].disks[0]);
                drift_report_release(&rep);
            }
        }
        if (j)
            json_object_set_new(j, "host", json_string(hs[i].name));
        json_array_append_new(json_out, j ? j : json_null());
    }
    remove_drift_scratch();
    for (size_t i = 0; i < fc->n_keys; i++)
        signing_pubkey_free(keys[i]);
    return r;
}

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

/* With --drift, one more. */
static const struct fleet_cli_column drift_columns[] = {
    { "HOST", c_name }, { "GROUP", c_group }, { "STATE", c_state }, { "HEALTH", c_health },
    { "IMAGE", c_image }, { "GEN", c_gen }, { "DRIFT", c_drift }, { "DEPLOYED", c_deployed }, { "URI", c_uri },
};

CLI_COMMAND(hosts)
{
    enum { OPT_DRIFT = 1 };
    static const struct option opts[] = { FLEET_CLI_LONGOPTS, { "drift", no_argument, NULL, OPT_DRIFT },
                                          CLI_COMMON_LONGOPTS, { 0 } };
    struct fleet_cli fc = { .cmd = "hosts" };
    int c, drift = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == OPT_DRIFT) {
            drift = 1;
            continue;
        }
        int h = fleet_cli_opt(&fc, c, optarg);
        if (h == 2)
            return 2;
        if (h == 1 && (c == FLEET_OPT_CONNECT || c == FLEET_OPT_GROUP || c == FLEET_OPT_KEY))
            continue;
        if (h == 1)
            return cli_usage_error("hosts", "hosts takes --group, --connect, --drift, --key and --json");
        h = cli_common_opt(ctx, "hosts", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("hosts", "unknown option");
    }
    if (optind != argc)
        return cli_usage_error("hosts", "hosts takes no arguments");
    if (drift != (fc.n_keys > 0))
        return cli_usage_error("hosts", "--drift checks each host's disk against its signed image: give it with --key PUB");
    cli_setup_log(ctx);
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
    json_t *drifts = json_array();
    int any_drift = 0;
    if (drift && check_drift(ctx, &fc, all, n, drifts, &any_drift, &err) < 0) {
        json_decref(drifts);
        fleet_hosts_free(all, n);
        return cli_fail(&err);
    }
    if (ctx->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *h = fleet_cli_host_json(&all[i]);
            if (drift && !json_is_null(json_array_get(drifts, i)))
                json_object_set(h, "drift", json_array_get(drifts, i));
            json_array_append_new(a, h);
        }
        cli_print_json(a);
    } else if (drift) {
        fleet_cli_print_table(all, n, drift_columns, sizeof(drift_columns) / sizeof(drift_columns[0]));
    } else {
        fleet_cli_print_table(all, n, fleet_cli_columns, fleet_cli_n_columns);
    }
    json_decref(drifts);
    if (drift_cells)
        for (size_t i = 0; i < n; i++)
            free(drift_cells[i]);
    free(drift_cells);
    drift_cells = NULL;
    fleet_hosts_free(all, n);
    /* With --drift, as kiln drift: 3 when a host drifted. */
    return any_drift ? 3 : 0;
}
