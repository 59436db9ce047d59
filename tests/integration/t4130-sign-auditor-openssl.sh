#!/bin/bash
# The auditor's walkthrough: a kiln-signed image verifies with only openssl,
# sha256sum and jq (the README's commands, tests/auditor-verify.sh), and a
# tampered one does not.
. "$(dirname "$0")/lib.sh"
D=$KILN_SRC/tests/data/sign
. "$D/make-image.sh"
AUDIT=$KILN_SRC/tests/auditor-verify.sh
# Only the tools the README names (and coreutils) are on PATH for the script.
mkdir -p tools
for t in openssl sha256sum jq sh cut head grep wc cat echo; do ln -sf "$(command -v $t)" tools/$t; done
audit() { PATH=$TEST_DIR/tools "$TEST_DIR/tools/sh" "$AUDIT" "$@"; }

test_expect_success 'the README shows exactly tests/auditor-verify.sh' '
    sed -n "/^<!-- auditor-verify.sh -->/,/^<!-- \/auditor-verify.sh -->/p" "$KILN_SRC/README.md" |
        sed "1,2d;\$d" | sed "\$d" >readme-script &&
    diff -u "$AUDIT" readme-script
'

test_expect_success 'setup: two keys and an image built by kiln build' '
    kiln keygen --output ec >/dev/null &&
    kiln keygen --output ed --algorithm ed25519 >/dev/null &&
    kiln build "$KILN_SRC/recipes/examples/busybox.yaml" --context /bin --version 1.0.0 >build.out &&
    jq -r ".manifests[0].annotations[\"org.opencontainers.image.ref.name\"]" "$KILN_STORE/index.json" >ref &&
    test_grep "^busybox:1.0.0$" ref &&
    kiln inspect "$(cat ref)" --json >inspect.json &&
    jq -r .digest inspect.json >img &&
    test_grep "^sha256:[0-9a-f]\{64\}$" img
'
# The tests below need that image: without it they fail.
REF=$(cat ref)
IMG=$(cat img)

test_expect_success 'an unsigned image fails the walkthrough' '
    ! audit "$KILN_STORE" "$REF" ec.pub >out 2>&1 &&
    test_grep "no valid signature" out
'

test_expect_success 'setup: the image signed with both keys' '
    kiln sign "$REF" --key ec.key >/dev/null &&
    kiln sign "$REF" --key ed.key >/dev/null &&
    cp -a "$KILN_STORE" pristine
'
reset_store() { rm -rf "$KILN_STORE" && cp -a pristine "$KILN_STORE"; }

test_expect_success 'an ECDSA-signed image passes the walkthrough' '
    audit "$KILN_STORE" "$REF" ec.pub >out 2>&1 &&
    test_grep "signature .*: good" out && test_grep "verified" out
'

test_expect_success 'an Ed25519-signed image passes the walkthrough' '
    audit "$KILN_STORE" "$REF" ed.pub >out 2>&1 &&
    test_grep "verified" out
'

test_expect_success 'kiln verify agrees' '
    kiln verify "$REF" --key ec.pub --key ed.pub --json >out &&
    jq -e ".verified and (.signers | length) == 2" out
'

test_expect_success 'a key that did not sign fails the walkthrough' '
    kiln keygen --output stranger >/dev/null &&
    ! audit "$KILN_STORE" "$REF" stranger.pub >out 2>&1 &&
    test_grep "no valid signature" out
'

test_expect_success 'a tampered layer fails the walkthrough' '
    reset_store &&
    L=$(blob_path "$(jq -r ".layers[0].digest // .manifests[0].digest" "$(blob_path "$IMG")")") &&
    chmod u+w "$L" && flip_byte "$L" 3 &&
    ! audit "$KILN_STORE" "$REF" ec.pub >out 2>&1 &&
    test_grep "mismatch in blob" out &&
    test_expect_code 3 kiln verify "$REF" --key ec.pub
'

test_expect_success 'a tampered file manifest fails the walkthrough' '
    reset_store &&
    F=$(jq -r ".annotations[\"dev.kiln.files\"] // empty" "$(blob_path "$IMG")") &&
    test -n "$F" &&
    chmod u+w "$(blob_path "$F")" && flip_byte "$(blob_path "$F")" 2 &&
    ! audit "$KILN_STORE" "$REF" ec.pub >out 2>&1 && test_grep "mismatch in blob $F" out
'

test_expect_success 'a tampered signature payload fails the walkthrough' '
    reset_store &&
    for S in $(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.signature.v1\") | .digest" "$KILN_STORE/index.json"); do
        P=$(blob_path "$(jq -r ".layers[0].digest" "$(blob_path "$S")")") && chmod u+w "$P" && flip_byte "$P" 30 || return 1
    done &&
    ! audit "$KILN_STORE" "$REF" ec.pub >out 2>&1 &&
    test_grep "mismatch in blob" out
'

test_expect_success 'a payload re-hashed and re-listed after editing fails on the signature' '
    reset_store &&
    S=$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.signature.v1\") | .digest" "$KILN_STORE/index.json" | head -n1) &&
    M=$(blob_path "$S") &&
    P=$(blob_path "$(jq -r ".layers[0].digest" "$M")") &&
    sed "s/\"created\":\"[^\"]*\"/\"created\":\"1999-01-01T00:00:00Z\"/" "$P" >p2 &&
    drop_referrers "$IMG" &&
    add_signature "$IMG" p2 "$(blob_path "$(jq -r ".layers[1].digest" "$M")")" >/dev/null &&
    ! audit "$KILN_STORE" "$REF" ec.pub >out 2>&1 &&
    test_grep "bad signature\|no valid signature" out
'

test_expect_success 'an exported layout passes the walkthrough and kiln verify --layout' '
    reset_store &&
    kiln export "$REF" --format oci --output layout >/dev/null &&
    audit layout "$REF" ec.pub >out 2>&1 &&
    kiln verify "$REF" --key ec.pub --layout layout &&
    mv "$KILN_STORE" away &&
    kiln verify "$REF" --key ed.pub --layout layout --json >out &&
    jq -e .verified out &&
    mv away "$KILN_STORE"
'

test_done
