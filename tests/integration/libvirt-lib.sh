# libvirt-lib.sh - a private libvirt daemon for a test file.
#
#   . "$(dirname "$0")/libvirt-lib.sh"
#   libvirt_start             # virtlogd + libvirtd under $TEST_DIR/libvirt,
#                             # at $LIBVIRT_URI, a dir pool "kiln" defined
#
# No system daemon is used or needed: the daemons run as root with their
# own sockets, run and state directories under the test's temp dir, and
# qemu runs as root (qemu.conf `user = "root"`) so that disks under 0700
# temp directories open.  At exit every domain is destroyed first (qemu
# outlives a killed libvirtd), then the daemons are stopped.

LV_DIR=$TEST_DIR/libvirt
# Known before the daemon starts: tests run in subshells.
LIBVIRT_URI="qemu:///system?socket=$LV_DIR/run/libvirt-sock"
export LIBVIRT_URI

# Best effort, every step: what one cannot stop must not keep the others running.
libvirt_stop_() {
    if [ -S "$LV_DIR/run/libvirt-sock" ]; then
        for _d in $(virsh -c "$LIBVIRT_URI" list --name 2>/dev/null); do
            { virsh -c "$LIBVIRT_URI" destroy "$_d" >/dev/null 2>&1 || :; } || return 1
        done
    fi &&
        for _p in libvirtd virtlogd; do
            { { [ -f "$LV_DIR/$_p.pid" ] && kill "$(cat "$LV_DIR/$_p.pid")" 2>/dev/null; } || :; } || return 1
        done &&
        # a qemu left behind by a daemon that died: ours only, by its pid file
        for _q in "$LV_DIR"/run/qemu/*.pid; do
            { { [ -f "$_q" ] && kill -9 "$(cat "$_q")" 2>/dev/null; } || :; } || return 1
        done
}

# Tests run in subshells: the cleanup is registered here, at source time.
test_on_exit libvirt_stop_

# Starts virtlogd and libvirtd.  A root libvirtd reads /etc/libvirt and uses
# /run/libvirt and /var/{lib,cache,log}/libvirt: in a mount namespace of its
# own those are this test's directories, and nothing of the machine's is
# touched.
libvirt_daemons_() {
    mkdir -p "$LV_DIR/etc" "$LV_DIR/lib" "$LV_DIR/log" &&
        cp "$LV_DIR/qemu.conf" "$LV_DIR/etc/qemu.conf" &&
        unshare -m --propagation private sh -ec '
            d=$1
            for p in /etc/libvirt:etc /run/libvirt:run /var/lib/libvirt:lib /var/cache/libvirt:cache /var/log/libvirt:log; do
                mkdir -p "${p%%:*}"
                mount --bind "$d/${p#*:}" "${p%%:*}"
            done
            [ -f "$d/virtlogd.pid" ] && kill -0 "$(cat "$d/virtlogd.pid")" 2>/dev/null ||
                virtlogd -d -f "$d/virtlogd.conf" -p "$d/virtlogd.pid"
            libvirtd -d -f "$d/libvirtd.conf" -p "$d/libvirtd.pid"
        ' sh "$LV_DIR" &&
        libvirt_wait_
}

# Waits until the daemon answers (it needs well under a second when idle).
libvirt_wait_() {
    _i=0 &&
        until virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1; do
            _i=$((_i + 1)) &&
                if [ $_i -gt 300 ]; then
                    echo "libvirtd did not start; its log:" >&2 &&
                        tail -20 "$LV_DIR/libvirtd.log" >&2
                    return 1
                fi &&
                sleep 0.1 || return 1
        done
}

# libvirt_restart: kills libvirtd (the guests keep running) and starts it again.
libvirt_restart() {
    _pid=$(cat "$LV_DIR/libvirtd.pid") &&
        kill "$_pid" &&
        # gone, or a zombie nobody reaped yet
        while kill -0 "$_pid" 2>/dev/null && ! grep -q "^State:.*Z" "/proc/$_pid/status" 2>/dev/null; do
            sleep 0.1 || return 1
        done &&
        libvirt_daemons_
}

libvirt_start() {
    mkdir -p "$LV_DIR/run/qemu" "$LV_DIR/lib/qemu" "$LV_DIR/log/qemu" "$LV_DIR/cache" "$LV_DIR/pool" &&
        cat >"$LV_DIR/libvirtd.conf" <<-CONF &&
		unix_sock_group = "root"
	unix_sock_rw_perms = "0700"
	auth_unix_rw = "none"
	auth_unix_ro = "none"
	listen_tls = 0
	listen_tcp = 0
	log_outputs = "3:file:$LV_DIR/libvirtd.log"
	CONF
        cat >"$LV_DIR/virtlogd.conf" <<-CONF &&
	log_outputs = "3:file:$LV_DIR/virtlogd.log"
	CONF
        cat >"$LV_DIR/qemu.conf" <<-CONF &&
	user = "root"
	group = "root"
	dynamic_ownership = 0
	remember_owner = 0
	security_driver = "none"
	stdio_handler = "file"
	CONF
        libvirt_daemons_ &&
        virsh -c "$LIBVIRT_URI" pool-define-as kiln dir --target "$LV_DIR/pool" >/dev/null &&
        virsh -c "$LIBVIRT_URI" pool-start kiln >/dev/null
}
