# store-lib.sh - images put straight into a store, for the tests of the
# store itself (no kiln build involved).  Source after lib.sh.

STORE_TOOL=${KILN_BUILD:-$KILN_SRC/build}/tests/unit/test-store-tool

# make_image NAME VERSION TEXT [plain]: stores a one-layer image whose
# /etc/hello holds TEXT (entrypoint /bin/sh, user 0, with its file manifest;
# "plain": without, an OCI image all of which other tools copy) under
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
    if [ "${4:-}" = plain ]; then
        jq -c "del(.annotations)" img/manifest.json >img/plain.json && mv img/plain.json img/manifest.json
    fi &&
    manifest=$("$STORE_TOOL" put "$KILN_STORE" img/manifest.json) &&
    "$STORE_TOOL" add "$KILN_STORE" "$1" "$2" "$manifest" >/dev/null &&
    echo "$manifest"
}

# make_index NAME VERSION CONTAINER DISK: stores an OCI index of two stored
# manifests (the container image with its linux/amd64 platform, the disk as
# a qcow2 artifact), as a multi-output build makes, in ./index.blob and
# under NAME:VERSION; prints its digest.
make_index() {
    jq -cnS --arg c "$3" --argjson cs "$(stat -c %s "$KILN_STORE/blobs/sha256/${3#sha256:}")" \
        --arg d "$4" --argjson ds "$(stat -c %s "$KILN_STORE/blobs/sha256/${4#sha256:}")" \
        "{schemaVersion:2,mediaType:\"application/vnd.oci.image.index.v1+json\",
          manifests:[{mediaType:\"application/vnd.oci.image.manifest.v1+json\",digest:\$c,size:\$cs,
                      platform:{os:\"linux\",architecture:\"amd64\"}},
                     {mediaType:\"application/vnd.oci.image.manifest.v1+json\",digest:\$d,size:\$ds,
                      artifactType:\"application/vnd.dev.kiln.disk.qcow2.v1\"}]}" | tr -d "\n" >index.blob &&
    _idx=$("$STORE_TOOL" put "$KILN_STORE" index.blob) &&
    "$STORE_TOOL" add "$KILN_STORE" "$1" "$2" "$_idx" >/dev/null &&
    echo "$_idx"
}

# make_big_image NAME VERSION MIB: stores an image whose one layer is
# ./big/layer, MIB MiB of random bytes, under NAME:VERSION; prints its digest.
make_big_image() {
    mkdir -p big && head -c "$3M" /dev/urandom >big/layer &&
    _layer=$("$STORE_TOOL" put "$KILN_STORE" big/layer) &&
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$_layer" >big/config.json &&
    _config=$("$STORE_TOOL" put "$KILN_STORE" big/config.json) &&
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
        "$_config" "$(stat -c %s big/config.json)" "$_layer" "$(stat -c %s big/layer)" >big/manifest.json &&
    _big=$("$STORE_TOOL" put "$KILN_STORE" big/manifest.json) &&
    "$STORE_TOOL" add "$KILN_STORE" "$1" "$2" "$_big" >/dev/null &&
    echo "$_big"
}
