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

/* Embedded: boot_result_release() frees the members. */
struct boot_result {
    int passed;          /* the marker appeared */
    double seconds;      /* from qemu's start to the marker (or the end) */
    const char *accel;   /* "kvm" or "tcg" (static) */
    char *tail;          /* the console's last BOOT_TEST_TAIL_LINES lines; owned */
};

/* Boots the disk at path (format "qcow2" or "raw"), its overlay in a temp
 * directory under tmp_parent, until marker appears on the console, qemu
 * exits or timeout seconds pass; qemu is always killed.  Returns 0 with
 * res->passed set either way; negative only when qemu could not be run. */
int boot_test_run(const char *path, const char *format, const char *marker, unsigned timeout,
                  const char *tmp_parent, struct boot_result *res, struct kiln_err *err);
void boot_result_release(struct boot_result *res);

#endif
