#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_msg(struct kiln_err *err, int code, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int kiln_errf(struct kiln_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        set_msg(err, code, fmt, ap);
        va_end(ap);
    }
    return code;
}

int kiln_errno(struct kiln_err *err, int code, int errnum, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        set_msg(err, code, fmt, ap);
        va_end(ap);
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
    }
    return code;
}

int kiln_err_prefix(struct kiln_err *err, const char *fmt, ...)
{
    if (!err)
        return KILN_EFAIL;
    char prefix[256];
    char old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    return err->code;
}

void kiln_err_clear(struct kiln_err *err)
{
    if (err) {
        err->code = KILN_OK;
        err->msg[0] = '\0';
    }
}

const char *kiln_err_shown(const char *s, size_t len, char *out, size_t outsz)
{
    /* all of it when it fits, else as much as fits before "..." */
    size_t keep = len < outsz ? len : outsz - 4;
    size_t o = 0;
    for (size_t i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (keep < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

int kiln_exit_status(int code)
{
    switch (code) {
    case KILN_OK:
        return 0;
    case KILN_EINVAL:
        return 2;
    case KILN_EVERIFY:
        return 3;
    default:
        return 1;
    }
}
