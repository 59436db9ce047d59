#!/bin/bash
# A build with several outputs is an OCI index under NAME:VERSION (skopeo picks
# the linux/amd64 image from it).  umoci cannot pick a platform out of an index,
# so the store also names the container image alone as NAME:VERSION.oci (and
# NAME:CHANNEL.oci), kept in step through promote, force and rm, and exports
# carry the same names.
. "$(dirname "$0")/lib.sh"

mkdir -p root/bin root/etc && cp /bin/busybox root/bin/busybox && ln -s busybox root/bin/sh &&
    echo 'root:x:0:0:root:/root:/bin/sh' >root/etc/passwd && tar -C root -cf base.tar .
cat >r.yaml <<'YAML'
name: multi
version: 1.0.0
base:
  tarball:
    path: base.tar
files:
  - content: "one\n"
    dest: /etc/marker
outputs: [oci, tar]
YAML

refs() { jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"] // empty' "$KILN_STORE/index.json" | sort; }

test_expect_success 'NAME:VERSION is an index that skopeo reads as the linux/amd64 image' '
    kiln build r.yaml >out &&
    jq -e ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"multi:1.0.0\") | .mediaType == \"application/vnd.oci.image.index.v1+json\"" "$KILN_STORE/index.json" &&
    skopeo inspect "oci:$KILN_STORE:multi:1.0.0" >inspect.json &&
    jq -e ".Architecture == \"amd64\"" inspect.json
'

test_expect_success 'umoci unpacks NAME:VERSION.oci and the rootfs runs under chroot' '
    umoci unpack --image "$KILN_STORE:multi:1.0.0.oci" bundle >/dev/null &&
    test "$(chroot bundle/rootfs /bin/busybox cat /etc/marker)" = one
'

test_expect_success 'the .oci name is the index'"'"'s container manifest' '
    idx=$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"multi:1.0.0\") | .digest" "$KILN_STORE/index.json") &&
    want=$(jq -r ".manifests[] | select(.platform.architecture == \"amd64\" and (has(\"artifactType\") | not)) | .digest" "$KILN_STORE/blobs/sha256/${idx#sha256:}") &&
    got=$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"multi:1.0.0.oci\") | .digest" "$KILN_STORE/index.json") &&
    test -n "$want" && test "$want" = "$got"
'

test_expect_success 'kiln list shows versions only, not the .oci names' '
    kiln list --json >list.json &&
    test "$(jq "[.. | objects | select(has(\"version\")) | .version] | unique | length" list.json)" = 1
'

test_expect_success 'promote adds NAME:CHANNEL.oci; a forced rebuild moves both names' '
    kiln promote multi:1.0.0 --channel stable >/dev/null &&
    refs >refs1 &&
    printf "%s\n" multi:1.0.0 multi:1.0.0.oci multi:stable multi:stable.oci >want &&
    cmp want refs1 &&
    old=$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"multi:stable.oci\") | .digest" "$KILN_STORE/index.json") &&
    sed -i "s/one/two/" r.yaml &&
    kiln build r.yaml --force >/dev/null &&
    new=$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"multi:stable.oci\") | .digest" "$KILN_STORE/index.json") &&
    test "$old" != "$new" &&
    rm -rf bundle2 && umoci unpack --image "$KILN_STORE:multi:stable.oci" bundle2 >/dev/null &&
    test "$(cat bundle2/rootfs/etc/marker)" = two
'

test_expect_success 'an exported layout carries the .oci names too' '
    kiln export multi:stable --format oci --output layout >/dev/null &&
    jq -r ".manifests[].annotations[\"org.opencontainers.image.ref.name\"] // empty" layout/index.json | sort >lrefs &&
    test_grep -x "multi:stable.oci" lrefs &&
    umoci unpack --image layout:multi:1.0.0.oci bundle3 >/dev/null &&
    test "$(cat bundle3/rootfs/etc/marker)" = two
'

test_expect_success 'rm removes the .oci names with the version' '
    kiln rm multi:1.0.0 --force >/dev/null &&
    test -z "$(refs)"
'

test_expect_success 'a single-output build gets no extra name' '
    sed -i "s/outputs: \[oci, tar\]/outputs: [oci]/" r.yaml &&
    kiln build r.yaml >/dev/null &&
    test "$(refs)" = "multi:1.0.0"
'

test_done
