#!/bin/bash
# Runs every benchmark in bench/ (bench/NAME.sh) and prints its ratios.
# Each benchmark measures kiln and a peer tool in the same run.
set -eu
cd "$(dirname "$0")/.."
rc=0
for b in bench/*.sh; do
    [ "$b" = bench/run.sh ] && continue
    echo "== $(basename "$b" .sh)"
    bash "$b" || rc=1
done
exit $rc
