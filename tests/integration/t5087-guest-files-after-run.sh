#!/bin/bash
# Files marked after_run are written after the guest stage: `run` cannot see
# them, they reach the container image and the disk all the same (with their
# owner), and a change to one of them is rebuilt from the tree the guest
# stage made, taken from the cache: no appliance runs again, and an
# auditor's rebuild from nothing gives the same bytes.  A file without the
# mark is seen by `run`, and a change to it reruns the guest stage.
# Slow: three appliance runs under emulation.
. "$(dirname "$0")/lib.sh"

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

busybox_root root sh cat echo
mkdir root/dev root/proc root/sys
printf 'root:x:0:\n' >root/etc/group
tar -C root --owner=0 --group=0 --mtime=@1700000000 -cf base.tar .
echo "early" >early
echo "first" >site.conf
cat >r.yaml <<-YAML
name: late
version: 1.0.0
base:
  tarball: {path: base.tar}
users:
  - {name: app, uid: 1500}
files:
  - src: early
    dest: /etc/early
  - src: site.conf
    dest: /etc/site.conf
    owner: app
    mode: 0640
    after_run: true
run:
  - "cat /etc/early > /etc/seen; cat /etc/site.conf >> /etc/seen || echo absent >> /etc/seen"
outputs:
  - oci
  - qcow2: {size: 128M}
YAML

build() {
    kiln build r.yaml --verbose "$@" >ref 2>log &&
    grep "^step " log | grep -v ": key " >steps
}

# check_image VERSION CONTENT: the image's tar and its disk hold
# /etc/site.conf with CONTENT, owned by app (1500), mode 0640
check_image() {
    rm -rf img.tar &&
    kiln export "late:$1" --format tar --output img.tar &&
    tar -xOf img.tar --wildcards "*etc/site.conf" >conf &&
    echo "$2" >want && cmp want conf &&
    tar -tvf img.tar --numeric-owner --wildcards "*etc/site.conf" >listing &&
    test_grep "^-rw-r----- 1500/1500 " listing &&
    idx=$(blob "$(manifest_of "late:$1")") &&
    q=$(blob "$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.disk.qcow2.v1\") | .digest" "$idx")") &&
    disk=$(blob "$(jq -r ".layers[0].digest" "$q")") &&
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro --format=qcow2 -a "$disk" >gf <<-GF &&
	run
	mount /dev/sda2 /
	cat /etc/site.conf
	stat /etc/site.conf
	GF
    test "$(head -n 1 gf)" = "$2" &&
    test_grep "^uid: 1500$" gf
}

test_expect_success 'kiln check shows which files come after run' '
    kiln check r.yaml --json >check.json &&
    jq -e "[.files[].after_run] == [false, true]" check.json
'

test_expect_success 'a cold build: run sees the early file, not the one after it' '
    build &&
    test_grep "^step 4/8: guest$" steps &&
    test_grep "^step 5/8: files-after-run$" steps &&
    test_grep "^step 6/8: disk$" steps &&
    rm -f img.tar &&
    kiln export late:1.0.0 --format tar --output img.tar &&
    tar -xOf img.tar --wildcards "*etc/seen" >seen &&
    printf "early\nabsent\n" >want && cmp want seen &&
    check_image 1.0.0 first
'

test_expect_success 'a changed after_run file reruns from the cached guest tree, no appliance' '
    echo "second" >site.conf &&
    build --version 1.0.1 &&
    test_grep "^step 4/8: guest: cached" steps &&
    ! grep -q "^step 4/8: guest$" steps &&
    ! grep -q "starting the build appliance" log &&
    test_grep "^step 5/8: files-after-run$" steps &&
    check_image 1.0.1 second &&
    rm -f img.tar &&
    kiln export late:1.0.1 --format tar --output img.tar &&
    tar -xOf img.tar --wildcards "*etc/seen" >seen &&
    printf "early\nabsent\n" >want && cmp want seen
'

test_expect_success 'what the cached guest tree gave is what a rebuild from nothing gives, bit for bit' '
    mkdir scratch &&
    TMPDIR="$TEST_DIR/scratch" kiln verify late:1.0.1 --rebuild r.yaml >out 2>err &&
    test_grep "^identical late:1.0.1 sha256:" out &&
    test_grep "^  oci sha256:[0-9a-f]* identical" out &&
    test_grep "^  qcow2 sha256:[0-9a-f]* identical" out
'

test_expect_success 'a changed early file reruns the guest stage' '
    echo "earlier" >early &&
    build --version 1.0.2 &&
    test_grep "^step 4/8: guest$" steps &&
    rm -f img.tar &&
    kiln export late:1.0.2 --format tar --output img.tar &&
    tar -xOf img.tar --wildcards "*etc/seen" >seen &&
    printf "earlier\nabsent\n" >want && cmp want seen
'

test_expect_success 'a file after run where sysprep clears is refused (exit 2), the store unchanged' '
    cp "$KILN_STORE/index.json" index.before &&
    sed "s|dest: /etc/site.conf|dest: /var/log/site.log|" r.yaml >log.yaml &&
    test_expect_code 2 kiln build log.yaml --version 9.0.0 --verbose &&
    test_grep "step 4/8: guest: cached" err &&
    test_grep "files\[1\]: ./var/log/site.log. is cleared by sysprep" err &&
    cmp index.before "$KILN_STORE/index.json"
'

test_expect_success 'after_run must be a boolean (exit 2, naming where)' '
    sed "s/after_run: true/after_run: later/" r.yaml >bad.yaml &&
    test_expect_code 2 kiln check bad.yaml &&
    test_grep "files\[1\].after_run" err &&
    test_grep "true or false" err
'

test_expect_success 'after_run with a disk the appliance lays out: refused by check and build (exit 2)' '
    sed "s/  - qcow2: {size: 128M}/  - qcow2: {bootable: true, firmware: uefi, secure_boot: true}/" r.yaml >sb.yaml &&
    test_expect_code 2 kiln check sb.yaml &&
    test_grep "sb.yaml:10:5: .files\[1\].after_run.: a secure_boot disk is laid out inside the guest stage" err &&
    test_expect_code 2 kiln build sb.yaml --verbose &&
    test_grep "a secure_boot disk is laid out inside the guest stage" err &&
    ! grep -q "^step " err
'

test_done
