#!/bin/bash
# kiln verify REF --rebuild RECIPE: an auditor rebuilds an image from what
# its provenance recorded, in a scratch store, and compares bit for bit: the
# container image and the disk (laid out on the host: parted, mke2fs -d,
# the recipe's partition GUIDs, file system UUID and hash seed, the build's
# time in every inode).  Identical: exit 0, and --sign attaches a signed
# in-toto statement that openssl verifies.  A changed recipe: exit 3 naming
# the files and the disk structures that differ.  A rebuild that cannot run:
# exit 1; the store is left as it was in every case but --sign.
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

busybox_root root sh ls &&
echo data >root/etc/data &&
tar -C root --owner=0 --group=0 -cf base.tar . || exit 1

cat >r.yaml <<-YAML
name: audited
version: 1.0.0
base:
  tarball: {path: base.tar}
files:
  - content: "hello\n"
    dest: /etc/motd
outputs:
  - oci
  - qcow2: {size: 128M}
YAML
sed "s/hello/changed/" r.yaml >changed.yaml

test_expect_success 'the image builds, with provenance' '
    kiln build r.yaml >out &&
    test_grep "^audited:1.0.0@sha256:" out &&
    kiln keygen --output k >/dev/null
'

test_expect_success 'a rebuild from the recipe is identical: container image and disk, bit for bit' '
    before=$(store_digest) &&
    mkdir scratch &&
    TMPDIR="$TEST_DIR/scratch" kiln verify audited:1.0.0 --rebuild r.yaml >out 2>err &&
    test_grep "^identical audited:1.0.0 sha256:" out &&
    test_grep "^  oci sha256:[0-9a-f]* identical" out &&
    test_grep "^  qcow2 sha256:[0-9a-f]* identical" out &&
    test "$(store_digest)" = "$before" &&
    test "$(ls scratch)" = ""
'

test_expect_success '--sign attaches a signed rebuild statement about exactly this image' '
    kiln verify audited:1.0.0 --rebuild r.yaml --sign k.key --json >rep.json &&
    jq -e ".identical and .recorded == .rebuilt and .sourceDateEpoch == $SOURCE_DATE_EPOCH" rep.json &&
    jq -e ".recipe.recorded == .recipe.rebuilt and .inputs == []" rep.json &&
    jq -e "[.outputs[] | select(.identical and .recorded == .rebuilt) | .type] == [\"oci\", \"qcow2\"]" rep.json &&
    jq -e ".signedBy | startswith(\"sha256:\")" rep.json &&
    D=$(jq -r .recorded rep.json) &&
    A=$(jq -r --arg d "$D" ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.rebuild.v1\" and .annotations[\"dev.kiln.subject\"] == \$d) | .digest" "$KILN_STORE/index.json") &&
    test -n "$A" &&
    M=$(blob "$A") &&
    S=$(blob "$(jq -r ".layers[0].digest" "$M")") &&
    openssl dgst -sha256 -verify k.pub -signature "$(blob "$(jq -r ".layers[1].digest" "$M")")" "$S" &&
    jq -e --arg h "${D#sha256:}" ".subject[0].digest.sha256 == \$h and .predicateType == \"https://kiln.dev/rebuild/v1\"" "$S" &&
    jq -e ".predicate.result == \"identical\" and (.predicate.outputs | length) == 2" "$S" &&
    kiln sign audited:1.0.0 --key k.key >/dev/null &&
    kiln verify audited:1.0.0 --key k.pub >/dev/null
'

test_expect_success 'a changed recipe: exit 3, naming the file and the disk structures that differ' '
    before=$(store_digest) &&
    test_expect_code 3 kiln verify audited:1.0.0 --rebuild changed.yaml &&
    test_grep "^DIFFERENT audited:1.0.0: recorded sha256:" out &&
    test_grep "^  recipe: recorded sha256:" out &&
    test_grep "^  oci differs" out &&
    test_grep "^  qcow2 differs" out &&
    test_grep "^    partition table: partition 2 uuid" out &&
    test_grep "^    partition 2 (root): ext4 superblock fields differ: .*Filesystem UUID" out &&
    test_grep "^    ~ /etc/motd (content)" out &&
    test_grep "the rebuild of .audited:1.0.0. differs" err &&
    test "$(store_digest)" = "$before"
'

test_expect_success 'a rebuild that cannot run fails with exit 1, a bad request with exit 2' '
    mv base.tar base.tar.good &&
    echo "not a tarball" >base.tar &&
    test_expect_code 1 kiln verify audited:1.0.0 --rebuild r.yaml &&
    test_grep "the rebuild failed" err &&
    mv base.tar.good base.tar &&
    test_expect_code 2 kiln verify audited:1.0.0 --sign k.key &&
    test_expect_code 2 kiln verify audited:1.0.0 --rebuild r.yaml --key k.pub &&
    test_expect_code 2 kiln verify audited:1.0.0 --rebuild missing.yaml
'

test_done
