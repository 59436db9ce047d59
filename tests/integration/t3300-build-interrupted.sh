#!/bin/bash
# A build that fails late or is interrupted (SIGINT, SIGTERM) leaves the
# store exactly as it was and removes its scratch directory.
. "$(dirname "$0")/lib.sh"

mkdir -p tmp root
export TMPDIR="$TEST_DIR/tmp"
# Incompressible content so that compressing takes a while.
head -c 100000000 /dev/urandom >root/noise
tar -C root -cf big.tar .
printf 'name: big\nversion: 1.0.0\nbase:\n  tarball:\n    path: big.tar\noutputs: [oci, tar]\n' >big.yaml
printf 'name: small\nversion: 1.0.0\nbase:\n  scratch: true\nfiles:\n  - content: "x"\n    dest: /x\noutputs: [oci]\n' >small.yaml

# interrupt SIGNAL: start the big build, wait until it writes blobs, signal it.
interrupt() {
    "$KILN_BIN" build big.yaml >out 2>err &
    pid=$!
    while ! ls "$KILN_STORE/.kiln/tmp/"* >/dev/null 2>&1; do
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    kill -"$1" $pid
    rc=0; wait $pid || rc=$?
    echo "exit $rc"
    test "$rc" = "$2"
}

test_expect_success 'setup: a store with one image' '
    kiln build small.yaml
'

test_expect_success 'SIGINT during a build leaves the store and TMPDIR clean' '
    before=$(store_digest) &&
    interrupt INT 130 &&
    test_grep "interrupted" err &&
    test "$before" = "$(store_digest)" &&
    test -z "$(ls tmp)" &&
    test -z "$(ls "$KILN_STORE/.kiln/tmp")"
'

test_expect_success 'SIGTERM during a build leaves the store and TMPDIR clean' '
    before=$(store_digest) &&
    interrupt TERM 143 &&
    test "$before" = "$(store_digest)" &&
    test -z "$(ls tmp)"
'

test_expect_success 'a build that fails after writing blobs leaves the store unchanged' '
    before=$(store_digest) &&
    kiln build small.yaml --version 1.0.1 &&
    sed "s/\"x\"/\"y\"/" small.yaml >small2.yaml &&
    after=$(store_digest) &&
    test_expect_code 1 kiln build small2.yaml --version 1.0.1 &&
    test_grep "exists with another digest" err &&
    test "$after" = "$(store_digest)" &&
    test -z "$(ls tmp)"
'

test_expect_success 'a reference the store would refuse stops the build before it starts' '
    sed "s/^version: 1.0.0\$/version: 1.0.0-rc.1/" big.yaml >rc.yaml &&
    test_grep "^version: 1.0.0-rc.1" rc.yaml &&
    before=$(store_digest) &&
    test_expect_code 2 kiln build rc.yaml --version auto &&
    test_grep "auto version base .1.0.0-rc.1." err &&
    test "$before" = "$(store_digest)" &&
    test -z "$(ls tmp)" &&
    test_expect_code 2 kiln build big.yaml --channel 2.0.0 &&
    test_grep "channel name .2.0.0. is invalid" err &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'the store is still usable after an interrupted build' '
    kiln build small.yaml --version 1.0.2 >out &&
    test_grep "^small:1.0.2@sha256:" out
'

test_done
