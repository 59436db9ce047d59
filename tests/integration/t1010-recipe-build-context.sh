#!/bin/bash
# The build context: every host path a recipe names resolves, symlinks
# followed, inside the recipe's folder unless --context widens it.  Each way
# out is refused by kiln check and by kiln build with exit 2, naming the key
# and the path, before any work and with the store unchanged.
. "$(dirname "$0")/lib.sh"

P=$(pwd -P)
mkdir -p proj outside &&
    echo "host secret" >outside/secret &&
    echo "mine" >proj/mine || exit 1

# refused RECIPE KEY PATH: check and build exit 2 naming KEY and PATH as
# outside the context (the recipe's folder), and the store is unchanged.
refused() {
    _before=$(store_digest) &&
        test_expect_code 2 kiln check "$1" &&
        test_grep "^kiln: $1:[0-9]*:[0-9]*: " err &&
        test_grep -F "$2 '$3'" err &&
        test_grep -F "is outside the build context '$P/proj' (use --context to widen it)" err &&
        cp err check.err &&
        test_expect_code 2 kiln build "$1" &&
        diff check.err err &&
        test "$(store_digest)" = "$_before" &&
        test -z "$(find "$KILN_STORE/.kiln" -type f ! -name "*.lock")"
}

head='name: ctx
version: 1.0.0'

test_expect_success 'a store to compare against, from a recipe that stays inside' '
    printf "%s\nbase: {scratch: true}\nfiles: [{src: mine, dest: /mine}]\n" "$head" >proj/ok.yaml &&
    kiln check proj/ok.yaml >out &&
    kiln build proj/ok.yaml --quiet >out &&
    test_grep "^ctx:1.0.0@sha256:" out
'

test_expect_success 'an absolute src outside the folder is refused' '
    printf "%s\nbase: {scratch: true}\nfiles:\n  - src: %s\n    dest: /s\n" "$head" "$P/outside/secret" >proj/abs.yaml &&
    refused proj/abs.yaml "files[0].src" "$P/outside/secret" &&
    test_grep "^kiln: proj/abs.yaml:5:10: files\[0\].src " err
'

test_expect_success 'the host /etc/shadow as a src is refused' '
    printf "%s\nbase: {scratch: true}\nfiles: [{src: /etc/shadow, dest: /s}]\n" "$head" >proj/shadow.yaml &&
    refused proj/shadow.yaml "files[0].src" /etc/shadow
'

test_expect_success 'a ../ src is refused' '
    printf "%s\nbase: {scratch: true}\nfiles: [{src: ../outside/secret, dest: /s}]\n" "$head" >proj/up.yaml &&
    refused proj/up.yaml "files[0].src" "$P/proj/../outside/secret"
'

test_expect_success 'a symlink in the folder that points out is refused, naming where it leads' '
    ln -s ../outside/secret proj/link &&
    printf "%s\nbase: {scratch: true}\nfiles: [{src: link, dest: /s}]\n" "$head" >proj/link.yaml &&
    refused proj/link.yaml "files[0].src" "$P/proj/link" &&
    test_grep -F "(it resolves to '\''$P/outside/secret'\'')" err
'

test_expect_success 'a symlink in the folder that stays inside is followed' '
    ln -s mine proj/inner &&
    printf "%s\nversion: 1.0.1\nbase: {scratch: true}\nfiles: [{src: inner, dest: /s}]\n" "name: ctx" >proj/inner.yaml &&
    kiln build proj/inner.yaml --quiet >out &&
    kiln export ctx:1.0.1 --format tar --output inner.tar &&
    test "$(tar -xOf inner.tar s)" = mine
'

test_expect_success 'a directory base of / is refused' '
    printf "%s\nbase: {directory: /}\n" "$head" >proj/root.yaml &&
    refused proj/root.yaml base.directory /
'

test_expect_success 'a directory base through a symlink that points out is refused' '
    mkdir -p outside/rootfs/etc && echo x >outside/rootfs/etc/x &&
    ln -s ../outside/rootfs proj/rootfs &&
    printf "%s\nbase: {directory: rootfs}\n" "$head" >proj/dirlink.yaml &&
    refused proj/dirlink.yaml base.directory "$P/proj/rootfs"
'

test_expect_success 'a tarball base outside is refused' '
    tar -C outside/rootfs -cf outside/rootfs.tar . &&
    printf "%s\nbase: {tarball: {path: ../outside/rootfs.tar}}\n" "$head" >proj/tar.yaml &&
    refused proj/tar.yaml base.tarball.path "$P/proj/../outside/rootfs.tar"
'

test_expect_success 'a disk base outside is refused' '
    truncate -s 1M outside/disk.raw &&
    printf "%s\nbase: {disk: {path: %s}}\n" "$head" "$P/outside/disk.raw" >proj/disk.yaml &&
    refused proj/disk.yaml base.disk.path "$P/outside/disk.raw"
'

test_expect_success 'an OCI layout base outside is refused (the store itself, say)' '
    printf "%s\nbase: {oci: {layout: %s, ref: \"ctx:1.0.0\"}}\n" "$head" "$KILN_STORE" >proj/oci.yaml &&
    refused proj/oci.yaml base.oci.layout "$KILN_STORE"
'

test_expect_success 'a debian base with a file:/// mirror outside is refused' '
    printf "%s\nbase: {debian: {suite: bookworm, mirror: \"file://%s\"}}\n" "$head" "$P/outside" >proj/mirror.yaml &&
    refused proj/mirror.yaml base.debian.mirror "$P/outside"
'

test_expect_success 'an OCI layout inside whose blobs are a symlink out is refused' '
    mkdir -p proj/layout &&
    cp "$KILN_STORE/oci-layout" "$KILN_STORE/index.json" proj/layout/ &&
    ln -s "$KILN_STORE/blobs" proj/layout/blobs &&
    printf "%s\nbase: {oci: {layout: layout, ref: \"ctx:1.0.0\"}}\n" "$head" >proj/ocilink.yaml &&
    before=$(store_digest) &&
    test_expect_code 2 kiln check proj/ocilink.yaml &&
    test_grep -F "base.oci.layout '\''$P/proj/layout'\'': '\''blobs'\'' is a symlink" err &&
    test_expect_code 2 kiln build proj/ocilink.yaml &&
    test_grep -F "'\''blobs'\'' is a symlink" err &&
    test "$(store_digest)" = "$before"
'

test_expect_success 'a symlink inside a directory base is stored as a symlink, never followed' '
    mkdir -p proj/tree/etc &&
    ln -s "$P/outside/secret" proj/tree/etc/leak &&
    printf "name: ctx\nversion: 1.0.2\nbase: {directory: tree}\noutputs: [tar]\n" >proj/tree.yaml &&
    kiln check proj/tree.yaml >out &&
    kiln build proj/tree.yaml --quiet >out &&
    kiln inspect ctx:1.0.2 --files --json >files.json &&
    jq -e ".files[] | select(.path == \"/etc/leak\") | .type == \"symlink\" and .target == \"$P/outside/secret\"" files.json &&
    kiln export ctx:1.0.2 --format tar --output tree.tar &&
    tar -tvf tree.tar etc/leak >listing &&
    test_grep "^l.* etc/leak -> $P/outside/secret$" listing &&
    ! grep -r -q "host secret" "$KILN_STORE/blobs"
'

test_expect_success '--context widens the context: the build succeeds and reads the file' '
    kiln check proj/abs.yaml --context outside >out &&
    kiln build proj/abs.yaml --context "$P/outside" --version 2.0.0 --quiet >out &&
    test_grep "^ctx:2.0.0@sha256:" out &&
    kiln export ctx:2.0.0 --format tar --output abs.tar &&
    test "$(tar -xOf abs.tar s)" = "host secret"
'

test_expect_success '--context is repeatable, and each names a directory' '
    printf "%s\nversion: 1.0.3\nbase: {tarball: {path: %s}}\nfiles: [{src: %s, dest: /s}]\n" "name: ctx" \
        "$P/outside/rootfs.tar" "$P/outside/secret" >proj/two.yaml &&
    mkdir -p other && mv outside/rootfs.tar other/ &&
    sed -i "s|$P/outside/rootfs.tar|$P/other/rootfs.tar|" proj/two.yaml &&
    test_expect_code 2 kiln check proj/two.yaml --context outside &&
    test_grep -F "base.tarball.path '\''$P/other/rootfs.tar'\'' is outside the build context '\''$P/proj'\'', '\''$P/outside'\''" err &&
    kiln build proj/two.yaml --context outside --context other --quiet >out &&
    test_grep "^ctx:1.0.3@sha256:" out &&
    test_expect_code 2 kiln check proj/two.yaml --context nosuch &&
    test_grep "^kiln: --context: build context .nosuch.: No such file or directory" err &&
    test_expect_code 2 kiln build proj/two.yaml --context outside/secret &&
    test_grep "^kiln: --context: build context .outside/secret. is not a directory" err
'

test_done
