/* boot-test.c - boot a disk under qemu and watch its serial console. */
#include "boot/boot.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boot/accel.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define CONSOLE_LIMIT (16u << 20)

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Searches the console for marker, reading only what is new since *off
 * (keeping marker-length overlap). */
static int console_has(const char *path, const char *marker, off_t *off)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t mlen = strlen(marker);
    off_t start = *off > (off_t)mlen ? *off - (off_t)mlen : 0;
    char chunk[65536 + 1];
    for (;;) {
        ssize_t n = pread(fd, chunk, sizeof(chunk) - 1, start);
        if (n <= 0)
            return 0;
        chunk[n] = '\0';
        for (ssize_t i = 0; i < n; i++) /* NULs from the guest must not hide the marker */
            if (chunk[i] == '\0')
                chunk[i] = ' ';
        if (strstr(chunk, marker))
            return 1;
        *off = start + n;
        if (n < (ssize_t)sizeof(chunk) - 1 || *off > (off_t)CONSOLE_LIMIT)
            return 0;
        start = *off - (off_t)mlen;
    }
}

static char *console_tail(const char *path, int lines)
{
    struct buf b = BUF_INIT;
    buf_init(&b, 0);
    if (fs_read_file(path, CONSOLE_LIMIT, &b, NULL) < 0 || !b.len) {
        buf_release(&b);
        return xstrdup("(the console is empty)");
    }
    /* Printable text only: the console is the guest's. */
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        if (c == '\r' || c == 0x1b || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            b.data[i] = ' ';
    }
    size_t end = b.len;
    while (end && b.data[end - 1] == '\n')
        end--;
    size_t start = end;
    int seen = 0;
    while (start > 0) {
        if (b.data[start - 1] == '\n' && ++seen == lines)
            break;
        start--;
    }
    char *t = xstrndup(b.data + start, end - start);
    buf_release(&b);
    return t;
}

const char *boot_firmware_name(enum boot_firmware fw)
{
    return fw == BOOT_BIOS ? "bios" : fw == BOOT_UEFI ? "uefi" : "secure-boot";
}

/* OVMF's code (read-only) and a private copy of its variable store. */
static int ovmf_args(enum boot_firmware fw, const char *dir, char **code, char **vars, struct kiln_err *err)
{
    const char *c = fw == BOOT_SECURE_BOOT ? BOOT_OVMF_SB_CODE : BOOT_OVMF_CODE;
    const char *v = fw == BOOT_SECURE_BOOT ? BOOT_OVMF_SB_VARS : BOOT_OVMF_VARS;
    if (access(c, R_OK) < 0 || access(v, R_OK) < 0)
        return kiln_errf(err, KILN_EFAIL, "booting with %s firmware needs OVMF (package ovmf): '%s' is missing",
                         boot_firmware_name(fw), access(c, R_OK) < 0 ? c : v);
    _cleanup_free_ char *copy = path_join(dir, "OVMF_VARS.fd");
    struct buf b = BUF_INIT;
    int r = fs_read_file(v, 64u << 20, &b, err);
    if (r == 0)
        r = fs_write_atomic(copy, b.data, b.len, 0600, err);
    buf_release(&b);
    if (r < 0)
        return r;
    *code = xasprintf("if=pflash,format=raw,unit=0,readonly=on,file=%s", c);
    *vars = xasprintf("if=pflash,format=raw,unit=1,file=%s", copy);
    return 0;
}

int boot_test_run(const char *path, const char *format, enum boot_firmware fw, const char *marker, unsigned timeout,
                  const char *tmp_parent, struct boot_result *res, struct kiln_err *err)
{
    memset(res, 0, sizeof(*res));
    if (!marker || !*marker)
        marker = BOOT_TEST_DEFAULT_MARKER;
    if (!timeout)
        timeout = BOOT_TEST_DEFAULT_TIMEOUT;
    enum accel a;
    int r = accel_get(&a, err);
    if (r < 0)
        return r;
    res->accel = accel_name(a);
    _cleanup_free_ char *dir = NULL;
    if ((r = fs_mkdtemp(tmp_parent, "kiln-boot-", &dir, err)) < 0)
        return r;
    _cleanup_free_ char *overlay = path_join(dir, "overlay.qcow2");
    _cleanup_free_ char *console = path_join(dir, "console.log");
    {
        char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", (char *)format, "-b", (char *)path,
                         overlay, NULL };
        if ((r = run_argv(argv, NULL, NULL, err)) < 0) {
            fs_rm_rf(dir, NULL);
            return kiln_err_prefix(err, "boot test");
        }
    }
    _cleanup_free_ char *drive = xasprintf("file=%s,format=qcow2,if=virtio,cache=unsafe", overlay);
    _cleanup_free_ char *serial = xasprintf("file:%s", console);
    _cleanup_free_ char *code = NULL, *vars = NULL;
    if (fw != BOOT_BIOS && (r = ovmf_args(fw, dir, &code, &vars, err)) < 0) {
        fs_rm_rf(dir, NULL);
        return r;
    }
    char *argv[40] = {
        "qemu-system-x86_64", "-accel", (char *)res->accel, "-cpu", a == ACCEL_KVM ? "host" : "max",
        "-m", "1024", "-smp", "2", "-display", "none", "-nodefaults", "-no-user-config",
        "-serial", serial, "-drive", drive, "-device", "virtio-rng-pci",
    };
    size_t k = 0;
    while (argv[k])
        k++;
    if (fw != BOOT_BIOS) {
        /* OVMF on q35; its Secure Boot build needs SMM and a pflash only SMM may write. */
        argv[k++] = "-machine";
        argv[k++] = fw == BOOT_SECURE_BOOT ? "q35,smm=on" : "q35";
        if (fw == BOOT_SECURE_BOOT) {
            argv[k++] = "-global";
            argv[k++] = "driver=cfi.pflash01,property=secure,value=on";
        }
        argv[k++] = "-drive";
        argv[k++] = code;
        argv[k++] = "-drive";
        argv[k++] = vars;
    }
    argv[k] = NULL;
    kiln_log(KILN_LOG_INFO, "booting the disk under qemu (%s, %s firmware), waiting up to %u seconds for '%s'",
             res->accel, boot_firmware_name(fw), timeout, marker);
    double t0 = now_sec();
    struct run_child qemu;
    if ((r = run_start(argv, 1, &qemu, err)) < 0) {
        fs_rm_rf(dir, NULL);
        return r;
    }
    off_t off = 0, sb_off = 0;
    int exited = 0, seen = 0, sb_seen = fw != BOOT_SECURE_BOOT;
    while (now_sec() - t0 < timeout) {
        /* Under Secure Boot the kernel says so before any login prompt. */
        sb_seen = sb_seen || console_has(console, BOOT_SECURE_BOOT_MARKER, &sb_off);
        seen = seen || console_has(console, marker, &off);
        if (seen && sb_seen) {
            res->passed = 1;
            break;
        }
        if (run_exited(&qemu)) {
            exited = 1;
            sb_seen = sb_seen || console_has(console, BOOT_SECURE_BOOT_MARKER, &sb_off);
            seen = seen || console_has(console, marker, &off);
            res->passed = seen && sb_seen;
            break;
        }
        struct timespec ts = { 0, 250 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    res->seconds = now_sec() - t0;
    run_stop(&qemu);
    if (!res->passed) {
        res->tail = console_tail(console, BOOT_TEST_TAIL_LINES);
        if (seen)
            res->why = "the console does not show '" BOOT_SECURE_BOOT_MARKER "': the kernel did not start under Secure Boot";
    }
    if (exited && !res->passed && qemu.status == 127)
        r = kiln_errf(err, KILN_EFAIL, "cannot run 'qemu-system-x86_64'");
    fs_rm_rf(dir, NULL);
    return r;
}

void boot_result_release(struct boot_result *res)
{
    free(res->tail);
    memset(res, 0, sizeof(*res));
}
