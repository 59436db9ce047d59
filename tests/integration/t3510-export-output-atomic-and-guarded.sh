#!/bin/bash
# kiln export never clobbers what the user has, and a failed export leaves
# no output, no temporary files and the store unchanged.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

mkdir -p l1/etc && echo one >l1/etc/one
digest=$(fixture_image "$KILN_STORE" app 1.0.0 "" l1)
layer=$(jq -r ".layers[0].digest" "$KILN_STORE/blobs/sha256/${digest#sha256:}")

test_expect_success 'an existing non-empty output directory is refused' '
    mkdir taken && echo mine >taken/keep &&
    test_expect_code 1 kiln export app:1.0.0 --format oci --output taken &&
    test_grep "kiln: .taken. exists and is not empty (use --force)" err &&
    test "$(ls taken)" = keep
'

test_expect_success 'an existing non-empty output file is refused' '
    echo mine >taken.tar &&
    test_expect_code 1 kiln export app:1.0.0 --format tar --output taken.tar &&
    test "$(cat taken.tar)" = mine
'

test_expect_success 'an existing empty directory is used' '
    mkdir empty &&
    kiln export app:1.0.0 --format oci --output empty &&
    test -f empty/index.json
'

test_expect_success '--force replaces a non-empty directory and a file' '
    kiln export app:1.0.0 --format oci --output taken --force &&
    test ! -e taken/keep && test -f taken/oci-layout &&
    kiln export app:1.0.0 --format tar --output taken.tar --force &&
    tar tf taken.tar | grep -q "etc/one"
'

test_expect_success 'an output with a trailing slash names the directory' '
    kiln export app:1.0.0 --format oci --output slash/ &&
    test -f slash/index.json
'

test_expect_success '".", "..", "/" are refused, even with --force (exit 2)' '
    for o in . .. / ./ sub/..; do
        test_expect_code 2 kiln export app:1.0.0 --format oci --output $o --force || exit 1
        test_grep "must name a new file or directory" err || exit 1
    done
'

test_expect_success 'the store itself, or a directory holding it, is refused even with --force' '
    before=$(store_digest) &&
    test_expect_code 2 kiln export app:1.0.0 --format oci --output "$KILN_STORE" --force &&
    test_grep "is or holds the store" err &&
    test_expect_code 2 kiln export app:1.0.0 --format tar --output "$TEST_DIR" --force &&
    test "$(store_digest)" = "$before"
'

test_expect_success 'no temporary files are left beside the output' '
    ! ls -A | grep -q "^\.kiln-"
'

test_expect_success 'a failed export leaves no output, no temporary files, the store as it was' '
    cp "$KILN_STORE/blobs/sha256/${layer#sha256:}" saved &&
    printf x | dd of="$KILN_STORE/blobs/sha256/${layer#sha256:}" bs=1 seek=20 conv=notrunc 2>/dev/null &&
    before=$(store_digest) &&
    for f in oci oci-archive docker-archive tar; do
        test_expect_code 3 kiln export app:1.0.0 --format $f --output failed-$f || exit 1
        test ! -e failed-$f || exit 1
    done &&
    test "$(store_digest)" = "$before" &&
    ! ls -A | grep -q "^\.kiln-" &&
    cp saved "$KILN_STORE/blobs/sha256/${layer#sha256:}"
'

test_expect_success 'a failed --force export keeps the old output' '
    printf x | dd of="$KILN_STORE/blobs/sha256/${layer#sha256:}" bs=1 seek=20 conv=notrunc 2>/dev/null &&
    test_expect_code 3 kiln export app:1.0.0 --format oci --output taken --force &&
    test -f taken/oci-layout &&
    test_expect_code 3 kiln export app:1.0.0 --format tar --output taken.tar --force &&
    tar tf taken.tar | grep -q "etc/one" &&
    cp saved "$KILN_STORE/blobs/sha256/${layer#sha256:}"
'

test_done
