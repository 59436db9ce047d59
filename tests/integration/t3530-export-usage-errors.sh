#!/bin/bash
# kiln export's usage errors exit 2 and say what is wrong.
. "$(dirname "$0")/lib.sh"

test_expect_success 'an unknown format exits 2' '
    test_expect_code 2 kiln export app:1.0.0 --format zip --output x &&
    test_grep "unknown format .zip." err
'

test_expect_success 'a missing --output exits 2' '
    test_expect_code 2 kiln export app:1.0.0 --format tar &&
    test_grep "\-\-output is required" err
'

test_expect_success 'a missing --format exits 2' '
    test_expect_code 2 kiln export app:1.0.0 --output x &&
    test_grep "\-\-format is required" err
'

test_expect_success 'no REF or two REFs exit 2' '
    test_expect_code 2 kiln export --format tar --output x &&
    test_expect_code 2 kiln export a:1.0.0 b:1.0.0 --format tar --output x
'

test_expect_success 'a malformed REF exits 2' '
    mkdir -p "$KILN_STORE/blobs/sha256" &&
    printf "{\"imageLayoutVersion\":\"1.0.0\"}" >"$KILN_STORE/oci-layout" &&
    printf "{\"schemaVersion\":2,\"manifests\":[]}" >"$KILN_STORE/index.json" &&
    test_expect_code 2 kiln export "Bad Name" --format tar --output x
'

test_expect_success 'a missing store exits 1' '
    test_expect_code 1 kiln export app:1.0.0 --format tar --output x --store "$TEST_DIR/nostore"
'

test_done
