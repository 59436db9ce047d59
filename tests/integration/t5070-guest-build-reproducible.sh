#!/bin/bash
# A recipe that installs a package and runs a command inside the image goes
# through the appliance, where apt, dpkg, ldconfig, debconf and useradd
# leave caches, logs, backups and dates of their own.  kiln removes what
# depends on the build's time and place, and the commands run with the
# build's SOURCE_DATE_EPOCH, so that the same recipe built twice, in two
# fresh stores and scratch directories, gives the same container image and
# the same disk (laid out on the host from the tree with the recipe's IDs
# and the build's times): `kiln verify --rebuild` rebuilds it in a scratch
# store and finds both outputs identical (t5000 does the same for a
# bootable disk).  A rebuild into the same store (`make demo` run twice) is
# accepted.  The
# command runs ldconfig as libc's trigger would, which writes its aux-cache.
# Slow: three appliance runs under emulation (and a Debian base, cached
# across tests like t5050's).
. "$(dirname "$0")/lib.sh"
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-${TMPDIR:-/tmp}/kiln-test-cache}

# A fixed build time, long before today, so that a date the build wrote
# from the wall clock would show.
export SOURCE_DATE_EPOCH=1700000000

cat >r.yaml <<-YAML
name: repro
version: 1.0.0
base:
  debian: {suite: bookworm, variant: minbase}
packages: [hello]
run:
  - useradd -m app && ldconfig && hello >/etc/greeting
outputs: [oci, qcow2]
YAML

test_expect_success 'a recipe with packages and run builds' '
    mkdir scratch1 &&
    TMPDIR="$TEST_DIR/scratch1" kiln build r.yaml >out1 2>err1 &&
    test_grep "^repro:1.0.0@sha256:" out1
'

test_expect_success 'the package and the command are in the image, the build leftovers are not' '
    image_paths repro:1.0.0 >paths &&
    test_grep -x /usr/bin/hello paths &&
    test_grep -x /etc/greeting paths &&
    test_grep -x /home/app paths &&
    for p in /var/cache/ldconfig/aux-cache /var/cache/apt/pkgcache.bin /var/log/dpkg.log \
        /var/log/apt/history.log /var/log/alternatives.log /var/lib/dpkg/status-old \
        /var/cache/debconf/config.dat-old /etc/passwd- /etc/shadow- /etc/group- /etc/gshadow-; do
        ! grep -qx "$p" paths || { echo "$p is still in the image"; return 1; }
    done &&
    ! grep "^/var/lib/apt/lists/.*_Packages" paths
'

test_expect_success 'useradd dated the password with the build time, not the wall clock' '
    kiln export repro:1.0.0 --format tar --output root.tar &&
    tar -xOf root.tar etc/shadow >shadow &&
    test "$(awk -F: "\$1 == \"app\" { print \$3 }" shadow)" = $((SOURCE_DATE_EPOCH / 86400))
'

test_expect_success 'verify --rebuild builds it again in a fresh store: the image and the disk are the same bytes' '
    mkdir scratch2 &&
    TMPDIR="$TEST_DIR/scratch2" kiln verify repro:1.0.0 --rebuild r.yaml --json >rebuild.json 2>err2 &&
    jq -e ".identical and .recorded == .rebuilt" rebuild.json &&
    test "$(jq -r .recorded rebuild.json)" = "$(sed -n "s/^repro:1.0.0@//p" out1)" &&
    jq -e "[.outputs[].type] == [\"oci\", \"qcow2\"] and all(.outputs[]; .identical)" rebuild.json &&
    jq -e ".inputs == []" rebuild.json &&
    test "$(ls scratch2)" = ""
'

test_expect_success 'building the same version again into the same store is accepted' '
    mkdir scratch3 &&
    TMPDIR="$TEST_DIR/scratch3" kiln build r.yaml >out3 2>err3 &&
    test "$(cat out3)" = "$(cat out1)" &&
    ! grep -q "another digest" err3
'

test_done
