#!/bin/bash
# A leaked key: re-sign with a new key, stop trusting the old key ID.  Also
# the two-person rule: verify reports every signer, so policy can demand two.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/data/sign/make-image.sh"

kiln keygen --output old >/dev/null
kiln keygen --output new --algorithm ed25519 >/dev/null
kiln keygen --output second >/dev/null
D=$(make_image app 1.0.0)
make_image app 1.1.0 >/dev/null
kiln sign app:1.0.0 --key old.key >/dev/null
kiln sign app:1.1.0 --key old.key >/dev/null

test_expect_success 'before the rotation the old key verifies both versions' '
    kiln verify app:1.0.0 --key old.pub && kiln verify app:1.1.0 --key old.pub
'

test_expect_success 'after re-signing only 1.1.0, trusting only the new key refuses 1.0.0' '
    kiln sign app:1.1.0 --key new.key >/dev/null &&
    kiln verify app:1.1.0 --key new.pub &&
    test_expect_code 3 kiln verify app:1.0.0 --key new.pub &&
    test_grep "unknown key" err
'

test_expect_success 'during the transition either key verifies; the report names the signers' '
    kiln verify app:1.1.0 --key new.pub --key old.pub --json >out &&
    jq -e "(.signers | length) == 2" out &&
    jq -e "[.signatures[].algorithm] | sort == [\"ecdsa-p256\", \"ed25519\"]" out
'

test_expect_success 'two signers on one image (two-person rule) are both reported' '
    kiln sign app:1.0.0 --key second.key >/dev/null &&
    kiln verify app:1.0.0 --key old.pub --key second.pub --json >out &&
    jq -e --arg a "$(kiln verify app:1.0.0 --key old.pub --json | jq -r ".signers[0]")" \
          --arg b "$(kiln verify app:1.0.0 --key second.pub --json | jq -r ".signers[0]")" \
          "(.signers | sort) == ([\$a, \$b] | sort) and \$a != \$b" out
'

test_expect_success 'the report has what an auditor needs' '
    kiln verify app:1.0.0 --key old.pub --json >out &&
    jq -e --arg d "$D" ".image == \"app:1.0.0\" and .digest == \$d and .verified" out &&
    jq -e "all(.signatures[]; has(\"keyId\") and has(\"algorithm\") and has(\"created\") and has(\"valid\"))" out &&
    jq -e "all(.blobs[]; .ok and (.digest | startswith(\"sha256:\")) and has(\"role\"))" out &&
    jq -e "[.blobs[].role] | sort == [\"config\", \"file manifest\", \"layer\", \"manifest\"]" out
'

test_expect_success 'a failed verification still prints the report with the reason' '
    test_expect_code 3 kiln verify app:1.0.0 --key new.pub --json &&
    jq -e ".verified == false and (.error | test(\"unknown key\"))" out
'

test_done
