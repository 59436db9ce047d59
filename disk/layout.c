/* layout.c - partitions, filesystem, bootloader and qcow2/raw files. */
#include "disk/disk.h"
#include "disk/disk-internal.h"
#include "disk/customize.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define MIB (1ull << 20)
#define BIOS_BOOT_GUID "21686148-6449-6E6F-744E-656564454649"

const struct recipe_output *disk_first_output(const struct recipe *r)
{
    for (size_t i = 0; i < r->n_outputs; i++)
        if (r->outputs[i].type == OUTPUT_QCOW2 || r->outputs[i].type == OUTPUT_RAW)
            return &r->outputs[i];
    return NULL;
}

/* Version 4 layout, the bits from a hash of the recipe digest and what:
 * the same recipe gives the same UUIDs, and so the same /etc/fstab. */
void disk_stable_uuid(const struct recipe *r, const char *what, char out[37])
{
    char hex[HASH_HEX_LEN + 1];
    _cleanup_free_ char *s = xasprintf("kiln-%s\n%s\n", what, r->sha256);
    hash_sha256_hex(s, strlen(s), hex);
    hex[12] = '4';
    static const char variant[] = "89ab";
    hex[16] = variant[(hex[16] >= 'a' ? hex[16] - 'a' + 10 : hex[16] - '0') & 3];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static uint64_t round_mib(uint64_t n)
{
    return (n + MIB - 1) / MIB * MIB;
}

int disk_plan_size(const struct recipe_output *o, uint64_t content, int installs,
                   uint64_t *size, struct kiln_err *err)
{
    if (content > DISK_MAX_SIZE)
        return kiln_errf(err, KILN_EINVAL, "the root filesystem is too large for a disk (%llu bytes)",
                         (unsigned long long)content);
    /* ext4 metadata, block rounding and the partitions: about a tenth plus 64 MiB. */
    uint64_t need = round_mib(content + content / 10 + 64 * MIB);
    if (o && o->size) {
        if (o->size > DISK_MAX_SIZE)
            return kiln_errf(err, KILN_EINVAL, "disk size %llu MiB is larger than the limit of %llu MiB",
                             (unsigned long long)(o->size / MIB), (unsigned long long)(DISK_MAX_SIZE / MIB));
        if (o->size < need || o->size < DISK_MIN_SIZE)
            return kiln_errf(err, KILN_EINVAL,
                             "disk size %llu MiB is too small for the content: it needs at least %llu MiB",
                             (unsigned long long)(o->size / MIB),
                             (unsigned long long)((need > DISK_MIN_SIZE ? need : DISK_MIN_SIZE) / MIB));
        *size = round_mib(o->size);
        return 0;
    }
    uint64_t s = content + content * 3 / 10 + 256 * MIB;
    if (installs)
        s += 1024 * MIB;
    *size = round_mib(s);
    return 0;
}

int disk_partition(guestfs_h *g, const struct recipe *r, const struct recipe_output *o, char **root_dev,
                   struct kiln_err *err)
{
    const char *dev = "/dev/sda";
    char uuid[37];
    if (o->partition_table == PARTITION_MBR) {
        if (guestfs_part_init(g, dev, "mbr") < 0 || guestfs_part_add(g, dev, "p", 2048, -1) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot partition the disk (mbr)");
        if (o->bootable && guestfs_part_set_bootable(g, dev, 1, 1) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot mark the root partition bootable");
        *root_dev = xstrdup("/dev/sda1");
    } else {
        /* 1 MiB BIOS boot partition for GRUB's core image, then the root. */
        if (guestfs_part_init(g, dev, "gpt") < 0 || guestfs_part_add(g, dev, "p", 2048, 4095) < 0 ||
            guestfs_part_set_gpt_type(g, dev, 1, BIOS_BOOT_GUID) < 0 ||
            guestfs_part_add(g, dev, "p", 4096, -34) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot partition the disk (gpt)");
        guestfs_part_set_name(g, dev, 1, "bios");
        guestfs_part_set_name(g, dev, 2, "root");
        /* parted picks random GUIDs: the recipe's own instead. */
        char bios[37], rootp[37];
        disk_stable_uuid(r, "disk-guid", uuid);
        disk_stable_uuid(r, "part-bios", bios);
        disk_stable_uuid(r, "part-root", rootp);
        if (guestfs_part_set_disk_guid(g, dev, uuid) < 0 || guestfs_part_set_gpt_guid(g, dev, 1, bios) < 0 ||
            guestfs_part_set_gpt_guid(g, dev, 2, rootp) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot set the partition table's GUIDs");
        *root_dev = xstrdup("/dev/sda2");
    }
    const char *fs = o->filesystem ? o->filesystem : "ext4";
    if (guestfs_mkfs_opts(g, fs, *root_dev, GUESTFS_MKFS_OPTS_LABEL, "root", -1) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot make the %s root filesystem", fs);
    /* The UUID the host path gives the same recipe: /etc/fstab names it. */
    disk_stable_uuid(r, "root-fs", uuid);
    if (guestfs_set_uuid(g, *root_dev, uuid) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot set the %s root filesystem's UUID", fs);
    return 0;
}

static int has_glob(guestfs_h *g, const char *pattern)
{
    char **v = guestfs_glob_expand(g, pattern);
    int found = v && v[0];
    guest_free_strings(v);
    return found;
}

static const char grub_cfg[] = DISK_GRUB_DEFAULTS;

static int install_grub(guestfs_h *g, struct kiln_err *err)
{
    int ret;
    if (guestfs_mkdir_p(g, "/etc/default/grub.d") < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot create '/etc/default/grub.d'");
    ret = guest_write(g, "/etc/default/grub.d/50-kiln-console.cfg", grub_cfg, sizeof(grub_cfg) - 1, 0644, err);
    if (ret < 0)
        return ret;
    kiln_log(KILN_LOG_INFO, "installing GRUB");
    /* Inside the appliance the kernel may name the disk /dev/sdb (the
     * appliance's own disk then being /dev/sda): libguestfs translates
     * device names in its API, not in a command.  grub-probe names the
     * disk that holds /boot as the guest sees it. */
    ret = guest_sh(g, "grub-install --target=i386-pc DISK",
                   "d=$(grub-probe --target=disk /boot) && "
                   "echo \"installing GRUB on $d\" && grub-install --target=i386-pc \"$d\"",
                   600, err);
    if (ret < 0)
        return ret;
    char *upd[] = { "update-grub", NULL };
    ret = guest_run(g, "update-grub", upd, 600, err);
    if (ret < 0)
        return ret;
    if (guestfs_is_file(g, "/boot/grub/grub.cfg") != 1)
        return kiln_errf(err, KILN_EFAIL, "update-grub did not write '/boot/grub/grub.cfg'");
    return 0;
}

int disk_finish(guestfs_h *g, const struct recipe_output *o, const char *root_dev, struct kiln_err *err)
{
    char *uuid = guestfs_vfs_uuid(g, root_dev);
    if (!uuid)
        return guest_fail(g, err, KILN_EFAIL, "cannot read the root filesystem's UUID");
    const char *fs = o->filesystem ? o->filesystem : "ext4";
    _cleanup_free_ char *fstab = xasprintf("# written by kiln\nUUID=%s / %s errors=remount-ro 0 1\n", uuid, fs);
    free(uuid);
    if (guestfs_mkdir_p(g, "/etc") < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot create '/etc'");
    int ret = guest_write(g, "/etc/fstab", fstab, strlen(fstab), 0644, err);
    if (ret < 0 || !o->bootable)
        return ret;
    if (!has_glob(g, "/boot/vmlinuz-*"))
        return kiln_errf(err, KILN_EINVAL, "a bootable disk needs a kernel, and the image has no '/boot/vmlinuz-*': add a kernel package such as linux-image-amd64");
    if (!has_glob(g, "/boot/initrd.img-*"))
        return kiln_errf(err, KILN_EINVAL, "a bootable disk needs an initramfs, and the image has no '/boot/initrd.img-*': install initramfs-tools");
    if (guest_exists(g, "/usr/sbin/grub-install") && guestfs_is_dir(g, "/usr/lib/grub/i386-pc") == 1)
        return install_grub(g, err);
    return kiln_errf(err, KILN_EINVAL, "a bootable disk needs a boot loader, and the image has no BIOS GRUB: add grub-pc to the packages");
}

int disk_write_output(const char *raw, const struct recipe_output *o, const char *dest,
                      struct kiln_err *err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", dest);
    unlink(tmp);
    int ret;
    if (o->type == OUTPUT_QCOW2) {
        kiln_log(KILN_LOG_INFO, "writing qcow2%s", o->compress ? " (compressed)" : "");
        /* In-order writes (no -W): the clusters are laid out in the same
         * order on every run, so the same disk gives the same qcow2 bytes. */
        char *plain[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1",
                          (char *)raw, tmp, NULL };
        char *compressed[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1",
                               "-c", (char *)raw, tmp, NULL };
        ret = run_argv(o->compress ? compressed : plain, NULL, NULL, err);
    } else {
        char *argv[] = { "cp", "--sparse=always", (char *)raw, tmp, NULL };
        ret = run_argv(argv, NULL, NULL, err);
    }
    if (ret < 0) {
        unlink(tmp);
        return kiln_err_prefix(err, "output '%s'", o->type == OUTPUT_QCOW2 ? "qcow2" : "raw");
    }
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ret = kiln_errno(err, KILN_EFAIL, errno, "cannot open '%s'", tmp);
        unlink(tmp);
        return ret;
    }
    ret = fs_commit_tmp(fd, tmp, dest, err);
    close(fd);
    if (ret < 0)
        unlink(tmp);
    return ret;
}
