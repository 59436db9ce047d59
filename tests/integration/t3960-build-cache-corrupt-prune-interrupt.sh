#!/bin/bash
# A corrupt cache entry is reported, never used, and rebuilt (its bad blob
# replaced by a good one); kiln gc keeps the entries, kiln cache prune removes
# them (and gc their blobs) without touching images; an interrupted build
# leaves the store and its cache as they were.
. "$(dirname "$0")/lib.sh"

. "$KILN_SRC/tests/integration/cache-lib.sh"
mkdir -p tmp
export TMPDIR="$TEST_DIR/tmp"
cache_setup

build() { cache_build "$@"; }

blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

# entry_of STEP [N]: the index digest of the N-th (default first; -1 last)
# cache entry of STEP in index.json.
entry_of() {
    jq -r --arg s "$1" "[.manifests[] | select(.annotations[\"dev.kiln.cache.step\"] == \$s)][${2:-0}].digest" \
        "$KILN_STORE/index.json"
}
# tree_tar_of STEP: the digest of the tree tar of STEP's first entry.
tree_tar_of() {
    _m=$(jq -r ".manifests[0].digest" "$(blob "$(entry_of "$1")")") &&
    jq -r ".layers[0].digest" "$(blob "$_m")"
}

# corrupt DIGEST: flips the blob's content, same size.
corrupt() {
    _f=$(blob "$1") &&
    chmod u+w "$_f" &&
    printf 'X' | dd of="$_f" bs=1 seek=100 conv=notrunc 2>/dev/null &&
    test "$(sha256sum "$_f" | cut -c1-64)" != "${1#sha256:}"
}

good() { test "$(sha256sum "$(blob "$1")" | cut -c1-64)" = "${1#sha256:}"; }

test_expect_success 'setup: a cached build' '
    build &&
    cp ref ref1 &&
    test "$(kiln cache ls --json | jq ".entries | length")" = 3
'

test_expect_success 'a corrupt tree entry is reported, not used, and stored again' '
    tar=$(tree_tar_of hostname) &&
    corrupt "$tar" &&
    sed -i "s/tier: a/tier: b/" c.yaml &&
    build --version 2.0.0 &&
    test_grep "warning: cache: entry of step 3 (hostname, key [0-9a-f]*) is corrupt, rebuilding" log &&
    test "$(grep -c "cached\|skipped" steps)" = 0 &&
    good "$tar" &&
    test "$(tree_tar_of hostname)" = "$tar" &&
    cp ref ref2 &&
    build --version 2.0.1 --no-cache &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref2)"
'

test_expect_success 'the rebuilt tree entry is used again' '
    sed -i "s/tier: b/tier: c/" c.yaml &&
    build --version 3.0.0 &&
    test_grep "^step 3/5: hostname: cached" steps
'

test_expect_success 'a corrupt output blob is reported, not used, rebuilt and repaired' '
    m=$(jq -r ".manifests[1].digest" "$(blob "$(entry_of output -1)")") &&
    layer=$(jq -r ".layers[0].digest" "$(blob "$m")") &&
    corrupt "$layer" &&
    build --version 3.0.1 &&
    test_grep "warning: cache: entry of step [45] (output, key [0-9a-f]*) is corrupt, rebuilding" log &&
    test "$(grep -c "^step [45]/5: output$" steps)" -ge 1 &&
    good "$layer" &&
    kiln build c.yaml --version 3.0.2 --no-cache >ref-nc &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref-nc)"
'

test_expect_success 'kiln gc keeps the cache entries and what they reach' '
    kiln gc >gc.out &&
    build --version 3.0.3 &&
    test "$(grep -c ": output: cached" steps)" = 2
'

test_expect_success 'kiln cache prune --keep-days keeps recent entries' '
    n=$(kiln cache ls --json | jq ".entries | length") &&
    test "$n" -gt 0 &&
    kiln cache prune --keep-days 1 >out &&
    test_grep "^removed 0 cache entries" out &&
    test "$(kiln cache ls --json | jq ".entries | length")" = "$n"
'

test_expect_success 'kiln cache prune removes every entry and frees their blobs, images stay whole' '
    kiln cache prune --json >prune.json &&
    test "$(jq .entriesRemoved prune.json)" -gt 0 &&
    test "$(jq .blobsRemoved prune.json)" -gt 0 &&
    kiln cache ls >ls &&
    test_grep "^0 entries, 0 bytes" ls &&
    for f in "$KILN_STORE"/blobs/sha256/*; do
        test "$(sha256sum "$f" | cut -c1-64)" = "$(basename "$f")" || return 1
    done &&
    kiln export c:1.0.0 --format oci --output exported &&
    build --version 4.0.0 &&
    test "$(grep -c "cached\|skipped" steps)" = 0
'

test_expect_success 'usage errors of kiln cache' '
    test_expect_code 2 kiln cache &&
    test_expect_code 2 kiln cache frob &&
    test_grep "unknown action .frob." err &&
    test_expect_code 2 kiln cache prune --keep-days -1 &&
    test_grep "keep-days" err &&
    test_expect_code 2 kiln cache ls --keep-days 3
'

test_expect_success 'an interrupted build leaves the store and its cache as they were' '
    head -c 40000000 /dev/urandom >root/noise &&
    tar -C root -cf base.tar . &&
    before=$(store_digest) &&
    n=$(kiln cache ls --json | jq ".entries | length") &&
    { "$KILN_BIN" build c.yaml --version 5.0.0 >out 2>err & } &&
    pid=$! &&
    while ! ls "$KILN_STORE/.kiln/tmp/"* >/dev/null 2>&1 && kill -0 $pid 2>/dev/null; do
        sleep 0.1 || return 1
    done &&
    kill -INT $pid &&
    rc=0 &&
    { wait $pid || rc=$?; } &&
    test "$rc" = 130 &&
    test "$before" = "$(store_digest)" &&
    test "$(kiln cache ls --json | jq ".entries | length")" = "$n" &&
    build --version 5.0.0 &&
    test "$(grep -c "cached\|skipped" steps)" = 0 &&
    build --version 5.0.1 &&
    test "$(grep -c ": output: cached" steps)" = 2
'

test_done
