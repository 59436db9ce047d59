#!/bin/bash
# Exporting the same image twice, or from two stores, writes the same bytes:
# tar entries in a fixed order with fixed owners and times.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

mkdir -p l1/etc l1/bin l2/etc
echo one >l1/etc/one
cp /bin/busybox l1/bin/
echo two >l2/etc/two
touch l2/etc/.wh.one
fixture_image "$KILN_STORE" app 1.0.0 "" l1 l2 >/dev/null
fixture_image "$TEST_DIR/other" app 1.0.0 "" l1 l2 >/dev/null
# an unrelated image and a referrer in the other store do not change the export
fixture_image "$TEST_DIR/other" noise 2.0.0 "" l2 >/dev/null

test_expect_success 'two exports of each format are byte-identical' '
    for f in tar oci-archive docker-archive; do
        kiln export app:1.0.0 --format $f --output 1.$f &&
        sleep 1 &&
        kiln export app:1.0.0 --format $f --output 2.$f &&
        cmp 1.$f 2.$f || exit 1
    done
'

test_expect_success 'the same image in another store exports to the same bytes' '
    for f in tar oci-archive docker-archive; do
        kiln export app:1.0.0 --store "$TEST_DIR/other" --format $f --output o.$f &&
        cmp 1.$f o.$f || exit 1
    done
'

test_expect_success 'the oci layout export is the same tree' '
    kiln export app:1.0.0 --format oci --output 1.oci &&
    kiln export app:1.0.0 --store "$TEST_DIR/other" --format oci --output 2.oci &&
    diff -r 1.oci 2.oci
'

test_expect_success 'the flattened tar keeps owners and times from the layers' '
    TZ=UTC tar tvf 1.tar --numeric-owner | awk "{print \$2, \$4, \$5}" | sort -u >meta &&
    test "$(cat meta)" = "0/0 2023-11-14 22:13"
'

test_done
