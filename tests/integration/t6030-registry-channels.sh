#!/bin/bash
# kiln login checks credentials against a registry (Debian's docker-registry
# over TLS with htpasswd, on 127.0.0.1) before it writes them into the docker
# config.json push and pull read: wrong ones are refused and nothing is
# written; other entries of the file are kept.  Channels on a registry are
# signed statements: kiln promote pushes one, kiln pull of a channel tag
# refuses a forged, expired, rolled-back or misdirected one (exit 3, the
# store unchanged).
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/store-lib.sh"
. "$KILN_SRC/tests/integration/registry-lib.sh"

TPORT=$(free_port)
TREG=127.0.0.1:$TPORT

test_expect_success 'setup: a signed image and a TLS registry with htpasswd' '
    kiln keygen --output k >/dev/null &&
    make_image app 1.0.0 "hello channels" >app.digest &&
    kiln sign app:1.0.0 --key k.key >/dev/null &&
    start_tls_registry tls "$TPORT" ops:s3cret
'

test_expect_success 'login: wrong credentials are refused (exit 1, naming the registry and the code), nothing written' '
    printf wrong | test_expect_code 1 kiln login "$TREG" --username ops --password-stdin --ca-file tls.crt &&
    test_grep "registry .$TREG." err &&
    test_grep "UNAUTHORIZED" err &&
    test ! -e "$HOME/.docker/config.json"
'

test_expect_success 'login: a certificate kiln cannot verify is refused (exit 1)' '
    printf s3cret | test_expect_code 1 kiln login "$TREG" --username ops --password-stdin &&
    test_grep "registry .$TREG." err &&
    test ! -e "$HOME/.docker/config.json"
'

test_expect_success 'login: bad input is a usage error (exit 2)' '
    printf s3cret | test_expect_code 2 kiln login "$TREG/team/app" --username ops --password-stdin &&
    printf s3cret | test_expect_code 2 kiln login "$TREG" --password-stdin &&
    printf "" | test_expect_code 2 kiln login "$TREG" --username ops --password-stdin --ca-file tls.crt &&
    test_grep "password is empty" err
'

test_expect_success 'login: right credentials go into ~/.docker/config.json (0600), then push and pull use them' '
    mkdir -p "$HOME/.docker" &&
    printf "{\"auths\":{\"other.example:5000\":{\"auth\":\"%s\"},\"https://%s/v1/\":{\"auth\":\"%s\"}},\"credsStore\":\"\"}" \
        "$(printf a:b | base64)" "$TREG" "$(printf ops:old | base64)" >"$HOME/.docker/config.json" &&
    printf "s3cret\n" | kiln login "$TREG" --username ops --password-stdin --ca-file tls.crt >out &&
    test_grep "logged in to $TREG as ops" out &&
    test "$(stat -c %a "$HOME/.docker/config.json")" = 600 &&
    jq -e --arg h "$TREG" --arg a "$(printf ops:s3cret | base64)" \
        ".auths[\$h].auth == \$a and (.auths | length) == 2 and .auths[\"other.example:5000\"].auth != null and has(\"credsStore\")" \
        "$HOME/.docker/config.json" &&
    kiln push app:1.0.0 "$TREG/team/app" --ca-file tls.crt >/dev/null &&
    KILN_STORE=$TEST_DIR/pulled kiln pull "$TREG/team/app:1.0.0" --key k.pub --ca-file tls.crt --json >pull.json &&
    jq -e --arg d "$(cat app.digest)" ".digest == \$d" pull.json
'

test_expect_success 'login: $DOCKER_CONFIG and $REGISTRY_AUTH_FILE name the file written' '
    mkdir dc &&
    printf s3cret | DOCKER_CONFIG=$TEST_DIR/dc kiln login "https://$TREG" --username ops --password-stdin --ca-file tls.crt --json >dc.json &&
    jq -e --arg f "$TEST_DIR/dc/config.json" ".file == \$f and .username == \"ops\"" dc.json &&
    jq -e --arg h "$TREG" ".auths[\$h].auth" dc/config.json &&
    printf s3cret | REGISTRY_AUTH_FILE=$TEST_DIR/auth.json kiln login "$TREG" --username ops --password-stdin --ca-file tls.crt >/dev/null &&
    test "$(stat -c %a auth.json)" = 600 &&
    printf wrong | REGISTRY_AUTH_FILE=$TEST_DIR/auth.json test_expect_code 1 kiln login "$TREG" --username ops --password-stdin --ca-file tls.crt &&
    jq -e --arg h "$TREG" --arg a "$(printf ops:s3cret | base64)" ".auths[\$h].auth == \$a" auth.json
'

PORT=$(free_port)
REG=127.0.0.1:$PORT

# pull_refused STORE PATTERN SRC [OPTION...]: kiln pull into ./STORE exits 3
# with PATTERN in its error and leaves STORE exactly as it was.
pull_refused() {
    _store=$TEST_DIR/$1 && _pattern=$2 && shift 2 &&
    _before=$(KILN_STORE=$_store store_digest) &&
    KILN_STORE=$_store test_expect_code 3 kiln pull "$@" &&
    test_grep "$_pattern" err &&
    test "$(KILN_STORE=$_store store_digest)" = "$_before"
}

manifest_digest() {
    curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$REG/v2/team/app/manifests/$1" |
        sha256sum | cut -c1-64
}

test_expect_success 'setup: two signed versions pushed to a plain-HTTP registry' '
    kiln keygen --output other >/dev/null &&
    make_image app 1.1.0 "hello channels, again" >app11.digest &&
    kiln sign app:1.1.0 --key k.key >/dev/null &&
    start_registry plain "$PORT" &&
    kiln push app:1.0.0 "$REG/team/app" --insecure >/dev/null &&
    kiln push app:1.1.0 "$REG/team/app" --insecure >/dev/null
'

test_expect_success 'promote on a registry: a signed statement as a referrer, and the channel tag; nothing uploaded again' '
    d11=$(cat app11.digest) &&
    kiln promote "$REG/team/app:1.1.0" --channel stable --key k.key --insecure --json >promote1.json &&
    jq -e --arg d "$d11" ".digest == \$d and .channel == \"stable\" and .name == \"app\" and .version == \"1.1.0\"" promote1.json &&
    test "sha256:$(manifest_digest stable)" = "$d11" &&
    stmt=$(jq -r .statement promote1.json) &&
    curl -sf -H "Accept: application/vnd.oci.image.index.v1+json" "http://$REG/v2/team/app/manifests/sha256-${d11#sha256:}" >refs.json &&
    jq -e --arg s "$stmt" "[.manifests[] | select(.digest == \$s and .artifactType == \"application/vnd.dev.kiln.channel.v1\")] | length == 1" refs.json &&
    jq -e "[.manifests[] | select(.artifactType == \"application/vnd.dev.kiln.signature.v1\")] | length == 1" refs.json
'

test_expect_success 'pull of a channel tag: the statement checked, the image stored with its channel' '
    d11=$(cat app11.digest) &&
    KILN_STORE=$TEST_DIR/fleet kiln pull "$REG/team/app:stable" --key k.pub --insecure --json >pull-stable.json &&
    jq -e --arg d "$d11" ".digest == \$d and .version == \"1.1.0\"" pull-stable.json &&
    kiln list app --store fleet --json >list.json &&
    jq -e ".images[0].channels | index(\"stable\")" list.json &&
    kiln verify app:stable --key k.pub --store fleet >/dev/null
'

test_expect_success 'a statement signed by an untrusted key is refused (exit 3), the store unchanged' '
    kiln promote "$REG/team/app:1.1.0" --channel beta --key other.key --insecure >/dev/null &&
    pull_refused fleet "unknown key" "$REG/team/app:beta" --key k.pub --insecure &&
    test_grep "channel .beta." err
'

test_expect_success 'an expired statement is refused (exit 3, freeze), the store unchanged' '
    kiln promote "$REG/team/app:1.1.0" --channel edge --key k.key --insecure --expires 1s >/dev/null &&
    sleep 2 &&
    pull_refused fleet "expired" "$REG/team/app:edge" --key k.pub --insecure
'

test_expect_success 'a channel tag moved by hand onto another signed image is refused (exit 3): no statement names it' '
    d10=$(cat app.digest) &&
    skopeo copy --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
        "docker://$REG/team/app:1.0.0" "docker://$REG/team/app:stable" >/dev/null &&
    test "sha256:$(manifest_digest stable)" = "$d10" &&
    pull_refused fleet "no channel statement for .stable. names .$d10." "$REG/team/app:stable" --key k.pub --insecure --allow-downgrade
'

test_expect_success 'an older statement served again is refused (exit 3, rollback), the store unchanged' '
    sleep 1 &&
    kiln promote "$REG/team/app:1.0.0" --channel stable --key k.key --insecure >/dev/null &&
    KILN_STORE=$TEST_DIR/fleet kiln pull "$REG/team/app:stable" --key k.pub --insecure --allow-downgrade --json >pull-back.json &&
    jq -e ".version == \"1.0.0\"" pull-back.json &&
    skopeo copy --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
        "docker://$REG/team/app:1.1.0" "docker://$REG/team/app:stable" >/dev/null &&
    pull_refused fleet "the store accepted a newer one" "$REG/team/app:stable" --key k.pub --insecure
'

test_expect_success 'promoted forward again: accepted; pulled once more: the store unchanged' '
    sleep 1 &&
    kiln promote "$REG/team/app:1.1.0" --channel stable --key k.key --insecure >/dev/null &&
    KILN_STORE=$TEST_DIR/fleet kiln pull "$REG/team/app:stable" --key k.pub --insecure --json >pull-fwd.json &&
    jq -e ".version == \"1.1.0\"" pull-fwd.json &&
    before=$(KILN_STORE=$TEST_DIR/fleet store_digest) &&
    KILN_STORE=$TEST_DIR/fleet kiln pull "$REG/team/app:stable" --key k.pub --insecure >/dev/null &&
    test "$(KILN_STORE=$TEST_DIR/fleet store_digest)" = "$before"
'

test_expect_success 'promote: bad input is a usage error (exit 2)' '
    test_expect_code 2 kiln promote "$REG/team/app:1.1.0" --channel stable --insecure &&
    test_grep "give --key" err &&
    test_expect_code 2 kiln promote "$REG/team/app:1.1.0" --channel stable --key k.key --insecure --expires soon &&
    test_expect_code 2 kiln promote "$REG/team/app:stable" --channel beta --key k.key --insecure &&
    test_expect_code 2 kiln promote app:1.1.0 --channel stable --key k.key
'

test_expect_success 'promote in the local store works as before' '
    kiln promote app:1.0.0 --channel stable --json >local.json &&
    jq -e ".version == \"1.0.0\" and .channel == \"stable\"" local.json
'

test_expect_success 'revoke in the store: kiln verify refuses the image (exit 3), another version still verifies' '
    kiln verify app:1.0.0 --key k.pub >/dev/null &&
    kiln revoke app:1.0.0 --key k.key --json >revoke1.json &&
    jq -e --arg d "$(cat app.digest)" ".digest == \$d" revoke1.json &&
    test_expect_code 3 kiln verify app:1.0.0 --key k.pub &&
    test_grep "is revoked: revocation .$(jq -r .revocation revoke1.json). signed by trusted key" err &&
    kiln verify app:1.1.0 --key k.pub >/dev/null
'

test_expect_success 'a revocation by an untrusted key is reported, not honoured' '
    kiln revoke app:1.1.0 --key other.key >/dev/null &&
    kiln verify app:1.1.0 --key k.pub --json >verify-untrusted.json &&
    jq -e ".verified == true and (.revocations | length) == 1 and .revocations[0].trusted == false" verify-untrusted.json &&
    jq -e ".revocations[0].error | test(\"unknown key\")" verify-untrusted.json
'

test_expect_success 'revoke on a registry: kiln pull refuses the image (exit 3), the store unchanged' '
    kiln revoke "$REG/team/app:1.1.0" --key k.key --insecure --json >revoke2.json &&
    jq -e --arg d "$(cat app11.digest)" ".digest == \$d" revoke2.json &&
    pull_refused fleet "is revoked" "$REG/team/app:1.1.0" --key k.pub --insecure &&
    test_grep "signed by trusted key" err
'

test_expect_success 'revoke: bad input is a usage error (exit 2)' '
    test_expect_code 2 kiln revoke app:1.0.0 &&
    test_expect_code 2 kiln revoke app:stable --key k.key &&
    test_expect_code 2 kiln revoke app:1.0.0 --key k.key --insecure
'

test_done
