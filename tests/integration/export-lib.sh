# export-lib.sh - images written into a store by hand (tar, gzip -n, jq),
# so export and diff can be tested without the builder.  Sourced after lib.sh.
#
#   fixture_image STORE NAME VERSION FILES_JSON LAYER_DIR...
#       stores an image whose layers are the given directories (in order,
#       whiteouts as .wh.NAME files) or prepared tar files, whose file manifest is FILES_JSON
#       (a path, or "" for none), named NAME:VERSION; prints its digest.
#   fixture_referrer STORE SUBJECT_DIGEST
#       stores a signature-like artifact whose subject is SUBJECT_DIGEST.

fixture_init_store() {
    mkdir -p "$1/blobs/sha256" &&
    { [ -f "$1/oci-layout" ] || printf '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"; } &&
    { [ -f "$1/index.json" ] ||
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}' >"$1/index.json"; }
}

# fixture_put STORE FILE -> prints "sha256:<hex> <size>"
fixture_put() {
    _h=$(sha256sum "$2" | cut -d" " -f1) &&
    cp "$2" "$1/blobs/sha256/$_h" &&
    echo "sha256:$_h $(stat -c %s "$2")"
}

fixture_index_add() { # STORE DESCRIPTOR_JSON
    jq -c --argjson d "$2" '.manifests += [$d]' "$1/index.json" >"$1/index.json.new" &&
        mv "$1/index.json.new" "$1/index.json"
}

# fixture_put_json STORE FILE JSON: stores JSON as FILE without its final
# newline; prints what fixture_put prints.
fixture_put_json() {
    printf '%s' "$3" >"$2" &&
    fixture_put "$1" "$2"
}

fixture_image() {
    _store=$1 _name=$2 _version=$3 _files=$4 &&
    shift 4 &&
    fixture_init_store "$_store" &&
    _tmp=$(mktemp -d "$TEST_DIR/fixture.XXXXXX") &&
    _layers='[]' _diffs='[]' &&
    for _dir in "$@"; do
        if [ -f "$_dir" ]; then
            cp "$_dir" "$_tmp/layer.tar" # a prepared layer tar
        else
            tar -C "$_dir" --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner \
                -cf "$_tmp/layer.tar" .
        fi &&
        _diff=$(sha256sum "$_tmp/layer.tar" | cut -d" " -f1) &&
        gzip -n -c "$_tmp/layer.tar" >"$_tmp/layer.tar.gz" &&
        _put=$(fixture_put "$_store" "$_tmp/layer.tar.gz") &&
        _layers=$(jq -c --arg d "${_put% *}" --argjson s "${_put#* }" \
            '. + [{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip",digest:$d,size:$s}]' <<<"$_layers") &&
        _diffs=$(jq -c --arg d "sha256:$_diff" '. + [$d]' <<<"$_diffs") || return 1
    done &&
    jq -cn --argjson diffs "$_diffs" '{architecture:"amd64",os:"linux",created:"2023-11-14T22:13:20Z",
        config:{Cmd:["/bin/sh"]},rootfs:{type:"layers",diff_ids:$diffs}}' >"$_tmp/config.json" &&
    _put=$(fixture_put "$_store" "$_tmp/config.json") &&
    _config=$(jq -cn --arg d "${_put% *}" --argjson s "${_put#* }" \
        '{mediaType:"application/vnd.oci.image.config.v1+json",digest:$d,size:$s}') &&
    _ann='{}' &&
    if [ -n "$_files" ]; then
        _json=$(jq -cS . "$_files") &&
        _put=$(fixture_put_json "$_store" "$_tmp/files.json" "$_json") &&
        _ann=$(jq -cn --arg d "${_put% *}" '{"dev.kiln.files":$d}')
    fi &&
    _json=$(jq -cnS --argjson c "$_config" --argjson l "$_layers" --argjson a "$_ann" \
        '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",config:$c,layers:$l,annotations:$a}') &&
    _put=$(fixture_put_json "$_store" "$_tmp/manifest.json" "$_json") &&
    _json=$(jq -cn --arg d "${_put% *}" --argjson s "${_put#* }" --arg n "$_name" --arg v "$_version" \
        '{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$d,size:$s,
          annotations:{"org.opencontainers.image.ref.name":"\($n):\($v)","dev.kiln.name":$n,
          "dev.kiln.version":$v,"org.opencontainers.image.created":"2023-11-14T22:13:20Z"}}') &&
    fixture_index_add "$_store" "$_json" &&
    rm -rf "$_tmp" &&
    echo "${_put% *}"
}

fixture_referrer() {
    _store=$1 _subject=$2 &&
    _tmp=$(mktemp -d "$TEST_DIR/fixture.XXXXXX") &&
    _put=$(fixture_put_json "$_store" "$_tmp/empty.json" '{}') &&
    _cfg=$(jq -cn --arg d "${_put% *}" --argjson s "${_put#* }" '{mediaType:"application/vnd.oci.empty.v1+json",digest:$d,size:$s}') &&
    _put=$(fixture_put_json "$_store" "$_tmp/sig" 'not really a signature') &&
    _layer=$(jq -cn --arg d "${_put% *}" --argjson s "${_put#* }" '{mediaType:"application/vnd.dev.kiln.signature.v1",digest:$d,size:$s}') &&
    _subj_size=$(stat -c %s "$_store/blobs/sha256/${_subject#sha256:}") &&
    _json=$(jq -cnS --argjson c "$_cfg" --argjson l "$_layer" --arg sd "$_subject" --argjson ss "$_subj_size" \
        '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
          artifactType:"application/vnd.dev.kiln.signature.v1",config:$c,layers:[$l],
          subject:{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$sd,size:$ss}}') &&
    _put=$(fixture_put_json "$_store" "$_tmp/m.json" "$_json") &&
    _json=$(jq -cn --arg d "${_put% *}" --argjson s "${_put#* }" --arg sd "$_subject" \
        '{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$d,size:$s,
          artifactType:"application/vnd.dev.kiln.signature.v1",annotations:{"dev.kiln.subject":$sd}}') &&
    fixture_index_add "$_store" "$_json" &&
    rm -rf "$_tmp" &&
    echo "${_put% *}"
}

# A small recipe: the host's static busybox (copied next to the recipe, in
# its build context) on an empty base.
#   busybox_recipe FILE NAME VERSION OUTPUTS(yaml list items, comma separated) [SRC_DIR]
busybox_recipe() {
    _outs="" &&
    for _o in $(echo "$4" | tr , ' '); do
        _outs="$_outs
  - $_o" || return 1
    done &&
    { [ -f "$(dirname "$1")/busybox-static" ] || cp /bin/busybox "$(dirname "$1")/busybox-static"; } &&
    mkdir -p "${5:-$TEST_DIR/src}" &&
    { [ -f "${5:-$TEST_DIR/src}/motd" ] || echo "hello from kiln" >"${5:-$TEST_DIR/src}/motd"; } &&
    cat >"$1" <<EOR
name: $2
version: $3
base:
  scratch: true
files:
  - src: busybox-static
    dest: /bin/busybox
    mode: 0755
  - link: busybox
    dest: /bin/sh
  - link: busybox
    dest: /bin/cat
  - link: busybox
    dest: /bin/echo
  - src: ${5:-$TEST_DIR/src}/motd
    dest: /etc/motd
  - content: |
      root:x:0:0:root:/root:/bin/sh
    dest: /etc/passwd
container:
  entrypoint: [/bin/sh, -c]
  cmd: ["cat /etc/motd"]
  env:
    PATH: /bin
outputs:$_outs
EOR
}

# 0 when something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free TCP port on 127.0.0.1: a random one nothing answers on.
free_port() {
    while :; do
        _p=$((20000 + RANDOM % 30000)) &&
        if ! port_open "$_p"; then
            echo "$_p" &&
            return 0
        fi || return 1
    done
}

# Stops a registry started by start_registry: TERM, then KILL if it lingers.
stop_registry() {
    kill "$1" 2>/dev/null || return 0
    # a second to stop by itself; it may be gone before the KILL
    _i=0 &&
    while kill -0 "$1" 2>/dev/null && [ $_i -lt 10 ]; do
        _i=$((_i + 1)) && sleep 0.1 || return 1
    done &&
    { kill -9 "$1" 2>/dev/null || :; } &&
    { wait "$1" 2>/dev/null || :; }
}

# Starts docker-registry on a free port with its storage in DIR; sets
# REGISTRY (host:port) and stops it when the test ends.  Call it from the
# test file's top level, not inside a test body (a subshell): the REGISTRY
# variable and the cleanup must reach the main shell.
start_registry() {
    _dir=$1 &&
    mkdir -p "$_dir/data" &&
    for _try in 1 2 3 4 5; do
        _port=$(free_port) &&
        cat >"$_dir/config.yml" <<EOR &&
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $_dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$_port
EOR
        { docker-registry serve "$_dir/config.yml" >"$_dir/log" 2>&1 & } &&
        _pid=$! &&
        echo "$_pid" >"$_dir/pid" &&
        test_on_exit "stop_registry $_pid" &&
        # also when the test is interrupted before test_done
        trap "stop_registry $_pid" EXIT &&
        for _i in $(seq 50); do
            if port_open "$_port"; then
                REGISTRY=127.0.0.1:$_port &&
                return 0
            fi &&
            # it died (the port was taken after all): another port
            { kill -0 $_pid 2>/dev/null || break; } &&
            sleep 0.2 || return 1
        done &&
        stop_registry $_pid || return 1
    done
    echo "docker-registry did not start:" >&2
    cat "$_dir/log" >&2
    return 1
}
