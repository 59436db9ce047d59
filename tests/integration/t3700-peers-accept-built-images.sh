#!/bin/bash
# Images kiln builds are read by the peer tools: skopeo and umoci straight
# from the store, chroot on the unpacked rootfs, skopeo on every export
# format, and a real registry (docker-registry) on a push and a pull that
# keep the digest.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

busybox_recipe bb.yaml bb 1.0.0 oci
busybox_recipe multi.yaml multi 1.0.0 oci,tar

test_expect_success 'kiln builds a single-output and a multi-output image' '
    kiln build bb.yaml --quiet &&
    kiln build multi.yaml --quiet &&
    jq -e ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"bb:1.0.0\")" "$KILN_STORE/index.json" &&
    jq -e ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"multi:1.0.0\")" "$KILN_STORE/index.json"
'
digest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "bb:1.0.0") | .digest' "$KILN_STORE/index.json")

test_expect_success 'skopeo inspects every image in the store as NAME:VERSION' '
    skopeo inspect oci:$KILN_STORE:bb:1.0.0 >insp &&
    jq -e ".Os == \"linux\" and .Architecture == \"amd64\"" insp &&
    skopeo inspect --raw oci:$KILN_STORE:bb:1.0.0 | sha256sum | grep -q "${digest#sha256:}" &&
    skopeo inspect oci:$KILN_STORE:multi:1.0.0 >insp &&
    jq -e ".Os == \"linux\"" insp
'

test_expect_success 'umoci unpacks the image from the store' '
    before=$(store_digest) &&
    umoci unpack --image "$KILN_STORE:bb:1.0.0" bundle >/dev/null &&
    test "$(store_digest)" = "$before" &&
    test -x bundle/rootfs/bin/busybox &&
    test "$(cat bundle/rootfs/etc/motd)" = "hello from kiln" &&
    jq -e ".process.args == [\"/bin/sh\",\"-c\",\"cat /etc/motd\"]" bundle/config.json
'

test_expect_success 'umoci unpacks a multi-output image exported as its container image' '
    kiln export multi:1.0.0 --format docker-archive --output multi.docker.tar &&
    skopeo copy docker-archive:multi.docker.tar oci:multi-layout:multi >/dev/null &&
    umoci unpack --image multi-layout:multi bundle-multi >/dev/null &&
    test -x bundle-multi/rootfs/bin/busybox
'

test_expect_success 'the unpacked rootfs runs a command under chroot' '
    test "$(chroot bundle/rootfs /bin/sh -c "cat /etc/motd; echo ok")" = "hello from kiln
ok"
'

test_expect_success 'the flattened rootfs export equals what umoci unpacked' '
    kiln export bb:1.0.0 --format tar --output rootfs.tar &&
    mkdir rootfs && tar -C rootfs -xf rootfs.tar &&
    diff -r rootfs bundle/rootfs &&
    test "$(chroot rootfs /bin/cat /etc/motd)" = "hello from kiln"
'

test_expect_success 'skopeo reads the docker-archive and oci-archive exports' '
    kiln export bb:1.0.0 --format docker-archive --output bb.docker.tar &&
    skopeo inspect docker-archive:bb.docker.tar >insp &&
    jq -e ".Os == \"linux\"" insp &&
    kiln export bb:1.0.0 --format oci-archive --output bb.oci.tar &&
    skopeo inspect --raw oci-archive:bb.oci.tar:bb:1.0.0 | sha256sum | grep -q "${digest#sha256:}" &&
    kiln export multi:1.0.0 --format oci-archive --output multi.oci.tar &&
    skopeo inspect oci-archive:multi.oci.tar:multi:1.0.0 >/dev/null
'

# Started here, not inside a test: its cleanup must be registered in this shell.
start_registry "$TEST_DIR/registry" || REGISTRY=registry-did-not-start

test_expect_success 'a registry takes the image and gives it back with the same digest' '
    skopeo copy --dest-tls-verify=false oci:$KILN_STORE:bb:1.0.0 docker://$REGISTRY/kiln/bb:1.0.0 >/dev/null &&
    remote=$(skopeo inspect --tls-verify=false docker://$REGISTRY/kiln/bb:1.0.0 | jq -r .Digest) &&
    test "$remote" = "$digest" &&
    skopeo copy --src-tls-verify=false docker://$REGISTRY/kiln/bb:1.0.0 oci:pulled:bb:1.0.0 >/dev/null &&
    test "$(jq -r ".manifests[0].digest" pulled/index.json)" = "$digest" &&
    umoci unpack --image pulled:bb:1.0.0 bundle-pulled >/dev/null &&
    diff -r bundle/rootfs bundle-pulled/rootfs
'

test_expect_success 'a registry takes the container image of a multi-output build' '
    child=$(jq -r ".manifests[] | select(.platform.os == \"linux\") | .digest" \
        "$KILN_STORE/blobs/sha256/$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"multi:1.0.0\") | .digest" "$KILN_STORE/index.json" | cut -d: -f2)") &&
    skopeo copy --dest-tls-verify=false oci:$KILN_STORE:multi:1.0.0 docker://$REGISTRY/kiln/multi:1.0.0 >/dev/null &&
    test "$(skopeo inspect --tls-verify=false docker://$REGISTRY/kiln/multi:1.0.0 | jq -r .Digest)" = "$child"
'

test_expect_success 'zstd layers export to the same rootfs and docker-archive as gzip ones' '
    kiln build bb.yaml --store "$TEST_DIR/zstd" --compression zstd --quiet &&
    kiln export bb:1.0.0 --store "$TEST_DIR/zstd" --format tar --output z.tar &&
    cmp z.tar rootfs.tar &&
    kiln export bb:1.0.0 --store "$TEST_DIR/zstd" --format docker-archive --output z.docker.tar &&
    skopeo inspect docker-archive:z.docker.tar | jq -c .Layers >zl &&
    skopeo inspect docker-archive:bb.docker.tar | jq -c .Layers >gl &&
    cmp zl gl
'

test_expect_success 'the busybox example builds and its rootfs runs under chroot' '
    kiln build "$KILN_SRC/recipes/examples/busybox.yaml" --context /bin --quiet &&
    skopeo inspect oci:$KILN_STORE:busybox:1.0.0 >insp &&
    jq -e ".Os == \"linux\"" insp &&
    kiln export busybox:1.0.0 --format tar --output busybox.tar &&
    mkdir busybox && tar -C busybox -xf busybox.tar &&
    test "$(chroot busybox /bin/sh -c "cat /etc/motd")" = "hello from kiln" &&
    chroot busybox /bin/id app | test_grep -q "uid=1000(app)"
'

test_done
