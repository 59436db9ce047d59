#!/bin/bash
# kiln export checks every blob it copies against its digest: a corrupt
# store exits 3 naming the blob, a missing blob exits 1.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

mkdir -p l1/etc && echo one >l1/etc/one
digest=$(fixture_image "$KILN_STORE" app 1.0.0 "" l1)
manifest="$KILN_STORE/blobs/sha256/${digest#sha256:}"
layer=$(jq -r ".layers[0].digest" "$manifest")
config=$(jq -r ".config.digest" "$manifest")
lpath="$KILN_STORE/blobs/sha256/${layer#sha256:}"
cp "$lpath" layer.saved

test_expect_success 'a corrupt layer fails every format with exit 3 naming the blob' '
    printf x | dd of="$lpath" bs=1 seek=30 conv=notrunc 2>/dev/null &&
    for f in oci oci-archive docker-archive tar; do
        test_expect_code 3 kiln export app:1.0.0 --format $f --output out-$f || exit 1
        test_grep "blob .$layer. is corrupt" err || exit 1
    done
'
cp layer.saved "$lpath"

test_expect_success 'a layer that decompresses to something else than its diff_id fails docker-archive' '
    gzip -dc "$lpath" >plain.tar && echo extra >>plain.tar && gzip -n -c plain.tar >other.gz &&
    h=$(sha256sum other.gz | cut -d" " -f1) && cp other.gz "$KILN_STORE/blobs/sha256/$h" &&
    sed "s/${layer#sha256:}/$h/" "$manifest" >m2 &&
    sed -i "s/\"size\":$(stat -c %s "$lpath")}/\"size\":$(stat -c %s other.gz)}/" m2 &&
    m2=$(sha256sum m2 | cut -d" " -f1) && cp m2 "$KILN_STORE/blobs/sha256/$m2" &&
    fixture_index_add "$KILN_STORE" "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$m2\",\"size\":$(stat -c %s m2),\"annotations\":{\"org.opencontainers.image.ref.name\":\"app:2.0.0\",\"dev.kiln.name\":\"app\",\"dev.kiln.version\":\"2.0.0\"}}" &&
    test_expect_code 3 kiln export app:2.0.0 --format docker-archive --output bad.tar &&
    test_grep "diff_id" err
'
cp layer.saved "$lpath"

test_expect_success 'a missing config exits 1 naming it' '
    mv "$KILN_STORE/blobs/sha256/${config#sha256:}" config.saved &&
    test_expect_code 1 kiln export app:1.0.0 --format oci --output out &&
    test_grep "${config#sha256:}" err &&
    mv config.saved "$KILN_STORE/blobs/sha256/${config#sha256:}"
'

test_expect_success 'a missing image exits 1' '
    test_expect_code 1 kiln export app:9.9.9 --format oci --output out &&
    test_grep "app:9.9.9" err
'

test_done
