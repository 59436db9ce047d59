#!/bin/bash
# One recipe with packages, a run command and a user yields both an OCI image
# and a qcow2 disk from one build, with the same customised root filesystem.
. "$(dirname "$0")/lib.sh"
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-${TMPDIR:-/tmp}/kiln-test-cache}

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

test_expect_success 'the debian example builds an index of an OCI image and a qcow2' '
    kiln build "$KILN_SRC/recipes/examples/debian.yaml" >out 2>err &&
    idx=$(blob "$(manifest_of debian:1.0.0)") &&
    jq -e ".mediaType == \"application/vnd.oci.image.index.v1+json\"" "$idx" &&
    jq -e "[.manifests[].artifactType] | index(\"application/vnd.dev.kiln.disk.qcow2.v1\") != null" "$idx" &&
    jq -e "[.manifests[] | select(.platform.os == \"linux\")] | length == 1" "$idx"
'

test_expect_success 'the OCI image holds what packages and run made' '
    idx=$(blob "$(manifest_of debian:1.0.0)") &&
    img=$(blob "$(jq -r ".manifests[] | select(.platform != null) | .digest" "$idx")") &&
    layer=$(blob "$(jq -r ".layers[0].digest" "$img")") &&
    tar -xzOf "$layer" etc/kiln-release >release &&
    test_grep "built by kiln" release &&
    test_grep "^curl " release &&
    tar -tzf "$layer" >list &&
    test_grep -x "usr/bin/curl" list &&
    tar -xzOf "$layer" etc/passwd >passwd &&
    test_grep "^app:x:1000:" passwd &&
    if grep -qx "etc/machine-id" list; then tar -xzOf "$layer" etc/machine-id >mid && test ! -s mid; fi &&
    ! grep -E "^var/lib/apt/lists/.*_Packages" list &&
    ! grep -E "^var/log/.*[^/]$" list
'

test_expect_success 'the disk and the image describe the same root filesystem' '
    idx=$(blob "$(manifest_of debian:1.0.0)") &&
    img=$(blob "$(jq -r ".manifests[] | select(.platform != null) | .digest" "$idx")") &&
    dsk=$(blob "$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.disk.qcow2.v1\") | .digest" "$idx")") &&
    a=$(jq -r ".annotations[\"dev.kiln.files\"]" "$img") &&
    b=$(jq -r ".annotations[\"dev.kiln.files\"]" "$dsk") &&
    [[ $a == sha256:* ]] &&
    test "$a" = "$b" &&
    jq -e ".files | length > 0" "$(blob "$a")" &&
    jq -e ".annotations[\"dev.kiln.sysprep\"] == \"verified\"" "$dsk"
'

test_done
