#!/bin/bash
# Every hostile base archive is refused with a clear error and exit 2, and
# the store is left exactly as it was.
. "$(dirname "$0")/lib.sh"

# mk NAME ENTRY... : a tar where ENTRY is type:name[:arg] (f file, d dir,
# s symlink -> arg, h hard link -> arg, c char device, b block device).
mk() {
    python3 - "$@" <<-'PY'
	import io, sys, tarfile
	name = sys.argv[1]
	with tarfile.open(name, "w", format=tarfile.PAX_FORMAT) as t:
	    for spec in sys.argv[2:]:
	        typ, _, rest = spec.partition(":")
	        path, _, arg = rest.partition(":")
	        ti = tarfile.TarInfo(path)
	        if typ == "f":
	            data = arg.encode() or b"x"
	            ti.size = len(data)
	            t.addfile(ti, io.BytesIO(data))
	            continue
	        ti.type = {"d": tarfile.DIRTYPE, "s": tarfile.SYMTYPE, "h": tarfile.LNKTYPE,
	                   "c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE}[typ]
	        if typ == "d":
	            ti.mode = int(arg or "755", 8)
	        if typ in "sh":
	            ti.linkname = arg
	        if typ in "cb":
	            ti.devmajor, ti.devminor = 8, 0
	        t.addfile(ti)
	PY
}

recipe() {
    printf 'name: hostile\nversion: 1.0.0\nbase:\n  tarball:\n    path: %s\noutputs: [oci]\n' "$1" >r.yaml
}

# refused ARCHIVE PATTERN: the build exits 2, says PATTERN, store unchanged.
refused() {
    recipe "$1" &&
    before=$(store_digest) &&
    test_expect_code 2 kiln build r.yaml &&
    test_grep -E "$2" err &&
    test "$before" = "$(store_digest)"
}

test_expect_success 'setup: a store with one image in it' '
    mk good.tar d:etc f:etc/ok:fine &&
    recipe good.tar && kiln build r.yaml
'

test_expect_success 'an entry climbing out with ../ is refused' '
    mk dotdot.tar f:../evil &&
    refused dotdot.tar "entry .\.\./evil. escapes the root"
'

test_expect_success 'an absolute path that climbs out is refused' '
    mk abs.tar f:/../../etc/cron.d/x &&
    refused abs.tar "escapes the root"
'

test_expect_success 'a .. in the middle of a path is refused' '
    mk mid.tar d:a f:a/../../x &&
    refused mid.tar "escapes the root"
'

test_expect_success 'a hard link pointing outside the root is refused' '
    mk hlout.tar f:a h:b:../../etc/shadow &&
    refused hlout.tar "hard link .b. points outside the root"
'

test_expect_success 'a hard link to a missing entry is refused' '
    mk hlmiss.tar h:b:nosuch &&
    refused hlmiss.tar "hard link .b. points at a missing entry"
'

test_expect_success 'a hard link through a symlink is refused' '
    mk hlsym.tar s:l:/etc h:b:l/passwd &&
    refused hlsym.tar "hard link .b. points through a symlink"
'

test_expect_success 'a hard link to a directory is refused' '
    mk hldir.tar d:dir h:b:dir &&
    refused hldir.tar "hard link .b. points at a dir"
'

test_expect_success 'writing a file through a symlink is refused' '
    mk symwrite.tar s:x:/etc f:x/passwd:pwned &&
    refused symwrite.tar "entry .x/passwd. is written through the symlink ./x."
'

test_expect_success 'changing a mode through a symlink is refused' '
    mk symchmod.tar s:d:/ d:d/etc:777 &&
    refused symchmod.tar "written through the symlink ./d."
'

test_expect_success 'a relative symlink chain used as a parent is refused' '
    mk symrel.tar d:a s:a/up:.. f:a/up/x &&
    refused symrel.tar "written through the symlink ./a/up."
'

test_expect_success 'a symlink named . is refused' '
    mk symdot.tar s:.:/etc &&
    refused symdot.tar "entry .\.. is a symlink named .\.." &&
    mk symdot2.tar d:etc s:etc/.:/ &&
    refused symdot2.tar "entry .etc/\.. is a symlink named"
'

test_expect_success 'a whiteout name in a rootfs tarball is refused' '
    mk wh.tar d:a f:a/.wh.b &&
    refused wh.tar "whiteout name"
'

test_expect_success 'a recipe file with a whiteout name is refused' '
    printf "name: hostile\nversion: 1.0.0\nbase:\n  scratch: true\nfiles:\n  - content: x\n    dest: /etc/.wh.passwd\noutputs: [oci]\n" >r.yaml &&
    before=$(store_digest) &&
    test_expect_code 2 kiln build r.yaml &&
    test_grep "whiteout name" err &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'device nodes are refused unless allowed' '
    mk chr.tar d:dev c:dev/sda &&
    refused chr.tar "is a character device 8:0; only the standard character devices" &&
    mk blk.tar b:dev/sdb &&
    refused blk.tar "block device" &&
    recipe chr.tar &&
    KILN_ALLOW_DEVICES=1 kiln build r.yaml --version 1.0.1
'

test_expect_success 'the standard character devices of a minimal rootfs are accepted' '
    python3 - <<-PY &&
	import tarfile
	with tarfile.open("devs.tar", "w") as t:
	    for name, ma, mi in [("null", 1, 3), ("zero", 1, 5), ("tty", 5, 0), ("ptmx", 5, 2)]:
	        ti = tarfile.TarInfo("dev/" + name)
	        ti.type, ti.devmajor, ti.devminor, ti.mode = tarfile.CHRTYPE, ma, mi, 0o666
	        t.addfile(ti)
	PY
    recipe devs.tar &&
    kiln build r.yaml --version 1.0.3
'

test_expect_success 'a truncated archive is refused' '
    head -c 100000 /bin/busybox >big &&
    tar cf trunc-src.tar big && head -c 20000 trunc-src.tar >trunc.tar &&
    refused trunc.tar "corrupt or truncated|truncated"
'

test_expect_success 'a corrupt gzip stream is refused' '
    tar czf gz-src.tgz big &&
    head -c 2000 gz-src.tgz >corrupt.tgz && head -c 3000 /dev/urandom >>corrupt.tgz &&
    refused corrupt.tgz "corrupt or truncated"
'

test_expect_success 'garbage that is not an archive is refused' '
    head -c 5000 /dev/urandom >garbage.tar &&
    refused garbage.tar "corrupt or truncated"
'

test_expect_success 'a compression bomb stops at the expanded-size limit' '
    head -c 20000000 /dev/zero >zeros && tar czf bomb.tgz zeros &&
    recipe bomb.tgz &&
    before=$(store_digest) &&
    KILN_MAX_EXPANDED_BYTES=1000000 test_expect_code 2 kiln build r.yaml &&
    test_grep "larger than 1000000 bytes" err &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'an archive with too many entries stops at the entry limit' '
    mkdir many && for i in $(seq 1 50); do : >many/f$i || return 1; done && tar cf many.tar many &&
    recipe many.tar &&
    before=$(store_digest) &&
    KILN_MAX_ENTRIES=20 test_expect_code 2 kiln build r.yaml &&
    test_grep "more than 20 entries" err &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'a bad limit in the environment is a usage error' '
    recipe good.tar &&
    KILN_MAX_ENTRIES=lots test_expect_code 2 kiln build r.yaml &&
    test_grep "KILN_MAX_ENTRIES" err
'

test_expect_success 'a tarball whose sha256 does not match the recipe is refused' '
    printf "name: hostile\nversion: 1.0.0\nbase:\n  tarball:\n    path: good.tar\n    sha256: %s\noutputs: [oci]\n" \
        "$(printf x | sha256sum | cut -d" " -f1)" >r.yaml &&
    before=$(store_digest) &&
    ! kiln build r.yaml 2>err &&
    test_grep "sha256" err &&
    test "$before" = "$(store_digest)"
'

# OCI layout bases: whiteouts and blobs.
oci_layout() {
    # oci_layout DIR LAYER.tar: a one-layer layout whose layer is LAYER.tar (gzipped)
    mkdir -p "$1/blobs/sha256" &&
    gzip -9n <"$2" >"$1/layer.gz" &&
    L=$(sha256sum <"$1/layer.gz" | cut -d" " -f1) && LS=$(stat -c %s "$1/layer.gz") &&
    mv "$1/layer.gz" "$1/blobs/sha256/$L" &&
    printf "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{}}" >"$1/c" &&
    C=$(sha256sum <"$1/c" | cut -d" " -f1) && CS=$(stat -c %s "$1/c") && mv "$1/c" "$1/blobs/sha256/$C" &&
    printf "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:%s\",\"size\":%s},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\",\"size\":%s}]}" "$C" "$CS" "$L" "$LS" >"$1/m" &&
    M=$(sha256sum <"$1/m" | cut -d" " -f1) && MS=$(stat -c %s "$1/m") && mv "$1/m" "$1/blobs/sha256/$M" &&
    echo "{\"imageLayoutVersion\":\"1.0.0\"}" >"$1/oci-layout" &&
    printf "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":%s,\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}" "$M" "$MS" >"$1/index.json" &&
    LAYER_BLOB="$1/blobs/sha256/$L"
}

oci_recipe() {
    printf 'name: hostile\nversion: 1.0.0\nbase:\n  oci:\n    layout: %s\noutputs: [oci]\n' "$1" >r.yaml
}

oci_refused() {
    oci_recipe "$1" &&
    before=$(store_digest) &&
    test_expect_code 2 kiln build r.yaml &&
    test_grep -E "$2" err &&
    test "$before" = "$(store_digest)"
}

test_expect_success 'a well-formed OCI layout base builds' '
    mk okl.tar d:etc f:etc/a f:etc/.wh.nothing-below && oci_layout okl okl.tar &&
    oci_recipe okl && kiln build r.yaml --version 1.0.2
'

test_expect_success 'a bare .wh. whiteout is refused' '
    mk bare.tar d:etc f:etc/.wh. && oci_layout bare bare.tar &&
    oci_refused bare "malformed whiteout"
'

test_expect_success 'a whiteout naming .. is refused' '
    mk whdd.tar d:etc f:etc/.wh.. && oci_layout whdd whdd.tar &&
    oci_refused whdd "malformed whiteout"
'

test_expect_success 'a whiteout with an unknown .wh..wh. name is refused' '
    mk whwh.tar d:etc f:etc/.wh..wh.foo && oci_layout whwh whwh.tar &&
    oci_refused whwh "malformed whiteout"
'

test_expect_success 'a whiteout through a symlink is refused' '
    mk whsym.tar s:l:/etc f:l/.wh.passwd && oci_layout whsym whsym.tar &&
    oci_refused whsym "through the symlink"
'

test_expect_success 'a corrupt layer blob in an OCI base is refused' '
    mk cor.tar d:etc f:etc/a && oci_layout cor cor.tar &&
    printf "X" | dd of="$LAYER_BLOB" bs=1 seek=20 conv=notrunc 2>/dev/null &&
    oci_recipe cor && before=$(store_digest) &&
    ! kiln build r.yaml 2>err &&
    test_grep -E "corrupt" err &&
    test "$before" = "$(store_digest)"
'

test_expect_success 'a missing layer blob in an OCI base is refused' '
    mk miss.tar d:etc f:etc/a && oci_layout miss miss.tar &&
    rm "$LAYER_BLOB" &&
    oci_refused miss "blob .sha256:[0-9a-f]+. is missing"
'

test_expect_success 'an unknown ref in an OCI base is refused' '
    printf "name: hostile\nversion: 1.0.0\nbase:\n  oci:\n    layout: okl\n    ref: nope\noutputs: [oci]\n" >r.yaml &&
    before=$(store_digest) &&
    test_expect_code 2 kiln build r.yaml &&
    test_grep "no image named .nope." err &&
    test "$before" = "$(store_digest)"
'

test_done
