/* guest.h - kiln's libguestfs handle, for disk/'s own files.
 *
 * Only disk/'s files include this header (it pulls in guestfs.h).
 * guest_open() returns a handle whose errors are not printed by
 * libguestfs (set_error_handler NULL) and that runs under the
 * accelerator accel_get() chose; guest_fail() turns the handle's last
 * error into kiln's.  Every drive is added with an explicit format. */
#ifndef KILN_GUEST_H
#define KILN_GUEST_H

#include <guestfs.h>
#include <stdint.h>

#include "common/common.h"

DEFINE_CLEANUP(guestfs_h, guestfs_close)

/* A new handle (owned by the caller; close with guestfs_close).  network:
 * give the appliance a network (must be decided before launch). */
int guest_open(int network, guestfs_h **out, struct kiln_err *err);

/* Exports SOURCE_DATE_EPOCH=epoch (decimal digits) to every command
 * guest_run() runs on g from now on, so that tools that honour it (shadow's
 * useradd and chage, Python's py_compile and compileall, dpkg, man-db)
 * write the build's time rather than the wall clock.  epoch is borrowed:
 * it must outlive the handle. */
void guest_set_epoch(guestfs_h *g, const char *epoch);

/* Sets err from the handle's last error: "<what>: <libguestfs message>". */
int guest_fail(guestfs_h *g, struct kiln_err *err, int code, const char *fmt, ...) KILN_PRINTF(4, 5);

/* Adds a drive with an explicit format ("raw" or "qcow2"). */
int guest_add_drive(guestfs_h *g, const char *path, const char *format, int readonly,
                    struct kiln_err *err);

int guest_launch(guestfs_h *g, struct kiln_err *err);

/* Unmounts the guest's filesystems and shuts the appliance down, so that
 * everything is on the disk. */
int guest_finish(guestfs_h *g, struct kiln_err *err);

/* Frees a NULL-terminated string list that libguestfs returned (NULL is fine). */
void guest_free_strings(char **v);

/* Runs argv inside the mounted guest (chroot at /, with /dev, /proc and /sys
 * bound in), output logged line by line after it finishes.  Processes the
 * command leaves running in the guest are stopped when it ends (with a
 * warning), and the bind mounts are gone when this returns, so that nothing
 * of the appliance ends up in the image.  A non-zero exit
 * fails with "'<what>' failed with exit status N"; when timeout is non-zero
 * the command is killed after that many seconds (in the guest with
 * timeout(1), and the appliance is killed from the host as a last resort)
 * and the error says it timed out.  what names the command in messages.
 * The command's environment: PATH, HOME=/root, LC_ALL=C,
 * DEBIAN_FRONTEND=noninteractive and SOURCE_DATE_EPOCH when set. */
int guest_run(guestfs_h *g, const char *what, char *const argv[], unsigned timeout,
              struct kiln_err *err);

/* Runs a shell command line in the guest ("/bin/sh -c CMD"). */
int guest_sh(guestfs_h *g, const char *what, const char *cmd, unsigned timeout, struct kiln_err *err);

/* Writes a file in the guest (mode applied). */
int guest_write(guestfs_h *g, const char *path, const char *data, size_t len, int mode,
                struct kiln_err *err);

/* 1 if path exists in the guest (any type, symlinks not followed), 0 if not. */
int guest_exists(guestfs_h *g, const char *path);

#endif
