#!/bin/bash
# A writer killed with SIGKILL at any point leaves a store that parses, whose
# every listed image is complete and readable by skopeo, with no partial blob
# under blobs/ and no half-written index entry; gc then clears its leftovers.
. "$(dirname "$0")/lib.sh"

TOOL=${KILN_BUILD:-$KILN_SRC/build}/tests/unit/test-store-tool
ROUNDS=${KILN_KILL_ROUNDS:-20}
# A writer a failed test left running is stopped at exit.
test_on_exit '[ -s "$TEST_DIR/churn.pid" ] && kill -9 "$(cat "$TEST_DIR/churn.pid")"'

# Every blob's content matches its name: nothing half-written is visible.
blobs_match_names() {
    (cd "$KILN_STORE/blobs/sha256" && find . -type f -printf "%f\0" | xargs -0r sha256sum) >sums &&
    awk '$1 != $2 { print "blob " $2 " has content " $1; bad = 1 } END { exit bad }' sums
}

# churn_until N: runs the writer until it has added N images, then kills it.
churn_until() {
    { "$TOOL" churn "$KILN_STORE" app 65536 >churn.out 2>churn.err & } &&
    pid=$! &&
    echo "$pid" >churn.pid &&
    while [ "$(wc -l <churn.out)" -lt "$1" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05 || return 1; done &&
    # it may have stopped by itself: then it has not added N images, which the count says
    { kill -9 "$pid" 2>/dev/null || :; } &&
    { wait "$pid" 2>/dev/null || :; } &&
    [ "$(wc -l <churn.out)" -ge "$1" ]
}

# check_store: what must hold after any kill.
check_store() {
    kiln list app --json >list.json || return 1
    [ -e "$KILN_STORE/oci-layout" ] || return 0 # killed while creating it: no store yet
    jq -e ".schemaVersion == 2 and (.manifests | type) == \"array\"" "$KILN_STORE/index.json" >/dev/null &&
    "$TOOL" verify "$KILN_STORE" >/dev/null &&
    blobs_match_names
}

test_expect_success 'a writer killed while creating the store leaves no store or a whole one' '
    for i in 1 2 3 4 5; do
        rm -rf "$KILN_STORE" &&
        { "$TOOL" churn "$KILN_STORE" app 65536 >churn.out 2>churn.err & } &&
        pid=$! &&
        echo "$pid" >churn.pid &&
        sleep "0.00$((RANDOM % 10))" &&
        kill -9 "$pid" && { wait "$pid" 2>/dev/null || true; } &&
        check_store || { echo "round $i failed" >&2; exit 1; }
    done
'

test_expect_success "a writer killed at random points $ROUNDS times leaves a consistent store" '
    churn_until 3 &&
    check_store &&
    for i in $(seq 1 "$ROUNDS"); do
        { "$TOOL" churn "$KILN_STORE" app 65536 >churn.out 2>churn.err & } &&
        pid=$! &&
        echo "$pid" >churn.pid &&
        sleep "0.$((RANDOM % 3))$((RANDOM % 10))" &&
        kill -9 "$pid" && { wait "$pid" 2>/dev/null || true; } &&
        check_store || { echo "round $i failed" >&2; exit 1; }
    done
'

test_expect_success 'auto versions are consecutive: none is lost or given twice' '
    kiln list app --json >list.json &&
    n=$(jq ".images | length" list.json) &&
    test "$n" -gt 0 &&
    jq -r ".images[].version" list.json | sed "s/.*\.//" | sort -n >got &&
    seq 1 "$n" >want &&
    cmp want got
'

test_expect_success 'skopeo reads every listed image and channel' '
    jq -r ".images[] | .name + \":\" + .version" list.json >refs &&
    echo app:edge >>refs &&
    while read -r ref; do
        skopeo inspect --raw "oci:$KILN_STORE:$ref" >m.json || { echo "skopeo cannot read $ref" >&2; exit 1; }
        jq -e ".schemaVersion == 2" m.json >/dev/null || exit 1
    done <refs
'

test_expect_success 'every channel points at a listed version' '
    jq -r ".manifests[] | select(.annotations[\"dev.kiln.channel\"]) | .annotations[\"dev.kiln.version\"]" \
        "$KILN_STORE/index.json" >chan &&
    test -s chan &&
    while read -r v; do
        kiln inspect "app:$v" >/dev/null || exit 1
    done <chan
'

test_expect_success 'gc removes what the killed writers left and keeps every listed image' '
    kiln gc --json >gc.json &&
    test -z "$(ls -A "$KILN_STORE/.kiln/tmp")" &&
    test -z "$(find "$KILN_STORE" -maxdepth 1 -name "*.tmp.*")" &&
    "$TOOL" verify "$KILN_STORE" >/dev/null &&
    kiln list app --json >after.json &&
    cmp <(jq -S .images list.json) <(jq -S .images after.json)
'

test_done
