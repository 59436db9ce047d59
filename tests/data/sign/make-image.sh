# make-image.sh - writes a small OCI image into $KILN_STORE by hand (sha256sum,
# tar, jq), the way kiln lays one out: config, one gzip layer, a dev.kiln.files
# blob named by the manifest annotation, and an index.json entry with kiln's
# annotations.  For signing tests that do not need the builder.
#
#   . "$KILN_SRC/tests/data/sign/make-image.sh"
#   make_image NAME VERSION [CONTENT]   prints the manifest digest
#   LAYER_FILE=path make_image ...      uses that file as the layer blob as it is

_blob() { # file -> prints digest, stores the blob
    _h=$(sha256sum "$1" | cut -d' ' -f1) &&
    mkdir -p "$KILN_STORE/blobs/sha256" &&
    { [ "$1" -ef "$KILN_STORE/blobs/sha256/$_h" ] || cp "$1" "$KILN_STORE/blobs/sha256/$_h"; } &&
    echo "sha256:$_h"
}

make_image() {
    _name=$1 _ver=$2 _content=${3:-"hello from $1 $2"} &&
    _w=$(mktemp -d) &&
    mkdir -p "$KILN_STORE/blobs/sha256" &&
    { [ -f "$KILN_STORE/oci-layout" ] || echo '{"imageLayoutVersion":"1.0.0"}' >"$KILN_STORE/oci-layout"; } &&
    { [ -f "$KILN_STORE/index.json" ] || echo '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}' >"$KILN_STORE/index.json"; } &&
    mkdir -p "$_w/root/etc" &&
    printf '%s\n' "$_content" >"$_w/root/etc/motd" &&
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$_w/root" -cf "$_w/layer.tar" etc &&
    gzip -n <"$_w/layer.tar" >"$_w/layer" &&
    _diff=$(sha256sum "$_w/layer.tar" | cut -d' ' -f1) &&
    _motd=$(sha256sum "$_w/root/etc/motd" | cut -d' ' -f1) &&
    _msize=$(stat -c %s "$_w/root/etc/motd") &&
    _j=$(jq -cnS --arg h "$_motd" --argjson s "$_msize" \
        '{files:[{path:"/etc",type:"dir",mode:"0755",uid:0,gid:0},{path:"/etc/motd",type:"file",mode:"0644",uid:0,gid:0,size:$s,sha256:$h}],version:1}') &&
    printf '%s' "$_j" >"$_w/files" &&
    _j=$(jq -cnS --arg d "sha256:$_diff" \
        '{architecture:"amd64",os:"linux",config:{},rootfs:{type:"layers",diff_ids:[$d]}}') &&
    printf '%s' "$_j" >"$_w/config" &&
    if [ -n "${LAYER_FILE:-}" ]; then mv "$LAYER_FILE" "$_w/layer"; fi &&
    _ld=$(_blob "$_w/layer") && _cd=$(_blob "$_w/config") && _fd=$(_blob "$_w/files") &&
    _j=$(jq -cnS --arg ld "$_ld" --argjson ls "$(stat -c %s "$_w/layer")" \
        --arg cd "$_cd" --argjson cs "$(stat -c %s "$_w/config")" --arg fd "$_fd" \
        '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
          config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$cd,size:$cs},
          layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip",digest:$ld,size:$ls}],
          annotations:{"dev.kiln.files":$fd}}') &&
    printf '%s' "$_j" >"$_w/manifest" &&
    _md=$(_blob "$_w/manifest") &&
    _size=$(stat -c %s "$_w/manifest") &&
    jq --arg d "$_md" --argjson s "$_size" --arg n "$_name" --arg v "$_ver" \
        '.manifests += [{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$d,size:$s,
          annotations:{"org.opencontainers.image.ref.name":($n+":"+$v),"dev.kiln.name":$n,"dev.kiln.version":$v,
                       "org.opencontainers.image.created":"2026-01-01T00:00:00Z"}}]' \
        "$KILN_STORE/index.json" >"$_w/index" && mv "$_w/index" "$KILN_STORE/index.json" &&
    rm -rf "$_w" &&
    echo "$_md"
}

# add_signature SUBJECT_DIGEST PAYLOAD_FILE SIG_FILE [KEY_ID]: stores a
# signature artifact made by hand (the way an attacker would) and lists it as
# a referrer of SUBJECT_DIGEST; prints the artifact's digest.
add_signature() {
    _subj=$1 _pf=$2 _sf=$3 _kid=${4:-sha256:0000000000000000000000000000000000000000000000000000000000000000} &&
    _w=$(mktemp -d) &&
    printf '{}' >"$_w/empty" &&
    _e=$(_blob "$_w/empty") && _p=$(_blob "$_pf") && _s=$(_blob "$_sf") &&
    _ssize=$(stat -c %s "$KILN_STORE/blobs/sha256/${_subj#sha256:}") &&
    _j=$(jq -cnS --arg e "$_e" --arg p "$_p" --argjson ps "$(stat -c %s "$_pf")" --arg s "$_s" \
        --argjson ss "$(stat -c %s "$_sf")" --arg subj "$_subj" --argjson subjs "$_ssize" --arg kid "$_kid" \
        '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
          artifactType:"application/vnd.dev.kiln.signature.v1",
          config:{mediaType:"application/vnd.oci.empty.v1+json",digest:$e,size:2},
          layers:[{mediaType:"application/vnd.dev.kiln.signature.payload.v1+json",digest:$p,size:$ps},
                  {mediaType:"application/vnd.dev.kiln.signature.raw.v1",digest:$s,size:$ss}],
          subject:{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$subj,size:$subjs},
          annotations:{"dev.kiln.signature.key-id":$kid}}') &&
    printf '%s' "$_j" >"$_w/m" &&
    _m=$(_blob "$_w/m") &&
    add_referrer "$_subj" "$_m" &&
    rm -rf "$_w" &&
    echo "$_m"
}

# add_referrer SUBJECT_DIGEST ARTIFACT_DIGEST: lists an artifact in index.json.
add_referrer() {
    _f="$KILN_STORE/blobs/sha256/${2#sha256:}" &&
    jq --arg subj "$1" --arg d "$2" --argjson s "$(stat -c %s "$_f")" \
        '.manifests += [{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$d,size:$s,
          artifactType:"application/vnd.dev.kiln.signature.v1",annotations:{"dev.kiln.subject":$subj}}]' \
        "$KILN_STORE/index.json" >"$KILN_STORE/index.json.new" && mv "$KILN_STORE/index.json.new" "$KILN_STORE/index.json"
}

# drop_referrers SUBJECT_DIGEST: unlists every artifact that refers to it.
drop_referrers() {
    jq --arg s "$1" 'del(.manifests[] | select(.annotations["dev.kiln.subject"] == $s))' \
        "$KILN_STORE/index.json" >"$KILN_STORE/index.json.new" && mv "$KILN_STORE/index.json.new" "$KILN_STORE/index.json"
}

# blob_path DIGEST
blob_path() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

# flip_byte FILE [OFFSET]: flips the lowest bit of one byte in place.
flip_byte() {
    _o=${2:-0} &&
    _b=$(od -An -tu1 -j "$_o" -N1 "$1" | tr -d ' ') &&
    test -n "$_b" &&
    printf "$(printf '\\%03o' $((_b ^ 1)))" | dd of="$1" bs=1 seek="$_o" conv=notrunc 2>/dev/null
}
