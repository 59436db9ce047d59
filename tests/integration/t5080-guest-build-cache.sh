#!/bin/bash
# The build cache around the guest stage: an unchanged recipe with `run` is
# rebuilt without the appliance and gives the same digest; a changed `run`
# reruns from the guest stage on (the tree it starts from comes from the
# cache) and the new command's result is in the image.  Slow: two appliance
# runs under emulation (that a tree from the cache gives what an uncached
# build gives is t3950's).
. "$(dirname "$0")/lib.sh"

busybox_root root sh cat echo
mkdir root/dev root/proc root/sys
tar -C root --owner=0 --group=0 --mtime=@1700000000 -cf base.tar .
echo "hello" >motd
cat >r.yaml <<-YAML
name: guest
version: 1.0.0
base:
  tarball: {path: base.tar}
files:
  - src: motd
    dest: /etc/motd
hostname: guest
run:
  - cat /etc/motd > /etc/motd.copy
outputs: [oci]
YAML

build() {
    kiln build r.yaml --verbose "$@" >ref 2>log &&
    grep "^step " log | grep -v ": key " >steps
}

test_expect_success 'a cold build runs the guest stage' '
    build &&
    cp ref ref1 &&
    test_grep "^step 4/5: guest$" steps &&
    test "$(grep -c "cached\|skipped" steps)" = 0
'

test_expect_success 'the unchanged recipe is rebuilt without the appliance, same digest' '
    build &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref1)" &&
    test_grep "^step 4/5: guest: skipped, every output is cached" steps &&
    ! grep -q "^step 4/5: guest$" steps &&
    build --version 1.0.1 &&
    test "$(cut -d@ -f2 ref)" = "$(cut -d@ -f2 ref1)" &&
    test_grep "^step 4/5: guest: cached" steps &&
    ! grep -q "^step 4/5: guest$" steps &&
    kiln sbom guest:1.0.1 >sbom.json &&
    jq -e ".spdxVersion == \"SPDX-2.3\"" sbom.json
'

test_expect_success 'a changed run reruns from the guest stage on, from the cached tree' '
    sed -i "s|cat /etc/motd > /etc/motd.copy|cat /etc/motd /etc/motd > /etc/motd.copy|" r.yaml &&
    build --version 2.0.0 &&
    test_grep "^step 1/5: base: cached" steps &&
    test_grep "^step 3/5: hostname: cached" steps &&
    test_grep "^step 4/5: guest$" steps &&
    test "$(cut -d@ -f2 ref)" != "$(cut -d@ -f2 ref1)" &&
    kiln export guest:2.0.0 --format tar --output img.tar &&
    tar -xOf img.tar --wildcards "*etc/motd.copy" >copy &&
    printf "hello\nhello\n" >want &&
    cmp want copy
'

test_done
