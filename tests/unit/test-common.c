/* test-common.c - buf, err, fsutil, hash, run, text, timefmt. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/run.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "tests/unit/tap.h"

static void test_buf(void)
{
    struct buf b;
    buf_init(&b, 0);
    is_str(b.data, "", "a new buf is an empty string");
    buf_adds(&b, "abc", NULL);
    buf_addf(&b, NULL, "-%d", 42);
    is_str(b.data, "abc-42", "buf_adds and buf_addf append");
    size_t len;
    char *s = buf_detach(&b, &len);
    is_int(len, 6, "detach hands over the length");
    is_str(b.data, "", "detach leaves an empty buf");
    free(s);

    struct kiln_err err = KILN_ERR_INIT;
    buf_init(&b, 4);
    is_int(buf_adds(&b, "1234", &err), 0, "a buf takes data up to its limit");
    is_int(buf_adds(&b, "5", &err), KILN_EINVAL, "a buf refuses data past its limit");
    has_str(err.msg, "larger than 4 bytes", "the limit error names the limit");
    buf_release(&b);
}

static void test_err(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    is_int(kiln_errf(&err, KILN_EINVAL, "bad '%s'", "x"), KILN_EINVAL, "kiln_errf returns its code");
    kiln_err_prefix(&err, "recipe '%s'", "r.yaml");
    is_str(err.msg, "recipe 'r.yaml': bad 'x'", "kiln_err_prefix puts context first");
    is_int(kiln_exit_status(KILN_EINVAL), 2, "invalid input exits 2");
    is_int(kiln_exit_status(KILN_EVERIFY), 3, "verification failure exits 3");
    is_int(kiln_exit_status(KILN_EFAIL), 1, "operation failure exits 1");
    is_int(kiln_exit_status(KILN_OK), 0, "success exits 0");
}

static void test_fsutil(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    is_int(fs_mkdir_p("a/b/c", 0755, &err), 0, "mkdir_p makes nested directories");
    is_int(fs_write_atomic("a/b/c/f", "hello", 5, 0640, &err), 0, "write_atomic writes");
    struct stat st;
    ok(stat("a/b/c/f", &st) == 0 && (st.st_mode & 0777) == 0640, "write_atomic sets the mode");
    struct buf b;
    buf_init(&b, 0);
    is_int(fs_read_file("a/b/c/f", 100, &b, &err), 0, "read_file reads");
    is_str(b.data, "hello", "read_file returns what was written");
    buf_reset(&b);
    is_int(fs_read_file("a/b/c/f", 3, &b, &err), KILN_EINVAL, "read_file refuses a file over its limit");
    buf_release(&b);
    is_int(fs_read_file("nope", 3, &b, &err), KILN_ENOTFOUND, "read_file of a missing file is not-found");
    has_str(err.msg, "'nope'", "the error names the file");
    ok(symlink("/etc", "a/link") == 0, "made a symlink to /etc");
    is_int(fs_rm_rf("a", &err), 0, "rm_rf removes a tree");
    ok(!fs_exists("a") && fs_exists("/etc/passwd"), "rm_rf removed the tree and did not follow the symlink");
    int fd = open("w", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ok(fd >= 0, "opened a file to write into");
    is_int(fs_write_all(fd, "abcdef", 6, "w", &err), 0, "write_all writes at the file position");
    is_int(fs_pwrite_all(fd, "XY", 2, 2, "w", &err), 0, "pwrite_all writes at an offset");
    is_int(fs_write_all(fd, "gh", 2, "w", &err), 0, "pwrite_all leaves the file position alone");
    close(fd);
    buf_reset(&b);
    is_int(fs_read_file("w", 100, &b, &err), 0, "read back what was written");
    is_str(b.data, "abXYefgh", "write_all and pwrite_all wrote every byte where they should");
    buf_release(&b);
    fd = open("w", O_RDONLY | O_CLOEXEC);
    is_int(fs_write_all(fd, "x", 1, "w-readonly", &err), KILN_EFAIL, "write_all to a read-only fd fails");
    has_str(err.msg, "cannot write 'w-readonly'", "the write error names the file");
    is_int(fs_pwrite_all(fd, "x", 1, 5, "w-readonly", &err), KILN_EFAIL, "pwrite_all to a read-only fd fails");
    close(fd);
    unlink("w");
    char *j = path_join("x/", "y");
    is_str(j, "x/y", "path_join");
    free(j);
    j = path_resolve_from("/r/recipe.yaml", "rootfs.tar");
    is_str(j, "/r/rootfs.tar", "relative paths resolve against the recipe's folder");
    free(j);
}

/* The build context's primitives: a path below a directory, and an open
 * that follows no symlink on the way. */
static void test_beneath(void)
{
    ok(path_is_beneath("/a/b", "/a/b") && path_is_beneath("/a/b/c", "/a/b") && path_is_beneath("/a/b/c", "/a/b/"),
       "a directory and what is below it are beneath it");
    ok(!path_is_beneath("/a/bc", "/a/b") && !path_is_beneath("/a", "/a/b") && !path_is_beneath("/x", "/a"),
       "a sibling with the same prefix, the parent and elsewhere are not");
    ok(path_is_beneath("/etc/shadow", "/"), "everything is beneath /");

    mkdir("nf", 0755);
    mkdir("nf/dir", 0755);
    mkdir("nf/other", 0755);
    int fd = open("nf/dir/file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close(fd);
    fd = open("nf/other/file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close(fd);
    char *real = realpath("nf/dir/file", NULL);
    fd = fs_open_nofollow(real, O_RDONLY);
    ok(fd >= 0, "a canonical path opens");
    if (fd >= 0)
        close(fd);
    fd = fs_open_nofollow("/", O_RDONLY | O_DIRECTORY);
    ok(fd >= 0, "so does /");
    if (fd >= 0)
        close(fd);
    /* The race: a directory on the resolved path becomes a symlink. */
    rename("nf/dir", "nf/dir.old");
    symlink("other", "nf/dir");
    errno = 0;
    fd = fs_open_nofollow(real, O_RDONLY);
    ok(fd < 0 && (errno == ENOTDIR || errno == ELOOP), "a symlink swapped into the path is not followed");
    unlink("nf/dir");
    rename("nf/dir.old", "nf/dir");
    unlink("nf/dir/file");
    symlink("../other/file", "nf/dir/file");
    errno = 0;
    fd = fs_open_nofollow(real, O_RDONLY);
    ok(fd < 0 && errno == ELOOP, "nor one swapped in for the file itself");
    free(real);
    char *dir = realpath("nf", NULL);
    char *dotdot = xasprintf("%s/dir/..", dir);
    errno = 0;
    ok(fs_open_nofollow(dotdot, O_RDONLY) < 0 && errno == EINVAL, "'..' is refused");
    ok(fs_open_nofollow("nf/other/file", O_RDONLY) < 0 && errno == EINVAL, "a relative path is refused");
    free(dotdot);
    free(dir);
}

static void test_hash(void)
{
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 of 'abc'");
    fs_write_atomic("f", "abc", 3, 0644, NULL);
    uint64_t size = 0;
    char hex2[HASH_HEX_LEN + 1];
    is_int(hash_file_sha256("f", hex2, &size, NULL), 0, "hash_file_sha256 reads a file");
    is_str(hex2, hex, "streamed hash equals the one-shot hash");
    is_int(size, 3, "hash_file_sha256 returns the size");
    ok(hash_is_hex(hex), "a digest is hex");
    ok(!hash_is_hex("ABC"), "upper case or short strings are not digests");
}

static void test_text(void)
{
    static const char *const valid[] = { "", "abc", "caf\xc3\xa9", "cafe\xcc\x81", "\xf0\x9f\x94\xa5" };
    for (size_t i = 0; i < ARRAY_SIZE(valid); i++)
        ok(utf8_valid(valid[i], strlen(valid[i])), "valid UTF-8 %zu", i);
    static const char *const invalid[] = { "\xff", "caf\xc3", "\xc3\x28", "\xc0\xaf", "\xed\xa0\x80",
                                           "\xf4\x90\x80\x80" };
    for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
        ok(!utf8_valid(invalid[i], strlen(invalid[i])), "not UTF-8 %zu (bad byte, truncated, overlong, surrogate, "
           "past U+10FFFF)", i);
    char *s = utf8_lossy("caf\xc3\xa9/\xff\xc3");
    is_str(s, "caf\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd", "utf8_lossy keeps UTF-8 and shows each bad byte as U+FFFD");
    free(s);
    s = text_hex("a\xff", 2);
    is_str(s, "61ff", "text_hex");
    char *back = text_unhex(s);
    is_str(back, "a\xff", "text_unhex gives the bytes back");
    free(back);
    free(s);
    ok(!text_unhex("6") && !text_unhex("zz") && !text_unhex("6100"), "odd, not hex, or a NUL byte: refused");
}

static void test_run(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct buf out;
    buf_init(&out, 0);
    struct run_opts o = { .out = &out };
    char *echo[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    int status = -1;
    is_int(run_argv(echo, &o, &status, &err), 0, "run_argv runs a program");
    is_int(status, 3, "run_argv reports the exit status");
    has_str(out.data, "out\nerr\n", "stdout and stderr are captured");
    buf_release(&out);
    is_int(run_argv(echo, NULL, NULL, &err), KILN_EFAIL, "a non-zero exit is an error without a status pointer");
    has_str(err.msg, "exit status 3", "the error names the status");
    char *slow[] = { "sleep", "10", NULL };
    struct run_opts t = { .timeout_sec = 1 };
    is_int(run_argv(slow, &t, NULL, &err), KILN_EFAIL, "a hanging program is killed at its timeout");
    has_str(err.msg, "timed out", "the error says it timed out");
    ok(run_have("sh") && !run_have("no-such-program-kiln"), "run_have looks in PATH");

    /* In the background: watched while it runs, stopped when done. */
    struct run_child c;
    char *quick[] = { "sh", "-c", "exit 5", NULL };
    is_int(run_start(quick, 0, &c, &err), 0, "run_start starts a program");
    for (int i = 0; i < 500 && !run_exited(&c); i++)
        usleep(10000);
    ok(c.done && c.status == 5, "run_exited reports its exit status");
    is_int(run_start(slow, 0, &c, &err), 0, "run_start starts a program that hangs");
    ok(!run_exited(&c), "run_exited does not wait for it");
    run_stop(&c);
    ok(c.done && c.status == 128 + 9, "run_stop kills it and reaps it");
    char *missing[] = { "no-such-program-kiln", NULL };
    is_int(run_start(missing, 0, &c, &err), 0, "a missing program starts a child");
    for (int i = 0; i < 500 && !run_exited(&c); i++)
        usleep(10000);
    is_int(c.status, 127, "which exits 127");
}

static void test_rfc3339(void)
{
    char s[RFC3339_SIZE];
    rfc3339_format(0, s);
    is_str(s, "1970-01-01T00:00:00Z", "the epoch");
    rfc3339_format(1700000000, s);
    is_str(s, "2023-11-14T22:13:20Z", "a time in UTC with seconds and Z");
    rfc3339_format(253402300799ll, s);
    is_str(s, "9999-12-31T23:59:59Z", "the last second of year 9999");
    rfc3339_format(253402300800ll, s);
    is_str(s, "1970-01-01T00:00:00Z", "a time past year 9999 gives the epoch");
    rfc3339_format(-1, s);
    is_str(s, "1969-12-31T23:59:59Z", "a second before the epoch");
}

int main(void)
{
    tap_tmpdir();
    test_buf();
    test_err();
    test_fsutil();
    test_beneath();
    test_hash();
    test_text();
    test_run();
    test_rfc3339();
    return tap_done();
}
