#!/bin/bash
# What a UEFI or Secure Boot disk needs is checked before any work: GRUB's
# EFI files, room for the EFI System Partition, a GPT, a signed kernel, UEFI
# firmware for Secure Boot.  Each refusal names what to add or change, exits
# 2 and leaves the store as it was; boot-test refuses a firmware the disk
# does not claim.  Fast: nothing is bootstrapped and nothing boots.
. "$(dirname "$0")/lib.sh"
export TMPDIR="$TEST_DIR/tmp"
mkdir -p "$TMPDIR"

# A Debian recipe with the given base packages and disk output options.
debian_recipe() {
    cat >"$1.yaml" <<-YAML
	name: fw
	version: 1.0.0
	base:
	  debian:
	    suite: bookworm
	    packages: [$2]
	outputs:
	  - qcow2: {$3}
	YAML
}

# Refused with exit 2 and the message $2 before any work: nothing
# bootstrapped, the store and TMPDIR as they were.
refused() {
    before=$(store_digest) &&
    test_expect_code 2 kiln build "$1" &&
    test_grep -- "$2" err &&
    ! grep -q bootstrapping err &&
    test "$before" = "$(store_digest)" &&
    test -z "$(find "$TMPDIR" -mindepth 1 -maxdepth 1)"
}

busybox_root root sh
mkdir -p root/boot &&
echo not-a-kernel >root/boot/vmlinuz-6.1.0-1-amd64 &&
echo not-an-initrd >root/boot/initrd.img-6.1.0-1-amd64 &&
tar -C root -cf k.tar .

test_expect_success 'a store to compare against' '
    kiln build "$KILN_SRC/recipes/examples/busybox.yaml" --context /bin >out
'

test_expect_success 'a hybrid disk (the default) without GRUB EFI files is refused, naming grub-efi-amd64-bin' '
    debian_recipe noefi "linux-image-amd64, grub-pc" "bootable: true" &&
    refused noefi.yaml "firmware hybrid boots through UEFI.*add grub-efi-amd64-bin" &&
    test_grep "noefi.yaml:[0-9]*:[0-9]*:" err
'

test_expect_success 'firmware: bios needs no EFI files' '
    debian_recipe bios "linux-image-amd64, grub-pc" "bootable: true, firmware: bios" &&
    kiln check bios.yaml >out 2>err
'

test_expect_success 'an image from another base without GRUB EFI files is refused before the disk is laid out' '
    cat >tree.yaml <<-YAML &&
	name: fromtree
	version: 1.0.0
	base:
	  tarball: {path: k.tar}
	outputs:
	  - qcow2: {bootable: true, firmware: uefi}
	YAML
    refused tree.yaml "firmware uefi boots through UEFI, and the image has no GRUB EFI files.*add grub-efi-amd64-bin"
'

test_expect_success 'a disk too small for the EFI System Partition is refused, naming the size it needs' '
    debian_recipe small "linux-image-amd64, grub-efi-amd64-bin" "bootable: true, firmware: uefi, size: 100M" &&
    refused small.yaml "100 MiB is too small for the 64 MiB EFI System Partition.*at least 130M"
'

test_expect_success 'UEFI on an MBR disk is refused' '
    debian_recipe mbr "linux-image-amd64, grub-efi-amd64-bin" "bootable: true, firmware: uefi, partition_table: mbr" &&
    refused mbr.yaml "needs a GPT partition table"
'

test_expect_success 'an unknown firmware, and firmware on a disk that does not boot, are refused' '
    debian_recipe bad "linux-image-amd64" "bootable: true, firmware: coreboot" &&
    refused bad.yaml "must be bios, uefi or hybrid" &&
    debian_recipe noboot "linux-image-amd64" "firmware: uefi" &&
    refused noboot.yaml "applies to bootable disks only: add bootable: true"
'

test_expect_success 'Secure Boot with BIOS firmware is refused' '
    debian_recipe sbbios "linux-image-amd64, grub-pc" "bootable: true, firmware: bios, secure_boot: true" &&
    refused sbbios.yaml "secure_boot. needs UEFI firmware"
'

test_expect_success 'Secure Boot with an unsigned kernel is refused, with the reason' '
    debian_recipe unsigned "linux-image-6.1.0-13-amd64-unsigned" "bootable: true, firmware: uefi, secure_boot: true" &&
    refused unsigned.yaml "linux-image-6.1.0-13-amd64-unsigned. is an unsigned kernel, which Secure Boot firmware refuses to start"
'

test_expect_success 'the recipe as JSON shows the firmware' '
    debian_recipe hyb "linux-image-amd64, grub-pc, grub-efi-amd64-bin" "bootable: true" &&
    kiln check hyb.yaml --json >out &&
    jq -e ".outputs[0].firmware == \"hybrid\" and .outputs[0].secure_boot == false" out
'

test_expect_success 'boot-test refuses a firmware the disk does not claim, and an unknown one' '
    cat >plain.yaml <<-YAML &&
	name: plain
	version: 1.0.0
	base:
	  tarball: {path: k.tar}
	outputs: [qcow2]
	YAML
    kiln build plain.yaml >out 2>err &&
    test_expect_code 2 kiln boot-test plain:1.0.0 --firmware uefi &&
    test_grep "does not claim to boot with uefi firmware (it is not bootable)" err &&
    test_expect_code 2 kiln boot-test plain:1.0.0 --firmware secure-boot &&
    test_expect_code 2 kiln boot-test plain:1.0.0 --firmware openfirmware &&
    test_grep "must be bios, uefi or secure-boot" err
'

test_done
