#!/bin/bash
# Attacks kiln verify must refuse: exit 3 with a message naming the failure.
. "$(dirname "$0")/lib.sh"
D=$KILN_SRC/tests/data/sign
. "$D/make-image.sh"
cp "$D/ecdsa.key" trusted.key && cp "$D/ecdsa.pub" trusted.pub
cp "$D/other.key" untrusted.key && cp "$D/other.pub" untrusted.pub
chmod 600 trusted.key untrusted.key
KEYID=$(cat "$D/ecdsa.keyid")

A=$(make_image web 1.0.0 "version one")
B=$(make_image web 1.1.0 "version two")
# web:2.0.0 is the same bytes as web:1.0.0 (same digest), signed only as 1.0.0.
make_image web 2.0.0 "version one" >/dev/null
kiln sign web:1.0.0 --key trusted.key >/dev/null
kiln sign web:1.1.0 --key trusted.key >/dev/null
SIG_A=$(jq -r --arg a "$A" '.manifests[] | select(.annotations["dev.kiln.subject"] == $a) | .digest' "$KILN_STORE/index.json")
PAYLOAD_A=$(blob_path "$(jq -r '.layers[0].digest' "$(blob_path "$SIG_A")")")
SIGFILE_A=$(blob_path "$(jq -r '.layers[1].digest' "$(blob_path "$SIG_A")")")
cp -a "$KILN_STORE" pristine

reset_store() { rm -rf "$KILN_STORE" && cp -a pristine "$KILN_STORE"; }
blob_of() { # IMAGE_DIGEST jq-path
    blob_path "$(jq -r "$2" "$(blob_path "$1")")"
}

test_expect_success 'the untampered image verifies' '
    kiln verify web:1.0.0 --key trusted.pub >out &&
    test_grep "verified web:1.0.0" out
'

for what in config:.config.digest layer:.layers[0].digest "file manifest:.annotations[\"dev.kiln.files\"]"; do
    name=${what%%:*} path=${what#*:}
    test_expect_success "a flipped byte in the $name is refused" "
        reset_store &&
        f=\$(blob_of \"\$A\" '$path') && chmod u+w \"\$f\" && flip_byte \"\$f\" 5 &&
        test_expect_code 3 kiln verify web:1.0.0 --key trusted.pub &&
        test_grep 'digest mismatch in $name' err
    "
done

test_expect_success 'a flipped byte in the image manifest is refused' '
    reset_store &&
    f=$(blob_path "$A") && chmod u+w "$f" && flip_byte "$f" 40 &&
    test_expect_code 3 kiln verify web:1.0.0 --key trusted.pub &&
    test_grep "corrupt\|digest mismatch" err
'

test_expect_success 'a missing layer is refused' '
    reset_store &&
    rm -f "$(blob_of "$A" .layers[0].digest)" &&
    test_expect_code 3 kiln verify web:1.0.0 --key trusted.pub &&
    test_grep "missing blob" err
'

test_expect_success 'a layer swapped in from another image is refused' '
    reset_store &&
    cp "$(blob_of "$B" .layers[0].digest)" "$(blob_of "$A" .layers[0].digest)" &&
    test_expect_code 3 kiln verify web:1.0.0 --key trusted.pub &&
    test_grep "digest mismatch in layer" err
'

test_expect_success 'a manifest rewritten to use another layer (and re-pointed) has no signature' '
    reset_store &&
    jq -cS --arg d "$(jq -r .layers[0].digest "$(blob_path "$B")")" --argjson s "$(jq .layers[0].size "$(blob_path "$B")")" \
        ".layers[0].digest = \$d | .layers[0].size = \$s" "$(blob_path "$A")" | tr -d "\n" >m &&
    M=$(_blob m) &&
    jq --arg a "$A" --arg m "$M" --argjson s "$(stat -c %s m)" \
        "(.manifests[] | select(.digest == \$a and .annotations[\"org.opencontainers.image.ref.name\"] == \"web:1.0.0\")) |= (.digest = \$m | .size = \$s)" \
        "$KILN_STORE/index.json" >i && mv i "$KILN_STORE/index.json" &&
    test_expect_code 3 kiln verify web:1.0.0 --key trusted.pub &&
    test_grep "has no signature" err &&
    add_referrer "$M" "$SIG_A" &&
    test_expect_code 3 kiln verify web:1.0.0 --key trusted.pub &&
    test_grep "is for another image" err
'

test_expect_success 'a signature copied from another version is refused (mix and match)' '
    reset_store &&
    drop_referrers "$B" &&
    test_expect_code 3 kiln verify web:1.1.0 --key trusted.pub &&
    test_grep "has no signature" err &&
    add_referrer "$B" "$SIG_A" &&
    test_expect_code 3 kiln verify web:1.1.0 --key trusted.pub &&
    test_grep "is for another image" err
'

test_expect_success 'a signed payload naming another digest is refused' '
    reset_store &&
    drop_referrers "$B" &&
    add_signature "$B" "$PAYLOAD_A" "$SIGFILE_A" "$KEYID" >/dev/null &&
    test_expect_code 3 kiln verify web:1.1.0 --key trusted.pub &&
    test_grep "payload names another image .$A." err
'

test_expect_success 'a signature for one version does not verify another version with the same digest' '
    reset_store &&
    test_expect_code 3 kiln verify web:2.0.0 --key trusted.pub &&
    test_grep "names version .1.0.0., not .2.0.0." err
'

test_expect_success 'a truncated signature is refused' '
    reset_store &&
    head -c 20 "$SIGFILE_A" >short &&
    B2=$(make_image web 3.0.0 "three") &&
    sed "s/$A/$B2/" "$PAYLOAD_A" >p && openssl dgst -sha256 -sign trusted.key -out full p &&
    head -c 30 full >short &&
    add_signature "$B2" p short "$KEYID" >/dev/null &&
    test_expect_code 3 kiln verify web:3.0.0 --key trusted.pub &&
    test_grep "bad signature" err
'

test_expect_success 'a garbage signature is refused' '
    reset_store &&
    B2=$(make_image web 3.0.0 "three") &&
    sed "s/$A/$B2/;s/1\.0\.0/3.0.0/" "$PAYLOAD_A" >p &&
    head -c 71 /dev/urandom >garbage &&
    add_signature "$B2" p garbage "$KEYID" >/dev/null &&
    test_expect_code 3 kiln verify web:3.0.0 --key trusted.pub &&
    test_grep "bad signature" err
'

test_expect_success 'a valid signature over a payload that is then edited is refused' '
    reset_store &&
    B2=$(make_image web 3.0.0 "three") &&
    sed "s/$A/$B2/;s/1\.0\.0/3.0.0/" "$PAYLOAD_A" >p &&
    add_signature "$B2" p "$SIGFILE_A" "$KEYID" >/dev/null &&
    test_expect_code 3 kiln verify web:3.0.0 --key trusted.pub &&
    test_grep "bad signature" err
'

test_expect_success 'a signature by an untrusted key is refused' '
    reset_store &&
    kiln sign web:2.0.0 --key untrusted.key >/dev/null &&
    B3=$(make_image web 4.0.0 "four") &&
    kiln sign web:4.0.0 --key untrusted.key >/dev/null &&
    test_expect_code 3 kiln verify web:4.0.0 --key trusted.pub &&
    test_grep "unknown key" err &&
    kiln verify web:4.0.0 --key trusted.pub --key untrusted.pub
'

test_expect_success 'a payload claiming another algorithm than the key is refused' '
    reset_store &&
    B2=$(make_image web 3.0.0 "three") &&
    sed "s/$A/$B2/;s/1\.0\.0/3.0.0/;s/ecdsa-p256/ed25519/" "$PAYLOAD_A" >p &&
    openssl dgst -sha256 -sign trusted.key -out s p &&
    add_signature "$B2" p s "$KEYID" >/dev/null &&
    test_expect_code 3 kiln verify web:3.0.0 --key trusted.pub &&
    test_grep "says algorithm .ed25519." err
'

test_expect_success 'a signature artifact whose blob was altered is refused' '
    reset_store &&
    chmod u+w "$SIGFILE_A" && flip_byte "$SIGFILE_A" 10 &&
    test_expect_code 3 kiln verify web:1.0.0 --key trusted.pub &&
    test_grep "signature .$SIG_A.: blob .* is corrupt" err
'

test_expect_success 'verify refuses a key of a wrong curve with exit 2, not 3' '
    reset_store &&
    test_expect_code 2 kiln verify web:1.0.0 --key "$D/p384.pub" &&
    test_grep "unsupported curve" err
'

test_expect_success 'one good signature among bad ones verifies (rotation, two signers)' '
    reset_store &&
    kiln sign web:1.0.0 --key untrusted.key >/dev/null &&
    kiln verify web:1.0.0 --key trusted.pub --json >out &&
    jq -e ".verified and (.signatures | length) == 2 and (.signers | length) == 1" out &&
    kiln verify web:1.0.0 --key untrusted.pub --key trusted.pub --json >out &&
    jq -e "(.signers | length) == 2" out
'

test_done
