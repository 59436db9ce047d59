#!/bin/bash
# make demo: bake every example recipe into the default store and show what was made.
set -eu
cd "$(dirname "$0")/.."
rc=0
# The busybox example copies the host's /bin/busybox: /bin joins the build
# context (the others read nothing from the host).
for r in recipes/examples/*.yaml; do
    echo "== kiln build $r --context /bin"
    if ! ./kiln build "$r" --context /bin; then
        echo "demo: building $r failed" >&2
        rc=1
    fi
done
echo
echo "== kiln list"
./kiln list
exit $rc
