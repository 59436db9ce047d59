#!/bin/bash
# Build cache: a cold build, a no-op rebuild and a one-file-changed rebuild
# of the same recipe, on a Debian 12 minbase root file system (~170 MB tar,
# made once with mmdebstrap and cached in bench/cache/) with a few `files`
# and an oci output.
#
#   cold      an empty store: every step runs
#   no-op     the same recipe and inputs again: every output's key is known
#             before the run (the tarball and the files hashed), no step runs
#   one-file  one files src changed: the steps from the files step on run
#             again (the tarball base is read again: a tree kept in the store
#             costs as much to read back, and the image's one layer is
#             compressed again whatever changed), so it is close to cold
#
# The comparison is kiln with its cache against kiln without it (the cold
# build).  Each measurement is taken BENCH_RUNS times (default 3), in fresh
# stores for the cold build; the best wall time counts.  With
# BENCH_CACHE_GUEST=1 the recipe also has a `run` command (one appliance
# launch per uncached build; minutes under TCG): a file change then reruns
# the guest stage, since `run` may read the file.  Under load, compare the
# CPU times (user+sys), which the other builds on the machine do not inflate.
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

# measure NAME STORE ARGS... -> appends "wall user sys" to $WORK/NAME.times; the step lines in $WORK/NAME.log
measure() {
    _name=$1 _store=$2
    shift 2
    /usr/bin/time -f '%e %U %S' -o "$WORK/time.out" env KILN_ALLOW_DEVICES=1 "$KILN" build "$WORK/bench.yaml" \
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

best() { sort -n -k1,1 "$WORK/$1.times" | head -n 1 | cut -d" " -f1; }
# Wall time is noisy on a loaded machine: the CPU time (user+sys) is shown too.
cpu() { awk '{ c = $2 + $3; if (NR == 1 || c < m) m = c } END { printf "%.2f", m }' "$WORK/$1.times"; }
steps() { grep -c "^step [0-9]*/[0-9]*: [a-z-]*$" "$WORK/$1.log" || true; }
cw=$(best cold) nw=$(best noop) ow=$(best onefile)
same=no
[ "$(cut -d@ -f2 "$WORK/cold.out")" = "$(cut -d@ -f2 "$WORK/noop.out")" ] && same=yes
walls() { cut -d" " -f1 "$WORK/$1.times" | tr '\n' ' '; }
echo "# cold:     wall ${cw}s  cpu $(cpu cold)s  (steps run: $(steps cold); runs: $(walls cold))"
echo "# no-op:    wall ${nw}s  cpu $(cpu noop)s  (steps run: $(steps noop); same digest: $same; runs: $(walls noop))"
echo "# one-file: wall ${ow}s  cpu $(cpu onefile)s  (steps run: $(steps onefile); runs: $(walls onefile))"
awk -v c="$cw" -v n="$nw" -v o="$ow" -v cc="$(cpu cold)" -v nc="$(cpu noop)" -v oc="$(cpu onefile)" \
    'BEGIN { printf "no-op/cold wall: %.3f cpu: %.3f  one-file/cold wall: %.3f cpu: %.3f  no-op under 1 s: %s\n",
             n / c, nc / cc, o / c, oc / cc, n < 1 ? "yes" : "no" }'

# The Debian example (recipes/examples/debian.yaml: a debian base, packages,
# users, run, oci and qcow2 outputs) with one file more, marked after_run (a
# file the image serves, which `run` does not need): a cold build, then
# no-op rebuilds, each of which checks the mirror's signed InRelease (the
# key of the base), then a rebuild with that file changed, which starts
# from the tree the guest stage made (cached), then one with its `run`
# changed, which reruns from the guest stage on.  Targets: the no-op rebuild
# under 1 s with the same digest; the one-file rebuild under a third of the
# cold build, which starts from an empty store and an empty Debian base
# cache (mmdebstrap runs), as on a new CI runner.  Minutes under TCG (one
# bootstrap, two appliance runs);
# BENCH_CACHE_DEBIAN=0 skips it.
[ "${BENCH_CACHE_DEBIAN:-1}" = 1 ] || exit 0
DEB=$WORK/debian
mkdir -p "$DEB"
cp "$SRC/recipes/examples/debian.yaml" "$DEB/debian.yaml"
echo "<h1>first</h1>" >"$DEB/index.html"
printf 'files:\n  - {src: index.html, dest: /srv/index.html, after_run: true}\n' >>"$DEB/debian.yaml"
dmeasure() {
    _name=$1
    shift
    /usr/bin/time -f '%e %U %S' -o "$WORK/time.out" env XDG_CACHE_HOME="$DEB/cache" \
        "$KILN" build "$DEB/debian.yaml" --store "$DEB/store" \
        --verbose "$@" >"$WORK/$_name.out" 2>"$WORK/$_name.log" || {
        echo "bench: $_name failed:" >&2
        tail -n 20 "$WORK/$_name.log" >&2
        return 1
    }
    tail -n 1 "$WORK/time.out" >>"$WORK/$_name.times"
}
dmeasure dcold
for i in $(seq "$RUNS"); do dmeasure dnoop; done
echo "<h1>second</h1>" >"$DEB/index.html"
dmeasure dfile --version 1.0.1
sed -i 's/echo "built by kiln"/echo "built by kiln, again"/' "$DEB/debian.yaml"
dmeasure drun --version 1.0.2
dsame=no
[ "$(cut -d@ -f2 "$WORK/dcold.out")" = "$(cut -d@ -f2 "$WORK/dnoop.out")" ] && dsame=yes
first_run() { grep -m1 -o "^step [0-9]*/[0-9]*: [a-z-]*$" "$WORK/$1.log" | sed 's/^step //' || echo none; }
grep -q "^checking the mirror state of " "$WORK/dnoop.log" && inrel=yes || inrel=no
echo "# debian cold:   wall $(best dcold)s  cpu $(cpu dcold)s  (steps run: $(steps dcold))"
echo "# debian no-op:  wall $(best dnoop)s  cpu $(cpu dnoop)s  (steps run: $(steps dnoop); InRelease checked: $inrel; same digest: $dsame; runs: $(walls dnoop))"
echo "# debian one-file: wall $(best dfile)s  cpu $(cpu dfile)s  (steps run: $(steps dfile), from $(first_run dfile))"
echo "# debian run changed: wall $(best drun)s  cpu $(cpu drun)s  (steps run: $(steps drun), from $(first_run drun))"
awk -v c="$(best dcold)" -v n="$(best dnoop)" -v f="$(best dfile)" -v r="$(best drun)" \
    'BEGIN { printf "debian no-op/cold wall: %.4f  one-file/cold wall: %.3f  run-changed/cold wall: %.3f  no-op under 1 s: %s  one-file under 1/3: %s\n",
             n / c, f / c, r / c, n < 1 ? "yes" : "no", f < c / 3 ? "yes" : "no" }'
