/* guest.c - kiln's libguestfs handle: accelerator, errors, commands. */
#include "disk/guest.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "boot/accel.h"
#include "common/log.h"
#include "common/banned.h"

#define GUEST_LOG "/.kiln-run.log"
#define GUEST_LOG_LIMIT (1u << 20) /* the last 1 MiB of a command's output is logged */
#define WATCHDOG_GRACE 60          /* seconds past the in-guest timeout */
#define GUEST_STOP_ROUNDS 30       /* kill rounds (1 s apart) for what a command left running */
#define GUEST_EPOCH_KEY "kiln-epoch"
#define STR_(x) #x
#define STR(x) STR_(x)

int guest_fail(guestfs_h *g, struct kiln_err *err, int code, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    const char *msg = g ? guestfs_last_error(g) : NULL;
    if (msg && *msg)
        return kiln_errf(err, code, "%s: %s", what, msg);
    return kiln_errf(err, code, "%s", what);
}

int guest_open(int network, guestfs_h **out, struct kiln_err *err)
{
    enum accel a;
    int r = accel_get(&a, err);
    if (r < 0)
        return r;
    guestfs_h *g = guestfs_create();
    if (!g)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create a libguestfs handle");
    guestfs_set_error_handler(g, NULL, NULL);
    if (guestfs_set_backend(g, "direct") < 0)
        goto fail;
    if (a == ACCEL_TCG) {
        char *settings[] = { "force_tcg", NULL };
        if (guestfs_set_backend_settings(g, settings) < 0)
            goto fail;
    }
    if (guestfs_set_memsize(g, 1024) < 0 || guestfs_set_smp(g, 2) < 0)
        goto fail;
    if (network && guestfs_set_network(g, 1) < 0)
        goto fail;
    *out = g;
    return 0;
fail:
    r = guest_fail(g, err, KILN_EFAIL, "cannot set up the libguestfs handle");
    guestfs_close(g);
    return r;
}

int guest_add_drive(guestfs_h *g, const char *path, const char *format, int readonly,
                    struct kiln_err *err)
{
    if (guestfs_add_drive_opts(g, path, GUESTFS_ADD_DRIVE_OPTS_FORMAT, format,
                               GUESTFS_ADD_DRIVE_OPTS_READONLY, readonly, -1) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot add disk '%s'", path);
    return 0;
}

int guest_launch(guestfs_h *g, struct kiln_err *err)
{
    kiln_log(KILN_LOG_INFO, "starting the build appliance");
    if (guestfs_launch(g) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot start the build appliance");
    return 0;
}

void guest_free_strings(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

int guest_finish(guestfs_h *g, struct kiln_err *err)
{
    if (guestfs_umount_all(g) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot unmount the guest's filesystems");
    if (guestfs_shutdown(g) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot finish writing the disk");
    return 0;
}

int guest_exists(guestfs_h *g, const char *path)
{
    /* exists() follows symlinks; lstat-like behaviour via is_symlink too. */
    int r = guestfs_exists(g, path);
    if (r == 1)
        return 1;
    r = guestfs_is_symlink(g, path);
    return r == 1;
}

int guest_write(guestfs_h *g, const char *path, const char *data, size_t len, int mode,
                struct kiln_err *err)
{
    if (guestfs_write(g, path, data, len) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot write '%s' in the guest", path);
    if (mode >= 0 && guestfs_chmod(g, mode, path) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot chmod '%s' in the guest", path);
    return 0;
}

/* Kills the appliance if a command overruns its timeout by WATCHDOG_GRACE. */
struct watchdog {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct timespec deadline;
    pid_t pid;
    int done;
    int fired;
    int running;
};

static void *watchdog_main(void *p)
{
    struct watchdog *w = p;
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        int rc = pthread_cond_timedwait(&w->cond, &w->lock, &w->deadline);
        if (rc == ETIMEDOUT && !w->done) {
            w->fired = 1;
            if (w->pid > 0)
                kill(w->pid, SIGKILL);
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void watchdog_start(struct watchdog *w, pid_t pid, unsigned secs)
{
    memset(w, 0, sizeof(*w));
    if (!secs || pid <= 0)
        return;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    clock_gettime(CLOCK_REALTIME, &w->deadline);
    w->deadline.tv_sec += (time_t)secs + WATCHDOG_GRACE;
    w->pid = pid;
    w->running = pthread_create(&w->thread, NULL, watchdog_main, w) == 0;
}

static int watchdog_stop(struct watchdog *w)
{
    if (!w->running)
        return 0;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    return w->fired;
}

/* Logs the (tail of the) command's output file, line by line. */
static void log_guest_output(guestfs_h *g)
{
    int64_t size = guestfs_filesize(g, GUEST_LOG);
    if (size <= 0)
        return;
    int64_t off = size > GUEST_LOG_LIMIT ? size - GUEST_LOG_LIMIT : 0;
    size_t got = 0;
    char *data = guestfs_pread(g, GUEST_LOG, (int)(size - off), off, &got);
    if (!data)
        return;
    char *line = data, *end = data + got;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
        kiln_log(KILN_LOG_INFO, "  | %.*s", (int)n, line);
        line += n + 1;
    }
    free(data);
}

void guest_set_epoch(guestfs_h *g, const char *epoch)
{
    guestfs_set_private(g, GUEST_EPOCH_KEY, (void *)epoch);
}

/* The wrapper (arguments: timeout, epoch or "", the command): run "$@"
 * with SOURCE_DATE_EPOCH=epoch when given, its output in GUEST_LOG, under
 * timeout(1) when the guest has it, and report the status on stdout.  Then stop what
 * the command left running in the guest (a daemon it started, busybox
 * timeout's watcher): every process whose root is the guest's, found with
 * the shell's own test -ef, is killed until none is left, and their number
 * (timeout's watcher aside) is reported.  A process still holding the guest
 * open would keep libguestfs from unmounting the /dev it bound in. */
static const char wrapper[] =
    "t=$1; e=$2; shift 2; "
    "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
    "HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive; "
    "if [ -n \"$e\" ]; then export SOURCE_DATE_EPOCH=\"$e\"; fi; "
    "if [ \"$t\" != 0 ] && command -v timeout >/dev/null 2>&1; then "
    "timeout -s KILL \"$t\" \"$@\" >" GUEST_LOG " 2>&1 </dev/null; s=$?; "
    "else \"$@\" >" GUEST_LOG " 2>&1 </dev/null; s=$?; fi; "
    "n=0; i=0; while [ $i -lt " STR(GUEST_STOP_ROUNDS) " ]; do "
    "k=0; for p in /proc/[0-9]*; do p=${p#/proc/}; "
    "[ \"$p\" != $$ ] && [ /proc/$p/root -ef / ] || continue; "
    "c=; read -r c 2>/dev/null </proc/$p/comm; "
    "if kill -9 \"$p\" 2>/dev/null; then k=$((k+1)); "
    "[ $i = 0 ] && [ \"$c\" != timeout ] && n=$((n+1)); fi; "
    "done; [ $k = 0 ] && break; i=$((i+1)); sleep 1 2>/dev/null || :; done; "
    "echo \"kiln-left:$n\"; echo \"kiln-status:$s\"";

/* guestfs_command() bind-mounts these into the guest for a command and
 * ignores a failed unmount afterwards; a mount left there would be copied
 * into the image.  "/dev/pts" itself cannot be named (libguestfs would
 * take it for the appliance's own device): a lazy unmount of "/dev"
 * detaches it with the rest. */
static const char *const command_binds[] = { "/dev", "/proc", "/sys/fs/selinux", "/sys", NULL };

static int unbind_command_mounts(guestfs_h *g, const char *what, struct kiln_err *err)
{
    char **mps = guestfs_mountpoints(g);
    if (!mps)
        return guest_fail(g, err, KILN_EFAIL, "after '%s': cannot list the guest's mounts", what);
    int ret = 0;
    for (size_t i = 0; mps[i] && mps[i + 1] && ret == 0; i += 2)
        for (const char *const *b = command_binds; *b; b++)
            if (strcmp(mps[i + 1], *b) == 0) {
                kiln_log(KILN_LOG_DEBUG, "after '%s': unmounting the '%s' that libguestfs left", what, *b);
                if (guestfs_umount_opts(g, *b, GUESTFS_UMOUNT_OPTS_LAZYUNMOUNT, 1, -1) < 0)
                    ret = guest_fail(g, err, KILN_EFAIL, "after '%s': cannot unmount '%s' in the guest",
                                     what, *b);
                break;
            }
    guest_free_strings(mps);
    return ret;
}

int guest_run(guestfs_h *g, const char *what, char *const argv[], unsigned timeout,
              struct kiln_err *err)
{
    size_t n = 0;
    while (argv[n])
        n++;
    _cleanup_free_ char **full = xcalloc(n + 7, sizeof(char *));
    const char *epoch = guestfs_get_private(g, GUEST_EPOCH_KEY);
    char tbuf[32];
    snprintf(tbuf, sizeof(tbuf), "%u", timeout);
    full[0] = "/bin/sh";
    full[1] = "-c";
    full[2] = (char *)wrapper;
    full[3] = "kiln-run";
    full[4] = tbuf;
    full[5] = (char *)(epoch ? epoch : "");
    for (size_t i = 0; i < n; i++)
        full[6 + i] = argv[i];
    full[6 + n] = NULL;

    struct watchdog w;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    watchdog_start(&w, guestfs_get_pid(g), timeout);
    char *out = guestfs_command(g, full);
    int fired = watchdog_stop(&w);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int overran = timeout && t1.tv_sec - t0.tv_sec >= (time_t)timeout;
    if (!out) {
        if (fired)
            return kiln_errf(err, KILN_EFAIL, "command '%s' timed out after %u seconds", what, timeout);
        return guest_fail(g, err, KILN_EFAIL, "command '%s' could not run in the guest", what);
    }
    log_guest_output(g);
    guestfs_rm_f(g, GUEST_LOG);
    int r = unbind_command_mounts(g, what, err);
    if (r < 0) {
        free(out);
        return r;
    }
    const char *left = strstr(out, "kiln-left:");
    if (left && strtol(left + 10, NULL, 10) > 0)
        kiln_log(KILN_LOG_WARN, "command '%s' left %ld process(es) running in the image; they were stopped",
                 what, strtol(left + 10, NULL, 10));
    const char *s = strstr(out, "kiln-status:");
    long st = -1;
    if (s) {
        char *end;
        errno = 0;
        st = strtol(s + 12, &end, 10);
        if (errno || end == s + 12)
            st = -1;
    }
    free(out);
    if (st == 0)
        return 0;
    if (st < 0)
        return kiln_errf(err, KILN_EFAIL, "command '%s' ended without an exit status", what);
    if (timeout && (st == 124 || st == 137 || (overran && st >= 124)))
        return kiln_errf(err, KILN_EFAIL, "command '%s' timed out after %u seconds", what, timeout);
    if (st == 127)
        return kiln_errf(err, KILN_EFAIL, "command '%s' failed with exit status 127 (not found)", what);
    return kiln_errf(err, KILN_EFAIL, "command '%s' failed with exit status %ld", what, st);
}

int guest_sh(guestfs_h *g, const char *what, const char *cmd, unsigned timeout, struct kiln_err *err)
{
    char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
    return guest_run(g, what, argv, timeout, err);
}
