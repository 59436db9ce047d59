/* accel.h - choose KVM or TCG for libguestfs and qemu.
 *
 * /dev/kvm can exist while qemu cannot use it (nested virtualisation
 * without the MSRs qemu sets, a wedged vCPU).  accel_get() probes once
 * per process by booting the host's kernel under `qemu -accel kvm` for
 * a few seconds and looking for its banner on the serial port; if that
 * fails it logs one warning and everything uses TCG.  The mode comes
 * from the program (the CLI reads KILN_ACCEL=auto|kvm|tcg): kvm makes a
 * broken KVM an error, tcg skips the probe.  No build fails only because
 * KVM is broken. */
#ifndef KILN_ACCEL_H
#define KILN_ACCEL_H

#include "common/err.h"

enum accel_mode { ACCEL_MODE_AUTO, ACCEL_MODE_KVM, ACCEL_MODE_TCG };
enum accel { ACCEL_KVM, ACCEL_TCG };

/* Parses "auto", "kvm", "tcg" (NULL or "" = auto); KILN_EINVAL otherwise. */
int accel_parse_mode(const char *s, enum accel_mode *out, struct kiln_err *err);

/* The process-wide settings (default: auto, probe under /tmp). */
struct accel_opts {
    enum accel_mode mode;
    const char *tmp_parent;       /* the probe's temp directory goes here ($TMPDIR); NULL = /tmp; copied */
};
void accel_configure(const struct accel_opts *o);

/* The pure decision: mode and probe result (1 = KVM works, 0 = not, -1 =
 * not probed) -> accelerator.  *warn is set when the user should be told
 * that TCG is used because KVM does not work.  Fails (KILN_EFAIL) only
 * when kvm is forced and does not work. */
int accel_decide(enum accel_mode mode, int kvm_works, enum accel *out, int *warn, struct kiln_err *err);

/* 1 if qemu can run a guest with KVM here (probes; may take seconds); its
 * temp directory is made under tmp_parent (NULL = /tmp). */
int accel_probe_kvm(const char *tmp_parent);

/* The accelerator to use, probing once per process. */
int accel_get(enum accel *out, struct kiln_err *err);

/* "kvm" or "tcg". */
const char *accel_name(enum accel a);

#endif
