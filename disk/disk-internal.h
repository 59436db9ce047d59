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
 * tree for a kernel with its initramfs and the image's BIOS GRUB files,
 * makes core.img with the host's grub-mkimage from those files (copied out
 * of the tree, never read through guest paths) and adds to the tree what
 * grub-install and update-grub would (/boot/grub/i386-pc/, grub.cfg for
 * the newest kernel with a serial console, the grub.d drop-in).  name is
 * the menu entry's title.  *core_img and *boot_img (caller-owned) are
 * paths in workdir.  host_grub_embed() writes boot.img into raw's MBR
 * (keeping the partition table) and core.img at first_sector, which has
 * max_sectors of room. */
int host_grub_prepare(struct tree *t, const char *workdir, const char *name, const char *uuid, int mbr,
                      char **core_img, char **boot_img, struct kiln_err *err);
int host_grub_embed(const char *core_img, const char *boot_img, const char *raw, uint64_t first_sector,
                    uint64_t max_sectors, struct kiln_err *err);

#endif
