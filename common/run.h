/* run.h - run a program from an argv vector (never a shell string).
 *
 * Output (stdout and stderr together) is captured into `out` when it is
 * non-NULL (bounded by out->limit) and, when log_lines is set, each line
 * is passed to kiln_log(KILN_LOG_INFO, ...).  A timeout of 0 means none;
 * on timeout the process group is killed and KILN_EFAIL returned. */
#ifndef KILN_RUN_H
#define KILN_RUN_H

#include "common/buf.h"
#include "common/err.h"

struct run_opts {
    struct buf *out;        /* may be NULL */
    int log_lines;          /* forward output lines to the log */
    unsigned timeout_sec;   /* 0 = no timeout */
    const char *cwd;        /* may be NULL */
    char *const *envp;      /* NULL = inherit */
};

/* Runs argv[0] (looked up in PATH).  Returns 0 and sets *status to the exit
 * status (or 128+signal) when the program ran; a negative code when it could
 * not be started or timed out.  status may be NULL: then a non-zero exit is
 * an error naming the program and its status. */
int run_argv(char *const argv[], const struct run_opts *opts, int *status, struct kiln_err *err);

/* 1 if an executable named prog is on PATH. */
int run_have(const char *prog);

#endif
