#!/bin/bash
# OCI image build: kiln vs umoci, on a Debian 12 minbase root file system
# (~170 MB tar, made once with mmdebstrap and cached in bench/cache/).
#
# kiln:  `kiln build` of a recipe whose base is that tarball, output oci.
# umoci: umoci init + new, unpack the empty image, extract the rootfs into
#        the bundle, umoci repack (what a umoci-based pipeline does).
# The rootfs has device nodes (/dev/null, ...): kiln accepts them here with
# KILN_ALLOW_DEVICES=1, as umoci does when run as root.
# Each tool runs three times (BENCH_RUNS) into fresh stores, alternating; the best
# wall time and the largest peak RSS (/usr/bin/time -f '%e %M') are compared, and the two
# runs' manifest digests say whether the tool's output is reproducible.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
KILN=${KILN_BIN:-$SRC/kiln}
CACHE=$SRC/bench/cache
RUNS=${BENCH_RUNS:-3}
. "$SRC/bench/lib/rootfs.sh"
ROOTFS=$(rootfs bookworm-minbase)
echo "# rootfs: $(du -m "$ROOTFS" | cut -f1) MB, $(tar tf "$ROOTFS" | wc -l) entries"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/kiln-bench-oci.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/bench.yaml" <<EOF
name: bench
version: 1.0.0
base:
  tarball:
    path: $ROOTFS
outputs:
  - oci
EOF

# measure NAME CMD... -> appends "wall rss" to $WORK/NAME.times
measure() {
    _name=$1
    shift
    /usr/bin/time -f '%e %M %U %S' -o "$WORK/time.out" "$@" >"$WORK/$_name.log" 2>&1 || {
        echo "bench: $_name failed:" >&2
        tail -n 20 "$WORK/$_name.log" >&2
        return 1
    }
    tail -n 1 "$WORK/time.out" >>"$WORK/$_name.times"
}

umoci_build() { # LAYOUT BUNDLE
    umoci init --layout "$1" &&
        umoci new --image "$1:bench" &&
        umoci unpack --image "$1:bench" "$2" &&
        tar -C "$2/rootfs" -xf "$ROOTFS" &&
        umoci repack --image "$1:bench" "$2"
}
export -f umoci_build
export ROOTFS

manifest_digest() { # LAYOUT REF
    jq -r --arg r "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
        "$1/index.json"
}

for i in $(seq "$RUNS"); do
    sync
    measure kiln env KILN_ALLOW_DEVICES=1 "$KILN" build "$WORK/bench.yaml" --context "$CACHE" --store "$WORK/kiln-$i" --quiet
    sync
    measure umoci bash -c 'umoci_build "$0" "$1"' "$WORK/umoci-$i" "$WORK/bundle-$i"
    rm -rf "$WORK/bundle-$i"
done

best() { sort -n -k1,1 "$WORK/$1.times" | head -n 1 | cut -d" " -f1; }
peak() { sort -n -k2,2 "$WORK/$1.times" | tail -n 1 | cut -d" " -f2; }
cpu() { awk '{ c = $3 + $4; if (NR == 1 || c < m) m = c } END { printf "%.2f", m }' "$WORK/$1.times"; }

kw=$(best kiln) kr=$(peak kiln) uw=$(best umoci) ur=$(peak umoci)
# Wall time is noisy on a loaded machine: the CPU time (user+sys) is shown too.
echo "# kiln:  wall ${kw}s  cpu $(cpu kiln)s  peak-rss $((kr / 1024)) MB  (runs: $(cut -d" " -f1 "$WORK/kiln.times" | tr '\n' ' '))"
echo "# umoci: wall ${uw}s  cpu $(cpu umoci)s  peak-rss $((ur / 1024)) MB  (runs: $(cut -d" " -f1 "$WORK/umoci.times" | tr '\n' ' '))"

repro() { # TOOL REF
    _first=$(manifest_digest "$WORK/$1-1" "$2")
    for i in $(seq 2 "$RUNS"); do
        [ "$(manifest_digest "$WORK/$1-$i" "$2")" = "$_first" ] || { echo no; return; }
    done
    [ -n "$_first" ] && echo yes || echo no
}
echo "# reproducible across $RUNS runs: kiln $(repro kiln bench:1.0.0), umoci $(repro umoci bench)"
awk -v kw="$kw" -v uw="$uw" -v kr="$kr" -v ur="$ur" \
    'BEGIN { printf "kiln/umoci wall: %.2f  peak-rss: %.2f\n", kw / uw, kr / ur }'
