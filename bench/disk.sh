#!/bin/bash
# VM disk build: kiln vs virt-make-fs, on the Debian 12 minbase root file
# system that bench/oci.sh also uses (bench/cache/bookworm-minbase.tar, made
# once with mmdebstrap).
#
# kiln:         `kiln build` of a recipe whose base is that tarball, output
#               qcow2 (GPT with a BIOS boot partition, ext4 root by UUID,
#               sysprep and its check, file manifest, stored in the store).
#               Nothing runs inside the image, so kiln lays the disk out on
#               the host (mke2fs -d) without an appliance.
# virt-make-fs: `virt-make-fs --format=qcow2 --type=ext4 --partition=gpt` of
#               the same tarball (copy only: no sysprep, no manifest, no store).
# Both run under the same accelerator (TCG when KVM does not work here).
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
KILN=${KILN_BIN:-$SRC/kiln}
CACHE=$SRC/bench/cache
ROOTFS=$CACHE/bookworm-minbase.tar

if [ ! -f "$ROOTFS" ]; then
    echo "# making $ROOTFS with mmdebstrap (once)"
    mkdir -p "$CACHE"
    mmdebstrap --quiet --variant=minbase --mode=root --format=tar bookworm \
        "$CACHE/.tmp-bookworm-minbase.tar" http://deb.debian.org/debian
    mv "$CACHE/.tmp-bookworm-minbase.tar" "$ROOTFS"
fi
echo "# rootfs: $(du -m "$ROOTFS" | cut -f1) MB"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/kiln-bench-disk.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/bench.yaml" <<EOF
name: bench-disk
version: 1.0.0
base:
  tarball:
    path: $ROOTFS
outputs:
  - qcow2
EOF

now() { date +%s.%N; }

t0=$(now)
# mmdebstrap's tar holds /dev nodes: accept them, as bench/oci.sh does.
if ! KILN_ALLOW_DEVICES=1 KILN_STORE="$WORK/store" "$KILN" build "$WORK/bench.yaml" >/dev/null 2>"$WORK/kiln.err"; then
    cat "$WORK/kiln.err" >&2
    exit 1
fi
t1=$(now)
# The same accelerator for virt-make-fs as kiln would use: KVM only when qemu
# can boot the host kernel with it (kiln's own probe, see builder/accel.h).
export LIBGUESTFS_BACKEND=direct
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | tail -n 1)
bash -c 'timeout 10 qemu-system-x86_64 -accel kvm -cpu host -M pc -m 128 -display none \
    -nodefaults -no-reboot -serial "file:$1" -kernel "$2" -append "console=ttyS0 panic=-1"; true' \
    probe "$WORK/probe" "$kernel" >/dev/null 2>&1
if [ "${KILN_ACCEL:-auto}" = tcg ] || ! grep -q "Linux version" "$WORK/probe" 2>/dev/null; then
    echo "# KVM does not work here: virt-make-fs runs under TCG"
    export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
fi
t1v=$(now)
virt-make-fs --format=qcow2 --type=ext4 --partition=gpt "$ROOTFS" "$WORK/vmf.qcow2"
t2=$(now)

kiln_s=$(echo "$t1 - $t0" | bc -l)
vmf_s=$(echo "$t2 - $t1v" | bc -l)
kiln_mb=$(du -m "$WORK/store/blobs" | tail -n 1 | cut -f1)
vmf_mb=$(du -m "$WORK/vmf.qcow2" | cut -f1)
printf '# kiln %.1f s (store %s MB), virt-make-fs %.1f s (%s MB)\n' "$kiln_s" "$kiln_mb" "$vmf_s" "$vmf_mb"
printf 'kiln/virt-make-fs wall: %.2f\n' "$(echo "$kiln_s / $vmf_s" | bc -l)"
