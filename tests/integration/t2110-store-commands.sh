#!/bin/bash
# kiln list, inspect, promote, rm and gc on a store; immutability of
# versions; clear errors and exit codes for bad references and bad stores.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/store-lib.sh"
TOOL=$STORE_TOOL

test_expect_success 'kiln list on a store that does not exist yet lists nothing' '
    kiln list >out &&
    test ! -s out &&
    kiln list --json >out &&
    jq -e ".images == []" out
'

test_expect_success 'setup: three versions of web and one of api' '
    make_image web 1.0.0 one >web1 &&
    make_image web 1.1.0 two >web2 &&
    make_image web 2.0.0-rc.1 three >web3 &&
    make_image api 0.1.0 api >api1
'

test_expect_success 'kiln list shows every image sorted by name and semver' '
    kiln list >out &&
    awk "NR > 1 { print \$1 \":\" \$2 }" out >refs &&
    printf "api:0.1.0\nweb:1.0.0\nweb:1.1.0\nweb:2.0.0-rc.1\n" | cmp - refs
'

test_expect_success 'kiln list NAME --json lists that name only' '
    kiln list web --json >out &&
    jq -e "[.images[].version] == [\"1.0.0\",\"1.1.0\",\"2.0.0-rc.1\"]" out &&
    jq -e --arg d "$(cat web1)" ".images[0].digest == \$d" out
'

test_expect_success 'kiln list refuses an invalid name with exit 2' '
    test_expect_code 2 kiln list "../x" &&
    test_grep "image name" err
'

test_expect_success 'kiln inspect NAME shows the highest version' '
    kiln inspect web --json >out &&
    jq -e ".version == \"2.0.0-rc.1\"" out
'

test_expect_success 'kiln inspect shows manifest, config, layers, size and annotations' '
    kiln inspect web:1.0.0 --json >out &&
    jq -e --arg d "$(cat web1)" ".digest == \$d and .ref == \"web:1.0.0\"" out &&
    jq -e ".config.architecture == \"amd64\" and .config.Entrypoint == [\"/bin/sh\"]" out &&
    jq -e ".layers | length == 1" out &&
    jq -e ".blobs == 4 and .totalSize > 0" out &&
    jq -e ".annotations[\"dev.kiln.version\"] == \"1.0.0\"" out &&
    jq -e ".manifest.schemaVersion == 2" out &&
    kiln inspect web:1.0.0 >text &&
    test_grep "^web:1.0.0" text &&
    test_grep "platform: *linux/amd64" text
'

test_expect_success 'kiln inspect --files prints the file manifest' '
    kiln inspect web:1.1.0 --files >out &&
    test_grep "/etc/hello" out &&
    test_grep "^dir .*/etc$" out &&
    kiln inspect web:1.1.0 --files --json >out &&
    jq -e "[.files[].path] == [\"/etc\",\"/etc/hello\"]" out
'

test_expect_success 'kiln inspect of a missing image exits 1 naming it' '
    test_expect_code 1 kiln inspect web:9.9.9 &&
    test_grep "image .web:9.9.9. not found" err
'

test_expect_success 'kiln inspect of a malformed reference exits 2' '
    test_expect_code 2 kiln inspect "web:1.0" &&
    test_grep "not a semantic version" err &&
    test_expect_code 2 kiln inspect "web@sha256:../../etc/passwd" &&
    test_grep "not a digest" err
'

test_expect_success 'a stored version is immutable' '
    other=$(cat web2) &&
    test_expect_code 1 "$TOOL" add "$KILN_STORE" web 1.0.0 "$other" &&
    test_grep "image .web:1.0.0. exists with digest $(cat web1); use --force to replace it" err &&
    kiln inspect web:1.0.0 --json >out &&
    jq -e --arg d "$(cat web1)" ".digest == \$d" out
'

test_expect_success 'kiln promote moves a channel and reports the previous version' '
    kiln promote web:1.0.0 --channel stable --json >out &&
    jq -e ".previous == null and .version == \"1.0.0\"" out &&
    kiln promote web:1.1.0 --channel stable --json >out &&
    jq -e ".previous == \"1.0.0\" and .version == \"1.1.0\"" out &&
    kiln inspect web:stable --json >out &&
    jq -e ".version == \"1.1.0\" and .channels == [\"stable\"]" out
'

test_expect_success 'rolling back is promoting the old version again' '
    kiln promote web:1.0.0 --channel stable >out &&
    test_grep "promoted web:1.0.0 to web:stable (was 1.1.0)" out &&
    kiln inspect web:stable --json >out &&
    jq -e --arg d "$(cat web1)" ".digest == \$d" out &&
    kiln list web --json >out &&
    jq -e ".images[0].channels == [\"stable\"] and .images[1].channels == []" out
'

test_expect_success 'kiln promote refuses a missing version, a channel named like a version, a bare name' '
    test_expect_code 1 kiln promote web:3.0.0 --channel stable &&
    test_grep "web:3.0.0" err &&
    test_expect_code 2 kiln promote web:1.0.0 --channel 2.0.0 &&
    test_grep "a version is not a channel" err &&
    test_expect_code 2 kiln promote web --channel stable &&
    test_expect_code 2 kiln promote web:1.0.0
'

test_expect_success 'kiln rm refuses a version a channel points at' '
    test_expect_code 1 kiln rm web:1.0.0 &&
    test_grep "channel .stable." err &&
    kiln inspect web:1.0.0 >/dev/null
'

test_expect_success 'kiln rm of a channel removes only the pointer' '
    kiln rm web:stable &&
    test_expect_code 1 kiln inspect web:stable &&
    kiln inspect web:1.0.0 >/dev/null
'

test_expect_success 'kiln rm --force removes a version and its channels' '
    kiln promote web:1.1.0 --channel beta &&
    kiln rm --force web:1.1.0 &&
    test_expect_code 1 kiln inspect web:1.1.0 &&
    test_expect_code 1 kiln inspect web:beta
'

test_expect_success 'kiln rm of a bare name is refused' '
    test_expect_code 2 kiln rm web
'

test_expect_success 'kiln gc frees the removed image blobs and keeps the rest' '
    layer2=$(jq -r ".layers[0].digest" "$KILN_STORE/blobs/sha256/$(cut -c8- web2)") &&
    test -f "$KILN_STORE/blobs/sha256/${layer2#sha256:}" &&
    kiln gc --json >out &&
    jq -e ".blobsRemoved == 3" out && # manifest, config, layer; the file manifest is shared
    test ! -e "$KILN_STORE/blobs/sha256/${layer2#sha256:}" &&
    test ! -e "$KILN_STORE/blobs/sha256/$(cut -c8- web2)" &&
    "$TOOL" verify "$KILN_STORE" &&
    skopeo inspect oci:"$KILN_STORE":web:1.0.0 >/dev/null &&
    kiln gc --json >out &&
    jq -e ".blobsRemoved == 0" out
'

test_expect_success 'a corrupted blob is reported as a verification failure (exit 3)' '
    cfg=$(jq -r ".config.digest" "$KILN_STORE/blobs/sha256/$(cut -c8- api1)") &&
    f="$KILN_STORE/blobs/sha256/${cfg#sha256:}" &&
    cp "$f" saved && chmod u+w "$f" && sed -i "s/amd64/arm64/" "$f" &&
    test_expect_code 3 kiln inspect api:0.1.0 &&
    test_grep "$cfg" err &&
    test_grep "corrupt" err &&
    cp saved "$f"
'

test_expect_success 'a corrupt index.json is refused with a clear error, and gc deletes nothing' '
    cp "$KILN_STORE/index.json" index.saved &&
    head -c 40 index.saved >"$KILN_STORE/index.json" &&
    before=$(ls "$KILN_STORE/blobs/sha256" | wc -l) &&
    test_expect_code 2 kiln list &&
    test_grep "index.json is not valid JSON" err &&
    test_expect_code 2 kiln gc &&
    test "$(ls "$KILN_STORE/blobs/sha256" | wc -l)" = "$before" &&
    cp index.saved "$KILN_STORE/index.json" &&
    kiln list >/dev/null
'

test_expect_success 'a directory that is not a store is refused' '
    mkdir -p notastore/sub &&
    test_expect_code 2 kiln list --store notastore &&
    test_grep "not an OCI image layout" err
'

test_done
