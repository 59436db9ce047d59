/* host-grub.c - BIOS GRUB for disks laid out on the host.
 *
 * A bootable disk whose recipe runs nothing inside the image gets its boot
 * loader without an appliance: the image's own grub-pc files
 * (/usr/lib/grub/i386-pc, read from the tree as data and written to a
 * private scratch directory, so no guest symlink is ever followed on the
 * host) go to `grub-mkimage` (the host's GRUB tool, which only assembles
 * them) to make core.img with an early config that finds the root file
 * system by UUID.  The tree gains what `grub-install` and `update-grub`
 * would have left: /boot/grub/i386-pc/, /boot/grub/grub.cfg (one entry for
 * the newest kernel, serial console) and kiln's /etc/default/grub.d drop-in,
 * so the file manifest describes the disk.  host_grub_embed() then writes
 * boot.img into the MBR (keeping the partition table) and core.img into the
 * embedding area, as grub-bios-setup does (GRUB's documented boot.img and
 * diskboot.img layout, see the offsets below).  Nothing from the image is
 * executed on the host. */
#include "disk/disk-internal.h"
#include "disk/disk.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define GRUB_DIR "/usr/lib/grub/i386-pc"
#define SECTOR 512u
#define MAX_GRUB_FILE (8u << 20)

/* boot.img (GRUB's include/grub/i386/pc/boot.h). */
#define BOOT_BPB_START 0x03
#define BOOT_BPB_END 0x5a
#define BOOT_KERNEL_SECTOR 0x5c  /* 64-bit LBA of core.img's first sector */
#define BOOT_BOOT_DRIVE 0x64     /* 0xff: the drive the BIOS booted from */
#define BOOT_DRIVE_CHECK 0x66    /* two bytes, NOPed for hard disks */
#define BOOT_NT_MAGIC 0x1b8      /* disk signature and partition table: kept */
/* diskboot.img, core.img's first sector: its blocklist ends the sector. */
#define BLOCKLIST_SIZE 12        /* u64 start, u16 len, u16 segment */
#define KERNEL_SEGMENT 0x820     /* where the rest of core.img is loaded */

/* What the image needs for GRUB to assemble its image and run from disk,
 * per platform: the image's files in dir, copied to the tree's /boot/grub/<target>. */
struct grub_platform {
    const char *target;  /* grub-mkimage -O, and the directory name */
    const char *dir;     /* in the image */
    const char *package; /* what to add when the files are missing */
    const char *firmware;
    const char *const *required;
};
static const char *const bios_required[] = {
    "kernel.img", "boot.img", "diskboot.img", "lzma_decompress.img", "moddep.lst",
    "biosdisk.mod", "part_gpt.mod", "part_msdos.mod", "ext2.mod", "search_fs_uuid.mod", "normal.mod",
    "linux.mod", NULL,
};
static const char *const efi_required[] = {
    "kernel.img", "moddep.lst", "part_gpt.mod", "ext2.mod", "search_fs_uuid.mod", "normal.mod", "linux.mod",
    "serial.mod", NULL,
};
static const struct grub_platform bios_grub = { "i386-pc", GRUB_DIR, "grub-pc", "BIOS", bios_required };
static const struct grub_platform efi_grub = { "x86_64-efi", "/usr/lib/grub/x86_64-efi", "grub-efi-amd64-bin",
                                               "UEFI", efi_required };

/* A kernel version as found in a file name: only what a version has, so it
 * cannot inject anything into grub.cfg. */
static int version_ok(const char *v)
{
    if (!*v)
        return 0;
    for (; *v; v++)
        if (!isalnum((unsigned char)*v) && !strchr("._+~-", *v))
            return 0;
    return 1;
}

/* The newest /boot/vmlinuz-V with a /boot/initrd.img-V (both regular files). */
static int find_kernel(struct tree *t, char **version, struct kiln_err *err)
{
    struct tree_entry **v = NULL;
    size_t n = 0;
    int r = tree_sorted(t, &v, &n, err);
    if (r < 0)
        return r;
    char *best = NULL;
    int any_kernel = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->type != TREE_FILE || strncmp(v[i]->path, "/boot/vmlinuz-", 14) != 0)
            continue;
        const char *ver = v[i]->path + 14;
        if (!version_ok(ver))
            continue;
        any_kernel = 1;
        _cleanup_free_ char *initrd = xasprintf("/boot/initrd.img-%s", ver);
        struct tree_entry *ie = tree_get(t, initrd);
        if (!ie || ie->type != TREE_FILE)
            continue;
        if (!best || strverscmp(ver, best) > 0) {
            free(best);
            best = xstrdup(ver);
        }
    }
    free(v);
    if (!best && !any_kernel)
        return kiln_errf(err, KILN_EINVAL, "a bootable disk needs a kernel, and the image has no '/boot/vmlinuz-*': add a kernel package such as linux-image-amd64");
    if (!best)
        return kiln_errf(err, KILN_EINVAL, "a bootable disk needs an initramfs, and the image has no '/boot/initrd.img-*' for its kernel: install initramfs-tools");
    *version = best;
    return 0;
}

static int add_inline(struct tree *t, const char *path, const void *data, size_t len, struct kiln_err *err)
{
    struct tree_new_entry ne = { .path = path, .type = TREE_FILE, .mode = 0644, .mtime = tree_epoch(t) };
    struct tree_entry *e = NULL;
    int r = tree_add(t, "boot loader", &ne, &e, err);
    if (r == 0)
        r = tree_set_inline(t, e, data, len, err);
    return r;
}

/* Copies the image's GRUB files to dir (for grub-mkimage) and to the tree's
 * /boot/grub/<target>/, as grub-install does. */
static int copy_grub_files(struct tree *t, const struct grub_platform *pf, const char *dir, struct kiln_err *err)
{
    for (const char *const *f = pf->required; *f; f++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", pf->dir, *f);
        struct tree_entry *e = tree_get(t, p);
        if (!e || e->type != TREE_FILE)
            return kiln_errf(err, KILN_EINVAL, "a bootable disk for %s needs its boot loader, and the image has no %s GRUB ('%s' is missing): add %s to the packages",
                             pf->firmware, pf->firmware, p, pf->package);
    }
    struct tree_entry **v = NULL;
    size_t n = 0;
    int r = tree_sorted(t, &v, &n, err);
    if (r < 0)
        return r;
    /* Collect the names first: adding entries changes the tree under v. */
    size_t k = 0;
    char **names = xcalloc(n + 1, sizeof(char *));
    _cleanup_free_ char *pdir = xasprintf("%s/", pf->dir);
    const size_t plen = strlen(pdir);
    for (size_t i = 0; i < n; i++) {
        const char *name = v[i]->path + plen;
        if (v[i]->type != TREE_FILE || strncmp(v[i]->path, pdir, plen) != 0 || strchr(name, '/'))
            continue;
        const char *dot = strrchr(name, '.');
        if (dot && (strcmp(dot, ".mod") == 0 || strcmp(dot, ".lst") == 0 || strcmp(dot, ".img") == 0))
            names[k++] = xstrdup(name);
    }
    free(v);
    for (size_t i = 0; i < k && r == 0; i++) {
        _cleanup_free_ char *src = xasprintf("%s/%s", pf->dir, names[i]);
        struct tree_entry *e = tree_get(t, src);
        char *data = NULL;
        size_t len = 0;
        if (!e || e->type != TREE_FILE) {
            r = kiln_errf(err, KILN_EFAIL, "'%s' changed while copying GRUB", src);
            break;
        }
        if (e->content && e->content->size > MAX_GRUB_FILE) {
            r = kiln_errf(err, KILN_EINVAL, "'%s' is too large for a GRUB file (%llu bytes)", src,
                          (unsigned long long)e->content->size);
            break;
        }
        if ((r = tree_read_content(t, e, MAX_GRUB_FILE, &data, &len, err)) < 0)
            break;
        _cleanup_free_ char *host = path_join(dir, names[i]);
        int fd = open(host, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            r = kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", host);
        else {
            r = fs_pwrite_all(fd, data, len, 0, host, err);
            if (close(fd) < 0 && r == 0)
                r = kiln_errno(err, KILN_EFAIL, errno, "cannot write '%s'", host);
        }
        if (r == 0 && strcmp(names[i], "core.img") != 0) {
            _cleanup_free_ char *dest = xasprintf("/boot/grub/%s/%s", pf->target, names[i]);
            r = add_inline(t, dest, data, len, err);
        }
        free(data);
    }
    for (size_t i = 0; i < k; i++)
        free(names[i]);
    free(names);
    return r;
}

/* The config built into GRUB's image: find the root by UUID (partition
 * part of the first disk as the hint) and load the rest from its
 * /boot/grub.  *path (the file in workdir) and *prefix are caller-owned. */
static int early_config(const char *workdir, const char *name, const char *uuid, const char *part, char **path,
                        char **prefix, struct kiln_err *err)
{
    _cleanup_free_ char *cfg = xasprintf("search.fs_uuid %s root hd0,%s\nset prefix=($root)/boot/grub\n", uuid, part);
    *path = path_join(workdir, name);
    *prefix = xasprintf("(hd0,%s)/boot/grub", part);
    return fs_write_atomic(*path, cfg, strlen(cfg), 0644, err);
}

/* core.img for BIOS: in the BIOS boot partition (GPT) or the MBR gap. */
static int make_bios(struct tree *t, const char *workdir, const char *uuid, const struct disk_parts *p,
                     const char *part, struct host_grub *out, struct kiln_err *err)
{
    _cleanup_free_ char *dir = path_join(workdir, "grub-i386-pc");
    int r = fs_mkdir_p(dir, 0755, err);
    if (r == 0)
        r = copy_grub_files(t, &bios_grub, dir, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *early = NULL, *prefix = NULL;
    if ((r = early_config(workdir, "grub-early.cfg", uuid, part, &early, &prefix, err)) < 0)
        return r;
    _cleanup_free_ char *core = path_join(workdir, "core.img");
    char *argv[] = { "grub-mkimage", "-d", dir, "-O", "i386-pc", "-o", core, "-c", early, "-p", prefix,
                     "biosdisk", p->mbr ? "part_msdos" : "part_gpt", "ext2", "search_fs_uuid", NULL };
    if ((r = run_argv(argv, NULL, NULL, err)) < 0)
        return kiln_err_prefix(err, "making GRUB's core image");
    struct buf b = BUF_INIT;
    r = fs_read_file(core, MAX_GRUB_FILE, &b, err);
    if (r == 0)
        r = add_inline(t, "/boot/grub/i386-pc/core.img", b.data, b.len, err);
    buf_release(&b);
    if (r < 0)
        return r;
    out->boot_img = path_join(dir, "boot.img");
    out->core_img = TAKE_PTR(core);
    return 0;
}

/* GRUB's EFI image at the removable-media path EFI/BOOT/BOOTX64.EFI of a
 * directory that becomes the ESP: firmware with empty NVRAM starts it.  It
 * finds the root by UUID and loads its modules and grub.cfg from there. */
static int make_efi(struct tree *t, const char *workdir, const char *uuid, const char *part,
                    struct host_grub *out, struct kiln_err *err)
{
    _cleanup_free_ char *dir = path_join(workdir, "grub-x86_64-efi");
    int r = fs_mkdir_p(dir, 0755, err);
    if (r == 0)
        r = copy_grub_files(t, &efi_grub, dir, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *esp = path_join(workdir, "esp");
    _cleanup_free_ char *boot = path_join(esp, "EFI/BOOT");
    if ((r = fs_mkdir_p(boot, 0755, err)) < 0)
        return r;
    _cleanup_free_ char *early = NULL, *prefix = NULL;
    if ((r = early_config(workdir, "grub-early-efi.cfg", uuid, part, &early, &prefix, err)) < 0)
        return r;
    _cleanup_free_ char *img = path_join(boot, "BOOTX64.EFI");
    char *argv[] = { "grub-mkimage", "-d", dir, "-O", "x86_64-efi", "-o", img, "-c", early, "-p", prefix,
                     "part_gpt", "ext2", "search_fs_uuid", NULL };
    if ((r = run_argv(argv, NULL, NULL, err)) < 0)
        return kiln_err_prefix(err, "making GRUB's EFI image");
    out->esp_dir = TAKE_PTR(esp);
    return 0;
}

int host_grub_prepare(struct tree *t, const char *workdir, const char *name, const char *uuid,
                      const struct disk_parts *p, struct host_grub *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    _cleanup_free_ char *version = NULL;
    int r = find_kernel(t, &version, err);
    if (r < 0)
        return r;
    if (!run_have("grub-mkimage"))
        return kiln_errf(err, KILN_EFAIL, "a bootable disk laid out on the host needs grub-mkimage (package grub-common)");
    _cleanup_free_ char *part = p->mbr ? xstrdup("msdos1") : xasprintf("gpt%d", p->root.num);
    kiln_log(KILN_LOG_INFO, "making GRUB's %s for kernel %s",
             p->esp.num ? (p->mbr || p->bios.num ? "core and EFI images" : "EFI image") : "core image", version);
    if ((p->mbr || p->bios.num) && (r = make_bios(t, workdir, uuid, p, part, out, err)) < 0)
        return r;
    if (p->esp.num && (r = make_efi(t, workdir, uuid, part, out, err)) < 0)
        return r;

    /* What update-grub would write: the newest kernel, serial console. */
    _cleanup_free_ char *cfg = xasprintf(
        "# written by kiln; update-grub in the running system replaces it\n"
        "set default=0\n"
        "set timeout=1\n"
        "serial --unit=0 --speed=115200\n"
        "terminal_input console serial\n"
        "terminal_output console serial\n"
        "insmod %s\n"
        "insmod ext2\n"
        "search --no-floppy --fs-uuid --set=root %s\n"
        "menuentry '%s (kernel %s)' {\n"
        "\tlinux /boot/vmlinuz-%s root=UUID=%s ro " DISK_KERNEL_CONSOLE "\n"
        "\tinitrd /boot/initrd.img-%s\n"
        "}\n",
        p->mbr ? "part_msdos" : "part_gpt", uuid, name, version, version, uuid, version);
    if ((r = add_inline(t, "/boot/grub/grub.cfg", cfg, strlen(cfg), err)) < 0)
        return r;
    return add_inline(t, "/etc/default/grub.d/50-kiln-console.cfg", DISK_GRUB_DEFAULTS,
                      strlen(DISK_GRUB_DEFAULTS), err);
}

void host_grub_release(struct host_grub *g)
{
    free(g->core_img);
    free(g->boot_img);
    free(g->esp_dir);
    memset(g, 0, sizeof(*g));
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

int host_grub_embed(const char *core_img, const char *boot_img, const char *raw, uint64_t first_sector,
                    uint64_t max_sectors, struct kiln_err *err)
{
    struct buf boot = BUF_INIT, core = BUF_INIT;
    int r = fs_read_file(boot_img, SECTOR, &boot, err);
    if (r == 0)
        r = fs_read_file(core_img, MAX_GRUB_FILE, &core, err);
    if (r == 0 && boot.len != SECTOR)
        r = kiln_errf(err, KILN_EINVAL, "GRUB's boot.img is %zu bytes, not one sector", boot.len);
    uint64_t nsec = (core.len + SECTOR - 1) / SECTOR;
    if (r == 0 && (nsec < 2 || nsec > max_sectors))
        r = kiln_errf(err, KILN_EFAIL, "GRUB's core image (%llu sectors) does not fit its %llu-sector embedding area",
                      (unsigned long long)nsec, (unsigned long long)max_sectors);
    int fd = -1;
    if (r == 0 && (fd = open(raw, O_RDWR | O_CLOEXEC)) < 0)
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot open '%s'", raw);
    unsigned char mbr[SECTOR];
    if (r == 0 && pread(fd, mbr, SECTOR, 0) != (ssize_t)SECTOR)
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot read the boot sector of '%s'", raw);
    if (r == 0) {
        unsigned char *img = (unsigned char *)boot.data;
        /* The partition table and disk signature stay; so does a BPB. */
        memcpy(img + BOOT_NT_MAGIC, mbr + BOOT_NT_MAGIC, SECTOR - BOOT_NT_MAGIC);
        memcpy(img + BOOT_BPB_START, mbr + BOOT_BPB_START, BOOT_BPB_END - BOOT_BPB_START);
        put_le64(img + BOOT_KERNEL_SECTOR, first_sector);
        img[BOOT_BOOT_DRIVE] = 0xff;
        img[BOOT_DRIVE_CHECK] = 0x90;
        img[BOOT_DRIVE_CHECK + 1] = 0x90;

        size_t padded = (size_t)nsec * SECTOR;
        unsigned char *c = xcalloc(1, padded);
        memcpy(c, core.data, core.len);
        /* One contiguous run after the first sector, then a terminator. */
        unsigned char *bl = c + SECTOR - BLOCKLIST_SIZE;
        put_le64(bl, first_sector + 1);
        put_le16(bl + 8, (unsigned)(nsec - 1));
        put_le16(bl + 10, KERNEL_SEGMENT);
        memset(bl - BLOCKLIST_SIZE, 0, BLOCKLIST_SIZE);
        r = fs_pwrite_all(fd, c, padded, first_sector * SECTOR, raw, err);
        if (r == 0)
            r = fs_pwrite_all(fd, img, SECTOR, 0, raw, err);
        free(c);
    }
    if (fd >= 0 && close(fd) < 0 && r == 0)
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot write '%s'", raw);
    buf_release(&boot);
    buf_release(&core);
    return r;
}
