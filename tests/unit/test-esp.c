/* test-esp.c - the partition plan for each firmware, the ESP's FAT made
 * reproducibly and replacing what the partition held, and the PE signature
 * check behind Secure Boot. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/run.h"
#include "disk/disk-internal.h"
#include "disk/disk.h"
#include "tests/unit/tap.h"

#define MIB (1ull << 20)

static void test_plan_parts(void)
{
    struct recipe_output o;
    memset(&o, 0, sizeof(o));
    o.type = OUTPUT_QCOW2;
    o.bootable = 1;
    struct disk_parts p;
    uint64_t size = 1024 * MIB, sectors = size / 512;

    o.firmware = FIRMWARE_HYBRID;
    disk_plan_parts(&o, size, &p);
    ok(p.bios.num == 1 && p.bios.start == 2048 && p.bios.end == 4095, "hybrid: the BIOS boot partition first");
    ok(p.esp.num == 2 && p.esp.start == 4096 && (p.esp.end - p.esp.start + 1) * 512 == RECIPE_ESP_SIZE,
       "hybrid: then the ESP of RECIPE_ESP_SIZE");
    ok(p.root.num == 3 && p.root.start == p.esp.end + 1 && p.root.end == sectors - 34,
       "hybrid: the root to the backup table");

    o.firmware = FIRMWARE_UEFI;
    disk_plan_parts(&o, size, &p);
    ok(!p.bios.num && p.esp.num == 1 && p.esp.start == 2048 && p.root.num == 2, "uefi: the ESP, then the root");

    o.firmware = FIRMWARE_BIOS;
    disk_plan_parts(&o, size, &p);
    ok(p.bios.num == 1 && !p.esp.num && p.root.num == 2 && p.root.start == 4096, "bios: as every GPT disk was");

    o.bootable = 0;
    o.firmware = FIRMWARE_NONE;
    disk_plan_parts(&o, size, &p);
    ok(p.bios.num == 1 && !p.esp.num && p.root.num == 2, "a disk that does not boot keeps the old layout");

    o.partition_table = PARTITION_MBR;
    disk_plan_parts(&o, size, &p);
    ok(p.mbr && p.root.num == 1 && p.root.start == 2048 && p.root.end == sectors - 1, "mbr: one root partition");

    /* The disk plan makes room for the ESP. */
    struct kiln_err err = KILN_ERR_INIT;
    uint64_t bios = 0, hybrid = 0;
    o.partition_table = PARTITION_GPT;
    o.bootable = 1;
    o.firmware = FIRMWARE_BIOS;
    disk_plan_size(&o, 100 * MIB, 0, &bios, &err);
    o.firmware = FIRMWARE_HYBRID;
    disk_plan_size(&o, 100 * MIB, 0, &hybrid, &err);
    ok(hybrid >= bios + RECIPE_ESP_SIZE, "a hybrid disk plans room for its ESP");
}

static int write_file(const char *path, const char *data)
{
    return fs_write_atomic(path, data, strlen(data), 0644, NULL);
}

/* The plan of a 200 MiB bootable UEFI raw disk, as o and p; 0 (with a
 * skip) when the FAT tools are missing. */
static int uefi_disk(struct recipe_output *o, struct disk_parts *p)
{
    if (!run_have("mkfs.fat") || !run_have("mcopy")) {
        ok(1, "# SKIP dosfstools or mtools missing");
        return 0;
    }
    memset(o, 0, sizeof(*o));
    o->type = OUTPUT_RAW;
    o->bootable = 1;
    o->firmware = FIRMWARE_UEFI;
    disk_plan_parts(o, 200 * MIB, p);
    return 1;
}

static void test_esp_reproducible(void)
{
    struct recipe_output o;
    struct disk_parts p;
    if (!uefi_disk(&o, &p))
        return;
    struct kiln_err err = KILN_ERR_INIT;
    char *img[2];
    for (int i = 0; i < 2; i++) {
        /* Two builds: files written in a different order, at other times. */
        char *src = xasprintf("%s/src%d", tap_dir, i);
        char *boot = xasprintf("%s/EFI/BOOT", src);
        char *deb = xasprintf("%s/EFI/debian", src);
        fs_mkdir_p(i ? deb : boot, 0755, NULL);
        fs_mkdir_p(i ? boot : deb, 0755, NULL);
        char *a = xasprintf("%s/BOOTX64.EFI", boot), *b = xasprintf("%s/grub.cfg", deb);
        write_file(i ? b : a, i ? "configfile\n" : "MZ loader\n");
        write_file(i ? a : b, i ? "MZ loader\n" : "configfile\n");
        img[i] = xasprintf("%s/disk%d.raw", tap_dir, i);
        int fd = open(img[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ok(fd >= 0 && ftruncate(fd, 200 * MIB) == 0, "a sparse disk");
        close(fd);
        is_int(disk_esp_write(img[i], &p, src, "1A2B-3C4D", 1700000000, tap_dir, &err), 0,
               "the ESP is written");
        if (i == 0)
            sleep(2); /* FAT times have 2-second steps */
        free(src), free(boot), free(deb), free(a), free(b);
    }
    struct buf x = BUF_INIT, y = BUF_INIT;
    fs_read_file(img[0], 300 * MIB, &x, NULL);
    fs_read_file(img[1], 300 * MIB, &y, NULL);
    ok(x.len == y.len && memcmp(x.data, y.data, x.len) == 0, "the same files give the same bytes, whatever the clock and order");
    const unsigned char *fat = (const unsigned char *)x.data + p.esp.start * 512;
    ok(fat[0x43] == 0x4d && fat[0x44] == 0x3c && fat[0x45] == 0x2b && fat[0x46] == 0x1a,
       "the FAT32 volume ID is the one asked for");
    ok(memcmp(fat + 0x52, "FAT32", 5) == 0, "it is FAT32");
    buf_release(&x);
    buf_release(&y);
    free(img[0]);
    free(img[1]);
    char *none = xasprintf("%s/nothing", tap_dir);
    fs_mkdir_p(none, 0755, NULL);
    struct disk_parts bios;
    o.firmware = FIRMWARE_BIOS;
    disk_plan_parts(&o, 200 * MIB, &bios);
    ok(disk_esp_write("/nonexistent", &bios, none, "1A2B-3C4D", 0, tap_dir, &err) < 0, "no ESP in the plan: refused");
    free(none);
}

/* On the appliance path the partition already holds the FAT grub-install
 * wrote to: none of it may show through where the new FAT has zeros. */
static void test_esp_replaces_old(void)
{
    struct recipe_output o;
    struct disk_parts p;
    if (!uefi_disk(&o, &p))
        return;
    struct kiln_err err = KILN_ERR_INIT;
    char *src = xasprintf("%s/old-src", tap_dir), *boot = xasprintf("%s/EFI/BOOT", src);
    char *a = xasprintf("%s/BOOTX64.EFI", boot);
    fs_mkdir_p(boot, 0755, NULL);
    /* A file with a zero block in it, as every EFI image has. */
    size_t len = 3 * 4096;
    char *data = xcalloc(1, len);
    memset(data, 'M', 4096);
    memset(data + 2 * 4096, 'Z', 4096);
    fs_write_atomic(a, data, len, 0644, NULL);
    char *img[2];
    for (int i = 0; i < 2; i++) {
        img[i] = xasprintf("%s/old%d.raw", tap_dir, i);
        int fd = open(img[i], O_RDWR | O_CREAT | O_TRUNC, 0600);
        ok(fd >= 0 && ftruncate(fd, 200 * MIB) == 0, "a sparse disk");
        if (i == 1) {
            /* What was there before: not zero anywhere in the partition. */
            char *junk = xmalloc(MIB);
            memset(junk, 0x5a, MIB);
            for (uint64_t off = p.esp.start * 512; off < (p.esp.end + 1) * 512; off += MIB)
                fs_pwrite_all(fd, junk, MIB, off, img[i], NULL);
            free(junk);
        }
        close(fd);
        is_int(disk_esp_write(img[i], &p, src, "1A2B-3C4D", 1700000000, tap_dir, &err), 0, "the ESP is written");
    }
    struct buf x = BUF_INIT, y = BUF_INIT;
    fs_read_file(img[0], 300 * MIB, &x, NULL);
    fs_read_file(img[1], 300 * MIB, &y, NULL);
    ok(x.len == y.len && memcmp(x.data, y.data, x.len) == 0,
       "a partition that held another file system reads as the new ESP alone");
    struct stat st;
    ok(stat(img[1], &st) == 0 && (uint64_t)st.st_blocks * 512 < 16 * MIB, "and its zeros are holes again");
    buf_release(&x);
    buf_release(&y);
    free(img[0]), free(img[1]), free(data), free(src), free(boot), free(a);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void test_pe_signed(void)
{
    unsigned char pe[1024];
    memset(pe, 0, sizeof(pe));
    pe[0] = 'M', pe[1] = 'Z';
    put32(pe + 0x3c, 0x80);
    memcpy(pe + 0x80, "PE\0\0", 4);
    pe[0x80 + 20] = 240;                /* SizeOfOptionalHeader */
    unsigned char *opt = pe + 0x80 + 24;
    opt[0] = 0x0b, opt[1] = 0x02;       /* PE32+ */
    put32(opt + 108, 16);               /* NumberOfRvaAndSizes */
    ok(!disk_pe_signed(pe, sizeof(pe)), "an EFI image without a certificate table is unsigned");
    put32(opt + 112 + 4 * 8, 0x1000);
    put32(opt + 112 + 4 * 8 + 4, 0x700);
    ok(disk_pe_signed(pe, sizeof(pe)), "one with a certificate table is signed");
    ok(!disk_pe_signed(pe, 0x100), "a header cut short is not");
    put32(pe + 0x3c, 0xfffffff0);
    ok(!disk_pe_signed(pe, sizeof(pe)), "a PE offset past the end is not");
    ok(!disk_pe_signed((const unsigned char *)"\x7f" "ELF", 4), "an ELF kernel is not");
}

int main(void)
{
    tap_tmpdir();
    test_plan_parts();
    test_esp_reproducible();
    test_esp_replaces_old();
    test_pe_signed();
    return tap_done();
}
