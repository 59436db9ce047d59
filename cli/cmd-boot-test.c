/* cmd-boot-test.c - kiln boot-test REF: boot a stored disk and wait for a marker. */
#include <stdlib.h>
#include <string.h>

#include "boot/accel.h"
#include "boot/boot.h"
#include "disk/disk.h"
#include "cli/cli.h"
#include "images/store.h"
#include "common/banned.h"

enum { OPT_TIMEOUT = 1, OPT_MARKER, OPT_FIRMWARE };

/* The firmware the disk claims, each booted by default: BIOS for bios and
 * hybrid disks, UEFI for uefi and hybrid ones, with Secure Boot when the
 * disk claims it (which proves UEFI too). */
static size_t claimed_firmware(const struct disk_ref *d, enum boot_firmware out[2])
{
    size_t n = 0;
    if (d->firmware == FIRMWARE_NONE || d->firmware == FIRMWARE_BIOS || d->firmware == FIRMWARE_HYBRID)
        out[n++] = BOOT_BIOS;
    if (d->firmware == FIRMWARE_UEFI || d->firmware == FIRMWARE_HYBRID)
        out[n++] = d->secure_boot ? BOOT_SECURE_BOOT : BOOT_UEFI;
    return n;
}

static int claims(const struct disk_ref *d, enum boot_firmware fw)
{
    if (fw == BOOT_BIOS)
        return d->firmware != FIRMWARE_UEFI;
    if (fw == BOOT_UEFI)
        return d->firmware == FIRMWARE_UEFI || d->firmware == FIRMWARE_HYBRID;
    return d->secure_boot;
}

CLI_COMMAND(boot_test)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "marker", required_argument, NULL, OPT_MARKER },
        { "firmware", required_argument, NULL, OPT_FIRMWARE },
        { 0 },
    };
    int want_fw = -1;
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
        case OPT_FIRMWARE:
            if (strcmp(optarg, "bios") == 0)
                want_fw = BOOT_BIOS;
            else if (strcmp(optarg, "uefi") == 0)
                want_fw = BOOT_UEFI;
            else if (strcmp(optarg, "secure-boot") == 0)
                want_fw = BOOT_SECURE_BOOT;
            else
                return cli_usage_error("boot-test", "--firmware must be bios, uefi or secure-boot, not '%s'", optarg);
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
    enum boot_firmware fws[2];
    size_t n_fw = claimed_firmware(&disk, fws);
    if (want_fw >= 0) {
        if (!claims(&disk, (enum boot_firmware)want_fw)) {
            r = kiln_errf(&err, KILN_EINVAL, "image '%s': the disk does not claim to boot with %s firmware (it is %s%s)",
                          ref, boot_firmware_name((enum boot_firmware)want_fw),
                          disk.firmware == FIRMWARE_NONE ? "not bootable" : recipe_firmware_name(disk.firmware),
                          disk.secure_boot ? ", with Secure Boot" : disk.firmware == FIRMWARE_NONE ? "" : ", without Secure Boot");
            disk_ref_release(&disk);
            return cli_fail(&err);
        }
        fws[0] = (enum boot_firmware)want_fw;
        n_fw = 1;
    }
    _cleanup_free_ char *marker_copy = xstrdup(marker ? marker : disk.marker ? disk.marker : BOOT_TEST_DEFAULT_MARKER);
    marker = marker_copy;
    if (!timeout)
        timeout = disk.timeout ? disk.timeout : BOOT_TEST_DEFAULT_TIMEOUT;
    /* Every firmware in turn: a hybrid disk passes only when it boots both ways. */
    struct boot_result res[2];
    memset(res, 0, sizeof(res));
    int passed = 1;
    size_t ran = 0;
    for (size_t i = 0; i < n_fw && r == 0; i++, ran++) {
        r = boot_test_run(disk.blob_path, disk_format_name(disk.format), fws[i], marker, timeout, tmp, &res[i], &err);
        if (r == 0 && !res[i].passed)
            passed = 0;
    }
    disk_ref_release(&disk);
    if (r < 0) {
        for (size_t i = 0; i < ran; i++)
            boot_result_release(&res[i]);
        return cli_fail(&err);
    }
    if (ctx->json) {
        json_t *boots = json_array();
        for (size_t i = 0; i < ran; i++) {
            json_t *b = json_pack("{s:s,s:s,s:f}", "firmware", boot_firmware_name(fws[i]), "result",
                                  res[i].passed ? "pass" : "fail", "seconds", res[i].seconds);
            if (res[i].tail)
                json_object_set_new(b, "console_tail", json_string(res[i].tail));
            json_array_append_new(boots, b);
        }
        json_t *j = json_pack("{s:s,s:s,s:s,s:f,s:i}", "ref", ref, "result", passed ? "pass" : "fail",
                              "accel", res[0].accel, "seconds", res[0].seconds, "timeout", (int)timeout);
        json_object_set_new(j, "marker", json_string(marker));
        json_object_set_new(j, "boots", boots);
        if (res[0].tail)
            json_object_set_new(j, "console_tail", json_string(res[0].tail));
        cli_print_json(j);
    }
    for (size_t i = 0; i < ran; i++) {
        if (res[i].passed && !ctx->json)
            printf("boot test passed (%s): '%s' on the console after %.1f s (%s)\n", boot_firmware_name(fws[i]),
                   marker, res[i].seconds, res[i].accel);
        else if (!res[i].passed && res[i].why)
            fprintf(stderr, "kiln: boot test failed (%s): %s; the console's last lines:\n%s\n",
                    boot_firmware_name(fws[i]), res[i].why, res[i].tail ? res[i].tail : "");
        else if (!res[i].passed)
            fprintf(stderr, "kiln: boot test failed (%s): '%s' did not appear on the console within %u seconds; its last lines:\n%s\n",
                    boot_firmware_name(fws[i]), marker, timeout, res[i].tail ? res[i].tail : "");
        boot_result_release(&res[i]);
    }
    return passed ? 0 : 1;
}
