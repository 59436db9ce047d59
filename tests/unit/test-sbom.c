/* test-sbom.c - sbom/: the dpkg status parser's hostile-input checks, the
 * license expressions, ownership through a merged /usr, the purl, and
 * deterministic documents. */
#include "tap.h"

#include "common/common.h"
#include "sbom/sbom.h"
#include "tree/tree.h"

static struct tree *new_tree(void)
{
    struct tree *t = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    if (tree_new(".", NULL, &t, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    return t;
}

static void add_file(struct tree *t, const char *path, const char *data, size_t len)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct tree_entry *e = NULL;
    struct tree_new_entry ne = { .path = path, .type = TREE_FILE, .mode = 0644 };
    if (tree_add(t, "test", &ne, &e, &err) < 0 || tree_set_inline(t, e, data, len, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
}

static void add_text(struct tree *t, const char *path, const char *text)
{
    add_file(t, path, text, strlen(text));
}

static void add_link(struct tree *t, const char *path, const char *target)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct tree_new_entry ne = { .path = path, .type = TREE_SYMLINK, .mode = 0777, .link_target = target };
    if (tree_add(t, "test", &ne, NULL, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
}

/* sbom_read() of a tree whose status file is `status` (len bytes). */
static int read_status(const char *status, size_t len, struct kiln_err *err)
{
    struct tree *t = new_tree();
    add_file(t, "/var/lib/dpkg/status", status, len);
    struct sbom *s = NULL;
    int r = sbom_read(t, &s, err);
    sbom_free(s);
    tree_free(t);
    return r;
}

#define STATUS_OK(name) "Package: " name "\nStatus: install ok installed\nVersion: 1.0\nArchitecture: all\n"

static void test_hostile(void)
{
    static const struct {
        const char *status, *want, *what;
    } cases[] = {
        { "Package: a1\nStatus: install ok installed\nno colon here\n", "status:3: expected 'Field: value'",
          "a line that is no field" },
        { " leading continuation\n", "status:1: continuation line outside a field", "a continuation first" },
        { "Status: install ok installed\nVersion: 1\n", "status:1: paragraph without a Package field",
          "no Package" },
        { STATUS_OK("a1") "\n" STATUS_OK("a1"), "package 'a1' of architecture 'all' is listed twice",
          "a package twice" },
        { "Package: A_1\nStatus: install ok installed\n", "invalid package name 'A_1'", "a bad name" },
        { "Package: a1\nStatus: install ok installed\nVersion: 1;rm\nArchitecture: all\n",
          "package 'a1' has an invalid version '1;rm'", "a bad version" },
        { "Package: a1\nStatus: install ok installed\nVersion: 1\n", "package 'a1' has no architecture",
          "no architecture" },
        { "Package: a1\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nSource: b (1\n",
          "is not 'NAME (VERSION)'", "a bad Source" },
        { "Package: a1\nPackage: a2\n", "field 'Package' given twice", "a field twice" },
        { "Package: a1\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nDescription: \xff\n",
          "not valid UTF-8", "invalid UTF-8" },
        { "Package: a1\nVersion: 1\nArchitecture: all\n", "package 'a1' has no Status field", "no Status" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct kiln_err err = KILN_ERR_INIT;
        int r = read_status(cases[i].status, strlen(cases[i].status), &err);
        is_int(r, KILN_EINVAL, "%s is refused", cases[i].what);
        has_str(err.msg, cases[i].want, "%s: the message says where and what", cases[i].what);
    }
    struct kiln_err err = KILN_ERR_INIT;
    is_int(read_status("Package: a1\0x\n", 14, &err), KILN_EINVAL, "a NUL byte is refused");
    has_str(err.msg, "NUL", "and named");

    size_t big = SBOM_MAX_STATUS_BYTES + 1;
    char *huge = xmalloc(big);
    memset(huge, '\n', big);
    is_int(read_status(huge, big, &err), KILN_EINVAL, "a status file over the limit is refused");
    has_str(err.msg, "more than", "saying the limit");
    free(huge);

    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i <= SBOM_MAX_PACKAGES; i++)
        buf_addf(&b, NULL, "Package: p%d\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n", i);
    is_int(read_status(b.data, b.len, &err), KILN_EINVAL, "more packages than the limit are refused");
    has_str(err.msg, "more than 65536 packages", "saying so");
    buf_release(&b);

    const char *removed = "Package: gone\nStatus: purge ok not-installed\n\n"
                          "Package: conf\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: all\n";
    is_int(read_status(removed, strlen(removed), &err), 0, "purged and config-files packages need no more");
}

static void test_documents(void)
{
    struct tree *t = new_tree();
    add_link(t, "/bin", "usr/bin");
    add_text(t, "/usr/bin/tool", "tool\n");
    add_text(t, "/usr/bin/tool.distrib", "diverted\n");
    add_text(t, "/etc/mine", "mine\n");
    add_text(t, "/etc/os-release", "# comment\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME='Debian 12'\n");
    add_text(t, "/var/lib/dpkg/status",
             "Package: libstdc++6\nStatus: install ok installed\nArchitecture: amd64\nSource: gcc-12 (12.2.0-14)\n"
             "Version: 12.2.0-14\n\nPackage: tool\nStatus: install ok installed\nArchitecture: amd64\n"
             "Version: 2:1.0~rc1-1\n");
    add_text(t, "/var/lib/dpkg/info/tool.list", "/.\n/bin\n/bin/tool\n/usr/share/doc/tool/copyright\n");
    add_text(t, "/var/lib/dpkg/diversions", "/usr/bin/tool\n/usr/bin/tool.distrib\ntool\n");
    add_text(t, "/usr/share/doc/tool/copyright",
             "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
             "Files: *\nLicense: GPL-2+ with OpenSSL exception\n\nFiles: x/*\nLicense: Expat\n\n"
             "Files: y/*\nLicense: Bad License (text)\n");
    struct sbom *s = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    ok(sbom_read(t, &s, &err) == 0, "a small root reads: %s", err.msg);
    is_int(sbom_package_count(s), 2, "two packages");
    /* /etc/mine, os-release, the status, the list, the diversions (the copyright is tool's). */
    is_int(sbom_unowned_count(s), 5, "/usr/bin/tool is owned through /bin, tool.distrib by the diversion");
    struct sbom_doc_opts o = { "img", "1.0.0", 86400 };
    json_t *a = sbom_spdx(s, &o), *c = sbom_cyclonedx(s, &o);
    char *as = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS), *cs = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    has_str(as, "\"referenceLocator\":\"pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12\"",
            "the purl percent-encodes '+' in the name");
    has_str(as, "pkg:deb/debian/tool@2:1.0~rc1-1?arch=amd64&distro=debian-12", "and keeps the epoch's ':'");
    has_str(as, "\"licenseDeclared\":\"LicenseRef-GPL-2plus-with-OpenSSL-exception AND MIT\"",
            "Expat is MIT, an exception becomes one LicenseRef");
    has_str(as, "\"licenseId\":\"LicenseRef-GPL-2plus-with-OpenSSL-exception\"", "which the document defines");
    ok(!strstr(as, "LicenseRef-Bad"), "a License field that is no expression adds nothing");
    has_str(as, "built from Debian source package gcc-12, version 12.2.0-14", "the source package");
    has_str(as, "\"created\":\"1970-01-02T00:00:00Z\"", "created is SOURCE_DATE_EPOCH");
    has_str(cs, "\"type\":\"operating-system\"", "the OS component");
    has_str(cs, "\"serialNumber\":\"urn:uuid:", "a serial number");

    /* The same tree, read again: the same bytes. */
    struct sbom *s2 = NULL;
    ok(sbom_read(t, &s2, &err) == 0, "read again");
    json_t *a2 = sbom_spdx(s2, &o);
    char *as2 = json_dumps(a2, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(as2, as, "the same tree gives the same document");
    free(as);
    free(cs);
    free(as2);
    json_decref(a);
    json_decref(a2);
    json_decref(c);
    sbom_free(s);
    sbom_free(s2);
    tree_free(t);
}

static void test_os_release(void)
{
    struct tree *t = new_tree();
    add_text(t, "/etc/os-release", "ID=debian\nVERSION_ID=\"12\nNAME=x\n");
    struct sbom *s = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    is_int(sbom_read(t, &s, &err), KILN_EINVAL, "an unterminated quote in os-release is refused");
    has_str(err.msg, "/etc/os-release:2: malformed value", "naming the line");
    tree_free(t);

    t = new_tree();
    add_text(t, "/etc/mine", "x");
    ok(sbom_read(t, &s, &err) == 0 && sbom_package_count(s) == 0 && sbom_unowned_count(s) == 1,
       "a root without dpkg nor os-release has every file unowned");
    struct sbom_doc_opts o = { "img", "1.0.0", 0 };
    json_t *c = sbom_cyclonedx(s, &o);
    char *cs = json_dumps(c, JSON_COMPACT);
    ok(cs && !strstr(cs, "operating-system"), "and no OS component");
    free(cs);
    json_decref(c);
    sbom_free(s);
    tree_free(t);
}

int main(void)
{
    tap_tmpdir();
    test_hostile();
    test_documents();
    test_os_release();
    return tap_done();
}
