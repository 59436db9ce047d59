#!/bin/bash
# Reproducibility: the same recipe and inputs, built into two fresh stores
# at different times, from inputs whose mtimes changed in between, under a
# different umask, time zone and working directory, give the same manifest
# digest, the same blobs, and byte-identical rootfs and docker-archive
# exports.  (The build's provenance attestation records when it ran, so it
# and the layout exports that carry it differ between the two builds.)
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

busybox_recipe app.yaml app 1.0.0 oci "$TEST_DIR/src"
busybox_recipe multi.yaml multi 1.0.0 oci,tar "$TEST_DIR/src"

ref_digest() { # STORE REF
    jq -r --arg r "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$1/index.json"
}

test_expect_success 'first build' '
    kiln build app.yaml --store "$TEST_DIR/a" --quiet &&
    kiln build multi.yaml --store "$TEST_DIR/a" --quiet
'

test_expect_success 'second build: later, inputs touched, other umask and directory' '
    sleep 1.1 &&
    touch -d "2001-02-03 04:05:06" src/motd app.yaml multi.yaml &&
    mkdir elsewhere &&
    (cd elsewhere && umask 077 && TZ=America/New_York \
        kiln build ../app.yaml --store "$TEST_DIR/b" --quiet &&
        umask 077 && kiln build ../multi.yaml --store "$TEST_DIR/b" --quiet)
'

test_expect_success 'the same manifest digest, single- and multi-output' '
    a=$(ref_digest a app:1.0.0) && b=$(ref_digest b app:1.0.0) &&
    test -n "$a" && test "$a" = "$b" &&
    a=$(ref_digest a multi:1.0.0) && b=$(ref_digest b multi:1.0.0) &&
    test -n "$a" && test "$a" = "$b"
'

walk() { # STORE DIGEST: the digests an image manifest or index reaches
    local _m="$TEST_DIR/$1/blobs/sha256/${2#sha256:}" &&
    echo "$2" &&
    jq -r ".config.digest // empty, .layers[]?.digest, .annotations[\"dev.kiln.files\"] // empty" "$_m" &&
    for _c in $(jq -r ".manifests[]?.digest" "$_m"); do walk "$1" "$_c" || return 1; done
}
closure() { _d=$(ref_digest "$TEST_DIR/$1" "$2") && walk "$1" "$_d" >"$1.walk" && sort -u "$1.walk"; }

test_expect_success 'the same blobs in both images (config, layers, file manifest)' '
    closure a app:1.0.0 >blobs-a && closure b app:1.0.0 >blobs-b &&
    test -s blobs-a && diff blobs-a blobs-b &&
    closure a multi:1.0.0 >blobs-a && closure b multi:1.0.0 >blobs-b &&
    test -s blobs-a && diff blobs-a blobs-b
'

test_expect_success 'the rootfs tar and docker-archive exports are byte-identical' '
    for f in tar docker-archive; do
        kiln export multi:1.0.0 --store "$TEST_DIR/a" --format $f --output a.$f &&
        kiln export multi:1.0.0 --store "$TEST_DIR/b" --format $f --output b.$f &&
        cmp a.$f b.$f || exit 1
    done
'

test_expect_success 'the oci exports name the same image digest' '
    kiln export app:1.0.0 --store "$TEST_DIR/a" --format oci-archive --output a.oci.tar &&
    kiln export app:1.0.0 --store "$TEST_DIR/b" --format oci-archive --output b.oci.tar &&
    a=$(skopeo inspect --raw oci-archive:a.oci.tar:app:1.0.0 | sha256sum) &&
    b=$(skopeo inspect --raw oci-archive:b.oci.tar:app:1.0.0 | sha256sum) &&
    test "$a" = "$b"
'

test_expect_success 'the flattened export is the same file as the tar output of the build' '
    idx="$TEST_DIR/a/blobs/sha256/$(ref_digest "$TEST_DIR/a" multi:1.0.0 | cut -d: -f2)" &&
    art=$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.rootfs.tar.v1\") | .digest" "$idx") &&
    layer=$(jq -r ".layers[0].digest" "$TEST_DIR/a/blobs/sha256/${art#sha256:}") &&
    cmp a.tar "$TEST_DIR/a/blobs/sha256/${layer#sha256:}"
'

test_expect_success 'a changed input changes the digest' '
    echo "other motd" >src/motd &&
    kiln build app.yaml --store "$TEST_DIR/c" --quiet &&
    test "$(ref_digest c app:1.0.0)" != "$(ref_digest a app:1.0.0)"
'

test_done
