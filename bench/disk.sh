#!/bin/bash
# VM disk build: kiln vs virt-make-fs, on two Debian 12 root file systems
# made once with mmdebstrap and cached in bench/cache/:
#   plain     the minbase tree (the one bench/oci.sh uses), a plain qcow2;
#   bootable  minbase + linux-image-amd64, systemd-sysv, grub-pc and
#             grub-efi-amd64-bin, a bootable qcow2 for BIOS (kiln installs
#             GRUB; virt-make-fs cannot).
# Then the same bootable tree for UEFI and hybrid (kiln only: GRUB's EFI
# image and the EFI System Partition's FAT on top), against the BIOS build.
#
# kiln:         `kiln build` of a recipe whose base is that tarball, output
#               qcow2 (GPT with a BIOS boot partition, ext4 root by UUID,
#               sysprep and its check, file manifest, stored in the store;
#               bootable: GRUB and its grub.cfg).  Nothing runs inside the
#               image, so kiln lays the disk out on the host.
# virt-make-fs: `virt-make-fs --format=qcow2 --type=ext4 --partition=gpt` of
#               the same tarball (copy only: no boot loader, no sysprep, no
#               manifest, no store).
# Both run under the same accelerator (TCG when KVM does not work here).
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
KILN=${KILN_BIN:-$SRC/kiln}
CACHE=$SRC/bench/cache
. "$SRC/bench/lib/rootfs.sh"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/kiln-bench-disk.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }

# The same accelerator for virt-make-fs as kiln would use: KVM only when qemu
# can boot the host kernel with it (kiln's own probe, see boot/accel.h).
export LIBGUESTFS_BACKEND=direct
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | tail -n 1)
bash -c 'timeout 10 qemu-system-x86_64 -accel kvm -cpu host -M pc -m 128 -display none \
    -nodefaults -no-reboot -serial "file:$1" -kernel "$2" -append "console=ttyS0 panic=-1"; true' \
    probe "$WORK/probe" "$kernel" >/dev/null 2>&1
if [ "${KILN_ACCEL:-auto}" = tcg ] || ! grep -q "Linux version" "$WORK/probe" 2>/dev/null; then
    echo "# KVM does not work here: virt-make-fs runs under TCG"
    export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
fi

kiln_build() { # LABEL TAR BOOTABLE: builds, prints the seconds it took
    local label=$1 tar=$2 bootable=$3 t0 t1
    printf 'name: bench-%s\nversion: 1.0.0\nbase:\n  tarball: {path: %s}\noutputs:\n  - qcow2: {bootable: %s}\n' \
        "$label" "$tar" "$bootable" >"$WORK/$label.yaml"
    t0=$(now)
    # mmdebstrap's tar holds /dev nodes: accept them, as bench/oci.sh does.
    # The tar lives in the cache, outside the recipe's folder: --context.
    if ! KILN_ALLOW_DEVICES=1 KILN_STORE="$WORK/store-$label" "$KILN" build "$WORK/$label.yaml" \
            --context "$CACHE" >/dev/null 2>"$WORK/kiln.err"; then
        cat "$WORK/kiln.err" >&2
        exit 1
    fi
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

compare() { # LABEL TAR BOOTABLE
    local label=$1 tar=$2 bootable=$3
    echo "# $label: rootfs $(du -m "$tar" | cut -f1) MB"
    local kiln_s vmf_s kiln_mb t1 t2
    kiln_s=$(kiln_build "$label" "$tar" "$bootable")
    t1=$(now)
    virt-make-fs --format=qcow2 --type=ext4 --partition=gpt "$tar" "$WORK/vmf-$label.qcow2"
    t2=$(now)
    rm -f "$WORK/vmf-$label.qcow2"
    vmf_s=$(echo "$t2 - $t1" | bc -l)
    kiln_mb=$(du -m "$WORK/store-$label/blobs" | tail -n 1 | cut -f1)
    printf '# %s: kiln %.1f s (store %s MB), virt-make-fs %.1f s\n' "$label" "$kiln_s" "$kiln_mb" "$vmf_s"
    printf 'kiln/virt-make-fs wall (%s): %.2f\n' "$label" "$(echo "$kiln_s / $vmf_s" | bc -l)"
}

compare plain "$(rootfs bookworm-minbase)" false
boot_tar=$(rootfs bookworm-bootable-efi linux-image-amd64,systemd-sysv,grub-pc,grub-efi-amd64-bin)
compare bootable "$boot_tar" "true, firmware: bios"

# UEFI and hybrid against BIOS, the same tree (kiln only).
bios_s=$(kiln_build fw-bios "$boot_tar" "true, firmware: bios")
uefi_s=$(kiln_build fw-uefi "$boot_tar" "true, firmware: uefi")
hybrid_s=$(kiln_build fw-hybrid "$boot_tar" "true, firmware: hybrid")
printf '# firmware: bios %.1f s, uefi %.1f s, hybrid %.1f s\n' "$bios_s" "$uefi_s" "$hybrid_s"
printf 'kiln uefi/bios wall: %.2f\n' "$(echo "$uefi_s / $bios_s" | bc -l)"
printf 'kiln hybrid/bios wall: %.2f\n' "$(echo "$hybrid_s / $bios_s" | bc -l)"
