#!/bin/bash
# kiln verify re-hashes blobs streamed: a 2 GiB layer verifies in a few MB.
. "$(dirname "$0")/lib.sh"
D=$KILN_SRC/tests/data/sign
. "$D/make-image.sh"

kiln keygen --output k >/dev/null
truncate -s 2G big.layer
LAYER_FILE=$TEST_DIR/big.layer make_image big 1.0.0 >/dev/null
kiln sign big:1.0.0 --key k.key >/dev/null

# AddressSanitizer reserves terabytes of address space: no ulimit -v there.
if kiln_sanitized; then
    test_skip 'a 2 GiB layer verifies under a 150 MB address-space limit' 'sanitizer build'
else
    test_expect_success 'a 2 GiB layer verifies under a 150 MB address-space limit' '
        (ulimit -v 150000 && kiln verify big:1.0.0 --key k.pub >out) &&
        test_grep "verified big:1.0.0" out
    '
fi

if [ -x /usr/bin/time ]; then
    test_expect_success 'peak RSS while verifying a 2 GiB layer stays in tens of MB' '
        /usr/bin/time -f %M -o rss "$KILN_BIN" verify big:1.0.0 --key k.pub >out &&
        say "peak RSS $(cat rss) KB" &&
        test "$(cat rss)" -lt "$(rss_limit 65536)"
    '
else
    test_skip 'peak RSS while verifying a 2 GiB layer stays in tens of MB' '/usr/bin/time missing'
fi

test_expect_success 'a flipped byte at the end of the 2 GiB layer is found' '
    L=$(blob_path "$(jq -r .layers[0].digest "$(blob_path "$(jq -r ".manifests[0].digest" "$KILN_STORE/index.json")")")") &&
    chmod u+w "$L" && printf "\001" | dd of="$L" bs=1 seek=$((2 * 1024 * 1024 * 1024 - 1)) conv=notrunc 2>/dev/null &&
    test_expect_code 3 kiln verify big:1.0.0 --key k.pub &&
    test_grep "digest mismatch in layer" err
'

test_done
