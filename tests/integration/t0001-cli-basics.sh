#!/bin/bash
# The command line itself: help, version, exit codes for usage errors.
. "$(dirname "$0")/lib.sh"

test_expect_success 'kiln --version prints the version' '
    kiln --version >out &&
    test_grep -E "^kiln [0-9]+\.[0-9]+\.[0-9]+$" out
'

test_expect_success 'kiln version --json is machine-readable' '
    kiln version --json >out &&
    jq -e ".version | test(\"^[0-9]+\\\\.\")" out
'

test_expect_success 'kiln help lists every command' '
    kiln help >out &&
    for c in build check list inspect promote rm gc diff export keygen sign verify boot-test; do
        test_grep -q "^  $c " out || exit 1
    done
'

test_expect_success 'kiln help COMMAND shows its usage' '
    kiln help build >out &&
    test_grep "usage: kiln build RECIPE" out
'

test_expect_success 'an unknown command exits 2 and says so' '
    test_expect_code 2 kiln pakage &&
    test_grep "kiln: unknown command .pakage." err
'

test_expect_success 'kiln with no arguments exits 2 with usage on stderr' '
    test_expect_code 2 kiln &&
    test_grep "usage: kiln" err
'

test_expect_success 'help for an unknown command exits 2' '
    test_expect_code 2 kiln help nosuch
'

test_expect_success 'the man page documents every command and the exit codes' '
    sed "s/\\\\-/-/g" "$KILN_SRC/kiln.1" >man.txt &&
    for c in build check list inspect promote rm gc diff export keygen sign verify boot-test; do
        grep -q "^\\.SS \"kiln $c" man.txt || { echo "kiln.1 lacks $c" >&2; exit 1; }
    done &&
    grep -qi "verification failed" "$KILN_SRC/kiln.1"
'

test_done
