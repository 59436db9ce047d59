# lib.sh - a small TAP library for kiln's end-to-end tests, after git's t/test-lib.sh.
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'what it defends' '
#       kiln check good.yaml
#   '
#   test_done
#
# Each test file runs in a fresh temporary directory with its own store
# ($KILN_STORE); `kiln` runs the binary under test ($KILN_BIN).

set -u
KILN_SRC=${KILN_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
KILN_BIN=${KILN_BIN:-$KILN_SRC/kiln}
TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kiln-$TEST_NAME.XXXXXX")
export KILN_STORE="$TEST_DIR/store"
export HOME="$TEST_DIR/home"
mkdir -p "$HOME"
unset XDG_DATA_HOME
# Under TCG an appliance start is slow but works; kiln detects a broken KVM itself.
export LIBGUESTFS_CACHEDIR=${LIBGUESTFS_CACHEDIR:-/var/tmp}
cd "$TEST_DIR" || exit 1

test_count=0
test_failures=0
test_cleanups=""

kiln() { "$KILN_BIN" "$@"; }

say() { echo "# $*"; }

# busybox_root DIR APPLET...: a minimal root file system in DIR: the host's
# static busybox with the given applets linked to it, /etc/passwd with root,
# and an empty /tmp.
busybox_root() {
    _d=$1
    shift
    mkdir -p "$_d/bin" "$_d/etc" "$_d/tmp" &&
        cp /bin/busybox "$_d/bin/busybox" &&
        for _a in "$@"; do ln -s busybox "$_d/bin/$_a" || return 1; done &&
        printf 'root:x:0:0:root:/root:/bin/sh\n' >"$_d/etc/passwd"
}

# Runs at exit (servers started by a test, mounts).
test_on_exit() { test_cleanups="$test_cleanups
$1"; }

test_expect_success() {
    test_count=$((test_count + 1))
    _desc=$1
    _body=$2
    _out="$TEST_DIR/.out.$test_count"
    : >"$TEST_DIR/.start"
    if (set -e; eval "$_body") >"$_out" 2>&1; then
        echo "ok $test_count - $_desc"
    else
        test_failures=$((test_failures + 1))
        echo "not ok $test_count - $_desc"
        # On stderr, so that prove shows why without --verbose; with the
        # stderr a command of this test left in ./err, if any.
        {
            sed -e 's/^/#   /' "$_out" | tail -n 40
            if [ -s err ] && [ err -nt "$TEST_DIR/.start" ]; then
                echo "#   ./err:"
                sed -e 's/^/#     /' err | tail -n 20
            fi
        } >&2
    fi
}

test_skip() {
    test_count=$((test_count + 1))
    echo "ok $test_count - $1 # SKIP $2"
}

# Runs a command that must fail with the given exit status; stderr in ./err.
test_expect_code() {
    _want=$1
    shift
    _rc=0
    "$@" >out 2>err || _rc=$?
    if [ "$_rc" != "$_want" ]; then
        echo "expected exit $_want, got $_rc from: $*" >&2
        cat err >&2
        return 1
    fi
}

# grep that prints what it searched when it fails.
test_grep() {
    if ! grep "$@"; then
        _file=$(eval echo "\${$#}")
        echo "no match for '$*' in:" >&2
        cat "$_file" >&2 2>/dev/null
        return 1
    fi
}

# A digest of everything in the store (paths, sizes, contents), for "unchanged" checks.
store_digest() {
    if [ -d "$KILN_STORE" ]; then
        (cd "$KILN_STORE" && find . -type f ! -name '*.lock' -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) | sha256sum
    else
        echo "no store"
    fi
}

test_done() {
    _rc=0
    [ "$test_failures" -eq 0 ] || _rc=1
    echo "1..$test_count"
    eval "$test_cleanups" 2>/dev/null || true
    cd /
    if [ $_rc -eq 0 ]; then rm -rf "$TEST_DIR"; else echo "# kept $TEST_DIR"; fi
    exit $_rc
}
