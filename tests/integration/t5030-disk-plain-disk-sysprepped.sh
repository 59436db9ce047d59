#!/bin/bash
# A disk from a plain rootfs (nothing run inside it) is partitioned, mounts
# its root by UUID, keeps owners, and has no machine identity, host keys or
# logs left: the sysprep post-condition holds and is recorded.  (guestfish
# reads it back under TCG, which works wherever libguestfs does.)
. "$(dirname "$0")/lib.sh"

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

mkdir -p root/bin root/etc/ssh root/var/log/app root/var/lib/apt/lists/partial root/tmp root/srv
cp /bin/busybox root/bin/busybox
ln -s busybox root/bin/sh
printf 'root:x:0:0:root:/root:/bin/sh\n' >root/etc/passwd
echo 0123456789abcdef0123456789abcdef >root/etc/machine-id
echo secret >root/etc/ssh/ssh_host_ed25519_key
echo old >root/var/log/app/old.log
echo lists >root/var/lib/apt/lists/deb.debian.org_dists_bookworm_Packages
: >root/var/lib/apt/lists/lock
echo scratch >root/tmp/scratch
echo data >root/srv/data
tar -C root --owner=0 --group=0 -cf base.tar .

cat >plain.yaml <<'YAML'
name: plain
version: 1.0.0
base:
  tarball: {path: base.tar}
outputs:
  - qcow2: {size: 256M}
  - raw: {size: 256M}
YAML

test_expect_success 'a plain rootfs builds into qcow2 and raw disks' '
    kiln build plain.yaml >out 2>err &&
    idx=$(blob "$(manifest_of plain:1.0.0)") &&
    jq -e ".manifests | length == 2" "$idx"
'

test_expect_success 'sysprep removed machine identity, host keys, logs, apt lists and /tmp' '
    idx=$(blob "$(manifest_of plain:1.0.0)") &&
    q=$(blob "$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.disk.qcow2.v1\") | .digest" "$idx")") &&
    jq -e ".annotations[\"dev.kiln.sysprep\"] == \"verified\"" "$q" &&
    files=$(blob "$(jq -r ".annotations[\"dev.kiln.files\"]" "$q")") &&
    jq -r ".files[].path" "$files" >paths &&
    ! grep -E "ssh_host_|old.log|_Packages$|^/tmp/." paths &&
    test_grep -x "/var/lib/apt/lists/lock" paths &&
    jq -e ".files[] | select(.path == \"/etc/machine-id\") | .size == 0" "$files" &&
    test_grep -x "/etc/fstab" paths
'

test_expect_success 'the disk is GPT with a BIOS boot partition and an ext4 root mounted by UUID' '
    idx=$(blob "$(manifest_of plain:1.0.0)") &&
    q=$(blob "$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.disk.qcow2.v1\") | .digest" "$idx")") &&
    disk=$(blob "$(jq -r ".layers[0].digest" "$q")") &&
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro --format=qcow2 -a "$disk" >gf <<-GF &&
	run
	part-get-parttype /dev/sda
	part-get-gpt-type /dev/sda 1
	vfs-type /dev/sda2
	vfs-uuid /dev/sda2
	mount /dev/sda2 /
	cat /etc/fstab
	cat /srv/data
	ls /var/log/app
	GF
    test_grep -x gpt gf &&
    test_grep -x 21686148-6449-6E6F-744E-656564454649 gf &&
    test_grep -x ext4 gf &&
    uuid=$(sed -n 4p gf) &&
    test_grep "^UUID=$uuid / ext4 " gf &&
    test_grep -x data gf
'

test_expect_success 'the raw disk has the same content as the qcow2' '
    idx=$(blob "$(manifest_of plain:1.0.0)") &&
    q=$(blob "$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.disk.qcow2.v1\") | .digest" "$idx")") &&
    r=$(blob "$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.disk.raw.v1\") | .digest" "$idx")") &&
    qemu-img compare -q -f qcow2 -F raw "$(blob "$(jq -r ".layers[0].digest" "$q")")" "$(blob "$(jq -r ".layers[0].digest" "$r")")"
'

test_expect_success 'compress: true writes compressed clusters, smaller and still valid' '
    sed -e "s/^name: plain/name: packed/" -e "s/qcow2: {size: 256M}/qcow2: {size: 256M, compress: true}/" \
        -e "/raw: {size: 256M}/d" plain.yaml >packed.yaml &&
    kiln build packed.yaml >out 2>err &&
    p=$(blob "$(manifest_of packed:1.0.0)") &&
    pd=$(blob "$(jq -r ".layers[0].digest" "$p")") &&
    idx=$(blob "$(manifest_of plain:1.0.0)") &&
    q=$(blob "$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.disk.qcow2.v1\") | .digest" "$idx")") &&
    qd=$(blob "$(jq -r ".layers[0].digest" "$q")") &&
    qemu-img check -q -f qcow2 "$pd" &&
    test "$(stat -c %s "$pd")" -lt "$(stat -c %s "$qd")"
'

test_done
