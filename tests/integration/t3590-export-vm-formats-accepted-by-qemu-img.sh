#!/bin/bash
# kiln export writes the disk for hypervisors and clouds: a qcow2 that
# qemu-img checks, a raw disk and a containerdisk's qcow2 that it reads as the
# same disk, a vmdk, a vhdx and a fixed VHD that qemu-img reads back as the
# same disk, the VHD's size a multiple of 1 MiB (as Azure asks), and an OVA
# whose tar holds the OVF
# descriptor, the streamOptimized vmdk and a manifest of their SHA-256 sums,
# in that order.  A corrupt disk blob fails each with exit 3 and leaves
# nothing.  (That they boot: t5300.)  Fast: a small disk laid out on the host.
. "$(dirname "$0")/lib.sh"

manifest_of() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$KILN_STORE/index.json"; }
blob() { echo "$KILN_STORE/blobs/sha256/${1#sha256:}"; }

busybox_root root sh
cat >small.yaml <<-YAML
name: small
version: 1.2.0
base: {directory: root}
outputs:
  - qcow2: {size: 70M}
YAML

test_expect_success 'a small disk image to export' '
    kiln build small.yaml >out 2>err &&
    kiln export small:1.2.0 --format qcow2 --output small.qcow2 &&
    qemu-img check -f qcow2 small.qcow2 &&
    qemu-img info -f qcow2 --output=json small.qcow2 >info &&
    jq -r ".\"virtual-size\"" info >vsize
'

test_expect_success 'raw and containerdisk: qemu-img reads the same disk, checks the containerdisk'"'"'s qcow2' '
    kiln export small:1.2.0 --format raw --output small.raw &&
    qemu-img info -f raw --output=json small.raw >info &&
    jq -e ".format == \"raw\" and .\"virtual-size\" == $(cat vsize)" info &&
    qemu-img compare -f qcow2 -F raw small.qcow2 small.raw &&
    kiln export small:1.2.0 --format containerdisk --output cd &&
    skopeo inspect oci:cd >insp &&
    l=$(jq -r ".Layers[0]" insp) &&
    tar -xOf "cd/blobs/sha256/${l#sha256:}" disk/small.qcow2 >cd.qcow2 &&
    qemu-img check -f qcow2 cd.qcow2 &&
    qemu-img compare -f qcow2 -F qcow2 small.qcow2 cd.qcow2
'

test_expect_success 'vmdk: a monolithicSparse vmdk that qemu-img checks and reads as the same disk' '
    kiln export small:1.2.0 --format vmdk --output small.vmdk >out &&
    test_grep "exported small:1.2.0 (sha256:.*) as vmdk to small.vmdk" out &&
    qemu-img check -f vmdk small.vmdk &&
    qemu-img info -f vmdk --output=json small.vmdk >info &&
    jq -e ".format == \"vmdk\" and .\"format-specific\".data.\"create-type\" == \"monolithicSparse\"" info &&
    jq -e ".\"virtual-size\" == $(cat vsize)" info &&
    qemu-img compare -f qcow2 -F vmdk small.qcow2 small.vmdk
'

test_expect_success 'vhdx: qemu-img checks it and reads the same disk' '
    kiln export small:1.2.0 --format vhdx --output small.vhdx &&
    qemu-img check -f vhdx small.vhdx &&
    qemu-img info -f vhdx --output=json small.vhdx >info &&
    jq -e ".format == \"vhdx\" and .\"virtual-size\" == $(cat vsize)" info &&
    qemu-img compare -f qcow2 -F vhdx small.qcow2 small.vhdx
'

# qemu-img has no check for vpc; its footer says what Azure looks at.
test_expect_success 'vhd: fixed, its virtual size a multiple of 1 MiB, the same disk' '
    kiln export small:1.2.0 --format vhd --output small.vhd &&
    qemu-img info -f vpc --output=json small.vhd >info &&
    size=$(jq -r ".\"virtual-size\"" info) &&
    test $((size % 1048576)) = 0 &&
    test "$size" -ge "$(cat vsize)" &&
    test "$(stat -c %s small.vhd)" = $((size + 512)) &&
    tail -c 512 small.vhd >footer &&
    test "$(head -c 8 footer)" = conectix &&
    test "$(od -An -tx1 -j 60 -N 4 footer | tr -d " ")" = 00000002 &&
    qemu-img compare -f qcow2 -F vpc small.qcow2 small.vhd
'

cat >ova-check.py <<-'PY'
	import hashlib, sys, tarfile, xml.etree.ElementTree as ET
	ova, vsize = sys.argv[1], int(sys.argv[2])
	with open(ova, "rb") as f:
	    raw = f.read()
	t = tarfile.open(ova)
	members = t.getmembers()
	names = [m.name for m in members]
	assert names == ["small.ovf", "small-disk1.vmdk", "small.mf"], names
	for m in members:  # plain ustar headers: no pax or GNU entries
	    hdr = raw[m.offset:m.offset + 512]
	    assert hdr[257:265] == b"ustar\x0000", (m.name, hdr[257:265])
	    assert m.type == tarfile.REGTYPE, m.name
	data = {n: t.extractfile(n).read() for n in names}
	sums = {}
	for line in data["small.mf"].decode().splitlines():
	    left, hexsum = line.split("= ")
	    assert left.startswith("SHA256(") and left.endswith(")"), line
	    sums[left[7:-1]] = hexsum
	assert sums == {n: hashlib.sha256(data[n]).hexdigest() for n in names[:2]}, sums
	ns = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1"}
	root = ET.fromstring(data["small.ovf"])
	A = "{http://schemas.dmtf.org/ovf/envelope/1}"
	f = root.find("ovf:References/ovf:File", ns)
	assert f.get(A + "href") == "small-disk1.vmdk", f.attrib
	assert int(f.get(A + "size")) == len(data["small-disk1.vmdk"]), f.attrib
	d = root.find("ovf:DiskSection/ovf:Disk", ns)
	assert d.get(A + "fileRef") == f.get(A + "id"), d.attrib
	assert int(d.get(A + "capacity")) == vsize and d.get(A + "capacityAllocationUnits") == "byte", d.attrib
	assert d.get(A + "format").endswith("#streamOptimized"), d.attrib
	vs = root.find("ovf:VirtualSystem", ns)
	assert vs.find("ovf:ProductSection/ovf:Version", ns).text == "1.2.0"
	rasd = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
	items = vs.findall("ovf:VirtualHardwareSection/ovf:Item", ns)
	disk = [i for i in items if i.find(rasd + "ResourceType").text == "17"]
	assert [i.find(rasd + "HostResource").text for i in disk] == ["ovf:/disk/" + d.get(A + "diskId")]
	open("ova-disk.vmdk", "wb").write(data["small-disk1.vmdk"])
	print("ova ok")
PY

test_expect_success 'ova: ustar with the OVF descriptor, the vmdk and the manifest, sums and sizes right' '
    kiln export small:1.2.0 --format ova --output small.ova &&
    python3 ova-check.py small.ova "$(cat vsize)" >out &&
    test_grep "ova ok" out &&
    qemu-img check -f vmdk ova-disk.vmdk &&
    qemu-img info -f vmdk --output=json ova-disk.vmdk >info &&
    jq -e ".\"format-specific\".data.\"create-type\" == \"streamOptimized\"" info &&
    qemu-img compare -f qcow2 -F vmdk small.qcow2 ova-disk.vmdk
'

test_expect_success 'an image without a disk is refused, naming what to build' '
    cat >oci.yaml <<-YAML &&
	name: nodisk
	version: 1.0.0
	base: {directory: root}
	YAML
    kiln build oci.yaml >out 2>err &&
    for f in vmdk vhdx vhd ova; do
        test_expect_code 2 kiln export nodisk:1.0.0 --format $f --output nodisk.$f || return 1
        test_grep "has no disk (build it with a qcow2 or raw output)" err || return 1
        test ! -e nodisk.$f || return 1
    done
'

test_expect_success 'a corrupt disk blob fails every format with exit 3, leaving nothing' '
    m=$(blob "$(manifest_of small:1.2.0)") &&
    disk=$(blob "$(jq -r ".layers[0].digest" "$m")") &&
    cp "$disk" disk.saved &&
    printf x | dd of="$disk" bs=1 seek=70000 conv=notrunc 2>/dev/null &&
    for f in vmdk vhdx vhd ova; do
        test_expect_code 3 kiln export small:1.2.0 --format $f --output bad.$f || return 1
        test_grep "is corrupt" err || return 1
        test ! -e bad.$f || return 1
    done &&
    ! ls -A | grep -q "^\.kiln-" &&
    cp disk.saved "$disk"
'

test_done
