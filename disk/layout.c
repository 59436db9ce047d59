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
#include "common/common.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define MIB (1ull << 20)
#define BIOS_BOOT_GUID "21686148-6449-6E6F-744E-656564454649"

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
    /* GRUB's files that the boot loader adds, and the ESP beside the root. */
    uint64_t boot = 0;
    if (o && o->bootable)
        boot += 32 * MIB;
    if (o && o->bootable && (o->firmware == FIRMWARE_UEFI || o->firmware == FIRMWARE_HYBRID))
        boot += RECIPE_ESP_SIZE + MIB;
    need += boot;
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
    s += boot;
    *size = round_mib(s);
    return 0;
}

int disk_partition(guestfs_h *g, const struct recipe *r, const struct recipe_output *o, uint64_t size,
                   struct disk_parts *parts, char **root_dev, struct kiln_err *err)
{
    const char *dev = "/dev/sda";
    char uuid[37];
    disk_plan_parts(o, size, parts);
    if (parts->mbr) {
        if (guestfs_part_init(g, dev, "mbr") < 0 || guestfs_part_add(g, dev, "p", 2048, -1) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot partition the disk (mbr)");
        if (o->bootable && guestfs_part_set_bootable(g, dev, 1, 1) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot mark the root partition bootable");
    } else {
        /* The plan's partitions (disk_plan_parts()), and the recipe's own
         * GUIDs rather than the random ones parted picks. */
        const struct { const struct disk_part *part; const char *name, *type; } v[] = {
            { &parts->bios, "bios", BIOS_BOOT_GUID },
            { &parts->esp, "esp", DISK_ESP_GUID },
            { &parts->root, "root", NULL },
        };
        if (guestfs_part_init(g, dev, "gpt") < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot partition the disk (gpt)");
        disk_stable_uuid(r, "disk-guid", uuid);
        if (guestfs_part_set_disk_guid(g, dev, uuid) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot set the partition table's GUIDs");
        for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
            const struct disk_part *pt = v[i].part;
            if (!pt->num)
                continue;
            char guid[37];
            _cleanup_free_ char *what = xasprintf("part-%s", v[i].name);
            disk_stable_uuid(r, what, guid);
            if (guestfs_part_add(g, dev, "p", (int64_t)pt->start, (int64_t)pt->end) < 0 ||
                (v[i].type && guestfs_part_set_gpt_type(g, dev, pt->num, v[i].type) < 0))
                return guest_fail(g, err, KILN_EFAIL, "cannot partition the disk (gpt)");
            guestfs_part_set_name(g, dev, pt->num, v[i].name);
            if (guestfs_part_set_gpt_guid(g, dev, pt->num, guid) < 0)
                return guest_fail(g, err, KILN_EFAIL, "cannot set the partition table's GUIDs");
        }
    }
    *root_dev = xasprintf("/dev/sda%d", parts->root.num);
    const char *fs = o->filesystem ? o->filesystem : "ext4";
    if (guestfs_mkfs_opts(g, fs, *root_dev, GUESTFS_MKFS_OPTS_LABEL, "root", -1) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot make the %s root filesystem", fs);
    /* The UUID the host path gives the same recipe: /etc/fstab names it. */
    disk_stable_uuid(r, "root-fs", uuid);
    if (guestfs_set_uuid(g, *root_dev, uuid) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot set the %s root filesystem's UUID", fs);
    /* A FAT for grub-install to install into; the ESP kiln ships is made
     * again on the host from what it holds (disk_esp_write()). */
    if (parts->esp.num) {
        _cleanup_free_ char *esp = xasprintf("/dev/sda%d", parts->esp.num);
        if (guestfs_mkfs(g, "vfat", esp) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot make the EFI System Partition's file system");
    }
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

/* The GRUB that `grub-install --uefi-secure-boot --removable` puts beside
 * shim is Debian's grubx64.efi.signed (gcdx64.efi.signed is the installer
 * media's, with /boot/grub built in): one image with its modules inside and
 * /EFI/debian built in as its prefix.  Its built-in config reads
 * $prefix/grub.cfg, or, with no EFI/debian on the ESP, the grub.cfg beside
 * itself, which grub-install writes to EFI/BOOT.  The same hand-over to the
 * root's /boot/grub goes in both places, grub-install's own kept. */
static int esp_loader_cfg(guestfs_h *g, const char *uuid, struct kiln_err *err)
{
    _cleanup_free_ char *cfg = xasprintf("search.fs_uuid %s root\nset prefix=($root)'/boot/grub'\n"
                                         "configfile $prefix/grub.cfg\n", uuid);
    static const char *const dirs[] = { "/boot/efi/EFI/BOOT", "/boot/efi/EFI/debian", NULL };
    for (const char *const *d = dirs; *d; d++) {
        _cleanup_free_ char *p = xasprintf("%s/grub.cfg", *d);
        if (guestfs_mkdir_p(g, *d) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot create '%s'", *d);
        if (!guest_exists(g, p)) {
            int ret = guest_write(g, p, cfg, strlen(cfg), 0644, err);
            if (ret < 0)
                return ret;
        }
    }
    return 0;
}

static int install_grub(guestfs_h *g, const struct recipe_output *o, const struct disk_parts *parts,
                        const char *uuid, const char *esp_out, struct kiln_err *err)
{
    int ret;
    if (guestfs_mkdir_p(g, "/etc/default/grub.d") < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot create '/etc/default/grub.d'");
    ret = guest_write(g, "/etc/default/grub.d/50-kiln-console.cfg", grub_cfg, sizeof(grub_cfg) - 1, 0644, err);
    if (ret < 0)
        return ret;
    /* Inside the appliance the kernel may name the disk /dev/sdb (the
     * appliance's own disk then being /dev/sda): libguestfs translates
     * device names in its API, not in a command.  grub-probe names the
     * disk that holds /boot as the guest sees it. */
    if (parts->mbr || parts->bios.num) {
        kiln_log(KILN_LOG_INFO, "installing GRUB for BIOS");
        ret = guest_sh(g, "grub-install --target=i386-pc DISK",
                       "d=$(grub-probe --target=disk /boot) && "
                       "echo \"installing GRUB on $d\" && grub-install --target=i386-pc \"$d\"",
                       600, err);
        if (ret < 0)
            return ret;
    }
    if (parts->esp.num) {
        kiln_log(KILN_LOG_INFO, "installing GRUB for UEFI%s", o->secure_boot ? " (shim and signed GRUB for Secure Boot)" : "");
        _cleanup_free_ char *esp = xasprintf("/dev/sda%d", parts->esp.num);
        if (guestfs_mkdir_p(g, "/boot/efi") < 0 || guestfs_mount(g, esp, "/boot/efi") < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot mount the EFI System Partition at '/boot/efi'");
        /* The removable-media path EFI/BOOT/BOOTX64.EFI: firmware with
         * empty NVRAM starts it, and no NVRAM entry is written. */
        ret = guest_sh(g, "grub-install --target=x86_64-efi",
                       o->secure_boot ? "grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable "
                                        "--no-nvram --uefi-secure-boot"
                                      : "grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable "
                                        "--no-nvram --no-uefi-secure-boot",
                       600, err);
        if (ret == 0 && guestfs_is_file(g, "/boot/efi/EFI/BOOT/BOOTX64.EFI") != 1)
            ret = kiln_errf(err, KILN_EFAIL, "grub-install did not write 'EFI/BOOT/BOOTX64.EFI' to the EFI System Partition");
        if (ret == 0 && o->secure_boot)
            ret = esp_loader_cfg(g, uuid, err);
        if (ret == 0 && guestfs_copy_out(g, "/boot/efi/EFI", esp_out) < 0)
            ret = guest_fail(g, err, KILN_EFAIL, "cannot copy the EFI System Partition's files out");
        if (guestfs_umount(g, "/boot/efi") < 0 && ret == 0)
            ret = guest_fail(g, err, KILN_EFAIL, "cannot unmount '/boot/efi'");
        if (ret < 0)
            return ret;
    }
    char *upd[] = { "update-grub", NULL };
    ret = guest_run(g, "update-grub", upd, 600, err);
    if (ret < 0)
        return ret;
    if (guestfs_is_file(g, "/boot/grub/grub.cfg") != 1)
        return kiln_errf(err, KILN_EFAIL, "update-grub did not write '/boot/grub/grub.cfg'");
    return 0;
}

/* Secure Boot firmware starts only what is signed: shim (by Microsoft's
 * UEFI CA), and through it GRUB and the kernel (by Debian's key). */
static int check_signed(guestfs_h *g, const char *path, const char *what, struct kiln_err *err)
{
    size_t len = 0;
    char *head = guestfs_pread(g, path, DISK_PE_HEAD, 0, &len);
    if (!head)
        return guest_fail(g, err, KILN_EFAIL, "cannot read '%s'", path);
    int ok = disk_pe_signed((const unsigned char *)head, len);
    free(head);
    if (!ok)
        return kiln_errf(err, KILN_EINVAL, "secure_boot: %s '%s' is not signed, and Secure Boot firmware refuses to start it: %s",
                         what, path, strncmp(what, "kernel", 6) == 0 ? "install Debian's signed linux-image-amd64"
                                                                      : "install shim-signed and grub-efi-amd64-signed");
    return 0;
}

static int check_secure_boot(guestfs_h *g, struct kiln_err *err)
{
    static const struct { const char *path, *what, *pkg; } chain[] = {
        { "/usr/lib/shim/shimx64.efi.signed", "the boot loader", "shim-signed" },
        { "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", "the boot loader", "grub-efi-amd64-signed" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(chain); i++) {
        if (guestfs_is_file(g, chain[i].path) != 1)
            return kiln_errf(err, KILN_EINVAL, "secure_boot: the image has no '%s': add %s to the packages",
                             chain[i].path, chain[i].pkg);
        int ret = check_signed(g, chain[i].path, chain[i].what, err);
        if (ret < 0)
            return ret;
    }
    char **k = guestfs_glob_expand(g, "/boot/vmlinuz-*");
    if (!k)
        return guest_fail(g, err, KILN_EFAIL, "cannot list '/boot'");
    int ret = 0;
    for (char **p = k; *p && ret == 0; p++)
        ret = check_signed(g, *p, "kernel", err);
    guest_free_strings(k);
    return ret;
}

int disk_finish(guestfs_h *g, const struct recipe *r, const struct recipe_output *o, const struct disk_parts *parts,
                const char *root_dev, const char *esp_out, struct kiln_err *err)
{
    char *uuid = guestfs_vfs_uuid(g, root_dev);
    if (!uuid)
        return guest_fail(g, err, KILN_EFAIL, "cannot read the root filesystem's UUID");
    const char *fs = o->filesystem ? o->filesystem : "ext4";
    char volid[10];
    disk_esp_volid(r, volid);
    _cleanup_free_ char *fstab = disk_fstab(uuid, fs, parts->esp.num ? volid : NULL);
    _cleanup_free_ char *root_uuid = uuid;
    if (guestfs_mkdir_p(g, "/etc") < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot create '/etc'");
    int ret = guest_write(g, "/etc/fstab", fstab, strlen(fstab), 0644, err);
    if (ret < 0 || !o->bootable)
        return ret;
    if (!has_glob(g, "/boot/vmlinuz-*"))
        return kiln_errf(err, KILN_EINVAL, "a bootable disk needs a kernel, and the image has no '/boot/vmlinuz-*': add a kernel package such as linux-image-amd64");
    if (!has_glob(g, "/boot/initrd.img-*"))
        return kiln_errf(err, KILN_EINVAL, "a bootable disk needs an initramfs, and the image has no '/boot/initrd.img-*': install initramfs-tools");
    if (!guest_exists(g, "/usr/sbin/grub-install"))
        return kiln_errf(err, KILN_EINVAL, "a bootable disk needs a boot loader, and the image has no grub-install: add grub-pc (BIOS) or grub-efi-amd64-bin (UEFI) to the packages");
    if ((parts->mbr || parts->bios.num) && guestfs_is_dir(g, "/usr/lib/grub/i386-pc") != 1)
        return kiln_errf(err, KILN_EINVAL, "a bootable disk for BIOS needs its boot loader, and the image has no BIOS GRUB ('/usr/lib/grub/i386-pc'): add grub-pc to the packages");
    if (parts->esp.num && guestfs_is_dir(g, "/usr/lib/grub/x86_64-efi") != 1)
        return kiln_errf(err, KILN_EINVAL, "a bootable disk for UEFI needs its boot loader, and the image has no UEFI GRUB ('/usr/lib/grub/x86_64-efi'): add grub-efi-amd64-bin to the packages");
    if (o->secure_boot && (ret = check_secure_boot(g, err)) < 0)
        return ret;
    return install_grub(g, o, parts, root_uuid, esp_out, err);
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
