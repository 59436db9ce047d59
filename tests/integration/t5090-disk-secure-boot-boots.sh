#!/bin/bash
# A secure_boot disk carries Debian's signed chain on its EFI System
# Partition (shim signed by Microsoft's UEFI CA at EFI/BOOT/BOOTX64.EFI,
# GRUB and the kernel signed by Debian) and boots under OVMF's Secure Boot
# firmware with Microsoft's keys enrolled: the boot test passes only when the
# kernel says Secure Boot is on.  Slow: an appliance run and a boot under
# emulation with SMM.
. "$(dirname "$0")/lib.sh"
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-${TMPDIR:-/tmp}/kiln-test-cache}

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

cat >sb.yaml <<-YAML
name: debian-sb
version: 1.0.0
base:
  debian:
    suite: bookworm
    variant: minbase
    packages: [linux-image-amd64, systemd-sysv, shim-signed, grub-efi-amd64-signed]
hostname: debian-sb
outputs:
  - qcow2: {bootable: true, firmware: uefi, secure_boot: true}
YAML

test_expect_success 'a secure_boot recipe builds a UEFI disk that records Secure Boot' '
    kiln build sb.yaml --verbose >out 2>err &&
    test_grep "installing GRUB for UEFI (shim and signed GRUB for Secure Boot)" err &&
    m=$(blob "$(manifest_of debian-sb:1.0.0)") &&
    jq -e ".annotations[\"dev.kiln.disk.firmware\"] == \"uefi\"" "$m" &&
    jq -e ".annotations[\"dev.kiln.disk.secure-boot\"] == \"true\"" "$m"
'

# The ESP holds exactly what grub-install put there, in a FAT of its own:
# Debian's signed GRUB (the one whose prefix is /EFI/debian, as grub-install
# --uefi-secure-boot --removable picks) beside shim, and the grub.cfg that
# GRUB reads there hands over to the root file system.
test_expect_success 'its ESP holds shim at the removable-media path and the signed GRUB beside it' '
    kiln export debian-sb:1.0.0 --format raw --output d.raw &&
    parted -s -m d.raw unit s print >pt &&
    test_grep "^1:2048s:.*:fat32:esp:.*esp" pt &&
    ! grep -q bios_grub pt &&
    sectors=$(grep "^1:" pt | cut -d: -f4) &&
    dd if=d.raw of=esp.img bs=512 skip=2048 count="${sectors%s}" status=none &&
    fsck.fat -n esp.img &&
    mcopy -n -i esp.img ::/EFI/BOOT/BOOTX64.EFI shim.efi &&
    mcopy -n -i esp.img ::/EFI/BOOT/grubx64.efi grub.efi &&
    mcopy -n -i esp.img ::/EFI/debian/grub.cfg grub.cfg &&
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro --format=raw -a d.raw -i <<-GF >uuid &&
	download /usr/lib/shim/shimx64.efi.signed shim.signed
	download /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed grub.signed
	vfs-uuid /dev/sda2
	GF
    cmp shim.efi shim.signed &&
    cmp grub.efi grub.signed &&
    test_grep "^search.fs_uuid $(cat uuid) root" grub.cfg &&
    test_grep "^configfile \$prefix/grub.cfg" grub.cfg
'

test_expect_success 'it boots under OVMF with Secure Boot enforced, and the kernel says so' '
    before=$(store_digest) &&
    kiln boot-test debian-sb:1.0.0 --timeout 300 --json >out 2>err &&
    jq -e ".result == \"pass\" and (.boots | length) == 1 and .boots[0].firmware == \"secure-boot\"" out &&
    test "$before" = "$(store_digest)"
'

test_done
