# bench/lib/rootfs.sh - the Debian 12 root file systems the benchmarks build
# from, made once with mmdebstrap and cached in bench/cache/.  Source it after
# setting CACHE.
#
#   rootfs NAME [PACKAGES]   prints the path of $CACHE/NAME.tar: minbase, plus
#                            PACKAGES (comma-separated) when given

rootfs() {
    local out=$CACHE/$1.tar
    # called as $(rootfs ...), where set -e does not reach: each step checked
    if [ ! -f "$out" ]; then
        echo "# making $out with mmdebstrap (once)" >&2
        mkdir -p "$CACHE" &&
            mmdebstrap --quiet --variant=minbase --mode=root --format=tar ${2:+--include=$2} bookworm \
                "$CACHE/.tmp-$1.tar" http://deb.debian.org/debian >&2 &&
            mv "$CACHE/.tmp-$1.tar" "$out" || return 1
    fi
    echo "$out"
}
