/* test-tree.c - the rootfs tree: path normalisation and resolution, the
 * hostile-entry checks of tree_add, whiteouts, and the tar writer. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <string.h>
#include <unistd.h>

#include "tree/tree.h"
#include "common/common.h"
#include "common/text.h"
#include "tap.h"
#include "common/banned.h"

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

static int add(struct tree *t, enum tree_type type, const char *path, const char *target, struct kiln_err *err)
{
    struct tree_new_entry ne = { .path = path, .type = type, .mode = 0755, .link_target = target };
    struct tree_entry *e = NULL;
    kiln_err_clear(err);
    int r = tree_add(t, "test", &ne, &e, err);
    if (r == 0 && type == TREE_FILE)
        r = tree_set_inline(t, e, path, strlen(path), err);
    return r;
}

static void test_normalize(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    char *s = NULL;
    static const struct { const char *in, *out; } good[] = {
        { "etc/passwd", "/etc/passwd" }, { "./etc//passwd", "/etc/passwd" }, { "/etc/./x/", "/etc/x" },
        { ".", "/" }, { "./", "/" }, { "//", "/" }, { "a/.../b", "/a/.../b" },
        { "caf\xc3\xa9/\xff\xfe", "/caf\xc3\xa9/\xff\xfe" }, /* names are bytes, UTF-8 or not */
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        s = NULL;
        ok(tree_normalize("t", good[i].in, &s, &err) == 0, "normalize '%s'", good[i].in);
        is_str(s, good[i].out, "'%s' -> '%s'", good[i].in, good[i].out);
        free(s);
    }
    static const char *const bad[] = { "../x", "a/../../x", "/..", "a/..", "", "a\nb", "a\x7f" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        s = NULL;
        ok(tree_normalize("t", bad[i], &s, &err) == KILN_EINVAL && !s, "refuse bad path %zu", i);
    }
    char *longp = xmalloc(TREE_MAX_PATH + 10);
    memset(longp, 'a', TREE_MAX_PATH + 9);
    longp[TREE_MAX_PATH + 9] = 0;
    ok(tree_normalize("t", longp, &s, &err) == KILN_EINVAL, "refuse a path longer than the limit");
    free(longp);
}

static void test_hostile(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct tree *t = new_tree();
    ok(add(t, TREE_SYMLINK, "x", "/etc", &err) == 0, "symlink x -> /etc");
    ok(add(t, TREE_FILE, "x/passwd", NULL, &err) == KILN_EINVAL, "a file through a symlink is refused");
    has_str(err.msg, "written through the symlink '/x'", "names the symlink");
    ok(add(t, TREE_DIR, "x/sub", NULL, &err) == KILN_EINVAL, "a directory through a symlink is refused");
    ok(add(t, TREE_SYMLINK, ".", "/etc", &err) == KILN_EINVAL, "a symlink named . is refused");
    has_str(err.msg, "symlink named '.'", "says why");
    ok(add(t, TREE_SYMLINK, "etc/.", "/", &err) == KILN_EINVAL, "so is one named etc/.");
    ok(add(t, TREE_FILE, "f", NULL, &err) == 0, "a file");
    ok(add(t, TREE_FILE, "f/g", NULL, &err) == KILN_EINVAL, "a child of a file is refused");
    has_str(err.msg, "not a directory", "says why");
    ok(add(t, TREE_HARDLINK, "h", "../f", &err) == KILN_EINVAL, "a hard link out of the root is refused");
    ok(add(t, TREE_HARDLINK, "h", "missing", &err) == KILN_EINVAL, "a hard link to nothing is refused");
    ok(add(t, TREE_HARDLINK, "h", "x/passwd", &err) == KILN_EINVAL, "a hard link through a symlink is refused");
    ok(add(t, TREE_HARDLINK, "h", "x", &err) == KILN_EINVAL, "a hard link to a symlink is refused");
    ok(add(t, TREE_HARDLINK, "f", "f", &err) == KILN_EINVAL, "a hard link to itself is refused");
    ok(add(t, TREE_HARDLINK, "h", "f", &err) == 0, "a hard link to a file");
    ok(tree_get(t, "/h")->content == tree_get(t, "/f")->content, "hard links share their content");
    ok(add(t, TREE_CHAR, "dev/sda", NULL, &err) == KILN_EINVAL, "devices are refused by default");
    struct tree_new_entry dn = { .path = "dev/null", .type = TREE_CHAR, .mode = 0666, .major = 1, .minor = 3 };
    ok(tree_add(t, "test", &dn, NULL, &err) == 0, "but /dev/null (1:3) is accepted");
    dn.type = TREE_BLOCK;
    ok(tree_add(t, "test", &dn, NULL, &err) == KILN_EINVAL, "a block device 1:3 is not");
    ok(add(t, TREE_FILE, "etc/.wh.passwd", NULL, &err) == KILN_EINVAL, "a whiteout name is refused");
    struct tree_new_entry ne = { .path = "u", .type = TREE_FILE, .uid = -1 };
    ok(tree_add(t, "test", &ne, NULL, &err) == KILN_EINVAL, "a negative uid is refused");
    ne.uid = 4294967295ll;
    ok(tree_add(t, "test", &ne, NULL, &err) == KILN_EINVAL, "uid 2^32-1 is refused");
    ok(add(t, TREE_FILE, "a/b/c/d", NULL, &err) == 0, "missing parents are created");
    ok(tree_get(t, "/a/b/c") && tree_get(t, "/a/b/c")->type == TREE_DIR, "as directories");
    ok(add(t, TREE_FILE, "a", NULL, &err) == 0, "a file replaces a directory");
    ok(!tree_get(t, "/a/b/c/d") && !tree_get(t, "/a/b"), "and its children are gone");
    tree_free(t);

    struct tree_limits lim;
    tree_limits_default(&lim);
    lim.max_entries = 3;
    lim.max_bytes = 10;
    t = NULL;
    ok(tree_new(".", &lim, &t, &err) == 0, "a tree with small limits");
    ok(add(t, TREE_DIR, "1", NULL, &err) == 0 && add(t, TREE_DIR, "2", NULL, &err) == 0 &&
       add(t, TREE_DIR, "3", NULL, &err) == 0, "three entries fit");
    ok(add(t, TREE_DIR, "4", NULL, &err) == KILN_EINVAL, "the fourth is over the limit");
    has_str(err.msg, "more than 3 entries", "says so");
    tree_free(t);
    ok(tree_new(".", &lim, &t, &err) == 0, "again");
    ok(tree_content_begin(t, &err) == 0 && tree_content_write(t, "test", "0123456789", 10, &err) == 0,
       "10 bytes fit");
    ok(tree_content_write(t, "test", "x", 1, &err) == KILN_EINVAL, "the 11th byte is over the limit");
    has_str(err.msg, "larger than 10 bytes", "says so");
    tree_free(t);
}

static void test_resolve(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct tree *t = new_tree();
    add(t, TREE_DIR, "usr/bin", NULL, &err);
    add(t, TREE_FILE, "usr/bin/env", NULL, &err);
    add(t, TREE_SYMLINK, "bin", "usr/bin", &err);
    add(t, TREE_SYMLINK, "abs", "/usr/bin/env", &err);
    add(t, TREE_SYMLINK, "up", "../../../../usr", &err);
    add(t, TREE_SYMLINK, "loop", "loop", &err);
    struct tree_entry *e = tree_resolve(t, "/bin/env");
    ok(e && strcmp(e->path, "/usr/bin/env") == 0, "a relative symlink resolves");
    e = tree_resolve(t, "/abs");
    ok(e && strcmp(e->path, "/usr/bin/env") == 0, "an absolute target resolves inside the root");
    e = tree_resolve(t, "/up/bin");
    ok(e && strcmp(e->path, "/usr/bin") == 0, ".. stops at the root");
    ok(!tree_resolve(t, "/loop"), "a symlink loop does not resolve");
    ok(!tree_resolve(t, "/usr/bin/env/x"), "a file is not a directory");
    ok(tree_get(t, "/bin")->type == TREE_SYMLINK, "tree_get does not follow");
    tree_free(t);
}

static void test_whiteouts(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct tree *t = new_tree();
    tree_begin_layer(t, 1);
    add(t, TREE_FILE, "etc/a", NULL, &err);
    add(t, TREE_FILE, "etc/b", NULL, &err);
    add(t, TREE_FILE, "opq/old", NULL, &err);
    tree_begin_layer(t, 2);
    add(t, TREE_FILE, "opq/new", NULL, &err);
    ok(tree_whiteout(t, "test", "etc/.wh.a", &err) == 0, "a whiteout");
    ok(!tree_get(t, "/etc/a") && tree_get(t, "/etc/b"), "removes only its entry");
    ok(tree_whiteout(t, "test", "opq/.wh..wh..opq", &err) == 0, "an opaque whiteout");
    ok(!tree_get(t, "/opq/old") && tree_get(t, "/opq/new"), "removes the lower layers' children only");
    add(t, TREE_FILE, "etc/c", NULL, &err);
    ok(tree_whiteout(t, "test", "etc/.wh.c", &err) == 0 && tree_get(t, "/etc/c"),
       "a whiteout does not hide an entry of its own layer");
    ok(tree_whiteout(t, "test", "etc/.wh.", &err) == KILN_EINVAL, "a bare .wh. is refused");
    ok(tree_whiteout(t, "test", "etc/.wh..", &err) == KILN_EINVAL, "a whiteout of .. is refused");
    ok(tree_whiteout(t, "test", "etc/.wh..wh.x", &err) == KILN_EINVAL, "an unknown .wh..wh. is refused");
    ok(tree_whiteout(t, "test", "nosuch/.wh.x", &err) == 0, "a whiteout of nothing is fine");
    add(t, TREE_SYMLINK, "l", "/etc", &err);
    ok(tree_whiteout(t, "test", "l/.wh.b", &err) == KILN_EINVAL && tree_get(t, "/etc/b"),
       "a whiteout through a symlink is refused");
    tree_free(t);
}

static int fd_sink(void *ud, const void *data, size_t len, struct kiln_err *err)
{
    (void)err;
    return write(*(int *)ud, data, len) == (ssize_t)len ? 0 : KILN_EFAIL;
}

static char *write_tar(struct tree *t, const char *name)
{
    struct kiln_err err = KILN_ERR_INIT;
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int r = tree_write_tar(t, fd_sink, &fd, &err);
    close(fd);
    ok(r == 0, "write %s: %s", name, err.msg);
    char *hex = xmalloc(HASH_HEX_LEN + 1);
    hash_file_sha256(name, hex, NULL, &err);
    return hex;
}

static void test_writer(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct tree *t = new_tree();
    tree_set_epoch(t, 1000);
    struct tree_xattr x = { (char *)"security.capability", (unsigned char *)"\x01\x02", 2 };
    struct tree_new_entry ne = { .path = "z/file", .type = TREE_FILE, .mode = 04755, .uid = 1000, .gid = 100,
                                 .mtime = 5000, .xattrs = &x, .n_xattrs = 1 };
    struct tree_entry *e;
    ok(tree_add(t, "test", &ne, &e, &err) == 0, "a setuid file with an xattr, newer than the epoch");
    tree_content_begin(t, &err);
    tree_content_write(t, "test", "hello", 5, &err);
    tree_content_end(t, e, &err);
    add(t, TREE_HARDLINK, "a/link", "z/file", &err);
    add(t, TREE_SYMLINK, "b", "z/file", &err);
    char longname[300];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    add(t, TREE_FILE, longname, NULL, &err);
    char *h1 = write_tar(t, "one.tar");
    char *h2 = write_tar(t, "two.tar");
    is_str(h1, h2, "writing twice gives the same bytes");

    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    ok(archive_read_open_filename(a, "one.tar", 10240) == ARCHIVE_OK, "libarchive reads it back");
    struct archive_entry *ae;
    const char *order[8];
    int n = 0, saw_xattr = 0, saw_link = 0, clamped = 1, names = 1;
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK && n < 8) {
        order[n++] = xstrdup(archive_entry_pathname(ae));
        if (archive_entry_mtime(ae) > 1000)
            clamped = 0;
        if ((archive_entry_uname(ae) && archive_entry_uname(ae)[0]) ||
            (archive_entry_gname(ae) && archive_entry_gname(ae)[0]))
            names = 0;
        if (archive_entry_hardlink(ae) && strcmp(archive_entry_hardlink(ae), "a/link") == 0 &&
            strcmp(archive_entry_pathname(ae), "z/file") == 0)
            saw_link = 1;
        if (archive_entry_xattr_count(ae) == 1)
            saw_xattr = 1;
        if (strcmp(archive_entry_pathname(ae), "a/link") == 0)
            ok(archive_entry_size(ae) == 5 && archive_entry_perm(ae) == 04755 && archive_entry_uid(ae) == 1000,
               "the first path of a hard-linked file carries the content and metadata");
    }
    archive_read_free(a);
    is_int(n, 6, "six entries (parents included, root excluded)");
    ok(n == 6 && strcmp(order[0], "a/") == 0 && strcmp(order[1], "a/link") == 0 && strcmp(order[2], "b") == 0 &&
       strcmp(order[3], longname) == 0 && strcmp(order[4], "z/") == 0 && strcmp(order[5], "z/file") == 0,
       "entries are sorted by path");
    for (int i = 0; i < n; i++)
        free((char *)order[i]);
    ok(saw_link, "the later path is a hard link to the first");
    ok(saw_xattr, "the xattr is kept");
    ok(clamped, "mtimes are clamped to the epoch");
    ok(names, "no user or group names");

    json_t *m = tree_file_manifest(t);
    char *s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    has_str(s, "{\"gid\":100,\"mode\":\"4755\",\"path\":\"/a/link\",\"sha256\":\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\",\"size\":5,\"type\":\"file\",\"uid\":1000}",
            "the file manifest has the file with its digest");
    has_str(s, "{\"gid\":100,\"mode\":\"4755\",\"path\":\"/z/file\",\"target\":\"/a/link\",\"type\":\"hardlink\",\"uid\":1000}",
            "and the hard link");
    has_str(s, "\"path\":\"/b\",\"target\":\"z/file\",\"type\":\"symlink\"", "and the symlink");
    free(s);
    json_decref(m);
    free(h1);
    free(h2);
    tree_free(t);
}

static void test_read_tar(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    /* A tar written by libarchive with a whiteout, read with and without whiteouts. */
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    archive_write_open_filename(a, "in.tgz");
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, "etc/.wh.gone");
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_size(ae, 0);
    archive_write_header(a, ae);
    archive_entry_clear(ae);
    archive_entry_set_pathname(ae, "etc/x");
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_size(ae, 3);
    archive_write_header(a, ae);
    archive_write_data(a, "abc", 3);
    archive_entry_free(ae);
    archive_write_close(a);
    archive_write_free(a);

    struct tree *t = new_tree();
    int fd = open("in.tgz", O_RDONLY);
    ok(tree_read_tar(t, "in.tgz", fd, NULL, &err) == KILN_EINVAL, "a whiteout name in a rootfs tar is refused");
    has_str(err.msg, "whiteout name", "says why");
    close(fd);
    tree_free(t);

    t = new_tree();
    fd = open("in.tgz", O_RDONLY);
    char hex[HASH_HEX_LEN + 1], want[HASH_HEX_LEN + 1];
    uint64_t size = 0;
    struct tree_read_opts o = { .whiteouts = 1, .sha256_out = hex, .size_out = &size };
    ok(tree_read_tar(t, "in.tgz", fd, &o, &err) == 0, "read as a layer: %s", err.msg);
    close(fd);
    hash_file_sha256("in.tgz", want, NULL, &err);
    is_str(hex, want, "the digest covers the whole compressed file");
    struct tree_entry *e = tree_get(t, "/etc/x");
    char *data = NULL;
    size_t len = 0;
    ok(e && tree_read_content(t, e, 100, &data, &len, &err) == 0 && len == 3 && memcmp(data, "abc", 3) == 0,
       "the content comes back from the spool");
    free(data);
    tree_free(t);
}

/* Names that are not ASCII: UTF-8 in NFC and in NFD (one is not the other),
 * and bytes that are not UTF-8, as a file, a directory and a symlink target. */
#define NFC "caf\xc3\xa9"
#define NFD "cafe\xcc\x81"
#define BAD "bad\xff\xfe"

static void add_raw(struct archive *a, const char *path, const char *target)
{
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, path);
    archive_entry_set_filetype(ae, target ? AE_IFLNK : AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    if (target)
        archive_entry_set_symlink(ae, target);
    else
        archive_entry_set_size(ae, 0);
    archive_write_header(a, ae);
    archive_entry_free(ae);
}

static void test_names(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    /* The tar as GNU tar and mmdebstrap write it in a UTF-8 locale: pax
     * "path" records in UTF-8 (no hdrcharset), which libarchive would
     * normalise to NFC in a UTF-8 locale and cannot convert in the C locale. */
    ok(setlocale(LC_CTYPE, "C.UTF-8") != NULL, "the C.UTF-8 locale, to write the tar as GNU tar does");
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, "names.tar");
    add_raw(a, NFC, NULL);
    add_raw(a, NFD, NULL);
    add_raw(a, "d/" BAD, NULL);
    add_raw(a, "link", "d/" BAD);
    archive_write_close(a);
    archive_write_free(a);
    setlocale(LC_CTYPE, "C");

    struct tree *t = new_tree();
    int fd = open("names.tar", O_RDONLY);
    ok(tree_read_tar(t, "names.tar", fd, NULL, &err) == 0, "a tar with such names is read: %s", err.msg);
    close(fd);
    ok(tree_get(t, "/" NFC) && tree_get(t, "/" NFD), "NFC and NFD stay two files, byte for byte");
    ok(tree_get(t, "/d/" BAD), "a name that is not UTF-8 is kept byte for byte");
    struct tree_entry *l = tree_get(t, "/link");
    ok(l && l->target && strcmp(l->target, "d/" BAD) == 0, "and so is a symlink target");

    char *h = write_tar(t, "out.tar");
    free(h);
    a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_open_filename(a, "out.tar", 10240);
    struct archive_entry *ae;
    int saw = 0, rc;
    while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
        const char *p = archive_entry_pathname(ae);
        saw |= !strcmp(p, NFC) << 0 | !strcmp(p, NFD) << 1 | !strcmp(p, "d/" BAD) << 2;
        if (!strcmp(p, "link"))
            saw |= !strcmp(archive_entry_symlink(ae), "d/" BAD) << 3;
    }
    archive_read_free(a);
    is_int(saw, 15, "the tar kiln writes has the same names and target, byte for byte");

    json_t *m = tree_file_manifest(t);
    char *s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    has_str(s, "\"path\":\"/" NFC "\"", "the manifest lists an NFC name as it is");
    has_str(s, "\"path\":\"/" NFD "\"", "and an NFD name as it is");
    has_str(s, "\"path\":\"/d/bad\xef\xbf\xbd\xef\xbf\xbd\",\"pathHex\":\"2f642f626164fffe\"",
            "a name that is not UTF-8 is text with U+FFFD, and its bytes in pathHex");
    has_str(s, "\"target\":\"d/bad\xef\xbf\xbd\xef\xbf\xbd\",\"targetHex\":\"642f626164fffe\"",
            "so is a symlink target");
    json_t *f = json_array_get(json_object_get(m, "files"), 3); /* after /cafe.., /caf.., /d */
    char *back = tree_json_get_name(f, "path");
    is_str(back, "/d/" BAD, "tree_json_get_name gives the exact bytes back");
    free(back);
    free(s);
    json_decref(m);
    tree_free(t);
}

int main(void)
{
    tap_tmpdir();
    test_normalize();
    test_hostile();
    test_resolve();
    test_whiteouts();
    test_writer();
    test_read_tar();
    test_names();
    return tap_done();
}
