/* err.h - kiln's one error type.
 *
 * Every fallible function takes a `struct kiln_err *err` as its last
 * parameter and returns 0 on success or a negative KILN_E* code.  The
 * message is set once, where the failure happens; callers may add
 * context in front with kiln_err_prefix().  Modules never print. */
#ifndef KILN_ERR_H
#define KILN_ERR_H

#include <stddef.h>

enum kiln_code {
    KILN_OK = 0,
    KILN_EFAIL = -1,    /* an operation failed (I/O, tool, guest)         -> exit 1 */
    KILN_EINVAL = -2,   /* invalid input: recipe, argument, archive, key  -> exit 2 */
    KILN_EVERIFY = -3,  /* verification failed                            -> exit 3 */
    KILN_ENOTFOUND = -4,/* a named thing does not exist                   -> exit 1 */
    KILN_EEXIST = -5,   /* a thing that must be new exists already        -> exit 1 */
    KILN_ENOMEM = -6,   /* out of memory                                  -> exit 1 */
};

struct kiln_err {
    int code;
    char msg[512];
};

#define KILN_ERR_INIT { 0, "" }

#if defined(__GNUC__)
#define KILN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KILN_PRINTF(a, b)
#endif

/* Set err (may be NULL) to code and a formatted message; returns code. */
int kiln_errf(struct kiln_err *err, int code, const char *fmt, ...) KILN_PRINTF(3, 4);

/* Like kiln_errf, with ": strerror(errnum)" appended. */
int kiln_errno(struct kiln_err *err, int code, int errnum, const char *fmt, ...) KILN_PRINTF(4, 5);

/* Put "prefix: " in front of the current message; returns err->code. */
int kiln_err_prefix(struct kiln_err *err, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Reset err to KILN_OK with an empty message. */
void kiln_err_clear(struct kiln_err *err);

/* Untrusted text made fit for a message: control characters become '?',
 * and text longer than out can hold is cut with "...".  Writes into out
 * (outsz >= 8) and returns it. */
const char *kiln_err_shown(const char *s, size_t len, char *out, size_t outsz);

/* The process exit status for a code: 0, 1, 2 or 3. */
int kiln_exit_status(int code);

#endif
