#include "common/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/banned.h"

int run_have(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    _cleanup_free_ char *copy = xstrdup(path);
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        _cleanup_free_ char *p = xasprintf("%s/%s", d, prog);
        if (access(p, X_OK) == 0)
            return 1;
    }
    return 0;
}

static void flush_lines(struct buf *line, int final)
{
    char *start = line->data;
    char *nl;
    while ((nl = memchr(start, '\n', line->len - (size_t)(start - line->data)))) {
        *nl = '\0';
        kiln_log(KILN_LOG_INFO, "%s", start);
        start = nl + 1;
    }
    size_t rest = line->len - (size_t)(start - line->data);
    if (final && rest) {
        kiln_log(KILN_LOG_INFO, "%.*s", (int)rest, start);
        rest = 0;
        start = line->data + line->len;
    }
    memmove(line->data, start, rest);
    line->len = rest;
    if (line->cap)
        line->data[rest] = '\0';
}

/* The process groups of the children running now, for run_kill_all(). */
#define RUN_LIVE_MAX 64
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t live[RUN_LIVE_MAX];

static void live_set(pid_t old, pid_t now)
{
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < RUN_LIVE_MAX; i++)
        if (live[i] == old) {
            live[i] = now;
            break;
        }
    pthread_mutex_unlock(&live_lock);
}

void run_kill_all(void)
{
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < RUN_LIVE_MAX; i++)
        if (live[i] > 0) {
            kill(-live[i], SIGKILL);
            kill(live[i], SIGKILL);
        }
    pthread_mutex_unlock(&live_lock);
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In a forked child: its own process group, stdin on in_fd (-1: /dev/null),
 * stdout and stderr on out_fd and err_fd (-1: /dev/null; err_fd -2:
 * inherited), then exec.  Never returns. */
static _Noreturn void child_exec(char *const argv[], int in_fd, int out_fd, int err_fd, const char *cwd,
                                 char *const *envp)
{
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDWR);
    if (in_fd >= 0)
        dup2(in_fd, 0);
    if (devnull >= 0) {
        if (in_fd < 0)
            dup2(devnull, 0);
        if (out_fd < 0)
            dup2(devnull, 1);
        if (err_fd == -1)
            dup2(devnull, 2);
    }
    if (out_fd >= 0)
        dup2(out_fd, 1);
    if (err_fd >= 0)
        dup2(err_fd, 2);
    if (cwd && chdir(cwd) < 0)
        _exit(126);
    if (envp)
        execvpe(argv[0], argv, envp);
    else
        execvp(argv[0], argv);
    dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int wait_status(int ws)
{
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int run_start(char *const argv[], int keep_stderr, struct run_child *c, struct kiln_err *err)
{
    memset(c, 0, sizeof(*c));
    pid_t pid = fork();
    if (pid < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot fork for '%s'", argv[0]);
    if (pid == 0)
        child_exec(argv, -1, -1, keep_stderr ? -2 : -1, NULL, NULL);
    live_set(0, pid);
    c->pid = pid;
    return 0;
}

int run_exited(struct run_child *c)
{
    if (c->done)
        return 1;
    int ws = 0;
    if (waitpid(c->pid, &ws, WNOHANG) != c->pid)
        return 0;
    live_set(c->pid, 0);
    c->done = 1;
    c->status = wait_status(ws);
    return 1;
}

void run_stop(struct run_child *c)
{
    if (c->done || c->pid <= 0)
        return;
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
    int ws = 0;
    while (waitpid(c->pid, &ws, 0) < 0 && errno == EINTR)
        ;
    live_set(c->pid, 0);
    c->done = 1;
    c->status = wait_status(ws);
}

int run_argv(char *const argv[], const struct run_opts *opts, int *status, struct kiln_err *err)
{
    struct run_opts none = { 0 };
    if (!opts)
        opts = &none;
    /* standard input is written whole into its pipe before the fork: it
     * fits in the pipe's buffer, and no write can meet a reader that left */
    _cleanup_close_ int in_fd = -1;
    if (opts->in) {
        size_t n = strlen(opts->in);
        int inpipe[2];
        if (n > 4096)
            return kiln_errf(err, KILN_EINVAL, "standard input for '%s' is longer than 4 KiB", argv[0]);
        if (pipe2(inpipe, O_CLOEXEC) < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot create a pipe for '%s'", argv[0]);
        ssize_t w = write(inpipe[1], opts->in, n);
        close(inpipe[1]);
        if (w != (ssize_t)n) {
            close(inpipe[0]);
            return kiln_errno(err, KILN_EFAIL, w < 0 ? errno : EIO, "cannot write the input of '%s'", argv[0]);
        }
        in_fd = inpipe[0];
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create a pipe for '%s'", argv[0]);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return kiln_errno(err, KILN_EFAIL, errno, "cannot fork for '%s'", argv[0]);
    }
    if (pid == 0)
        child_exec(argv, in_fd, pipefd[1], opts->out_only ? -1 : pipefd[1], opts->cwd, opts->envp);
    live_set(0, pid);
    close(pipefd[1]);
    struct buf line = BUF_INIT;
    buf_init(&line, 0);
    double deadline = opts->timeout_sec ? now_sec() + opts->timeout_sec : 0;
    int timed_out = 0;
    int overflow = 0;
    char chunk[8192];
    for (;;) {
        int wait_ms = -1;
        if (deadline) {
            double left = deadline - now_sec();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            wait_ms = (int)(left * 1000) + 1;
        }
        struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
        int pr = poll(&p, 1, wait_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        ssize_t n = read(pipefd[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (opts->out && !overflow && buf_add(opts->out, chunk, (size_t)n, NULL) < 0)
            overflow = 1;
        if (opts->log_lines) {
            buf_add(&line, chunk, (size_t)n, NULL);
            flush_lines(&line, 0);
        }
    }
    close(pipefd[0]);
    if (opts->log_lines)
        flush_lines(&line, 1);
    buf_release(&line);
    if (timed_out)
        kill(-pid, SIGKILL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    live_set(pid, 0);
    if (timed_out)
        return kiln_errf(err, KILN_EFAIL, "'%s' timed out after %u seconds", argv[0], opts->timeout_sec);
    int st = wait_status(ws);
    if (status) {
        *status = st;
        return 0;
    }
    if (st == 127)
        return kiln_errf(err, KILN_EFAIL, "cannot run '%s': not found", argv[0]);
    if (st != 0)
        return kiln_errf(err, KILN_EFAIL, "'%s' failed with exit status %d", argv[0], st);
    return 0;
}
