/* test-ref.c - names, versions, channels, semver order, references, manifests. */
#include "common/common.h"
#include "images/manifest.h"
#include "images/ref.h"
#include "tests/unit/tap.h"

#define HEX "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void test_digests(void)
{
    ok(digest_valid("sha256:" HEX), "a sha256 digest is valid");
    ok(!digest_valid("sha256:" HEX "a"), "a digest one character too long is not");
    ok(!digest_valid("sha256:AAAAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
       "upper case hex is not a digest");
    ok(!digest_valid("sha512:" HEX), "another algorithm is refused");
    ok(!digest_valid("sha256:../../../../etc/passwd"), "a path is not a digest");
    ok(!digest_valid(NULL) && !digest_valid(""), "NULL and empty are not digests");
    is_str(digest_hex("sha256:" HEX), HEX, "digest_hex gives the hex part");
}

static void test_names(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    is_int(ref_check_name("web-1.x_y", &err), 0, "a name with . _ - is fine");
    is_int(ref_check_name("Web", &err), KILN_EINVAL, "upper case is refused");
    has_str(err.msg, "'Web'", "the error names the name");
    is_int(ref_check_name("-web", &err), KILN_EINVAL, "a leading dash is refused");
    is_int(ref_check_name("a/b", &err), KILN_EINVAL, "a slash is refused");
    is_int(ref_check_name("", &err), KILN_EINVAL, "an empty name is refused");
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    is_int(ref_check_name(longname, &err), KILN_EINVAL, "a name over 128 characters is refused");
    is_int(ref_check_channel("stable", &err), 0, "stable is a channel");
    is_int(ref_check_channel("1.0.0", &err), KILN_EINVAL, "a version is not a channel");
    has_str(err.msg, "a version is not a channel", "and the error says why");
    is_int(ref_check_channel("Stable", &err), KILN_EINVAL, "upper case channels are refused");
}

static void test_versions(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    const char *good[] = { "0.0.0", "1.2.3", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha-beta.0a",
                           "1.2.0-nightly.20261123.7" };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        is_int(ref_check_version(good[i], &err), 0, "'%s' is a version", good[i]);
    const char *bad[] = { "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "v1.2.3", "1.2.3-", "1.2.3-01",
                          "1.2.3-a..b", "1.2.3 ", "-1.2.3", "1.2.3-a_b" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        is_int(ref_check_version(bad[i], &err), KILN_EINVAL, "'%s' is not a version", bad[i]);
    is_int(ref_check_version("1.0.0+build.1", &err), KILN_EINVAL, "build metadata is refused");
    has_str(err.msg, "build metadata ('+build.1')", "with a reason naming the part");
    has_str(err.msg, "cannot hold '+'", "and why");
    is_int(ref_check_version("1.0.0-rc.1+exp.sha.5114f85", &err), KILN_EINVAL, "after a prerelease too");
    has_str(err.msg, "build metadata", "for the same reason");
    /* malformed build metadata is not a semantic version at all */
    const char *bad_build[] = { "1.0.0+", "1.0.0+a..b", "1.0.0+a_b", "1.0+b", "1.0.0+a+b" };
    for (size_t i = 0; i < ARRAY_SIZE(bad_build); i++) {
        is_int(ref_check_version(bad_build[i], &err), KILN_EINVAL, "'%s' is refused", bad_build[i]);
        has_str(err.msg, "is not a semantic version", "'%s' as not a semantic version", bad_build[i]);
    }
    is_int(ref_check_version("1.0.0-\x1b[31m", &err), KILN_EINVAL, "a control character is refused");
    ok(!strchr(err.msg, '\x1b'), "and not echoed into the message (%s)", err.msg);
    is_int(ref_check_version("123456789012345678.0.0", &err), 0, "18 digits fit");
    is_int(ref_check_version("1234567890123456789.0.0", &err), KILN_EINVAL, "19 do not");
    is_int(ref_check_auto_base("1.2.0", &err), 0, "an auto base is MAJOR.MINOR.PATCH");
    is_int(ref_check_auto_base("1.2.0-rc.1", &err), KILN_EINVAL, "an auto base has no prerelease");
    is_int(ref_check_auto_base("1.2.0+b", &err), KILN_EINVAL, "nor build metadata");
}

static void test_layout_names(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    const char *good[] = { "latest", "v1.0", "web:1.0.0", "Tag_1", "a/b@c+d:e-f.g" };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        is_int(ref_check_layout_name(good[i], &err), 0, "'%s' is a layout reference name", good[i]);
    const char *bad[] = { "", "a b", ".x", "-x", ":x", "x\ny", "x#y" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        is_int(ref_check_layout_name(bad[i], &err), KILN_EINVAL, "bad layout reference name %zu is refused", i);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    is_int(ref_check_layout_name(longname, &err), KILN_EINVAL, "nor 299 characters");
}

static void test_semver(void)
{
    /* The ordering example from semver.org, ascending. */
    const char *order[] = { "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                            "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0" };
    int good = 1;
    for (size_t i = 0; i < ARRAY_SIZE(order); i++)
        for (size_t j = 0; j < ARRAY_SIZE(order); j++) {
            int c = semver_cmp(order[i], order[j]);
            int want = i < j ? -1 : i > j ? 1 : 0;
            if ((c < 0 ? -1 : c > 0) != want) {
                diag("semver_cmp(%s, %s) = %d", order[i], order[j], c);
                good = 0;
            }
        }
    ok(good, "semver_cmp orders the semver.org example");
    ok(semver_cmp("1.2.0-nightly.20261123.2", "1.2.0-nightly.20261123.10") < 0, "nightly numbers compare as numbers");
    ok(semver_cmp("1.2.0-nightly.20261123.9", "1.2.0-nightly.20261124.1") < 0, "a later day sorts later");
    ok(semver_cmp("1.2.0-nightly.20261123.9", "1.2.0") < 0, "a nightly sorts before its release");
}

static void test_refs(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct image_ref r;
    is_int(image_ref_parse("web", &r, &err), 0, "NAME parses");
    ok(r.kind == REF_LATEST && !strcmp(r.name, "web"), "as the latest version of web");
    image_ref_release(&r);
    is_int(image_ref_parse("web:1.2.3", &r, &err), 0, "NAME:VERSION parses");
    ok(r.kind == REF_VERSION && !strcmp(r.version, "1.2.3"), "as a version");
    image_ref_release(&r);
    is_int(image_ref_parse("web:stable", &r, &err), 0, "NAME:CHANNEL parses");
    ok(r.kind == REF_CHANNEL && !strcmp(r.channel, "stable"), "as a channel");
    image_ref_release(&r);
    is_int(image_ref_parse("web@sha256:" HEX, &r, &err), 0, "NAME@DIGEST parses");
    ok(r.kind == REF_DIGEST && !strcmp(r.digest, "sha256:" HEX), "as a digest");
    image_ref_release(&r);
    is_int(image_ref_parse("web@sha256:../../x", &r, &err), KILN_EINVAL, "a bad digest is refused");
    is_int(image_ref_parse("web:1.2", &r, &err), KILN_EINVAL, "a bad version is refused");
    has_str(err.msg, "image reference 'web:1.2'", "the error names the reference");
    is_int(image_ref_parse("../web:1.0.0", &r, &err), KILN_EINVAL, "a bad name is refused");
    is_int(image_ref_parse("", &r, &err), KILN_EINVAL, "an empty reference is refused");
    is_int(image_ref_parse("web:", &r, &err), KILN_EINVAL, "an empty tag is refused");
    ok(r.name == NULL, "a failed parse leaves nothing to free");
}

static void test_manifest(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct oci_manifest *m = NULL;
    const char *good = "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
                       "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"sha256:" HEX "\",\"size\":2},"
                       "\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_GZIP "\",\"digest\":\"sha256:" HEX "\",\"size\":9}],"
                       "\"annotations\":{\"dev.kiln.files\":\"sha256:" HEX "\"}}";
    is_int(oci_manifest_parse(good, strlen(good), &m, &err), 0, "a manifest parses");
    ok(m && m->kind == OCI_KIND_MANIFEST && m->n_descs == 1 && m->descs[0].size == 9, "with its layer");
    ok(m && m->files_digest && !strcmp(m->files_digest, "sha256:" HEX), "and its file manifest");
    oci_manifest_free(m);
    const char *bad[] = {
        "[]",
        "{\"schemaVersion\":1,\"mediaType\":\"" OCI_MT_MANIFEST "\"}",
        "{\"schemaVersion\":2}",
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"layers\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[{\"mediaType\":\"x/y\","
        "\"digest\":\"sha256:../../etc/passwd\",\"size\":1}]}",
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[{\"mediaType\":\"x/y\","
        "\"digest\":\"sha256:" HEX "\",\"size\":-1}]}",
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[{\"digest\":\"sha256:" HEX "\",\"size\":1}]}",
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[],\"annotations\":{\"dev.kiln.files\":\"x\"}}",
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[],\"annotations\":{\"a\":1}}",
        "{\"schemaVersion\":2,\"schemaVersion\":2}",
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        m = NULL;
        int r = oci_manifest_parse(bad[i], strlen(bad[i]), &m, &err);
        ok(r == KILN_EINVAL && m == NULL, "malformed document %zu is refused (%s)", i, err.msg);
    }
}

int main(void)
{
    tap_tmpdir();
    test_digests();
    test_names();
    test_versions();
    test_layout_names();
    test_semver();
    test_refs();
    test_manifest();
    return tap_done();
}
