#!/bin/bash
# A multi-output build stores an OCI index; its signature covers every nested
# manifest and blob, and verify re-hashes all of them.
. "$(dirname "$0")/lib.sh"
D=$KILN_SRC/tests/data/sign
. "$D/make-image.sh"
AUDIT=$KILN_SRC/tests/auditor-verify.sh

kiln keygen --output k >/dev/null
C=$(make_image part 1.0.0 "container")
DISK=$(make_image part 2.0.0 "disk")
# The index: the container image and a disk artifact beside it.
jq -cnS --arg c "$C" --argjson cs "$(stat -c %s "$(blob_path "$C")")" --arg d "$DISK" \
    --argjson ds "$(stat -c %s "$(blob_path "$DISK")")" \
    '{schemaVersion:2,mediaType:"application/vnd.oci.image.index.v1+json",
      manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$c,size:$cs,
                  platform:{os:"linux",architecture:"amd64"}},
                 {mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$d,size:$ds,
                  artifactType:"application/vnd.dev.kiln.disk.qcow2.v1"}]}' | tr -d '\n' >index.blob
IDX=$(_blob index.blob)
jq --arg d "$IDX" --argjson s "$(stat -c %s index.blob)" \
    '.manifests += [{mediaType:"application/vnd.oci.image.index.v1+json",digest:$d,size:$s,
      annotations:{"org.opencontainers.image.ref.name":"multi:1.0.0","dev.kiln.name":"multi","dev.kiln.version":"1.0.0"}}]' \
    "$KILN_STORE/index.json" >i && mv i "$KILN_STORE/index.json"

test_expect_success 'an index is signed and verifies, nested blobs included' '
    kiln sign multi:1.0.0 --key k.key >/dev/null &&
    kiln verify multi:1.0.0 --key k.pub --json >out &&
    jq -e ".verified and .mediaType == \"application/vnd.oci.image.index.v1+json\"" out &&
    jq -e "[.blobs[] | select(.role == \"manifest\")] | length == 2" out &&
    jq -e "[.blobs[] | select(.role == \"layer\")] | length == 2" out &&
    sh "$AUDIT" "$KILN_STORE" multi:1.0.0 k.pub
'

test_expect_success 'a flipped byte in a nested artifact layer fails kiln and the walkthrough' '
    L=$(blob_path "$(jq -r .layers[0].digest "$(blob_path "$DISK")")") &&
    chmod u+w "$L" && flip_byte "$L" 7 &&
    test_expect_code 3 kiln verify multi:1.0.0 --key k.pub &&
    test_grep "digest mismatch in layer" err &&
    ! sh "$AUDIT" "$KILN_STORE" multi:1.0.0 k.pub >audit.out 2>&1 &&
    test_grep "mismatch in blob" audit.out
'

test_expect_success 'a missing nested manifest is named' '
    rm -f "$(blob_path "$C")" &&
    test_expect_code 3 kiln verify multi:1.0.0 --key k.pub &&
    test_grep "$C" err
'

test_done
