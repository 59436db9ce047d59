/* esp.c - where the partitions of a disk go, and the EFI System Partition.
 *
 * disk_plan_parts() is the one place that decides the partition layout, for
 * both paths.  The ESP's FAT file system is always made here, on the host,
 * from a directory of the files that belong on it (GRUB's EFI image, or
 * Debian's shim and signed GRUB): `mkfs.fat --invariant` with a volume ID
 * from the recipe, then one `mmd`/`mcopy` per directory and file in sorted
 * order with SOURCE_DATE_EPOCH set, so the same recipe gives the same bytes
 * whatever the build's clock and the host directory's order.  The file
 * system is made in a scratch file and copied into the disk at the
 * partition's offset, replacing all the partition held before: on the
 * appliance path that is the FAT grub-install wrote to, whose blocks must
 * not show through where the new file system has zeros (in its FAT, in the
 * files). */
#include "disk/disk-internal.h"
#include "disk/disk.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define SECTOR 512ull
#define MIB (1ull << 20)
#define ESP_MAX_ENTRIES 4096

void disk_plan_parts(const struct recipe_output *o, uint64_t size, struct disk_parts *p)
{
    memset(p, 0, sizeof(*p));
    uint64_t sectors = size / SECTOR;
    if (o->partition_table == PARTITION_MBR) {
        p->mbr = 1;
        p->root.num = 1;
        p->root.start = 2048;
        p->root.end = sectors - 1;
        return;
    }
    enum recipe_firmware fw = o->bootable ? o->firmware : FIRMWARE_NONE;
    uint64_t next = 2048;
    int num = 1;
    /* GRUB's core image for BIOS: 1 MiB, first, as every GPT disk had it. */
    if (fw != FIRMWARE_UEFI) {
        p->bios = (struct disk_part){ num++, next, next + 2047 };
        next += 2048;
    }
    if (fw == FIRMWARE_UEFI || fw == FIRMWARE_HYBRID) {
        p->esp = (struct disk_part){ num++, next, next + RECIPE_ESP_SIZE / SECTOR - 1 };
        next += RECIPE_ESP_SIZE / SECTOR;
    }
    p->root = (struct disk_part){ num, next, sectors - 34 };
}

void disk_esp_volid(const struct recipe *r, char out[10])
{
    char uuid[37];
    disk_stable_uuid(r, "esp-fs", uuid);
    for (int i = 0; i < 4; i++) {
        out[i] = (char)toupper((unsigned char)uuid[i]);
        out[5 + i] = (char)toupper((unsigned char)uuid[4 + i]);
    }
    out[4] = '-';
    out[9] = '\0';
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files and directories below src/rel, depth first, each
 * directory before what is in it, names in byte order. */
static int walk(const char *src, const char *rel, char ***paths, size_t *n, struct kiln_err *err)
{
    _cleanup_free_ char *dir = *rel ? path_join(src, rel) : xstrdup(src);
    DIR *d = opendir(dir);
    if (!d)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", dir);
    char **names = NULL;
    size_t k = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof(char *));
        }
        names[k++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (k)
        qsort(names, k, sizeof(char *), cmp_names);
    int r = 0;
    for (size_t i = 0; i < k; i++) {
        char *p = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
        if (*n >= ESP_MAX_ENTRIES) {
            free(p);
            r = kiln_errf(err, KILN_EFAIL, "the EFI System Partition would hold more than %d entries", ESP_MAX_ENTRIES);
            break;
        }
        *paths = xrealloc(*paths, (*n + 1) * sizeof(char *));
        (*paths)[(*n)++] = p;
        _cleanup_free_ char *full = path_join(src, p);
        struct stat st;
        if (lstat(full, &st) < 0) {
            r = kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", full);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if ((r = walk(src, p, paths, n, err)) < 0)
                break;
        } else if (!S_ISREG(st.st_mode)) {
            r = kiln_errf(err, KILN_EFAIL, "'%s' is neither a file nor a directory: FAT cannot hold it", full);
            break;
        }
    }
    for (size_t i = 0; i < k; i++)
        free(names[i]);
    free(names);
    return r;
}

/* Copies len bytes of the file at from into the disk at offset.  Nothing
 * the disk held there survives (on the appliance path it holds the FAT that
 * grub-install wrote to): the range is punched out first, so the file's
 * zero blocks read as zero and stay holes, or, where the file system cannot
 * punch holes, they are written as zeros. */
static int copy_into(const char *from, const char *raw, uint64_t offset, uint64_t len, struct kiln_err *err)
{
    _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open '%s'", from);
    _cleanup_close_ int out = open(raw, O_WRONLY | O_CLOEXEC);
    if (out < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open '%s'", raw);
    int punched = fallocate(out, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0;
    if (!punched && errno != EOPNOTSUPP && errno != ENOSYS)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot clear the EFI System Partition in '%s'", raw);
    _cleanup_free_ char *chunk = xmalloc(MIB);
    static const char zero[4096];
    for (uint64_t done = 0; done < len;) {
        size_t want = len - done < MIB ? (size_t)(len - done) : (size_t)MIB;
        ssize_t n = pread(in, chunk, want, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kiln_errno(err, KILN_EFAIL, n < 0 ? errno : EIO, "cannot read '%s'", from);
        for (size_t o = 0; o < (size_t)n; o += sizeof(zero)) {
            size_t m = (size_t)n - o < sizeof(zero) ? (size_t)n - o : sizeof(zero);
            if (punched && memcmp(chunk + o, zero, m) == 0)
                continue; /* a hole: zero already */
            int r = fs_pwrite_all(out, chunk + o, m, offset + done + o, raw, err);
            if (r < 0)
                return r;
        }
        done += (uint64_t)n;
    }
    if (fsync(out) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot write '%s'", raw);
    return 0;
}

int disk_esp_write(const char *raw, const struct disk_parts *p, const char *src, const char *volid,
                   int64_t epoch, const char *workdir, struct kiln_err *err)
{
    if (!p->esp.num)
        return kiln_errf(err, KILN_EFAIL, "the disk has no EFI System Partition");
    if (!run_have("mkfs.fat") || !run_have("mcopy"))
        return kiln_errf(err, KILN_EFAIL, "a UEFI disk needs mkfs.fat (package dosfstools) and mcopy (package mtools) on the host");
    uint64_t bytes = (p->esp.end - p->esp.start + 1) * SECTOR;
    _cleanup_free_ char *img = path_join(workdir, "esp.img");
    unlink(img);
    char id[9], blocks[32], sde[32];
    snprintf(id, sizeof(id), "%.4s%.4s", volid, volid + 5);
    snprintf(blocks, sizeof(blocks), "%llu", (unsigned long long)(bytes / 1024));
    snprintf(sde, sizeof(sde), "SOURCE_DATE_EPOCH=%lld", (long long)epoch);
    kiln_log(KILN_LOG_INFO, "making the EFI System Partition (FAT32, volume %s)", volid);
    char *mkfs[] = { "mkfs.fat", "-C", "-F", "32", "--invariant", "-i", id, "-n", "EFI", img, blocks, NULL };
    int r = run_argv(mkfs, NULL, NULL, err);
    char **paths = NULL;
    size_t n = 0;
    if (r == 0)
        r = walk(src, "", &paths, &n, err);
    /* FAT times are local times: UTC, at the build's epoch. */
    char *envp[] = { sde, "TZ=UTC", "MTOOLS_SKIP_CHECK=1", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
    struct run_opts ro = { .envp = envp };
    _cleanup_free_ char *imgarg = xstrdup(img);
    for (size_t i = 0; i < n && r == 0; i++) {
        _cleanup_free_ char *full = path_join(src, paths[i]);
        _cleanup_free_ char *dest = xasprintf("::/%s", paths[i]);
        struct stat st;
        if (lstat(full, &st) < 0) {
            r = kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", full);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            char *argv[] = { "mmd", "-i", imgarg, dest, NULL };
            r = run_argv(argv, &ro, NULL, err);
        } else {
            char *argv[] = { "mcopy", "-Q", "-i", imgarg, full, dest, NULL };
            r = run_argv(argv, &ro, NULL, err);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    if (r == 0)
        r = copy_into(img, raw, p->esp.start * SECTOR, bytes, err);
    unlink(img);
    return r < 0 ? kiln_err_prefix(err, "EFI System Partition") : 0;
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

int disk_pe_signed(const unsigned char *head, size_t len)
{
    /* MZ header -> PE header -> optional header (PE32+) -> data directory
     * 4, the certificate table that holds an Authenticode signature. */
    if (len < 0x40 || head[0] != 'M' || head[1] != 'Z')
        return 0;
    uint32_t pe = le32(head + 0x3c);
    if (pe > len || len - pe < 24 + 152)
        return 0;
    if (memcmp(head + pe, "PE\0\0", 4) != 0)
        return 0;
    const unsigned char *opt = head + pe + 24;
    unsigned size_opt = (unsigned)head[pe + 20] | (unsigned)head[pe + 21] << 8;
    if (opt[0] != 0x0b || opt[1] != 0x02 || size_opt < 152)
        return 0;
    uint32_t ndirs = le32(opt + 108);
    if (ndirs < 5)
        return 0;
    return le32(opt + 112 + 4 * 8 + 4) > 0;
}

char *disk_fstab(const char *root_uuid, const char *fs, const char *esp_volid)
{
    if (!esp_volid)
        return xasprintf("# written by kiln\nUUID=%s / %s errors=remount-ro 0 1\n", root_uuid, fs);
    return xasprintf("# written by kiln\nUUID=%s / %s errors=remount-ro 0 1\n"
                     "UUID=%s /boot/efi vfat umask=0077,nofail 0 1\n", root_uuid, fs, esp_volid);
}

int disk_check_boot_tree(const struct recipe *r, const struct tree *t, struct kiln_err *err)
{
    const struct recipe_output *o = recipe_first_disk(r);
    if (!o || !o->bootable || o->firmware == FIRMWARE_BIOS)
        return 0;
    if (o->secure_boot) {
        if (!tree_resolve(t, "/usr/bin/apt-get"))
            return kiln_errf(err, KILN_EINVAL, "secure_boot installs Debian's signed chain (shim-signed, grub-efi-amd64-signed) with apt-get, and the image has no '/usr/bin/apt-get'");
        return 0;
    }
    if (r->n_run)
        return 0;
    static const char *const efi[] = { "grub-efi-amd64-bin", "grub-efi-amd64", "shim-signed" };
    for (size_t i = 0; i < ARRAY_SIZE(efi); i++)
        for (size_t j = 0; j < r->packages.n; j++)
            if (strcmp(r->packages.v[j], efi[i]) == 0)
                return 0;
    const struct tree_entry *e = tree_resolve(t, "/usr/lib/grub/x86_64-efi/kernel.img");
    if (!e || e->type != TREE_FILE)
        return kiln_errf(err, KILN_EINVAL, "firmware %s boots through UEFI, and the image has no GRUB EFI files ('/usr/lib/grub/x86_64-efi'): add grub-efi-amd64-bin to the packages, or use firmware: bios",
                         recipe_firmware_name(o->firmware));
    return 0;
}
