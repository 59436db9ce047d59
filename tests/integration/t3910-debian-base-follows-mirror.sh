#!/bin/bash
# A debian base follows its mirror: its key is the signed state of the
# mirror (each suite's InRelease), known before the bootstrap; an unchanged
# mirror reuses the cached base, a new InRelease gives a new base and image;
# every installed package is recorded with the digest of its .deb; a cached
# base that does not match its record is made again; a snapshot pins the
# mirror; a mirror that cannot be trusted or reached fails clearly and
# leaves the store as it was.  Against a local mirror the test signs itself.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/mirror-lib.sh"

export XDG_CACHE_HOME="$TEST_DIR/cache"
M="$TEST_DIR/mirror"
DEB="$XDG_CACHE_HOME/kiln/debian"

# recipe FILE NAME VARIANT [MORE YAML under base.debian]: a debian base on
# the local mirror, trusted through ./keyring.gpg, built on the host.
recipe() {
    cat >"$1" <<EOF
name: $2
version: 1.0.0
base:
  debian:
    suite: bookworm
    variant: $3
    mirror: "$MIRROR_URL"
    keyring: keyring.gpg
    packages: [kiln-marker]
${4:-}
sysprep: false
outputs: [tar]
EOF
}

# The provenance statement of image $1.
statement() {
    kiln inspect "$1" --provenance --json | jq ".provenance[0].statement.predicate.buildDefinition"
}

base_key() {
    statement "$1" | jq -r ".internalParameters.steps[0].key"
}

# "name version arch sha256" of every recorded package of image $1, sorted.
recorded_debs() {
    statement "$1" | jq -r '.resolvedDependencies[] | select(.uri | startswith("pkg:deb/")) |
        "\(.name) \(.annotations.version) \(.annotations.architecture) \(.digest.sha256)"' | LC_ALL=C sort
}

# The sha256 of /usr/share/kiln-marker/version in image $1 (its file manifest).
marker_sha() {
    _m=$(kiln inspect "$1" --json | jq -r .filesDigest) &&
        jq -r ".files[] | select(.path == \"/usr/share/kiln-marker/version\") | .sha256" \
            "$KILN_STORE/blobs/sha256/${_m#sha256:}"
}

# The sha256 of TEXT and a newline.
text_sha() {
    printf "%s\n" "$1" | sha256sum | cut -d" " -f1
}

# The same from the mirror's Packages index of suite $1.
mirror_debs() {
    awk '/^Package:/ { p = $2 } /^Version:/ { v = $2 } /^Architecture:/ { a = $2 } /^SHA256:/ { print p, v, a, $2 }' \
        "$M/www/debian/dists/$1/main/binary-amd64/Packages" | LC_ALL=C sort
}

if ! { start_mirror "$M" >mirror.log 2>&1 &&
    mirror_add_package "$M" bookworm kiln-marker 1.0 &&
    mirror_resign "$M" &&
    cp "$MIRROR_KEYRING" keyring.gpg; }; then
    cat mirror.log >&2
    echo "Bail out! the local mirror did not start"
    exit 1
fi

test_expect_success 'the local mirror is signed and served' '
    curl -sf "$MIRROR_URL/dists/bookworm/InRelease" >inrelease &&
    gpgv --keyring "$PWD/keyring.gpg" inrelease 2>/dev/null
'

test_expect_success 'an essential base records every installed package with the digest of its .deb' '
    recipe e.yaml ess essential &&
    kiln build e.yaml >built1 2>err &&
    test_grep -E "^ess:1.0.0@sha256:[0-9a-f]{64}$" built1 &&
    recorded_debs ess:1.0.0 >recorded &&
    mirror_debs bookworm >listed &&
    test "$(wc -l <recorded)" -gt 20 &&
    test_grep "^kiln-marker 1.0 all " recorded &&
    test_grep "^dpkg " recorded &&
    LC_ALL=C comm -23 recorded listed >unlisted &&
    test ! -s unlisted &&
    tar -xOf "$(ls "$DEB"/*.tar)" ./var/lib/dpkg/status >status &&
    test "$(grep -c "^Status: install ok installed" status)" = "$(wc -l <recorded)" &&
    statement ess:1.0.0 | jq -r ".resolvedDependencies[] | select(.name == \"InRelease bookworm\") | .digest.sha256" >recorded-inrelease &&
    sha256sum <inrelease | cut -d" " -f1 >served-inrelease &&
    cmp recorded-inrelease served-inrelease &&
    statement ess:1.0.0 | jq -e "[.resolvedDependencies[] | select(.name == \"kiln-marker\")][0].uri == \"pkg:deb/debian/kiln-marker@1.0?arch=all\""
'

test_expect_success 'an unchanged mirror gives the same base key and image, from the checked cache' '
    kiln build e.yaml --version 1.0.1 --verbose --no-cache >built2 2>err &&
    test_grep "using the cached Debian bookworm rootfs" err &&
    test "$(base_key ess:1.0.0)" = "$(base_key ess:1.0.1)" &&
    test "$(cut -d@ -f2 built1)" = "$(cut -d@ -f2 built2)" &&
    kiln build e.yaml --version 1.0.3 --verbose >built4 2>err &&
    test_grep "step 1/2: base: cached" err &&
    test "$(cut -d@ -f2 built1)" = "$(cut -d@ -f2 built4)"
'

test_expect_success 'a package updated on the mirror changes the base key and the image' '
    recipe x.yaml ext extract &&
    kiln build x.yaml >built1 2>err &&
    test "$(marker_sha ext:1.0.0)" = "$(text_sha 1.0)" &&
    mirror_add_package "$M" bookworm kiln-marker 1.1 &&
    mirror_resign "$M" &&
    kiln build x.yaml --version 1.0.1 >built2 2>err &&
    test "$(base_key ext:1.0.0)" != "$(base_key ext:1.0.1)" &&
    test "$(cut -d@ -f2 built1)" != "$(cut -d@ -f2 built2)" &&
    test "$(marker_sha ext:1.0.1)" = "$(text_sha 1.1)"
'

test_expect_success 'a cached base that does not match its record is discarded and made again, the same' '
    key=$(ls -t "$DEB"/*.json | head -n 1) &&
    tar="${key%.json}.tar" &&
    printf x | dd of="$tar" bs=1 seek=4096 conv=notrunc 2>/dev/null &&
    kiln build x.yaml --version 1.0.2 --no-cache >built3 2>err &&
    test_grep "is discarded and made again" err &&
    test "$(base_key ext:1.0.1)" = "$(base_key ext:1.0.2)" &&
    test "$(cut -d@ -f2 built2)" = "$(cut -d@ -f2 built3)" &&
    test "$(sha256sum <"$tar" | cut -d" " -f1)" = "$(jq -r .sha256 "$key")" &&
    test ! -e "$DEB"/partial.* 2>/dev/null
'

test_expect_success 'an extra suite is part of the state, and its packages are used' '
    mirror_add_package "$M" bookworm-updates kiln-marker 1.2 &&
    mirror_resign "$M" &&
    recipe u.yaml upd extract "    suites: [bookworm-updates]" &&
    kiln build u.yaml >out 2>err &&
    statement upd:1.0.0 | jq -r ".resolvedDependencies[].name" >names &&
    test_grep "^InRelease bookworm-updates$" names &&
    test "$(marker_sha upd:1.0.0)" = "$(text_sha 1.2)"
'

test_expect_success 'a snapshot pins the mirror; a snapshot that does not exist fails clearly' '
    mirror_snapshot "$M" 20260101T000000Z &&
    recipe s.yaml snap extract "    snapshot: 20260101T000000Z" &&
    sed -i "s|mirror: .*|mirror: \"$MIRROR_ROOT/snapshot/{timestamp}\"|" s.yaml &&
    kiln build s.yaml >out 2>err &&
    statement snap:1.0.0 | jq -r ".resolvedDependencies[].uri" >uris &&
    test_grep "^$MIRROR_ROOT/snapshot/20260101T000000Z/dists/bookworm/InRelease$" uris &&
    sed -i "s/20260101T000000Z/20250101T000000Z/" s.yaml &&
    before=$(store_digest) &&
    test_expect_code 2 kiln build s.yaml --version 1.0.1 &&
    test_grep "snapshot .20250101T000000Z. does not exist" err &&
    test "$(store_digest)" = "$before"
'

test_expect_success 'a bad signature, another key, an expired Release, an unknown suite, component or package, an unreachable mirror: clear errors, store unchanged' '
    before=$(store_digest) &&
    mkdir -m 700 other && gpg --homedir other --batch --pinentry-mode loopback --passphrase "" \
        --quick-gen-key "another <other@localhost>" ed25519 sign never 2>/dev/null &&
    gpg --homedir other --batch --export >other.gpg &&
    sed "s|keyring: keyring.gpg|keyring: other.gpg|" x.yaml >k.yaml &&
    test_expect_code 3 kiln build k.yaml &&
    test_grep "InRelease of suite .bookworm. .* does not verify against the keyring" err &&
    in="$M/www/debian/dists/bookworm/InRelease" &&
    sed "s/^Origin: kiln-test/Origin: kiln-evil/" "$in" >"$in.bad" && mv "$in.bad" "$in" &&
    test_expect_code 3 kiln build x.yaml &&
    test_grep "does not verify against the keyring" err &&
    rel="$M/www/debian/dists/bookworm/Release" &&
    { cat "$rel" && echo "Valid-Until: Mon, 01 Jan 2024 00:00:00 UTC"; } >old-release &&
    gpg --homedir "$M/gnupg" --batch --yes --pinentry-mode loopback --passphrase "" --clearsign \
        -o "$in.old" old-release 2>/dev/null && mv "$in.old" "$in" &&
    test_expect_code 3 kiln build x.yaml &&
    test_grep "expired on Mon, 01 Jan 2024 00:00:00 UTC" err &&
    mirror_resign "$M" &&
    sed "s/suite: bookworm/suite: trixie/" x.yaml >t.yaml &&
    test_expect_code 2 kiln build t.yaml &&
    test_grep "suite .trixie. is not on the mirror" err &&
    sed "s/packages: \[kiln-marker\]/packages: [kiln-no-such-package]/" x.yaml >p.yaml &&
    test_expect_code 2 kiln build p.yaml &&
    test_grep "package .kiln-no-such-package. is not in the signed Packages indices of bookworm" err &&
    recipe c.yaml comp extract "    components: [contrib]" &&
    test_expect_code 2 kiln build c.yaml &&
    test_grep "has no component .contrib." err &&
    recipe n.yaml none extract "    suites: [bookworm-backports]" &&
    test_expect_code 2 kiln build n.yaml &&
    test_grep "suite .bookworm-backports. is not on the mirror" err &&
    port=$(mirror_free_port) &&
    sed "s|mirror: .*|mirror: \"http://127.0.0.1:$port/debian\"|" x.yaml >r.yaml &&
    test_expect_code 1 kiln build r.yaml &&
    test_grep "cannot fetch the InRelease of suite .bookworm." err &&
    test "$(store_digest)" = "$before" &&
    test ! -e "$DEB"/partial.* 2>/dev/null
'

test_expect_success 'apt keeps its signature checks: no unauthenticated or trusted sources' '
    ! grep -rn -e "allow-unauthenticated" -e "trusted=yes" -e "AllowInsecureRepositories" \
        "$KILN_SRC/builder" "$KILN_SRC/disk"
'

test_expect_success 'recipe errors: snapshot form and mirror templates' '
    recipe bad1.yaml b1 extract "    snapshot: yesterday" &&
    test_expect_code 2 kiln check bad1.yaml &&
    test_grep "is not a snapshot time" err &&
    recipe bad2.yaml b2 extract "    snapshot: 20260101T000000Z" &&
    test_expect_code 2 kiln check bad2.yaml &&
    test_grep "needs a .mirror. URL template with {timestamp}" err &&
    recipe bad3.yaml b3 extract &&
    sed -i "s|mirror: .*|mirror: \"$MIRROR_ROOT/snapshot/{timestamp}\"|" bad3.yaml &&
    test_expect_code 2 kiln check bad3.yaml &&
    test_grep "needs .snapshot." err &&
    recipe bad4.yaml b4 extract "    components: [\"../x\"]" &&
    test_expect_code 2 kiln check bad4.yaml &&
    test_grep "is not an archive component" err
'

test_done
