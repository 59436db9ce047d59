/* boot.h - booting a disk: not a build step, what `kiln boot-test` runs.
 *
 * boot_test_run() boots a disk file under qemu-system-x86_64 with the serial
 * console captured and waits for a marker on it.  The disk is never
 * modified: a qcow2 overlay in a temp directory takes the writes, and every
 * format is explicit.  The accelerator (KVM or TCG) is boot/accel.h's. */
#ifndef KILN_BOOT_H
#define KILN_BOOT_H

#include "common/err.h"

#define BOOT_TEST_DEFAULT_MARKER "login:"
#define BOOT_TEST_DEFAULT_TIMEOUT 300
#define BOOT_TEST_TAIL_LINES 20
#define BOOT_TEST_FAIL_GRACE 3 /* seconds the guest may go on after a fail marker */

/* The firmware qemu boots with: SeaBIOS, OVMF, or OVMF's Secure Boot build
 * (SMM, q35) with Microsoft's keys enrolled, under which the boot passes
 * only when the kernel also says so on the console (BOOT_SECURE_BOOT_MARKER). */
enum boot_firmware { BOOT_BIOS, BOOT_UEFI, BOOT_SECURE_BOOT };
#define BOOT_OVMF_DIR "/usr/share/OVMF"
#define BOOT_OVMF_CODE BOOT_OVMF_DIR "/OVMF_CODE_4M.fd"
#define BOOT_OVMF_VARS BOOT_OVMF_DIR "/OVMF_VARS_4M.fd"
#define BOOT_OVMF_SB_CODE BOOT_OVMF_DIR "/OVMF_CODE_4M.secboot.fd"
#define BOOT_OVMF_SB_VARS BOOT_OVMF_DIR "/OVMF_VARS_4M.ms.fd"
#define BOOT_SECURE_BOOT_MARKER "Secure boot enabled"
/* "bios", "uefi", "secure-boot". */
const char *boot_firmware_name(enum boot_firmware fw);

/* Embedded: boot_result_release() frees the members. */
struct boot_result {
    int passed;          /* the marker appeared, and no fail marker before it */
    double seconds;      /* from qemu's start to the marker (or the end) */
    const char *accel;   /* "kvm" or "tcg" (static) */
    char *tail;          /* the console's last BOOT_TEST_TAIL_LINES lines; owned */
    const char *why;     /* not passed although the marker appeared: why (static), else NULL */
    char *failed_on;     /* the console line with the fail marker that ended the boot, or NULL; owned */
};

/* What to boot.  Every pointer is borrowed. */
struct boot_opts {
    const char *disk;                 /* the disk file; never written */
    const char *format;               /* its format, as qemu names it: qcow2, raw, vmdk, vhdx, vpc */
    enum boot_firmware firmware;      /* BOOT_BIOS (SeaBIOS), BOOT_UEFI or BOOT_SECURE_BOOT (OVMF) */
    const char *marker;               /* NULL or "": BOOT_TEST_DEFAULT_MARKER */
    unsigned timeout;                 /* seconds; 0: BOOT_TEST_DEFAULT_TIMEOUT */
    const char *tmp_parent;           /* the temp directory (overlay, console) goes here */
    const char *seed;                 /* an ISO attached read-only as a second virtio disk
                                         (a NoCloud seed, seed.h), or NULL */
    const char *const *fail_markers;  /* NULL-terminated: text that fails the boot at once when it
                                         appears on the console before the marker, or NULL */
};

/* Boots o->disk with o->firmware, its overlay (and OVMF's writable variable
 * store) in a temp directory under o->tmp_parent,
 * until the marker (or a fail marker) appears on the console, qemu exits or
 * the timeout passes; qemu is always killed.  Returns 0 with res->passed
 * set either way; negative only when qemu could not be run. */
int boot_test_run(const struct boot_opts *o, struct boot_result *res, struct kiln_err *err);
void boot_result_release(struct boot_result *res);

/* A disk file given on the command line (`kiln boot-test --disk`). */
/* The qemu name of a format kiln boots: "qcow2", "raw", "vmdk", "vhdx", or
 * "vhd" ("vpc"); NULL for any other name. */
const char *boot_disk_format(const char *name);
/* Checks with `qemu-img info` that path is a disk qemu reads as format (a
 * qemu name) and that it names no other file (a backing file, a vmdk
 * extent elsewhere): KILN_EINVAL naming path otherwise. */
int boot_disk_check(const char *path, const char *format, struct kiln_err *err);

#endif
