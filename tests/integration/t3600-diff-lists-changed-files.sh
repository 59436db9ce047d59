#!/bin/bash
# kiln diff compares two images' file manifests: added, removed and changed
# paths with what changed, sorted; exit 0 whether or not they differ.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/export-lib.sh"

mkdir -p l/etc
echo x >l/etc/x
cat >a.json <<'JSON'
{"version":1,"files":[
 {"path":"/bin","type":"dir","mode":"0755","uid":0,"gid":0},
 {"path":"/bin/sh","type":"symlink","target":"busybox","mode":"0777","uid":0,"gid":0},
 {"path":"/etc","type":"dir","mode":"0755","uid":0,"gid":0},
 {"path":"/etc/motd","type":"file","mode":"0644","uid":0,"gid":0,"size":5,"sha256":"1111111111111111111111111111111111111111111111111111111111111111"},
 {"path":"/etc/old","type":"file","mode":"0644","uid":0,"gid":0,"size":1,"sha256":"2222222222222222222222222222222222222222222222222222222222222222"},
 {"path":"/etc/shadow","type":"file","mode":"0640","uid":0,"gid":42,"size":9,"sha256":"3333333333333333333333333333333333333333333333333333333333333333"}]}
JSON
cat >b.json <<'JSON'
{"version":1,"files":[
 {"path":"/bin","type":"dir","mode":"0755","uid":0,"gid":0},
 {"path":"/bin/sh","type":"symlink","target":"dash","mode":"0777","uid":0,"gid":0},
 {"path":"/etc","type":"dir","mode":"0755","uid":0,"gid":0},
 {"path":"/etc/motd","type":"file","mode":"0600","uid":0,"gid":0,"size":6,"sha256":"4444444444444444444444444444444444444444444444444444444444444444"},
 {"path":"/etc/new","type":"file","mode":"0644","uid":0,"gid":0,"size":1,"sha256":"5555555555555555555555555555555555555555555555555555555555555555"},
 {"path":"/etc/shadow","type":"file","mode":"0640","uid":0,"gid":0,"size":9,"sha256":"3333333333333333333333333333333333333333333333333333333333333333"}]}
JSON
fixture_image "$KILN_STORE" app 1.0.0 a.json l >/dev/null
fixture_image "$KILN_STORE" app 1.1.0 b.json l >/dev/null
fixture_image "$KILN_STORE" bare 1.0.0 "" l >/dev/null

test_expect_success 'diff lists added, removed and changed paths, sorted, and exits 0' '
    kiln diff app:1.0.0 app:1.1.0 >out &&
    cat >want <<-\EOT &&
	~ /bin/sh (target)
	~ /etc/motd (content, mode)
	+ /etc/new
	- /etc/old
	~ /etc/shadow (owner)
	EOT
    diff -u want out
'

test_expect_success 'diff --json gives added, removed and changed with fields' '
    kiln diff app:1.0.0 app:1.1.0 --json >out &&
    jq -e ".added == [\"/etc/new\"] and .removed == [\"/etc/old\"]" out &&
    jq -e ".changed == [{\"path\":\"/bin/sh\",\"fields\":[\"target\"]},{\"path\":\"/etc/motd\",\"fields\":[\"content\",\"mode\"]},{\"path\":\"/etc/shadow\",\"fields\":[\"owner\"]}]" out
'

test_expect_success 'diff the other way round swaps added and removed' '
    kiln diff app:1.1.0 app:1.0.0 --json >out &&
    jq -e ".added == [\"/etc/old\"] and .removed == [\"/etc/new\"]" out
'

test_expect_success 'an image compared with itself prints nothing and exits 0' '
    kiln diff app:1.0.0 app:1.0.0 >out &&
    test ! -s out &&
    kiln diff app:1.0.0 app:1.0.0 --json >out &&
    jq -e ".added == [] and .removed == [] and .changed == []" out
'

test_expect_success 'refs resolve like everywhere else (NAME is the newest version)' '
    kiln diff app:1.0.0 app >out &&
    test_grep "+ /etc/new" out
'

test_expect_success 'an image without a file manifest exits 1 and says so' '
    test_expect_code 1 kiln diff app:1.0.0 bare:1.0.0 &&
    test_grep "image .bare:1.0.0. has no file manifest" err
'

test_expect_success 'a missing image exits 1; wrong arguments exit 2' '
    test_expect_code 1 kiln diff app:1.0.0 app:7.0.0 &&
    test_expect_code 2 kiln diff app:1.0.0 &&
    test_expect_code 2 kiln diff app:1.0.0 app:1.1.0 app:1.0.0
'

test_expect_success 'a corrupt file manifest exits 3' '
    f=$(jq -r ".annotations[\"dev.kiln.files\"]" "$KILN_STORE/blobs/sha256/$(jq -r ".manifests[0].digest" "$KILN_STORE/index.json" | cut -d: -f2)") &&
    echo "{}" >"$KILN_STORE/blobs/sha256/${f#sha256:}" &&
    test_expect_code 3 kiln diff app:1.0.0 app:1.1.0 &&
    test_grep "is corrupt" err
'

test_done
