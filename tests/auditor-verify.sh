#!/bin/sh
# auditor-verify.sh LAYOUT NAME:VERSION KEY.pub
#
# Verifies a kiln image with only openssl, sha256sum, jq and coreutils: the
# signature over the payload, that the payload names this image, and every
# blob the image reaches.  LAYOUT is a kiln store or an exported OCI layout.
# Exit 0: verified; 1: it failed (the reason is printed).
set -eu
LAYOUT=$1 REF=$2 PUB=$3
INDEX=$LAYOUT/index.json
fail() { echo "FAILED: $*" >&2; exit 1; }
blob() { echo "$LAYOUT/blobs/sha256/${1#sha256:}"; }

# A blob is intact when its content hashes to its name (and has the size its
# descriptor says, unless that is "-").
check_blob() {
    f=$(blob "$1")
    [ -f "$f" ] || fail "missing blob $1"
    echo "${1#sha256:}  $f" | sha256sum --check --quiet --strict >/dev/null 2>&1 ||
        fail "digest mismatch in blob $1"
    [ "$2" = "-" ] || [ "$(wc -c <"$f")" -eq "$2" ] || fail "size mismatch in blob $1"
}

# 1. The image: its digest as index.json names it.
IMAGE=$(jq -r --arg ref "$REF" '.manifests[]
    | select(.annotations["org.opencontainers.image.ref.name"] == $ref) | .digest' "$INDEX" | head -n 1)
[ -n "$IMAGE" ] || fail "no image $REF in $INDEX"
echo "image $REF is $IMAGE"

# 2. The key: its ID is the SHA-256 of its DER SubjectPublicKeyInfo.
KEYID=sha256:$(openssl pkey -pubin -in "$PUB" -outform DER | sha256sum | cut -d' ' -f1)
echo "trusted key $KEYID"

# 3. The signatures that refer to the image; at least one must be by the key,
#    valid, and over a payload that names exactly this image.
SIGNED=no
for SIG in $(jq -r --arg img "$IMAGE" '.manifests[]
        | select(.artifactType == "application/vnd.dev.kiln.signature.v1")
        | select(.annotations["dev.kiln.subject"] == $img) | .digest' "$INDEX"); do
    check_blob "$SIG" -
    M=$(blob "$SIG")
    jq -e --arg img "$IMAGE" '.subject.digest == $img' "$M" >/dev/null || continue
    PAYLOAD=$(jq -r '.layers[0].digest' "$M")
    SIGNATURE=$(jq -r '.layers[1].digest' "$M")
    check_blob "$PAYLOAD" "$(jq -r '.layers[0].size' "$M")"
    check_blob "$SIGNATURE" "$(jq -r '.layers[1].size' "$M")"
    jq -e --arg k "$KEYID" '.keyId == $k' "$(blob "$PAYLOAD")" >/dev/null || continue
    if openssl pkey -pubin -in "$PUB" -noout -text | grep -q '^ED25519'; then
        openssl pkeyutl -verify -pubin -inkey "$PUB" -rawin \
            -in "$(blob "$PAYLOAD")" -sigfile "$(blob "$SIGNATURE")" >/dev/null ||
            fail "bad signature in $SIG"
    else
        openssl dgst -sha256 -verify "$PUB" \
            -signature "$(blob "$SIGNATURE")" "$(blob "$PAYLOAD")" >/dev/null ||
            fail "bad signature in $SIG"
    fi
    jq -e --arg img "$IMAGE" --arg ref "$REF" \
        '.image.digest == $img and (.image.name + ":" + .image.version) == $ref' \
        "$(blob "$PAYLOAD")" >/dev/null || fail "payload of $SIG names another image"
    echo "signature $SIG: good, signed $(jq -r .created "$(blob "$PAYLOAD")")"
    SIGNED=yes
done
[ "$SIGNED" = yes ] || fail "no valid signature by $KEYID"

# 4. Every blob the image reaches: manifests, indexes, configs, layers and
#    the dev.kiln.files file manifest.
walk() { # DIGEST SIZE
    check_blob "$1" "$2"
    jq -r '(.config // empty | "\(.digest) \(.size) \(.mediaType)"),
           (.layers[]?, .manifests[]? | "\(.digest) \(.size) \(.mediaType)"),
           (.annotations["dev.kiln.files"] // empty | "\(.) - files")' "$(blob "$1")" |
    while read -r d s mt; do
        case $mt in
        *manifest.v1+json | *index.v1+json) walk "$d" "$s" ;;
        *) check_blob "$d" "$s" ;;
        esac
    done
}
walk "$IMAGE" "$(jq -r --arg img "$IMAGE" \
    '[.manifests[] | select(.digest == $img)][0].size' "$INDEX")"
echo "every blob of $REF matches its digest: verified"
