#!/bin/bash
# A 2 GiB disk blob goes to a real registry and back in constant memory:
# kiln push sends it in chunks while the registry (Debian's docker-registry
# on 127.0.0.1) is killed in the middle and started again, and the push
# completes; kiln pull brings it into an empty store.  Peak RSS of both
# stays in the tens of MB.  The blob is mostly zeros (sparse in the source
# store) so that the test is quick; nothing in kiln treats it differently.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/store-lib.sh"
. "$KILN_SRC/tests/integration/registry-lib.sh"

PORT=$(free_port)
REG=127.0.0.1:$PORT
SIZE=$((2 * 1024 * 1024 * 1024))
RSS_LIMIT_KB=$(rss_limit 65536)

test_expect_success 'setup: a signed image with a 2 GiB disk blob, and a registry' '
    mkdir -p huge &&
    truncate -s "$SIZE" huge/disk &&
    head -c 65536 /dev/urandom | dd of=huge/disk bs=65536 seek=1000 conv=notrunc 2>/dev/null &&
    hex=$(sha256sum huge/disk | cut -c1-64) &&
    printf "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}" \
        "$hex" >huge/config.json &&
    config=$("$STORE_TOOL" put "$KILN_STORE" huge/config.json) &&
    cp --sparse=always huge/disk "$KILN_STORE/blobs/sha256/$hex" &&
    chmod 0444 "$KILN_STORE/blobs/sha256/$hex" &&
    printf "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%d},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\",\"size\":%d}]}" \
        "$config" "$(stat -c %s huge/config.json)" "$hex" "$SIZE" >huge/manifest.json &&
    m=$("$STORE_TOOL" put "$KILN_STORE" huge/manifest.json) &&
    "$STORE_TOOL" add "$KILN_STORE" huge 1.0.0 "$m" >/dev/null &&
    echo "$m" >huge.digest &&
    echo "sha256:$hex" >huge.layer &&
    kiln keygen --output k >/dev/null &&
    kiln sign huge:1.0.0 --key k.key >/dev/null &&
    start_registry plain "$PORT"
'

test_expect_success 'push 2 GiB in constant memory; the registry killed mid-push and restarted, the push resumes' '
    proxy=$(free_port) &&
    start_drop_proxy hold "$proxy" "$PORT" 8 stall "PATCH /v2/huge/blobs/uploads/" &&
    { /usr/bin/time -f %M -o push.rss "$KILN_BIN" push huge:1.0.0 "127.0.0.1:$proxy/huge" --insecure --json \
        >push.json 2>push.err & } &&
    pushpid=$! &&
    timeout 300 sh -c "until [ -f hold.dropped ]; do sleep 0.2; done" &&
    kill -9 "$(cat plain.pid)" &&
    sleep 0.5 &&
    test "$(grep -c "PATCH /v2/huge/blobs/uploads/" plain.log)" -eq 7 &&
    touch hold.go &&
    sleep 1 &&
    start_registry plain "$PORT" &&
    wait "$pushpid" &&
    jq -e --arg d "$(cat huge.digest)" ".digest == \$d and .bytes_pushed >= $SIZE" push.json &&
    say "push: peak RSS $(tail -n1 push.rss) KB" &&
    test "$(tail -n1 push.rss)" -lt "$RSS_LIMIT_KB" &&
    grep -q "GET /v2/huge/blobs/uploads/" plain.log &&
    test "$(grep -c "POST /v2/huge/blobs/uploads/" plain.log)" -eq "$(jq .blobs_pushed push.json)" &&
    test "$(grep -c "PATCH /v2/huge/blobs/uploads/" plain.log)" -eq 128 &&
    test "$(curl -sfI "http://$REG/v2/huge/blobs/$(cat huge.layer)" | tr -d "\r" | sed -n "s/^[Cc]ontent-[Ll]ength: //p")" = "$SIZE" &&
    test "$(skopeo inspect --raw --tls-verify=false "docker://$REG/huge:1.0.0" | sha256sum | cut -c1-64)" = "$(cut -c8- huge.digest)"
'

test_expect_success 'pull the 2 GiB image into an empty store in constant memory, verified' '
    layer=$(cat huge.layer) &&
    /usr/bin/time -f %M -o pull.rss "$KILN_BIN" pull "$REG/huge:1.0.0" --key k.pub --insecure --store pulled --json >pull.json &&
    jq -e --arg d "$(cat huge.digest)" ".digest == \$d and .bytes_fetched >= $SIZE" pull.json &&
    say "pull: peak RSS $(tail -n1 pull.rss) KB" &&
    test "$(tail -n1 pull.rss)" -lt "$RSS_LIMIT_KB" &&
    test "$(stat -c %s "pulled/blobs/sha256/${layer#sha256:}")" = "$SIZE" &&
    cmp "pulled/blobs/sha256/${layer#sha256:}" huge/disk &&
    test -z "$(ls pulled/.kiln/tmp)" &&
    test "$(kiln list huge --store pulled --json | jq -r ".images[0].digest")" = "$(cat huge.digest)"
'

test_done
