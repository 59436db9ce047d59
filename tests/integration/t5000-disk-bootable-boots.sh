#!/bin/bash
# The bootable Debian example builds into a hybrid qcow2 disk artifact that
# boots to a login prompt under qemu (TCG when KVM does not work) through
# BIOS and through UEFI (OVMF), and boot-test never changes the store;
# `kiln verify --rebuild` makes the same disk again, bit for bit.  Slow: two
# host builds and boots under emulation.
. "$(dirname "$0")/lib.sh"
# mmdebstrap's output is cached by its parameters and shared between tests.
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-${TMPDIR:-/tmp}/kiln-test-cache}

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

test_expect_success 'the bootable example builds into a qcow2 disk artifact' '
    kiln build "$KILN_SRC/recipes/examples/debian-vm.yaml" >out 2>err &&
    test_grep -E "^debian-vm:1.0.0@sha256:[0-9a-f]{64}$" out &&
    m=$(blob "$(manifest_of debian-vm:1.0.0)") &&
    jq -e ".artifactType == \"application/vnd.dev.kiln.disk.qcow2.v1\"" "$m" &&
    jq -e ".layers | length == 1" "$m" &&
    jq -e ".layers[0].mediaType == \"application/vnd.dev.kiln.disk.qcow2\"" "$m" &&
    jq -e ".annotations[\"dev.kiln.sysprep\"] == \"verified\"" "$m" &&
    jq -e ".annotations[\"dev.kiln.disk.firmware\"] == \"hybrid\"" "$m" &&
    files=$(jq -r ".annotations[\"dev.kiln.files\"]" "$m") &&
    jq -e ".files | map(.path) | index(\"/boot/grub/grub.cfg\") != null" "$(blob "$files")" &&
    disk=$(blob "$(jq -r ".layers[0].digest" "$m")") &&
    qemu-img info -f qcow2 --output=json "$disk" >info &&
    jq -e ".format == \"qcow2\" and (has(\"backing-filename\") | not)" info
'

test_expect_success 'rebuilt in a scratch store, the bootable disk is the same bytes' '
    before=$(store_digest) &&
    kiln verify debian-vm:1.0.0 --rebuild "$KILN_SRC/recipes/examples/debian-vm.yaml" >out 2>err &&
    test_grep "^identical debian-vm:1.0.0 sha256:" out &&
    test_grep "^  qcow2 sha256:[0-9a-f]* identical" out &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'the hybrid disk boots to a login prompt under BIOS and under UEFI, and the store is unchanged' '
    before=$(store_digest) &&
    kiln boot-test debian-vm:1.0.0 --timeout 900 >out 2>err &&
    test_grep "boot test passed (bios)" out &&
    test_grep "boot test passed (uefi)" out &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'a marker that never appears fails with the console tail' '
    before=$(store_digest) &&
    test_expect_code 1 kiln boot-test debian-vm:1.0.0 --firmware bios --timeout 20 --marker "no such text on any console" &&
    test_grep "did not appear on the console within 20 seconds" err &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'export writes the disk as qcow2 and raw, verified' '
    kiln export debian-vm:1.0.0 --format qcow2 --output d.qcow2 &&
    m=$(blob "$(manifest_of debian-vm:1.0.0)") &&
    cmp d.qcow2 "$(blob "$(jq -r ".layers[0].digest" "$m")")" &&
    kiln export debian-vm:1.0.0 --format raw --output d.raw &&
    qemu-img compare -f qcow2 -F raw d.qcow2 d.raw
'

test_expect_success 'export --format containerdisk is an OCI image with the qcow2 at /disk owned by 107' '
    kiln export debian-vm:1.0.0 --format containerdisk --output cd &&
    skopeo inspect oci:cd >insp &&
    jq -e ".Layers | length == 1" insp &&
    l=$(jq -r ".Layers[0]" insp) &&
    tar -tvf "cd/blobs/sha256/${l#sha256:}" >list &&
    test_grep -E "^-r--r--r-- 107/107 .* disk/debian-vm.qcow2$" list &&
    tar -xOf "cd/blobs/sha256/${l#sha256:}" disk/debian-vm.qcow2 | cmp - d.qcow2
'

test_expect_success 'the disk records its boot loader: GRUB files, a grub.cfg for the fstab root, the console drop-in' '
    m=$(blob "$(manifest_of debian-vm:1.0.0)") &&
    files=$(blob "$(jq -r ".annotations[\"dev.kiln.files\"]" "$m")") &&
    for p in /boot/grub/i386-pc/core.img /boot/grub/i386-pc/normal.mod /etc/default/grub.d/50-kiln-console.cfg; do
        jq -e --arg p "$p" ".files | map(.path) | index(\$p) != null" "$files" || return 1
    done &&
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro --format=qcow2 -a d.qcow2 -i <<-GF >gf &&
	cat /etc/fstab
	cat /boot/grub/grub.cfg
	GF
    uuid=$(sed -n "s/^UUID=\([0-9a-f-]*\) \/ ext4.*/\1/p" gf) &&
    test -n "$uuid" &&
    test_grep "search --no-floppy --fs-uuid --set=root $uuid" gf &&
    test_grep "linux /boot/vmlinuz-.* root=UUID=$uuid ro console=tty0 console=ttyS0,115200n8" gf
'

test_expect_success 'the hybrid disk: BIOS boot partition, EFI System Partition with GRUB at EFI/BOOT/BOOTX64.EFI, mounted by fstab' '
    parted -s -m d.raw unit s print >pt &&
    test_grep "^1:2048s:4095s:.*bios_grub" pt &&
    test_grep "^2:4096s:.*:fat32:esp:.*esp" pt &&
    test_grep "^3:.*:ext4:root:" pt &&
    mdir -b -i "d.raw@@$((4096 * 512))" ::/EFI/BOOT >efi &&
    test_grep -i "BOOTX64.EFI" efi &&
    vol=$(mdir -i "d.raw@@$((4096 * 512))" ::/ | sed -n "s/.*Serial Number is \([0-9A-F-]*\).*/\1/p") &&
    test -n "$vol" &&
    test_grep "^UUID=$vol /boot/efi vfat" gf &&
    files=$(blob "$(jq -r ".annotations[\"dev.kiln.files\"]" "$(blob "$(manifest_of debian-vm:1.0.0)")")") &&
    jq -e ".files | map(.path) | index(\"/boot/grub/x86_64-efi/normal.mod\") != null" "$files"
'

# An MBR disk embeds GRUB in the gap before the first partition instead.
test_expect_success 'a bootable raw disk with an MBR partition table boots too' '
    sed -e "s/^name: debian-vm/name: debian-vm-mbr/" \
        -e "s/- qcow2: {bootable: true}/- raw: {bootable: true, partition_table: mbr}/" \
        "$KILN_SRC/recipes/examples/debian-vm.yaml" >mbr.yaml &&
    kiln build mbr.yaml >out 2>err &&
    kiln export debian-vm-mbr:1.0.0 --format raw --output mbr.raw &&
    parted -s mbr.raw print >pt &&
    test_grep "Partition Table: msdos" pt &&
    kiln boot-test debian-vm-mbr:1.0.0 --timeout 900 >out 2>err &&
    test_grep "boot test passed" out
'

test_expect_success 'boot-test of an image without a disk is refused' '
    test_expect_code 1 kiln boot-test nosuch:1.0.0
'

test_done
