#!/bin/bash
# File names are bytes.  A tarball base written as GNU tar and mmdebstrap
# write one (pax "path" records, no hdrcharset) with a name in UTF-8 NFC, the
# same name in NFD (another file), a name that is not UTF-8 and a symlink to
# it builds; the image's layer, the exported tar and umoci's rootfs have each
# name byte for byte (no locale conversion, no Unicode normalisation), and
# the file manifest, kiln diff and the SBOM list them.
. "$(dirname "$0")/lib.sh"

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

NFC=$(printf 'caf\303\251')
NFD=$(printf 'cafe\314\201')
BAD=$(printf 'bad\377')
NEW=$(printf 'new\376')

# base_tar DIR TAR [NAME]: a root with the three names, the link and NAME in dir/.
base_tar() {
    mkdir -p "$1/dir" &&
        echo nfc >"$1/$NFC" &&
        echo nfd >"$1/$NFD" &&
        echo "${3:-$BAD}" >"$1/dir/${3:-$BAD}" &&
        ln -s "dir/${3:-$BAD}" "$1/link" &&
        LC_ALL=C.UTF-8 tar --format=pax --sort=name --numeric-owner -C "$1" -cf "$2" .
}
base_tar root base.tar
base_tar root2 base2.tar "$NEW"
printf 'name: names\nversion: 1.0.0\nbase:\n  tarball:\n    path: base.tar\noutputs: [oci]\n' >a.yaml
printf 'name: names\nversion: 1.1.0\nbase:\n  tarball:\n    path: base2.tar\noutputs: [oci]\n' >b.yaml

test_expect_success 'the base has pax path records in UTF-8 and raw bytes, as GNU tar writes them' '
    LC_ALL=C grep -aq "path=./$NFD" base.tar &&
    LC_ALL=C grep -aq "path=./dir/$BAD" base.tar &&
    ! grep -aq hdrcharset base.tar
'

test_expect_success 'an image builds from it' '
    kiln build a.yaml >out 2>err &&
    test_grep "^names:1.0.0@sha256:" out &&
    kiln build b.yaml >out 2>err &&
    test_grep "^names:1.1.0@sha256:" out
'

test_expect_success 'the layer and the exported tar have every name and the link target byte for byte' '
    m=$(blob "$(manifest_of names:1.0.0)") &&
    tar --quoting-style=literal -tvzf "$(blob "$(jq -r ".layers[0].digest" "$m")")" >layer 2>tar-err &&
    kiln export names:1.0.0 --format tar --output flat.tar &&
    tar --quoting-style=literal -tvf flat.tar >flat 2>>tar-err &&
    for l in layer flat; do
        LC_ALL=C grep -q " $NFC\$" $l &&
        LC_ALL=C grep -q " $NFD\$" $l &&
        LC_ALL=C grep -q " dir/$BAD\$" $l &&
        LC_ALL=C grep -q " link -> dir/$BAD\$" $l || return 1
    done
'

test_expect_success 'umoci unpacks the image with each name and content' '
    umoci unpack --image "$KILN_STORE:names:1.0.0" bundle >/dev/null &&
    test "$(cat "bundle/rootfs/$NFC")" = nfc &&
    test "$(cat "bundle/rootfs/$NFD")" = nfd &&
    test "$(cat "bundle/rootfs/dir/$BAD")" = "$BAD" &&
    test "$(readlink bundle/rootfs/link)" = "dir/$BAD" &&
    test "$(cat bundle/rootfs/link)" = "$BAD"
'

test_expect_success 'the file manifest lists UTF-8 names as they are, others as text and their bytes' '
    image_paths names:1.0.0 >paths &&
    LC_ALL=C grep -qx "/$NFC" paths &&
    LC_ALL=C grep -qx "/$NFD" paths &&
    files=$(blob "$(jq -r .filesDigest inspect.json)") &&
    jq -e ".files[] | select(.pathHex == \"2f6469722f626164ff\") | .path == \"/dir/bad\\ufffd\"" "$files" &&
    jq -e ".files[] | select(.path == \"/link\") | .targetHex == \"6469722f626164ff\"" "$files" &&
    test "$(jq "[.files[] | select(has(\"pathHex\"))] | length" "$files")" = 1
'

test_expect_success 'kiln diff names the exact bytes that were added and removed' '
    kiln diff names:1.0.0 names:1.1.0 >out &&
    printf "~ /link (target)\n- /dir/%s\n+ /dir/%s\n" "$BAD" "$NEW" | LC_ALL=C sort >want &&
    LC_ALL=C sort out >got &&
    cmp want got &&
    kiln diff names:1.0.0 names:1.1.0 --json >d.json &&
    jq -e ".added == [\"/dir/new\\ufffd\"] and .removed == [\"/dir/bad\\ufffd\"]" d.json &&
    jq -e ".changed == [{\"path\":\"/link\",\"fields\":[\"target\"]}]" d.json
'

test_expect_success 'the SBOMs list every file, a name that is not UTF-8 with its bytes' '
    kiln sbom names:1.0.0 >spdx.json &&
    jq -e "[.files[].fileName] | index(\"./$NFC\") and index(\"./$NFD\")" spdx.json &&
    jq -e ".files[] | select(.fileName == \"./dir/bad\\ufffd\") | .comment | endswith(\": 2f6469722f626164ff\")" spdx.json &&
    kiln sbom names:1.0.0 --format cyclonedx >cdx.json &&
    jq -e "[.components[] | select(.type == \"file\") | .\"bom-ref\"] | index(\"file:/$NFD\") and index(\"file-hex:2f6469722f626164ff\")" cdx.json
'

test_done
