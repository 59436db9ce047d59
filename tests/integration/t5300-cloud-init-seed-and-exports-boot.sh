#!/bin/bash
# A recipe with cloud_init: true builds a disk with cloud-init installed (in
# the Debian bootstrap: no appliance) and its instance state swept by sysprep.  Exported as a vmdk and booted with a
# NoCloud seed kiln makes, the guest takes its hostname, a user and its SSH
# key from the seed and prints them, which nothing but the seed could make
# it do; exported as a vhdx and booted with user data that is not YAML, the
# boot test fails with cloud-init's own complaint from the console.  So the
# vmdk and vhdx exports boot too (qemu-img checks both first).  Slow: a
# Debian bootstrap, and two boots under emulation, both of one built disk.
. "$(dirname "$0")/lib.sh"
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-${TMPDIR:-/tmp}/kiln-test-cache}

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

cat >cloud.yaml <<-YAML
name: cloud-vm
version: 1.0.0
base:
  debian:
    suite: bookworm
    variant: minbase
    packages: [linux-image-amd64, systemd-sysv, grub-pc]
hostname: baked-in
cloud_init: true
outputs:
  - qcow2: {bootable: true, firmware: bios}
YAML

KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKilnSeedKeyForTheBootTestOnly000000000000 ops@kiln"
mkdir -p seed
cat >seed/meta-data <<-YAML
instance-id: kiln-t5300
local-hostname: seeded-by-nocloud
YAML
cat >seed/user-data <<-YAML
#cloud-config
users:
  - name: ops
    ssh_authorized_keys: ["$KEY"]
runcmd:
  - echo "SEEDED host=\$(hostname) user=\$(id -un ops) key=\$(cut -d' ' -f3 /home/ops/.ssh/authorized_keys)" >/dev/ttyS0
YAML
printf '#cloud-config\nruncmd: [echo never\n  users: {\n' >bad-user-data

test_expect_success 'cloud_init: true installs cloud-init in the Debian bootstrap, sysprep sweeps its state' '
    kiln check cloud.yaml --json >check.json &&
    jq -e ".cloud_init == true and .packages == []" check.json &&
    jq -e "[\"cloud-init\", \"cloud-guest-utils\", \"ifupdown\", \"sudo\", \"openssh-server\"] - .base.packages == []" check.json &&
    kiln build cloud.yaml >out 2>err &&
    test_grep "^cloud-vm:1.0.0@sha256:" out &&
    m=$(blob "$(manifest_of cloud-vm:1.0.0)") &&
    jq -e ".annotations[\"dev.kiln.sysprep\"] == \"verified\"" "$m" &&
    files=$(blob "$(jq -r ".annotations[\"dev.kiln.files\"]" "$m")") &&
    jq -r ".files[].path" "$files" >paths &&
    test_grep -x /usr/bin/cloud-init paths &&
    test_grep -x /usr/bin/growpart paths &&
    test_grep -x /etc/cloud/cloud.cfg paths &&
    test_grep -x /usr/sbin/sshd paths &&
    ! grep "^/etc/ssh/ssh_host_" paths &&
    ! grep -E "^/var/lib/cloud/(instance|instances|data|sem)(/|$)" paths &&
    ! grep -E "^/var/log/cloud-init" paths
'

test_expect_success 'the vmdk export boots with a NoCloud seed and takes hostname, user and key from it' '
    kiln export cloud-vm:1.0.0 --format vmdk --output cloud.vmdk &&
    qemu-img check -f vmdk cloud.vmdk &&
    qemu-img info -f vmdk --output=json cloud.vmdk >info &&
    jq -e ".format == \"vmdk\"" info &&
    kiln boot-test --disk cloud.vmdk --format vmdk --seed seed --timeout 1200 \
        --marker "SEEDED host=seeded-by-nocloud user=ops key=ops@kiln" >out 2>err &&
    test_grep "boot test passed" out
'

test_expect_success 'the vhdx export boots, and user data cloud-init cannot parse fails the test with its error' '
    kiln export cloud-vm:1.0.0 --format vhdx --output cloud.vhdx &&
    qemu-img check -f vhdx cloud.vhdx &&
    qemu-img info -f vhdx --output=json cloud.vhdx >info &&
    jq -e ".format == \"vhdx\"" info &&
    test_expect_code 1 kiln boot-test --disk cloud.vhdx --format vhdx --user-data bad-user-data --timeout 1200 &&
    test_grep "kiln: boot test failed (bios): cloud-init reported an error on the console: .*\[WARNING\]: " err &&
    test_grep -i "yaml" err
'

test_done
