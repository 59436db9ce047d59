/* boot-test.c - boot a disk under qemu and watch its serial console. */
#include "boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
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

/* Text from the guest made printable, in place: NULs and control
 * characters (escape sequences too) become spaces. */
static void printable(char *s, size_t n, int keep_newlines)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c == '\n' && !keep_newlines) || c == '\r' || c == 0x1b || c == 0x7f ||
            (c < 0x20 && c != '\n' && c != '\t'))
            s[i] = ' ';
    }
}

/* Searches what is new on the console since *off (keeping an overlap as
 * long as the longest string) for the strings of want (NULL-terminated):
 * returns the index of the one that appears first, or -1.  *line gets the
 * console line it is on (caller-owned) when line is not NULL. */
static int console_find(const char *path, const char *const *want, off_t *off, char **line)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t mlen = 0;
    for (const char *const *w = want; *w; w++)
        if (strlen(*w) > mlen)
            mlen = strlen(*w);
    off_t start = *off > (off_t)mlen ? *off - (off_t)mlen : 0;
    char chunk[65536 + 1];
    for (;;) {
        ssize_t n = pread(fd, chunk, sizeof(chunk) - 1, start);
        if (n <= 0)
            return -1;
        chunk[n] = '\0';
        for (ssize_t i = 0; i < n; i++) /* NULs from the guest must not hide a marker */
            if (chunk[i] == '\0')
                chunk[i] = ' ';
        const char *first = NULL;
        int which = -1;
        for (int i = 0; want[i]; i++) {
            const char *p = strstr(chunk, want[i]);
            if (p && (!first || p < first)) {
                first = p;
                which = i;
            }
        }
        if (first) {
            if (line) {
                const char *b = first, *e = first;
                while (b > chunk && b[-1] != '\n')
                    b--;
                while (*e && *e != '\n')
                    e++;
                *line = xstrndup(b, (size_t)(e - b));
                printable(*line, strlen(*line), 0);
            }
            return which;
        }
        *off = start + n;
        if (n < (ssize_t)sizeof(chunk) - 1 || *off > (off_t)CONSOLE_LIMIT)
            return -1;
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
    printable(b.data, b.len, 1);
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

/* The strings to watch for: the marker first, then the fail markers. */
static const char **watch_list(const char *marker, const char *const *fail)
{
    size_t n = 0;
    while (fail && fail[n])
        n++;
    const char **v = xcalloc(n + 2, sizeof(*v));
    v[0] = marker;
    for (size_t i = 0; i < n; i++)
        v[i + 1] = fail[i];
    return v;
}

int boot_test_run(const struct boot_opts *o, struct boot_result *res, struct kiln_err *err)
{
    memset(res, 0, sizeof(*res));
    const char *marker = o->marker && *o->marker ? o->marker : BOOT_TEST_DEFAULT_MARKER;
    unsigned timeout = o->timeout ? o->timeout : BOOT_TEST_DEFAULT_TIMEOUT;
    enum accel a;
    int r = accel_get(&a, err);
    if (r < 0)
        return r;
    res->accel = accel_name(a);
    /* The overlay names the disk by its absolute path: qemu-img resolves a
     * relative backing file against the overlay's own directory. */
    _cleanup_free_ char *disk = realpath(o->disk, NULL);
    if (!disk)
        return kiln_errno(err, KILN_EINVAL, errno, "disk '%s'", o->disk);
    _cleanup_free_ char *dir = NULL;
    if ((r = fs_mkdtemp(o->tmp_parent, "kiln-boot-", &dir, err)) < 0)
        return r;
    _cleanup_free_ char *overlay = path_join(dir, "overlay.qcow2");
    _cleanup_free_ char *console = path_join(dir, "console.log");
    {
        char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", (char *)o->format, "-b",
                         disk, overlay, NULL };
        if ((r = run_argv(argv, NULL, NULL, err)) < 0) {
            fs_rm_rf(dir, NULL);
            return kiln_err_prefix(err, "boot test");
        }
    }
    _cleanup_free_ char *drive = xasprintf("file=%s,format=qcow2,if=virtio,cache=unsafe", overlay);
    _cleanup_free_ char *serial = xasprintf("file:%s", console);
    enum boot_firmware fw = o->firmware;
    _cleanup_free_ char *code = NULL, *vars = NULL;
    if (fw != BOOT_BIOS && (r = ovmf_args(fw, dir, &code, &vars, err)) < 0) {
        fs_rm_rf(dir, NULL);
        return r;
    }
    _cleanup_free_ char *seed = o->seed ? xasprintf("file=%s,format=raw,if=virtio,readonly=on", o->seed) : NULL;
    char *argv[40] = {
        "qemu-system-x86_64", "-accel", (char *)res->accel, "-cpu", a == ACCEL_KVM ? "host" : "max",
        "-m", "1024", "-smp", "2", "-display", "none", "-nodefaults", "-no-user-config",
        "-serial", serial, "-drive", drive, "-device", "virtio-rng-pci",
    };
    size_t k = 0;
    while (argv[k])
        k++;
    if (seed) {
        argv[k++] = "-drive";
        argv[k++] = seed;
    }
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
    kiln_log(KILN_LOG_INFO, "booting the disk under qemu (%s, %s firmware)%s, waiting up to %u seconds for '%s'",
             res->accel, boot_firmware_name(fw), seed ? " with a NoCloud seed" : "", timeout, marker);
    _cleanup_free_ const char **want = watch_list(marker, o->fail_markers);
    double t0 = now_sec();
    struct run_child qemu;
    if ((r = run_start(argv, 1, &qemu, err)) < 0) {
        fs_rm_rf(dir, NULL);
        return r;
    }
    off_t off = 0;
    int exited = 0, found = -1;
    char *line = NULL;
    while (now_sec() - t0 < timeout) {
        if ((found = console_find(console, want, &off, &line)) >= 0)
            break;
        if (run_exited(&qemu)) {
            exited = 1;
            found = console_find(console, want, &off, &line);
            break;
        }
        struct timespec ts = { 0, 250 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    res->seconds = now_sec() - t0;
    if (found > 0 && !exited) /* let the guest finish saying what went wrong */
        nanosleep(&(struct timespec){ BOOT_TEST_FAIL_GRACE, 0 }, NULL);
    run_stop(&qemu);
    res->passed = found == 0;
    if (found > 0)
        res->failed_on = TAKE_PTR(line);
    free(line);
    if (res->passed && fw == BOOT_SECURE_BOOT) {
        /* Under Secure Boot the kernel says so before any login prompt. */
        const char *sb[] = { BOOT_SECURE_BOOT_MARKER, NULL };
        off_t sb_off = 0;
        char *sb_line = NULL;
        if (console_find(console, sb, &sb_off, &sb_line) != 0) {
            res->passed = 0;
            res->why = "the console does not show '" BOOT_SECURE_BOOT_MARKER "': the kernel did not start under Secure Boot";
        }
        free(sb_line);
    }
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
    free(res->failed_on);
    memset(res, 0, sizeof(*res));
}

const char *boot_disk_format(const char *name)
{
    static const char *const names[][2] = {
        { "qcow2", "qcow2" }, { "raw", "raw" }, { "vmdk", "vmdk" }, { "vhdx", "vhdx" }, { "vhd", "vpc" },
    };
    for (size_t i = 0; name && i < ARRAY_SIZE(names); i++)
        if (strcmp(name, names[i][0]) == 0)
            return names[i][1];
    return NULL;
}

int boot_disk_check(const char *path, const char *format, struct kiln_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return kiln_errno(err, KILN_EINVAL, errno, "disk '%s'", path);
    if (!S_ISREG(st.st_mode))
        return kiln_errf(err, KILN_EINVAL, "disk '%s' is not a regular file", path);
    struct buf out = BUF_INIT;
    buf_init(&out, 1u << 20);
    char *argv[] = { "qemu-img", "info", "--output=json", "-f", (char *)format, (char *)path, NULL };
    int status = 0;
    int r = run_argv(argv, &(struct run_opts){ .out = &out }, &status, err);
    json_t *j = r == 0 && status == 0 ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    if (r == 0 && !j) {
        char shown[200];
        while (out.len && (out.data[out.len - 1] == '\n'))
            out.data[--out.len] = '\0';
        r = kiln_errf(err, KILN_EINVAL, "disk '%s' is not a %s image: %s", path, format,
                      kiln_err_shown(out.data, out.len, shown, sizeof(shown)));
    }
    buf_release(&out);
    if (r < 0)
        return r;
    const char *fmt = json_string_value(json_object_get(j, "format"));
    if (!fmt || strcmp(fmt, format) != 0)
        r = kiln_errf(err, KILN_EINVAL, "disk '%s' is not a %s image", path, format);
    else if (json_object_get(j, "backing-filename") || json_object_get(j, "full-backing-filename"))
        r = kiln_errf(err, KILN_EINVAL, "disk '%s' names a backing file; boot a disk that stands alone", path);
    json_t *extents = json_object_get(json_object_get(json_object_get(j, "format-specific"), "data"), "extents");
    size_t i;
    json_t *e;
    json_array_foreach(extents, i, e) {
        const char *f = json_string_value(json_object_get(e, "filename"));
        if (r == 0 && (!f || strcmp(f, path) != 0))
            r = kiln_errf(err, KILN_EINVAL, "disk '%s' keeps its data in another file; boot a single-file vmdk",
                          path);
    }
    json_decref(j);
    return r;
}
