#!/bin/bash
# A Debian base (mmdebstrap, bookworm minbase, no packages added): both SBOMs
# meet the required fields of SPDX 2.3 and CycloneDX 1.6, list exactly the
# packages dpkg-query finds in the exported rootfs (with source packages and
# purls pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12), name Debian
# 12 as the operating system and list, with their hashes, the files no
# package owns.  One Debian build for the whole file.
. "$(dirname "$0")/lib.sh"

CHECK="python3 $KILN_SRC/tests/integration/sbom-check.py"
DPKG_FORMAT='${db:Status-Status} ${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n'

if ! command -v mmdebstrap >/dev/null || ! command -v dpkg-query >/dev/null; then
    test_skip "SBOMs of a Debian base" "mmdebstrap or dpkg-query is not installed"
    test_done
fi

test_expect_success 'setup: a Debian minbase image, its SBOMs and its rootfs' '
    printf "name: deb\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, variant: minbase}\noutputs: [oci]\n" >deb.yaml &&
    kiln build deb.yaml >/dev/null &&
    kiln sbom deb:1.0.0 >spdx.json &&
    kiln sbom deb:1.0.0 --format cyclonedx >cdx.json &&
    kiln export deb:1.0.0 --format tar --output rootfs.tar >/dev/null &&
    mkdir rootfs && tar -C rootfs -xf rootfs.tar
'

test_expect_success 'both documents have every field their specification requires' '
    $CHECK spdx spdx.json &&
    $CHECK cyclonedx cdx.json
'

test_expect_success 'the packages are exactly those dpkg-query lists in the image' '
    dpkg-query --admindir=rootfs/var/lib/dpkg -W -f "$DPKG_FORMAT" >dpkg.txt &&
    test_grep "^installed base-files " dpkg.txt &&
    $CHECK packages spdx.json cdx.json dpkg.txt &&
    jq -e "[.components[] | select(.name == \"libc6\") | .purl | test(\"^pkg:deb/debian/libc6@[^?]+[?]arch=amd64&distro=debian-12$\")] == [true]" cdx.json &&
    jq -e "[.packages[] | select(.name == \"libc6\") | .sourceInfo | test(\"source package glibc, \")] == [true]" spdx.json
'

test_expect_success 'Debian 12 is the operating system component' '
    $CHECK os spdx.json cdx.json rootfs &&
    jq -e "[.packages[] | select(.primaryPackagePurpose == \"OPERATING-SYSTEM\") | .name + \" \" + .versionInfo] == [\"debian 12\"]" spdx.json
'

test_expect_success 'the files no package owns are listed with their SHA-256' '
    $CHECK files spdx.json cdx.json rootfs &&
    jq -e "[.files[].fileName] | index(\"./var/lib/dpkg/status\") != null and index(\"./usr/bin/bash\") == null" spdx.json
'

test_expect_success 'licenses are read from the machine-readable copyright files' '
    jq -e "[.packages[] | select(.licenseDeclared != \"NOASSERTION\" and .licenseDeclared != null)] | length > 10" spdx.json
'

test_done
