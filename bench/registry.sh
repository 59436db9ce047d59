#!/bin/bash
# Registry push and pull: kiln vs skopeo copy, to and from Debian's docker-registry on
# 127.0.0.1 (plain HTTP), with two artifacts built by kiln from the Debian 12
# minbase root file system that bench/oci.sh makes (cached in bench/cache/):
#   container  an OCI image (one gzip layer), output oci;
#   disk       a plain qcow2 disk artifact (GPT, ext4), output qcow2.
#
# kiln:   `kiln push REF 127.0.0.1:PORT/REPO --insecure` from the store;
#         `kiln pull 127.0.0.1:PORT/REPO:1.0.0 --key PUB` into an empty store.
# skopeo: `skopeo copy --dest-tls-verify=false oci:STORE:REF docker://...`
#         from the same store (it is an OCI image layout), and back with
#         `skopeo copy docker://... oci:DIR:REF` into an empty layout.
# Both with their default parallelism (kiln --jobs 4, skopeo up to 6 layers).
# Rows: a push to an empty registry (a fresh one for every run, so neither
# tool can mount blobs it saw earlier), a no-op push where every blob is
# already there (the same push again), and a pull into an empty store.  Each
# tool runs BENCH_RUNS times (default 3), alternating who goes first; the
# best wall times are compared.
#
# skopeo copies the image alone; kiln push also sends every referrer of the
# image (its signature, provenance and two SBOMs) and, on a registry without
# the referrers API (docker-registry 2.8), lists them in the referrers tag
# and reads that tag back a second after writing it, to catch a concurrent
# pusher that overwrote it (the part of that second it waited for is
# `referrers_settle_ms` in its --json).  So each push row is printed twice:
#   like for like  kiln pushes the same image from a copy of the store that
#                  lists no referrers: the same blobs and manifest as skopeo,
#                  plus the image's dev.kiln.files file list;
#   full           kiln pushes the image with its referrers, as it does.
# A no-op push by kiln finds each manifest (the image's, each referrer's)
# with a HEAD and sends nothing it reaches; skopeo HEADs every blob.
# A pull by kiln cannot leave the referrers out: it fetches them and checks
# the signature before any layer, hashes every blob as it comes (skopeo
# copy to a layout hashes them too) and fsyncs each before the store lists
# it (skopeo does not); its one row is that.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
KILN=${KILN_BIN:-$SRC/kiln}
CACHE=$SRC/bench/cache
RUNS=${BENCH_RUNS:-3}
. "$SRC/bench/lib/rootfs.sh"
ROOTFS=$(rootfs bookworm-minbase)

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/kiln-bench-registry.XXXXXX")
REG_PID=
stop_registry() {
    if [ -n "$REG_PID" ]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
        REG_PID=
    fi
}
trap 'stop_registry; rm -rf "$WORK"' EXIT

STORE=$WORK/store
"$KILN" keygen --output "$WORK/bench" >/dev/null
for kind in container disk; do
    case $kind in
    container) out="  - oci" ;;
    disk) out="  - qcow2: {bootable: false}" ;;
    esac
    printf 'name: bench-%s\nversion: 1.0.0\nbase:\n  tarball: {path: %s}\noutputs:\n%s\n' \
        "$kind" "$ROOTFS" "$out" >"$WORK/$kind.yaml"
    # mmdebstrap's tar holds /dev nodes: accept them, as bench/oci.sh does.
    if ! KILN_ALLOW_DEVICES=1 "$KILN" build "$WORK/$kind.yaml" --context "$CACHE" --store "$STORE" \
            --quiet >/dev/null 2>"$WORK/build.err"; then
        echo "bench: building the $kind artifact failed:" >&2
        cat "$WORK/build.err" >&2
        exit 1
    fi
    "$KILN" sign "bench-$kind:1.0.0" --key "$WORK/bench.key" --store "$STORE" >/dev/null
done
# The same store listing the images alone (blobs hard-linked): what skopeo copies.
BARE=$WORK/bare
cp -al "$STORE" "$BARE"
jq '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] != null))' "$STORE/index.json" \
    >"$WORK/bare-index.json"
mv "$WORK/bare-index.json" "$BARE/index.json"

# ref_size REF: the total size of the blobs REF's manifest lists, in MB
ref_size() {
    local d
    d=$(jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
        "$STORE/index.json" | head -n 1)
    jq '[.config.size] + [.layers[].size] | add / 1048576 | floor' "$STORE/blobs/sha256/${d#sha256:}"
}
echo "# container: $(ref_size bench-container:1.0.0) MB, disk: $(ref_size bench-disk:1.0.0) MB (blobs)"

# start_registry: a fresh docker-registry on a free port; sets PORT
start_registry() {
    stop_registry
    rm -rf "$WORK/reg"
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$WORK/reg.yml" <<EOC
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/reg
http:
  addr: 127.0.0.1:$PORT
  secret: kiln-bench
EOC
    docker-registry serve "$WORK/reg.yml" >>"$WORK/registry.log" 2>&1 &
    REG_PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && return 0
        sleep 0.1
    done
    echo "bench: docker-registry did not start:" >&2
    cat "$WORK/registry.log" >&2
    exit 1
}

now() { date +%s.%N; }

# timed NAME CMD...: runs CMD, appends its wall time to $WORK/NAME.times
timed() {
    local name=$1 t0 t1
    shift
    t0=$(now)
    if ! "$@" >"$WORK/$name.log" 2>&1; then
        echo "bench: $name failed:" >&2
        tail -n 20 "$WORK/$name.log" >&2
        exit 1
    fi
    t1=$(now)
    echo "$t1 - $t0" | bc -l >>"$WORK/$name.times"
}

kiln_push() { "$KILN" push "$1" "127.0.0.1:$PORT/$2" --insecure --store "$STORE" --json; }
kiln_bare_push() { "$KILN" push "$1" "127.0.0.1:$PORT/$2" --insecure --store "$BARE" --json; }
skopeo_push() { skopeo copy --quiet --dest-tls-verify=false "oci:$STORE:$1" "docker://127.0.0.1:$PORT/$2:1.0.0"; }
kiln_pull() {
    rm -rf "$WORK/pulled"
    "$KILN" pull "127.0.0.1:$PORT/$2:1.0.0" --key "$WORK/bench.pub" --insecure --store "$WORK/pulled"
}
skopeo_pull() {
    rm -rf "$WORK/pulled"
    skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PORT/$2:1.0.0" "oci:$WORK/pulled:$1"
}
# waited NAME: the referrers-tag wait the last NAME run of kiln reported, in s
waited() {
    local ms
    ms=$(sed -n 's/.*"referrers_settle_ms": *\([0-9]*\).*/\1/p' "$WORK/$1.log" | tail -n 1)
    echo "${ms:-0} / 1000" | bc -l >>"$WORK/$1-waited.times"
}
# digest_of REPO: the digest of what the registry serves as REPO:1.0.0
digest_of() {
    skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$PORT/$1:1.0.0" >"$WORK/raw" &&
        sha256sum <"$WORK/raw" | cut -c1-64
}

for kind in container disk; do
    ref=bench-$kind:1.0.0
    for i in $(seq "$RUNS"); do
        if [ $((i % 2)) -eq 1 ]; then order="kiln skopeo"; else order="skopeo kiln"; fi
        start_registry
        for tool in $order; do
            if [ "$tool" = kiln ]; then
                timed "$kind-kiln_bare-full" kiln_bare_push "$ref" "kiln/$kind-bare"
                timed "$kind-kiln-full" kiln_push "$ref" "kiln/$kind"
                waited "$kind-kiln-full"
            else
                timed "$kind-skopeo-full" skopeo_push "$ref" "skopeo/$kind"
            fi
        done
        for tool in $order; do
            if [ "$tool" = kiln ]; then
                timed "$kind-kiln_bare-noop" kiln_bare_push "$ref" "kiln/$kind-bare"
                timed "$kind-kiln-noop" kiln_push "$ref" "kiln/$kind"
            else
                timed "$kind-skopeo-noop" skopeo_push "$ref" "skopeo/$kind"
            fi
        done
        # both pull what kiln pushed (skopeo's copy has no signature for kiln to check)
        for tool in $order; do
            timed "$kind-$tool-pull" "${tool}_pull" "$ref" "kiln/$kind"
        done
        k=$(digest_of "kiln/$kind")
        b=$(digest_of "kiln/$kind-bare")
        s=$(digest_of "skopeo/$kind")
        [ -n "$k" ] && [ "$k" = "$s" ] && [ "$b" = "$s" ] ||
            { echo "bench: $kind: kiln pushed sha256:$k (like for like sha256:$b), skopeo sha256:$s" >&2; exit 1; }
    done
done
stop_registry

best() { sort -n "$WORK/$1.times" | head -n 1; }
runs() { xargs printf '%.2f ' <"$WORK/$1.times"; }
# row LABEL KILN_NAME SKOPEO_NAME
row() {
    local kw sw
    kw=$(best "$2") sw=$(best "$3")
    printf '# %s: kiln %.2f s (runs: %s), skopeo %.2f s (runs: %s)\n' "$1" "$kw" "$(runs "$2")" "$sw" "$(runs "$3")"
    printf 'kiln/skopeo wall (%s): %.2f\n' "$1" "$(echo "$kw / $sw" | bc -l)"
}
for kind in container disk; do
    row "$kind push, like for like: the image alone" "$kind-kiln_bare-full" "$kind-skopeo-full"
    printf '# kiln waited %s s for the referrers tag to settle (runs)\n' "$(runs "$kind-kiln-full-waited")"
    row "$kind push, full: kiln also pushes 4 referrers and reads their tag back" "$kind-kiln-full" "$kind-skopeo-full"
    row "$kind no-op push, like for like" "$kind-kiln_bare-noop" "$kind-skopeo-noop"
    row "$kind no-op push, full" "$kind-kiln-noop" "$kind-skopeo-noop"
    row "$kind pull, kiln checks the signature first" "$kind-kiln-pull" "$kind-skopeo-pull"
done
echo "# both tools put the same manifest digest on the registry, every run"
