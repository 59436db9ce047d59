/* disk-internal.h - shared by disk/'s own files only: what both paths
 * write into a bootable image, and GRUB on the host (host-grub.c). */
#ifndef KILN_DISK_INTERNAL_H
#define KILN_DISK_INTERNAL_H

#include <stdint.h>

#include "common/err.h"
#include "tree/tree.h"

/* A UUID (version 4 layout, lowercase) that depends only on the recipe's
 * digest and what ("root-fs", "disk-guid", "part-root"...): both paths give
 * the same recipe the same file system UUID, and so the same /etc/fstab. */
struct recipe;
void disk_stable_uuid(const struct recipe *r, const char *what, char out[37]);

/* The same disk on every build (repro.c).  disk_set_table_ids() gives the
 * partition table of raw (made by parted) the recipe's identifiers: for
 * GPT the disk GUID ("disk-guid") and partition i+1's GUID ("part-"
 * names[i]), for MBR the disk signature.  disk_ext4_settle() sets the
 * atime and ctime of every inode in use of the ext4 file system at byte
 * offset of raw to epoch (mke2fs -d copies the staging directory's). */
int disk_set_table_ids(const struct recipe *r, const char *raw, int mbr, const char *const *names, size_t n,
                       struct kiln_err *err);
int disk_ext4_settle(const char *raw, uint64_t offset, int64_t epoch, const char *workdir, struct kiln_err *err);

/* Where the partitions go (esp.c), the one place for both paths.  Sectors
 * of 512 bytes, inclusive; num 0 = no such partition.  GPT: a 1 MiB BIOS
 * boot partition for GRUB's core image (bios, hybrid), the EFI System
 * Partition of RECIPE_ESP_SIZE (uefi, hybrid), then the root to the backup
 * table; MBR: the root from sector 2048, GRUB in the gap before it. */
struct disk_part {
    int num;
    uint64_t start, end;
};
struct disk_parts {
    int mbr;
    struct disk_part bios, esp, root;
};
struct recipe_output;
void disk_plan_parts(const struct recipe_output *o, uint64_t size, struct disk_parts *p);

/* The ESP's FAT volume ID, "XXXX-XXXX" as /etc/fstab names it, from the
 * recipe (disk_stable_uuid(r, "esp-fs")). */
void disk_esp_volid(const struct recipe *r, char out[10]);

/* Makes the ESP's FAT32 file system from the files below src (EFI/...) in a
 * scratch file in workdir, reproducibly (volume ID volid, every time
 * epoch, entries in sorted order), and writes it into raw at p->esp in
 * place of all the partition held: p->esp reads as that file system alone. */
int disk_esp_write(const char *raw, const struct disk_parts *p, const char *src, const char *volid,
                   int64_t epoch, const char *workdir, struct kiln_err *err);

/* /etc/fstab: the root by UUID and, when esp_volid is not NULL, the ESP
 * at /boot/efi by its volume ID (nofail: only boot loader updates need it,
 * so a slow or missing ESP never stops a boot).  Owned by the caller. */
char *disk_fstab(const char *root_uuid, const char *fs, const char *esp_volid);

/* 1 if the PE image whose first len bytes are head carries an Authenticode
 * signature (a certificate table): what UEFI Secure Boot checks. */
int disk_pe_signed(const unsigned char *head, size_t len);
#define DISK_PE_HEAD 4096

#define DISK_ESP_GUID "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

/* sshd will not start without host keys and sysprep removes them: this unit,
 * enabled by sysprep wherever sshd is installed, makes them at first boot. */
#define DISK_SSH_KEYGEN_UNIT "kiln-ssh-host-keys.service"
#define DISK_SSH_KEYGEN_SERVICE                                               \
    "[Unit]\n"                                                                \
    "Description=Generate SSH host keys on first boot\n"                      \
    "Before=ssh.service sshd.service\n"                                       \
    "ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key\n"                      \
    "\n"                                                                      \
    "[Service]\n"                                                             \
    "Type=oneshot\n"                                                          \
    "ExecStart=/usr/bin/ssh-keygen -A\n"                                      \
    "\n"                                                                      \
    "[Install]\n"                                                             \
    "WantedBy=multi-user.target\n"

/* The kernel console and the /etc/default/grub.d drop-in every bootable
 * disk gets, whichever path installs GRUB. */
#define DISK_KERNEL_CONSOLE "console=tty0 console=ttyS0,115200n8"
#define DISK_GRUB_DEFAULTS                                                    \
    "# written by kiln: serial console for headless boots\n"                 \
    "GRUB_TIMEOUT=1\n"                                                        \
    "GRUB_CMDLINE_LINUX_DEFAULT=\"" DISK_KERNEL_CONSOLE "\"\n"                \
    "GRUB_TERMINAL=\"console serial\"\n"                                      \
    "GRUB_SERIAL_COMMAND=\"serial --speed=115200\"\n"

/* Bootable disks on the host (host-grub.c).  host_grub_prepare() checks the
 * tree for a kernel with its initramfs and the image's GRUB files for each
 * firmware the layout p serves, makes GRUB's images with the host's
 * grub-mkimage from those files (copied out of the tree, never read through
 * guest paths) and adds to the tree what grub-install and update-grub would
 * (/boot/grub/<target>/, grub.cfg for the newest kernel with a serial
 * console, the grub.d drop-in).  name is the menu entry's title.  BIOS:
 * out->core_img and out->boot_img are paths in workdir; UEFI: out->esp_dir
 * is a directory in workdir holding EFI/BOOT/BOOTX64.EFI, for
 * disk_esp_write().  host_grub_embed() writes boot.img into raw's MBR
 * (keeping the partition table) and core.img at first_sector, which has
 * max_sectors of room. */
struct host_grub {
    char *core_img, *boot_img; /* BIOS, or NULL; owned */
    char *esp_dir;             /* UEFI, or NULL; owned */
};
int host_grub_prepare(struct tree *t, const char *workdir, const char *name, const char *uuid,
                      const struct disk_parts *p, struct host_grub *out, struct kiln_err *err);
void host_grub_release(struct host_grub *g);
int host_grub_embed(const char *core_img, const char *boot_img, const char *raw, uint64_t first_sector,
                    uint64_t max_sectors, struct kiln_err *err);

#endif
