#!/bin/bash
# Bad disk bases, a disk too small for its content, and run commands that fail
# or hang: each fails clearly with exit 1 or 2, leaves no scratch files and
# leaves the store exactly as it was.
. "$(dirname "$0")/lib.sh"
export TMPDIR="$TEST_DIR/tmp"
mkdir -p "$TMPDIR"

# A tiny busybox rootfs with a shell and timeout(1).
busybox_root root sh timeout sleep true false echo
tar -C root -cf base.tar .

disk_recipe() {
    cat >"$1.yaml" <<-YAML
	name: fromdisk
	version: 1.0.0
	base:
	  disk: {path: $2}
	outputs: [qcow2]
	YAML
}

run_recipe() {
    cat >"$1.yaml" <<-YAML
	name: runner
	version: 1.0.0
	base:
	  tarball: {path: base.tar}
	run:
	  - command: "$2"
	    timeout: $3
	outputs: [oci]
	YAML
}

no_scratch_left() {
    left=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 | head -n 5) &&
    if [ -n "$left" ]; then echo "left behind: $left" >&2; return 1; fi
}

# Fails with exit status $1 and the message $2; the store and TMPDIR as before.
refused() {
    before=$(store_digest) &&
    test_expect_code "$1" kiln build "$3" &&
    test_grep -- "$2" err &&
    test "$before" = "$(store_digest)" &&
    no_scratch_left
}

test_expect_success 'a store to compare against' '
    kiln build "$KILN_SRC/recipes/examples/busybox.yaml" --context /bin >out
'

boot_recipe() {
    cat >"$1.yaml" <<-YAML
	name: boots
	version: 1.0.0
	base:
	  tarball: {path: $2}
	outputs:
	  - qcow2: {bootable: true, firmware: bios}
	YAML
}

test_expect_success 'a bootable disk without a kernel is refused, naming what to add' '
    boot_recipe nokernel base.tar &&
    refused 2 "needs a kernel.*linux-image-amd64" nokernel.yaml
'

test_expect_success 'a kernel without its initramfs is refused' '
    cp -a root root-k && mkdir -p root-k/boot &&
    echo not-a-kernel >root-k/boot/vmlinuz-6.1.0-1-amd64 &&
    tar -C root-k -cf k.tar . &&
    boot_recipe noinitrd k.tar &&
    refused 2 "needs an initramfs" noinitrd.yaml
'

test_expect_success 'a kernel and initramfs without BIOS GRUB is refused, naming grub-pc' '
    echo not-an-initrd >root-k/boot/initrd.img-6.1.0-1-amd64 &&
    tar -C root-k -cf ki.tar . &&
    boot_recipe nogrub ki.tar &&
    refused 2 "no BIOS GRUB.*grub-pc" nogrub.yaml
'

test_expect_success 'a kernel name that could inject boot loader config is not used' '
    mkdir -p root-x/boot &&
    cp -a root/. root-x/ &&
    echo x >"root-x/boot/vmlinuz-1 init=evil" &&
    echo x >"root-x/boot/initrd.img-1 init=evil" &&
    tar -C root-x -cf x.tar . &&
    boot_recipe inject x.tar &&
    refused 2 "needs a kernel" inject.yaml
'

test_expect_success 'a base disk that is not a disk image is refused' '
    echo "just some text" >notadisk.img &&
    disk_recipe notdisk notadisk.img &&
    refused 2 "is not a disk image" notdisk.yaml
'

test_expect_success 'a qcow2 base naming a backing file is refused before any guest reads it' '
    qemu-img create -q -f raw backing.raw 64M &&
    qemu-img create -q -f qcow2 -b "$PWD/backing.raw" -F raw backed.qcow2 &&
    disk_recipe backed backed.qcow2 &&
    refused 2 "names a backing file" backed.yaml
'

test_expect_success 'a corrupt qcow2 base is refused' '
    head -c 8M /dev/urandom >data.raw &&
    qemu-img convert -q -f raw -O qcow2 data.raw good.qcow2 &&
    cp good.qcow2 corrupt.qcow2 &&
    printf "\377\377\377\377\377\377\377\377" | dd of=corrupt.qcow2 bs=1 seek=48 conv=notrunc status=none &&
    disk_recipe corrupt corrupt.qcow2 &&
    before=$(store_digest) &&
    test_expect_code 2 kiln build corrupt.yaml &&
    test_grep "base disk" err &&
    test "$before" = "$(store_digest)" &&
    no_scratch_left
'

test_expect_success 'a base disk with no operating system is refused' '
    qemu-img create -q -f raw empty.raw 64M &&
    disk_recipe noos empty.raw &&
    refused 2 "has no recognisable operating system" noos.yaml
'

test_expect_success 'a disk size too small for the content is refused' '
    mkdir -p big/srv && cp -a root/. big/ && head -c 80M /dev/urandom >big/srv/blob &&
    tar -C big -cf big.tar . &&
    cat >small.yaml <<-YAML &&
	name: small
	version: 1.0.0
	base:
	  tarball: {path: big.tar}
	outputs:
	  - qcow2: {size: 64M}
	YAML
    refused 2 "too small for the content" small.yaml
'

test_expect_success 'a run command that fails names itself and its exit status' '
    run_recipe failing "echo about to fail; exit 3" 60 &&
    refused 1 "command .echo about to fail; exit 3. failed with exit status 3" failing.yaml
'

test_expect_success 'a run command that hangs is killed at its timeout' '
    run_recipe hanging "sleep 600" 5 &&
    refused 1 "command .sleep 600. timed out after 5 seconds" hanging.yaml
'

test_done
