/* guest-stage.c - one appliance launch: tree onto a disk, in-guest steps, tree back out. */
#include "disk/disk.h"
#include "disk/customize.h"
#include "disk/disk-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/banned.h"

#define MIB (1ull << 20)

void guest_result_release(struct guest_result *res)
{
    free(res->tree_tar);
    free(res->disk_raw);
    memset(res, 0, sizeof(*res));
}

static int make_sparse(const char *path, uint64_t size, struct kiln_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", path);
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        close(fd);
        return kiln_errno(err, KILN_EFAIL, e, "cannot size '%s'", path);
    }
    close(fd);
    return 0;
}

static int is_enospc(guestfs_h *g)
{
    const char *m = guestfs_last_error(g);
    return m && strstr(m, "No space left on device");
}

static int stage(guestfs_h *g, const struct recipe *r, const char *rootfs_tar,
                 const struct recipe_output *o, uint64_t size, struct disk_parts *parts, const char *esp_dir,
                 struct guest_result *out, struct kiln_err *err)
{
    int ret = guest_add_drive(g, out->disk_raw, "raw", 0, err);
    if (ret < 0)
        return ret;
    ret = guest_launch(g, err);
    if (ret < 0)
        return ret;
    _cleanup_free_ char *root = NULL;
    if (o) {
        ret = disk_partition(g, r, o, size, parts, &root, err);
        if (ret < 0)
            return ret;
    } else {
        root = xstrdup("/dev/sda");
        if (guestfs_mkfs(g, "ext4", root) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot make the scratch filesystem");
    }
    if (guestfs_mount(g, root, "/") < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot mount the root filesystem");
    kiln_log(KILN_LOG_INFO, "copying the root filesystem into the disk");
    if (guestfs_tar_in_opts(g, rootfs_tar, "/", GUESTFS_TAR_IN_OPTS_XATTRS, 1, -1) < 0) {
        if (is_enospc(g))
            return kiln_errf(err, KILN_EINVAL, "disk size %llu MiB is too small for the content",
                             (unsigned long long)(size / MIB));
        return guest_fail(g, err, KILN_EFAIL, "cannot copy the root filesystem into the disk");
    }
    if (guestfs_rm_rf(g, "/lost+found") < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot remove '/lost+found'");
    ret = customize_apply(g, r, err);
    if (ret < 0)
        return ret;
    if (o) {
        ret = disk_finish(g, r, o, parts, root, esp_dir, err);
        if (ret < 0)
            return ret;
    }
    if (r->packages.n || r->n_run || r->services_enable.n || r->services_disable.n ||
        (o && o->bootable && o->secure_boot)) {
        ret = normalise_build_leftovers(g, err);
        if (ret < 0)
            return ret;
    }
    if (r->sysprep) {
        ret = sysprep_apply(g, err);
        if (ret == 0)
            ret = sysprep_check(g, err);
        if (ret < 0)
            return ret;
        out->sysprep_verified = 1;
    }
    kiln_log(KILN_LOG_INFO, "copying the customised root filesystem out");
    char *excludes[] = { "./lost+found", NULL };
    if (guestfs_tar_out_opts(g, "/", out->tree_tar, GUESTFS_TAR_OUT_OPTS_NUMERICOWNER, 1,
                             GUESTFS_TAR_OUT_OPTS_XATTRS, 1, GUESTFS_TAR_OUT_OPTS_EXCLUDES, excludes,
                             -1) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot copy the customised root filesystem out");
    return guest_finish(g, err);
}

int guest_stage_run(const struct recipe *r, const char *rootfs_tar, const char *workdir, int64_t epoch,
                    int lay_out_disk, const char *tree_out, struct guest_result *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    struct stat st;
    if (stat(rootfs_tar, &st) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", rootfs_tar);
    const struct recipe_output *first = recipe_first_disk(r);
    const struct recipe_output *o = lay_out_disk ? first : NULL;
    /* secure_boot: apt installs Debian's signed chain (customize.c). */
    int signed_chain = first && first->bootable && first->secure_boot;
    int installs = r->packages.n > 0 || r->n_run > 0 || signed_chain;
    uint64_t size;
    int ret = disk_plan_size(o, (uint64_t)st.st_size, installs, &size, err);
    if (ret < 0)
        return ret;
    if (!o)
        size += (uint64_t)st.st_size + 1024 * MIB; /* scratch: room to grow, sparse anyway */
    out->disk_raw = path_join(workdir, "disk.raw");
    out->tree_tar = xstrdup(tree_out);
    out->disk_size = size;
    ret = make_sparse(out->disk_raw, size, err);
    struct disk_parts parts = { 0 };
    _cleanup_free_ char *esp_dir = path_join(workdir, "esp");
    if (ret == 0)
        ret = fs_mkdir_p(esp_dir, 0700, err);
    if (ret == 0) {
        guestfs_h *g = NULL;
        char epoch_s[32]; /* outlives the handle, as guest_set_epoch() needs */
        snprintf(epoch_s, sizeof(epoch_s), "%lld", (long long)epoch);
        ret = guest_open(r->packages.n > 0 || signed_chain, &g, err);
        if (ret == 0) {
            guest_set_epoch(g, epoch_s);
            ret = stage(g, r, rootfs_tar, o, size, &parts, esp_dir, out, err);
            guestfs_close(g);
        }
    }
    /* The ESP's FAT, made on the host from what grub-install put there. */
    if (ret == 0 && parts.esp.num) {
        char volid[10];
        disk_esp_volid(r, volid);
        ret = disk_esp_write(out->disk_raw, &parts, esp_dir, volid, epoch, workdir, err);
    }
    if (ret < 0) {
        unlink(out->disk_raw);
        unlink(out->tree_tar);
        guest_result_release(out);
        return ret;
    }
    if (!o) {
        unlink(out->disk_raw);
        free(out->disk_raw);
        out->disk_raw = NULL;
        out->disk_size = 0;
    }
    return 0;
}
