#!/bin/bash
# The same recipe and inputs give the same manifest digest in two fresh
# stores, whatever the wall clock and the input files' mtimes.
. "$(dirname "$0")/lib.sh"

mkdir -p root/etc root/bin dir/etc
cp /bin/busybox root/bin/busybox
ln -s busybox root/bin/sh
echo "root:x:0:0:root:/root:/bin/sh" >root/etc/passwd
tar -C root -czf base.tgz .
echo "payload" >payload.txt
echo "in dir" >dir/etc/file

cat >tb.yaml <<'YAML'
name: repro
version: 1.0.0
base:
  tarball:
    path: base.tgz
files:
  - src: payload.txt
    dest: /srv/payload.txt
users:
  - name: app
hostname: repro
container:
  cmd: [/bin/sh]
outputs: [oci, tar]
YAML

cat >dir.yaml <<'YAML'
name: repro-dir
version: 1.0.0
base:
  directory: dir
outputs: [oci]
YAML

# Every blob an image reaches: the manifest or index, nested manifests, configs,
# layers and the file manifest (attestations about a build are not part of it).
closure() {
    local store=$1 d=$2 blob &&
    blob="$store/blobs/sha256/${d#sha256:}" &&
    echo "$d" &&
    jq -r '(.config.digest // empty), (.layers[]?.digest), (.annotations["dev.kiln.files"] // empty)' "$blob" &&
    for m in $(jq -r '.manifests[]?.digest' "$blob"); do closure "$store" "$m" || return 1; done
}

digest_in() {
    KILN_STORE="$TEST_DIR/$1" kiln build "$2" ${3:+--compression $3} >"$1.build" &&
    tail -n1 "$1.build" | sed 's/.*@//'
}

test_expect_success 'two builds in two stores, a second apart and with touched inputs, are identical' '
    a=$(digest_in s1 tb.yaml) &&
    sleep 1 && touch payload.txt base.tgz &&
    b=$(digest_in s2 tb.yaml) &&
    test -n "$a" && test "$a" = "$b" &&
    closure s1 "$a" >c1 && sort -u c1 >l1 && closure s2 "$b" >c2 && sort -u c2 >l2 &&
    test "$(wc -l <l1)" -ge 4 &&
    cmp l1 l2 &&
    while read -r d; do cmp "s1/blobs/sha256/${d#sha256:}" "s2/blobs/sha256/${d#sha256:}" || exit 1; done <l1
'

test_expect_success 'a directory base does not carry its mtimes into the image' '
    a=$(digest_in d1 dir.yaml) &&
    sleep 1 && touch dir/etc/file dir/etc dir &&
    b=$(digest_in d2 dir.yaml) &&
    test "$a" = "$b"
'

test_expect_success 'zstd output is reproducible too' '
    a=$(digest_in z1 tb.yaml zstd) && b=$(digest_in z2 tb.yaml zstd) &&
    test "$a" = "$b"
'

test_expect_success 'SOURCE_DATE_EPOCH sets created and the mtimes, and changes the digest' '
    a=$(SOURCE_DATE_EPOCH=1700000000 digest_in e1 dir.yaml) &&
    b=$(SOURCE_DATE_EPOCH=1700000000 digest_in e2 dir.yaml) &&
    c=$(digest_in e3 dir.yaml) &&
    test "$a" = "$b" && test "$a" != "$c" &&
    M=e1/blobs/sha256/${a#sha256:} &&
    C=e1/blobs/sha256/$(jq -r .config.digest "$M" | cut -d: -f2) &&
    jq -e ".created == \"2023-11-14T22:13:20Z\"" "$C" &&
    L=e1/blobs/sha256/$(jq -r ".layers[0].digest" "$M" | cut -d: -f2) &&
    tar tvzf "$L" --full-time >list && test_grep "2023-11-14 22:13:20 etc/file" list
'

test_expect_success 'a bad SOURCE_DATE_EPOCH is a usage error' '
    SOURCE_DATE_EPOCH=yesterday test_expect_code 2 kiln build dir.yaml &&
    test_grep SOURCE_DATE_EPOCH err
'

test_expect_success 'the gzip layer header has no name and no time' '
    a=$(digest_in g1 dir.yaml) &&
    L=g1/blobs/sha256/$(jq -r ".layers[0].digest" g1/blobs/sha256/${a#sha256:} | cut -d: -f2) &&
    test "$(od -An -tx1 -N10 "$L" | tr -d " ")" = "1f8b0800000000000003"
'

mkdir -p dated/etc && echo x >dated/etc/a && echo y >dated/etc/b &&
    touch -d @1700000000 dated/etc/a && touch -d @1650000000 dated/etc/b dated/etc dated &&
    tar -C dated -cf dated.tar .
cat >dated.yaml <<'YAML'
name: dated
version: 1.0.0
base:
  tarball:
    path: dated.tar
files:
  - content: "new\n"
    dest: /etc/new
YAML

created_of() {
    local d &&
    d=$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"$2\") | .digest" "$1/index.json") &&
    d=$(jq -r .config.digest "$1/blobs/sha256/${d#sha256:}") &&
    jq -r .created "$1/blobs/sha256/${d#sha256:}"
}

test_expect_success 'without SOURCE_DATE_EPOCH a tarball base gives the image the newest time in it' '
    (unset SOURCE_DATE_EPOCH && KILN_STORE="$TEST_DIR/e1" kiln build dated.yaml >/dev/null) &&
    test "$(created_of e1 dated:1.0.0)" = "2023-11-14T22:13:20Z" &&
    umoci unpack --image e1:dated:1.0.0 eb >/dev/null &&
    test "$(stat -c %Y eb/rootfs/etc/a)" = 1700000000 &&
    test "$(stat -c %Y eb/rootfs/etc/b)" = 1650000000 &&
    test "$(stat -c %Y eb/rootfs/etc/new)" = 1700000000
'

test_expect_success 'SOURCE_DATE_EPOCH overrides it and clamps newer file times' '
    SOURCE_DATE_EPOCH=1660000000 KILN_STORE="$TEST_DIR/e2" kiln build dated.yaml >/dev/null &&
    test "$(created_of e2 dated:1.0.0)" = "2022-08-08T23:06:40Z" &&
    umoci unpack --image e2:dated:1.0.0 eb2 >/dev/null &&
    test "$(stat -c %Y eb2/rootfs/etc/a)" = 1660000000 &&
    test "$(stat -c %Y eb2/rootfs/etc/b)" = 1650000000
'

test_expect_success 'a scratch or directory base keeps 1970-01-01 without SOURCE_DATE_EPOCH' '
    (unset SOURCE_DATE_EPOCH && KILN_STORE="$TEST_DIR/e3" kiln build dir.yaml >/dev/null) &&
    test "$(created_of e3 repro-dir:1.0.0)" = "1970-01-01T00:00:00Z"
'

test_done
