#!/bin/bash
# Build cache: a cold build, a no-op rebuild and a one-file-changed rebuild
# of the same recipe, on a Debian 12 minbase root file system (~170 MB tar,
# made once with mmdebstrap and cached in bench/cache/) with a few `files`
# and an oci output.
#
#   cold      an empty store: every step runs
#   no-op     the same recipe and inputs again: every output's key is known
#             before the run (the tarball and the files hashed), no step runs
#   one-file  one files src changed: the base and the steps before the files
#             step are reused, the steps from the files step on run again
#
# The comparison is kiln with its cache against kiln without it (the cold
# build).  Each measurement is taken BENCH_RUNS times (default 3), in fresh
# stores for the cold build; the best wall time counts.  With
# BENCH_CACHE_GUEST=1 the recipe also has a `run` command (one appliance
# launch per uncached build; minutes under TCG): a file change then reruns
# the guest stage, since `run` may read the file.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
KILN=${KILN_BIN:-$SRC/kiln}
CACHE=$SRC/bench/cache
RUNS=${BENCH_RUNS:-3}
. "$SRC/bench/lib/rootfs.sh"
ROOTFS=$(rootfs bookworm-minbase)
echo "# rootfs: $(du -m "$ROOTFS" | cut -f1) MB, $(tar tf "$ROOTFS" | wc -l) entries"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/kiln-bench-cache.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "first" >"$WORK/motd"
echo "kiln bench" >"$WORK/issue"
{
    cat <<EOF
name: bench
version: 1.0.0
base:
  tarball:
    path: $ROOTFS
files:
  - src: motd
    dest: /etc/motd
  - src: issue
    dest: /etc/issue
hostname: bench
EOF
    if [ "${BENCH_CACHE_GUEST:-0}" = 1 ]; then
        printf 'run:\n  - command: "cat /etc/motd > /etc/motd.copy"\n'
    fi
    printf 'outputs:\n  - oci\n'
} >"$WORK/bench.yaml"

# measure NAME STORE ARGS... -> appends "wall" to $WORK/NAME.times; the step lines in $WORK/NAME.log
measure() {
    _name=$1 _store=$2
    shift 2
    /usr/bin/time -f '%e' -o "$WORK/time.out" env KILN_ALLOW_DEVICES=1 "$KILN" build "$WORK/bench.yaml" \
        --context "$CACHE" --store "$_store" --verbose "$@" >"$WORK/$_name.out" 2>"$WORK/$_name.log" || {
        echo "bench: $_name failed:" >&2
        tail -n 20 "$WORK/$_name.log" >&2
        return 1
    }
    tail -n 1 "$WORK/time.out" >>"$WORK/$_name.times"
}

v=0
for i in $(seq "$RUNS"); do
    echo "first" >"$WORK/motd"
    sync
    measure cold "$WORK/store-$i"
    measure noop "$WORK/store-$i"
    v=$((v + 1))
    echo "changed $v" >"$WORK/motd"
    measure onefile "$WORK/store-$i" --version "1.0.$v"
done

best() { sort -n "$WORK/$1.times" | head -n 1; }
steps() { grep -c "^step [0-9]*/[0-9]*: [a-z]*$" "$WORK/$1.log" || true; }
cw=$(best cold) nw=$(best noop) ow=$(best onefile)
same=no
[ "$(cut -d@ -f2 "$WORK/cold.out")" = "$(cut -d@ -f2 "$WORK/noop.out")" ] && same=yes
echo "# cold:     ${cw}s  (steps run: $(steps cold); runs: $(tr '\n' ' ' <"$WORK/cold.times"))"
echo "# no-op:    ${nw}s  (steps run: $(steps noop); same digest: $same; runs: $(tr '\n' ' ' <"$WORK/noop.times"))"
echo "# one-file: ${ow}s  (steps run: $(steps onefile); runs: $(tr '\n' ' ' <"$WORK/onefile.times"))"
awk -v c="$cw" -v n="$nw" -v o="$ow" \
    'BEGIN { printf "no-op/cold: %.3f  one-file/cold: %.3f  no-op under 1 s: %s\n", n / c, o / c, n < 1 ? "yes" : "no" }'
