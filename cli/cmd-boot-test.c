/* cmd-boot-test.c - kiln boot-test REF|--disk FILE: boot a disk and wait for a marker. */
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/seed.h"
#include "common/fsutil.h"
#include "disk/disk.h"
#include "cli/cli.h"
#include "images/store.h"
#include "common/banned.h"

enum { OPT_TIMEOUT = 1, OPT_MARKER, OPT_FIRMWARE, OPT_DISK, OPT_FORMAT, OPT_SEED, OPT_USER_DATA, OPT_META_DATA,
       OPT_NETWORK_CONFIG };


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

static char *scratch_dir; /* removed by the stop handler */

static int remove_scratch(void)
{
    if (scratch_dir)
        fs_rm_rf(scratch_dir, NULL);
    return 0;
}

static int claims(const struct disk_ref *d, enum boot_firmware fw)
{
    if (fw == BOOT_BIOS)
        return d->firmware != FIRMWARE_UEFI;
    if (fw == BOOT_UEFI)
        return d->firmware == FIRMWARE_UEFI || d->firmware == FIRMWARE_HYBRID;
    return d->secure_boot;
}

/* What cloud-init writes to the console (its log at WARNING and above)
 * when it cannot use what the seed gave it, such as user data it cannot
 * parse: with a seed, the boot test fails on the first of these. */
static const char *const cloud_init_errors[] = { "[WARNING]: ", "[ERROR]: ", "[CRITICAL]: ", NULL };

/* The disk of REF in the store, its blob verified: *path and *format are caller-owned. */
static int stored_disk(struct cli_ctx *ctx, const char *ref, char **path, const char **format, char **marker,
                       unsigned *timeout, struct disk_ref *claim, struct kiln_err *err)
{
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct store *st = NULL;
    if (store_open(dir, 0, &st, err) < 0)
        return err->code;
    struct disk_ref disk;
    int r = disk_find(st, ref, DISK_FORMAT_QCOW2, 1, &disk, err);
    if (r < 0) {
        store_close(st);
        return r;
    }
    /* Never boot a blob that is not what its digest says. */
    r = store_blob_verify(st, disk.digest, (int64_t)disk.size, err);
    store_close(st);
    enum disk_format found;
    if (r == 0 && (r = disk_detect_format(disk.blob_path, &found, err)) == 0 && found != disk.format)
        r = kiln_errf(err, KILN_EVERIFY, "image '%s': the disk blob is not the format its manifest says", ref);
    if (r == 0) {
        *path = TAKE_PTR(disk.blob_path);
        *format = disk_format_name(disk.format);
        *marker = TAKE_PTR(disk.marker);
        *timeout = disk.timeout;
        claim->firmware = disk.firmware;
        claim->secure_boot = disk.secure_boot;
    }
    disk_ref_release(&disk);
    return r;
}

CLI_COMMAND(boot_test)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "marker", required_argument, NULL, OPT_MARKER },
        { "firmware", required_argument, NULL, OPT_FIRMWARE },
        { "disk", required_argument, NULL, OPT_DISK },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "seed", required_argument, NULL, OPT_SEED },
        { "user-data", required_argument, NULL, OPT_USER_DATA },
        { "meta-data", required_argument, NULL, OPT_META_DATA },
        { "network-config", required_argument, NULL, OPT_NETWORK_CONFIG },
        { 0 },
    };
    int want_fw = -1;
    unsigned timeout = 0;
    const char *marker = NULL, *disk_file = NULL, *format_name = NULL, *seed_dir = NULL;
    struct seed_files seed = { 0 };
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
        case OPT_DISK:
            disk_file = optarg;
            break;
        case OPT_FORMAT:
            format_name = optarg;
            break;
        case OPT_SEED:
            seed_dir = optarg;
            break;
        case OPT_USER_DATA:
            seed.user_data = optarg;
            break;
        case OPT_META_DATA:
            seed.meta_data = optarg;
            break;
        case OPT_NETWORK_CONFIG:
            seed.network_config = optarg;
            break;
        default:
            return cli_usage_error("boot-test", "unknown option");
        }
    }
    if (disk_file ? optind != argc : optind + 1 != argc)
        return cli_usage_error("boot-test", "boot-test takes exactly one image reference, or --disk FILE");
    if (disk_file && !format_name)
        return cli_usage_error("boot-test", "--disk needs --format qcow2|raw|vmdk|vhdx|vhd");
    if (format_name && !disk_file)
        return cli_usage_error("boot-test", "--format is for --disk; a stored image's format is known");
    const char *format = format_name ? boot_disk_format(format_name) : NULL;
    if (format_name && !format)
        return cli_usage_error("boot-test", "unknown disk format '%s' (qcow2, raw, vmdk, vhdx or vhd)", format_name);
    if (!seed_dir && !seed.user_data && (seed.meta_data || seed.network_config))
        return cli_usage_error("boot-test", "--meta-data and --network-config need --user-data or --seed");
    const char *ref = disk_file ? NULL : argv[optind];
    struct kiln_err err = KILN_ERR_INIT;
    _cleanup_strv_free_ char **seed_owned = NULL;
    if (seed_dir && seed_from_dir(seed_dir, &seed, &seed_owned, &err) < 0)
        return cli_fail(&err);
    const char *tmp;
    if (cli_scratch_and_accel(&tmp, &err) < 0)
        return cli_fail(&err);
    cli_setup_log(ctx);

    _cleanup_free_ char *path = NULL, *stored_marker = NULL;
    unsigned stored_timeout = 0;
    struct disk_ref claim = { 0 };
    int r;
    if (disk_file) {
        if (boot_disk_check(disk_file, format, &err) < 0)
            return cli_fail(&err);
        path = xstrdup(disk_file);
    } else if (stored_disk(ctx, ref, &path, &format, &stored_marker, &stored_timeout, &claim, &err) < 0) {
        return cli_fail(&err);
    }
    /* A disk file claims what --firmware says, else BIOS. */
    enum boot_firmware fws[2];
    size_t n_fw = disk_file ? 1 : claimed_firmware(&claim, fws);
    if (disk_file)
        fws[0] = want_fw >= 0 ? (enum boot_firmware)want_fw : BOOT_BIOS;
    else if (want_fw >= 0) {
        if (!claims(&claim, (enum boot_firmware)want_fw)) {
            r = kiln_errf(&err, KILN_EINVAL, "image '%s': the disk does not claim to boot with %s firmware (it is %s%s)",
                          ref, boot_firmware_name((enum boot_firmware)want_fw),
                          claim.firmware == FIRMWARE_NONE ? "not bootable" : recipe_firmware_name(claim.firmware),
                          claim.secure_boot ? ", with Secure Boot" : claim.firmware == FIRMWARE_NONE ? "" : ", without Secure Boot");
            return cli_fail(&err);
        }
        fws[0] = (enum boot_firmware)want_fw;
        n_fw = 1;
    }
    marker = marker ? marker : stored_marker ? stored_marker : BOOT_TEST_DEFAULT_MARKER;
    if (!timeout)
        timeout = stored_timeout ? stored_timeout : BOOT_TEST_DEFAULT_TIMEOUT;

    /* The seed ISO and each boot's overlay live in a temp directory for the
     * boots' length; a stop by a signal kills qemu and removes it. */
    _cleanup_free_ char *seed_iso = NULL;
    if (cli_on_stop(remove_scratch, &err) < 0 || fs_mkdtemp(tmp, "kiln-boot-test-", &scratch_dir, &err) < 0)
        return cli_fail(&err);
    if (seed.user_data) {
        seed_iso = path_join(scratch_dir, "seed.iso");
        if (seed_iso_write(&seed, seed_iso, &err) < 0) {
            remove_scratch();
            return cli_fail(&err);
        }
    }
    /* Every firmware in turn: a hybrid disk passes only when it boots both ways. */
    struct boot_result res[2];
    memset(res, 0, sizeof(res));
    int passed = 1;
    size_t ran = 0;
    r = 0;
    for (size_t i = 0; i < n_fw && r == 0; i++, ran++) {
        struct boot_opts bo = {
            .disk = path, .format = format, .firmware = fws[i], .marker = marker, .timeout = timeout,
            .tmp_parent = scratch_dir, .seed = seed_iso, .fail_markers = seed_iso ? cloud_init_errors : NULL,
        };
        r = boot_test_run(&bo, &res[i], &err);
        if (r == 0 && !res[i].passed)
            passed = 0;
    }
    remove_scratch();
    if (r < 0) {
        for (size_t i = 0; i < ran; i++)
            boot_result_release(&res[i]);
        return cli_fail(&err);
    }
    const char *what = ref ? ref : disk_file;
    if (ctx->json) {
        json_t *boots = json_array();
        for (size_t i = 0; i < ran; i++) {
            json_t *b = json_pack("{s:s,s:s,s:f}", "firmware", boot_firmware_name(fws[i]), "result",
                                  res[i].passed ? "pass" : "fail", "seconds", res[i].seconds);
            if (res[i].failed_on)
                json_object_set_new(b, "failed_on", json_string(res[i].failed_on));
            if (res[i].tail)
                json_object_set_new(b, "console_tail", json_string(res[i].tail));
            json_array_append_new(boots, b);
        }
        json_t *j = json_pack("{s:s,s:s,s:s,s:f,s:i}", ref ? "ref" : "disk", what, "result",
                              passed ? "pass" : "fail", "accel", res[0].accel, "seconds", res[0].seconds, "timeout",
                              (int)timeout);
        json_object_set_new(j, "marker", json_string(marker));
        json_object_set_new(j, "boots", boots);
        if (res[0].failed_on)
            json_object_set_new(j, "failed_on", json_string(res[0].failed_on));
        if (res[0].tail)
            json_object_set_new(j, "console_tail", json_string(res[0].tail));
        cli_print_json(j);
    }
    for (size_t i = 0; i < ran; i++) {
        const char *fwn = boot_firmware_name(fws[i]);
        if (res[i].passed && !ctx->json)
            printf("boot test passed (%s): '%s' on the console after %.1f s (%s)\n", fwn, marker, res[i].seconds,
                   res[i].accel);
        else if (!res[i].passed && res[i].failed_on)
            fprintf(stderr, "kiln: boot test failed (%s): cloud-init reported an error on the console: %s\n"
                            "its last lines:\n%s\n", fwn, res[i].failed_on, res[i].tail ? res[i].tail : "");
        else if (!res[i].passed && res[i].why)
            fprintf(stderr, "kiln: boot test failed (%s): %s; the console's last lines:\n%s\n", fwn, res[i].why,
                    res[i].tail ? res[i].tail : "");
        else if (!res[i].passed)
            fprintf(stderr, "kiln: boot test failed (%s): '%s' did not appear on the console within %u seconds; its last lines:\n%s\n",
                    fwn, marker, timeout, res[i].tail ? res[i].tail : "");
        boot_result_release(&res[i]);
    }
    return passed ? 0 : 1;
}
