#!/bin/bash
# The harness cannot pass a failing step: small test scripts that use the real
# lib.sh run here, and their TAP shows that a failing step anywhere in a body
# (first, middle, inside a loop) makes the test `not ok`, that the chain lint
# refuses a body that would hide one before running it, that a skip prints
# `# SKIP` with its reason, and that a script with a failed test exits non-zero.
. "$(dirname "$0")/lib.sh"

# write_script NAME <TESTS: NAME.sh, the tests on stdin between the real
# lib.sh and test_done.
write_script() {
    { echo ". \"$TEST_LIB_DIR/lib.sh\"" && cat && echo test_done; } >"$1.sh"
}

# run_script NAME: runs NAME.sh; its TAP in NAME.out, its stderr in NAME.err,
# its exit status in NAME.rc. What its bodies run leaves marks in $MARKS.
run_script() {
    _rc=0 &&
    { env -u KILN_TEST_LINT_ONLY TMPDIR="$TEST_DIR/tmp" bash "$1.sh" >"$1.out" 2>"$1.err" || _rc=$?; } &&
    echo "$_rc" >"$1.rc"
}
mkdir -p tmp marks
export MARKS=$TEST_DIR/marks

write_script broken <<'EOF'
test_expect_success 'first line false, last line true' '
    false
    : >"$MARKS/broken"
    true
'
EOF

write_script middle <<'EOF'
test_expect_success 'a failing step in the middle of a chain' '
    true &&
    false &&
    : >"$MARKS/middle" &&
    true
'
EOF

write_script loop <<'EOF'
test_expect_success 'a failing step in a for loop, not in its last round' '
    for i in 1 2 3; do
        test $i != 2 &&
        : >"$MARKS/loop-$i" || return 1
    done &&
    true
'
test_expect_success 'a failing step in a while loop in a subshell' '
    (
        printf "a\nb\nc\n" >lines &&
        while read -r l; do
            test "$l" != b || exit 1
        done <lines
    ) &&
    true
'
test_expect_success 'a failing step in a loop inside a pipeline' '
    printf "a\nb\nc\n" | while read -r l; do
        test "$l" != b || return 1
    done &&
    true
'
EOF

write_script noreturn <<'EOF'
test_expect_success 'a loop body without || return 1' '
    for i in 1 2 3; do
        test $i != 2
    done
'
EOF

# Every way to break a chain the lint knows, one test each; and where it runs
# nothing of the body.
write_script lint <<'EOF'
test_expect_success 'a semicolon' '
    false; : >"$MARKS/lint-1"
'
test_expect_success 'a step sent to the background' '
    false & : >"$MARKS/lint-2"
'
test_expect_success 'a || after &&' '
    false && true || : >"$MARKS/lint-3"
'
test_expect_success 'a newline in a subshell' '
    (
        false
        : >"$MARKS/lint-4"
    )
'
test_expect_success 'a newline in a { } group' '
    {
        false
        : >"$MARKS/lint-5"
    }
'
test_expect_success 'a newline in an if branch' '
    if true; then
        false
        : >"$MARKS/lint-6"
    fi
'
test_expect_success 'a newline in a case arm' '
    case x in
    x) false
       : >"$MARKS/lint-7" ;;
    esac
'
test_expect_success 'a here-document that is not closed' '
    cat >doc <<-DOC &&
    text
    : >"$MARKS/lint-8"
'
test_expect_success 'a nested loop without || return 1' '
    for i in 1 2; do
        for j in 1 2; do
            test $j != 1 || return 1
        done
    done
'
EOF

write_script helper <<'EOF'
helper() {
    false
    true
}
test_expect_success 'a test that calls a broken helper' '
    helper
'
EOF

write_script pass <<'EOF'
test_expect_success 'a body that is one chain, with every construct' '
    echo one >one &&
    test_grep "^one$" one &&
    cat >doc <<-DOC &&
	a; b
	DOC
    test_grep -x "a; b" doc &&
    for i in 1 2 3; do
        echo "$i" >>nums || return 1
    done &&
    test "$(wc -l <nums)" = 3 &&
    ( cd / && test "$PWD" = / ) &&
    { false || echo recovered >r; } &&
    { sleep 0.1 & } &&
    wait $! &&
    if test -s r; then echo yes >y; else echo no >y; fi &&
    case $(cat y) in yes) : ;; *) false ;; esac &&
    test_expect_code 3 sh -c "echo oops >&2; exit 3" &&
    test_grep oops err &&
    : >"$MARKS/pass"
'
EOF

write_script skip <<'EOF'
test_skip 'needs a unicorn' 'no unicorn here'
test_expect_success 'runs' '
    true
'
EOF

write_script mixed <<'EOF'
test_expect_success 'passes' '
    true
'
test_expect_success 'fails' '
    false
'
test_expect_success 'passes again' '
    true
'
EOF

test_expect_success 'a broken chain is not ok, refused before it runs, and the script fails' '
    run_script broken &&
    test_grep -x "not ok 1 - first line false, last line true" broken.out &&
    test_grep -x "1..1" broken.out &&
    test_grep "^#   broken && chain: line 2: .false. is followed by a newline" broken.err &&
    test ! -e marks/broken &&
    test "$(cat broken.rc)" = 1
'

test_expect_success 'a failing step in the middle of a chain is not ok' '
    run_script middle &&
    test_grep -x "not ok 1 - a failing step in the middle of a chain" middle.out &&
    ! grep "broken && chain" middle.err &&
    test ! -e marks/middle &&
    test "$(cat middle.rc)" = 1
'

test_expect_success 'a failing step inside a loop is not ok, and stops the loop' '
    run_script loop &&
    test_grep -x "not ok 1 - a failing step in a for loop, not in its last round" loop.out &&
    test_grep -x "not ok 2 - a failing step in a while loop in a subshell" loop.out &&
    test_grep -x "not ok 3 - a failing step in a loop inside a pipeline" loop.out &&
    ! grep "broken && chain" loop.err &&
    test -e marks/loop-1 &&
    test ! -e marks/loop-3 &&
    test "$(cat loop.rc)" = 1
'

test_expect_success 'a loop body without || return 1 is caught by the lint' '
    run_script noreturn &&
    test_grep -x "not ok 1 - a loop body without || return 1" noreturn.out &&
    test_grep "^#   broken && chain: line 3: the loop body does not end in .|| return 1." noreturn.err &&
    test "$(cat noreturn.rc)" = 1
'

test_expect_success 'each way to break a chain is caught, and nothing of the body runs' '
    run_script lint &&
    for n in 1 2 3 4 5 6 7 8 9; do
        test_grep "^not ok $n - " lint.out &&
        test ! -e marks/lint-$n || return 1
    done &&
    ! grep "^ok" lint.out &&
    test "$(grep -c "^#   broken && chain: " lint.err)" -ge 9 &&
    test_grep "line 2: .false. is followed by a .;." lint.err &&
    test_grep "line 2: .false. is followed by a .&." lint.err &&
    test_grep "line 2: .||. after .&&." lint.err &&
    test_grep "in a subshell" lint.err &&
    test_grep "in a { } group" lint.err &&
    test_grep "in an if branch" lint.err &&
    test_grep "in a case arm" lint.err &&
    test_grep "here-document .DOC. is not terminated" lint.err &&
    test "$(cat lint.rc)" = 1
'

test_expect_success 'a helper function with a broken chain is caught too' '
    run_script helper &&
    test_grep -x "not ok 1 - the functions of helper.sh are && chains" helper.out &&
    test_grep "^#   broken && chain: line 3: .false. is followed by a newline, not &&, before .true. in a { } group" helper.err &&
    test_grep -x "1..2" helper.out &&
    test "$(cat helper.rc)" = 1
'

test_expect_success 'a correct body passes, and the script exits 0' '
    run_script pass &&
    test_grep -x "ok 1 - a body that is one chain, with every construct" pass.out &&
    test_grep -x "1..1" pass.out &&
    test -e marks/pass &&
    test "$(cat pass.rc)" = 0
'

test_expect_success 'a skip prints # SKIP with its reason' '
    run_script skip &&
    test_grep -x "ok 1 - needs a unicorn # SKIP no unicorn here" skip.out &&
    test_grep -x "ok 2 - runs" skip.out &&
    test_grep -x "1..2" skip.out &&
    test "$(cat skip.rc)" = 0
'

test_expect_success 'one failed test among passing ones fails the script' '
    run_script mixed &&
    test_grep -x "ok 1 - passes" mixed.out &&
    test_grep -x "not ok 2 - fails" mixed.out &&
    test_grep -x "ok 3 - passes again" mixed.out &&
    test_grep -x "1..3" mixed.out &&
    test_grep "^# kept " mixed.out &&
    test "$(cat mixed.rc)" = 1
'

test_expect_success 'KILN_TEST_LINT_ONLY lints the bodies without running them' '
    rm -f marks/pass &&
    KILN_TEST_LINT_ONLY=1 TMPDIR="$TEST_DIR/tmp" bash pass.sh >lintonly.out &&
    test_grep -x "ok 1 - a body that is one chain, with every construct # SKIP only linted (KILN_TEST_LINT_ONLY)" lintonly.out &&
    test ! -e marks/pass &&
    ! KILN_TEST_LINT_ONLY=1 TMPDIR="$TEST_DIR/tmp" bash broken.sh >lintonly.out 2>&1 &&
    test_grep -x "not ok 1 - first line false, last line true" lintonly.out
'

test_expect_success 'the test helper libraries are && chains' '
    for f in "$TEST_LIB_DIR"/*lib.sh "$KILN_SRC"/tests/data/sign/make-image.sh; do
        test -f "$f" &&
        perl "$TEST_LIB_DIR/chainlint.pl" --file <"$f" || { echo "in $f" >&2; return 1; }
    done
'

test_done
