# lib.sh - a small TAP library for kiln's end-to-end tests, after git's t/test-lib.sh.
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'what it defends' '
#       kiln check good.yaml >out &&
#       test_grep "^name: " out
#   '
#   test_done
#
# Each test file runs in a fresh temporary directory with its own store
# ($KILN_STORE); `kiln` runs the binary under test ($KILN_BIN).
#
# A test passes only if every step of its body succeeds, so a body is one &&
# chain, and a loop in it ends its body in `|| return 1`. The chain lint
# (chainlint.pl, then git's `(exit 117) &&` check) refuses a body that is not,
# before it runs: the test is `not ok`, with "broken && chain" and where on
# stderr. The functions a test script defines are linted the same way when it
# sources this file. KILN_TEST_LINT_ONLY=1 lints the bodies without running them.

set -u
TEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KILN_SRC=${KILN_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
KILN_BIN=${KILN_BIN:-$KILN_SRC/kiln}
TEST_NAME=$(basename "$0" .sh)
TEST_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
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

# kiln_sanitized: the kiln under test is an AddressSanitizer build (make
# check), which reserves terabytes of address space and whose shadow memory
# and quarantine of freed blocks add tens of MB to its RSS.
kiln_sanitized() { grep -q __asan_init "$KILN_BIN" 2>/dev/null; }
# rss_limit KB: a bound on kiln's peak RSS, four times higher for a
# sanitizer build (still far below what reading a whole blob would take).
rss_limit() { if kiln_sanitized; then echo $(($1 * 4)); else echo "$1"; fi; }

# busybox_root DIR APPLET...: a minimal root file system in DIR: the host's
# static busybox with the given applets linked to it, /etc/passwd with root,
# and an empty /tmp.
busybox_root() {
    _d=$1 &&
        shift &&
        mkdir -p "$_d/bin" "$_d/etc" "$_d/tmp" &&
        cp /bin/busybox "$_d/bin/busybox" &&
        for _a in "$@"; do ln -s busybox "$_d/bin/$_a" || return 1; done &&
        printf 'root:x:0:0:root:/root:/bin/sh\n' >"$_d/etc/passwd"
}

# Runs at exit (servers started by a test, mounts).
test_on_exit() { test_cleanups="$test_cleanups
$1"; }

# The body runs as a function, so that `|| return 1` in a loop ends the test.
test_eval_() {
    eval "$1"
}

# Prints why BODY is not one && chain, and fails, if it is not.
test_lint_() {
    printf '%s\n' "$1" | perl "$TEST_LIB_DIR/chainlint.pl" || return 1
    # What the shell itself says: behind `(exit 117) &&`, a body that is one
    # chain runs nothing and ends with 117 (a here-document left open swallows
    # the echo).
    _lint=$( (test_eval_ "(exit 117) && $1

echo OK-\$? >&3") 3>&1 >/dev/null 2>&1 </dev/null) &&
        if [ "$_lint" != OK-117 ]; then
            echo "a step runs when the one before it fails (or a here-document is not closed)"
            return 1
        fi
}

# test_fail_ DESC PREFIX FILE: a failed test, with FILE (what it printed, or
# why the lint refused it) on stderr, each line after PREFIX, so that prove
# shows it without --verbose.
test_fail_() {
    test_failures=$((test_failures + 1)) &&
        echo "not ok $test_count - $1" &&
        {
            sed -e "s/^/#   $2/" "$3" | tail -n 40 &&
                # the stderr a command of this test left in ./err (or, for
                # one it ran in the background, ./bg.err), if any
                for _e in err bg.err; do
                    if [ -s "$_e" ] && [ "$_e" -nt "$TEST_DIR/.start" ]; then
                        echo "#   ./$_e:" &&
                            sed -e 's/^/#     /' "$_e" | tail -n 20
                    fi || return 1
                done
        } >&2
}

test_expect_success() {
    test_count=$((test_count + 1)) &&
        _desc=$1 &&
        _body=$2 &&
        _out="$TEST_DIR/.out.$test_count" &&
        : >"$TEST_DIR/.start" &&
        if ! test_lint_ "$_body" >"$_out" 2>&1; then
            test_fail_ "$_desc" "broken \&\& chain: " "$_out"
        elif [ -n "${KILN_TEST_LINT_ONLY:-}" ]; then
            echo "ok $test_count - $_desc # SKIP only linted (KILN_TEST_LINT_ONLY)"
        elif (test_eval_ "$_body") >"$_out" 2>&1; then
            echo "ok $test_count - $_desc"
        else
            test_fail_ "$_desc" "" "$_out"
        fi
}

# A known breakage, as git's test_expect_failure: the body (linted like any
# other) states the behaviour kiln must have and does not have yet.  It is
# reported "not ok ... # TODO known breakage" (TAP: not a failure, but shown),
# and "ok ... # TODO known breakage vanished" once it passes, so that the
# marker is removed.  Every use names the defect in a comment.
test_expect_failure() {
    test_count=$((test_count + 1)) &&
        _desc=$1 &&
        _body=$2 &&
        _out="$TEST_DIR/.out.$test_count" &&
        if ! test_lint_ "$_body" >"$_out" 2>&1; then
            test_fail_ "$_desc" "broken \&\& chain: " "$_out"
        elif [ -n "${KILN_TEST_LINT_ONLY:-}" ]; then
            echo "ok $test_count - $_desc # SKIP only linted (KILN_TEST_LINT_ONLY)"
        elif (test_eval_ "$_body") >"$_out" 2>&1; then
            echo "ok $test_count - $_desc # TODO known breakage vanished"
        else
            echo "not ok $test_count - $_desc # TODO known breakage" &&
                sed -e "s/^/#   /" "$_out" | tail -n 20 >&2
        fi
}

test_skip() {
    test_count=$((test_count + 1)) &&
        echo "ok $test_count - $1 # SKIP $2"
}

# Runs a command that must fail with the given exit status; stderr in ./err.
test_expect_code() {
    _want=$1 &&
        shift &&
        _rc=0 &&
        { "$@" >out 2>err || _rc=$?; } &&
        if [ "$_rc" != "$_want" ]; then
            echo "expected exit $_want, got $_rc from: $*" >&2 &&
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

# image_paths REF: the paths of the image's file manifest in $KILN_STORE,
# one per line (`kiln inspect REF --json` is left in inspect.json).
image_paths() {
    kiln inspect "$1" --json >inspect.json &&
        _m=$(jq -r .filesDigest inspect.json) &&
        jq -r ".files[].path" "$KILN_STORE/blobs/sha256/${_m#sha256:}"
}

# The functions the test script defines must be && chains too.
if [ -f "$TEST_SCRIPT" ] && ! _lint=$(perl "$TEST_LIB_DIR/chainlint.pl" --file <"$TEST_SCRIPT"); then
    test_count=$((test_count + 1))
    test_failures=$((test_failures + 1))
    echo "not ok $test_count - the functions of $TEST_NAME.sh are && chains"
    printf '%s\n' "$_lint" | sed -e 's/^/#   broken \&\& chain: /' >&2
fi

test_done() {
    echo "1..$test_count" &&
        # the cleanups (servers, mounts) run whatever happened; some have nothing left to do
        { eval "$test_cleanups" 2>/dev/null || :; } &&
        cd / &&
        if [ "$test_failures" -eq 0 ]; then
            rm -rf "$TEST_DIR" &&
                exit 0
        else
            echo "# kept $TEST_DIR"
        fi
    exit 1
}
