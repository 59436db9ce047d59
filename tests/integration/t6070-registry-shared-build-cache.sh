#!/bin/bash
# --cache REGISTRY/REPO: one builder's cache entries, pushed to a registry
# (Debian's docker-registry on 127.0.0.1) as OCI artifacts tagged by key, let
# another builder with an empty store skip every step and get the same
# digest; a tampered entry in the registry is refused and the step built; an
# unreachable shared cache is a miss, not a failure.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/registry-lib.sh"

PORT=$(free_port)
REG=127.0.0.1:$PORT
BLOBS=$TEST_DIR/shared.data/docker/registry/v2/blobs/sha256

. "$KILN_SRC/tests/integration/cache-lib.sh"
cache_setup

# build STORE ARGS...: cache_build into ./STORE.
build() {
    _s=$1 && shift &&
    KILN_STORE=$TEST_DIR/$_s cache_build "$@"
}

test_expect_success 'setup: builder A fills the shared cache' '
    start_registry shared "$PORT" &&
    build a --cache "$REG/ci/cache" --cache-insecure &&
    cp ref ref-a &&
    test "$(grep -c "cached\|skipped" steps)" = 0 &&
    curl -sf "http://$REG/v2/ci/cache/tags/list" >tags.json &&
    test "$(jq "[.tags[] | select(startswith(\"kiln-cache-\"))] | length" tags.json)" = 3
'

test_expect_success 'builder B with an empty store takes every step from the shared cache: same image, with its SBOMs' '
    build b --cache "$REG/ci/cache" --cache-insecure &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref-a)" &&
    test "$(grep -c ": cached (key " steps)" = 5 &&
    test_grep "fetched from $REG/ci/cache" log &&
    KILN_STORE=$TEST_DIR/b kiln sbom c:1.0.0 --format cyclonedx >bom.json &&
    jq -e ".bomFormat == \"CycloneDX\"" bom.json &&
    build nc --no-cache &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref-a)"
'

# An image new to a store needs its SBOMs, made from its tree: the tree A
# pushed is restored, and every output comes from the shared cache.
test_expect_success 'builder C with an empty store takes the tree and every output from the shared cache' '
    build c --cache "$REG/ci/cache" --cache-insecure &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref-a)" &&
    test "$(grep -c ": output: cached" steps)" = 2 &&
    test "$(grep -c "fetched from $REG/ci/cache" log)" -ge 2 &&
    ! grep -q "^step 1/5: base$" steps
'

test_expect_success 'a tampered blob in the shared cache is refused and the step built' '
    echo "two" >payload.txt &&
    build a --version 2.0.0 --cache "$REG/ci/cache" --cache-insecure &&
    cp ref ref-a2 &&
    key=$(KILN_STORE=$TEST_DIR/a kiln cache ls --json | jq -r "[.entries[] | select(.step == \"hostname\")] | last | .key") &&
    ix=$(curl -sf -H "Accept: application/vnd.oci.image.index.v1+json" \
        "http://$REG/v2/ci/cache/manifests/kiln-cache-$key" | jq -r ".manifests[0].digest") &&
    sm=$(curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$REG/v2/ci/cache/manifests/$ix") &&
    tar=$(echo "$sm" | jq -r ".layers[0].digest" | cut -d: -f2) &&
    f=$BLOBS/$(echo "$tar" | cut -c1-2)/$tar/data &&
    test -f "$f" &&
    printf X | dd of="$f" bs=1 seek=600 conv=notrunc 2>/dev/null &&
    sed -i "s/tier: a/tier: x/" c.yaml &&
    build c --version 2.0.1 --cache "$REG/ci/cache" --cache-insecure &&
    test_grep "warning: cache: shared cache $REG/ci/cache: .*blob .sha256:$tar. came as content with digest" log &&
    test "$(grep -c "cached\|skipped" steps)" = 0 &&
    cp ref ref-c &&
    build nc --version 2.0.1 --no-cache &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref-c)"
'

test_expect_success 'an unreachable shared cache is a miss: the build goes on' '
    build d --cache "127.0.0.1:$(free_port)/ci/cache" --cache-insecure &&
    test_grep "warning: cache: shared cache" log &&
    test "$(grep -c "cached\|skipped" steps)" = 0 &&
    test_grep "^c:1.0.0@sha256:" ref
'

test_expect_success 'usage: --cache with a tag, with --no-cache, options without --cache' '
    test_expect_code 2 kiln build c.yaml --cache "$REG/ci/cache:tag" --cache-insecure &&
    test_grep "without a tag" err &&
    test_expect_code 2 kiln build c.yaml --cache "$REG/ci/cache" --no-cache &&
    test_grep "exclude each other" err &&
    test_expect_code 2 kiln build c.yaml --cache-insecure &&
    test_grep "go with --cache" err
'

test_done
