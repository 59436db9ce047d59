/* disk.h - the in-guest stage and VM disk images (libguestfs), for the pipeline.
 *
 * guest_stage_run() takes a rootfs tar and a recipe and, in one appliance
 * launch, lays the tree onto a scratch disk, runs the recipe's in-guest
 * steps (packages with apt-get, run commands with their timeouts,
 * services, sysprep and its checked post-condition), makes the disk
 * bootable when a disk output asks for it, and writes the customised
 * tree back out as a tar.  This header does not include guestfs.h. */
#ifndef KILN_DISK_H
#define KILN_DISK_H

#include <stdint.h>

#include "common/err.h"
#include "recipes/recipe.h"

/* Annotation recording that the sysprep post-condition was checked. */
#define DISK_SYSPREP_ANNOTATION "dev.kiln.sysprep"
#define DISK_MEDIA_TYPE_QCOW2 "application/vnd.dev.kiln.disk.qcow2"
#define DISK_MEDIA_TYPE_RAW "application/vnd.dev.kiln.disk.raw"
#define DISK_ARTIFACT_QCOW2 "application/vnd.dev.kiln.disk.qcow2.v1"
#define DISK_ARTIFACT_RAW "application/vnd.dev.kiln.disk.raw.v1"

#define DISK_MIN_SIZE (64ull << 20)
#define DISK_MAX_SIZE (8ull << 40) /* 8 TiB: refuse anything larger */

struct guest_result {
    char *tree_tar;       /* the customised rootfs as a tar (tree_out); owned */
    char *disk_raw;       /* the raw disk (in workdir) when the recipe has a disk output, else NULL; owned */
    uint64_t disk_size;   /* its virtual size in bytes */
    int sysprep_verified; /* 1: the sysprep post-condition was checked and holds */
};

/* The first qcow2/raw output of the recipe, or NULL. */
const struct recipe_output *disk_first_output(const struct recipe *r);

/* Plans the disk size: o->size when given (checked against the content:
 * KILN_EINVAL "... is too small ..." when it cannot hold it), else the
 * content plus headroom (1.3x + 256 MiB, more when packages are installed),
 * rounded up to a MiB.  content = bytes of the rootfs tar.  No I/O. */
int disk_plan_size(const struct recipe_output *o, uint64_t content, int installs,
                   uint64_t *size, struct kiln_err *err);

/* Runs the stage.  workdir is a scratch directory the caller removes.
 * On failure nothing outside workdir is touched. */
int guest_stage_run(const struct recipe *r, const char *rootfs_tar, const char *workdir,
                    const char *tree_out, struct guest_result *out, struct kiln_err *err);

void guest_result_release(struct guest_result *res);

/* Writes the raw disk at raw as dest in the output's format (qcow2 compact,
 * compressed when o->compress; raw sparse), through a temp file next to dest. */
int disk_write_output(const char *raw, const struct recipe_output *o, const char *dest,
                      struct kiln_err *err);

/* The debian base: runs `mmdebstrap --variant=V [--include=P,...] SUITE OUT.tar
 * MIRROR` unless cache_dir already holds the result for these parameters
 * (cache_dir/debian/<sha256 of the parameters>.tar).  *tar_path (owned by
 * the caller) is the cached rootfs tar; sha256 receives its digest. */
int base_debian_tar(const struct recipe_base *b, const char *cache_dir, char **tar_path,
                    char sha256[HASH_HEX_LEN + 1], struct kiln_err *err);

/* The cache key of a debian base (64 hex + NUL). */
void base_debian_key(const struct recipe_base *b, char key[HASH_HEX_LEN + 1]);

enum disk_format { DISK_FORMAT_RAW, DISK_FORMAT_QCOW2 };

/* Detects a disk file's format from its header (never by asking qemu):
 * "QFI\xfb" is qcow2 (refused when it names a backing or external data
 * file), other known image magics are refused, anything else is raw and
 * must be a whole number of 512-byte sectors.  KILN_EINVAL with a clear
 * message for anything that is not a usable disk image. */
int disk_detect_format(const char *path, enum disk_format *fmt, struct kiln_err *err);

/* The disk base: checks the declared sha256, the format (above), that the
 * disk holds an operating system (libguestfs inspection), and exports its
 * root filesystem (every mounted filesystem) as a tar at tar_out with
 * numeric owners and xattrs. */
int base_disk_tar(const struct recipe_base *b, const char *tar_out, struct kiln_err *err);

/* --- the pipeline's side (build-disk.c) --------------------------------- */
struct build_ctx;
struct output_desc;

/* Bases: the cached mmdebstrap rootfs / the disk's root filesystem read into ctx->tree. */
int base_debian_run(struct build_ctx *ctx, struct kiln_err *err);
int base_disk_run(struct build_ctx *ctx, struct kiln_err *err);

/* The build_guest_fn hook (builder/build.h): runs guest_stage_run() and keeps
 * the raw disk in the scratch directory for output_disk_run(). */
int disk_guest_hook(struct build_ctx *ctx, const char *in_tar, const char *out_tar, struct kiln_err *err);

/* The host fast path (host-disk.c): 1 when the recipe's disk can be laid out
 * without an appliance (no in-guest steps, not bootable, ext4, running as root,
 * parted and mke2fs present); host_disk_stage() then sysprep-checks the tree,
 * writes it to out_tar and builds the disk with mke2fs -d. */
int host_disk_eligible(const struct recipe *r);
int host_disk_stage(struct build_ctx *ctx, const char *out_tar, struct kiln_err *err);

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
 * the newest kernel with a serial console, the grub.d drop-in).  *core_img
 * and *boot_img (caller-owned) are paths in ctx->scratch.
 * host_grub_embed() writes boot.img into raw's MBR (keeping the partition
 * table) and core.img at first_sector, which has max_sectors of room. */
int host_grub_prepare(struct build_ctx *ctx, const char *uuid, int mbr, char **core_img, char **boot_img,
                      struct kiln_err *err);
int host_grub_embed(const char *core_img, const char *boot_img, const char *raw, uint64_t first_sector,
                    uint64_t max_sectors, struct kiln_err *err);

/* The qcow2/raw output: the disk as a held blob layer of an artifact manifest
 * (artifactType DISK_ARTIFACT_*, empty config, dev.kiln.files annotation). */
int output_disk_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                    struct kiln_err *err);

/* --- disks in the store (disk-store.c) ----------------------------------- */
struct store;

#define DISK_ANN_MARKER "dev.kiln.boot-test.marker"
#define DISK_ANN_TIMEOUT "dev.kiln.boot-test.timeout"

/* A disk blob in the store.  Embedded: disk_ref_release() frees the members. */
struct disk_ref {
    enum disk_format format;
    char *blob_path;   /* the blob's path in the store (read it, never write it) */
    char *digest;      /* "sha256:<hex>" of the disk blob */
    uint64_t size;
    char *marker;      /* the recipe's boot_test.marker, or NULL */
    unsigned timeout;  /* the recipe's boot_test.timeout, or 0 */
};

/* Finds the disk of ref: a disk artifact manifest, or the disk in an index
 * (the one of format want first; any other disk when any is set). */
int disk_find(struct store *st, const char *ref, enum disk_format want, int any, struct disk_ref *out,
              struct kiln_err *err);
void disk_ref_release(struct disk_ref *d);

/* --- boot test (boot-test.c) --------------------------------------------- */
#define BOOT_TEST_DEFAULT_MARKER "login:"
#define BOOT_TEST_DEFAULT_TIMEOUT 300
#define BOOT_TEST_TAIL_LINES 20

struct boot_result {
    int passed;          /* the marker appeared */
    double seconds;      /* from qemu's start to the marker (or the end) */
    const char *accel;   /* "kvm" or "tcg" (static) */
    char *tail;          /* the console's last BOOT_TEST_TAIL_LINES lines; owned */
};

/* Boots disk (never modified: a qcow2 overlay in a temp directory under
 * tmp_parent takes the writes, formats always explicit) under qemu with the
 * serial console captured, until marker appears on it, qemu exits or timeout
 * seconds pass; qemu is always killed.  Returns 0 with res->passed set either
 * way; negative only when qemu could not be run. */
int boot_test_run(const struct disk_ref *disk, const char *marker, unsigned timeout, const char *tmp_parent,
                  struct boot_result *res, struct kiln_err *err);
void boot_result_release(struct boot_result *res);

#endif
