/* disk.h - disk layout: a root file system becomes a VM disk, and a disk
 * becomes a root file system again.  This header does not include guestfs.h.
 *
 * Two paths lay out a disk, and both fill a struct guest_result:
 *   host path       host_disk_stage() (host-disk.c, host-grub.c, repro.c): the
 *                   tree is sysprepped and written to an ext4 root with
 *                   `mke2fs -d` on a disk partitioned by `parted`, with the
 *                   recipe's IDs and the build's times, so the same tree gives
 *                   the same disk bytes; GRUB's core image is made with
 *                   grub-mkimage.  Used whenever host_disk_possible(); when the
 *                   recipe runs something inside the image, after the appliance
 *                   has run it on a scratch disk.
 *   appliance path  guest_stage_run() (guest-stage.c, customize.c, layout.c):
 *                   one libguestfs launch lays the tree onto a scratch disk, runs
 *                   the recipe's in-guest steps (packages, run, services, sysprep
 *                   and its checked post-condition), makes the disk bootable when
 *                   a disk output asks for it and lay_out_disk is set (the disk
 *                   then depends on the appliance's writes: not reproducible),
 *                   and copies the tree back out.
 * disk_write_output() then turns the raw disk into the output's file (qcow2 or
 * raw).  Reading a disk: disk_detect_format() and base_disk_tar() (the disk
 * base, base-disk.c).  Disks already in the store: disk_find() (disk-store.c).
 * The media types of disks in the store are in images/manifest.h. */
#ifndef KILN_DISK_H
#define KILN_DISK_H

#include <jansson.h>
#include <stdint.h>

#include "common/err.h"
#include "images/manifest.h"
#include "recipes/recipe.h"
#include "tree/tree.h"

#define DISK_MIN_SIZE (64ull << 20)
#define DISK_MAX_SIZE (8ull << 40) /* 8 TiB: refuse anything larger */

/* What either path made.  Embedded: guest_result_release() frees the members. */
struct guest_result {
    char *tree_tar;       /* the rootfs as a tar (tree_out); owned */
    char *disk_raw;       /* the raw disk (in workdir) when the recipe has a disk output, else NULL; owned */
    uint64_t disk_size;   /* its virtual size in bytes */
    int sysprep_verified; /* 1: the sysprep post-condition was checked and holds */
};
void guest_result_release(struct guest_result *res);

/* Plans the disk size: o->size when given (checked against the content:
 * KILN_EINVAL "... is too small ..." when it cannot hold it), else the
 * content plus headroom (1.3x + 256 MiB, more when packages are installed),
 * rounded up to a MiB.  content = bytes of the rootfs tar.  No I/O. */
int disk_plan_size(const struct recipe_output *o, uint64_t content, int installs,
                   uint64_t *size, struct kiln_err *err);

/* What the disk's firmware needs from the image, checked on the tree before
 * any disk work: GRUB's EFI files for UEFI (unless the recipe's packages or
 * run commands may still bring them), apt-get for the signed chain of a
 * secure_boot disk.  KILN_EINVAL naming what to add. */
int disk_check_boot_tree(const struct recipe *r, const struct tree *t, struct kiln_err *err);

/* The appliance path.  workdir is a scratch directory the caller removes.
 * lay_out_disk: partition the recipe's disk and install its boot loader in
 * the appliance (else the disk is scratch space only and out->disk_raw is
 * NULL).
 * epoch: the build's SOURCE_DATE_EPOCH, exported to every in-guest command.
 * What the in-guest steps leave that depends on the build's time and place
 * (caches, logs, backups) is removed before the tree is copied out.
 * On failure nothing outside workdir is touched. */
int guest_stage_run(const struct recipe *r, const char *rootfs_tar, const char *workdir, int64_t epoch,
                    int lay_out_disk, const char *tree_out, struct guest_result *out, struct kiln_err *err);

/* The host path.  host_disk_possible(): 1 when the recipe has a disk output
 * that the host can lay out (ext4, running as root, parted, sfdisk, mke2fs,
 * dumpe2fs and debugfs present; bootable disks need grub-mkimage).
 * host_disk_eligible(): possible, and nothing runs inside the image, so no
 * appliance is needed at all.  host_disk_stage() sysprep-checks tree (and
 * adds /etc/fstab and GRUB's files to it), writes it to tree_out and builds
 * the disk in workdir. */
int host_disk_possible(const struct recipe *r);
int host_disk_eligible(const struct recipe *r);
int host_disk_stage(const struct recipe *r, struct tree *tree, const char *workdir, const char *tree_out,
                    struct guest_result *out, struct kiln_err *err);

/* 1 when sysprep removes or empties what a recipe writes at path (a file,
 * else a symlink): host keys, logs, apt lists, /tmp, the machine-id. */
int disk_sysprep_clears(const char *path, int is_file);

/* Writes the raw disk at raw as dest in the output's format (qcow2 compact,
 * compressed when o->compress; raw sparse), through a temp file next to dest. */
int disk_write_output(const char *raw, const struct recipe_output *o, const char *dest,
                      struct kiln_err *err);

enum disk_format { DISK_FORMAT_RAW, DISK_FORMAT_QCOW2 };

/* Detects a disk file's format from its header (never by asking qemu):
 * "QFI\xfb" is qcow2 (refused when it names a backing or external data
 * file), other known image magics are refused, anything else is raw and
 * must be a whole number of 512-byte sectors.  KILN_EINVAL with a clear
 * message for anything that is not a usable disk image. */
int disk_detect_format(const char *path, enum disk_format *fmt, struct kiln_err *err);
/* "qcow2" or "raw". */
const char *disk_format_name(enum disk_format fmt);

/* The disk base: checks the declared sha256, the format (above), that the
 * disk holds an operating system (libguestfs inspection), and exports its
 * root filesystem (every mounted filesystem) as a tar at tar_out with
 * numeric owners and xattrs.  The disk is read at `src` (a /proc/PID/fd/N
 * path of the file opened inside the build context); messages name
 * b->path. */
int base_disk_tar(const struct recipe_base *b, const char *src, const char *tar_out, struct kiln_err *err);

/* Reads a disk that may be in use, as virt-diff does: opened read-only (a
 * running host's disk is never written, and what the host has not flushed
 * yet is not seen), its operating system inspected and every file system
 * of its fstab mounted read-only, the root exported as a tar at tar_out
 * with numeric owners and xattrs (lost+found left out, and what matches a
 * GNU tar exclude pattern of skip, NULL-terminated or NULL: "./var/log/"
 * then "*" leaves out what is below /var/log).  Unlike a base
 * disk, a qcow2 overlay may name a backing file (a host's disk is one), and
 * nothing is checksummed against a recipe.  A read that a running host's
 * writes tore (tar stops) is made again by a new appliance, at most three
 * times in all.  Messages name "disk 'PATH'". */
int disk_read_root(const char *path, const char *const *skip, const char *tar_out, struct kiln_err *err);

/* Which structures of two disks differ (compare.c): *out (a new reference)
 * is a JSON array of {"region", "detail"}: the disk's size, the partition
 * table's fields, and every region (MBR boot code, GPT header and entries,
 * the boot loader gap, each partition, the backup GPT) holding a differing
 * byte, an ext4 partition with the superblock fields that differ.  Empty
 * when the disks' bytes are the same.  qcow2 disks are read through a raw
 * copy in workdir (removed before returning). */
int disk_compare(const char *a, enum disk_format fmt_a, const char *b, enum disk_format fmt_b,
                 const char *workdir, json_t **out, struct kiln_err *err);

/* --- disks in the store (disk-store.c) ----------------------------------- */
struct store;

/* A disk blob in the store.  Embedded: disk_ref_release() frees the members. */
struct disk_ref {
    enum disk_format format;
    char *blob_path;   /* the blob's path in the store (read it, never write it) */
    char *digest;      /* "sha256:<hex>" of the disk blob */
    uint64_t size;
    char *marker;      /* the recipe's boot_test.marker, or NULL */
    unsigned timeout;  /* the recipe's boot_test.timeout, or 0 */
    enum recipe_firmware firmware; /* what the disk claims to boot with (bios for disks
                                      made before firmware was recorded); NONE: not bootable */
    int secure_boot;   /* it claims Secure Boot */
};

/* Finds the disk of ref: a disk artifact manifest, or the disk in an index
 * (the one of format want first; any other disk when any is set). */
int disk_find(struct store *st, const char *ref, enum disk_format want, int any, struct disk_ref *out,
              struct kiln_err *err);
void disk_ref_release(struct disk_ref *d);

#endif
