#!/bin/bash
# The build cache: an unchanged recipe is rebuilt from the cache (no step
# runs, the same digest, nothing published again); a changed files src reruns
# from the files step on, a changed output option reuses the tree; every
# cached build gives the digest an uncached one gives; --no-cache neither
# reads nor writes the cache.
. "$(dirname "$0")/lib.sh"

. "$KILN_SRC/tests/integration/cache-lib.sh"
cache_setup

# build ARGS...: cache_build.
build() { cache_build "$@"; }

# entries: the number of cache entries in the store.
entries() {
    kiln cache ls --json | jq ".entries | length"
}

test_expect_success 'a cold build runs every step and fills the cache' '
    build &&
    test "$(grep -c "cached\|skipped" steps)" = 0 &&
    test "$(grep -c "^step [0-9]/5: " steps)" = 5 &&
    test "$(entries)" = 3 &&
    kiln cache ls >ls &&
    test_grep "^[0-9a-f]\{12\}  hostname " ls &&
    test "$(grep -c "^[0-9a-f]\{12\}  output " ls)" = 2
'

test_expect_success 'an unchanged rebuild runs no step, gives the same digest and publishes nothing' '
    cp ref ref1 &&
    before=$(store_digest) &&
    build &&
    cmp ref ref1 &&
    test "$(grep -c ": skipped, every output is cached" steps)" = 3 &&
    test "$(grep -c ": output: cached" steps)" = 2 &&
    test_grep "c:1.0.0 is unchanged: nothing to publish" log &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'a new version of an unchanged recipe is published from the cache' '
    build --version 1.0.1 &&
    test_grep "@$(cut -d@ -f2 ref1)$" ref &&
    test "$(grep -c ": output: cached" steps)" = 2 &&
    kiln list c >list &&
    test_grep "^c  *1.0.1 " list &&
    kiln sbom c:1.0.1 --format spdx >sbom.json &&
    jq -e ".spdxVersion == \"SPDX-2.3\" and (.files | length) > 0" sbom.json
'

test_expect_success '--no-cache runs every step, writes no entry and gives the same digest' '
    n=$(entries) &&
    build --version 1.0.2 --no-cache &&
    test "$(grep -c "cached\|skipped" steps)" = 0 &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref1)" &&
    test "$(entries)" = "$n"
'

test_expect_success 'a changed files src reruns from the files step on' '
    echo "two" >payload.txt &&
    build --version 2.0.0 &&
    test "$(grep -c "cached\|skipped" steps)" = 0 &&
    test_grep "^step 2/5: files$" steps &&
    cp ref ref2 &&
    build --version 2.0.1 --no-cache &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref2)" &&
    test "$(cut -d@ -f2 ref)" != "$(cut -d@ -f2 ref1)"
'

test_expect_success 'the file changed back hits the first entries again' '
    echo "one" >payload.txt &&
    build --version 2.0.2 &&
    test "$(grep -c ": output: cached" steps)" = 2 &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref1)"
'

test_expect_success 'a changed label reuses the tree and rebuilds only the outputs' '
    sed -i "s/tier: a/tier: b/" c.yaml &&
    build --version 3.0.0 &&
    test_grep "^step 1/5: base: cached" steps &&
    test_grep "^step 3/5: hostname: cached" steps &&
    test_grep "^step 4/5: output$" steps &&
    test_grep "^step 5/5: output$" steps &&
    cp ref ref3 &&
    build --version 3.0.1 --no-cache &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref3)" &&
    test "$(cut -d@ -f2 ref)" != "$(cut -d@ -f2 ref1)"
'

test_expect_success 'a build from the cache records the same inputs and keys as one without' '
    for v in 3.0.0 3.0.1; do
        kiln inspect c:$v --provenance --json |
            jq -c ".provenance[0].statement.predicate.buildDefinition | [.resolvedDependencies, .internalParameters.steps]" >p-$v ||
            return 1
    done &&
    cmp p-3.0.0 p-3.0.1 &&
    test_grep "payload.txt" p-3.0.0
'

test_expect_success 'cache entries are ordinary index.json entries without a name' '
    jq -e "[.manifests[] | select(.annotations[\"dev.kiln.cache.key\"])] | length > 0" "$KILN_STORE/index.json" &&
    jq -e "[.manifests[] | select(.annotations[\"dev.kiln.cache.key\"]) | .annotations[\"org.opencontainers.image.ref.name\"] // empty] | length == 0" \
        "$KILN_STORE/index.json" &&
    kiln list >list &&
    test "$(grep -c "^c " list)" = 8
'

test_done
