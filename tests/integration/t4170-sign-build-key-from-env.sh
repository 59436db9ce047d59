#!/bin/bash
# CI signs with a key held in the environment: `kiln build --sign -` reads the
# PEM from $KILN_SIGNING_KEY (and its passphrase from $KILN_SIGNING_PASSPHRASE),
# and the result verifies with the public key.
. "$(dirname "$0")/lib.sh"

mkdir -p root/bin && cp /bin/busybox root/bin/busybox && tar -C root -cf base.tar .
cat >r.yaml <<'YAML'
name: envsigned
version: 1.0.0
base:
  tarball:
    path: base.tar
YAML

test_expect_success 'an encrypted key from the environment signs a build' '
    KILN_PASS=s3cret kiln keygen --output ci --passphrase-env KILN_PASS >/dev/null &&
    KILN_SIGNING_KEY="$(cat ci.key)" KILN_SIGNING_PASSPHRASE=s3cret kiln build r.yaml --sign - >out &&
    ref=$(tail -n1 out | sed "s/@.*//") &&
    kiln verify "$ref" --key ci.pub >verify.out &&
    kiln inspect "$ref" --provenance --json >prov.json &&
    jq -e ".provenance[0].signed == true" prov.json >/dev/null
'

test_expect_success 'a wrong passphrase in the environment is refused and stores nothing' '
    before=$(store_digest) &&
    sed -i "s/1.0.0/1.0.1/" r.yaml &&
    KILN_SIGNING_KEY="$(cat ci.key)" KILN_SIGNING_PASSPHRASE=wrong test_expect_code 2 kiln build r.yaml --sign - &&
    test_grep -i "passphrase" err &&
    test "$before" = "$(store_digest)"
'

test_expect_success '--sign - with no key in the environment is a clear error' '
    sed -i "s/1.0.1/1.0.2/" r.yaml &&
    before=$(store_digest) &&
    rc=0 &&
    { env -u KILN_SIGNING_KEY "$KILN_BIN" build r.yaml --sign - >out 2>err || rc=$?; } &&
    test "$rc" -ne 0 && test "$rc" -lt 128 &&
    test_grep "KILN_SIGNING_KEY" err &&
    test "$before" = "$(store_digest)"
'

test_done
