#!/bin/bash
# A signed image exported as an OCI layout carries its signatures: kiln
# verify --layout accepts the copy with only the public key, and rejects a
# copy whose layer was tampered with.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

mkdir -p l/etc && echo signed >l/etc/motd
digest=$(fixture_image "$KILN_STORE" app 1.0.0 "" l)

test_expect_success 'sign the image in the store' '
    kiln keygen --output k >/dev/null &&
    kiln sign app:1.0.0 --key k.key >/dev/null &&
    kiln verify app:1.0.0 --key k.pub >/dev/null
'

test_expect_success 'the exported layout holds the signature and verifies offline' '
    kiln export app:1.0.0 --format oci --output copy &&
    jq -e --arg d "$digest" "[.manifests[] | select(.annotations[\"dev.kiln.subject\"] == \$d)] | length >= 1" copy/index.json &&
    kiln verify app:1.0.0 --layout copy --key k.pub >/dev/null
'

test_expect_success 'the layout from an oci-archive verifies too' '
    kiln export app:1.0.0 --format oci-archive --output out.tar &&
    mkdir unpacked && tar -C unpacked -xf out.tar &&
    kiln verify app:1.0.0 --layout unpacked --key k.pub >/dev/null
'

test_expect_success 'another key does not verify the copy (exit 3)' '
    kiln keygen --output other >/dev/null &&
    test_expect_code 3 kiln verify app:1.0.0 --layout copy --key other.pub
'

test_expect_success 'a tampered layer in the copy fails verification (exit 3)' '
    layer=$(jq -r ".layers[0].digest" copy/blobs/sha256/${digest#sha256:}) &&
    chmod u+w copy/blobs/sha256/${layer#sha256:} &&
    printf x | dd of=copy/blobs/sha256/${layer#sha256:} bs=1 seek=20 conv=notrunc 2>/dev/null &&
    test_expect_code 3 kiln verify app:1.0.0 --layout copy --key k.pub
'

test_done
