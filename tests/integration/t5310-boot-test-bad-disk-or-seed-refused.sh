#!/bin/bash
# kiln boot-test --disk and the NoCloud seed options refuse what they cannot
# boot before any guest starts, naming the problem, with exit 2: a disk
# without a format, of another format than the one given, that names a
# backing file or keeps its data in other files; a seed without user data.
# A disk named by a relative path is booted (qemu starts on a blank disk and
# the test times out after a second).  Fast: nothing boots, and a refused
# seed leaves no temporary files; a boot test stopped by a signal leaves no
# qemu and no temporary files either.
. "$(dirname "$0")/lib.sh"

qemu-img create -q -f qcow2 base.qcow2 16M
qemu-img create -q -f qcow2 -F qcow2 -b "$PWD/base.qcow2" over.qcow2
qemu-img create -q -f vmdk -o subformat=monolithicFlat flat.vmdk 16M
qemu-img convert -q -f qcow2 -O vmdk base.qcow2 sparse.vmdk
mkdir -p noseed seed
printf '#cloud-config\n' >seed/user-data

test_expect_success 'usage: --disk needs --format, --format needs --disk, formats are known' '
    test_expect_code 2 kiln boot-test --disk base.qcow2 &&
    test_grep "disk needs --format qcow2|raw|vmdk|vhdx|vhd" err &&
    test_expect_code 2 kiln boot-test some:1.0.0 --format vmdk &&
    test_grep "format is for --disk" err &&
    test_expect_code 2 kiln boot-test --disk base.qcow2 --format vdi &&
    test_grep "unknown disk format .vdi." err &&
    test_expect_code 2 kiln boot-test --disk base.qcow2 --format qcow2 extra:1.0.0 &&
    test_expect_code 2 kiln boot-test some:1.0.0 --meta-data seed/user-data &&
    test_grep "meta-data and --network-config need --user-data or --seed" err
'

test_expect_success 'a disk that is missing, or not the format given, is refused' '
    test_expect_code 2 kiln boot-test --disk nosuch.qcow2 --format qcow2 &&
    test_grep "disk .nosuch.qcow2.: No such file" err &&
    test_expect_code 2 kiln boot-test --disk base.qcow2 --format vmdk &&
    test_grep "disk .base.qcow2. is not a vmdk image" err &&
    test_expect_code 2 kiln boot-test --disk seed --format raw &&
    test_grep "is not a regular file" err
'

test_expect_success 'a disk that reads other files is refused: a backing file, a flat vmdk extent' '
    test_expect_code 2 kiln boot-test --disk over.qcow2 --format qcow2 &&
    test_grep "disk .over.qcow2. names a backing file" err &&
    test_expect_code 2 kiln boot-test --disk flat.vmdk --format vmdk &&
    test_grep "disk .flat.vmdk. keeps its data in another file" err
'

test_expect_success 'a seed without user data is refused before the boot' '
    test_expect_code 2 kiln boot-test --disk sparse.vmdk --format vmdk --seed noseed &&
    test_grep "seed directory .noseed. has no .user-data." err &&
    mkdir tmp &&
    test_expect_code 2 env TMPDIR="$PWD/tmp" "$KILN_BIN" boot-test --disk sparse.vmdk --format vmdk --user-data nosuch &&
    test_grep "seed user-data: cannot open .nosuch." err &&
    test -z "$(ls -A tmp)" &&
    test_expect_code 2 kiln boot-test --disk sparse.vmdk --format vmdk --seed seed/user-data &&
    test_grep "seed directory .seed/user-data. is not a directory" err
'

test_expect_success 'a disk named by a relative path is booted, not lost by its overlay' '
    test_expect_code 1 kiln boot-test --disk sparse.vmdk --format vmdk --timeout 1 &&
    test_grep "did not appear on the console within 1 seconds" err &&
    ! grep -q "qemu-img" err
'

test_expect_success 'a boot test stopped by a signal leaves no qemu and no temporary files' '
    mkdir -p tmp-stop &&
    { TMPDIR=$TEST_DIR/tmp-stop KILN_ACCEL=tcg "$KILN_BIN" boot-test --disk sparse.vmdk --format vmdk \
        --timeout 600 >stop.out 2>stop.err & } &&
    pid=$! &&
    i=0 &&
    until pgrep -f "qemu-system.*tmp-stop" >/dev/null; do
        i=$((i + 1)) &&
            if [ $i -gt 600 ]; then return 1; fi &&
            sleep 0.1 || return 1
    done &&
    kill -TERM $pid &&
    rc=0 &&
    { wait $pid || rc=$?; } &&
    test "$rc" = 143 &&
    test_grep "interrupted" stop.err &&
    sleep 1 &&
    ! pgrep -f "qemu-system.*tmp-stop" &&
    test -z "$(ls -A tmp-stop)"
'

test_done
