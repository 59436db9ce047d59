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

int boot_test_run(const char *path, const char *format, const char *marker, unsigned timeout,
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
    char *argv[] = {
        "qemu-system-x86_64", "-accel", (char *)res->accel, "-cpu", a == ACCEL_KVM ? "host" : "max",
        "-m", "1024", "-smp", "2", "-display", "none", "-nodefaults", "-no-user-config",
        "-serial", serial, "-drive", drive, "-device", "virtio-rng-pci", NULL,
    };
    kiln_log(KILN_LOG_INFO, "booting the disk under qemu (%s), waiting up to %u seconds for '%s'",
             res->accel, timeout, marker);
    double t0 = now_sec();
    struct run_child qemu;
    if ((r = run_start(argv, 1, &qemu, err)) < 0) {
        fs_rm_rf(dir, NULL);
        return r;
    }
    off_t off = 0;
    int exited = 0;
    while (now_sec() - t0 < timeout) {
        if (console_has(console, marker, &off)) {
            res->passed = 1;
            break;
        }
        if (run_exited(&qemu)) {
            exited = 1;
            res->passed = console_has(console, marker, &off);
            break;
        }
        struct timespec ts = { 0, 250 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    res->seconds = now_sec() - t0;
    run_stop(&qemu);
    if (!res->passed)
        res->tail = console_tail(console, BOOT_TEST_TAIL_LINES);
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
