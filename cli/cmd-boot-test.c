/* cmd-boot-test.c - kiln boot-test REF: boot a stored disk and wait for a marker. */
#include <stdlib.h>
#include <string.h>

#include "boot/accel.h"
#include "boot/boot.h"
#include "disk/disk.h"
#include "cli/cli.h"
#include "images/store.h"
#include "common/banned.h"

enum { OPT_TIMEOUT = 1, OPT_MARKER };

CLI_COMMAND(boot_test)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "marker", required_argument, NULL, OPT_MARKER },
        { 0 },
    };
    unsigned timeout = 0;
    const char *marker = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = cli_common_opt(ctx, "boot-test", c, optarg);
        if (h < 0)
            return 0;
        if (h)
            continue;
        switch (c) {
        case OPT_TIMEOUT: {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || optarg[0] == '-' || v == 0 || v > 86400)
                return cli_usage_error("boot-test", "--timeout must be 1-86400 seconds, not '%s'", optarg);
            timeout = (unsigned)v;
            break;
        }
        case OPT_MARKER:
            if (!*optarg)
                return cli_usage_error("boot-test", "--marker must not be empty");
            marker = optarg;
            break;
        default:
            return cli_usage_error("boot-test", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("boot-test", "boot-test takes exactly one image reference");
    const char *ref = argv[optind];
    struct kiln_err err = KILN_ERR_INIT;
    enum accel_mode am;
    if (accel_parse_mode(getenv("KILN_ACCEL"), &am, &err) < 0) {
        kiln_err_prefix(&err, "$KILN_ACCEL");
        return cli_fail(&err);
    }
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    accel_configure(&(struct accel_opts){ am, tmp });
    cli_setup_log(ctx);

    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    if (store_open(dir, 0, &st, &err) < 0)
        return cli_fail(&err);
    struct disk_ref disk;
    int r = disk_find(st, ref, DISK_FORMAT_QCOW2, 1, &disk, &err);
    if (r < 0) {
        store_close(st);
        return cli_fail(&err);
    }
    /* Never boot a blob that is not what its digest says. */
    r = store_blob_verify(st, disk.digest, (int64_t)disk.size, &err);
    store_close(st);
    enum disk_format found;
    if (r == 0 && (r = disk_detect_format(disk.blob_path, &found, &err)) == 0 && found != disk.format)
        r = kiln_errf(&err, KILN_EVERIFY, "image '%s': the disk blob is not the format its manifest says", ref);
    if (r < 0) {
        disk_ref_release(&disk);
        return cli_fail(&err);
    }
    _cleanup_free_ char *marker_copy = xstrdup(marker ? marker : disk.marker ? disk.marker : BOOT_TEST_DEFAULT_MARKER);
    marker = marker_copy;
    if (!timeout)
        timeout = disk.timeout ? disk.timeout : BOOT_TEST_DEFAULT_TIMEOUT;
    struct boot_result res;
    r = boot_test_run(disk.blob_path, disk_format_name(disk.format), marker, timeout, tmp, &res, &err);
    disk_ref_release(&disk);
    if (r < 0)
        return cli_fail(&err);
    if (ctx->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:f,s:i}", "ref", ref, "result", res.passed ? "pass" : "fail",
                              "accel", res.accel, "seconds", res.seconds, "timeout", (int)timeout);
        json_object_set_new(j, "marker", json_string(marker));
        if (res.tail)
            json_object_set_new(j, "console_tail", json_string(res.tail));
        cli_print_json(j);
    } else if (res.passed) {
        printf("boot test passed: '%s' on the console after %.1f s (%s)\n", marker, res.seconds, res.accel);
    }
    if (!res.passed) {
        fprintf(stderr, "kiln: boot test failed: '%s' did not appear on the console within %u seconds; its last lines:\n%s\n",
                marker, timeout, res.tail ? res.tail : "");
        boot_result_release(&res);
        return 1;
    }
    boot_result_release(&res);
    return 0;
}
