#!/bin/bash
# Acceleration: kiln probes whether KVM really boots a kernel, falls back to
# TCG saying so once, and KILN_ACCEL=auto|kvm|tcg overrides.  The test probes
# KVM itself, independently of kiln, so it checks the right outcome on a
# machine where KVM works as well as on one where it does not.
. "$(dirname "$0")/lib.sh"
export TMPDIR="$TEST_DIR/tmp"
mkdir -p "$TMPDIR"

busybox_root root sh cat echo
tar -C root -cf base.tar .
cat >r.yaml <<-YAML
name: accel
version: 1.0.0
base:
  tarball: {path: base.tar}
run:
  - echo ran in the guest > /etc/ran
outputs: [oci]
YAML

# Does qemu boot the host kernel with KVM far enough to print its banner?
kvm_works() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    k=$(ls /boot/vmlinuz-* 2>/dev/null | sort | tail -n 1) &&
    [ -n "$k" ] &&
    rm -f probe.log &&
    # qemu is killed after 10 s, or fails to start: only the banner it printed counts
    { timeout -s KILL 10 qemu-system-x86_64 -accel kvm -cpu host -M pc -m 128 \
        -display none -nodefaults -no-reboot -serial file:probe.log \
        -kernel "$k" -append "console=ttyS0 panic=-1" >/dev/null 2>&1 || :; } &&
    grep -q "Linux version" probe.log 2>/dev/null
}
if kvm_works; then KVM=yes; else KVM=no; fi
say "KVM works here: $KVM"

test_expect_success 'KILN_ACCEL=auto builds, and says once that it uses TCG exactly when KVM is broken' '
    KILN_ACCEL=auto kiln build r.yaml >out 2>err &&
    test_grep "^accel:1.0.0@sha256:" out &&
    n=$(awk "/KVM does not work here; using TCG/ { n++ } END { print n + 0 }" err) &&
    if [ $KVM = no ]; then test "$n" = 1; else test "$n" = 0; fi
'

test_expect_success 'the run command really ran inside the guest' '
    umoci unpack --image "$KILN_STORE:accel:1.0.0" bundle >/dev/null &&
    test "$(cat bundle/rootfs/etc/ran)" = "ran in the guest"
'

test_expect_success 'KILN_ACCEL=tcg builds without probing or warning, to the same digest' '
    d1=$(sed -n "s/^accel:1.0.0@//p" out) &&
    KILN_ACCEL=tcg kiln build r.yaml --force --no-cache >out 2>err &&
    test_grep "^accel:1.0.0@sha256:" out &&
    ! grep -q "KVM" err &&
    test "$(sed -n "s/^accel:1.0.0@//p" out)" = "$d1"
'

if [ $KVM = yes ]; then
    test_skip 'KILN_ACCEL=kvm fails clearly when KVM is broken, and the store is unchanged' 'KVM works here'
else
    test_expect_success 'KILN_ACCEL=kvm fails clearly when KVM is broken, and the store is unchanged' '
        rm -rf bundle &&
        before=$(store_digest) &&
        KILN_ACCEL=kvm test_expect_code 1 kiln build r.yaml --version 2.0.0 --no-cache &&
        test_grep "KVM does not work" err &&
        test "$before" = "$(store_digest)" &&
        test -z "$(ls -A "$TMPDIR")"
    '
fi

test_expect_success 'an unknown KILN_ACCEL is a usage error, and the store is unchanged' '
    before=$(store_digest) &&
    KILN_ACCEL=hvf test_expect_code 2 kiln build r.yaml --version 3.0.0 &&
    test_grep "KILN_ACCEL.*hvf.*auto, kvm, tcg" err &&
    test "$before" = "$(store_digest)"
'

test_done
