#!/bin/bash
# An export stopped by a signal at any point leaves either the whole output
# or nothing: no partial output, no temporary files, the store unchanged.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

mkdir -p l1/data l2/data
head -c 40000000 /dev/urandom >l1/data/big
head -c 20000000 /dev/urandom >l2/data/more
fixture_image "$KILN_STORE" big 1.0.0 "" l1 l2 >/dev/null

complete() { # FORMAT PATH: the output is whole
    case $1 in
    oci) test -f "$2/oci-layout" && test -f "$2/index.json" &&
        (cd "$2/blobs/sha256" && for b in *; do echo "$b  $b" || exit 1; done | sha256sum -c --quiet) ;;
    *) tar tf "$2" >/dev/null ;;
    esac
}

test_expect_success 'SIGTERM or SIGINT at any moment: the whole output or nothing' '
    before=$(store_digest) &&
    n=0 &&
    for f in oci oci-archive docker-archive tar; do
        for d in 0 0.05 0.1 0.2 0.4 0.8; do
            for sig in TERM INT; do
                n=$((n + 1)) &&
                { "$KILN_BIN" export big:1.0.0 --format $f --output out-$n >/dev/null 2>&1 & } &&
                pid=$! &&
                sleep $d &&
                # it may have finished before the signal, or died of it
                { kill -$sig $pid 2>/dev/null || :; } &&
                { wait $pid || :; } &&
                if test -e out-$n; then
                    complete $f out-$n || { echo "partial output out-$n ($f, $d, $sig)"; exit 1; }
                fi &&
                if ls -A | grep -q "^\.kiln-"; then
                    echo "temporary files left ($f, $d, $sig):"; ls -A; exit 1
                fi || return 1
            done || return 1
        done || return 1
    done &&
    test "$(store_digest)" = "$before"
'

test_expect_success 'an interrupted export exits 128+signal and says so' '
    for d in 0.1 0.2 0.3; do
        : >err &&
        { "$KILN_BIN" export big:1.0.0 --format docker-archive --output late >/dev/null 2>err & } &&
        pid=$! &&
        sleep $d &&
        # it may have finished before the signal: then it exits 0
        { kill -TERM $pid 2>/dev/null || :; } &&
        rc=0 &&
        { wait $pid || rc=$?; } &&
        case $rc in
        0) complete docker-archive late && rm late ;;
        143) # before kiln takes the signal over, it just dies; after, it says
             # whether it removed an unfinished output
             if test -e late; then
                 complete docker-archive late && rm late &&
                 ! grep -q "nothing was written" err
             elif test -s err; then
                 test_grep "interrupted; nothing was written" err
             fi ;;
        *) echo "exit $rc" && return 1 ;;
        esac || return 1
    done
'

test_done
