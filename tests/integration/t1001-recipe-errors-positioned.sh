#!/bin/bash
# An invalid recipe exits 2 with kiln: FILE:LINE:COL: message, and nothing on stdout.
. "$(dirname "$0")/lib.sh"

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

test_expect_success 'a missing file source exits 2 naming it' '
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\nfiles:\n  - {src: nosuch, dest: /x}\n" >src.yaml &&
    test_expect_code 2 kiln check src.yaml &&
    test_grep "^kiln: src.yaml:5:11: files\[0\].src .$TEST_DIR/nosuch. cannot be read" err
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

test_done
