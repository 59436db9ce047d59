#!/bin/bash
# kiln export writes every format so that skopeo, umoci and tar accept it,
# with the image's whole closure and its referrers.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

mkdir -p l1/bin l1/etc/app l1/opq l2/etc l2/opq
cp /bin/busybox l1/bin/busybox
ln -s busybox l1/bin/sh
echo hello >l1/etc/hello
echo conf >l1/etc/app/conf
echo old >l1/opq/a
echo gone >l1/etc/gone
touch l2/etc/.wh.gone l2/opq/.wh..wh..opq
echo new >l2/opq/b
echo hello2 >l2/etc/hello
digest=$(fixture_image "$KILN_STORE" bb 1.0.0 "" l1 l2)
sig=$(fixture_referrer "$KILN_STORE" "$digest")

test_expect_success 'oci: a layout skopeo reads under NAME:VERSION' '
    kiln export bb:1.0.0 --format oci --output out-oci >out &&
    test_grep "exported bb:1.0.0 ($digest) as oci to out-oci" out &&
    skopeo inspect --raw oci:out-oci:bb:1.0.0 | sha256sum | grep -q "${digest#sha256:}"
'

test_expect_success 'oci: the layout holds the referrers of the image' '
    jq -e --arg s "$sig" --arg d "$digest" \
        "[.manifests[] | select(.digest == \$s and .annotations[\"dev.kiln.subject\"] == \$d)] | length == 1" \
        out-oci/index.json &&
    test -f out-oci/blobs/sha256/${sig#sha256:}
'

test_expect_success 'oci: every blob in the layout is intact and named by its hash' '
    for b in out-oci/blobs/sha256/*; do
        echo "$(basename $b)  $b" || return 1
    done >sums &&
    test "$(wc -l <sums)" -ge 3 &&
    sha256sum -c --quiet sums
'

test_expect_success 'oci: umoci unpacks the layout' '
    umoci unpack --image out-oci:bb:1.0.0 bundle >/dev/null &&
    test -x bundle/rootfs/bin/busybox &&
    test "$(cat bundle/rootfs/etc/hello)" = hello2 &&
    test ! -e bundle/rootfs/etc/gone
'

test_expect_success 'oci: a channel ref exports the version and the channel name' '
    jq -c --argjson d "$(jq -c ".manifests[0] | .annotations[\"org.opencontainers.image.ref.name\"] = \"bb:stable\" | .annotations[\"dev.kiln.channel\"] = \"stable\"" "$KILN_STORE/index.json")" \
        ".manifests += [\$d]" "$KILN_STORE/index.json" >idx && mv idx "$KILN_STORE/index.json" &&
    kiln export bb:stable --format oci --output out-chan &&
    skopeo inspect oci:out-chan:bb:1.0.0 >/dev/null &&
    skopeo inspect oci:out-chan:bb:stable >/dev/null
'

test_expect_success 'oci-archive: skopeo reads the tar' '
    kiln export bb:1.0.0 --format oci-archive --output bb.oci.tar &&
    skopeo inspect --raw oci-archive:bb.oci.tar:bb:1.0.0 | sha256sum | grep -q "${digest#sha256:}"
'

test_expect_success 'oci-archive: entries are sorted, owned by root, with fixed times' '
    tar tf bb.oci.tar >names &&
    LC_ALL=C sort -c names &&
    TZ=UTC tar tvf bb.oci.tar --numeric-owner | awk "{print \$2, \$4, \$5}" | sort -u >meta &&
    test "$(cut -d" " -f1 meta | sort -u)" = 0/0 &&
    test "$(cut -d" " -f2- meta | sort -u)" = "2023-11-14 22:13"
'

test_expect_success 'docker-archive: skopeo reads it, with the tag and uncompressed layers' '
    kiln export bb:1.0.0 --format docker-archive --output bb.docker.tar &&
    skopeo inspect docker-archive:bb.docker.tar >insp &&
    skopeo inspect docker-archive:bb.docker.tar:bb:1.0.0 >/dev/null &&
    tar xOf bb.docker.tar manifest.json >dm.json &&
    jq -e ".[0].RepoTags == [\"bb:1.0.0\"]" dm.json &&
    jq -r ".[0].Layers[]" dm.json >layers &&
    test -s layers &&
    while read -r l; do
        h=$(tar xOf bb.docker.tar "$l" | sha256sum | cut -d" " -f1) &&
        test "$l" = "$h/layer.tar" || exit 1
    done <layers
'

test_expect_success 'tar: the flattened rootfs honours whiteouts and opaque directories' '
    kiln export bb:1.0.0 --format tar --output rootfs.tar &&
    mkdir rootfs && tar -C rootfs -xf rootfs.tar &&
    test "$(cat rootfs/etc/hello)" = hello2 &&
    test "$(cat rootfs/etc/app/conf)" = conf &&
    test ! -e rootfs/etc/gone &&
    test ! -e rootfs/opq/a &&
    test "$(cat rootfs/opq/b)" = new &&
    ! tar tf rootfs.tar | grep -q "\.wh\."
'

test_expect_success 'tar: the flattened rootfs runs a command under chroot' '
    test "$(chroot rootfs /bin/sh -c "echo ran in \$(/bin/busybox basename /bin/sh)")" = "ran in sh"
'

test_expect_success 'tar: the rootfs matches what umoci unpacked' '
    diff -r rootfs bundle/rootfs
'

test_expect_success 'export --json describes what was written' '
    kiln export bb --format tar --output j.tar --json >out &&
    jq -e --arg d "$digest" ".digest == \$d and .name == \"bb:1.0.0\" and .format == \"tar\" and .output == \"j.tar\"" out
'

test_done
