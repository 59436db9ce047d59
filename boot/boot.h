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
    int passed;          /* the marker appeared */
    double seconds;      /* from qemu's start to the marker (or the end) */
    const char *accel;   /* "kvm" or "tcg" (static) */
    char *tail;          /* the console's last BOOT_TEST_TAIL_LINES lines; owned */
    const char *why;     /* not passed although the marker appeared: why (static), else NULL */
};

/* Boots the disk at path (format "qcow2" or "raw") with firmware fw, its
 * overlay (and OVMF's writable variable store) in a temp directory under
 * tmp_parent, until marker appears on the console, qemu exits or timeout
 * seconds pass; qemu is always killed.  Returns 0 with res->passed set
 * either way; negative only when qemu (or OVMF) could not be run. */
int boot_test_run(const char *path, const char *format, enum boot_firmware fw, const char *marker, unsigned timeout,
                  const char *tmp_parent, struct boot_result *res, struct kiln_err *err);
void boot_result_release(struct boot_result *res);

#endif
