#!/bin/bash
# Reproducibility: the same recipe and inputs, built into two fresh stores
# at different times, from inputs whose mtimes changed in between, under a
# different umask and working directory, give the same manifest digest, and
# every export of it is byte-identical.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

if ! kiln_can_build; then
    test_skip 'same inputs give the same digest' 'kiln build is not part of this build'
    test_done
fi

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

test_expect_success 'the same blobs in both stores' '
    (cd a/blobs/sha256 && ls) >blobs-a &&
    (cd b/blobs/sha256 && ls) >blobs-b &&
    diff blobs-a blobs-b
'

test_expect_success 'every export format is byte-identical across the two stores' '
    for f in tar oci-archive docker-archive; do
        kiln export multi:1.0.0 --store "$TEST_DIR/a" --format $f --output a.$f &&
        kiln export multi:1.0.0 --store "$TEST_DIR/b" --format $f --output b.$f &&
        cmp a.$f b.$f || exit 1
    done
'

test_expect_success 'the oci export is the same tree' '
    kiln export app:1.0.0 --store "$TEST_DIR/a" --format oci --output a.oci &&
    kiln export app:1.0.0 --store "$TEST_DIR/b" --format oci --output b.oci &&
    diff -r a.oci b.oci
'

test_expect_success 'a changed input changes the digest' '
    echo "other motd" >src/motd &&
    kiln build app.yaml --store "$TEST_DIR/c" --quiet &&
    test "$(ref_digest c app:1.0.0)" != "$(ref_digest a app:1.0.0)"
'

test_done
