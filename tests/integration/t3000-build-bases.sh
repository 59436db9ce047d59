#!/bin/bash
# kiln build from every host-side base (scratch, tarball, directory, OCI
# layout) and the host steps (files, users, hostname, container config) show
# up in the stored image exactly as the recipe says.
. "$(dirname "$0")/lib.sh"

# The blob path of NAME:VERSION's single layer and config.
manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json" | cut -d: -f2; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }
layer_of() { blob "$(jq -r '.layers[0].digest' "$(blob "$(manifest_of "$1")")")"; }
config_of() { blob "$(jq -r '.config.digest' "$(blob "$(manifest_of "$1")")")"; }

mkdir -p root/etc root/bin root/usr/share
cp /bin/busybox root/bin/busybox
ln -s busybox root/bin/sh
ln root/bin/busybox root/bin/busybox.hard
printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n' >root/etc/passwd
printf 'root:x:0:\nwww:x:33:\nwheel:x:10:\n' >root/etc/group
printf 'root:*::\nwww:*::\nwheel:*::\n' >root/etc/gshadow
echo base >root/usr/share/from-base
tar -C root -czf base.tgz .
echo "hello from the host" >hello.txt

test_expect_success 'a scratch base with inline files, links and modes' '
    cat >scratch.yaml <<-YAML &&
	name: scratch-img
	version: 1.0.0
	base:
	  scratch: true
	files:
	  - content: "one\n"
	    dest: /etc/one
	    mode: 0600
	  - link: one
	    dest: /etc/one.link
	  - src: hello.txt
	    dest: /srv/deep/hello.txt
	outputs: [oci]
	YAML
    kiln build scratch.yaml >out &&
    test_grep -E "^scratch-img:1.0.0@sha256:[0-9a-f]{64}$" out &&
    tar tvzf "$(layer_of scratch-img:1.0.0)" >list &&
    test_grep -E "^-rw------- 0/0 +4 .* etc/one$" list &&
    test_grep -E "^lrwxrwxrwx 0/0 .* etc/one.link -> one$" list &&
    test_grep -E "^drwxr-xr-x 0/0 .* srv/deep/$" list &&
    tar xzf "$(layer_of scratch-img:1.0.0)" -O srv/deep/hello.txt >got &&
    test_grep "hello from the host" got
'

test_expect_success 'a tarball base with users, owners, hostname and container config' '
    cat >tb.yaml <<-YAML &&
	name: tb
	version: 2.0.0
	labels:
	  org.opencontainers.image.title: tb
	base:
	  tarball:
	    path: base.tgz
	files:
	  - content: "motd\n"
	    dest: /etc/motd
	    owner: app:wheel
	  - content: "www\n"
	    dest: /var/www/index.html
	    owner: www
	users:
	  - name: app
	    groups: [wheel]
	    shell: /bin/sh
	    ssh_authorized_keys: ["ssh-ed25519 AAAAC3Nza test@kiln"]
	hostname: tb-host
	container:
	  entrypoint: [/bin/sh, -c]
	  cmd: ["echo hi"]
	  env:
	    FOO: bar
	  workdir: /srv
	  user: app
	  ports: ["8080"]
	outputs: [oci]
	YAML
    kiln build tb.yaml >out &&
    L=$(layer_of tb:2.0.0) &&
    tar tvzf "$L" --numeric-owner >list &&
    test_grep -E "^-rw-r--r-- 1000/10 .* etc/motd$" list &&
    test_grep -E "^-rw-r--r-- 33/33 .* var/www/index.html$" list &&
    test_grep -E "^drwx------ 1000/1000 .* home/app/$" list &&
    test_grep -E "^drwx------ 1000/1000 .* home/app/.ssh/$" list &&
    test_grep -E "^-rw------- 1000/1000 .* home/app/.ssh/authorized_keys$" list &&
    test_grep -E "^hrwxr-xr-x 0/0 .* bin/busybox.hard link to bin/busybox$" list &&
    test_grep -E " usr/share/from-base$" list &&
    tar xzf "$L" -O etc/passwd >passwd && test_grep "^app:x:1000:1000::/home/app:/bin/sh$" passwd &&
    test_grep "^www:x:33:33:" passwd &&
    tar xzf "$L" -O etc/group >group && test_grep "^wheel:x:10:app$" group &&
    test_grep "^app:x:1000:$" group &&
    tar xzf "$L" -O etc/shadow >shadow && test_grep "^app:!:" shadow &&
    tar xzf "$L" -O etc/gshadow >gshadow && test_grep "^wheel:\*::app$" gshadow && test_grep "^app:!::$" gshadow &&
    tar xzf "$L" -O etc/hostname >hn && test_grep "^tb-host$" hn &&
    tar xzf "$L" -O etc/hosts >hosts && test_grep "127.0.1.1.tb-host" hosts &&
    C=$(config_of tb:2.0.0) &&
    jq -e ".config.Entrypoint == [\"/bin/sh\",\"-c\"] and .config.Cmd == [\"echo hi\"]" "$C" &&
    jq -e ".config.Env == [\"FOO=bar\"] and .config.WorkingDir == \"/srv\" and .config.User == \"app\"" "$C" &&
    jq -e ".config.ExposedPorts == {\"8080/tcp\":{}} and .config.Labels[\"org.opencontainers.image.title\"] == \"tb\"" "$C" &&
    jq -e ".architecture == \"amd64\" and .os == \"linux\" and (.rootfs.diff_ids | length) == 1" "$C"
'

test_expect_success 'umoci unpacks the image and sees the files' '
    umoci unpack --rootless --image "$KILN_STORE:tb:2.0.0" bundle >/dev/null &&
    test -x bundle/rootfs/bin/busybox &&
    test_grep motd bundle/rootfs/etc/motd &&
    test "$(readlink bundle/rootfs/bin/sh)" = busybox &&
    jq -e ".process.args == [\"/bin/sh\",\"-c\",\"echo hi\"]" bundle/config.json
'

test_expect_success 'a directory base is walked without following symlinks' '
    mkdir -p dir/etc dir/link-target &&
    echo secret >outside.txt &&
    ln -s "$TEST_DIR/outside.txt" dir/etc/escape &&
    echo inside >dir/etc/inside &&
    cat >dir.yaml <<-YAML &&
	name: dir-img
	version: 1.0.0
	base:
	  directory: dir
	outputs: [oci]
	YAML
    kiln build dir.yaml &&
    tar tvzf "$(layer_of dir-img:1.0.0)" >list &&
    test_grep -E "etc/escape -> $TEST_DIR/outside.txt$" list &&
    test_grep -E " etc/inside$" list
'

test_expect_success 'an OCI layout base: layers applied in order, whiteouts honoured, config inherited' '
    umoci init --layout lay &&
    umoci new --image lay:a &&
    umoci config --image lay:a --config.env "FROM_BASE=1" --config.cmd /bin/true &&
    umoci unpack --rootless --image lay:a b >/dev/null &&
    mkdir -p b/rootfs/etc b/rootfs/gone-dir/sub &&
    echo keep >b/rootfs/etc/keep && echo drop >b/rootfs/etc/drop &&
    echo x >b/rootfs/gone-dir/sub/x &&
    umoci repack --image lay:a b >/dev/null &&
    rm b/rootfs/etc/drop && rm -r b/rootfs/gone-dir &&
    echo new >b/rootfs/etc/new &&
    umoci repack --image lay:a b >/dev/null &&
    cat >oci.yaml <<-YAML &&
	name: oci-img
	version: 1.0.0
	base:
	  oci:
	    layout: lay
	    ref: a
	container:
	  env:
	    ADDED: "2"
	outputs: [oci]
	YAML
    kiln build oci.yaml &&
    tar tzf "$(layer_of oci-img:1.0.0)" >list &&
    test_grep "^etc/keep$" list && test_grep "^etc/new$" list &&
    ! grep -q "etc/drop" list && ! grep -q "gone-dir" list && ! grep -q "\.wh\." list &&
    jq -e ".config.Env == [\"FROM_BASE=1\",\"ADDED=2\"] and .config.Cmd == [\"/bin/true\"]" "$(config_of oci-img:1.0.0)"
'

test_expect_success 'a kiln store is itself an OCI base' '
    cat >from-store.yaml <<-YAML &&
	name: from-store
	version: 1.0.0
	base:
	  oci:
	    layout: $KILN_STORE
	    ref: "tb:2.0.0"
	outputs: [oci]
	YAML
    kiln build from-store.yaml &&
    tar tzf "$(layer_of from-store:1.0.0)" >list &&
    test_grep "^home/app/.ssh/authorized_keys$" list
'

test_expect_success 'the file manifest is referenced by the manifest and lists every entry' '
    M=$(blob "$(manifest_of tb:2.0.0)") &&
    F=$(blob "$(jq -r ".annotations[\"dev.kiln.files\"]" "$M")") &&
    jq -e ".version == 1" "$F" &&
    jq -e ".files[] | select(.path == \"/etc/motd\") | .type == \"file\" and .mode == \"0644\" and .uid == 1000 and .gid == 10 and .size == 5" "$F" &&
    jq -e ".files[] | select(.path == \"/bin/sh\") | .type == \"symlink\" and .target == \"busybox\"" "$F" &&
    jq -e ".files[] | select(.path == \"/bin/busybox.hard\") | .type == \"hardlink\" and .target == \"/bin/busybox\"" "$F" &&
    jq -e "[.files[].path] == ([.files[].path] | sort)" "$F" &&
    jq -r ".files[] | select(.path == \"/etc/motd\") | .sha256" "$F" >want &&
    printf "motd\n" | sha256sum | cut -d" " -f1 >have && cmp want have
'

test_expect_success 'several outputs make an index with the image and the rootfs tar artifact' '
    sed "s/outputs: \[oci\]/outputs: [oci, tar]/; s/name: tb/name: tb-multi/" tb.yaml >multi.yaml &&
    kiln build multi.yaml --json >out.json &&
    jq -e ".outputs | length == 2" out.json &&
    I=$(blob "$(jq -r .digest out.json)") &&
    jq -e ".mediaType == \"application/vnd.oci.image.index.v1+json\"" "$I" &&
    jq -e ".manifests[0].platform == {\"architecture\":\"amd64\",\"os\":\"linux\"}" "$I" &&
    jq -e ".manifests[1].artifactType == \"application/vnd.dev.kiln.rootfs.tar.v1\"" "$I" &&
    A=$(blob "$(jq -r ".manifests[1].digest" "$I")") &&
    tar tf "$(blob "$(jq -r ".layers[0].digest" "$A")")" >list &&
    test_grep "^etc/motd$" list
'

test_expect_success 'zstd layers are accepted by skopeo' '
    kiln build tb.yaml --compression zstd --version 2.0.1 &&
    M=$(blob "$(manifest_of tb:2.0.1)") &&
    jq -e ".layers[0].mediaType == \"application/vnd.oci.image.layer.v1.tar+zstd\"" "$M" &&
    zstd -dc "$(layer_of tb:2.0.1)" | tar tf - >list &&
    test_grep "^etc/motd$" list &&
    skopeo copy "oci:$KILN_STORE:tb:2.0.1" "oci:copy:x" &&
    skopeo inspect --raw "oci:copy:x" >insp && test_grep "tar+zstd" insp
'

test_expect_success 'the last line names NAME:VERSION@digest and matches the store' '
    kiln build scratch.yaml --version 1.0.5 >out &&
    D=$(tail -n1 out | sed "s/.*@//") &&
    test "$D" = "sha256:$(manifest_of scratch-img:1.0.5)"
'

test_expect_success 'a run command on a base without a shell fails clearly and leaves the store alone' '
    cat >guest.yaml <<-YAML &&
	name: guest
	version: 1.0.0
	base:
	  scratch: true
	run:
	  - echo hi
	outputs: [oci]
	YAML
    before=$(store_digest) &&
    test_expect_code 2 kiln build guest.yaml &&
    test_grep "needs a shell" err &&
    test "$before" = "$(store_digest)"
'

test_done
