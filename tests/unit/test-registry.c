/* test-registry.c - what registry/ parses from outside: DEST, SRC, WWW-Authenticate
 * challenges, the registry's error bodies and docker config.json credentials. */
#include <sys/stat.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "registry/registry.h"
#include "tests/unit/tap.h"

static void test_dest(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct registry_ref r;
    is_int(registry_ref_parse("127.0.0.1:5000/team/app:1.0.0", 0, &r, &err), 0, "host:port/repo:tag parses");
    is_str(r.host, "127.0.0.1:5000", "the host keeps its port");
    is_str(r.repo, "team/app", "the repository has its path");
    is_str(r.tag, "1.0.0", "the tag is after the last colon");
    ok(!r.plain_http, "HTTPS by default");
    registry_ref_release(&r);

    is_int(registry_ref_parse("http://localhost/app", 0, &r, &err), 0, "an http:// DEST parses");
    ok(r.plain_http && r.tag == NULL, "http:// means plain HTTP; no tag is NULL");
    registry_ref_release(&r);
    is_int(registry_ref_parse("registry.example/a/b", 1, &r, &err), 0, "plain HTTP can be asked for");
    ok(r.plain_http, "and is kept");
    registry_ref_release(&r);

    is_int(registry_ref_parse("https://h/app", 1, &r, &err), KILN_EINVAL, "https:// with plain HTTP is refused");
    is_int(registry_ref_parse("app", 0, &r, &err), KILN_EINVAL, "a DEST without a repository is refused");
    has_str(err.msg, "HOST[:PORT]/REPOSITORY", "and the error says what a DEST is");
    is_int(registry_ref_parse("h/App", 0, &r, &err), KILN_EINVAL, "upper case in the repository is refused");
    is_int(registry_ref_parse("h/a//b", 0, &r, &err), KILN_EINVAL, "an empty path component is refused");
    is_int(registry_ref_parse("h/a-/b", 0, &r, &err), KILN_EINVAL, "a component ending in '-' is refused");
    is_int(registry_ref_parse("h/a__b.c-d", 0, &r, &err), 0, "'__', '.' and '-' separators are fine");
    registry_ref_release(&r);
    is_int(registry_ref_parse("h/a...b", 0, &r, &err), KILN_EINVAL, "'...' is refused");
    is_int(registry_ref_parse("h/a:-x", 0, &r, &err), KILN_EINVAL, "a tag starting with '-' is refused");
    has_str(err.msg, "'-x'", "and the error names the tag");
    is_int(registry_ref_parse("h/a@sha256:00", 0, &r, &err), KILN_EINVAL, "a digest DEST is refused");
    is_int(registry_ref_parse("h o/a", 0, &r, &err), KILN_EINVAL, "a space in the host is refused");
    ok(registry_tag_valid("1.0.0-rc.1") && registry_tag_valid("_x"), "versions and '_' tags are tags");
    ok(!registry_tag_valid("1.0.0+b") && !registry_tag_valid(""), "'+' and empty are not");
}

static void test_src(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct registry_ref r;
    char src[160];
    const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    snprintf(src, sizeof(src), "127.0.0.1:5000/team/app@%s", d);
    is_int(registry_src_parse(src, 0, &r, &err), 0, "a SRC with a digest parses");
    is_str(r.digest, d, "the digest is kept");
    ok(r.tag == NULL && !strcmp(r.repo, "team/app"), "no tag; the repository stops at '@'");
    registry_ref_release(&r);
    snprintf(src, sizeof(src), "h/app:1.0.0@%s", d);
    is_int(registry_src_parse(src, 0, &r, &err), 0, "a SRC with a tag and a digest parses");
    ok(r.tag && !strcmp(r.tag, "1.0.0") && r.digest && !strcmp(r.digest, d), "both are kept");
    registry_ref_release(&r);
    is_int(registry_src_parse("h/app:stable", 0, &r, &err), 0, "a SRC with a tag parses");
    ok(r.digest == NULL, "without a digest, digest is NULL");
    registry_ref_release(&r);
    is_int(registry_src_parse("h/app", 0, &r, &err), KILN_EINVAL, "a SRC with neither is refused");
    has_str(err.msg, "names no tag and no digest", "and the error says so");
    is_int(registry_src_parse("h/app@sha256:ABC", 0, &r, &err), KILN_EINVAL, "a malformed digest is refused");
    has_str(err.msg, "is not a digest", "naming it");
    is_int(registry_src_parse("h/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/x", 0,
                              &r, &err), KILN_EINVAL, "anything after the digest is refused");
    is_int(registry_src_parse("app:1.0.0", 0, &r, &err), KILN_EINVAL, "a SRC without a host is refused");
    has_str(err.msg, "source 'app:1.0.0'", "and the error calls it the source");
}

static void test_challenge(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct registry_challenge c;
    is_int(registry_challenge_parse("Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
                                    "scope=\"repository:team/app:pull,push\"", &c, &err), 0,
           "a Bearer challenge parses");
    is_str(c.scheme, "Bearer", "scheme");
    is_str(c.realm, "https://auth.example/token", "realm");
    is_str(c.service, "registry.example", "service");
    is_str(c.scope, "repository:team/app:pull,push", "scope with a comma inside quotes");
    registry_challenge_release(&c);

    is_int(registry_challenge_parse("Basic realm=\"kiln-test\"", &c, &err), 0, "a Basic challenge parses");
    is_str(c.scheme, "Basic", "scheme Basic");
    is_str(c.realm, "kiln-test", "its realm");
    registry_challenge_release(&c);

    is_int(registry_challenge_parse("Basic realm=\"x\", Bearer realm=\"https://t/\", error=\"insufficient_scope\"",
                                    &c, &err), 0, "two challenges in one header parse");
    is_str(c.scheme, "Bearer", "Bearer is preferred over Basic");
    is_str(c.error, "insufficient_scope", "the error parameter is kept");
    registry_challenge_release(&c);

    is_int(registry_challenge_parse("bearer realm=https://t/token , service = reg", &c, &err), 0,
           "unquoted values, spaces and lower-case schemes parse");
    is_str(c.realm, "https://t/token", "unquoted realm");
    is_str(c.service, "reg", "unquoted service");
    registry_challenge_release(&c);

    is_int(registry_challenge_parse("Bearer realm=\"a\\\"b\"", &c, &err), 0, "an escaped quote parses");
    is_str(c.realm, "a\"b", "and is unescaped");
    registry_challenge_release(&c);

    is_int(registry_challenge_parse("Bearer service=\"x\"", &c, &err), KILN_EINVAL, "Bearer without a realm is refused");
    has_str(err.msg, "without a realm", "and says so");
    is_int(registry_challenge_parse("Negotiate abc", &c, &err), KILN_EINVAL, "an unsupported scheme is refused");
    is_int(registry_challenge_parse("Bearer realm=\"unterminated", &c, &err), KILN_EINVAL,
           "an unterminated quoted string is refused");
    is_int(registry_challenge_parse("Bearer realm=\"x\" junk", &c, &err), KILN_EINVAL,
           "garbage after a parameter is refused");
    is_int(registry_challenge_parse("", &c, &err), KILN_EINVAL, "an empty header is refused");
    is_int(registry_challenge_parse(NULL, &c, &err), KILN_EINVAL, "a missing header is refused");
}

static void test_error_body(void)
{
    const char *b = "{\"errors\":[{\"code\":\"MANIFEST_INVALID\",\"message\":\"manifest invalid\",\"detail\":{}}]}";
    char *m = registry_error_body_message(b, strlen(b));
    is_str(m, "MANIFEST_INVALID: manifest invalid", "one error is CODE: message");
    free(m);
    b = "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"no\"},{\"code\":\"UNAUTHORIZED\"},{\"code\":\"A\"},{\"code\":\"B\"}]}";
    m = registry_error_body_message(b, strlen(b));
    is_str(m, "DENIED: no; UNAUTHORIZED; A", "up to three errors, joined");
    free(m);
    b = "404 page not found";
    ok(registry_error_body_message(b, strlen(b)) == NULL, "a text body is not an error document");
    b = "{\"errors\":[]}";
    ok(registry_error_body_message(b, strlen(b)) == NULL, "an empty list is none");
    b = "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\"";
    ok(registry_error_body_message(b, strlen(b)) == NULL, "truncated JSON is none");
    ok(registry_error_body_message(NULL, 0) == NULL, "no body is none");
}

static void test_creds(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    /* "alice:pa:ss" and "bob:x" in base64 */
    const char *cfg = "{\"auths\":{\"https://reg.example:5000/v1/\":{\"auth\":\"YWxpY2U6cGE6c3M=\"},"
                      "\"other.example\":{\"auth\":\"Ym9iOng=\"}}}";
    fs_write_atomic("config.json", cfg, strlen(cfg), 0600, NULL);
    const char *files[] = { "missing.json", "config.json" };
    char *user = NULL, *pass = NULL;
    is_int(registry_creds_find(files, 2, "reg.example:5000", &user, &pass, &err), 1,
           "a key with a scheme and a path matches host:port");
    is_str(user, "alice", "user");
    is_str(pass, "pa:ss", "the password keeps its colons");
    free(user);
    free(pass);
    is_int(registry_creds_find(files, 2, "other.example", &user, &pass, &err), 1, "a bare host key matches");
    is_str(user, "bob", "its user");
    free(user);
    free(pass);
    is_int(registry_creds_find(files, 2, "reg.example", &user, &pass, &err), 0, "another port does not match");
    ok(user == NULL && pass == NULL, "and nothing is returned");

    const char *first = "{\"auths\":{\"other.example\":{\"auth\":\"YWxpY2U6cGE6c3M=\"}}}";
    fs_write_atomic("first.json", first, strlen(first), 0600, NULL);
    const char *both[] = { "first.json", "config.json" };
    is_int(registry_creds_find(both, 2, "other.example", &user, &pass, &err), 1, "the first file wins");
    is_str(user, "alice", "with its user");
    free(user);
    free(pass);

    const char *bad = "{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}"; /* "nocolon" */
    fs_write_atomic("bad.json", bad, strlen(bad), 0600, NULL);
    const char *badf[] = { "bad.json" };
    is_int(registry_creds_find(badf, 1, "h", &user, &pass, &err), KILN_EINVAL, "auth without a colon is refused");
    has_str(err.msg, "bad.json", "naming the file");
    const char *notjson = "{\"auths\":";
    fs_write_atomic("broken.json", notjson, strlen(notjson), 0600, NULL);
    const char *brokenf[] = { "broken.json" };
    is_int(registry_creds_find(brokenf, 1, "h", &user, &pass, &err), KILN_EINVAL, "broken JSON is refused");
    has_str(err.msg, "broken.json", "naming the file");
}

static void test_creds_store(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    const char *cfg = "{\"auths\":{\"https://reg.example:5000/v1/\":{\"auth\":\"YWxpY2U6cGE6c3M=\"},"
                      "\"other.example\":{\"auth\":\"Ym9iOng=\"}},\"credsStore\":\"x\"}";
    fs_write_atomic("store.json", cfg, strlen(cfg), 0644, NULL);
    is_int(registry_creds_store("store.json", "reg.example:5000", "carol", "n3w:pw", &err), 0, "credentials stored");
    const char *files[] = { "store.json" };
    char *user = NULL, *pass = NULL;
    is_int(registry_creds_find(files, 1, "reg.example:5000", &user, &pass, &err), 1, "found again");
    is_str(user, "carol", "the new user, not the old spelling's");
    is_str(pass, "n3w:pw", "the new password");
    free(user);
    free(pass);
    is_int(registry_creds_find(files, 1, "other.example", &user, &pass, &err), 1, "another entry is kept");
    free(user);
    free(pass);
    struct buf b BUF_CLEANUP = BUF_INIT;
    fs_read_file("store.json", 1 << 20, &b, NULL);
    has_str(b.data, "credsStore", "other keys are kept");
    ok(!strstr(b.data, "https://reg.example:5000/v1/"), "the host's other spelling is gone");
    struct stat sb;
    ok(stat("store.json", &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode 0600");
    is_int(registry_creds_store("new.json", "h:1", "u", "p", &err), 0, "a missing file is created");
    is_int(registry_creds_store("new.json", "h:1", "a:b", "p", &err), KILN_EINVAL, "a user with ':' is refused");
    const char *arr = "[1]";
    fs_write_atomic("arr.json", arr, strlen(arr), 0600, NULL);
    is_int(registry_creds_store("arr.json", "h", "u", "p", &err), KILN_EINVAL, "a file that is not an object is refused");
    has_str(err.msg, "arr.json", "naming it");

    struct registry_ref r;
    is_int(registry_host_parse("https://reg.example:5000/", 0, &r, &err), 0, "a registry with a scheme and a slash");
    is_str(r.host, "reg.example:5000", "its host");
    ok(!r.plain_http, "https");
    registry_ref_release(&r);
    is_int(registry_host_parse("http://h", 0, &r, &err), 0, "http://");
    ok(r.plain_http, "plain HTTP");
    registry_ref_release(&r);
    is_int(registry_host_parse("h/repo", 0, &r, &err), KILN_EINVAL, "a repository is refused");
    is_int(registry_host_parse("", 0, &r, &err), KILN_EINVAL, "an empty host is refused");
}

static void test_creds_helper(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    const char *cfg = "{\"credHelpers\":{\"https://reg.example:5000\":\"ecr-login\"},\"credsStore\":\"desktop\"}";
    fs_write_atomic("helpers.json", cfg, strlen(cfg), 0600, NULL);
    const char *files[] = { "missing.json", "helpers.json" };
    char *helper = NULL;
    is_int(registry_creds_helper(files, 2, "reg.example:5000", &helper, &err), 1, "credHelpers names the host's");
    is_str(helper, "ecr-login", "its helper");
    free(helper);
    is_int(registry_creds_helper(files, 2, "other.example", &helper, &err), 1, "credsStore for the others");
    is_str(helper, "desktop", "the store");
    free(helper);
    const char *none = "{\"auths\":{}}";
    fs_write_atomic("none.json", none, strlen(none), 0600, NULL);
    const char *nonef[] = { "none.json" };
    is_int(registry_creds_helper(nonef, 1, "h", &helper, &err), 0, "no helper named");
    ok(helper == NULL, "and none returned");
    const char *evil = "{\"credsStore\":\"../x\"}";
    fs_write_atomic("evil.json", evil, strlen(evil), 0600, NULL);
    const char *evilf[] = { "evil.json" };
    is_int(registry_creds_helper(evilf, 1, "h", &helper, &err), KILN_EINVAL, "a helper name with a '/' is refused");
    has_str(err.msg, "evil.json", "naming the file");

    char *user = NULL, *pass = NULL;
    const char *ans = "{\"ServerURL\":\"h\",\"Username\":\"u\",\"Secret\":\"s:x\"}\n";
    is_int(registry_creds_helper_answer("t", 0, ans, strlen(ans), &user, &pass, &err), 1, "an answer is read");
    is_str(user, "u", "its Username");
    is_str(pass, "s:x", "its Secret");
    free(user);
    free(pass);
    const char *nf = "credentials not found in native keychain\n";
    is_int(registry_creds_helper_answer("t", 1, nf, strlen(nf), &user, &pass, &err), 0, "not found is no credentials");
    const char *locked = "locked\nmore";
    is_int(registry_creds_helper_answer("t", 2, locked, strlen(locked), &user, &pass, &err), KILN_EFAIL,
           "another failure is an error");
    has_str(err.msg, "docker-credential-t' failed (exit 2): locked", "naming the helper, its status and its first line");
    is_int(registry_creds_helper_answer("t", 0, "{}", 2, &user, &pass, &err), KILN_EFAIL, "an answer without Secret");
    ok(user == NULL && pass == NULL, "leaves nothing");
}

int main(void)
{
    tap_tmpdir();
    test_dest();
    test_src();
    test_challenge();
    test_error_body();
    test_creds();
    test_creds_store();
    test_creds_helper();
    return tap_done();
}
