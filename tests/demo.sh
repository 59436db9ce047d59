#!/bin/bash
# make demo: bake every example recipe into the default store and show what was made.
set -eu
cd "$(dirname "$0")/.."
rc=0
for r in recipes/examples/*.yaml; do
    echo "== kiln build $r"
    if ! ./kiln build "$r"; then
        echo "demo: building $r failed" >&2
        rc=1
    fi
done
echo
echo "== kiln list"
./kiln list
exit $rc
