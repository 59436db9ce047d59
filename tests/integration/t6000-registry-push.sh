#!/bin/bash
# kiln push puts an image and its signatures on a real registry (Debian's
# docker-registry on 127.0.0.1, once over plain HTTP, once over TLS with
# htpasswd): skopeo reads back the same digests, a second push sends no blob,
# the signatures are listed under the referrers tag, a dropped connection in
# a chunked upload is resumed, and every bad input is a clear error.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/store-lib.sh"
. "$KILN_SRC/tests/integration/registry-lib.sh"

PORT=$(free_port)
REG=127.0.0.1:$PORT

READONLY_YAML="  maintenance:
    readonly:
      enabled: true"

# The referrers the store lists for a digest, sorted.
store_referrers() {
    jq -r --arg d "$1" '[.manifests[] | select(.annotations["dev.kiln.subject"] == $d) | .digest] | sort | .[]' \
        "$KILN_STORE/index.json"
}

test_expect_success 'setup: a signed image and a plain-HTTP registry' '
    make_image app 1.0.0 "hello registry" >app.digest &&
    kiln keygen --output k >/dev/null &&
    kiln sign app:1.0.0 --key k.key >/dev/null &&
    start_registry plain "$PORT"
'

test_expect_success 'push over plain HTTP: skopeo sees the digest kiln stored' '
    digest=$(cat app.digest) &&
    kiln push app:1.0.0 "$REG/team/app" --insecure --json >push1.json &&
    jq -e --arg d "$digest" ".digest == \$d and .destination == \"$REG/team/app:1.0.0\"" push1.json &&
    jq -e ".blobs_pushed > 0 and .blobs_skipped == 0 and .bytes_pushed > 0 and .referrers_pushed == 1" push1.json &&
    skopeo inspect --tls-verify=false "docker://$REG/team/app:1.0.0" >inspect.json &&
    test "$(jq -r .Digest inspect.json)" = "$digest" &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/app:1.0.0" >raw.json &&
    test "sha256:$(sha256sum <raw.json | cut -c1-64)" = "$digest" &&
    cmp raw.json "$KILN_STORE/blobs/sha256/${digest#sha256:}"
'

test_expect_success 'skopeo copy from the registry to an OCI layout gives the same manifest' '
    digest=$(cat app.digest) &&
    skopeo copy --src-tls-verify=false "docker://$REG/team/app:1.0.0" oci:copy:app >/dev/null &&
    test "$(jq -r ".manifests[0].digest" copy/index.json)" = "$digest" &&
    layer=$(jq -r ".layers[0].digest" "$KILN_STORE/blobs/sha256/${digest#sha256:}") &&
    cmp "copy/blobs/sha256/${layer#sha256:}" "$KILN_STORE/blobs/sha256/${layer#sha256:}"
'

test_expect_success 'a second push sends no blob and says so: the manifests it finds need nothing more' '
    before=$(wc -l <plain.log) &&
    kiln push app:1.0.0 "$REG/team/app" --insecure --json >push2.json &&
    jq -e ".blobs_pushed == 0 and .bytes_pushed == 0 and .referrers_pushed == 0" push2.json &&
    test "$(jq .blobs_skipped push2.json)" = "$(jq .blobs_pushed push1.json)" &&
    tail -n +"$((before + 1))" plain.log >push2.log &&
    test "$(grep -c "HEAD /v2/team/app/manifests/sha256:" push2.log)" -eq 2 &&
    ! grep -q "/v2/team/app/blobs/" push2.log &&
    test "$(grep -c "PUT /v2/team/app/manifests/" push2.log)" -eq 1 &&
    test_grep "PUT /v2/team/app/manifests/1.0.0 " push2.log
'

test_expect_success 'an http:// DEST with a tag needs no --insecure; the tag is the one given' '
    digest=$(cat app.digest) &&
    kiln push app:1.0.0 "http://$REG/team/app:candidate" --json >push3.json &&
    jq -e ".destination == \"$REG/team/app:candidate\"" push3.json &&
    test "$(skopeo inspect --tls-verify=false "docker://$REG/team/app:candidate" | jq -r .Digest)" = "$digest"
'

test_expect_success 'the signature is listed under the referrers tag, an index that is not the image' '
    digest=$(cat app.digest) &&
    jq -e ".referrers == \"tag\"" push1.json &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/app:sha256-${digest#sha256:}" >refs.json &&
    jq -e ".mediaType == \"application/vnd.oci.image.index.v1+json\"" refs.json &&
    test "sha256:$(sha256sum <refs.json | cut -c1-64)" != "$digest" &&
    jq -r "[.manifests[].digest] | sort | .[]" refs.json >listed &&
    store_referrers "$digest" >expected &&
    test -s expected && diff expected listed &&
    jq -e "all(.manifests[]; .artifactType == \"application/vnd.dev.kiln.signature.v1\")" refs.json &&
    sig=$(head -n1 expected) &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/app@$sig" >sig.json &&
    jq -e --arg d "$digest" ".subject.digest == \$d" sig.json
'

test_expect_success 'a second signature joins the first under the referrers tag' '
    digest=$(cat app.digest) &&
    kiln keygen --output k2 >/dev/null &&
    kiln sign app:1.0.0 --key k2.key >/dev/null &&
    kiln push app:1.0.0 "$REG/team/app" --insecure --json >push4.json &&
    jq -e ".referrers_pushed == 1" push4.json &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/app:sha256-${digest#sha256:}" >refs2.json &&
    jq -r "[.manifests[].digest] | sort | .[]" refs2.json >listed2 &&
    store_referrers "$digest" >expected2 &&
    test "$(wc -l <expected2)" -eq 2 && diff expected2 listed2
'

test_expect_success 'two pushers adding signatures at once both end up under the referrers tag' '
    digest=$(cat app.digest) &&
    cp -a "$KILN_STORE" store2 &&
    kiln keygen --output k3 >/dev/null && kiln keygen --output k4 >/dev/null &&
    kiln sign app:1.0.0 --key k3.key >/dev/null &&
    kiln sign app:1.0.0 --key k4.key --store store2 >/dev/null &&
    { kiln push app:1.0.0 "$REG/team/app" --insecure >race1.out 2>race1.err || echo failed >race1.failed; } |
        kiln push app:1.0.0 "$REG/team/app" --insecure --store store2 >race2.out 2>race2.err &&
    test ! -e race1.failed &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/app:sha256-${digest#sha256:}" >refs3.json &&
    jq -r "[.manifests[].digest] | sort | .[]" refs3.json >listed3 &&
    { store_referrers "$digest" && KILN_STORE=store2 store_referrers "$digest"; } | sort -u >expected3 &&
    test "$(wc -l <expected3)" -eq 4 && diff expected3 listed3
'

test_expect_success '--jobs 4 pushes another image in parallel' '
    other=$(make_image other 2.0.0 "in parallel") &&
    kiln push other:2.0.0 "$REG/team/other" --insecure --jobs 4 --json >push5.json &&
    jq -e ".blobs_pushed == 3" push5.json &&
    test "$(skopeo inspect --tls-verify=false "docker://$REG/team/other:2.0.0" | jq -r .Digest)" = "$other"
'

test_expect_success '--mount-from: blobs another repository has are mounted, not sent again' '
    digest=$(cat app.digest) &&
    kiln push app:1.0.0 "$REG/team/mounted" --insecure --mount-from team/empty --mount-from team/app --json >push13.json &&
    jq -e --arg d "$digest" ".digest == \$d and .blobs_pushed > 0 and .blobs_mounted == .blobs_pushed and .bytes_pushed == 0" push13.json &&
    test "$(grep -c "POST /v2/team/mounted/blobs/uploads/?mount=sha256%3A[0-9a-f]*&from=team/app " plain.log)" \
        -eq "$(jq .blobs_mounted push13.json)" &&
    ! grep -q "PUT /v2/team/mounted/blobs/uploads/" plain.log &&
    ! grep -q "from=team/empty" plain.log &&
    test "$(skopeo inspect --tls-verify=false "docker://$REG/team/mounted:1.0.0" | jq -r .Digest)" = "$digest" &&
    layer=$(jq -r ".layers[0].digest" "$KILN_STORE/blobs/sha256/${digest#sha256:}") &&
    curl -sf "http://$REG/v2/team/mounted/blobs/$layer" | cmp - "$KILN_STORE/blobs/sha256/${layer#sha256:}" &&
    test_expect_code 2 kiln push app:1.0.0 "$REG/team/mounted" --insecure --mount-from Not/A/Repo &&
    test_grep "mount-from" err
'

test_expect_success 'a multi-output index goes up children first, then the index under its tag' '
    c=$(make_image part 1.0.0 "container") &&
    d=$(make_image part 2.0.0 "disk") &&
    idx=$(make_index multi 1.0.0 "$c" "$d") &&
    kiln sign multi:1.0.0 --key k.key >/dev/null &&
    kiln push multi:1.0.0 "$REG/team/multi" --insecure --jobs 2 --json >push10.json &&
    jq -e --arg d "$idx" ".digest == \$d and .manifests_pushed == 4 and .referrers_pushed == 1" push10.json &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/multi:1.0.0" >multi.json &&
    cmp multi.json index.blob &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/multi@$d" >child.json &&
    cmp child.json "$KILN_STORE/blobs/sha256/${d#sha256:}" &&
    test "$(skopeo inspect --tls-verify=false "docker://$REG/team/multi:1.0.0" | jq -r .Digest)" = "$idx" &&
    idx_put=$(grep -n "PUT /v2/team/multi/manifests/1.0.0" plain.log | head -n1 | cut -d: -f1) &&
    child_put=$(grep -n "PUT /v2/team/multi/manifests/$d" plain.log | head -n1 | cut -d: -f1) &&
    test "$child_put" -lt "$idx_put" &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/multi:sha256-${idx#sha256:}" >mrefs.json &&
    jq -r "[.manifests[].digest] | sort | .[]" mrefs.json >mlisted &&
    store_referrers "$idx" >mexpected && test -s mexpected && diff mexpected mlisted
'

test_expect_success 'a disk artifact whose empty config its referrers share: the referrers first, its tag last' '
    mkdir -p disk && head -c 300000 /dev/urandom >disk/disk.qcow2 &&
    printf "{}" >disk/empty.json &&
    empty=$("$STORE_TOOL" put "$KILN_STORE" disk/empty.json) &&
    blob=$("$STORE_TOOL" put "$KILN_STORE" disk/disk.qcow2) &&
    printf "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"artifactType\":\"application/vnd.dev.kiln.disk.qcow2.v1\",\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"%s\",\"size\":2},\"layers\":[{\"mediaType\":\"application/vnd.dev.kiln.disk.qcow2\",\"digest\":\"%s\",\"size\":300000}]}" \
        "$empty" "$blob" >disk/manifest.json &&
    dm=$("$STORE_TOOL" put "$KILN_STORE" disk/manifest.json) &&
    "$STORE_TOOL" add "$KILN_STORE" vm 1.0.0 "$dm" >/dev/null &&
    kiln sign vm:1.0.0 --key k.key >/dev/null &&
    sig=$(store_referrers "$dm") &&
    test "$(jq -r .config.digest "$KILN_STORE/blobs/sha256/${sig#sha256:}")" = "$empty" &&
    kiln push vm:1.0.0 "$REG/team/vm" --insecure --json >push13.json &&
    jq -e --arg d "$dm" ".digest == \$d and .referrers_pushed == 1" push13.json &&
    test "$(skopeo inspect --raw --tls-verify=false "docker://$REG/team/vm:1.0.0" | sha256sum | cut -c1-64)" = "${dm#sha256:}" &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/team/vm:sha256-${dm#sha256:}" >vrefs.json &&
    test "$(jq -r ".manifests[].digest" vrefs.json)" = "$sig" &&
    sig_put=$(grep -n "PUT /v2/team/vm/manifests/$sig" plain.log | head -n1 | cut -d: -f1) &&
    refs_put=$(grep -n "PUT /v2/team/vm/manifests/sha256-" plain.log | head -n1 | cut -d: -f1) &&
    blob_put=$(grep -n "PUT /v2/team/vm/blobs/uploads/.*digest=sha256%3A${blob#sha256:}" plain.log | head -n1 | cut -d: -f1) &&
    tag_put=$(grep -n "PUT /v2/team/vm/manifests/1.0.0" plain.log | head -n1 | cut -d: -f1) &&
    test "$sig_put" -lt "$refs_put" && test "$refs_put" -lt "$blob_put" && test "$blob_put" -lt "$tag_put"
'

test_expect_success 'a large blob goes up in chunks, in constant memory, and resumes after a dropped connection' '
    proxy=$(free_port) &&
    start_drop_proxy drop "$proxy" "$PORT" 2 &&
    big=$(make_big_image big 1.0.0 96) &&
    layer=$(jq -r ".layers[0].digest" big/manifest.json) &&
    /usr/bin/time -f %M -o rss "$KILN_BIN" push big:1.0.0 "127.0.0.1:$proxy/big" --insecure --json >push6.json 2>err &&
    test "$(tail -n1 rss)" -lt "$(rss_limit 65536)" &&
    test -f drop.dropped &&
    jq -e ".blobs_pushed == 2 and .bytes_pushed > 100663296" push6.json &&
    test "$(grep -c "POST /v2/big/blobs/uploads/" plain.log)" -eq 2 &&
    test "$(grep -c "PATCH /v2/big/blobs/uploads/" plain.log)" -ge 3 &&
    grep -q "GET /v2/big/blobs/uploads/" plain.log &&
    test "$(skopeo inspect --tls-verify=false "docker://$REG/big:1.0.0" | jq -r .Digest)" = "$big" &&
    curl -sf "http://$REG/v2/big/blobs/$layer" | cmp - big/layer
'

test_expect_success 'a connection cut in the middle of a chunk: the upload completes all the same' '
    proxy=$(free_port) &&
    start_drop_proxy cut "$proxy" "$PORT" 2 5000000 &&
    big=$(jq -r .digest push6.json) &&
    layer=$(jq -r ".layers[0].digest" "$KILN_STORE/blobs/sha256/${big#sha256:}") &&
    kiln push big:1.0.0 "127.0.0.1:$proxy/bigcut" --insecure --json >push11.json &&
    test -f cut.dropped &&
    jq -e --arg d "$big" ".digest == \$d and .blobs_pushed == 2" push11.json &&
    curl -sf "http://$REG/v2/bigcut/blobs/$layer" | cmp - big/layer
'

test_expect_success 'a 503 is retried: the push completes' '
    proxy=$(free_port) &&
    start_drop_proxy busy "$proxy" "$PORT" 1 503 "PUT /v2/team/busy/manifests/" &&
    digest=$(cat app.digest) &&
    kiln push app:1.0.0 "127.0.0.1:$proxy/team/busy" --insecure --json >push12.json &&
    test -f busy.dropped &&
    jq -e --arg d "$digest" ".digest == \$d" push12.json &&
    test "$(skopeo inspect --tls-verify=false "docker://$REG/team/busy:1.0.0" | jq -r .Digest)" = "$digest"
'

test_expect_success 'a read-only registry: exit 1 naming registry, repository, request and status' '
    rport=$(free_port) &&
    start_registry ro "$rport" "" "$READONLY_YAML" &&
    test_expect_code 1 kiln push app:1.0.0 "127.0.0.1:$rport/team/app" --insecure &&
    test_grep "registry .127.0.0.1:$rport. repository .team/app.: POST upload of blob .sha256:[0-9a-f]*.: HTTP 405" err
'

test_expect_success 'a malformed DEST is refused (exit 2) and names the problem' '
    test_expect_code 2 kiln push app:1.0.0 no-repository &&
    test_grep "no-repository" err &&
    test_expect_code 2 kiln push app:1.0.0 "$REG/Team/App" --insecure &&
    test_grep "not a valid repository" err &&
    test_expect_code 2 kiln push app:1.0.0 "$REG/team/app@sha256:$(printf %064d 0)" --insecure &&
    test_expect_code 2 kiln push app:1.0.0 "$REG/team/app:bad/tag" --insecure &&
    test_expect_code 2 kiln push app:1.0.0 "$REG/team/app" --insecure --jobs 0 &&
    test_expect_code 2 kiln push app:1.0.0
'

test_expect_success 'an image that is not in the store is an error (exit 1) naming it' '
    test_expect_code 1 kiln push nothere:1.0.0 "$REG/team/nothere" --insecure &&
    test_grep "nothere" err
'

test_expect_success 'an unreachable registry is an error (exit 1) naming it, after bounded retries' '
    dead=$(free_port) &&
    start=$(date +%s) &&
    test_expect_code 1 kiln push app:1.0.0 "127.0.0.1:$dead/team/app" --insecure &&
    test $(( $(date +%s) - start )) -lt 30 &&
    test_grep "registry .127.0.0.1:$dead. repository .team/app." err
'

TPORT=$(free_port)
TREG=127.0.0.1:$TPORT

test_expect_success 'setup: a TLS registry with htpasswd and a docker config.json' '
    start_tls_registry tls "$TPORT" pusher:s3cret &&
    mkdir -p "$HOME/.docker" &&
    printf "{\"auths\":{\"https://%s\":{\"auth\":\"%s\"}}}" "$TREG" "$(printf pusher:s3cret | base64)" \
        >"$HOME/.docker/config.json" &&
    printf "{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}" "$TREG" "$(printf pusher:wrong | base64)" >wrong.json
'

test_expect_success 'TLS: a certificate kiln cannot verify is refused (exit 1)' '
    test_expect_code 1 kiln push app:1.0.0 "$TREG/team/app" &&
    test_grep "registry .$TREG." err
'

test_expect_success 'TLS + htpasswd: push with credentials from ~/.docker/config.json and --ca-file' '
    digest=$(cat app.digest) &&
    kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt --json >push7.json &&
    jq -e --arg d "$digest" ".digest == \$d and .blobs_pushed > 0" push7.json &&
    test "$(skopeo inspect --tls-verify=false --creds pusher:s3cret "docker://$TREG/team/app:1.0.0" | jq -r .Digest)" = "$digest"
'

test_expect_success 'TLS + htpasswd: $DOCKER_CONFIG is read too' '
    mkdir -p dc && cp "$HOME/.docker/config.json" dc/config.json &&
    mv "$HOME/.docker/config.json" "$HOME/.docker/moved.json" &&
    DOCKER_CONFIG=$TEST_DIR/dc kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt --json >push8.json &&
    jq -e ".blobs_pushed == 0" push8.json &&
    test_expect_code 1 kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt &&
    test_grep "UNAUTHORIZED" err &&
    mv "$HOME/.docker/moved.json" "$HOME/.docker/config.json"
'

test_expect_success 'TLS + htpasswd: wrong credentials are refused (exit 1, UNAUTHORIZED)' '
    REGISTRY_AUTH_FILE=$TEST_DIR/wrong.json test_expect_code 1 kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt &&
    test_grep "UNAUTHORIZED" err &&
    test_grep "registry .$TREG. repository .team/app." err
'

# A docker credential helper on PATH: it answers pusher:s3cret for the TLS
# registry, "credentials not found" for any other, and logs what it was asked;
# another one fails.
mkdir -p bin
cat >bin/docker-credential-kilntest <<EOF
#!/bin/sh
[ "\$1" = get ] || exit 3
read -r host
echo "\$host" >>"$TEST_DIR/helper.asked"
if [ "\$host" = "$TREG" ]; then
    printf '{"ServerURL":"%s","Username":"pusher","Secret":"s3cret"}\n' "\$host"
else
    echo "credentials not found in native keychain"
    exit 1
fi
EOF
printf '#!/bin/sh\necho "the keychain is locked" >&2\necho "keychain locked"\nexit 2\n' >bin/docker-credential-broken
printf '#!/bin/sh\necho "credentials not found in native keychain"\nexit 1\n' >bin/docker-credential-empty
chmod +x bin/docker-credential-kilntest bin/docker-credential-broken bin/docker-credential-empty

test_expect_success 'credsStore: the helper gives the credentials (host on its stdin)' '
    printf "{\"credsStore\":\"kilntest\"}" >store.json &&
    PATH=$TEST_DIR/bin:$PATH REGISTRY_AUTH_FILE=$TEST_DIR/store.json kiln push app:1.0.0 "$TREG/team/helped" --ca-file tls.crt --json >push14.json &&
    jq -e ".blobs_pushed > 0" push14.json &&
    test "$(cat helper.asked)" = "$TREG"
'

test_expect_success 'credHelpers[host] wins over auths; a helper with nothing for the host falls back to auths' '
    printf "{\"credHelpers\":{\"%s\":\"kilntest\"},\"auths\":{\"%s\":{\"auth\":\"%s\"}}}" "$TREG" "$TREG" \
        "$(printf pusher:wrong | base64)" >helpers.json &&
    PATH=$TEST_DIR/bin:$PATH REGISTRY_AUTH_FILE=$TEST_DIR/helpers.json kiln push app:1.0.0 "$TREG/team/helped" --ca-file tls.crt >/dev/null &&
    printf "{\"credHelpers\":{\"elsewhere.example\":\"broken\"},\"credsStore\":\"empty\",\"auths\":{\"%s\":{\"auth\":\"%s\"}}}" \
        "$TREG" "$(printf pusher:s3cret | base64)" >fallback.json &&
    PATH=$TEST_DIR/bin:$PATH REGISTRY_AUTH_FILE=$TEST_DIR/fallback.json kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt >/dev/null
'

test_expect_success 'a failing or missing credential helper is exit 1 naming it; a bad helper name exit 2' '
    printf "{\"credsStore\":\"broken\"}" >broken.json &&
    PATH=$TEST_DIR/bin:$PATH REGISTRY_AUTH_FILE=$TEST_DIR/broken.json test_expect_code 1 kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt &&
    test_grep "credential helper .docker-credential-broken. failed (exit 2): keychain locked" err &&
    printf "{\"credsStore\":\"nothere\"}" >missing.json &&
    REGISTRY_AUTH_FILE=$TEST_DIR/missing.json test_expect_code 1 kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt &&
    test_grep "docker-credential-nothere. is not on PATH" err &&
    printf "{\"credsStore\":\"../../bin/sh\"}" >evil.json &&
    REGISTRY_AUTH_FILE=$TEST_DIR/evil.json test_expect_code 2 kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt &&
    test_grep "evil.json.: credential helper .\.\./\.\./bin/sh. is not a valid name" err
'

test_expect_success 'a malformed credentials file is refused (exit 2) naming it' '
    printf "{\"auths\":{\"%s\":{\"auth\":\"not base64!\"}}}" "$TREG" >bad.json &&
    REGISTRY_AUTH_FILE=$TEST_DIR/bad.json test_expect_code 2 kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt &&
    test_grep "bad.json" err
'

# A bearer-token registry: docker-registry trusts tokens signed by token.key
# (its certificate in the token as x5c); a small token service hands out that
# one token, only to pusher:s3cret.
KPORT=$(free_port)
KREG=127.0.0.1:$KPORT
APORT=$(free_port)
BEARER_YAML="auth:
  token:
    realm: http://127.0.0.1:$APORT/token
    service: kiln-test-registry
    issuer: kiln-test-issuer
    rootcertbundle: $TEST_DIR/token.crt"

b64url() { base64 -w0 | tr "+/" "-_" | tr -d "="; }

test_expect_success 'setup: a registry that wants bearer tokens, and its token service' '
    openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -days 2 -subj /CN=kiln-test-issuer 2>/dev/null &&
    x5c=$(openssl x509 -in token.crt -outform DER | base64 -w0) &&
    now=$(date +%s) &&
    header=$(printf "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5c\":[\"%s\"]}" "$x5c" | b64url) &&
    claims=$(printf "{\"iss\":\"kiln-test-issuer\",\"sub\":\"pusher\",\"aud\":\"kiln-test-registry\",\"exp\":%d,\"nbf\":%d,\"iat\":%d,\"jti\":\"1\",\"access\":[{\"type\":\"repository\",\"name\":\"team/app\",\"actions\":[\"pull\",\"push\"]}]}" \
        $((now + 3600)) $((now - 60)) $((now - 60)) | b64url) &&
    sig=$(printf "%s.%s" "$header" "$claims" | openssl dgst -sha256 -sign token.key -binary | b64url) &&
    printf "{\"token\":\"%s.%s.%s\"}" "$header" "$claims" "$sig" >token.json &&
    start_token_service tokensrv "$APORT" token.json pusher:s3cret &&
    start_registry bearer "$KPORT" "$BEARER_YAML" &&
    printf "{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}" "$KREG" "$(printf pusher:s3cret | base64)" >bearer.json &&
    printf "{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}" "$KREG" "$(printf pusher:wrong | base64)" >bearer-wrong.json
'

test_expect_success 'bearer tokens: push fetches a token for the repository and uses it' '
    digest=$(cat app.digest) &&
    REGISTRY_AUTH_FILE=$TEST_DIR/bearer.json kiln push app:1.0.0 "http://$KREG/team/app" --json >push9.json &&
    jq -e --arg d "$digest" ".digest == \$d and .blobs_pushed > 0" push9.json &&
    test_grep "service=kiln-test-registry" tokensrv.requests &&
    test_grep "scope=repository%3Ateam%2Fapp%3Apull%2Cpush" tokensrv.requests &&
    test "$(jq -r .token token.json)" != "" &&
    tok=$(jq -r .token token.json) &&
    test "$(curl -sf -H "Authorization: Bearer $tok" "http://$KREG/v2/team/app/manifests/1.0.0" \
        -H "Accept: application/vnd.oci.image.manifest.v1+json" | sha256sum | cut -c1-64)" = "${digest#sha256:}"
'

test_expect_success 'kiln login against the bearer-token registry: checked, then written; wrong ones refused' '
    : >tokensrv.requests &&
    printf "s3cret\n" | REGISTRY_AUTH_FILE=$TEST_DIR/login.json kiln login "http://$KREG" --username pusher --password-stdin --json >login.out &&
    jq -e ".registry == \"$KREG\" and .username == \"pusher\"" login.out &&
    test_grep "service=kiln-test-registry" tokensrv.requests &&
    ! grep -q "scope=" tokensrv.requests &&
    test "$(jq -r ".auths[\"$KREG\"].auth" login.json | base64 -d)" = pusher:s3cret &&
    test "$(stat -c %a login.json)" = 600 &&
    REGISTRY_AUTH_FILE=$TEST_DIR/login.json kiln push app:1.0.0 "http://$KREG/team/app" --json >push15.json &&
    jq -e ".blobs_skipped > 0" push15.json &&
    cp login.json login.before &&
    printf "wrong\n" | REGISTRY_AUTH_FILE=$TEST_DIR/login.json test_expect_code 1 kiln login "http://$KREG" --username other --password-stdin &&
    test_grep "UNAUTHORIZED" err &&
    cmp login.json login.before
'

test_expect_success 'bearer tokens: refused by the token service is exit 1 naming it' '
    REGISTRY_AUTH_FILE=$TEST_DIR/bearer-wrong.json test_expect_code 1 kiln push app:1.0.0 "http://$KREG/team/app" &&
    test_grep "UNAUTHORIZED: bad credentials (HTTP 401)" err &&
    test_grep "token from .http://127.0.0.1:$APORT/token." err
'

test_done
