#!/bin/bash
# kiln check verifies the files a recipe names: digests, kinds, OCI tags.
. "$(dirname "$0")/lib.sh"

test_expect_success 'a tarball that does not match its declared sha256 exits 2 naming the path' '
    echo data >rootfs.tar &&
    printf "name: a\nversion: 0.1.0\nbase:\n  tarball:\n    path: rootfs.tar\n    sha256: %s\n" \
        "$(printf 0%.0s $(seq 64))" >tar.yaml &&
    test_expect_code 2 kiln check tar.yaml &&
    test_grep "^kiln: tar.yaml:5:11: base tarball .$TEST_DIR/rootfs.tar. has sha256 $(sha256sum <rootfs.tar | cut -d" " -f1), the recipe declares 0000" err &&
    sed -i "s/sha256: .*/sha256: $(sha256sum <rootfs.tar | cut -d" " -f1)/" tar.yaml &&
    kiln check tar.yaml >out
'

test_expect_success 'an OCI layout base made by umoci is found by its tag' '
    umoci init --layout layout &&
    umoci new --image layout:v1 &&
    printf "name: a\nversion: 0.1.0\nbase:\n  oci: {layout: layout, ref: v1}\n" >oci.yaml &&
    kiln check --json oci.yaml >out &&
    test "$(jq -r .base.layout out)" = "$TEST_DIR/layout" &&
    sed -i "s/ref: v1/ref: v2/" oci.yaml &&
    test_expect_code 2 kiln check oci.yaml &&
    test_grep "^kiln: oci.yaml:4:3: base OCI layout .$TEST_DIR/layout. has no image named .v2.$" err
'

test_done
