#!/bin/bash
# kiln pull takes an image from a real registry (Debian's docker-registry on
# 127.0.0.1) into the store only after every digest and a trusted signature
# checked out: push then pull into an empty store then verify; what skopeo
# pushed; a blob tampered with in the registry's storage, no signature, an
# untrusted key, a rollback, a relabelled version, a wrong Content-Type and
# a manifest+index document are all refused with exit 3 and the store left
# as it was.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/store-lib.sh"
. "$KILN_SRC/tests/integration/registry-lib.sh"

PORT=$(free_port)
REG=127.0.0.1:$PORT
BLOBS=$TEST_DIR/plain.data/docker/registry/v2/blobs/sha256

# pull_refused STORE PATTERN SRC [OPTION...]: kiln pull into ./STORE (made
# with one image in it when missing) exits 3 with PATTERN in its error, and
# leaves STORE exactly as it was.
pull_refused() {
    _store=$TEST_DIR/$1 && _pattern=$2 && shift 2 &&
    { [ -d "$_store" ] || KILN_STORE=$_store make_image base 1.0.0 "$_store" >/dev/null; } &&
    _before=$(KILN_STORE=$_store store_digest) &&
    KILN_STORE=$_store test_expect_code 3 kiln pull "$@" &&
    test_grep "$_pattern" err &&
    test "$(KILN_STORE=$_store store_digest)" = "$_before"
}

test_expect_success 'setup: signed images pushed to a plain-HTTP registry' '
    kiln keygen --output k >/dev/null &&
    kiln keygen --output other >/dev/null &&
    make_image app 1.0.0 "hello pull" >app.digest &&
    kiln sign app:1.0.0 --key k.key >/dev/null &&
    start_registry plain "$PORT" &&
    kiln push app:1.0.0 "$REG/team/app" --insecure >/dev/null
'

test_expect_success 'push, then pull into an empty store, then kiln verify there: same digest' '
    digest=$(cat app.digest) &&
    KILN_STORE=$TEST_DIR/empty kiln pull "$REG/team/app:1.0.0" --key k.pub --insecure --json >pull1.json &&
    jq -e --arg d "$digest" ".digest == \$d and .name == \"app\" and .version == \"1.0.0\"" pull1.json &&
    jq -e ".blobs_fetched >= 3 and .referrers_fetched == 1 and .referrers == \"tag\"" pull1.json &&
    test "$(jq -r .signed_by pull1.json)" = "$(jq -r .signers[0] <(kiln verify app:1.0.0 --key k.pub --json))" &&
    kiln verify app:1.0.0 --key k.pub --store empty --json >verify1.json &&
    jq -e --arg d "$digest" ".verified == true and .digest == \$d" verify1.json &&
    test "$(kiln list app --store empty --json | jq -r ".images[0].digest")" = "$digest" &&
    test "$(ls empty/blobs/sha256 | wc -l)" -ge 7 &&
    for f in empty/blobs/sha256/*; do
        cmp "$f" "$KILN_STORE/blobs/sha256/$(basename "$f")" || return 1
    done &&
    test -z "$(ls empty/.kiln/tmp 2>/dev/null)"
'

test_expect_success 'pull again: nothing fetched twice, the store unchanged' '
    before=$(KILN_STORE=$TEST_DIR/empty store_digest) &&
    KILN_STORE=$TEST_DIR/empty kiln pull "$REG/team/app:1.0.0" --key k.pub --insecure --json >pull2.json &&
    jq -e ".blobs_present >= 3" pull2.json &&
    test "$(KILN_STORE=$TEST_DIR/empty store_digest)" = "$before"
'

test_expect_success 'pull by digest, and by a channel tag (signed statement): stored as the signed name and version' '
    digest=$(cat app.digest) &&
    kiln promote "$REG/team/app:1.0.0" --channel candidate --key k.key --insecure >/dev/null &&
    KILN_STORE=$TEST_DIR/bydigest kiln pull "$REG/team/app@$digest" --key k.pub --insecure --json >pull3.json &&
    jq -e --arg d "$digest" ".digest == \$d and .version == \"1.0.0\"" pull3.json &&
    KILN_STORE=$TEST_DIR/bytag kiln pull "http://$REG/team/app:candidate" --key k.pub --key other.pub --json >pull4.json &&
    jq -e --arg d "$digest" ".digest == \$d and .ref == \"app:1.0.0@\" + \$d" pull4.json &&
    kiln verify app:1.0.0 --key k.pub --store bytag >/dev/null
'

test_expect_success 'a version tag on another version is refused (exit 3): the tag is not what was signed' '
    kiln push app:1.0.0 "$REG/team/app:9.9.9" --insecure >/dev/null &&
    pull_refused relabel "tag .9.9.9. names version 9.9.9, but no trusted signature" "$REG/team/app:9.9.9" --key k.pub --insecure
'

test_expect_success 'no trusted signature: an untrusted key is refused (exit 3), the store unchanged' '
    pull_refused untrusted "unknown key" "$REG/team/app:1.0.0" --key other.pub --insecure
'

test_expect_success 'no signature at all is refused (exit 3) before any blob is fetched, the store unchanged' '
    make_image nosig 1.0.0 "unsigned" >/dev/null &&
    kiln push nosig:1.0.0 "$REG/team/nosig" --insecure >/dev/null &&
    pull_refused unsigned "has no signature" "$REG/team/nosig:1.0.0" --key k.pub --insecure &&
    grep -q "GET /v2/team/nosig/manifests/1.0.0" plain.log &&
    ! grep -q "GET /v2/team/nosig/blobs/" plain.log
'

test_expect_success 'a blob tampered with in the registry storage is refused (exit 3), the store unchanged' '
    tamp=$(make_image tamp 1.0.0 "to be tampered with") &&
    kiln sign tamp:1.0.0 --key k.key >/dev/null &&
    kiln push tamp:1.0.0 "$REG/team/tamp" --insecure >/dev/null &&
    tlayer=$(jq -r ".layers[0].digest" "$KILN_STORE/blobs/sha256/${tamp#sha256:}") &&
    hex=${tlayer#sha256:} &&
    data=$BLOBS/${hex:0:2}/$hex/data &&
    test -f "$data" &&
    size=$(stat -c %s "$data") &&
    printf "X" | dd of="$data" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null &&
    test "$(stat -c %s "$data")" = "$size" &&
    pull_refused tampered "blob .$tlayer. came as content with digest" "$REG/team/tamp:1.0.0" --key k.pub --insecure &&
    test -z "$(ls tampered/.kiln/tmp 2>/dev/null)"
'

test_expect_success 'a rollback is refused (exit 3) unless --allow-downgrade' '
    make_image roll 1.1.0 "newer" >/dev/null && kiln sign roll:1.1.0 --key k.key >/dev/null &&
    make_image roll 1.0.0 "older" >/dev/null && kiln sign roll:1.0.0 --key k.key >/dev/null &&
    kiln push roll:1.1.0 "$REG/team/roll" --insecure >/dev/null &&
    kiln push roll:1.0.0 "$REG/team/roll" --insecure >/dev/null &&
    KILN_STORE=$TEST_DIR/rollback kiln pull "$REG/team/roll:1.1.0" --key k.pub --insecure >/dev/null &&
    pull_refused rollback "refusing to downgrade .roll. to 1.0.0: the store has 1.1.0" "$REG/team/roll:1.0.0" \
        --key k.pub --insecure &&
    KILN_STORE=$TEST_DIR/rollback kiln pull "$REG/team/roll:1.0.0" --key k.pub --insecure --allow-downgrade >/dev/null &&
    test "$(kiln list roll --store rollback --json | jq -r "[.images[].version] | join(\" \")")" = "1.0.0 1.1.0" &&
    kiln verify roll:1.0.0 --key k.pub --store rollback >/dev/null
'

test_expect_success 'what skopeo pushed: refused without a signature, pulled once kiln pushed one' '
    sk=$(make_image sk 1.0.0 "via skopeo" plain) &&
    kiln sign sk:1.0.0 --key k.key >/dev/null &&
    kiln export sk:1.0.0 --format oci --output sklayout &&
    skopeo copy --dest-tls-verify=false oci:sklayout:sk:1.0.0 "docker://$REG/team/sk:1.0.0" >/dev/null &&
    test "$(skopeo inspect --tls-verify=false "docker://$REG/team/sk:1.0.0" | jq -r .Digest)" = "$sk" &&
    pull_refused fromskopeo "has no signature" "$REG/team/sk:1.0.0" --key k.pub --insecure &&
    kiln push sk:1.0.0 "$REG/team/sk" --insecure --json >skpush.json &&
    jq -e ".blobs_skipped == 2 and .referrers_pushed == 1" skpush.json &&
    KILN_STORE=$TEST_DIR/fromskopeo kiln pull "$REG/team/sk:1.0.0" --key k.pub --insecure --json >skpull.json &&
    jq -e --arg d "$sk" ".digest == \$d" skpull.json &&
    kiln verify sk:1.0.0 --key k.pub --store fromskopeo >/dev/null
'

test_expect_success 'a multi-output index: its manifests and their blobs come too, verified' '
    c=$(make_image part 1.0.0 "container") &&
    d=$(make_image part 2.0.0 "disk") &&
    idx=$(make_index multi 1.0.0 "$c" "$d") &&
    kiln sign multi:1.0.0 --key k.key >/dev/null &&
    kiln push multi:1.0.0 "$REG/team/multi" --insecure >/dev/null &&
    KILN_STORE=$TEST_DIR/multistore kiln pull "$REG/team/multi:1.0.0" --key k.pub --insecure --json >multi.json &&
    jq -e --arg d "$idx" ".digest == \$d and .manifests_fetched == 3" multi.json &&
    kiln verify multi:1.0.0 --key k.pub --store multistore --json >mverify.json &&
    jq -e ".verified == true and (.blobs | length) >= 9" mverify.json
'

test_expect_success 'a large blob streams in constant memory; a download cut off is started again' '
    big=$(make_big_image big 1.0.0 64) &&
    layer=$(jq -r ".layers[0].digest" big/manifest.json) &&
    kiln sign big:1.0.0 --key k.key >/dev/null &&
    kiln push big:1.0.0 "$REG/big" --insecure >/dev/null &&
    proxy=$(free_port) &&
    start_drop_proxy drop "$proxy" "$PORT" 1 0 "GET /v2/big/blobs/$layer" &&
    KILN_STORE=$TEST_DIR/bigstore /usr/bin/time -f %M -o rss "$KILN_BIN" pull "127.0.0.1:$proxy/big:1.0.0" \
        --key k.pub --insecure --json >big.json 2>err &&
    test "$(tail -n1 rss)" -lt "$(rss_limit 49152)" &&
    test -f drop.dropped &&
    jq -e --arg d "$big" ".digest == \$d and .bytes_fetched > 67108864" big.json &&
    cmp big/layer "bigstore/blobs/sha256/${layer#sha256:}"
'

test_expect_success 'a download cut off in the middle goes on from where it stopped (Range); --jobs 3' '
    layer=$(jq -r ".layers[0].digest" big/manifest.json) &&
    proxy=$(free_port) &&
    start_drop_proxy cutanswer "$proxy" "$PORT" 1 answer:20000000 "GET /v2/big/blobs/$layer" &&
    KILN_STORE=$TEST_DIR/rangestore kiln pull "127.0.0.1:$proxy/big:1.0.0" --key k.pub --insecure --jobs 3 \
        --json >range.json &&
    test -f cutanswer.dropped &&
    jq -e ".bytes_fetched > 67108864" range.json &&
    rest=$(sed -n "s|.*\"GET /v2/big/blobs/$layer HTTP/1.1\" 206 \([0-9]*\) .*|\1|p" plain.log) &&
    test -n "$rest" &&
    test "$rest" -gt 0 && test "$rest" -lt 67108864 &&
    cmp big/layer "rangestore/blobs/sha256/${layer#sha256:}" &&
    kiln verify big:1.0.0 --key k.pub --store rangestore >/dev/null
'

test_expect_success 'SIGINT during a pull: nothing enters the store, nothing is left in its temp area' '
    KILN_STORE=$TEST_DIR/intr make_image base 1.0.0 intr >/dev/null &&
    before=$(KILN_STORE=$TEST_DIR/intr store_digest) &&
    layer=$(jq -r ".layers[0].digest" big/manifest.json) &&
    proxy=$(free_port) &&
    start_drop_proxy hold "$proxy" "$PORT" 1 stall "GET /v2/big/blobs/$layer" &&
    { "$KILN_BIN" pull "127.0.0.1:$proxy/big:1.0.0" --key k.pub --insecure --store intr >intr.out 2>intr.err & } &&
    pid=$! &&
    timeout 60 sh -c "until [ -f hold.dropped ]; do sleep 0.1; done" &&
    test -n "$(ls intr/.kiln/tmp)" &&
    kill -INT "$pid" &&
    rc=0 &&
    { wait "$pid" || rc=$?; } &&
    touch hold.go &&
    test "$rc" -eq 130 &&
    test_grep "interrupted; nothing was written" intr.err &&
    test -z "$(ls intr/.kiln/tmp)" &&
    test "$(KILN_STORE=$TEST_DIR/intr store_digest)" = "$before"
'

# A fake registry: answers from files in ./fake (PATH.body, PATH.type).
start_fake_registry() {
    cat >"$TEST_DIR/fake.py" <<'EOF' &&
import http.server, os, sys
root = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        p = os.path.join(root, self.path.lstrip("/").replace("/", "_"))
        if self.path == "/v2/":
            body, ctype, code = b"{}", "application/json", 200
        elif os.path.exists(p + ".body"):
            body, ctype, code = open(p + ".body", "rb").read(), open(p + ".type").read().strip(), 200
        else:
            body, ctype, code = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}', "application/json", 404
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
    { setsid python3 "$TEST_DIR/fake.py" "$1" "$TEST_DIR/fake" >"$TEST_DIR/fake.log" 2>&1 & } &&
    echo $! >"$TEST_DIR/fake.pid" &&
    wait_answers "http://127.0.0.1:$1/v2/"
}

# fake_answer PATH TYPE FILE: what the fake registry answers GET PATH with.
fake_answer() {
    _f=fake/$(echo "${1#/}" | tr / _) &&
    cp "$3" "$_f.body" && echo "$2" >"$_f.type"
}

FPORT=$(free_port)
MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json

test_expect_success 'setup: a fake registry serving crafted answers' '
    mkdir -p fake && start_fake_registry "$FPORT"
'

test_expect_success 'a manifest served with another Content-Type is refused (exit 3)' '
    digest=$(cat app.digest) &&
    fake_answer /v2/evil/type/manifests/1.0.0 "$MT_INDEX" "$KILN_STORE/blobs/sha256/${digest#sha256:}" &&
    pull_refused crafted "says mediaType .$MT_MANIFEST. but came as Content-Type .$MT_INDEX." \
        "127.0.0.1:$FPORT/evil/type:1.0.0" --key k.pub --insecure
'

test_expect_success 'a document that is both an index and a manifest is refused (exit 3, CVE-2021-41190)' '
    digest=$(cat app.digest) &&
    jq -c --arg d "$digest" ". + {manifests: [{mediaType: \"$MT_MANIFEST\", digest: \$d, size: 10}]}" \
        "$KILN_STORE/blobs/sha256/${digest#sha256:}" >both.json &&
    fake_answer /v2/evil/both/manifests/1.0.0 "$MT_MANIFEST" both.json &&
    pull_refused crafted "CVE-2021-41190" "127.0.0.1:$FPORT/evil/both:1.0.0" --key k.pub --insecure &&
    jq -c ". + {mediaType: \"$MT_INDEX\"}" both.json >both2.json &&
    fake_answer /v2/evil/both2/manifests/1.0.0 "$MT_INDEX" both2.json &&
    pull_refused crafted "CVE-2021-41190" "127.0.0.1:$FPORT/evil/both2:1.0.0" --key k.pub --insecure
'

test_expect_success 'a manifest that does not hash to the digest asked for is refused (exit 3)' '
    digest=$(cat app.digest) &&
    other=sha256:$(printf other | sha256sum | cut -c1-64) &&
    fake_answer "/v2/evil/swap/manifests/$other" "$MT_MANIFEST" "$KILN_STORE/blobs/sha256/${digest#sha256:}" &&
    pull_refused crafted "manifest .$other. came as content with digest .$digest." "127.0.0.1:$FPORT/evil/swap@$other" \
        --key k.pub --insecure
'

test_expect_success 'a manifest larger than 4 MiB is refused (exit 3), whatever it says' '
    head -c 5M /dev/zero | tr "\0" " " >huge.json &&
    fake_answer /v2/evil/huge/manifests/1.0.0 "$MT_MANIFEST" huge.json &&
    pull_refused crafted "larger than 4194304 bytes" "127.0.0.1:$FPORT/evil/huge:1.0.0" --key k.pub --insecure
'

test_expect_success 'a referrer listing a blob larger than 4 MiB is refused (exit 3) before it is fetched' '
    digest=$(cat app.digest) &&
    fake_answer /v2/evil/ref/manifests/1.0.0 "$MT_MANIFEST" "$KILN_STORE/blobs/sha256/${digest#sha256:}" &&
    jq -c --arg d "$digest" --argjson s "$(stat -c %s "$KILN_STORE/blobs/sha256/${digest#sha256:}")" \
        "{schemaVersion: 2, mediaType: \"$MT_MANIFEST\", artifactType: \"application/vnd.dev.kiln.signature.v1\",
          config: {mediaType: \"application/vnd.oci.empty.v1+json\", size: 2,
                   digest: \"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"},
          layers: [{mediaType: \"application/vnd.dev.kiln.signature.payload.v1+json\", size: 10737418240,
                    digest: \"sha256:$(printf big | sha256sum | cut -c1-64)\"}],
          subject: {mediaType: \"$MT_MANIFEST\", digest: \$d, size: \$s}}" -n >ref.json &&
    ref=sha256:$(sha256sum <ref.json | cut -c1-64) &&
    fake_answer "/v2/evil/ref/manifests/$ref" "$MT_MANIFEST" ref.json &&
    jq -cn --arg r "$ref" --argjson s "$(stat -c %s ref.json)" \
        "{schemaVersion: 2, mediaType: \"$MT_INDEX\", manifests: [{mediaType: \"$MT_MANIFEST\", digest: \$r, size: \$s}]}" \
        >refs.json &&
    fake_answer "/v2/evil/ref/referrers/$digest" "$MT_INDEX" refs.json &&
    pull_refused crafted "referrer .$ref. lists a blob of 10737418240 bytes, more than 4194304" \
        "127.0.0.1:$FPORT/evil/ref:1.0.0" --key k.pub --insecure
'

test_expect_success 'a missing image is an error (exit 1) naming the registry and its code' '
    test_expect_code 1 kiln pull "$REG/team/nothere:1.0.0" --key k.pub --insecure &&
    test_grep "registry .$REG. repository .team/nothere.: GET manifest .1.0.0.: MANIFEST_UNKNOWN" err
'

test_expect_success 'a bad SRC or no --key is a usage error (exit 2)' '
    test_expect_code 2 kiln pull no-repository --key k.pub &&
    test_grep "no-repository" err &&
    test_expect_code 2 kiln pull "$REG/team/app" --key k.pub --insecure &&
    test_grep "names no tag and no digest" err &&
    test_expect_code 2 kiln pull "$REG/team/app@sha256:abc" --key k.pub --insecure &&
    test_grep "is not a digest" err &&
    test_expect_code 2 kiln pull "$REG/team/app:1.0.0" --insecure &&
    test_grep "give at least one trusted public key" err &&
    test_expect_code 2 kiln pull "$REG/team/app:1.0.0" --key k.key --insecure
'

TPORT=$(free_port)
TREG=127.0.0.1:$TPORT

test_expect_success 'TLS + htpasswd: push, then pull with --ca-file and the credentials of config.json' '
    digest=$(cat app.digest) &&
    start_tls_registry tls "$TPORT" puller:s3cret &&
    mkdir -p "$HOME/.docker" &&
    printf "{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}" "$TREG" "$(printf puller:s3cret | base64)" >"$HOME/.docker/config.json" &&
    kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt >/dev/null &&
    test_expect_code 1 kiln pull "$TREG/team/app:1.0.0" --key k.pub --store tlsstore &&
    KILN_STORE=$TEST_DIR/tlsstore kiln pull "$TREG/team/app:1.0.0" --key k.pub --ca-file tls.crt --json >tls.json &&
    jq -e --arg d "$digest" ".digest == \$d" tls.json &&
    kiln verify app:1.0.0 --key k.pub --store tlsstore >/dev/null &&
    printf "{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}" "$TREG" "$(printf puller:wrong | base64)" >wrong.json &&
    REGISTRY_AUTH_FILE=$TEST_DIR/wrong.json test_expect_code 1 kiln pull "$TREG/team/app:1.0.0" --key k.pub \
        --ca-file tls.crt --store tlswrong &&
    test_grep "UNAUTHORIZED" err
'

test_done
