#!/bin/bash
# ci/nightly end to end: a small busybox recipe is built, signed with a
# throwaway key, verified and pushed with `kiln push` to a docker-registry
# the test starts on 127.0.0.1, as NAME:VERSION and NAME:nightly, with its
# signature and provenance under the referrers tag.  The next night moves
# `nightly` and leaves the first version where it was; a registry that cannot
# be reached fails the run and marks nothing as passed; the credentials a CI
# job writes with ci/registry-auth carry a push over TLS with htpasswd;
# without KILN_PUSH the script builds, signs and verifies as before and
# pushes nothing.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/integration/registry-lib.sh"

PORT=$(free_port)
REG=127.0.0.1:$PORT
NIGHTLY=$KILN_SRC/ci/nightly
export KILN_CONTEXT= KILN_PUBLIC_KEY=$TEST_DIR/ci.pub

cp /bin/busybox busybox-static
cat >tiny.yaml <<'EOF_RECIPE'
name: tiny
version: 2.1.0
base:
  scratch: true
files:
  - src: busybox-static
    dest: /bin/busybox
    mode: 0755
  - link: busybox
    dest: /bin/sh
  - src: motd
    dest: /etc/motd
container:
  entrypoint: [/bin/sh]
outputs:
  - oci
EOF_RECIPE

# nightly REPORT [ARGS...]: runs ci/nightly on tiny.yaml with the signing
# key from the environment, as a CI job would, with the kiln under test;
# its output in REPORT.log.
nightly() {
    _report=$1 &&
    shift &&
    KILN_BIN=$KILN_BIN KILN_SIGNING_KEY="$(cat ci.key)" KILN_REPORT=$TEST_DIR/$_report \
        bash "$NIGHTLY" "$@" "$TEST_DIR/tiny.yaml" >"$_report.log" 2>&1
}

# The digest the registry answers for TAG of tiny, as skopeo sees it.
registry_digest() {
    skopeo inspect --tls-verify=false "docker://$REG/nightly/tiny:$1" | jq -r .Digest
}

# The referrers the store lists for a digest, sorted.
store_referrers() {
    jq -r --arg d "$1" '[.manifests[] | select(.annotations["dev.kiln.subject"] == $d) | .digest] | sort | .[]' \
        "$KILN_STORE/index.json"
}

test_expect_success 'setup: a throwaway signing key and a plain-HTTP registry' '
    kiln keygen --output ci >/dev/null &&
    echo "first night" >motd &&
    start_registry reg "$PORT"
'

test_expect_success 'ci/nightly pushes the image as NAME:VERSION and NAME:nightly, the digest its report names' '
    KILN_PUSH=$REG/nightly KILN_PUSH_FLAGS="--insecure --jobs 2" nightly r1.jsonl &&
    test "$(wc -l <r1.jsonl)" -eq 1 &&
    jq -e ".passed == true and .name == \"tiny\"" r1.jsonl &&
    version=$(jq -r .version r1.jsonl) &&
    digest=$(jq -r .digest r1.jsonl) &&
    case "$version" in 2.1.0-nightly.*) ;; *) false ;; esac &&
    jq -e --arg d "$digest" --arg v "$REG/nightly/tiny:$version" \
        ".pushed.digest == \$d and .pushed.version == \$v and .pushed.nightly == \"$REG/nightly/tiny:nightly\"" r1.jsonl &&
    test "$(registry_digest "$version")" = "$digest" &&
    test "$(registry_digest nightly)" = "$digest" &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/nightly/tiny:nightly" >raw.json &&
    cmp raw.json "$KILN_STORE/blobs/sha256/${digest#sha256:}" &&
    echo "$version" >v1 && echo "$digest" >d1
'

test_expect_success 'the signature, the provenance and the SBOMs are reachable under the fallback tag sha256-<hex>' '
    digest=$(cat d1) &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/nightly/tiny:sha256-${digest#sha256:}" >refs.json &&
    jq -e ".mediaType == \"application/vnd.oci.image.index.v1+json\"" refs.json &&
    jq -r "[.manifests[] | select(.artifactType != \"application/vnd.dev.kiln.channel.v1\") | .digest] | sort | .[]" refs.json >listed &&
    store_referrers "$digest" >expected &&
    diff expected listed &&
    jq -e "[.manifests[].artifactType] | sort == [\"application/vnd.dev.kiln.channel.v1\", \"application/vnd.dev.kiln.provenance.v1\", \"application/vnd.dev.kiln.sbom.cyclonedx.v1\", \"application/vnd.dev.kiln.sbom.spdx.v1\", \"application/vnd.dev.kiln.signature.v1\"]" refs.json &&
    sig=$(jq -r ".manifests[] | select(.artifactType == \"application/vnd.dev.kiln.signature.v1\") | .digest" refs.json) &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/nightly/tiny@$sig" >sig.json &&
    jq -e --arg d "$digest" ".subject.digest == \$d" sig.json &&
    cmp sig.json "$KILN_STORE/blobs/sha256/${sig#sha256:}" &&
    kiln verify "tiny:$(cat v1)" --key ci.pub >/dev/null
'

test_expect_success 'the nightly tag went up without sending a blob again' '
    test "$(grep -c "PUT /v2/nightly/tiny/manifests/nightly" reg.log)" -eq 1 &&
    grep -o "PUT /v2/nightly/tiny/blobs/uploads/[^ ]*digest=sha256%3A[0-9a-f]*" reg.log | sed "s/.*%3A//" >sent &&
    test -s sent &&
    test "$(sort -u sent | wc -l)" -eq "$(wc -l <sent)"
'

test_expect_success 'the next night moves nightly to the new version and leaves the old one' '
    echo "second night" >motd &&
    KILN_PUSH=$REG/nightly KILN_PUSH_FLAGS=--insecure nightly r2.jsonl &&
    version=$(jq -r .version r2.jsonl) &&
    digest=$(jq -r .digest r2.jsonl) &&
    test "$version" != "$(cat v1)" &&
    test "$digest" != "$(cat d1)" &&
    test "$(registry_digest "$version")" = "$digest" &&
    test "$(registry_digest nightly)" = "$digest" &&
    test "$(registry_digest "$(cat v1)")" = "$(cat d1)" &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/nightly/tiny:sha256-${digest#sha256:}" >refs2.json &&
    jq -e "[.manifests[].artifactType] | index(\"application/vnd.dev.kiln.signature.v1\") != null" refs2.json
'

test_expect_success 'hosts follow nightly: a signed channel statement that kiln pull checks' '
    digest=$(jq -r .digest r2.jsonl) &&
    kiln pull "$REG/nightly/tiny:nightly" --key ci.pub --insecure --store host --json >host.json &&
    jq -e --arg d "$digest" ".digest == \$d" host.json &&
    skopeo inspect --raw --tls-verify=false "docker://$REG/nightly/tiny:sha256-${digest#sha256:}" >refs3.json &&
    jq -e "[.manifests[].artifactType] | index(\"application/vnd.dev.kiln.channel.v1\") != null" refs3.json
'

test_expect_success 'ci/promote moves stable on the registry to a verified version; hosts pull :stable' '
    v1=$(cat v1) && d1=$(cat d1) &&
    KILN_BIN=$KILN_BIN KILN_SIGNING_KEY_FILE=$TEST_DIR/ci.key KILN_PUSH_FLAGS="--insecure --jobs 2" \
        bash "$KILN_SRC/ci/promote" "$REG/nightly/tiny:$v1" stable >promote.out &&
    test "$(registry_digest stable)" = "$d1" &&
    kiln pull "$REG/nightly/tiny:stable" --key ci.pub --insecure --store host2 --json >host2.json &&
    jq -e --arg d "$d1" --arg v "$v1" ".digest == \$d and .version == \$v" host2.json &&
    kiln keygen --output intruder >/dev/null &&
    rc=0 &&
    { KILN_BIN=$KILN_BIN KILN_PUBLIC_KEY=$TEST_DIR/intruder.pub KILN_SIGNING_KEY="$(cat intruder.key)" \
        KILN_PUSH_FLAGS=--insecure bash "$KILN_SRC/ci/promote" "$REG/nightly/tiny:$(jq -r .version r2.jsonl)" stable \
        >promote2.out 2>promote2.err || rc=$?; } &&
    test "$rc" -eq 3 &&
    test "$(registry_digest stable)" = "$d1"
'

test_expect_success 'a registry that cannot be reached fails the run (exit 1) and nothing is marked passed' '
    dead=$(free_port) &&
    echo "third night" >motd &&
    rc=0 &&
    { KILN_PUSH=127.0.0.1:$dead/nightly KILN_PUSH_FLAGS=--insecure nightly r3.jsonl || rc=$?; } &&
    test "$rc" -eq 1 &&
    test ! -s r3.jsonl &&
    test_grep "nightly: push of tiny:.* to 127.0.0.1:$dead/nightly/tiny:.* failed (exit 1)" r3.jsonl.log &&
    test_grep "registry .127.0.0.1:$dead. repository .nightly/tiny." r3.jsonl.log
'

test_expect_success 'a bad KILN_PUSH_FLAGS is a usage error (exit 2) named in the log' '
    echo "fourth night" >motd &&
    rc=0 &&
    { KILN_PUSH=$REG/nightly KILN_PUSH_FLAGS="--insecure --jobs 0" nightly r4.jsonl || rc=$?; } &&
    test "$rc" -eq 2 &&
    test ! -s r4.jsonl &&
    test_grep "jobs" r4.jsonl.log
'

TPORT=$(free_port)
TREG=127.0.0.1:$TPORT

test_expect_success 'as a CI job does: ci/registry-auth writes the credentials, then a push over TLS with htpasswd' '
    start_tls_registry tls "$TPORT" ci:s3cret &&
    echo "sixth night" >motd &&
    KILN_PUSH=$TREG/ci REGISTRY_USER=ci REGISTRY_PASSWORD=s3cret bash "$KILN_SRC/ci/registry-auth" >auth.out &&
    test "$(stat -c %a "$HOME/.docker/config.json")" = 600 &&
    ! grep -q s3cret "$HOME/.docker/config.json" &&
    KILN_PUSH=$TREG/ci KILN_PUSH_FLAGS="--ca-file $TEST_DIR/tls.crt" nightly r6.jsonl &&
    digest=$(jq -r .digest r6.jsonl) &&
    test "$(jq -r .pushed.digest r6.jsonl)" = "$digest" &&
    test "$(skopeo inspect --creds ci:s3cret --tls-verify=false "docker://$TREG/ci/tiny:nightly" | jq -r .Digest)" = "$digest" &&
    rm "$HOME/.docker/config.json" &&
    echo "seventh night" >motd &&
    rc=0 &&
    { KILN_PUSH=$TREG/ci KILN_PUSH_FLAGS="--ca-file $TEST_DIR/tls.crt" nightly r7.jsonl || rc=$?; } &&
    test "$rc" -eq 1 &&
    test_grep UNAUTHORIZED r7.jsonl.log
'

test_expect_success 'without KILN_PUSH: built, signed, verified, nightly in the store, nothing pushed' '
    echo "fifth night" >motd &&
    before=$(grep -c "PUT /v2/" reg.log) &&
    nightly r5.jsonl &&
    jq -e ".passed == true and (has(\"pushed\") | not)" r5.jsonl &&
    version=$(jq -r .version r5.jsonl) &&
    kiln verify "tiny:$version" --key ci.pub >/dev/null &&
    kiln inspect tiny:nightly --json >nightly.json &&
    test "$(jq -r .digest nightly.json)" = "$(jq -r .digest r5.jsonl)" &&
    test "$(grep -c "PUT /v2/" reg.log)" -eq "$before"
'

# yaml2json FILE: the YAML file as JSON (python3-yaml).
yaml2json() {
    python3 -c "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)" "$1"
}

test_expect_success 'the CI definitions parse and run ci/nightly once per example recipe, pushing' '
    (cd "$KILN_SRC" && ls recipes/examples/*.yaml) >recipes &&
    test -s recipes &&
    yaml2json "$KILN_SRC/ci/pipeline.yml" >gitlab.json &&
    jq -r ".\"nightly-images\".parallel.matrix[0].RECIPE[]" gitlab.json | sort >gitlab.recipes &&
    diff recipes gitlab.recipes &&
    jq -e "[.\"nightly-images\".script[] | select(startswith(\"ci/nightly \") or . == \"ci/registry-auth\")] | length == 2" gitlab.json &&
    yaml2json "$KILN_SRC/.github/workflows/nightly.yml" >github.json &&
    jq -e ".jobs.recipes.steps[1].run | contains(\"recipes/examples/*.yaml\")" github.json &&
    jq -e ".jobs.image.strategy.matrix.recipe | contains(\"needs.recipes.outputs.recipes\")" github.json &&
    jq -e "[.jobs.image.steps[].run // empty] | any(startswith(\"ci/nightly \")) and any(contains(\"ci/registry-auth\"))" github.json &&
    jq -e ".jobs.image.env.KILN_PUSH != null" github.json &&
    want="ci/promote \"\$KILN_PUSH/\$IMAGE\"" &&
    jq -e --arg w "$want stable" ".\"promote-stable\".script | index(\$w) != null and index(\"ci/registry-auth\") != null" gitlab.json &&
    yaml2json "$KILN_SRC/.github/workflows/promote.yml" >promote.json &&
    jq -e --arg w "$want" "[.jobs.promote.steps[].run // empty] | any(startswith(\$w)) and any(contains(\"ci/registry-auth\"))" promote.json &&
    jq -e --slurpfile g github.json ".jobs.promote.env.KILN_PUSH == \$g[0].jobs.image.env.KILN_PUSH" promote.json
'

test_done
