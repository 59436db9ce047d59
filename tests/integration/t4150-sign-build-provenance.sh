#!/bin/bash
# kiln build --sign: the image is signed and carries signed SLSA provenance
# that kiln verify, kiln inspect --provenance and plain openssl all accept.
. "$(dirname "$0")/lib.sh"
RECIPE=$KILN_SRC/recipes/examples/busybox.yaml
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

kiln keygen --output k >/dev/null
P="correct horse" kiln keygen --output enc --passphrase-env P >/dev/null

test_expect_success 'a build with an encrypted key and a wrong passphrase exits 2 and leaves no store' '
    KILN_SIGNING_PASSPHRASE=wrong test_expect_code 2 kiln build "$RECIPE" --context /bin --sign enc.key &&
    test_grep "wrong passphrase" err &&
    test "$(store_digest)" = "no store"
'

test_expect_success 'kiln build --sign signs the image it stores' '
    kiln build "$RECIPE" --context /bin --sign k.key --json >build.json &&
    kiln verify busybox --key k.pub --json >report.json &&
    jq -e ".verified and (.signers | length) == 1" report.json
'

test_expect_success 'the report summarises signed provenance from the build record' '
    jq -e ".provenance.signed and .provenance.verified" report.json &&
    jq -e --arg p "$RECIPE" ".provenance.recipe.path == \$p" report.json &&
    jq -e ".provenance.builder.version.kiln | test(\"^[0-9]\")" report.json &&
    jq -e ".provenance.startedOn and .provenance.finishedOn" report.json
'

test_expect_success 'kiln inspect --provenance shows the in-toto statement for this image' '
    kiln inspect busybox --provenance --json >inspect.json &&
    D=$(jq -r .digest report.json) &&
    jq -e --arg h "${D#sha256:}" ".provenance[0].statement.subject[0].digest.sha256 == \$h" inspect.json &&
    jq -e ".provenance[0].statement._type == \"https://in-toto.io/Statement/v1\"" inspect.json &&
    jq -e ".provenance[0].statement.predicateType == \"https://slsa.dev/provenance/v1\"" inspect.json &&
    jq -e ".provenance[0].signed" inspect.json &&
    kiln inspect busybox --provenance >inspect.txt &&
    test_grep "signed by sha256:" inspect.txt
'

test_expect_success 'the provenance signature verifies with openssl alone' '
    D=$(jq -r .digest report.json) &&
    A=$(jq -r --arg d "$D" ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.provenance.v1\" and .annotations[\"dev.kiln.subject\"] == \$d) | .digest" "$KILN_STORE/index.json") &&
    M=$(blob "$A") &&
    openssl dgst -sha256 -verify k.pub -signature "$(blob "$(jq -r ".layers[1].digest" "$M")")" \
        "$(blob "$(jq -r ".layers[0].digest" "$M")")" &&
    jq -e --arg h "${D#sha256:}" ".subject[0].digest.sha256 == \$h" "$(blob "$(jq -r ".layers[0].digest" "$M")")"
'

test_expect_success 'the README provenance commands verify it with openssl, as written' '
    sed -n "/^The provenance of a signed build/,/^\`\`\`\$/p" "$KILN_SRC/README.md" |
        sed -n "/^\`\`\`sh/,/^\`\`\`\$/p" | sed "1d;\$d" >readme-provenance.sh &&
    test_grep -q "openssl dgst" readme-provenance.sh &&
    cp k.pub "$KILN_STORE/release.pub" &&
    (cd "$KILN_STORE" && IMAGE=$(jq -r .digest "$TEST_DIR/report.json") bash -e "$TEST_DIR/readme-provenance.sh") >out 2>&1 &&
    test_grep "Verified OK" out &&
    test_grep "busybox:1.0.0" out &&
    rm "$KILN_STORE/release.pub"
'

test_expect_success 'the same bytes built again as another version are not signed as that version' '
    kiln build "$RECIPE" --context /bin --version 9.9.9 >/dev/null &&
    test "$(kiln inspect busybox:9.9.9 --json | jq -r .digest)" = "$(jq -r .digest report.json)" &&
    test_expect_code 3 kiln verify busybox:9.9.9 --key k.pub &&
    test_grep "names version .1.0.0., not .9.9.9." err &&
    kiln verify busybox:1.0.0 --key k.pub --json >again.json &&
    jq -e ".provenance.subject.name == \"busybox:1.0.0\" and .provenance.verified" again.json &&
    kiln inspect busybox:9.9.9 --provenance --json >i.json &&
    jq -e "[.provenance[] | select(.statement.subject[0].name == \"busybox:9.9.9\")][0].signed == false" i.json
'

test_expect_success 'kiln sign adds a signature to an unsigned build afterwards' '
    kiln sign busybox:9.9.9 --key k.key >/dev/null &&
    kiln verify busybox:9.9.9 --key k.pub
'

test_expect_success 'gc keeps signatures and provenance' '
    kiln gc >/dev/null &&
    kiln verify busybox:1.0.0 --key k.pub --json >after.json &&
    jq -e ".verified and .provenance.verified" after.json
'

test_done
