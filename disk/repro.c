/* repro.c - what makes a disk laid out on the host the same bytes on every
 * build: the partition table's identifiers and the ext4 root's times.
 *
 * parted gives every GPT disk and partition a random GUID and every MBR a
 * random disk signature; disk_set_table_ids() replaces them with the
 * recipe's own (disk_stable_uuid()) with sfdisk, which rewrites the
 * headers and their CRCs and nothing else.
 *
 * mke2fs -d (e2fsprogs 1.47.0), given a fixed UUID, hash seed and
 * E2FSPROGS_FAKE_TIME (the superblock's times, crtime), lays files out in
 * sorted order and copies each one's mtime, but also its atime and ctime as
 * the staging directory has them: the ctime is the moment of extraction,
 * and the atime moves when mke2fs reads the file.  disk_ext4_settle() sets
 * both to the build's time in every inode in use, with debugfs (which
 * rewrites the inode checksums). */
#include "disk/disk-internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "common/run.h"
#include "recipes/recipe.h"
#include "common/banned.h"

#define DUMPE2FS_MAX (64u << 20)

int disk_set_table_ids(const struct recipe *r, const char *raw, int mbr, const char *const *names, size_t n,
                       struct kiln_err *err)
{
    char disk[37];
    disk_stable_uuid(r, "disk-guid", disk);
    if (mbr) {
        /* The 32-bit disk signature: the first eight hex digits, never 0. */
        char sig[16];
        snprintf(sig, sizeof(sig), "0x%.8s", strcmp(disk, "00000000") > 0 ? disk : "6b696c6e");
        char *argv[] = { "sfdisk", "-q", "--disk-id", (char *)raw, sig, NULL };
        return run_argv(argv, NULL, NULL, err);
    }
    char *argv[] = { "sfdisk", "-q", "--disk-id", (char *)raw, disk, NULL };
    int ret = run_argv(argv, NULL, NULL, err);
    for (size_t i = 0; i < n && ret == 0; i++) {
        char part[37], num[16];
        _cleanup_free_ char *what = xasprintf("part-%s", names[i]);
        disk_stable_uuid(r, what, part);
        snprintf(num, sizeof(num), "%zu", i + 1);
        char *pv[] = { "sfdisk", "-q", "--part-uuid", (char *)raw, num, part, NULL };
        ret = run_argv(pv, NULL, NULL, err);
    }
    if (ret < 0)
        return kiln_err_prefix(err, "setting the partition table's GUIDs");
    return 0;
}

/* Appends debugfs's commands setting inodes [from, to] (the root and
 * those past the reserved ones) to epoch. */
static int settle_range(struct buf *cmds, uint64_t from, uint64_t to, int64_t epoch, struct kiln_err *err)
{
    int ret = 0;
    for (uint64_t i = from; i <= to && ret == 0; i++)
        if (i == 2 || i >= 11)
            ret = buf_addf(cmds, err, "sif <%" PRIu64 "> ctime @%lld\nsif <%" PRIu64 "> atime @%lld\n", i,
                           (long long)epoch, i, (long long)epoch);
    return ret;
}

/* The next "Group N:" line of dumpe2fs's output after p, or NULL. */
static const char *next_group(const char *p)
{
    while ((p = strstr(p, "\nGroup ")) && !isdigit((unsigned char)p[7]))
        p++;
    return p;
}

/* The inodes in use, from dumpe2fs's per-group "Free inodes:" ranges: every
 * inode of a group that no range names. */
static int used_inodes(const char *out, int64_t epoch, struct buf *cmds, struct kiln_err *err)
{
    const char *p = strstr(out, "\nInodes per group:");
    if (!p)
        return kiln_errf(err, KILN_EFAIL, "dumpe2fs printed no 'Inodes per group'");
    uint64_t ipg = strtoull(p + 18, NULL, 10);
    if (ipg == 0)
        return kiln_errf(err, KILN_EFAIL, "dumpe2fs printed no 'Inodes per group'");
    uint64_t group = 0;
    for (const char *g = next_group(out); g; g = next_group(g + 1)) {
        const char *f = strstr(g, "  Free inodes: ");
        const char *next = next_group(g + 1);
        if (!f || (next && f > next))
            return kiln_errf(err, KILN_EFAIL, "dumpe2fs printed no free inodes for group %" PRIu64, group);
        uint64_t first = group * ipg + 1, last = (group + 1) * ipg, at = first;
        f += 15;
        for (;;) {
            char *end;
            uint64_t a = strtoull(f, &end, 10), b = a;
            if (end == f)
                break;
            if (*end == '-')
                b = strtoull(end + 1, &end, 10);
            int r = a > at ? settle_range(cmds, at, a - 1 < last ? a - 1 : last, epoch, err) : 0;
            if (r < 0)
                return r;
            at = b + 1;
            if (*end != ',')
                break;
            f = end + 2;
        }
        int r = at <= last ? settle_range(cmds, at, last, epoch, err) : 0;
        if (r < 0)
            return r;
        group++;
    }
    if (group == 0)
        return kiln_errf(err, KILN_EFAIL, "dumpe2fs printed no groups");
    return 0;
}

int disk_ext4_settle(const char *raw, uint64_t offset, int64_t epoch, const char *workdir, struct kiln_err *err)
{
    _cleanup_free_ char *dev = xasprintf("%s?offset=%" PRIu64, raw, offset);
    struct buf out = BUF_INIT;
    buf_init(&out, DUMPE2FS_MAX);
    char *dv[] = { "dumpe2fs", dev, NULL };
    struct run_opts ro = { .out = &out };
    int st = 0;
    int ret = run_argv(dv, &ro, &st, err);
    if (ret == 0 && st != 0)
        ret = kiln_errf(err, KILN_EFAIL, "dumpe2fs failed with exit status %d", st);
    struct buf cmds = BUF_INIT;
    if (ret == 0)
        ret = used_inodes(out.data ? out.data : "", epoch, &cmds, err);
    buf_release(&out);
    _cleanup_free_ char *file = path_join(workdir, "debugfs-times");
    if (ret == 0)
        ret = fs_write_atomic(file, cmds.data ? cmds.data : "", cmds.len, 0600, err);
    buf_release(&cmds);
    if (ret == 0) {
        char fake[48];
        snprintf(fake, sizeof(fake), "E2FSPROGS_FAKE_TIME=%lld", (long long)epoch);
        struct buf log = BUF_INIT;
        buf_init(&log, 64 << 10);
        struct run_opts lo = { .out = &log };
        char *argv[] = { "env", fake, "debugfs", "-w", "-f", file, dev, NULL };
        ret = run_argv(argv, &lo, &st, err);
        if (ret == 0 && st != 0)
            ret = kiln_errf(err, KILN_EFAIL, "debugfs failed with exit status %d", st);
        buf_release(&log);
        unlink(file);
    }
    if (ret < 0)
        return kiln_err_prefix(err, "setting the root file system's times");
    return 0;
}
