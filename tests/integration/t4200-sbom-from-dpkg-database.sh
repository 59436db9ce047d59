#!/bin/bash
# Every build attaches an SPDX 2.3 and a CycloneDX 1.6 SBOM as signed in-toto
# attestations: a tarball base holding a small hand-made dpkg database (a
# merged /usr, a multi-arch list, a machine-readable copyright file, a
# package reduced to its config files) gives documents whose required fields
# are those of the specifications, whose packages are what dpkg-query finds
# in the exported rootfs, with the OS as its own component and the files no
# package owns with their hashes; the same tree gives the same bytes;
# verify checks the attestations' signatures; export, push and pull carry
# them; a hostile status file fails the build clearly and changes nothing.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/registry-lib.sh"

CHECK="python3 $KILN_SRC/tests/integration/sbom-check.py"
DPKG_FORMAT='${db:Status-Status} ${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n'

# make_root DIR: a small Debian-like root with a dpkg database.
make_root() {
    _r=$1 &&
    mkdir -p "$_r/etc" "$_r/usr/bin" "$_r/usr/lib/x86_64-linux-gnu" "$_r/var/lib/dpkg/info" \
        "$_r/usr/share/doc/hello" "$_r/usr/share/doc/libfoo1" &&
    ln -s usr/bin "$_r/bin" &&
    printf '%s\n' 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' 'NAME="Debian GNU/Linux"' 'VERSION_ID="12"' \
        'VERSION_CODENAME=bookworm' 'ID=debian' 'HOME_URL="https://www.debian.org/"' >"$_r/usr/lib/os-release" &&
    ln -s ../usr/lib/os-release "$_r/etc/os-release" &&
    cat >"$_r/var/lib/dpkg/status" <<-EOF &&
	Package: hello
	Status: install ok installed
	Maintainer: Someone <someone@example.org>
	Architecture: amd64
	Version: 2.10-3
	Description: an example
	 with a long description
	 .
	 over lines

	Package: libfoo1
	Status: install ok installed
	Maintainer: Someone <someone@example.org>
	Architecture: amd64
	Multi-Arch: same
	Source: foo (1:1.2+dfsg-1)
	Version: 1:1.2+dfsg-1+b1
	Description: a library

	Package: gone
	Status: deinstall ok config-files
	Maintainer: Someone <someone@example.org>
	Architecture: all
	Version: 1.0
	Description: removed, its configuration kept
	EOF
    printf '/.\n/usr\n/usr/bin\n/bin/hello\n/usr/share/doc/hello/copyright\n' >"$_r/var/lib/dpkg/info/hello.list" &&
    printf '/usr/lib/x86_64-linux-gnu/libfoo.so.1\n' >"$_r/var/lib/dpkg/info/libfoo1:amd64.list" &&
    echo hello >"$_r/usr/bin/hello" &&
    echo lib >"$_r/usr/lib/x86_64-linux-gnu/libfoo.so.1" &&
    echo "local configuration" >"$_r/etc/local.conf" &&
    cat >"$_r/usr/share/doc/hello/copyright" <<-EOF &&
	Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
	Upstream-Name: hello

	Files: *
	Copyright: 1992 Free Software Foundation
	License: GPL-3+

	Files: debian/*
	Copyright: 2020 Someone
	License: GPL-2+ or Artistic

	License: GPL-3+
	 the text
	EOF
    echo "not machine-readable" >"$_r/usr/share/doc/libfoo1/copyright"
}

# build_status NAME: builds a tarball base whose status file is ./NAME.status.
build_status() {
    rm -rf h && make_root h && cp "$1.status" h/var/lib/dpkg/status &&
    tar -C h -czf "$1.tgz" . &&
    printf 'name: bad\nversion: 1.0.0\nbase:\n  tarball:\n    path: %s.tgz\noutputs: [oci]\n' "$1" >"$1.yaml" &&
    test_expect_code 2 kiln build "$1.yaml"
}

make_root root
tar -C root -czf base.tgz .
printf 'name: deb-tiny\nversion: 1.0.0\nbase:\n  tarball:\n    path: base.tgz\noutputs: [oci]\n' >r.yaml

test_expect_success 'setup: a signed build from a tarball base with a dpkg database' '
    kiln keygen --output k >/dev/null &&
    kiln keygen --output other >/dev/null &&
    kiln build r.yaml --sign k.key >/dev/null &&
    kiln sbom deb-tiny:1.0.0 >spdx.json &&
    kiln sbom deb-tiny:1.0.0 --format cyclonedx >cdx.json &&
    kiln export deb-tiny:1.0.0 --format tar --output rootfs.tar >/dev/null &&
    mkdir rootfs && tar -C rootfs -xf rootfs.tar
'

test_expect_success 'the SPDX document has every field SPDX 2.3 requires' '
    $CHECK spdx spdx.json &&
    jq -e ".spdxVersion == \"SPDX-2.3\" and (.packages | length) == 4" spdx.json
'

test_expect_success 'the CycloneDX document has every field CycloneDX 1.6 requires' '
    $CHECK cyclonedx cdx.json &&
    jq -e ".bomFormat == \"CycloneDX\" and .specVersion == \"1.6\"" cdx.json
'

test_expect_success 'the packages are those dpkg-query finds in the exported rootfs, each with its purl' '
    dpkg-query --admindir=rootfs/var/lib/dpkg -W -f "$DPKG_FORMAT" >dpkg.txt 2>/dev/null &&
    test_grep "^installed libfoo1 " dpkg.txt &&
    $CHECK packages spdx.json cdx.json dpkg.txt &&
    jq -e "[.components[].purl] | index(\"pkg:deb/debian/libfoo1@1:1.2%2Bdfsg-1%2Bb1?arch=amd64&distro=debian-12\")" cdx.json &&
    ! grep -q "\"gone\"" spdx.json
'

test_expect_success 'licenses come from machine-readable copyright files only' '
    jq -e ".packages[] | select(.name == \"hello\") | .licenseDeclared == \"(GPL-2.0-or-later OR Artistic-1.0) AND GPL-3.0-or-later\"" spdx.json &&
    jq -e ".packages[] | select(.name == \"libfoo1\") | .licenseDeclared == \"NOASSERTION\"" spdx.json &&
    jq -e ".components[] | select(.name == \"libfoo1\") | has(\"licenses\") | not" cdx.json
'

test_expect_success 'the OS is its own component, from os-release' '
    $CHECK os spdx.json cdx.json rootfs
'

test_expect_success 'the files no package owns are listed with their hashes' '
    $CHECK files spdx.json cdx.json rootfs &&
    jq -e "[.files[].fileName] | index(\"./etc/local.conf\")" spdx.json &&
    ! jq -e "[.files[].fileName] | index(\"./usr/bin/hello\")" spdx.json
'

test_expect_success 'the same tree gives the same SBOM bytes (time from SOURCE_DATE_EPOCH)' '
    KILN_STORE=$TEST_DIR/again kiln build r.yaml >/dev/null &&
    KILN_STORE=$TEST_DIR/again kiln sbom deb-tiny:1.0.0 >spdx2.json &&
    KILN_STORE=$TEST_DIR/again kiln sbom deb-tiny:1.0.0 --format cyclonedx >cdx2.json &&
    cmp spdx.json spdx2.json &&
    cmp cdx.json cdx2.json &&
    SOURCE_DATE_EPOCH=86400 KILN_STORE=$TEST_DIR/epoch kiln build r.yaml >/dev/null &&
    KILN_STORE=$TEST_DIR/epoch kiln sbom deb-tiny:1.0.0 >spdx3.json &&
    jq -e ".creationInfo.created == \"1970-01-02T00:00:00Z\"" spdx3.json &&
    ! cmp -s spdx.json spdx3.json
'

test_expect_success 'verify checks both attestations; kiln sbom --key wants a trusted signature' '
    kiln verify deb-tiny:1.0.0 --key k.pub --json >v.json &&
    jq -e "[.sboms[] | select(.verified)] | map(.predicateType) | sort == [\"https://cyclonedx.org/bom\", \"https://spdx.dev/Document\"]" v.json &&
    kiln sbom deb-tiny:1.0.0 --key k.pub >signed.json &&
    cmp signed.json spdx.json &&
    test_expect_code 3 kiln sbom deb-tiny:1.0.0 --key other.pub &&
    test_grep "not signed by a given key" err
'

test_expect_success 'an SBOM changed in the store fails verify (exit 3)' '
    cp -a "$KILN_STORE" tampered &&
    art=$(jq -r ".sboms[] | select(.predicateType == \"https://spdx.dev/Document\") | .artifact" v.json) &&
    stmt=$(jq -r ".layers[0].digest" "tampered/blobs/sha256/${art#sha256:}") &&
    f=tampered/blobs/sha256/${stmt#sha256:} &&
    chmod u+w "$f" && sed -i "s/\"hello\"/\"hellp\"/" "$f" &&
    KILN_STORE=$TEST_DIR/tampered test_expect_code 3 kiln verify deb-tiny:1.0.0 --key k.pub &&
    test_grep "attestation.*https://spdx.dev/Document" err
'

test_expect_success 'kiln export --format oci carries both SBOMs, still verifiable' '
    kiln export deb-tiny:1.0.0 --format oci --output lay >/dev/null &&
    jq -e "[.manifests[].artifactType // empty] | (index(\"application/vnd.dev.kiln.sbom.spdx.v1\") != null) and (index(\"application/vnd.dev.kiln.sbom.cyclonedx.v1\") != null)" lay/index.json &&
    kiln verify deb-tiny:1.0.0 --layout lay --key k.pub --json >lv.json &&
    jq -e "[.sboms[] | select(.verified)] | length == 2" lv.json
'

test_expect_success 'kiln push and kiln pull carry both SBOMs' '
    port=$(free_port) &&
    start_registry reg "$port" &&
    kiln push deb-tiny:1.0.0 "127.0.0.1:$port/team/tiny" --insecure >/dev/null &&
    KILN_STORE=$TEST_DIR/pulled kiln pull "127.0.0.1:$port/team/tiny:1.0.0" --key k.pub --insecure >/dev/null &&
    KILN_STORE=$TEST_DIR/pulled kiln sbom deb-tiny:1.0.0 --key k.pub >pulled.json &&
    cmp pulled.json spdx.json &&
    KILN_STORE=$TEST_DIR/pulled kiln sbom deb-tiny:1.0.0 --format cyclonedx --key k.pub >pulled-cdx.json &&
    cmp pulled-cdx.json cdx.json
'

test_expect_success 'a hostile dpkg status fails the build clearly and leaves the store as it was' '
    before=$(store_digest) &&
    python3 -c "import sys; sys.stdout.write(\"Package: big\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nDescription: x\n\" + \" x\n\" * (17 << 20))" >huge.status &&
    build_status huge &&
    test_grep "/var/lib/dpkg/status.*more than" err &&
    printf "Package: a1\nStatus: install ok installed\nthis is no field\n" >noline.status &&
    build_status noline &&
    test_grep "sbom: /var/lib/dpkg/status:3: expected .Field: value." err &&
    printf "Status: install ok installed\nVersion: 1\n" >nopkg.status &&
    build_status nopkg &&
    test_grep "status:1: paragraph without a Package field" err &&
    printf "Package: a1\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\nPackage: a1\nStatus: install ok installed\nVersion: 2\nArchitecture: all\n" >dup.status &&
    build_status dup &&
    test_grep "package .a1. of architecture .all. is listed twice" err &&
    printf "Package: a1\nStatus: install ok installed\nVersion: 1 \$(id)\nArchitecture: all\n" >ver.status &&
    build_status ver &&
    test_grep "package .a1. has an invalid version" err &&
    printf "Package: a1\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nDescription: \377\376\n" >utf.status &&
    build_status utf &&
    test_grep "not valid UTF-8" err &&
    test "$(store_digest)" = "$before"
'

test_expect_success 'kiln sbom: an unknown format is a usage error, a missing image exit 1' '
    test_expect_code 2 kiln sbom deb-tiny:1.0.0 --format swid &&
    test_grep "unknown format" err &&
    test_expect_code 1 kiln sbom nothing:1.0.0 &&
    test_grep "nothing" err
'

test_done
