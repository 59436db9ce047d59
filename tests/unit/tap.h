/* tap.h - a tiny TAP producer for unit tests, read by prove.
 *
 *   int main(void) { tap_tmpdir(); ok(1 + 1 == 2, "adds"); return tap_done(); }
 *
 * Each test program runs in a fresh temporary directory (tap_tmpdir()),
 * removed at tap_done() when every test passed. */
#ifndef KILN_TAP_H
#define KILN_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"

static int tap_n, tap_failed;
static char *tap_dir;

__attribute__((unused)) static int ok_(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(a, b, ...) do { long long a_ = (a), b_ = (b); \
    if (!ok(a_ == b_, __VA_ARGS__)) printf("#   got %lld, want %lld\n", a_, b_); } while (0)
#define is_str(a, b, ...) do { const char *a_ = (a), *b_ = (b); \
    if (!ok(a_ && b_ && strcmp(a_, b_) == 0, __VA_ARGS__)) \
        printf("#   got '%s'\n#  want '%s'\n", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)
#define has_str(hay, needle, ...) do { const char *h_ = (hay), *n_ = (needle); \
    if (!ok(h_ && strstr(h_, n_), __VA_ARGS__)) \
        printf("#   '%s'\n#   does not contain '%s'\n", h_ ? h_ : "(null)", n_); } while (0)
#define diag(...) do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

/* Moves into a fresh temporary directory; returns its path. */
__attribute__((unused)) static const char *tap_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !base[0])
        base = "/tmp";
    if (fs_mkdtemp(base, "kiln-unit-", &tap_dir, NULL) < 0 || chdir(tap_dir) < 0) {
        printf("Bail out! cannot create a temporary directory\n");
        exit(1);
    }
    return tap_dir;
}

__attribute__((unused)) static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    if (tap_dir) {
        if (!tap_failed) {
            if (chdir("/") == 0)
                fs_rm_rf(tap_dir, NULL);
        } else {
            printf("# kept %s\n", tap_dir);
        }
        free(tap_dir);
    }
    return tap_failed ? 1 : 0;
}

#endif
