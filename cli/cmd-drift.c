/* cmd-drift.c - kiln drift DISK|HOST [--image REF] --key PUB: is the disk
 * (or the libvirt host's disk) still what the signed image says
 * (fleet/drift.h)?  A host is checked against the image its metadata says
 * it was made from (NAME@DIGEST), unless --image names another.
 *
 * Exit status: 0 no drift, 3 drift (the disk no longer matches the signed
 * image), 1 could not check (the image failed verification, the disk or
 * the image could not be read), 2 usage. */
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/fsutil.h"
#include "fleet/drift.h"
#include "fleet/fleet.h"
#include "signing/signing.h"
#include "common/banned.h"

#define DRIFT_MAX_KEYS 64

static char *scratch_dir; /* removed by the stop handler */

static int remove_scratch(void)
{
    if (scratch_dir)
        fs_rm_rf(scratch_dir, NULL);
    return 0;
}

static void print_text(const struct drift_report *rep, const char *disk)
{
    cli_print_diff(&rep->diff);
    if (rep->diff.n)
        printf("drift: %s differs from %s (%s): %zu added, %zu removed, %zu changed (%zu ignored)\n", disk,
               rep->image, rep->digest, rep->diff.added, rep->diff.removed, rep->diff.changed, rep->ignored);
    else
        printf("no drift: %s matches %s (%s), signed by %s (%zu ignored)\n", disk, rep->image, rep->digest,
               rep->key_id, rep->ignored);
}

CLI_COMMAND(drift)
{
    enum { OPT_IMAGE = 1, OPT_KEY, OPT_IGNORE, OPT_CONNECT };
    static const struct option opts[] = {
        { "image", required_argument, NULL, OPT_IMAGE },
        { "connect", required_argument, NULL, OPT_CONNECT },
        { "key", required_argument, NULL, OPT_KEY },
        { "ignore", required_argument, NULL, OPT_IGNORE },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *key_paths[DRIFT_MAX_KEYS];
    const char *ignore[DRIFT_MAX_PATTERNS];
    size_t n_keys = 0, n_ignore = 0;
    const char *image = NULL, *connect = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_IMAGE:
            image = optarg;
            break;
        case OPT_CONNECT:
            connect = optarg;
            break;
        case OPT_KEY:
            if (n_keys == DRIFT_MAX_KEYS)
                return cli_usage_error("drift", "at most %d keys", DRIFT_MAX_KEYS);
            key_paths[n_keys++] = optarg;
            break;
        case OPT_IGNORE:
            if (n_ignore == DRIFT_MAX_PATTERNS)
                return cli_usage_error("drift", "at most %d --ignore patterns", DRIFT_MAX_PATTERNS);
            if (drift_pattern_check(optarg, "--ignore", &err) < 0)
                return cli_fail(&err);
            ignore[n_ignore++] = optarg;
            break;
        default: {
            int h = cli_common_opt(ctx, "drift", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("drift", "unknown option");
        }
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("drift", "drift takes one disk or host");
    if (!n_keys)
        return cli_usage_error("drift", "give at least one trusted public key with --key PUB");
    const char *disk = argv[optind];
    /* A file, or a path with a slash, is a disk; a bare name that is no
     * file, or anything with --connect, a host. */
    struct fleet_host host = { 0 };
    _cleanup_free_ char *host_image = NULL;
    if (connect || (!strchr(disk, '/') && access(disk, F_OK) != 0)) {
        if (fleet_host_lookup(connect, disk, &host, &err) < 0) {
            cli_fail(&err);
            return 1;
        }
        if (!host.disks || !host.disks[0]) {
            kiln_errf(&err, KILN_EFAIL, "host '%s' has no disk", host.name);
            fleet_host_release(&host);
            cli_fail(&err);
            return 1;
        }
        host_image = xasprintf("%s@%s", host.image_name, host.image_digest);
        if (!image)
            image = host_image;
        disk = host.disks[0];
    }
    if (!image) {
        fleet_host_release(&host);
        return cli_usage_error("drift", "name the image the disk should hold with --image REF");
    }

    const char *tmp;
    if (cli_scratch_and_accel(&tmp, &err) < 0) {
        fleet_host_release(&host);
        return cli_fail(&err);
    }
    cli_setup_log(ctx);

    struct signing_pubkey *keys[DRIFT_MAX_KEYS] = { 0 };
    int r = 0;
    for (size_t i = 0; i < n_keys && r == 0; i++)
        r = signing_pubkey_load(key_paths[i], &keys[i], &err);
    if (r < 0) {
        for (size_t i = 0; i < n_keys; i++)
            signing_pubkey_free(keys[i]);
        fleet_host_release(&host);
        return cli_fail(&err);
    }
    _cleanup_free_ char *store = cli_store_path(ctx);
    struct drift_report rep;
    if ((r = cli_on_stop(remove_scratch, &err)) == 0 && (r = fs_mkdtemp(tmp, "kiln-drift-", &scratch_dir, &err)) == 0) {
        struct drift_opts o = { store, image, keys, n_keys, ignore, n_ignore, scratch_dir };
        r = drift_check(disk, &o, &rep, &err);
        remove_scratch();
    }
    for (size_t i = 0; i < n_keys; i++)
        signing_pubkey_free(keys[i]);
    if (r < 0)
        fleet_host_release(&host);
    if (r < 0) {
        /* Could not check: whatever the reason, not "drift". */
        if (ctx->json)
            cli_print_json(json_pack("{s:s,s:s,s:n,s:s}", "disk", disk, "image", image, "drift", "error",
                                     err.msg));
        cli_fail(&err);
        return 1;
    }
    if (ctx->json) {
        json_t *j = drift_report_json(&rep, disk);
        if (host.name)
            json_object_set_new(j, "host", json_string(host.name));
        cli_print_json(j);
    } else {
        print_text(&rep, host.name ? host.name : disk);
    }
    int drifted = rep.diff.n > 0;
    drift_report_release(&rep);
    fleet_host_release(&host);
    return drifted ? 3 : 0;
}
