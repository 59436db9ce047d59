#!/bin/bash
# Flattening refuses layer entries that leave the root, and reads odd but
# harmless names ("/etc/x", "./etc/x") as the paths they mean.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

mkdir -p d/etc && echo x >d/etc/x
tar -C d -P --transform 's,^etc,../etc,' -cf up.tar etc
tar -C d -P --transform 's,^etc/x,etc/../../x,' -cf mid.tar etc/x
tar -C d -P --transform 's,^etc,/etc,' -cf abs.tar etc
tar -C d -cf dot.tar ./etc
fixture_image "$KILN_STORE" up 1.0.0 "" up.tar >/dev/null
fixture_image "$KILN_STORE" mid 1.0.0 "" mid.tar >/dev/null
fixture_image "$KILN_STORE" abs 1.0.0 "" abs.tar dot.tar >/dev/null

test_expect_success 'an entry named ../etc fails the flattened export with exit 2' '
    test_expect_code 2 kiln export up:1.0.0 --format tar --output up.out &&
    test_grep "entry .\.\./etc/. escapes the root" err &&
    test ! -e up.out
'

test_expect_success 'an entry that climbs out through etc/../.. fails too' '
    test_expect_code 2 kiln export mid:1.0.0 --format tar --output mid.out &&
    test_grep "escapes the root" err
'

test_expect_success 'absolute and ./ names are the same paths; the later layer wins' '
    kiln export abs:1.0.0 --format tar --output abs.out &&
    tar tf abs.out >names &&
    test "$(grep -c "^etc/x$" names)" = 1 &&
    ! grep -q "^/" names
'

test_expect_success 'layout formats copy such layers unchanged (they are only data)' '
    kiln export up:1.0.0 --format oci --output up.oci &&
    kiln export up:1.0.0 --format docker-archive --output up.docker
'

test_done
