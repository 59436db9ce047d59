# store-lib.sh - images put straight into a store, for the tests of the
# store itself (no kiln build involved).  Source after lib.sh.

STORE_TOOL=${KILN_BUILD:-$KILN_SRC/build}/tests/unit/test-store-tool

# make_image NAME VERSION TEXT: stores a one-layer image whose /etc/hello
# holds TEXT (entrypoint /bin/sh, user 0, with its file manifest) under
# NAME:VERSION and prints its manifest digest.
make_image() {
    rm -rf img && mkdir -p img/rootfs/etc &&
    printf '%s\n' "$3" >img/rootfs/etc/hello &&
    tar -C img/rootfs --owner=0 --group=0 --mtime=@0 -cf img/layer.tar . &&
    diffid=sha256:$(sha256sum img/layer.tar | cut -c1-64) &&
    gzip -n -c img/layer.tar >img/layer.tar.gz &&
    layer=$("$STORE_TOOL" put "$KILN_STORE" img/layer.tar.gz) &&
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh"],"User":"0"},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$diffid" >img/config.json &&
    config=$("$STORE_TOOL" put "$KILN_STORE" img/config.json) &&
    printf '{"files":[{"gid":0,"mode":"0755","path":"/etc","type":"dir","uid":0},{"gid":0,"mode":"0644","path":"/etc/hello","size":%d,"type":"file","uid":0}],"version":1}' \
        "$(stat -c %s img/rootfs/etc/hello)" >img/files.json &&
    files=$("$STORE_TOOL" put "$KILN_STORE" img/files.json) &&
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}],"annotations":{"dev.kiln.files":"%s"}}' \
        "$config" "$(stat -c %s img/config.json)" "$layer" "$(stat -c %s img/layer.tar.gz)" "$files" >img/manifest.json &&
    manifest=$("$STORE_TOOL" put "$KILN_STORE" img/manifest.json) &&
    "$STORE_TOOL" add "$KILN_STORE" "$1" "$2" "$manifest" >/dev/null &&
    echo "$manifest"
}
