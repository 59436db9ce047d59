/* fleet-cli.c - the options, image verification, lock and output shared by the fleet commands. */
#include <stdlib.h>
#include <string.h>

#include "cli/fleet-cli.h"
#include "boot/accel.h"
#include "boot/boot.h"
#include "disk/disk.h"
#include "images/ref.h"
#include "images/store.h"
#include "signing/signing.h"
#include "common/banned.h"

int fleet_cli_uint(const char *cmd, const char *opt, const char *arg, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(arg, &end, 10);
    if (!*arg || *end || arg[0] == '-' || v < lo || v > hi) {
        cli_usage_error(cmd, "--%s must be a number from %u to %u, not '%s'", opt, lo, hi, arg);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

int fleet_cli_opt(struct fleet_cli *fc, int c, const char *arg)
{
    struct fleet_spec *s = &fc->spec;
    struct kiln_err err = KILN_ERR_INIT;
    switch (c) {
    case FLEET_OPT_CONNECT:
        if (fc->n_connect == FLEET_CLI_MAX)
            return cli_usage_error(fc->cmd, "at most %d --connect", FLEET_CLI_MAX), 2;
        fc->connect[fc->n_connect++] = arg;
        return 1;
    case FLEET_OPT_GROUP:
        if (fleet_group_check(arg, &err) < 0)
            return cli_usage_error(fc->cmd, "--group: %s", err.msg), 2;
        s->group = arg;
        return 1;
    case FLEET_OPT_KEY:
        if (fc->n_keys == FLEET_CLI_MAX)
            return cli_usage_error(fc->cmd, "at most %d --key", FLEET_CLI_MAX), 2;
        fc->keys[fc->n_keys++] = arg;
        return 1;
    case FLEET_OPT_POOL:
        if (!*arg)
            return cli_usage_error(fc->cmd, "--pool must not be empty"), 2;
        s->pool = arg;
        return 1;
    case FLEET_OPT_MEMORY:
        return fleet_cli_uint(fc->cmd, "memory", arg, 128, 1u << 20, &s->memory_mib) < 0 ? 2 : 1;
    case FLEET_OPT_VCPUS:
        return fleet_cli_uint(fc->cmd, "vcpus", arg, 1, 256, &s->vcpus) < 0 ? 2 : 1;
    case FLEET_OPT_NETWORK:
        if (!*arg)
            return cli_usage_error(fc->cmd, "--network must be user, none or a libvirt network's name"), 2;
        s->network = arg;
        return 1;
    case FLEET_OPT_MARKER:
        if (!*arg)
            return cli_usage_error(fc->cmd, "--health-marker must not be empty"), 2;
        s->marker = arg;
        fc->marker_given = 1;
        return 1;
    case FLEET_OPT_NO_MARKER:
        fc->no_marker = 1;
        return 1;
    case FLEET_OPT_HEALTH_TCP:
    case FLEET_OPT_HEALTH_HTTP:
        if (s->probe.kind != FLEET_PROBE_NONE)
            return cli_usage_error(fc->cmd, "give one of --health-tcp and --health-http, once"), 2;
        if (fleet_probe_parse(c == FLEET_OPT_HEALTH_TCP ? FLEET_PROBE_TCP : FLEET_PROBE_HTTP, arg, &s->probe, &err) < 0)
            return cli_usage_error(fc->cmd, "--%s: %s", c == FLEET_OPT_HEALTH_TCP ? "health-tcp" : "health-http",
                                   err.msg), 2;
        return 1;
    case FLEET_OPT_TIMEOUT:
        fc->timeout_given = 1;
        return fleet_cli_uint(fc->cmd, "health-timeout", arg, 1, 86400, &s->timeout) < 0 ? 2 : 1;
    case FLEET_OPT_STOP_TIMEOUT:
        return fleet_cli_uint(fc->cmd, "stop-timeout", arg, 0, 3600, &s->stop_timeout) < 0 ? 2 : 1;
    case FLEET_OPT_SURGE:
        return fleet_cli_uint(fc->cmd, "max-surge", arg, 0, 1000, &fc->waves.max_surge) < 0 ? 2 : 1;
    case FLEET_OPT_UNAVAIL:
        return fleet_cli_uint(fc->cmd, "max-unavailable", arg, 0, 1000, &fc->waves.max_unavailable) < 0 ? 2 : 1;
    case FLEET_OPT_PAUSE:
        return fleet_cli_uint(fc->cmd, "pause", arg, 0, 86400, &fc->waves.pause) < 0 ? 2 : 1;
    case FLEET_OPT_KEEP:
        return fleet_cli_uint(fc->cmd, "keep", arg, 0, 1000, &fc->waves.keep) < 0 ? 2 : 1;
    case FLEET_OPT_AUTO_ROLLBACK:
        fc->waves.auto_rollback = 1;
        return 1;
    case FLEET_OPT_COUNT:
        return fleet_cli_uint(fc->cmd, "count", arg, 1, 1000, &fc->count) < 0 ? 2 : 1;
    }
    return 0;
}

int fleet_cli_parse(struct cli_ctx *ctx, struct fleet_cli *fc, int argc, char **argv, const struct option *opts,
                    int nargs, int need_group)
{
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = fleet_cli_opt(fc, c, optarg);
        if (h == 2)
            return 2;
        if (h)
            continue;
        h = cli_common_opt(ctx, fc->cmd, c, optarg);
        if (h < 0)
            return -1;
        if (!h)
            return cli_usage_error(fc->cmd, "unknown option");
    }
    if (argc - optind != nargs)
        return nargs ? cli_usage_error(fc->cmd, "%s takes one %s", fc->cmd, strcmp(fc->cmd, "replace") ? "image reference" : "host name")
                     : cli_usage_error(fc->cmd, "%s takes no arguments", fc->cmd);
    if (need_group && !fc->spec.group)
        return cli_usage_error(fc->cmd, "give the group with --group G");
    if (!need_group && fc->spec.group)
        return cli_usage_error(fc->cmd, "%s takes the host's name, not --group", fc->cmd);
    if (!fc->n_keys)
        return cli_usage_error(fc->cmd, "give the trusted public key with --key PUB");
    if (fc->n_connect > 1)
        return cli_usage_error(fc->cmd, "%s works on one --connect URI", fc->cmd);
    if (fc->no_marker && fc->marker_given)
        return cli_usage_error(fc->cmd, "--health-marker and --no-health-marker exclude each other");
    if (fc->no_marker && fc->spec.probe.kind == FLEET_PROBE_NONE)
        return cli_usage_error(fc->cmd, "--no-health-marker needs a probe (--health-tcp or --health-http): a host's health must be checked somehow");
    if (fc->moves && fc->waves.max_surge == 0 && fc->waves.max_unavailable == 0)
        return cli_usage_error(fc->cmd, "--max-surge and --max-unavailable cannot both be 0");
    cli_setup_log(ctx);
    return 0;
}

void fleet_cli_image_release(struct fleet_cli_image *im)
{
    free(im->name);
    free(im->version);
    free(im->digest);
    free(im->key_id);
    free(im->disk_path);
    free(im->disk_digest);
    free(im->marker);
    memset(im, 0, sizeof(*im));
}

int fleet_cli_image(struct cli_ctx *ctx, struct fleet_cli *fc, const char *ref, const char *want_digest,
                    struct fleet_cli_image *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!fc->n_keys)
        return kiln_errf(err, KILN_EINVAL, "give the trusted public key that signed the image with --key PUB");
    struct signing_pubkey *keys[FLEET_CLI_MAX] = { 0 };
    int r = 0;
    for (size_t i = 0; i < fc->n_keys && r == 0; i++)
        r = signing_pubkey_load(fc->keys[i], &keys[i], err);
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    struct store_image *img = NULL;
    json_t *rep = NULL;
    if (r == 0)
        r = store_open(dir, 0, &st, err);
    if (r == 0)
        r = store_resolve(st, ref, &img, err);
    if (r == 0 && want_digest && strcmp(img->digest, want_digest) != 0)
        r = kiln_errf(err, KILN_EVERIFY, "image '%s' in the store is %s, not %s as the hosts' metadata says", ref,
                      img->digest, want_digest);
    if (r == 0) {
        struct signing_verify_opts o = { keys, fc->n_keys, img->name, img->version };
        r = signing_verify_image(st, img->digest, img->media_type, (long long)img->size, &o, &rep, err);
        if (r < 0)
            kiln_err_prefix(err, "verification of '%s' failed; no host was touched", ref);
    }
    if (r == 0) {
        json_t *s = json_array_get(json_object_get(rep, "signers"), 0);
        out->key_id = xstrdup(json_is_string(s) ? json_string_value(s) : "unknown");
        struct disk_ref d;
        r = disk_find(st, ref, DISK_FORMAT_QCOW2, 1, &d, err);
        if (r == 0) {
            out->disk_path = TAKE_PTR(d.blob_path);
            out->disk_digest = TAKE_PTR(d.digest);
            out->marker = d.marker ? TAKE_PTR(d.marker) : NULL;
            out->timeout = d.timeout;
            out->img.disk_format = disk_format_name(d.format);
            disk_ref_release(&d);
        }
    }
    if (r == 0) {
        out->name = xstrdup(img->name);
        out->version = xstrdup(img->version);
        out->digest = xstrdup(img->digest);
        out->img.name = out->name;
        out->img.version = out->version;
        out->img.digest = out->digest;
        out->img.key_id = out->key_id;
        out->img.disk_path = out->disk_path;
        out->img.disk_digest = out->disk_digest;
        if (fc->no_marker)
            fc->spec.marker = NULL;
        else if (!fc->marker_given)
            fc->spec.marker = out->marker ? out->marker : BOOT_TEST_DEFAULT_MARKER;
        if (!fc->timeout_given)
            fc->spec.timeout = out->timeout ? out->timeout : BOOT_TEST_DEFAULT_TIMEOUT;
    } else {
        fleet_cli_image_release(out);
    }
    json_decref(rep);
    store_image_free(img);
    store_close(st);
    for (size_t i = 0; i < fc->n_keys; i++)
        signing_pubkey_free(keys[i]);
    return r;
}

/* For the stop thread: the lock to drop when the command is interrupted. */
static struct fleet *locked_fleet;
static const char *locked_group;

static int drop_lock(void)
{
    if (locked_fleet && locked_group)
        fleet_unlock(locked_fleet, locked_group, NULL);
    return 0;
}

int fleet_cli_begin(struct fleet_cli *fc, const char *op, struct fleet **out, struct kiln_err *err)
{
    const char *uri = fc->n_connect ? fc->connect[0] : NULL;
    struct fleet *f = NULL;
    int r = fleet_open(uri, &f, err);
    if (r < 0)
        return r;
    if (!fc->spec.domain_type) {
        enum accel a = ACCEL_TCG;
        const char *tmp;
        if ((r = cli_scratch_and_accel(&tmp, err)) < 0) {
            fleet_close(f);
            return r;
        }
        if (strncmp(fleet_uri(f), "test:", 5) != 0 && (r = accel_get(&a, err)) < 0) {
            fleet_close(f);
            return r;
        }
        fc->spec.domain_type = a == ACCEL_KVM ? "kvm" : "qemu";
    }
    if ((r = fleet_lock(f, fc->spec.group, op, err)) < 0) {
        fleet_close(f);
        return r;
    }
    locked_fleet = f;
    locked_group = fc->spec.group;
    struct kiln_err e2 = KILN_ERR_INIT;
    cli_on_stop(drop_lock, &e2);
    *out = f;
    return 0;
}

void fleet_cli_end(struct fleet_cli *fc, struct fleet *f)
{
    if (!f)
        return;
    locked_fleet = NULL;
    fleet_unlock(f, fc->spec.group, NULL);
    fleet_close(f);
}

json_t *fleet_cli_host_json(const struct fleet_host *h)
{
    json_t *disks = json_array();
    for (size_t i = 0; h->disks && h->disks[i]; i++)
        json_array_append_new(disks, json_string(h->disks[i]));
    json_t *j = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:i,s:s,s:b,s:o}", "name", h->name, "uri",
                          h->uri, "group", h->group, "image", h->image_name, "version", h->image_version, "digest",
                          h->image_digest, "disk", h->disk_digest, "keyId", h->key_id, "deployed", h->deployed,
                          "replaces", h->replaces, "generation", (int)h->generation, "state",
                          fleet_state_name(h->state), "running", h->running, "disks", disks);
    return j;
}

void fleet_cli_print_table(const struct fleet_host *hs, size_t n, const struct fleet_cli_column *cols, size_t ncols)
{
    size_t *w = xcalloc(ncols, sizeof(size_t));
    char tmp[128];
    for (size_t c = 0; c < ncols; c++) {
        w[c] = strlen(cols[c].title);
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(cols[c].cell(&hs[i], tmp, sizeof(tmp)));
            if (l > w[c])
                w[c] = l;
        }
    }
    for (size_t c = 0; c < ncols; c++)
        printf("%-*s%s", c + 1 < ncols ? (int)w[c] : 0, cols[c].title, c + 1 < ncols ? "  " : "\n");
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < ncols; c++)
            printf("%-*s%s", c + 1 < ncols ? (int)w[c] : 0, cols[c].cell(&hs[i], tmp, sizeof(tmp)),
                   c + 1 < ncols ? "  " : "\n");
    free(w);
}

int fleet_cli_finish(struct cli_ctx *ctx, struct fleet_cli *fc, struct fleet *f, json_t *events, int r,
                     struct kiln_err *err)
{
    struct fleet_host *hs = NULL;
    size_t n = 0;
    struct kiln_err lerr = KILN_ERR_INIT;
    int lr = f ? fleet_list(f, fc->spec.group, &hs, &n, &lerr) : -1;
    if (ctx->json) {
        json_t *j = json_pack("{s:s,s:s,s:O}", "group", fc->spec.group, "result", r < 0 ? "failed" : "ok", "events",
                              events);
        if (f)
            json_object_set_new(j, "uri", json_string(fleet_uri(f)));
        if (lr == 0) {
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(a, fleet_cli_host_json(&hs[i]));
            json_object_set_new(j, "hosts", a);
        }
        if (r < 0)
            json_object_set_new(j, "error", json_string(err->msg));
        cli_print_json(j);
    } else if (lr == 0) {
        fleet_cli_print_table(hs, n, fleet_cli_columns, fleet_cli_n_columns);
    }
    fleet_hosts_free(hs, n);
    return r < 0 ? cli_fail(err) : 0;
}

int fleet_cli_apply(struct cli_ctx *ctx, struct fleet_cli *fc, const char *ref, const char *want_digest,
                    enum fleet_cli_op op, unsigned count, const char *host)
{
    static const char *const names[] = { "deploy", "rollout", "replace" };
    struct kiln_err err = KILN_ERR_INIT;
    struct fleet_cli_image im;
    /* verified before any connection is opened: a bad image touches no host */
    int r = fleet_cli_image(ctx, fc, ref, want_digest, &im, &err);
    if (r < 0)
        return cli_fail(&err);
    struct fleet *f = NULL;
    if ((r = fleet_cli_begin(fc, fc->cmd ? fc->cmd : names[op], &f, &err)) < 0) {
        fleet_cli_image_release(&im);
        return cli_fail(&err);
    }
    json_t *events = json_array();
    if (op == FLEET_CLI_DEPLOY)
        r = fleet_deploy(f, &im.img, &fc->spec, count, events, &err);
    else if (op == FLEET_CLI_ROLLOUT)
        r = fleet_rollout(f, &im.img, &fc->spec, &fc->waves, events, &err);
    else
        r = fleet_replace(f, host, &im.img, &fc->spec, events, &err);
    int st = fleet_cli_finish(ctx, fc, f, events, r, &err);
    json_decref(events);
    fleet_cli_end(fc, f);
    fleet_cli_image_release(&im);
    return st;
}
