#!/bin/bash
# `kiln build` killed with SIGKILL at random points never leaves a partial
# image visible: index.json parses, every listed image is complete and read
# by skopeo, the listed images are those before plus at most the new one, and
# gc clears what the killed build left behind.
. "$(dirname "$0")/lib.sh"

TOOL=${KILN_BUILD:-$KILN_SRC/build}/tests/unit/test-store-tool
ROUNDS=${KILN_KILL_ROUNDS:-8}
test_on_exit '[ -s "$TEST_DIR/build.pid" ] && kill -9 "$(cat "$TEST_DIR/build.pid")"'

head -c 15000000 /dev/urandom >big.bin
cat >r.yaml <<YAML
name: big
version: 1.0.0
base:
  scratch: true
files:
  - src: big.bin
    dest: /data/big.bin
  - content: "hi\n"
    dest: /etc/hi
outputs: [oci]
YAML

listed() { kiln list big --json >listed.json && jq -r '.images[] | .name + ":" + .version' listed.json; }

test_expect_success 'setup: one finished build' '
    kiln build r.yaml >out &&
    test_grep "^big:1.0.0@sha256:" out
'

test_expect_success "kiln build killed at random points $ROUNDS times leaves only whole images" '
    for i in $(seq 1 "$ROUNDS"); do
        listed >before || exit 1
        { "$KILN_BIN" build r.yaml --version auto >build.out 2>build.err & } &&
        pid=$! &&
        echo "$pid" >build.pid &&
        sleep "$((RANDOM % 4)).$((RANDOM % 10))" &&
        # killed, or it finished before the kill: either way it is over
        { kill -9 "$pid" 2>/dev/null || :; } &&
        { wait "$pid" 2>/dev/null || :; } || exit 1
        jq -e ".schemaVersion == 2" "$KILN_STORE/index.json" >/dev/null || { echo "round $i: index.json" >&2; exit 1; }
        listed >after || { echo "round $i: kiln list" >&2; exit 1; }
        test -z "$(comm -23 <(sort before) <(sort after))" || { echo "round $i: an image was lost" >&2; exit 1; }
        test "$(comm -13 <(sort before) <(sort after) | wc -l)" -le 1 || { echo "round $i: more than one new image" >&2; exit 1; }
        "$TOOL" verify "$KILN_STORE" >/dev/null || { echo "round $i: verify" >&2; exit 1; }
        while read -r ref; do
            skopeo inspect --raw "oci:$KILN_STORE:$ref" >/dev/null || { echo "round $i: skopeo cannot read $ref" >&2; exit 1; }
        done <after || exit 1
    done
'

test_expect_success 'gc removes what the killed builds left, every listed image still verifies' '
    listed >before &&
    kiln gc >/dev/null &&
    test -z "$(ls -A "$KILN_STORE/.kiln/tmp")" &&
    "$TOOL" verify "$KILN_STORE" >/dev/null &&
    listed >after &&
    cmp before after &&
    test -s after &&
    while read -r ref; do
        umoci stat --image "$KILN_STORE:$ref" >/dev/null || exit 1
    done <after
'

test_expect_success 'gc run while builds are writing keeps their blobs' '
    { "$KILN_BIN" build r.yaml --version auto >b1.out 2>b1.err & } &&
    p1=$! &&
    echo "$p1" >build.pid &&
    sleep 0.5 &&
    kiln gc --json >gc.json &&
    wait "$p1" &&
    ref=$(sed -n "s/@.*//p" b1.out) &&
    kiln inspect "$ref" >/dev/null &&
    "$TOOL" verify "$KILN_STORE" >/dev/null &&
    skopeo inspect --raw "oci:$KILN_STORE:$ref" >/dev/null
'

test_done
