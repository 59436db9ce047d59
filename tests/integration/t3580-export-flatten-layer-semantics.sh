#!/bin/bash
# The flattened rootfs applies layers the way the OCI image spec says, and
# agrees with umoci on every case.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

# lower layer
mkdir -p lo/a lo/w/sub lo/o lo/keep
echo x >lo/a/x
echo f >lo/w/sub/f
echo old >lo/o/old
echo file >lo/f
echo k >lo/keep/k
ln -s keep lo/link
# upper layer
mkdir -p up/o up/f up/keep
echo "a is a file now" >up/a
touch up/.wh.w
touch up/o/.wh..wh..opq
echo new >up/o/new
echo child >up/f/child
echo k2 >up/keep/k2
rm -f up/link; touch up/.wh.link
ln -s keep up/link2
fixture_image "$KILN_STORE" sem 1.0.0 "" lo up >/dev/null

test_expect_success 'flatten' '
    kiln export sem:1.0.0 --format tar --output flat.tar &&
    mkdir flat && tar -C flat -xf flat.tar
'

test_expect_success 'a directory replaced by a file loses its children' '
    test -f flat/a && test "$(cat flat/a)" = "a is a file now" && ! tar tf flat.tar | grep -q "^a/x"
'

test_expect_success 'a whiteout of a directory removes the whole subtree' '
    test ! -e flat/w && ! tar tf flat.tar | grep -q "^w/"
'

test_expect_success 'an opaque directory hides the lower entries, keeps its own' '
    test "$(ls flat/o)" = new
'

test_expect_success 'a file replaced by a directory becomes the directory' '
    test -d flat/f && test "$(cat flat/f/child)" = child
'

test_expect_success 'directories present in both layers merge' '
    test "$(cat flat/keep/k)" = k && test "$(cat flat/keep/k2)" = k2
'

test_expect_success 'a whited-out symlink is gone, a new one is there' '
    test ! -e flat/link && ! test -L flat/link && test "$(readlink flat/link2)" = keep
'

test_expect_success 'each path appears once and no whiteout file is left' '
    tar tf flat.tar | sed "s,/\$,," | sort | uniq -d >dups &&
    test ! -s dups &&
    ! tar tf flat.tar | grep -q "\.wh\."
'

test_expect_success 'umoci unpacks the same tree' '
    kiln export sem:1.0.0 --format oci --output sem.oci &&
    umoci unpack --image sem.oci:sem:1.0.0 bundle >/dev/null &&
    diff -r --no-dereference flat bundle/rootfs
'

test_done
