#!/bin/bash
# Keys: keygen writes a usable pair safely; bad keys are refused with exit 2.
. "$(dirname "$0")/lib.sh"
D=$KILN_SRC/tests/data/sign
. "$D/make-image.sh"

test_expect_success 'keygen writes PREFIX.key (0600, PKCS#8) and PREFIX.pub and prints the key ID' '
    kiln keygen --output k >out &&
    test "$(stat -c %a k.key)" = 600 &&
    test_grep -q "BEGIN PRIVATE KEY" k.key &&
    test_grep -q "BEGIN PUBLIC KEY" k.pub &&
    id=sha256:$(openssl pkey -pubin -in k.pub -outform DER | sha256sum | cut -d" " -f1) &&
    test "$(cat out)" = "$id" &&
    openssl pkey -in k.key -noout -text | test_grep -q "NIST CURVE: P-256"
'

test_expect_success 'keygen --algorithm ed25519 makes an Ed25519 pair' '
    kiln keygen --output e --algorithm ed25519 --json >out &&
    jq -e ".algorithm == \"ed25519\"" out &&
    openssl pkey -pubin -in e.pub -noout -text | test_grep -q "^ED25519"
'

test_expect_success 'keygen --passphrase-env encrypts the private key' '
    P="correct horse" kiln keygen --output enc --passphrase-env P >/dev/null &&
    test_grep -q "BEGIN ENCRYPTED PRIVATE KEY" enc.key &&
    openssl pkey -in enc.key -passin pass:"correct horse" -noout &&
    ! openssl pkey -in enc.key -passin pass:wrong -noout 2>/dev/null
'

test_expect_success 'keygen never overwrites an existing key' '
    before=$(sha256sum k.key) &&
    test_expect_code 1 kiln keygen --output k &&
    test_grep "cannot create" err &&
    test "$(sha256sum k.key)" = "$before"
'

test_expect_success 'keygen refuses an unsupported algorithm (exit 2)' '
    test_expect_code 2 kiln keygen --output r --algorithm rsa &&
    test_grep "unsupported algorithm" err && ! test -e r.key
'

test_expect_success 'keygen never prints private key material' '
    kiln keygen --output q >out 2>err2 &&
    ! grep -q "PRIVATE" out err2
'

make_image web 1.0.0 >/dev/null

test_expect_success 'sign refuses a private key readable by others (exit 2)' '
    chmod 644 k.key &&
    test_expect_code 2 kiln sign web:1.0.0 --key k.key &&
    test_grep "chmod 600" err &&
    chmod 600 k.key
'

test_expect_success 'sign with an encrypted key and a wrong passphrase exits 2' '
    P=wrong test_expect_code 2 kiln sign web:1.0.0 --key enc.key --passphrase-env P &&
    test_grep "wrong passphrase" err
'

test_expect_success 'sign with an encrypted key and no passphrase exits 2' '
    test_expect_code 2 kiln sign web:1.0.0 --key enc.key &&
    test_grep "is encrypted" err
'

test_expect_success 'sign with the right passphrase works' '
    P="correct horse" kiln sign web:1.0.0 --key enc.key --passphrase-env P >out &&
    kiln verify web:1.0.0 --key enc.pub
'

test_expect_success 'KILN_SIGNING_KEY and KILN_SIGNING_PASSPHRASE sign from the environment (CI)' '
    KILN_SIGNING_KEY="$(cat enc.key)" KILN_SIGNING_PASSPHRASE="correct horse" kiln sign web:1.0.0 --json >out &&
    id=sha256:$(openssl pkey -pubin -in enc.pub -outform DER | sha256sum | cut -d" " -f1) &&
    jq -e --arg id "$id" ".keyId == \$id" out
'

for f in ecdsa.key:"holds a private key" cert.pem:"holds a certificate" README:"holds no PEM public key" \
         p384.pub:"unsupported curve" secp256k1.pub:"unsupported curve" rsa.pub:"unsupported algorithm"; do
    file=${f%%:*} msg=${f#*:}
    test_expect_success "verify refuses $file as a public key (exit 2)" "
        test_expect_code 2 kiln verify web:1.0.0 --key \"$D/$file\" &&
        test_grep \"$msg\" err
    "
done

test_expect_success 'a private key given as --key to verify is never echoed' '
    test_expect_code 2 kiln verify web:1.0.0 --key "$D/ecdsa.key" &&
    ! grep -q "BEGIN\|MHcC" err out
'

test_expect_success 'usage errors exit 2 and say what is missing' '
    test_expect_code 2 kiln keygen && test_grep "output PREFIX is required" err &&
    test_expect_code 2 kiln verify web:1.0.0 && test_grep "at least one trusted public key" err &&
    test_expect_code 2 kiln sign && test_grep "one image reference" err &&
    test_expect_code 2 kiln verify web:1.0.0 --key k.pub --store s --layout l &&
    test_grep "exclude each other" err &&
    test_expect_code 2 kiln verify web:1.0.0 --key k.pub --bogus
'

test_expect_success 'verify of an image that does not exist fails with exit 1, not 3' '
    test_expect_code 1 kiln verify nosuch:1.0.0 --key k.pub &&
    test_grep "nosuch" err
'

test_done
