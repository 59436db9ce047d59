#!/bin/bash
# Every build step's key is in the build record (and its provenance): the
# same recipe and inputs give the same keys; a changed host file changes the
# key of the step that reads it and of every step after it, not before it.
. "$(dirname "$0")/lib.sh"

mkdir -p root/etc
echo "root:x:0:0:root:/root:/bin/sh" >root/etc/passwd
tar -C root -cf base.tar .
echo "one" >payload.txt

cat >keys.yaml <<'YAML'
name: keys
version: 1.0.0
base:
  tarball:
    path: base.tar
files:
  - src: payload.txt
    dest: /srv/payload.txt
hostname: keys
outputs: [oci, tar]
YAML

# Which lines of two key lists are the same, as a string of = and x.
same_keys() {
    paste -d" " "$1" "$2" | awk "{ printf(\"%s\", \$1 == \$2 ? \"=\" : \"x\") }"
}

# The step keys of image $1 as "name=key" lines.
keys_of() {
    kiln inspect "$1" --provenance --json |
        jq -r ".provenance[0].statement.predicate.buildDefinition.internalParameters.steps[] | \"\(.step)=\(.key)\""
}

test_expect_success 'the provenance lists one key per step, in the plan order' '
    kiln build keys.yaml >/dev/null &&
    keys_of keys:1.0.0 >k1 &&
    test "$(cut -d= -f1 k1 | tr "\n" " ")" = "base files hostname output output " &&
    test "$(grep -cE "=[0-9a-f]{64}$" k1)" = 5
'

test_expect_success 'the same recipe and inputs give the same keys' '
    kiln build keys.yaml --version 1.0.1 >/dev/null &&
    keys_of keys:1.0.1 >k2 &&
    cmp k1 k2 &&
    test "$(same_keys k1 k2)" = "====="
'

test_expect_success 'a changed files src changes its step and every later one, not the base' '
    echo "two" >payload.txt &&
    kiln build keys.yaml --version 1.0.2 >/dev/null &&
    keys_of keys:1.0.2 >k3 &&
    test "$(same_keys k1 k3)" = "=xxxx"
'

test_expect_success 'a changed base tarball changes every key' '
    echo "more" >root/etc/motd &&
    tar -C root -cf base.tar . &&
    kiln build keys.yaml --version 1.0.3 >/dev/null &&
    keys_of keys:1.0.3 >k4 &&
    test "$(same_keys k3 k4)" = "xxxxx"
'

test_done
