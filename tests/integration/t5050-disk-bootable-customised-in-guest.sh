#!/bin/bash
# A bootable disk whose recipe runs commands inside the image goes through
# the appliance: the command runs in the image there, then the disk is laid
# out on the host from the resulting tree (so that it is reproducible), GRUB
# assembled from the image's own files, and the result boots to a login
# prompt under qemu (TCG when KVM does not work).  Slow: one appliance run
# and one boot under emulation.
. "$(dirname "$0")/lib.sh"
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-${TMPDIR:-/tmp}/kiln-test-cache}

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

cat >vm.yaml <<-YAML
name: vm-custom
version: 1.0.0
base:
  debian:
    suite: bookworm
    variant: minbase
    packages: [linux-image-amd64, systemd-sysv, grub-pc]
hostname: vm-custom
run:
  - echo "customised by kiln" >> /etc/issue
services:
  disable: [e2scrub_reap.service]
outputs:
  - qcow2: {bootable: true}
YAML

test_expect_success 'a bootable recipe with run and services builds through the appliance' '
    kiln build vm.yaml --verbose >out 2>err &&
    test_grep "^vm-custom:1.0.0@sha256:" out &&
    test_grep "starting the build appliance" err &&
    test_grep "laying out the disk on the host" err &&
    test_grep "installing GRUB" err &&
    m=$(blob "$(manifest_of vm-custom:1.0.0)") &&
    jq -e ".annotations[\"dev.kiln.sysprep\"] == \"verified\"" "$m" &&
    files=$(blob "$(jq -r ".annotations[\"dev.kiln.files\"]" "$m")") &&
    jq -e ".files | map(.path) | index(\"/boot/grub/grub.cfg\") != null" "$files" &&
    jq -e ".files | map(.path) | index(\"/etc/systemd/system/multi-user.target.wants/e2scrub_reap.service\") == null" "$files" &&
    # nothing of the appliance /dev that libguestfs binds in while a command runs
    jq -e "[.files[].path | select(test(\"^/dev/(disk|sd|virtio|block)\"))] == []" "$files"
'

test_expect_success 'it boots, and the console shows what the run command wrote' '
    kiln boot-test vm-custom:1.0.0 --timeout 900 --marker "customised by kiln" >out 2>err &&
    test_grep "boot test passed" out
'

test_done
