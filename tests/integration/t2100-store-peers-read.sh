#!/bin/bash
# The store is a plain OCI image layout: skopeo and umoci read what kiln
# stored, by NAME:VERSION and by NAME:CHANNEL, with signatures listed beside.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/store-lib.sh"
TOOL=$STORE_TOOL

# make_signature SUBJECT: an OCI 1.1 artifact manifest that refers to SUBJECT.
make_signature() {
    printf 'not really a signature' >sig.bin &&
    printf '{}' >empty.json &&
    sig=$("$TOOL" put "$KILN_STORE" sig.bin) && empty=$("$TOOL" put "$KILN_STORE" empty.json) &&
    subject_size=$(stat -c %s "$KILN_STORE/blobs/sha256/${1#sha256:}") &&
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.kiln.signature.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.dev.kiln.signature.raw.v1","digest":"%s","size":%d}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}}' \
        "$empty" "$sig" "$(stat -c %s sig.bin)" "$1" "$subject_size" >sigm.json &&
    sigm=$("$TOOL" put "$KILN_STORE" sigm.json) &&
    "$TOOL" refer "$KILN_STORE" "$1" "$sigm" &&
    echo "$sigm"
}

test_expect_success 'setup: two versions of web, one on stable, one signed' '
    one=$(make_image web 1.0.0 "version one") &&
    two=$(make_image web 1.1.0 "version two") &&
    echo "$one" >one.digest && echo "$two" >two.digest &&
    kiln promote web:1.0.0 --channel stable &&
    make_signature "$one" >sig.digest
'

test_expect_success 'skopeo inspects NAME:VERSION from the store' '
    skopeo inspect oci:"$KILN_STORE":web:1.1.0 >out &&
    jq -e --arg d "$(cat two.digest)" ".Digest == \$d" out &&
    jq -e ".Architecture == \"amd64\" and .Os == \"linux\"" out
'

test_expect_success 'skopeo resolves NAME:CHANNEL to the promoted version' '
    skopeo inspect oci:"$KILN_STORE":web:stable >out &&
    jq -e --arg d "$(cat one.digest)" ".Digest == \$d" out
'

test_expect_success 'skopeo copies an image out of the store, checking every blob' '
    skopeo copy oci:"$KILN_STORE":web:1.0.0 dir:copied >/dev/null &&
    test -s copied/manifest.json
'

test_expect_success 'umoci lists every reference in the store' '
    umoci ls --layout "$KILN_STORE" >out &&
    test_grep -x "web:1.0.0" out &&
    test_grep -x "web:1.1.0" out &&
    test_grep -x "web:stable" out
'

test_expect_success 'umoci unpacks a stored image' '
    umoci unpack --image "$KILN_STORE":web:1.1.0 bundle >/dev/null &&
    test_grep -x "version two" bundle/rootfs/etc/hello
'

test_expect_success 'the signature is listed with its subject and no ref name' '
    jq -e --arg s "$(cat one.digest)" --arg d "$(cat sig.digest)" \
        "[.manifests[] | select(.digest == \$d)] | length == 1 and
         (.[0].annotations[\"dev.kiln.subject\"] == \$s) and
         (.[0].annotations[\"org.opencontainers.image.ref.name\"] == null)" "$KILN_STORE/index.json"
'

test_expect_success 'the signature manifest is intact and names its subject' '
    sigfile="$KILN_STORE/blobs/sha256/$(cut -c8- sig.digest)" &&
    test "sha256:$(sha256sum "$sigfile" | cut -c1-64)" = "$(cat sig.digest)" &&
    jq -e --arg s "$(cat one.digest)" ".subject.digest == \$s" "$sigfile"
'

test_expect_success 'kiln inspect shows the signature as a referrer' '
    kiln inspect web:1.0.0 --json >out &&
    jq -e --arg d "$(cat sig.digest)" "[.referrers[].digest] == [\$d]" out
'

test_expect_success 'the index.json kiln writes is canonical JSON' '
    jq -cS . "$KILN_STORE/index.json" | cmp - <(cat "$KILN_STORE/index.json"; echo)
'

test_done
