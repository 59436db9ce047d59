/* test-debian-mirror.c - the parts of a Debian mirror's state that need no network. */
#include <string.h>

#include "builder/debian-mirror.h"
#include "tests/unit/tap.h"

static void test_url(void)
{
    char *u = debian_mirror_url("http://snapshot.debian.org/archive/debian/{timestamp}/", "20250520T000000Z");
    is_str(u, "http://snapshot.debian.org/archive/debian/20250520T000000Z", "the snapshot fills {timestamp}");
    free(u);
    u = debian_mirror_url("http://deb.debian.org/debian//", NULL);
    is_str(u, "http://deb.debian.org/debian", "a trailing slash goes");
    free(u);
}

static void test_status(void)
{
    static const char status[] =
        "Package: libc6\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n"
        "Multi-Arch: same\nVersion: 2.36-9+deb12u4\nDescription: GNU C Library\n continued line\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\n"
        "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n\n"
        "Package: half\nStatus: install ok unpacked\nArchitecture: all\nVersion: 2\n\n"
        "Package: held\nStatus: hold ok installed\nArchitecture: all\nVersion: 1:3.0~rc1\n";
    struct debian_pkg *p = NULL;
    size_t n = 0;
    struct kiln_err err = KILN_ERR_INIT;
    is_int(debian_dpkg_status(status, strlen(status), &p, &n, &err), 0, "a dpkg status file parses");
    is_int(n, 3, "only installed packages count (not config-files, not unpacked)");
    if (n == 3) {
        is_str(p[0].name, "base-files", "sorted by name");
        is_str(p[1].name, "held", "a held package is installed");
        is_str(p[1].version, "1:3.0~rc1", "with its epoch");
        is_str(p[2].name, "libc6", "the last");
        is_str(p[2].arch, "amd64", "its architecture");
        is_str(p[2].sha256, "", "no digest before resolving");
        char *purl = debian_purl(&p[1]);
        is_str(purl, "pkg:deb/debian/held@1%3A3.0~rc1?arch=all", "a purl encodes the epoch's colon");
        free(purl);
        purl = debian_purl(&p[2]);
        is_str(purl, "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64", "and '+'");
        free(purl);
    }
    debian_pkgs_free(p, n);
    is_int(debian_dpkg_status("", 0, &p, &n, &err), 0, "an empty status file");
    is_int(n, 0, "has no packages");
    debian_pkgs_free(p, n);
}

static void test_unreachable(void)
{
    struct recipe_base b;
    memset(&b, 0, sizeof(b));
    b.suite = "bookworm";
    b.mirror = "file:///nonexistent/kiln/mirror";
    struct debian_mirror *m = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    is_int(debian_mirror_check(&b, "/nonexistent.gpg", ".", &m, &err), KILN_EINVAL,
           "a mirror without the suite is invalid input");
    has_str(err.msg, "suite 'bookworm' is not on the mirror 'file:///nonexistent/kiln/mirror'", "and says so");
    ok(m == NULL, "nothing is returned");
    b.snapshot = "20250101T000000Z";
    b.mirror = "file:///nonexistent/{timestamp}";
    is_int(debian_mirror_check(&b, "/nonexistent.gpg", ".", &m, &err), KILN_EINVAL, "a missing snapshot");
    has_str(err.msg, "snapshot '20250101T000000Z' does not exist", "is named");
}

int main(void)
{
    tap_tmpdir();
    test_url();
    test_status();
    test_unreachable();
    return tap_done();
}
