#!/bin/bash
# kiln login checks credentials against a registry (Debian's docker-registry
# over TLS with htpasswd, on 127.0.0.1) before it writes them into the docker
# config.json push and pull read: wrong ones are refused and nothing is
# written; other entries of the file are kept.
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

test_done
