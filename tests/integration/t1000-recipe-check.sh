#!/bin/bash
# kiln check prints valid recipes normalised, with every default filled in.
. "$(dirname "$0")/lib.sh"

# The busybox example copies the host's /bin/busybox: its build context
# must be widened to /bin.
test_expect_success 'every example recipe is valid' '
    for f in "$KILN_SRC"/recipes/examples/*.yaml; do
        test -f "$f" &&
        kiln check "$f" --context /bin >out 2>err &&
        test_grep -q "^name: " out || return 1
    done
'

test_expect_success 'the busybox example needs --context /bin, as the README says' '
    test_expect_code 2 kiln check "$KILN_SRC/recipes/examples/busybox.yaml" &&
    test_grep "files\[0\].src ./bin/busybox. .*is outside the build context .*(use --context to widen it)" err &&
    test_grep -F "kiln build recipes/examples/busybox.yaml --context /bin" "$KILN_SRC/README.md"
'

test_expect_success 'the busybox example prints its normalised form' '
    kiln check "$KILN_SRC/recipes/examples/busybox.yaml" --context /bin >out &&
    test_grep "^# .*busybox.yaml: valid$" out &&
    test_grep "^version: 1.0.0$" out &&
    test_grep "^  kind: scratch$" out &&
    test_grep "^  mode: \"0755\"$" out &&
    test_grep "^- type: tar$" out
'

test_expect_success 'kiln check --json prints the normalised recipe with defaults' '
    kiln check --json "$KILN_SRC/recipes/examples/busybox.yaml" --context /bin >out &&
    jq -e ".name == \"busybox\" and .version == \"1.0.0\" and .base.kind == \"scratch\"" out &&
    jq -e ".files[0] == {\"dest\":\"/bin/busybox\",\"src\":\"/bin/busybox\",\"mode\":\"0755\",\"owner\":\"root\",\"after_run\":false}" out &&
    jq -e "[.files[] | select(.dest == \"/bin/sh\")][0].link == \"busybox\"" out &&
    jq -e "[.outputs[].type] == [\"oci\", \"tar\"]" out &&
    jq -e ".sysprep == true and .boot_test.marker == \"login:\" and .needs_guest == false" out &&
    jq -e ".sha256 | test(\"^[0-9a-f]{64}$\")" out &&
    test "$(jq -r .sha256 out)" = "$(sha256sum <"$KILN_SRC/recipes/examples/busybox.yaml" | cut -d" " -f1)"
'

test_expect_success 'several recipes give a JSON array, in order' '
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\n" >a.yaml &&
    printf "name: b\nversion: 0.2.0\nbase: {scratch: true}\noutputs: [tar]\n" >b.yaml &&
    kiln check --json a.yaml b.yaml >out &&
    jq -e "length == 2 and .[0].name == \"a\" and .[1].outputs == [{\"type\":\"tar\"}]" out
'

test_expect_success 'relative paths resolve against the recipe folder, not the working directory' '
    mkdir -p proj/files &&
    echo hello >proj/files/motd &&
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\nfiles: [{src: files/motd, dest: /etc/motd}]\n" >proj/r.yaml &&
    kiln check --json proj/r.yaml >out &&
    test "$(jq -r ".files[0].src" out)" = "$TEST_DIR/proj/files/motd"
'

test_expect_success 'a symlinked recipe resolves paths next to the link' '
    mkdir -p elsewhere proj2/files &&
    echo hi >proj2/files/motd &&
    printf "name: a\nversion: 0.1.0\nbase: {scratch: true}\nfiles: [{src: files/motd, dest: /etc/motd}]\n" >elsewhere/r.yaml &&
    ln -s ../elsewhere/r.yaml proj2/r.yaml &&
    kiln check --json proj2/r.yaml >out &&
    test "$(jq -r ".files[0].src" out)" = "$TEST_DIR/proj2/files/motd" &&
    test "$(jq -r .path out)" = "$TEST_DIR/proj2/r.yaml"
'

test_expect_success 'the example in the README is a valid recipe' '
    fence=$(printf "\\140\\140\\140") &&
    awk -v f="$fence" "/^A small example/ { on = 1 } on && \$0 == f { exit } on && go { print } on && \$0 == f \"yaml\" { go = 1 }" \
        "$KILN_SRC/README.md" >readme.yaml &&
    test_grep -q "^name: " readme.yaml &&
    mkdir -p site && echo hi >site/index.html &&
    kiln check --json readme.yaml >out &&
    jq -e ".outputs[1].type == \"qcow2\" and .outputs[1].size == 4294967296" out
'

test_done
