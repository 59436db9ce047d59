/* test-drift.c - drift.ignore patterns: matching and validation. */
#include <string.h>

#include "common/common.h"
#include "fleet/drift.h"
#include "tap.h"
#include "common/banned.h"

static void test_match(void)
{
    ok(drift_match("/var/log/**", "/var/log/syslog"), "/var/log/** matches a file in /var/log");
    ok(drift_match("/var/log/**", "/var/log/journal/abc/system.journal"), "and one deeper down");
    ok(!drift_match("/var/log/**", "/var/log"), "but not /var/log itself: its removal is drift");
    ok(!drift_match("/var/log/**", "/var/logs/x"), "nor a sibling sharing a prefix");
    ok(drift_match("/etc/ssh/ssh_host_*", "/etc/ssh/ssh_host_ed25519_key.pub"), "* matches within a component");
    ok(!drift_match("/etc/ssh/ssh_host_*", "/etc/ssh/ssh_host_x/y"), "but never across a slash");
    ok(drift_match("/home/**/.cache/**", "/home/ann/.cache/f"), "** in the middle matches one component");
    ok(drift_match("/home/**/.cache/**", "/home/.cache/f"), "or none");
    ok(drift_match("/home/**/.cache/**", "/home/a/b/c/.cache/d/e"), "or many");
    ok(!drift_match("/home/**/.cache/**", "/home/a/cache/d"), "but the named component must be there");
    ok(drift_match("/etc/machine-id", "/etc/machine-id"), "a plain path matches itself");
    ok(!drift_match("/etc/machine-id", "/etc/machine-id.old"), "and nothing longer");
    ok(drift_match("/srv/?.db", "/srv/a.db") && !drift_match("/srv/?.db", "/srv/ab.db"), "? is one character");
    ok(!drift_match("var/log/**", "/var/log/x"), "a relative pattern matches nothing");
    int defaults = 0;
    for (const char *const *p = drift_default_ignore; *p; p++)
        defaults += drift_match(*p, "/var/lib/systemd/random-seed") || drift_match(*p, "/etc/machine-id");
    is_int(defaults, 2, "the defaults cover systemd's random seed and the machine ID");
    int etc = 0;
    for (const char *const *p = drift_default_ignore; *p; p++)
        etc += drift_match(*p, "/etc/passwd") || drift_match(*p, "/usr/bin/sudo") || drift_match(*p, "/root/.ssh/authorized_keys");
    is_int(etc, 0, "but never /etc/passwd, a binary or root's authorized keys");
}

static void test_check(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    is_int(drift_pattern_check("/var/log/**", "t", &err), 0, "an absolute pattern is fine");
    is_int(drift_pattern_check("var/log", "t", &err), KILN_EINVAL, "a relative pattern is refused");
    has_str(err.msg, "is not an absolute path", "with the reason");
    is_int(drift_pattern_check("/var/../etc", "t", &err), KILN_EINVAL, "a .. component is refused");
    is_int(drift_pattern_check("/var//log", "t", &err), KILN_EINVAL, "an empty component is refused");
    is_int(drift_pattern_check("/var/./log", "t", &err), KILN_EINVAL, "a . component is refused");
    is_int(drift_pattern_check("/var/\nlog", "t", &err), KILN_EINVAL, "a control character is refused");
    is_int(drift_pattern_check("/", "t", &err), KILN_EINVAL, "the bare root is refused");
    char *longp = xmalloc(5000);
    memset(longp, 'a', 4999);
    longp[0] = '/';
    longp[4999] = '\0';
    is_int(drift_pattern_check(longp, "t", &err), KILN_EINVAL, "a pattern longer than 4096 bytes is refused");
    free(longp);
}

int main(void)
{
    tap_tmpdir();
    test_match();
    test_check();
    return tap_done();
}
