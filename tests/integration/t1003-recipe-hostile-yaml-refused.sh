#!/bin/bash
# Hostile YAML exits 2 with a positioned message; kiln never crashes or hangs.
. "$(dirname "$0")/lib.sh"

# Runs kiln check under a time limit; exit status in $rc, never a signal.
check_rc() {
    rc=0 &&
    { timeout 20 "$KILN_BIN" check "$@" >out 2>err || rc=$?; } &&
    if [ "$rc" -ge 124 ]; then
        echo "kiln check $* died or hung (exit $rc)" >&2 &&
        cat err >&2
        return 1
    fi
}

# Hostile inputs: each must exit 2 with a positioned message, never crash or hang.
hostile() {
    _name=$1 &&
    _want=$2 &&
    check_rc "$_name" &&
    if [ "$rc" != 2 ]; then
        echo "expected exit 2 from $_name, got $rc" >&2 &&
        cat err >&2
        return 1
    fi &&
    test_grep -- "^kiln: $_name:$_want" err
}

test_expect_success 'billion laughs is refused at the first anchor' '
    printf "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n" >laughs.yaml &&
    hostile laughs.yaml "1:4: anchors and aliases are not supported"
'

test_expect_success 'deep nesting is refused' '
    { printf "labels: " && head -c 100000 /dev/zero | tr "\\0" "["; } >deep.yaml &&
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
    { printf "packages: [" && head -c 250000 /dev/zero | sed "s/\\x0/a,/g" && printf "]\n"; } >nodes.yaml &&
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
        test -f "$f" &&
        check_rc "$f" &&
        case $rc in
        0 | 2) ;;
        *) echo "$f: exit $rc" >&2 && cat err >&2 && return 1 ;;
        esac &&
        if [ "$rc" = 2 ]; then test_grep -q "^kiln: " err; fi || return 1
    done
'

test_done
