#!/bin/bash
# Faults during fleet operations end with a clear error and no host lost: an
# image that fails verification touches nothing, a full storage pool leaves
# no domain or volume behind, a host that never becomes healthy is kept as
# failed, a new host deleted by hand stops the rollout with the old host
# serving, a dropped libvirt connection is named and the hosts survive it.
# A health probe that never answers keeps a host failed, naming what it
# probed.  The disk is a tiny non-bootable one: no guest boots here (qemu
# sits in its firmware), so nothing becomes healthy unless the test says so.
. "$(dirname "$0")/lib.sh"
. "$TEST_LIB_DIR/libvirt-lib.sh"
export KILN_ACCEL=tcg

virsh_() { virsh -q -c "$LIBVIRT_URI" "$@"; }
host_json() { kiln hosts --connect "$LIBVIRT_URI" --json | jq -c --arg h "$1" '.[] | select(.name == $h) | {state, running, version}'; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

busybox_root root sh
# A pool too small for any disk; mounted before the daemon starts, which
# sees the mounts of that moment in its own mount namespace.
mkdir small && mount -t tmpfs -o size=256k tmpfs small && test_on_exit 'umount "$TEST_DIR/small"'
tar -C root -cf base.tar .
tiny() {
    cat <<-YAML
	name: tiny
	version: $1
	base:
	  tarball: {path: base.tar}
	hostname: tiny-$2
	outputs:
	  - qcow2
	boot_test: {marker: "a marker no firmware prints", timeout: 8}
	YAML
}
# mark_active HOST: the host passed its check (what a real boot would do).
mark_active() {
    virsh_ dumpxml --inactive "$1" | sed "s/state=\"failed\"/state=\"active\"/" >"$1.xml" &&
        virsh_ define "$1.xml" >/dev/null &&
        virsh_ start "$1" >/dev/null
}
# wait_new: until a new host of the rollout runs; prints its name.
wait_new() {
    _i=0 &&
        until _n=$(kiln hosts --connect "$LIBVIRT_URI" --json |
            jq -r ".[] | select(.state == \"pending\" and .running) | .name" | grep .); do
            _i=$((_i + 1)) &&
                if [ $_i -gt 300 ]; then return 1; fi &&
                sleep 0.5 || return 1
        done &&
        echo "$_n"
}

test_expect_success 'two versions of a tiny disk image build, signed' '
    kiln keygen --output k >/dev/null &&
    tiny 1.0.0 a >t1.yaml && tiny 2.0.0 b >t2.yaml &&
    kiln build t1.yaml --sign k.key >/dev/null &&
    kiln build t2.yaml --sign k.key >/dev/null &&
    libvirt_start
'

test_expect_success 'a disk blob changed in the store: deploy refuses it and touches no host' '
    d=$(kiln inspect tiny:1.0.0 --json | jq -r ".manifest.layers[0].digest") &&
    test -f "$(blob "$d")" &&
    cp "$(blob "$d")" saved &&
    chmod u+w "$(blob "$d")" &&
    printf x >>"$(blob "$d")" &&
    test_expect_code 3 kiln deploy tiny:1.0.0 --group db --count 1 --key k.pub --connect "$LIBVIRT_URI" --pool kiln 2>err &&
    cp saved "$(blob "$d")" &&
    test_grep "verification of .tiny:1.0.0. failed; no host was touched" err &&
    test -z "$(virsh_ list --all --name)" &&
    test -z "$(virsh_ vol-list kiln)"
'

test_expect_success 'a full storage pool: a clear error, no domain, no volume left' '
    virsh_ pool-create-as small dir --target "$PWD/small" >/dev/null &&
    test_expect_code 1 kiln deploy tiny:1.0.0 --group db --count 1 --key k.pub --connect "$LIBVIRT_URI" --pool small 2>err &&
    virsh_ pool-destroy small >/dev/null &&
    test_grep "storage pool .small.: [a-z]* \(to \)\?volume .kiln-[0-9a-f]*.qcow2. (is the pool full?) on .qemu:///system?socket=[^ ]*.: .*No space left on device" err &&
    test -z "$(ls small)" &&
    test -z "$(virsh_ list --all --name)"
'

test_expect_success 'a host that never becomes healthy is stopped and kept as failed' '
    test_expect_code 1 kiln deploy tiny:1.0.0 --group db --count 1 --key k.pub --connect "$LIBVIRT_URI" --pool kiln \
        --memory 128 --stop-timeout 1 2>err &&
    test_grep "group .db.: 1 of 1 new hosts did not become healthy (stopped, kept as failed); host .db-1. did not become healthy: .a marker no firmware prints. did not appear on its console within 8 seconds" err &&
    test "$(host_json db-1)" = "{\"state\":\"failed\",\"running\":false,\"version\":\"1.0.0\"}"
'

test_expect_success 'an HTTP probe that never answers: the host is kept as failed, the message names address, port and error' '
    test_expect_code 1 kiln deploy tiny:1.0.0 --group probe --count 1 --key k.pub --connect "$LIBVIRT_URI" --pool kiln \
        --memory 128 --stop-timeout 1 --no-health-marker --health-http 8080/healthz --health-timeout 8 2>err &&
    test_grep "group .probe.: 1 of 1 new hosts did not become healthy (stopped, kept as failed); host .probe-1. did not become healthy: its HTTP probe of http://127.0.0.1:[0-9]*/healthz (guest port 8080) did not pass within 8 seconds; the last error: ." err &&
    test "$(host_json probe-1)" = "{\"state\":\"failed\",\"running\":false,\"version\":\"1.0.0\"}" &&
    port=$(sed -n "s|.*http://127.0.0.1:\([0-9]*\)/healthz.*|\1|p" err) &&
    virsh_ dumpxml --inactive probe-1 >probe-1.xml &&
    test_grep "hostfwd=tcp:127.0.0.1:$port-:8080" probe-1.xml &&
    test -z "$(virsh_ list --all --name | grep kiln-lock)"
'

test_expect_success 'probes a network cannot carry, or no check at all, are refused before any host is made' '
    test_expect_code 2 kiln deploy tiny:1.0.0 --group probe2 --count 1 --key k.pub --connect "$LIBVIRT_URI" --pool kiln \
        --health-tcp 22 2>err &&
    test_grep "a TCP probe cannot see a guest on user-mode networking" err &&
    test_expect_code 2 kiln deploy tiny:1.0.0 --group probe2 --count 1 --key k.pub --connect "$LIBVIRT_URI" --pool kiln \
        --network none --health-http 80 2>err &&
    test_grep "an HTTP probe needs a network: hosts with --network none have no address" err &&
    test_expect_code 2 kiln deploy tiny:1.0.0 --group probe2 --count 1 --key k.pub --connect "$LIBVIRT_URI" \
        --no-health-marker 2>err &&
    test_grep "no-health-marker needs a probe" err &&
    test_expect_code 2 kiln rollout tiny:1.0.0 --group probe2 --key k.pub --health-http 80/a\ b 2>err &&
    test_grep "health-http: .80/a b.: the path must be printable ASCII" err &&
    test_expect_code 2 kiln replace probe-1 --key k.pub --health-tcp 0 2>err &&
    test_grep "health-tcp: .0.: a TCP probe is a PORT" err &&
    test -z "$(kiln hosts --connect "$LIBVIRT_URI" --group probe2 --json | jq -r ".[].name")"
'

test_expect_success 'a new host deleted by hand stops the rollout; the old host keeps serving' '
    mark_active db-1 &&
    test "$(host_json db-1)" = "{\"state\":\"active\",\"running\":true,\"version\":\"1.0.0\"}" &&
    { kiln rollout tiny:2.0.0 --group db --key k.pub --connect "$LIBVIRT_URI" --pool kiln --memory 128 \
        --health-timeout 300 >bg.out 2>bg.err & } &&
    pid=$! &&
    new=$(wait_new) &&
    test "$new" = db-2 &&
    virsh_ undefine db-2 >/dev/null &&
    virsh_ destroy db-2 >/dev/null &&
    test_expect_code 1 wait "$pid" &&
    test_grep "rollout of group .db. to tiny:2.0.0 stopped, the old hosts keep serving: host .db-2. did not become healthy: it was deleted while it was checked" bg.err &&
    test "$(host_json db-1)" = "{\"state\":\"active\",\"running\":true,\"version\":\"1.0.0\"}" &&
    test -z "$(virsh_ list --all --name | grep kiln-lock)"
'

test_expect_success 'a libvirt daemon that goes away mid-rollout: named, no host lost' '
    { kiln rollout tiny:2.0.0 --group db --key k.pub --connect "$LIBVIRT_URI" --pool kiln --memory 128 \
        --health-timeout 300 >bg.out 2>bg.err & } &&
    pid=$! &&
    new=$(wait_new) &&
    sleep 1 &&
    libvirt_restart &&
    test_expect_code 1 wait "$pid" &&
    test_grep "connection to .qemu:///system?socket=.* was lost" bg.err &&
    test "$(host_json db-1)" = "{\"state\":\"active\",\"running\":true,\"version\":\"1.0.0\"}" &&
    test "$(host_json "$new")" = "{\"state\":\"pending\",\"running\":true,\"version\":\"2.0.0\"}" &&
    echo "$new" >pending
'

test_expect_success 'the next rollout takes over the dead process'"'"'s lock and continues: the pending host is checked again' '
    test_expect_code 1 kiln rollout tiny:2.0.0 --group db --key k.pub --connect "$LIBVIRT_URI" --pool kiln \
        --health-timeout 5 --stop-timeout 1 --json &&
    test_grep "taking over the lock of .rollout. (pid [0-9]* on .*), a process that is gone" err &&
    new=$(cat pending) &&
    jq -e --arg h "$new" "[.events[] | select(.host == \$h) | .event] == [\"adopted\", \"unhealthy\"]" out &&
    test "$(host_json "$new")" = "{\"state\":\"failed\",\"running\":false,\"version\":\"2.0.0\"}" &&
    test "$(host_json db-1)" = "{\"state\":\"active\",\"running\":true,\"version\":\"1.0.0\"}"
'

test_done
