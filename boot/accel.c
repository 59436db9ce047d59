/* accel.c - KVM detection with a TCG fallback. */
#include "boot/accel.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define PROBE_SECONDS 10
#define PROBE_BANNER "Linux version"

static enum accel_mode the_mode = ACCEL_MODE_AUTO;
static int decided;
static enum accel decided_accel;
static char *the_tmp_parent;

int accel_parse_mode(const char *s, enum accel_mode *out, struct kiln_err *err)
{
    if (!s || !*s || strcmp(s, "auto") == 0)
        *out = ACCEL_MODE_AUTO;
    else if (strcmp(s, "kvm") == 0)
        *out = ACCEL_MODE_KVM;
    else if (strcmp(s, "tcg") == 0)
        *out = ACCEL_MODE_TCG;
    else
        return kiln_errf(err, KILN_EINVAL, "accelerator '%s' is not one of auto, kvm, tcg", s);
    return 0;
}

void accel_configure(const struct accel_opts *o)
{
    the_mode = o->mode;
    free(the_tmp_parent);
    the_tmp_parent = o->tmp_parent && *o->tmp_parent ? xstrdup(o->tmp_parent) : NULL;
    decided = 0;
}

int accel_decide(enum accel_mode mode, int kvm_works, enum accel *out, int *warn, struct kiln_err *err)
{
    *warn = 0;
    switch (mode) {
    case ACCEL_MODE_TCG:
        *out = ACCEL_TCG;
        return 0;
    case ACCEL_MODE_KVM:
        if (kvm_works == 0)
            return kiln_errf(err, KILN_EFAIL, "accelerator 'kvm' was requested but KVM does not work here");
        *out = ACCEL_KVM;
        return 0;
    case ACCEL_MODE_AUTO:
    default:
        if (kvm_works == 1) {
            *out = ACCEL_KVM;
        } else {
            *out = ACCEL_TCG;
            *warn = 1;
        }
        return 0;
    }
}

const char *accel_name(enum accel a)
{
    return a == ACCEL_KVM ? "kvm" : "tcg";
}

/* The newest-looking /boot/vmlinuz-* (caller-owned), or NULL. */
static char *host_kernel(void)
{
    DIR *d = opendir("/boot");
    if (!d)
        return NULL;
    char *best = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "vmlinuz-", 8) != 0)
            continue;
        if (!best || strcmp(e->d_name, best) > 0) {
            free(best);
            best = xstrdup(e->d_name);
        }
    }
    closedir(d);
    if (!best)
        return NULL;
    char *p = xasprintf("/boot/%s", best);
    free(best);
    return p;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int file_has(const char *path, const char *needle)
{
    struct buf b = BUF_INIT;
    int found = 0;
    if (fs_read_file(path, 1 << 20, &b, NULL) == 0)
        found = b.data && strstr(b.data, needle) != NULL;
    buf_release(&b);
    return found;
}

int accel_probe_kvm(const char *tmp_parent)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        return 0;
    _cleanup_free_ char *kernel = host_kernel();
    if (!kernel)
        return 0;
    _cleanup_free_ char *dir = NULL;
    if (fs_mkdtemp(tmp_parent ? tmp_parent : "/tmp", "kiln-kvm-probe.", &dir, NULL) < 0)
        return 0;
    _cleanup_free_ char *console = path_join(dir, "console");
    _cleanup_free_ char *serial = xasprintf("file:%s", console);
    /* -cpu host is what libguestfs uses with KVM, and what breaks first. */
    char *const argv[] = {
        "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-M", "pc", "-m", "128",
        "-display", "none", "-nodefaults", "-no-reboot", "-serial", serial,
        "-kernel", kernel, "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1", NULL,
    };
    struct run_child qemu;
    if (run_start(argv, 0, &qemu, NULL) < 0) {
        fs_rm_rf(dir, NULL);
        return 0;
    }
    int works = 0;
    double deadline = now_sec() + PROBE_SECONDS;
    while (now_sec() < deadline) {
        if (file_has(console, PROBE_BANNER)) {
            works = 1;
            break;
        }
        if (run_exited(&qemu)) {
            works = file_has(console, PROBE_BANNER);
            break;
        }
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    run_stop(&qemu);
    fs_rm_rf(dir, NULL);
    return works;
}

int accel_get(enum accel *out, struct kiln_err *err)
{
    if (decided) {
        *out = decided_accel;
        return 0;
    }
    int works = the_mode == ACCEL_MODE_TCG ? -1 : accel_probe_kvm(the_tmp_parent);
    int warn = 0;
    int r = accel_decide(the_mode, works, &decided_accel, &warn, err);
    if (r < 0)
        return r;
    if (warn)
        kiln_log(KILN_LOG_WARN, "KVM does not work here; using TCG (slower)");
    decided = 1;
    *out = decided_accel;
    return 0;
}
