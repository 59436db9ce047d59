#!/bin/bash
# A fleet on a real libvirt daemon (started by the test) with real guests
# under TCG: deploy two hosts of a signed bootable image, roll them onto a
# new version one surge host at a time (healthy when a login prompt is on the
# console and an HTTP probe of the guest answers), stop a rollout whose image does not
# boot with the old hosts still serving, replace a host, roll back.  Slow:
# three disk builds and eight guest boots, several side by side.
. "$(dirname "$0")/lib.sh"
. "$TEST_LIB_DIR/libvirt-lib.sh"
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-${TMPDIR:-/tmp}/kiln-test-cache}
export KILN_ACCEL=${KILN_ACCEL:-auto}
# Good hosts boot in well under a minute on an idle machine; the limit only
# keeps a loaded one from failing them.  The broken image's recipe says 60 s.
T=1200

virsh_() { virsh -q -c "$LIBVIRT_URI" "$@"; }
# hosts_with STATE VERSION: how many hosts of group web are in STATE at VERSION
hosts_with() { kiln hosts --connect "$LIBVIRT_URI" --group web --json | jq --arg s "$1" --arg v "$2" '[.[] | select(.state == $s and .version == $v)] | length'; }
running_with() { kiln hosts --connect "$LIBVIRT_URI" --group web --json | jq --arg s "$1" --arg v "$2" '[.[] | select(.state == $s and .version == $v and .running)] | length'; }

# A small Debian guest; v2 differs by its hostname; "broken" masks the serial
# getty, so no login prompt ever reaches the console.  e2scrub_reap is masked
# in all (as t5050 disables it): under libvirt its start job held the boot
# for many minutes on a loaded machine.  Each guest serves the health
# probes: systemd-networkd takes an address by DHCP, and systemd itself
# listens on port 8080, answering each connection "200 ok" after reading
# the request (no package needed).
recipe() {
    sed -e "s/^name: debian-vm/name: fleet-vm/" -e "s/^version: 1.0.0/version: $1/" \
        -e "s/^hostname: debian-vm/hostname: $2/" -e "s/timeout: 600/timeout: $3/" \
        "$KILN_SRC/recipes/examples/debian-vm.yaml" &&
        printf "files:\n  - link: /dev/null\n    dest: /etc/systemd/system/e2scrub_reap.service\n" &&
        cat <<-\YAML
	  - dest: /etc/systemd/network/80-dhcp.network
	    content: "[Match]\nName=en*\n[Network]\nDHCP=ipv4\n"
	  - link: /lib/systemd/system/systemd-networkd.service
	    dest: /etc/systemd/system/multi-user.target.wants/systemd-networkd.service
	  - dest: /usr/local/sbin/health-ok
	    mode: "0755"
	    content: "#!/bin/sh\nwhile read -r l && [ ${#l} -gt 1 ]; do :; done\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n'\n"
	  - dest: /etc/systemd/system/health.socket
	    content: "[Socket]\nListenStream=8080\nAccept=yes\n"
	  - dest: /etc/systemd/system/health@.service
	    content: "[Service]\nExecStart=/usr/local/sbin/health-ok\nStandardInput=socket\nStandardOutput=socket\n"
	  - link: /etc/systemd/system/health.socket
	    dest: /etc/systemd/system/multi-user.target.wants/health.socket
	YAML
}

test_expect_success 'three versions of a bootable image build and are signed' '
    kiln keygen --output k >/dev/null &&
    kiln keygen --output other >/dev/null &&
    recipe 1.0.0 fleet-a 600 >v1.yaml &&
    recipe 1.1.0 fleet-b 600 >v2.yaml &&
    { recipe 1.2.0 fleet-c 60 && printf "  - link: /dev/null\n    dest: /etc/systemd/system/serial-getty@.service\n"; } >bad.yaml &&
    for v in v1 v2 bad; do
        kiln build $v.yaml --sign k.key >/dev/null 2>err || { cat err; return 1; }
    done &&
    kiln verify fleet-vm:1.2.0 --key k.pub >/dev/null
'

test_expect_success 'a private libvirt daemon starts with a dir pool' '
    libvirt_start &&
    virsh_ pool-list --name >pools &&
    test_grep "^kiln *$" pools
'

test_expect_success 'deploy of an image not signed by the given key touches nothing' '
    test_expect_code 3 kiln deploy fleet-vm:1.0.0 --group web --count 2 --key other.pub \
        --connect "$LIBVIRT_URI" --pool kiln 2>err &&
    test_grep "verification of .fleet-vm:1.0.0. failed; no host was touched" err &&
    test -z "$(virsh_ list --all --name)" &&
    test -z "$(virsh_ vol-list kiln)"
'

test_expect_success 'deploy makes two hosts that reach a login prompt and answer an HTTP probe, with kiln metadata' '
    kiln deploy fleet-vm:1.0.0 --group web --count 2 --key k.pub --connect "$LIBVIRT_URI" --pool kiln \
        --memory 512 --health-timeout $T --health-http 8080/healthz --json >deploy.json &&
    jq -e "[.events[] | select(.event == \"healthy\")] | length == 2" deploy.json &&
    # the probe went through a loopback forward to the guest port, which answers
    virsh_ dumpxml --inactive web-1 >web-1.inactive.xml &&
    port=$(sed -n "s|.*hostfwd=tcp:127.0.0.1:\([0-9]*\)-:8080.*|\1|p" web-1.inactive.xml) &&
    test -n "$port" &&
    test "$(curl -fsS --noproxy "*" --max-time 30 "http://127.0.0.1:$port/healthz")" = ok &&
    test "$(running_with active 1.0.0)" = 2 &&
    kiln hosts --connect "$LIBVIRT_URI" >table &&
    test_grep "^web-1 .*web .*active .*up .*fleet-vm:1.0.0" table &&
    virsh_ dumpxml web-1 >web-1.xml &&
    test_grep "<kiln:host xmlns:kiln=\"https://kiln.dev/ns/fleet/1\" group=\"web\" image=\"fleet-vm\" version=\"1.0.0\"" web-1.xml &&
    key=$(kiln verify fleet-vm:1.0.0 --key k.pub --json | jq -r ".signatures[0].keyId") &&
    test_grep "key=\"$key\"" web-1.xml &&
    test_grep "<domain type=.qemu." web-1.xml &&
    test_grep "<serial type=.pty." web-1.xml &&
    # each host has its own overlay on the one uploaded image volume
    virsh_ vol-list kiln >vols &&
    test "$(grep -c "^ *kiln-[0-9a-f]*\.qcow2" vols)" = 1 &&
    test_grep "web-1.qcow2" vols &&
    test_grep "web-2.qcow2" vols
'

test_expect_success 'a second operation on a locked group is refused' '
    cat >lock.xml <<-XML &&
	<domain type="qemu"><name>kiln-lock-web</name><memory unit="MiB">16</memory>
	<metadata><kiln:lock xmlns:kiln="https://kiln.dev/ns/fleet/1" group="web" operation="rollout" pid="1" host="elsewhere" since="2026-01-01T00:00:00Z"/></metadata>
	<os><type arch="x86_64">hvm</type></os></domain>
	XML
    virsh_ define lock.xml >/dev/null &&
    test_expect_code 1 kiln rollout fleet-vm:1.1.0 --group web --key k.pub --connect "$LIBVIRT_URI" --pool kiln 2>err &&
    test_grep "group .web. on .* is locked by .rollout. (pid 1 on elsewhere" err &&
    virsh_ undefine kiln-lock-web >/dev/null &&
    test "$(running_with active 1.0.0)" = 2
'

test_expect_success 'rollout with --max-surge 1 replaces each host, keeping the old ones retired' '
    kiln rollout fleet-vm:1.1.0 --group web --key k.pub --connect "$LIBVIRT_URI" --pool kiln --memory 512 \
        --health-timeout $T --health-http 8080/healthz --max-surge 1 --json >rollout.json &&
    jq -e "[.events[] | select(.event == \"healthy\")] | length == 2" rollout.json &&
    jq -e "[.events[] | select(.event == \"retired\")] | length == 2" rollout.json &&
    # surge 1: the first old host retires only after the first new one is healthy
    jq -r ".events[] | .host + \" \" + .event" rollout.json >order &&
    test "$(sed -n 1,3p order | tr "\n" ,)" = "web-3 created,web-3 healthy,web-1 retired," &&
    test "$(running_with active 1.1.0)" = 2 &&
    test "$(hosts_with retired 1.0.0)" = 2 &&
    test "$(running_with retired 1.0.0)" = 0 &&
    jq -e ".hosts | map(select(.state == \"active\") | .replaces) | sort == [\"web-1\", \"web-2\"]" rollout.json
'

test_expect_success 'a rollout whose image does not boot stops; the old hosts keep serving' '
    test_expect_code 1 kiln rollout fleet-vm:1.2.0 --group web --key k.pub --connect "$LIBVIRT_URI" --pool kiln \
        --memory 512 --stop-timeout 5 --json &&
    mv out bad.json &&
    test_grep "rollout of group .web. to fleet-vm:1.2.0 stopped, the old hosts keep serving: host .web-5. did not become healthy" err &&
    test "$(hosts_with failed 1.2.0)" = 1 &&
    test "$(running_with failed 1.2.0)" = 0 &&
    test "$(running_with active 1.1.0)" = 2 &&
    virsh_ list --all --name >all &&
    test_grep "^web-5$" all &&
    jq -e "[.events[] | select(.event == \"retired\")] == []" bad.json
'

test_expect_success 'replace starts a fresh host, then puts the sick one aside' '
    kiln replace web-3 --key k.pub --connect "$LIBVIRT_URI" --pool kiln --memory 512 --health-timeout $T \
        --json >replace.json &&
    jq -e ".hosts[] | select(.name == \"web-6\") | .state == \"active\" and .running and .replaces == \"web-3\"" replace.json &&
    jq -e ".hosts[] | select(.name == \"web-3\") | .state == \"failed\" and (.running | not)" replace.json &&
    test "$(running_with active 1.1.0)" = 2
'

test_expect_success 'rollback puts the group back onto the version it ran before' '
    kiln rollback --group web --key k.pub --connect "$LIBVIRT_URI" --pool kiln --memory 512 --max-surge 2 \
        --health-timeout $T --json >rollback.json &&
    test "$(running_with active 1.0.0)" = 2 &&
    test "$(hosts_with active 1.1.0)" = 0 &&
    test "$(hosts_with retired 1.1.0)" = 2 &&
    test "$(hosts_with retired 1.0.0)" = 2 &&
    # the hosts failed on purpose are never pruned
    test "$(hosts_with failed 1.2.0)" = 1 &&
    test "$(hosts_with failed 1.1.0)" = 1
'

test_expect_success 'the running hosts have not drifted from their signed image; a host is checked by name' '
    kiln hosts --connect "$LIBVIRT_URI" --group web --drift --key k.pub --json >drift.json &&
    jq -e "[.[] | select(.state == \"active\") | .drift.drift] == [false, false]" drift.json &&
    jq -e "[.[] | select(.state != \"active\") | .drift] | all(. == null)" drift.json &&
    host=$(jq -r "[.[] | select(.state == \"active\")][0].name" drift.json) &&
    kiln drift "$host" --connect "$LIBVIRT_URI" --key k.pub --json >one.json &&
    jq -e --arg h "$host" ".host == \$h and .drift == false and .image == \"fleet-vm:1.0.0\"" one.json &&
    test_expect_code 1 kiln drift "$host" --connect "$LIBVIRT_URI" --key other.pub 2>err &&
    test_grep "failed verification" err
'

test_done
