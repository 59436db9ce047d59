/* export-vm.c - the disk for a hypervisor or a cloud: vmdk, vhdx, vhd, ova.
 *
 * Each reads the image's stored disk (export_disk_source(): its blob
 * checked against its digest first, a qcow2 checked to stand alone) with
 * qemu-img, both formats always given, into `tmp`:
 *   vmdk  monolithicSparse, one file, for VMware Workstation, Fusion and
 *         VirtualBox as it is, and ESXi through `vmkfstools -i`
 *   vhdx  dynamic, for Hyper-V
 *   vhd   fixed (a raw image with a footer), its virtual size rounded up to
 *         a multiple of 1 MiB and written exactly (force_size), as Azure
 *         asks of an uploaded page blob
 *   ova   one ustar tar, in the order OVF 1.0 requires: the descriptor
 *         NAME.ovf, the disk NAME-disk1.vmdk (streamOptimized, the
 *         variant OVF packages carry) and the manifest NAME.mf with the
 *         SHA-256 of both ("SHA256(FILE)= HEX")
 * The writer only creates `tmp` and scratch files beside it, in the
 * export's work directory: export_run() renames `tmp` into place and
 * removes the rest. */
#include "images/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/run.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct archive, archive_write_free)

#define MIB (UINT64_C(1) << 20)
#define QEMU_INFO_MAX (1u << 20)

/* What the OVF descriptor gives the virtual machine. */
#define OVA_CPUS 2
#define OVA_MEMORY_MIB 1024

static int sync_file(const char *path, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot sync '%s'", path);
    return 0;
}

/* The virtual size of a disk file, as qemu-img reads it in format fmt. */
static int virtual_size(const char *path, const char *fmt, uint64_t *size, struct kiln_err *err)
{
    struct buf out = BUF_INIT;
    buf_init(&out, QEMU_INFO_MAX);
    char *argv[] = { "qemu-img", "info", "--output=json", "-f", (char *)fmt, (char *)path, NULL };
    struct run_opts ro = { .out = &out };
    int r = run_argv(argv, &ro, NULL, err);
    json_t *j = r == 0 ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    buf_release(&out);
    if (r < 0)
        return r;
    json_t *v = json_object_get(j, "virtual-size");
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        json_decref(j);
        return kiln_errf(err, KILN_EFAIL, "qemu-img info gave no virtual size for '%s'", path);
    }
    *size = (uint64_t)json_integer_value(v);
    json_decref(j);
    return 0;
}

/* qemu-img convert of the stored disk to dest in format fmt with options opts. */
static int convert(const char *src, const char *src_fmt, const char *dest, const char *fmt, const char *opts,
                   struct kiln_err *err)
{
    char *argv[] = { "qemu-img", "convert", "-q", "-f", (char *)src_fmt, "-O", (char *)fmt, "-o", (char *)opts,
                     (char *)src, (char *)dest, NULL };
    int r = run_argv(argv, NULL, NULL, err);
    if (r == 0)
        r = sync_file(dest, err);
    return r < 0 ? kiln_err_prefix(err, "converting the disk to %s", fmt) : 0;
}

static int write_converted(const struct export_source *s, const char *tmp, const char *fmt, const char *opts,
                           struct kiln_err *err)
{
    _cleanup_free_ char *src = NULL;
    const char *src_fmt;
    int r = export_disk_source(s, &src, &src_fmt, err);
    if (r == 0)
        r = convert(src, src_fmt, tmp, fmt, opts, err);
    if (r < 0)
        unlink(tmp);
    return r;
}

int export_write_vmdk(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    return write_converted(s, tmp, "vmdk", "subformat=monolithicSparse,adapter_type=lsilogic", err);
}

int export_write_vhdx(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    return write_converted(s, tmp, "vhdx", "subformat=dynamic", err);
}

/* A fixed VHD of exactly the disk's size rounded up to 1 MiB: made at that
 * size first (force_size: the size as given, not rounded to a CHS
 * geometry), then filled with -n; the tail past the disk stays zero. */
static int vhd(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    _cleanup_free_ char *src = NULL;
    const char *src_fmt;
    uint64_t size;
    int r = export_disk_source(s, &src, &src_fmt, err);
    if (r == 0)
        r = virtual_size(src, src_fmt, &size, err);
    if (r < 0)
        return r;
    if (size > UINT64_MAX - MIB)
        return kiln_errf(err, KILN_EINVAL, "image '%s': its disk is too large for a VHD", s->ref);
    uint64_t aligned = (size + MIB - 1) / MIB * MIB;
    char bytes[32];
    snprintf(bytes, sizeof(bytes), "%" PRIu64, aligned);
    char *create[] = { "qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed,force_size=on",
                       (char *)tmp, bytes, NULL };
    if ((r = run_argv(create, NULL, NULL, err)) < 0)
        return kiln_err_prefix(err, "creating the VHD");
    char *fill[] = { "qemu-img", "convert", "-q", "-n", "--target-is-zero", "-f", (char *)src_fmt,
                     "-O", "vpc", src, (char *)tmp, NULL };
    if ((r = run_argv(fill, NULL, NULL, err)) < 0)
        return kiln_err_prefix(err, "converting the disk to vpc");
    return sync_file(tmp, err);
}

int export_write_vhd(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    int r = vhd(s, tmp, err);
    if (r < 0)
        unlink(tmp);
    return r;
}

/* ---- ova ------------------------------------------------------------ */

/* The OVF 1.0 descriptor: one virtual machine with OVA_CPUS CPUs,
 * OVA_MEMORY_MIB of memory, an LSI Logic SCSI controller holding the disk
 * and an E1000 network adapter on "VM Network".  The image's name and
 * version are [a-z0-9._-] and semver characters: nothing to escape. */
static char *ovf_descriptor(const char *name, const char *version, const char *vmdk, uint64_t vmdk_size,
                            uint64_t capacity)
{
    return xasprintf(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""
        " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""
        " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\""
        " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\""
        " xmlns:vmw=\"http://www.vmware.com/schema/ovf\""
        " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
        "  <References>\n"
        "    <File ovf:href=\"%s\" ovf:id=\"file1\" ovf:size=\"%" PRIu64 "\"/>\n"
        "  </References>\n"
        "  <DiskSection>\n"
        "    <Info>Virtual disk information</Info>\n"
        "    <Disk ovf:capacity=\"%" PRIu64 "\" ovf:capacityAllocationUnits=\"byte\" ovf:diskId=\"vmdisk1\""
        " ovf:fileRef=\"file1\""
        " ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>\n"
        "  </DiskSection>\n"
        "  <NetworkSection>\n"
        "    <Info>The logical networks</Info>\n"
        "    <Network ovf:name=\"VM Network\">\n"
        "      <Description>The VM Network network</Description>\n"
        "    </Network>\n"
        "  </NetworkSection>\n"
        "  <VirtualSystem ovf:id=\"%s\">\n"
        "    <Info>A virtual machine</Info>\n"
        "    <Name>%s</Name>\n"
        "    <ProductSection>\n"
        "      <Info>The image the disk holds</Info>\n"
        "      <Product>%s</Product>\n"
        "      <Version>%s</Version>\n"
        "    </ProductSection>\n"
        "    <OperatingSystemSection ovf:id=\"96\" vmw:osType=\"debian11_64Guest\">\n"
        "      <Info>The guest operating system</Info>\n"
        "      <Description>Debian GNU/Linux (64-bit)</Description>\n"
        "    </OperatingSystemSection>\n"
        "    <VirtualHardwareSection>\n"
        "      <Info>Virtual hardware requirements</Info>\n"
        "      <System>\n"
        "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
        "        <vssd:InstanceID>0</vssd:InstanceID>\n"
        "        <vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>\n"
        "        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>\n"
        "      </System>\n"
        "      <Item>\n"
        "        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>\n"
        "        <rasd:Description>Number of virtual CPUs</rasd:Description>\n"
        "        <rasd:ElementName>%d virtual CPUs</rasd:ElementName>\n"
        "        <rasd:InstanceID>1</rasd:InstanceID>\n"
        "        <rasd:ResourceType>3</rasd:ResourceType>\n"
        "        <rasd:VirtualQuantity>%d</rasd:VirtualQuantity>\n"
        "      </Item>\n"
        "      <Item>\n"
        "        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>\n"
        "        <rasd:Description>Memory size</rasd:Description>\n"
        "        <rasd:ElementName>%d MB of memory</rasd:ElementName>\n"
        "        <rasd:InstanceID>2</rasd:InstanceID>\n"
        "        <rasd:ResourceType>4</rasd:ResourceType>\n"
        "        <rasd:VirtualQuantity>%d</rasd:VirtualQuantity>\n"
        "      </Item>\n"
        "      <Item>\n"
        "        <rasd:Address>0</rasd:Address>\n"
        "        <rasd:Description>SCSI controller</rasd:Description>\n"
        "        <rasd:ElementName>SCSI controller 0</rasd:ElementName>\n"
        "        <rasd:InstanceID>3</rasd:InstanceID>\n"
        "        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>\n"
        "        <rasd:ResourceType>6</rasd:ResourceType>\n"
        "      </Item>\n"
        "      <Item>\n"
        "        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n"
        "        <rasd:ElementName>Hard disk 1</rasd:ElementName>\n"
        "        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>\n"
        "        <rasd:InstanceID>4</rasd:InstanceID>\n"
        "        <rasd:Parent>3</rasd:Parent>\n"
        "        <rasd:ResourceType>17</rasd:ResourceType>\n"
        "      </Item>\n"
        "      <Item>\n"
        "        <rasd:AddressOnParent>7</rasd:AddressOnParent>\n"
        "        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n"
        "        <rasd:Connection>VM Network</rasd:Connection>\n"
        "        <rasd:Description>E1000 ethernet adapter on VM Network</rasd:Description>\n"
        "        <rasd:ElementName>Network adapter 1</rasd:ElementName>\n"
        "        <rasd:InstanceID>5</rasd:InstanceID>\n"
        "        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>\n"
        "        <rasd:ResourceType>10</rasd:ResourceType>\n"
        "      </Item>\n"
        "    </VirtualHardwareSection>\n"
        "  </VirtualSystem>\n"
        "</Envelope>\n",
        vmdk, vmdk_size, capacity, name, name, name, version, name, OVA_CPUS, OVA_CPUS, OVA_MEMORY_MIB,
        OVA_MEMORY_MIB);
}

static int entry_header(struct archive *ar, const struct export_source *s, const char *name, uint64_t size,
                        const char *tar, struct kiln_err *err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, s->created, 0);
    archive_entry_set_size(e, (la_int64_t)size);
    int r = archive_write_header(ar, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return kiln_errf(err, KILN_EFAIL, "cannot write '%s' into '%s': %s", name, tar, archive_error_string(ar));
    return 0;
}

static int entry_data(struct archive *ar, const char *name, const void *data, size_t len, const char *tar,
                      struct kiln_err *err)
{
    if (archive_write_data(ar, data, len) != (la_ssize_t)len)
        return kiln_errf(err, KILN_EFAIL, "cannot write '%s' into '%s': %s", name, tar, archive_error_string(ar));
    return 0;
}

static int ova(const struct export_source *s, const char *tmp, const char *vmdk, struct kiln_err *err)
{
    _cleanup_free_ char *src = NULL;
    const char *src_fmt;
    uint64_t capacity;
    int r = export_disk_source(s, &src, &src_fmt, err);
    if (r == 0)
        r = virtual_size(src, src_fmt, &capacity, err);
    if (r == 0)
        r = convert(src, src_fmt, vmdk, "vmdk", "subformat=streamOptimized,adapter_type=lsilogic", err);
    struct stat st;
    if (r == 0 && stat(vmdk, &st) < 0)
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot stat '%s'", vmdk);
    if (r < 0)
        return r;

    const char *name = s->name ? s->name : "disk";
    _cleanup_free_ char *ovf_name = xasprintf("%s.ovf", name);
    _cleanup_free_ char *vmdk_name = xasprintf("%s-disk1.vmdk", name);
    _cleanup_free_ char *mf_name = xasprintf("%s.mf", name);
    _cleanup_free_ char *ovf = ovf_descriptor(name, s->version ? s->version : "0.0.0", vmdk_name,
                                              (uint64_t)st.st_size, capacity);
    char ovf_hex[HASH_HEX_LEN + 1], vmdk_hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(ovf, strlen(ovf), ovf_hex);

    _cleanup_(archive_write_freep) struct archive *ar = export_ustar_open(tmp, err);
    if (!ar)
        return err->code;
    r = entry_header(ar, s, ovf_name, strlen(ovf), tmp, err);
    if (r == 0)
        r = entry_data(ar, ovf_name, ovf, strlen(ovf), tmp, err);
    struct hash_ctx *h = r == 0 ? hash_new() : NULL;
    if (r == 0 && !h)
        r = kiln_errf(err, KILN_ENOMEM, "out of memory");
    struct export_tar_file f = { vmdk_name, vmdk, 0644, 0, 0, s->created };
    if (r == 0 && (r = export_tar_add_file(ar, &f, h, tmp, err)) == 0)
        hash_final_hex(h, vmdk_hex);
    hash_free(h);
    if (r < 0)
        return r;
    _cleanup_free_ char *mf = xasprintf("SHA256(%s)= %s\nSHA256(%s)= %s\n", ovf_name, ovf_hex, vmdk_name, vmdk_hex);
    r = entry_header(ar, s, mf_name, strlen(mf), tmp, err);
    if (r == 0)
        r = entry_data(ar, mf_name, mf, strlen(mf), tmp, err);
    if (r == 0)
        r = export_tar_close(ar, tmp, err);
    return r;
}

int export_write_ova(const struct export_source *s, const char *tmp, struct kiln_err *err)
{
    _cleanup_free_ char *dir = path_dirname(tmp);
    _cleanup_free_ char *vmdk = path_join(dir, "disk.vmdk");
    int r = ova(s, tmp, vmdk, err);
    unlink(vmdk);
    if (r < 0)
        unlink(tmp);
    return r;
}
