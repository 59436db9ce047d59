/* base-disk.c - a root filesystem taken from an existing disk image. */
#include "disk/disk.h"
#include "disk/guest.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define HEADER_LEN 512
#define MIN_DISK (64u << 10)

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the header at src; messages name "<label> '<path>'".  allow_backing:
 * a qcow2 overlay may name a backing file (qemu follows it, read-only). */
static int detect_format(const char *src, const char *label, const char *path, int allow_backing,
                         enum disk_format *fmt, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return kiln_errno(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EFAIL, errno,
                          "%s '%s'", label, path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "%s '%s'", label, path);
    if (!S_ISREG(st.st_mode))
        return kiln_errf(err, KILN_EINVAL, "%s '%s' is not a regular file", label, path);
    unsigned char h[HEADER_LEN];
    memset(h, 0, sizeof(h));
    ssize_t n = pread(fd, h, sizeof(h), 0);
    if (n < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "%s '%s'", label, path);
    if (n >= 4 && memcmp(h, "QFI\xfb", 4) == 0) {
        if (n < 104)
            return kiln_errf(err, KILN_EINVAL, "%s '%s' has a truncated qcow2 header", label, path);
        uint32_t version = be32(h + 4);
        if (version != 2 && version != 3)
            return kiln_errf(err, KILN_EINVAL, "%s '%s' is qcow2 version %u, which kiln does not read", label,
                             path, version);
        uint64_t backing_off = be64(h + 8);
        uint32_t backing_len = be32(h + 16);
        if (!allow_backing && (backing_off != 0 || backing_len != 0))
            return kiln_errf(err, KILN_EINVAL, "%s '%s' names a backing file; kiln refuses disks that read other files", label, path);
        if (version == 3) {
            uint64_t incompatible = be64(h + 72);
            if (incompatible & (1u << 2))
                return kiln_errf(err, KILN_EINVAL, "%s '%s' uses an external data file; kiln refuses disks that read other files", label, path);
            if (incompatible & (1u << 1))
                return kiln_errf(err, KILN_EINVAL, "%s '%s' is marked corrupt", label, path);
        }
        *fmt = DISK_FORMAT_QCOW2;
        return 0;
    }
    static const struct { const char *magic; size_t len; const char *name; } others[] = {
        { "KDMV", 4, "vmdk" }, { "# Disk DescriptorFile", 21, "vmdk" }, { "conectix", 8, "vhd" },
        { "vhdxfile", 8, "vhdx" }, { "<<< ", 4, "vdi" }, { "QFI", 3, "qcow" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(others); i++)
        if ((size_t)n >= others[i].len && memcmp(h, others[i].magic, others[i].len) == 0)
            return kiln_errf(err, KILN_EINVAL, "%s '%s' is a %s image; kiln reads raw and qcow2", label, path,
                             others[i].name);
    if (st.st_size < MIN_DISK || st.st_size % 512 != 0)
        return kiln_errf(err, KILN_EINVAL, "%s '%s' is not a disk image (size %lld is not a whole number of sectors of at least 64 KiB)", label,
                         path, (long long)st.st_size);
    *fmt = DISK_FORMAT_RAW;
    return 0;
}

int disk_detect_format(const char *path, enum disk_format *fmt, struct kiln_err *err)
{
    return detect_format(path, "disk", path, 0, fmt, err);
}

const char *disk_format_name(enum disk_format fmt)
{
    return fmt == DISK_FORMAT_QCOW2 ? "qcow2" : "raw";
}

/* Mountpoints come from the guest's fstab: only plain absolute paths. */
static int sane_mountpoint(const char *mp)
{
    if (mp[0] != '/' || strlen(mp) > 4096)
        return 0;
    for (const char *p = mp; *p; p++)
        if ((unsigned char)*p < 0x20)
            return 0;
    return strstr(mp, "/../") == NULL && strstr(mp, "/./") == NULL &&
           (strlen(mp) < 3 || strcmp(mp + strlen(mp) - 3, "/..") != 0);
}

/* Mounts every file system of the one operating system on g read-only,
 * shorter mountpoints first, under the sane ones only. */
static int mount_root(guestfs_h *g, const char *label, const char *path, struct kiln_err *err)
{
    char **roots = guestfs_inspect_os(g);
    if (!roots)
        return guest_fail(g, err, KILN_EINVAL, "%s '%s' cannot be inspected", label, path);
    if (!roots[0]) {
        guest_free_strings(roots);
        return kiln_errf(err, KILN_EINVAL, "%s '%s' has no recognisable operating system", label, path);
    }
    if (roots[1]) {
        guest_free_strings(roots);
        return kiln_errf(err, KILN_EINVAL, "%s '%s' holds more than one operating system", label, path);
    }
    char **mps = guestfs_inspect_get_mountpoints(g, roots[0]);
    guest_free_strings(roots);
    if (!mps)
        return guest_fail(g, err, KILN_EINVAL, "%s '%s': cannot read its mountpoints", label, path);
    /* Pairs (mountpoint, device); mount shorter mountpoints first. */
    size_t n = 0;
    while (mps[n])
        n++;
    int ret = 0;
    for (int pass = 0; pass < 2 && ret == 0; pass++) {
        for (size_t len = 1; len <= 4096 && ret == 0; len++) {
            for (size_t i = 0; i + 1 < n && ret == 0; i += 2) {
                if (strlen(mps[i]) != len)
                    continue;
                if (!sane_mountpoint(mps[i])) {
                    ret = kiln_errf(err, KILN_EINVAL, "%s '%s': refusing mountpoint '%s'", label, path, mps[i]);
                    break;
                }
                if (pass == 1 && guestfs_mount_ro(g, mps[i + 1], mps[i]) < 0) {
                    if (len == 1)
                        ret = guest_fail(g, err, KILN_EINVAL, "%s '%s': cannot mount its root", label, path);
                    else
                        kiln_log(KILN_LOG_WARN, "%s: skipping '%s' (cannot mount it)", label, mps[i]);
                }
            }
        }
    }
    guest_free_strings(mps);
    return ret;
}

/* Exports the root of the disk on g as a tar at tar_out.  *torn is set
 * when the file systems mounted but tar could not read them whole (a disk
 * in use may change under the read). */
static int export_root(guestfs_h *g, const char *label, const char *path, const char *tar_out,
                       const char *const *skip, int *torn, struct kiln_err *err)
{
    *torn = 0;
    int ret = guest_launch(g, err);
    if (ret < 0)
        return kiln_err_prefix(err, "%s '%s'", label, path);
    if ((ret = mount_root(g, label, path, err)) < 0)
        return ret;
    size_t n_skip = 0;
    while (skip && skip[n_skip])
        n_skip++;
    _cleanup_free_ char **excludes = xcalloc(n_skip + 2, sizeof(char *));
    excludes[0] = "./lost+found";
    for (size_t i = 0; i < n_skip; i++)
        excludes[i + 1] = (char *)skip[i];
    kiln_log(KILN_LOG_INFO, "copying the root filesystem out of the %s", label);
    if (guestfs_tar_out_opts(g, "/", tar_out, GUESTFS_TAR_OUT_OPTS_NUMERICOWNER, 1, GUESTFS_TAR_OUT_OPTS_XATTRS, 1,
                             GUESTFS_TAR_OUT_OPTS_EXCLUDES, excludes, -1) < 0) {
        *torn = 1;
        return guest_fail(g, err, KILN_EFAIL, "%s '%s': cannot copy its root filesystem out", label, path);
    }
    if (guest_finish(g, err) < 0)
        return kiln_err_prefix(err, "%s '%s'", label, path);
    return 0;
}

int base_disk_tar(const struct recipe_base *b, const char *src, const char *tar_out, struct kiln_err *err)
{
    const char *path = b->path;
    enum disk_format fmt;
    int ret = detect_format(src, "base disk", path, 0, &fmt, err);
    if (ret < 0)
        return ret;
    if (b->sha256[0]) {
        char hex[HASH_HEX_LEN + 1];
        ret = hash_file_sha256(src, hex, NULL, err);
        if (ret < 0)
            return ret;
        if (strcmp(hex, b->sha256) != 0)
            return kiln_errf(err, KILN_EVERIFY, "base disk '%s' has sha256 %s, the recipe declares %s", path,
                             hex, b->sha256);
    }
    if (fmt == DISK_FORMAT_QCOW2) {
        /* Structural check before any guest sees it. */
        _cleanup_free_ char *abs = xstrdup(src);
        char *argv[] = { "qemu-img", "check", "-q", "-f", "qcow2", abs, NULL };
        struct buf out = BUF_INIT;
        buf_init(&out, 64 << 10);
        struct run_opts opts = { .out = &out, .timeout_sec = 600 };
        int st = 0;
        ret = run_argv(argv, &opts, &st, err);
        buf_release(&out);
        if (ret < 0)
            return ret;
        if (st != 0 && st != 3) /* 3: leaked clusters only */
            return kiln_errf(err, KILN_EINVAL, "base disk '%s' is a corrupt qcow2 image", path);
    }
    guestfs_h *g = NULL;
    ret = guest_open(0, &g, err);
    if (ret < 0)
        return ret;
    ret = guest_add_drive(g, src, disk_format_name(fmt), 1, err);
    if (ret == 0)
        ret = export_root(g, "base disk", path, tar_out, NULL, &(int){ 0 }, err);
    guestfs_close(g);
    if (ret < 0)
        unlink(tar_out);
    return ret;
}

/* A disk in use is read again, by a new appliance, when the read was torn. */
#define DISK_READ_TRIES 3
#define DISK_READ_PAUSE 5 /* seconds between reads */

int disk_read_root(const char *path, const char *const *skip, const char *tar_out, struct kiln_err *err)
{
    enum disk_format fmt;
    int ret = detect_format(path, "disk", path, 1, &fmt, err);
    if (ret < 0)
        return ret;
    for (int t = 1;; t++) {
        guestfs_h *g = NULL;
        if ((ret = guest_open(0, &g, err)) < 0)
            return ret;
        int torn = 0;
        ret = guest_add_drive(g, path, disk_format_name(fmt), 1, err);
        if (ret == 0)
            ret = export_root(g, "disk", path, tar_out, skip, &torn, err);
        guestfs_close(g);
        if (ret == 0)
            return 0;
        unlink(tar_out);
        if (!torn)
            return ret;
        if (t >= DISK_READ_TRIES) {
            _cleanup_free_ char *why = xstrdup(err->msg);
            return kiln_errf(err, KILN_EFAIL, "%s (read %d times, torn each time: a host that keeps writing to it, "
                                              "or a damaged file system)", why, DISK_READ_TRIES);
        }
        /* A running host writes while the appliance reads: file system
         * blocks from before and after a change meet.  A new appliance
         * sees the disk as it is now. */
        kiln_log(KILN_LOG_WARN, "%s; the disk may have changed under the read (is it in use?): reading it again "
                                "(%d of %d)", err->msg, t + 1, DISK_READ_TRIES);
        kiln_err_clear(err);
        sleep(DISK_READ_PAUSE);
    }
}
