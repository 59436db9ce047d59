# mirror-lib.sh - a small signed Debian mirror on 127.0.0.1, made by the test
# and stopped at its exit.  Source after lib.sh.
#
#   start_mirror DIR                 a mirror in DIR with suite bookworm holding
#                                    what mmdebstrap's essential variant needs,
#                                    signed with a throwaway key, served over
#                                    HTTP; sets MIRROR_URL (http://127.0.0.1:PORT/debian),
#                                    MIRROR_KEYRING (DIR/keyring.gpg, binary),
#                                    MIRROR_ROOT (http://127.0.0.1:PORT)
#   mirror_add_package DIR SUITE NAME VERSION [TEXT]
#                                    a tiny arch:all package NAME (its file
#                                    /usr/share/NAME/version holds TEXT, default
#                                    VERSION) in SUITE's pool, replacing other
#                                    versions of NAME there; the suite is made
#                                    when it is new
#   mirror_add_deb DIR SUITE FILE    any .deb into SUITE's pool
#   mirror_resign DIR                Packages, Release and InRelease again for
#                                    every suite (a new mirror state)
#   mirror_snapshot DIR TIMESTAMP    the mirror as it is now, also served under
#                                    $MIRROR_ROOT/snapshot/TIMESTAMP (a template:
#                                    $MIRROR_ROOT/snapshot/{timestamp})
#   stop_mirror DIR                  stops its server (every mirror's server
#                                    stops at the test's exit)
#
# Call start_mirror outside a test body (a body runs in a subshell: its
# variables go with it); DIR/url and DIR/root hold the two URLs too.
#
# The .debs come from the host's apt (apt-get download, from the Debian
# mirror the host uses) once, into $KILN_TEST_DEB_CACHE (default
# /var/tmp/kiln-test-debs), and are reused by every test after.

KILN_TEST_DEB_CACHE=${KILN_TEST_DEB_CACHE:-/var/tmp/kiln-test-debs}

# Every mirror started writes its DIR in $TEST_DIR/.mirrors; all stop at exit.
test_on_exit 'if [ -f "$TEST_DIR/.mirrors" ]; then while read -r _m; do stop_mirror "$_m"; done <"$TEST_DIR/.mirrors"; fi'

# mirror_free_port: a TCP port on 127.0.0.1 that nothing listens on now.
mirror_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# mirror_essential_debs: the .debs of bookworm's Essential: yes packages and
# everything they depend on, in $KILN_TEST_DEB_CACHE/essential (made once).
mirror_essential_debs() {
    _c="$KILN_TEST_DEB_CACHE/essential" &&
    { ! [ -f "$_c/.complete" ] || return 0; } &&
    mkdir -p "$_c" &&
        _ess=$(apt-cache dumpavail | awk '/^Package:/ { p = $2 } /^Essential: yes/ { print p }' | sort -u) &&
        _all=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances $_ess | grep -E '^[a-z0-9]' | grep -v ':i386$' | sort -u) &&
        (cd "$_c" && apt-get download -q $_all >download.log 2>&1) &&
        touch "$_c/.complete" || {
        echo "mirror-lib: cannot download the essential packages (apt-get download):" >&2
        cat "$_c/download.log" >&2 2>/dev/null
        return 1
    }
}

# mirror_add_deb DIR SUITE FILE
mirror_add_deb() {
    mkdir -p "$1/www/debian/pool/$2" &&
        cp "$3" "$1/www/debian/pool/$2/"
}

# mirror_add_package DIR SUITE NAME VERSION [TEXT]
mirror_add_package() {
    _p="$1/pkg/$3" &&
        rm -rf "$_p" &&
        mkdir -p "$_p/DEBIAN" "$_p/usr/share/$3" &&
        printf '%s\n' "${5:-$4}" >"$_p/usr/share/$3/version" &&
        printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: kiln tests <kiln@localhost>\nSection: misc\nPriority: optional\nDescription: a kiln test package\n' \
            "$3" "$4" >"$_p/DEBIAN/control" &&
        mkdir -p "$1/www/debian/pool/$2" &&
        rm -f "$1/www/debian/pool/$2/$3"_*.deb &&
        SOURCE_DATE_EPOCH=1700000000 dpkg-deb --root-owner-group -Zgzip --build "$_p" \
            "$1/www/debian/pool/$2/$3_$4_all.deb" >/dev/null
}

# mirror_resign DIR: every suite (a folder of pool/) gets its indices and a
# new InRelease signed with the mirror's key.  Files are replaced, never
# rewritten in place, so snapshots (hard links) keep theirs.
mirror_resign() {
    (
        cd "$1/www/debian" &&
            for _s in $(ls pool); do
                _d="dists/$_s" &&
                    mkdir -p "$_d/main/binary-amd64" &&
                    apt-ftparchive packages "pool/$_s" >"$_d/main/binary-amd64/Packages.new" 2>/dev/null &&
                    mv "$_d/main/binary-amd64/Packages.new" "$_d/main/binary-amd64/Packages" &&
                    rm -f "$_d/main/binary-amd64/Packages.xz" &&
                    xz -k -T1 "$_d/main/binary-amd64/Packages" &&
                    apt-ftparchive -o APT::FTPArchive::Release::Origin=kiln-test \
                        -o APT::FTPArchive::Release::Suite="$_s" -o APT::FTPArchive::Release::Codename="$_s" \
                        -o APT::FTPArchive::Release::Components=main \
                        -o APT::FTPArchive::Release::Architectures=amd64 \
                        release "$_d" >"$1/Release.new" &&
                    mv "$1/Release.new" "$_d/Release" &&
                    gpg --homedir "$1/gnupg" --batch --yes --pinentry-mode loopback --passphrase "" \
                        --clearsign -o "$_d/InRelease.new" "$_d/Release" 2>/dev/null &&
                    mv "$_d/InRelease.new" "$_d/InRelease" || return 1
            done
    )
}

# mirror_snapshot DIR TIMESTAMP
mirror_snapshot() {
    mkdir -p "$1/www/snapshot" &&
        cp -al "$1/www/debian" "$1/www/snapshot/$2"
}

# start_mirror DIR
start_mirror() {
    mirror_essential_debs &&
        mkdir -p "$1/gnupg" "$1/www/debian/pool/bookworm" &&
        chmod 700 "$1/gnupg" &&
        cp "$KILN_TEST_DEB_CACHE"/essential/*.deb "$1/www/debian/pool/bookworm/" &&
        gpg --homedir "$1/gnupg" --batch --pinentry-mode loopback --passphrase "" \
            --quick-gen-key "kiln test mirror <mirror@localhost>" ed25519 sign never 2>/dev/null &&
        gpg --homedir "$1/gnupg" --batch --export >"$1/keyring.gpg" &&
        mirror_resign "$1" &&
        _port=$(mirror_free_port) &&
        { setsid python3 -m http.server --bind 127.0.0.1 --directory "$1/www" "$_port" >"$1/http.log" 2>&1 & } &&
        echo $! >"$1/http.pid" &&
        echo "$1" >>"$TEST_DIR/.mirrors" &&
        MIRROR_ROOT="http://127.0.0.1:$_port" &&
        MIRROR_URL="$MIRROR_ROOT/debian" &&
        MIRROR_KEYRING="$1/keyring.gpg" &&
        echo "$MIRROR_ROOT" >"$1/root" &&
        echo "$MIRROR_URL" >"$1/url" &&
        timeout 10 sh -c 'until curl -sf -o /dev/null "$1/dists/bookworm/InRelease"; do sleep 0.1; done' \
            sh "$MIRROR_URL" || {
        echo "mirror-lib: the mirror in $1 did not start:" >&2
        cat "$1/http.log" >&2 2>/dev/null
        return 1
    }
}

# stop_mirror DIR
# Best effort: a server already gone is stopped.
stop_mirror() {
    test ! -f "$1/http.pid" || {
        { kill "$(cat "$1/http.pid")" 2>/dev/null || :; } &&
            rm -f "$1/http.pid"
    }
}
