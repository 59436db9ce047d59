#!/bin/bash
# kiln check: valid recipes print their normalised form and exit 0; invalid
# ones exit 2 with FILE:LINE:COL; hostile YAML never crashes or hangs.
. "$(dirname "$0")/lib.sh"

# Runs kiln check under a time limit; exit status in $rc, never a signal.
check_rc() {
    rc=0
    timeout 20 "$KILN_BIN" check "$@" >out 2>err || rc=$?
    if [ "$rc" -ge 124 ]; then
        echo "kiln check $* died or hung (exit $rc)" >&2
        cat err >&2
        return 1
    fi
}

test_expect_success 'every example recipe is valid' '
    for f in "$KILN_SRC"/recipes/examples/*.yaml; do
        kiln check "$f" >out 2>err || { cat err >&2; exit 1; }
        test_grep -q "^name: " out
    done
'

test_expect_success 'the busybox example prints its normalised form' '
    kiln check "$KILN_SRC/recipes/examples/busybox.yaml" >out &&
    test_grep "^# .*busybox.yaml: valid$" out &&
    test_grep "^version: 1.0.0$" out &&
    test_grep "^  kind: scratch$" out &&
    test_grep "^  mode: \"0755\"$" out &&
    test_grep "^- type: tar$" out
'

test_expect_success 'kiln check --json prints the normalised recipe with defaults' '
    kiln check --json "$KILN_SRC/recipes/examples/busybox.yaml" >out &&
    jq -e ".name == \"busybox\" and .version == \"1.0.0\" and .base.kind == \"scratch\"" out &&
    jq -e ".files[0] == {\"dest\":\"/bin/busybox\",\"src\":\"/bin/busybox\",\"mode\":\"0755\",\"owner\":\"root\"}" out &&
    jq -e "[.files[] | select(.dest == \"/bin/sh\")][0].link == \"busybox\"" out &&
    jq -e "[.outputs[].type] == [\"oci\", \"tar\"]" out &&
    jq -e ".sysprep == true and .boot_test.marker == \"login:\" and .needs_guest == false" out &&
    jq -e ".sha256 | test(\"^[0-9a-f]{64}$\")" out &&
    test "$(jq -r .sha256 out)" = "$(sha256sum <"$KILN_SRC/recipes/examples/busybox.yaml" | cut -d" " -f1)"
'

test_expect_success 'several recipes give a JSON array, in order' '
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\n" >a.yaml &&
    printf "name: b\nversion: 0.2.0\nbase: {scratch: true}\noutputs: [tar]\n" >b.yaml &&
    kiln check --json a.yaml b.yaml >out &&
    jq -e "length == 2 and .[0].name == \"a\" and .[1].outputs == [{\"type\":\"tar\"}]" out
'

test_expect_success 'relative paths resolve against the recipe folder, not the working directory' '
    mkdir -p proj/files &&
    echo hello >proj/files/motd &&
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\nfiles: [{src: files/motd, dest: /etc/motd}]\n" >proj/r.yaml &&
    kiln check --json proj/r.yaml >out &&
    test "$(jq -r ".files[0].src" out)" = "$TEST_DIR/proj/files/motd"
'

test_expect_success 'a misspelt key exits 2 with file:line:col and a suggestion' '
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\npakages: [curl]\n" >typo.yaml &&
    test_expect_code 2 kiln check typo.yaml &&
    test_grep "^kiln: typo.yaml:4:1: unknown key .pakages. (did you mean .packages.?)$" err &&
    test ! -s out
'

test_expect_success 'one invalid recipe among several fails the check and prints nothing' '
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\n" >ok.yaml &&
    printf "name: a\nversion: 1.0\nbase: {scratch: true}\n" >bad.yaml &&
    test_expect_code 2 kiln check --json ok.yaml bad.yaml &&
    test_grep "^kiln: bad.yaml:2:10: version .1.0. is not a semantic version" err &&
    test ! -s out
'

test_expect_success 'a tarball that does not match its declared sha256 exits 2 naming the path' '
    echo data >rootfs.tar &&
    printf "name: a\nversion: 0.1.0\nbase:\n  tarball:\n    path: rootfs.tar\n    sha256: %s\n" \
        "$(printf 0%.0s $(seq 64))" >tar.yaml &&
    test_expect_code 2 kiln check tar.yaml &&
    test_grep "^kiln: tar.yaml:4:3: base tarball .$TEST_DIR/rootfs.tar. has sha256 $(sha256sum <rootfs.tar | cut -d" " -f1), the recipe declares 0000" err &&
    sed -i "s/sha256: .*/sha256: $(sha256sum <rootfs.tar | cut -d" " -f1)/" tar.yaml &&
    kiln check tar.yaml >out
'

test_expect_success 'a missing file source exits 2 naming it' '
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\nfiles:\n  - {src: nosuch, dest: /x}\n" >src.yaml &&
    test_expect_code 2 kiln check src.yaml &&
    test_grep "^kiln: src.yaml:5:5: files\[0\].src .$TEST_DIR/nosuch. cannot be read" err
'

test_expect_success 'a missing recipe exits 2' '
    test_expect_code 2 kiln check nosuch.yaml &&
    test_grep "^kiln: recipe .nosuch.yaml. does not exist$" err
'

test_expect_success 'kiln check without a recipe is a usage error' '
    test_expect_code 2 kiln check &&
    test_grep "check needs at least one recipe" err &&
    test_expect_code 2 kiln check --bogus x.yaml
'

# Hostile inputs: each must exit 2 with a positioned message, never crash or hang.
hostile() {
    _name=$1
    _want=$2
    check_rc "$_name" || return 1
    if [ "$rc" != 2 ]; then
        echo "expected exit 2 from $_name, got $rc" >&2
        cat err >&2
        return 1
    fi
    test_grep -- "^kiln: $_name:$_want" err
}

test_expect_success 'billion laughs is refused at the first anchor' '
    printf "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n" >laughs.yaml &&
    hostile laughs.yaml "1:4: anchors and aliases are not supported"
'

test_expect_success 'deep nesting is refused' '
    { printf "labels: "; head -c 100000 /dev/zero | tr "\\0" "["; } >deep.yaml &&
    hostile deep.yaml "1:40: recipe is nested deeper than 32 levels"
'

test_expect_success 'a second document, a custom tag, a NUL and bad UTF-8 are refused' '
    printf "name: a\n---\nname: b\n" >docs.yaml &&
    hostile docs.yaml "2:1: a recipe is one YAML document" &&
    printf "name: !!python/object:os.system ls\n" >tag.yaml &&
    hostile tag.yaml "1:7: tag .!!python/object:os.system. is not supported" &&
    printf "name: a\000b\n" >nul.yaml &&
    hostile nul.yaml "1:8: recipe contains a NUL byte" &&
    printf "name: a\nversion: \xc3\x28\n" >utf8.yaml &&
    hostile utf8.yaml "2:11: invalid YAML: invalid trailing UTF-8 octet"
'

test_expect_success 'a recipe over 1 MiB is refused without parsing it' '
    head -c 1048577 /dev/zero | tr "\\0" "#" >big.yaml &&
    check_rc big.yaml && test "$rc" = 2 &&
    test_grep "^kiln: big.yaml: recipe is larger than 1048576 bytes$" err
'

test_expect_success 'a quarter million nodes are refused' '
    { printf "packages: ["; head -c 250000 /dev/zero | sed "s/\\x0/a,/g"; printf "]\n"; } >nodes.yaml &&
    hostile nodes.yaml "1:" && test_grep "more than 100000 nodes" err
'

test_expect_success 'modes without a leading zero and .. in dest are refused with hints' '
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\nfiles:\n  - content: x\n    dest: /a\n    mode: 755\n" >mode.yaml &&
    hostile mode.yaml "7:11: .files\[0\].mode.: mode 755 needs a leading 0 (write 0755" &&
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\nfiles:\n  - content: x\n    dest: /etc/../../x\n" >dots.yaml &&
    hostile dots.yaml "6:11: .files\[0\].dest.: ./etc/../../x. has a .... component"
'

test_expect_success 'every fuzz seed exits 0 or 2, never crashes or hangs' '
    for f in "$KILN_SRC"/tests/fuzz/corpus/recipe/*; do
        check_rc "$f" || exit 1
        case $rc in 0|2) ;; *) echo "$f: exit $rc" >&2; cat err >&2; exit 1 ;; esac
        if [ "$rc" = 2 ]; then test_grep -q "^kiln: " err || exit 1; fi
    done
'

test_done
