#!/bin/bash
# kiln check and kiln build accept the same names and versions as the store:
# what check refuses, build refuses before any work, leaving the store as it
# was (no orphan blobs); what check accepts, build stores.
. "$(dirname "$0")/lib.sh"

recipe() { # FILE NAME VERSION
    printf 'name: "%s"\nversion: "%s"\nbase: {scratch: true}\nfiles:\n  - {content: "hi\\n", dest: /etc/motd}\noutputs: [oci, tar]\n' \
        "$2" "$3" >"$1"
}

test_expect_success 'a store with one image to compare against' '
    recipe ok.yaml web 1.0.0 &&
    kiln build ok.yaml --quiet >out &&
    test_grep "^web:1.0.0@sha256:" out
'

test_expect_success 'build metadata: check and build both refuse it with exit 2, store unchanged' '
    before=$(store_digest) &&
    recipe meta.yaml web 1.0.0+build.1 &&
    test_expect_code 2 kiln check meta.yaml &&
    test_grep "^kiln: meta.yaml:2:10: version .1.0.0+build.1. has build metadata (.+build.1.)" err &&
    cp err check.err &&
    test_expect_code 2 kiln build meta.yaml &&
    diff check.err err &&
    test "$(store_digest)" = "$before" &&
    test -z "$(find "$KILN_STORE/.kiln" -type f ! -name "*.lock")"
'

test_expect_success 'every name and version: check and build give the same answer' '
    before=$(store_digest) &&
    for case in "web 1.0.0-rc.1+exp.sha.5114f85" "web 1.0" "web v1.0.0" "web 01.0.0" "web 1.0.0-01" \
        "web 1.0.0-a_b" "web 1234567890123456789.0.0" "Web 1.0.0" "-web 1.0.0" "web/x 1.0.0"; do
        set -- $case &&
        recipe bad.yaml "$1" "$2" &&
        test_expect_code 2 kiln check bad.yaml &&
        cp err check.err &&
        test_expect_code 2 kiln build bad.yaml &&
        diff check.err err &&
        test "$(store_digest)" = "$before" || return 1
    done
'

test_expect_success 'what check accepts, build stores under that name and version' '
    for case in "web.app_1-x 2.1.0-rc.1" "0web 0.0.0" "web 1.0.0-x-y-z.--" "web 1.2.0-nightly.20261123.7"; do
        set -- $case &&
        recipe good.yaml "$1" "$2" &&
        kiln check good.yaml >out &&
        kiln build good.yaml --quiet >out &&
        test_grep "^$1:$2@sha256:" out &&
        kiln list "$1" --json >list &&
        jq -e --arg v "$2" "[.images[] | select(.version == \$v)] | length == 1" list || return 1
    done
'

test_expect_success 'the version and channel given to build are checked before any work' '
    before=$(store_digest) &&
    test_expect_code 2 kiln build ok.yaml --version 2.0.0+b &&
    test_grep "^kiln: version .2.0.0+b. has build metadata" err &&
    test_expect_code 2 kiln build ok.yaml --channel 1.0.0 &&
    test_grep "a version is not a channel" err &&
    recipe rc.yaml web 1.1.0-rc.1 &&
    kiln check rc.yaml >out &&
    test_expect_code 2 kiln build rc.yaml --version auto &&
    test_grep "^kiln: --version auto: auto version base .1.1.0-rc.1. must be MAJOR.MINOR.PATCH" err &&
    test "$(store_digest)" = "$before"
'

test_done
