#!/bin/bash
# kiln drift: a host's disk against its signed image.  A host booted from
# the image and left alone shows no drift, read while it runs; a file
# changed, one added and one removed on its disk are each named, except
# under the image's own drift.ignore and the command line's --ignore; an
# image that fails verification, a wrong key and a disk that is not one
# are "could not check" (exit 1), never "no drift".  Slow: a Debian
# bootable build, one boot under emulation and three appliance reads.
. "$(dirname "$0")/lib.sh"
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-${TMPDIR:-/tmp}/kiln-test-cache}

# Stops the guest, if one runs, and waits until qemu has let go of its disk.
stop_vm() {
    test ! -f qemu.pid || {
        _pid=$(cat qemu.pid) &&
            { kill "$_pid" 2>/dev/null || ! test -d "/proc/$_pid"; } &&
            for _i in $(seq 60); do
                test -d "/proc/$_pid" || break
                sleep 1 || return 1
            done &&
            ! test -d "/proc/$_pid" &&
            rm -f qemu.pid
    }
}
test_on_exit "cd '$TEST_DIR' && stop_vm"

# boot_host DISK: boots DISK under qemu (TCG, no network) with its serial
# console in console.log; waits for the login prompt.
boot_host() {
    rm -f console.log &&
        qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -display none -net none \
            -serial file:console.log -drive file="$1",format=qcow2,if=virtio \
            -daemonize -pidfile qemu.pid &&
        for _i in $(seq 1200); do
            ! grep -q "login:" console.log 2>/dev/null || return 0
            sleep 1 || return 1
        done &&
        echo "no login prompt within 1200 s" >&2 &&
        return 1
}

test_expect_success 'a signed bootable image whose recipe ignores its own scratch space' '
    kiln keygen --output ops >/dev/null &&
    kiln keygen --output other >/dev/null &&
    sed -e "s/^name: debian-vm/name: drift-vm/" "$KILN_SRC/recipes/examples/debian-vm.yaml" >vm.yaml &&
    printf "drift:\n  ignore: [/srv/scratch/**]\n" >>vm.yaml &&
    kiln build vm.yaml --sign ops.key >out 2>err &&
    kiln export drift-vm:1.0.0 --format qcow2 --output base.qcow2 &&
    m=$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"drift-vm:1.0.0\") | .digest" "$KILN_STORE/index.json") &&
    jq -e ".annotations[\"dev.kiln.drift.ignore\"] == \"[\\\"/srv/scratch/**\\\"]\"" "$KILN_STORE/blobs/sha256/${m#sha256:}" &&
    qemu-img create -q -f qcow2 -b "$TEST_DIR/base.qcow2" -F qcow2 host.qcow2 &&
    store_digest >store.before
'

test_expect_success 'bad inputs: could not check (1), before any disk is read' '
    test_expect_code 1 kiln drift host.qcow2 --image drift-vm:1.0.0 --key other.pub 2>err &&
    test_grep "failed verification" err &&
    test_expect_code 1 kiln drift vm.yaml --image drift-vm:1.0.0 --key ops.pub 2>err &&
    test_grep "disk .vm.yaml. is not a disk image" err &&
    test_expect_code 1 kiln drift host.qcow2 --image nosuch:1.0.0 --key ops.pub 2>err &&
    test_grep "nosuch" err &&
    test_expect_code 2 kiln drift host.qcow2 --image drift-vm:1.0.0 --key ops.pub --ignore var/log 2>err &&
    test_grep "not an absolute path" err &&
    test_expect_code 2 kiln drift host.qcow2 --key ops.pub 2>err &&
    test_grep "with --image REF" err
'

test_expect_success 'a host booted from the image and left alone shows no drift, read while it runs' '
    boot_host host.qcow2 &&
    kiln drift host.qcow2 --image drift-vm:1.0.0 --key ops.pub --json >clean.json 2>err &&
    jq -e ".drift == false and (.added | length) == 0 and (.removed | length) == 0 and (.changed | length) == 0" clean.json &&
    jq -e ".ignored > 0" clean.json &&
    jq -e ".image == \"drift-vm:1.0.0\"" clean.json &&
    jq -e ".ignore | index(\"/srv/scratch/**\") != null" clean.json &&
    test "$(jq -r .keyId clean.json)" = "$(kiln verify drift-vm:1.0.0 --key ops.pub --json | jq -r "[.signatures[] | select(.valid)][0].keyId")" &&
    stop_vm
'

test_expect_success 'a file changed, added and removed on the disk are each named; ignored paths are not (exit 3)' '
    stop_vm &&
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --rw --format=qcow2 -a host.qcow2 -i <<-\GF &&
	write /etc/issue "patched by hand\n"
	write /root/notes "a snowflake\n"
	rm /etc/hostname
	chmod 0777 /etc/default
	mkdir-p /srv/scratch
	write /srv/scratch/tmp "ignored by the recipe\n"
	mkdir-p /opt/cache
	write /opt/cache/x "ignored by --ignore\n"
	GF
    test_expect_code 3 kiln drift host.qcow2 --image drift-vm:1.0.0 --key ops.pub --ignore "/opt/cache/**" >out 2>err &&
    test_grep "^~ /etc/issue (content)$" out &&
    test_grep "^+ /root/notes$" out &&
    test_grep "^- /etc/hostname$" out &&
    test_grep "^~ /etc/default (mode)$" out &&
    test_grep "^drift: host.qcow2 differs from drift-vm:1.0.0" out &&
    ! grep -q "/srv/scratch/tmp" out &&
    ! grep -q "/opt/cache/x" out &&
    test_expect_code 3 kiln drift host.qcow2 --image drift-vm:1.0.0 --key ops.pub --ignore "/opt/cache/**" --json >drift.json &&
    jq -e ".drift == true" drift.json &&
    jq -e "(.changed | map(.path)) == [\"/etc/default\", \"/etc/issue\"]" drift.json &&
    jq -e ".removed == [\"/etc/hostname\"]" drift.json &&
    jq -e ".added | index(\"/root/notes\") != null" drift.json &&
    jq -e "[.added[] | select(startswith(\"/srv/scratch/\") or startswith(\"/opt/cache/\"))] | length == 0" drift.json
'

test_expect_success 'drift changed nothing in the store' '
    test "$(cat store.before)" = "$(store_digest)" &&
    kiln verify drift-vm:1.0.0 --key ops.pub >/dev/null
'

test_done
