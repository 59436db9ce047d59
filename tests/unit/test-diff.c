/* test-diff.c - comparing file manifests. */
#include "common/common.h"
#include "images/diff.h"
#include "tests/unit/tap.h"

static json_t *load(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (!j)
        diag("bad test JSON: %s", je.text);
    return j;
}

static void test_kinds(void)
{
    json_t *a = load("{\"version\":1,\"files\":["
                     "{\"path\":\"/bin/sh\",\"type\":\"symlink\",\"target\":\"busybox\",\"mode\":\"0777\",\"uid\":0,\"gid\":0},"
                     "{\"path\":\"/etc\",\"type\":\"dir\",\"mode\":\"0755\",\"uid\":0,\"gid\":0},"
                     "{\"path\":\"/etc/gone\",\"type\":\"file\",\"mode\":\"0644\",\"uid\":0,\"gid\":0,\"size\":1,\"sha256\":\"aa\"},"
                     "{\"path\":\"/etc/passwd\",\"type\":\"file\",\"mode\":\"0644\",\"uid\":0,\"gid\":0,\"size\":3,\"sha256\":\"bb\"},"
                     "{\"path\":\"/dev/null\",\"type\":\"char\",\"mode\":\"0666\",\"uid\":0,\"gid\":0,\"major\":1,\"minor\":3}]}");
    json_t *b = load("{\"version\":1,\"files\":["
                     "{\"path\":\"/bin/sh\",\"type\":\"symlink\",\"target\":\"dash\",\"mode\":\"0777\",\"uid\":0,\"gid\":0},"
                     "{\"path\":\"/dev/null\",\"type\":\"char\",\"mode\":\"0666\",\"uid\":0,\"gid\":0,\"major\":1,\"minor\":5},"
                     "{\"path\":\"/etc\",\"type\":\"dir\",\"mode\":\"0755\",\"uid\":0,\"gid\":0},"
                     "{\"path\":\"/etc/new\",\"type\":\"file\",\"mode\":\"0600\",\"uid\":0,\"gid\":0,\"size\":1,\"sha256\":\"cc\"},"
                     "{\"path\":\"/etc/passwd\",\"type\":\"file\",\"mode\":\"0600\",\"uid\":1,\"gid\":0,\"size\":4,\"sha256\":\"dd\"}]}");
    struct kiln_err err = KILN_ERR_INIT;
    struct diff d;
    is_int(diff_files(a, b, &d, &err), 0, "two manifests compare");
    is_int(d.n, 5, "five paths differ");
    is_str(d.v[0].path, "/bin/sh", "entries are sorted by path (1)");
    ok(d.v[0].op == '~' && d.v[0].fields == DIFF_TARGET, "a new symlink target is a target change");
    is_str(d.v[1].path, "/dev/null", "entries are sorted by path (2)");
    ok(d.v[1].op == '~' && d.v[1].fields == DIFF_DEVICE, "a new device number is a device change");
    ok(d.v[2].op == '-' && strcmp(d.v[2].path, "/etc/gone") == 0, "a path only in a is removed");
    ok(d.v[3].op == '+' && strcmp(d.v[3].path, "/etc/new") == 0, "a path only in b is added");
    ok(d.v[4].op == '~' && d.v[4].fields == (DIFF_CONTENT | DIFF_MODE | DIFF_OWNER),
       "content, mode and owner changes are all named");
    is_int(d.added, 1, "one added");
    is_int(d.removed, 1, "one removed");
    is_int(d.changed, 3, "three changed");

    json_t *j = diff_to_json(&d);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(s, "{\"added\":[\"/etc/new\"],\"changed\":[{\"fields\":[\"target\"],\"path\":\"/bin/sh\"},"
              "{\"fields\":[\"device\"],\"path\":\"/dev/null\"},"
              "{\"fields\":[\"content\",\"mode\",\"owner\"],\"path\":\"/etc/passwd\"}],"
              "\"removed\":[\"/etc/gone\"]}",
           "the JSON form lists added, removed and changed with fields");
    free(s);
    json_decref(j);
    diff_release(&d);

    is_int(diff_files(a, a, &d, &err), 0, "a manifest compares with itself");
    is_int(d.n, 0, "and nothing differs");
    diff_release(&d);

    json_t *t = load("{\"files\":[{\"path\":\"/etc/passwd\",\"type\":\"symlink\",\"target\":\"x\",\"mode\":\"0777\",\"uid\":0,\"gid\":0}]}");
    json_t *f = load("{\"files\":[{\"path\":\"/etc/passwd\",\"type\":\"file\",\"mode\":\"0644\",\"uid\":0,\"gid\":0,\"size\":1,\"sha256\":\"aa\"}]}");
    is_int(diff_files(f, t, &d, &err), 0, "a file replaced by a symlink compares");
    ok(d.n == 1 && (d.v[0].fields & DIFF_TYPE), "and is a type change");
    diff_release(&d);
    json_decref(t);
    json_decref(f);
    json_decref(a);
    json_decref(b);
}

static void test_names(void)
{
    /* /x\xff and /x\xfe have the same text; their bytes (pathHex) tell them apart. */
    json_t *a = load("{\"version\":1,\"files\":["
                     "{\"path\":\"/x\\ufffd\",\"pathHex\":\"2f78ff\",\"type\":\"dir\",\"mode\":\"0755\",\"uid\":0,\"gid\":0},"
                     "{\"path\":\"/l\",\"type\":\"symlink\",\"target\":\"\\ufffd\",\"targetHex\":\"ff\",\"mode\":\"0777\",\"uid\":0,\"gid\":0}]}");
    json_t *b = load("{\"version\":1,\"files\":["
                     "{\"path\":\"/x\\ufffd\",\"pathHex\":\"2f78fe\",\"type\":\"dir\",\"mode\":\"0755\",\"uid\":0,\"gid\":0},"
                     "{\"path\":\"/l\",\"type\":\"symlink\",\"target\":\"\\ufffd\",\"targetHex\":\"fe\",\"mode\":\"0777\",\"uid\":0,\"gid\":0}]}");
    struct kiln_err err = KILN_ERR_INIT;
    struct diff d;
    is_int(diff_files(a, b, &d, &err), 0, "manifests with names that are not UTF-8 compare");
    is_int(d.n, 3, "three paths differ");
    ok(d.n == 3 && d.v[0].op == '~' && d.v[0].fields == DIFF_TARGET, "a target differing only in its bytes changed");
    ok(d.n == 3 && d.v[1].op == '+' && strcmp(d.v[1].path, "/x\xfe") == 0, "the exact new name is added");
    ok(d.n == 3 && d.v[2].op == '-' && strcmp(d.v[2].path, "/x\xff") == 0, "the exact old name is removed");
    json_t *j = diff_to_json(&d);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    ok(s != NULL, "the diff is JSON: %s", s ? s : "(none)");
    free(s);
    json_decref(j);
    diff_release(&d);
    json_decref(a);
    json_decref(b);
}

static void test_bad(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct diff d;
    json_t *ok_m = load("{\"files\":[]}");
    json_t *nofiles = load("{\"version\":1}");
    json_t *dup = load("{\"files\":[{\"path\":\"/a\"},{\"path\":\"/a\"}]}");
    json_t *nopath = load("{\"files\":[{\"type\":\"file\"}]}");
    is_int(diff_files(ok_m, nofiles, &d, &err), KILN_EINVAL, "a manifest without files is refused");
    has_str(err.msg, "the second file manifest has no \"files\" array", "and the error says which");
    is_int(diff_files(dup, ok_m, &d, &err), KILN_EINVAL, "a path listed twice is refused");
    has_str(err.msg, "lists '/a' twice", "and the error names it");
    is_int(diff_files(nopath, ok_m, &d, &err), KILN_EINVAL, "an entry without a path is refused");
    is_int(diff_files(ok_m, ok_m, &d, &err), 0, "two empty manifests compare");
    is_int(d.n, 0, "and nothing differs");
    diff_release(&d);
    json_decref(ok_m);
    json_decref(nofiles);
    json_decref(dup);
    json_decref(nopath);
}

int main(void)
{
    tap_tmpdir();
    test_kinds();
    test_names();
    test_bad();
    return tap_done();
}
