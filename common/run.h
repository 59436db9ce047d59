/* run.h - run a program from an argv vector (never a shell string).
 *
 * Output (stdout and stderr together) is captured into `out` when it is
 * non-NULL (bounded by out->limit) and, when log_lines is set, each line
 * is passed to kiln_log(KILN_LOG_INFO, ...).  A timeout of 0 means none;
 * on timeout the process group is killed and KILN_EFAIL returned. */
#ifndef KILN_RUN_H
#define KILN_RUN_H

#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"

struct run_opts {
    struct buf *out;        /* may be NULL */
    int log_lines;          /* forward output lines to the log */
    unsigned timeout_sec;   /* 0 = no timeout */
    const char *cwd;        /* may be NULL */
    char *const *envp;      /* NULL = inherit */
    const char *in;         /* run_argv: standard input (at most 4 KiB), else /dev/null */
    int out_only;           /* run_argv: capture standard output only; stderr goes to /dev/null */
};

/* Runs argv[0] (looked up in PATH).  Returns 0 and sets *status to the exit
 * status (or 128+signal) when the program ran; a negative code when it could
 * not be started or timed out.  status may be NULL: then a non-zero exit is
 * an error naming the program and its status. */
int run_argv(char *const argv[], const struct run_opts *opts, int *status, struct kiln_err *err);

/* 1 if an executable named prog is on PATH (the lookup execvp() makes). */
int run_have(const char *prog);

/* A program running in the background, for watching something it writes
 * (a VM's serial console) while it runs.  Embedded, filled by run_start(). */
struct run_child {
    pid_t pid;
    int done;     /* it has exited and been reaped */
    int status;   /* once done: the exit status, or 128+signal (127: could not be run) */
};

/* Starts argv[0] (looked up in PATH) in its own process group with stdin and
 * stdout on /dev/null, and stderr too unless keep_stderr. */
int run_start(char *const argv[], int keep_stderr, struct run_child *c, struct kiln_err *err);
/* 1 once the child has exited (c->status set), else 0; never blocks. */
int run_exited(struct run_child *c);
/* Kills the child's process group unless it has exited, and reaps it. */
void run_stop(struct run_child *c);

/* Kills the process group of every child run_argv() or run_start() runs
 * now (SIGKILL), so that a command stopped by a signal leaves no
 * mmdebstrap, qemu or tar of its own behind.  Reaps nothing. */
void run_kill_all(void);

#endif
