/* host-disk.c - disks laid out on the host.
 *
 * A disk output whose recipe runs nothing inside the image (no packages,
 * run or services) needs no appliance at all; one that does gets its tree
 * from the appliance (run on a scratch disk) and is laid out here as well,
 * so that the same tree always gives the same disk.  kiln applies sysprep to the tree
 * itself, adds /etc/fstab (and, for a bootable disk, GRUB's files: see
 * host-grub.c), checks the post-condition on the tree, extracts it with
 * libarchive into a scratch directory and lets `mke2fs -d` build the ext4
 * root straight into the partition (`-E offset`) of a disk partitioned with
 * `parted`; a bootable disk then gets GRUB's boot sector and core image.
 * Only as root (owners and device nodes must survive the extraction);
 * otherwise the guest path is used. */
#include "disk/disk.h"
#include "disk/disk-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define MIB (1ull << 20)

static int any_bootable(const struct recipe *r)
{
    for (size_t i = 0; i < r->n_outputs; i++) {
        const struct recipe_output *x = &r->outputs[i];
        if ((x->type == OUTPUT_QCOW2 || x->type == OUTPUT_RAW) && x->bootable)
            return 1;
    }
    return 0;
}

int host_disk_eligible(const struct recipe *r)
{
    if (r->packages.n || r->n_run || r->services_enable.n || r->services_disable.n)
        return 0;
    return host_disk_possible(r);
}

int host_disk_possible(const struct recipe *r)
{
    const struct recipe_output *o = recipe_first_disk(r);
    if (!o)
        return 0;
    if (o->filesystem && strcmp(o->filesystem, "ext4") != 0)
        return 0;
    if (any_bootable(r) && !run_have("grub-mkimage"))
        return 0;
    /* Debian's signed chain comes with packages the appliance installs. */
    if (o->bootable && o->secure_boot)
        return 0;
    return geteuid() == 0 && run_have("parted") && run_have("mke2fs") && run_have("sfdisk") &&
           run_have("debugfs") && run_have("dumpe2fs");
}

/* What sysprep removes, as tree paths (fnmatch patterns, FNM_PATHNAME). */
static int sysprep_removes_path(const char *path, enum tree_type type)
{
    static const char *const gone[] = {
        "/etc/ssh/ssh_host_*", "/var/lib/cloud/instance", "/var/lib/cloud/instances",
        "/var/lib/cloud/data", "/var/lib/cloud/sem", "/var/lib/systemd/random-seed",
        "/var/cache/apt/*.bin", "/var/cache/apt/archives/*.deb", "/tmp/*", "/var/tmp/*", NULL,
    };
    for (const char *const *p = gone; *p; p++)
        if (fnmatch(*p, path, FNM_PATHNAME) == 0)
            return 1;
    if (type == TREE_DIR || type == TREE_SYMLINK)
        return 0;
    if (strncmp(path, "/var/log/", 9) == 0)
        return 1;
    if (strncmp(path, "/var/lib/apt/lists/", 19) == 0 && strcmp(path, "/var/lib/apt/lists/lock") != 0 &&
        strncmp(path, "/var/lib/apt/lists/partial/", 27) != 0)
        return 1;
    if (strcmp(path, "/var/lib/dbus/machine-id") == 0)
        return 1;
    return 0;
}

static int sysprep_removes(const struct tree_entry *e)
{
    return sysprep_removes_path(e->path, e->type);
}

int disk_sysprep_clears(const char *path, int is_file)
{
    return sysprep_removes_path(path, is_file ? TREE_FILE : TREE_SYMLINK) ||
           (is_file && strcmp(path, "/etc/machine-id") == 0);
}

static int add_file(struct tree *t, const char *path, const char *data, unsigned mode, struct kiln_err *err)
{
    struct tree_new_entry ne = { .path = path, .type = TREE_FILE, .mode = mode, .mtime = tree_epoch(t) };
    struct tree_entry *e = NULL;
    int r = tree_add(t, "sysprep", &ne, &e, err);
    if (r == 0)
        r = tree_set_inline(t, e, data, strlen(data), err);
    return r;
}

static int sysprep_tree(struct tree *t, struct kiln_err *err)
{
    kiln_log(KILN_LOG_INFO, "sysprep: removing machine identity, host keys, logs and caches");
    struct tree_entry **v = NULL;
    size_t n = 0;
    int r = tree_sorted(t, &v, &n, err);
    if (r < 0)
        return r;
    char **doomed = xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (sysprep_removes(v[i]))
            doomed[k++] = xstrdup(v[i]->path);
    free(v);
    for (size_t i = 0; i < k && r == 0; i++)
        r = tree_remove(t, "sysprep", doomed[i], err);
    for (size_t i = 0; i < k; i++)
        free(doomed[i]);
    free(doomed);
    if (r < 0)
        return r;
    struct tree_entry *mid = tree_get(t, "/etc/machine-id");
    if (mid && mid->type == TREE_FILE && (r = tree_set_inline(t, mid, "", 0, err)) < 0)
        return r;
    struct tree_entry *sshd = tree_get(t, "/usr/sbin/sshd");
    if (sshd) {
        struct tree_entry *sd = tree_get(t, "/etc/systemd/system");
        if (!sd || sd->type != TREE_DIR)
            return kiln_errf(err, KILN_EFAIL, "sysprep: sshd is installed but the image has no systemd to regenerate its host keys at first boot");
        if ((r = add_file(t, "/etc/systemd/system/" DISK_SSH_KEYGEN_UNIT, DISK_SSH_KEYGEN_SERVICE, 0644, err)) < 0)
            return r;
        struct tree_new_entry ne = { .path = "/etc/systemd/system/multi-user.target.wants/" DISK_SSH_KEYGEN_UNIT,
                                     .type = TREE_SYMLINK, .mode = 0777, .mtime = tree_epoch(t),
                                     .link_target = "/etc/systemd/system/" DISK_SSH_KEYGEN_UNIT };
        if ((r = tree_add(t, "sysprep", &ne, NULL, err)) < 0)
            return r;
    }
    return 0;
}

static int sysprep_check_tree(struct tree *t, struct kiln_err *err)
{
    struct tree_entry *mid = tree_get(t, "/etc/machine-id");
    if (mid && mid->type == TREE_FILE && mid->content && mid->content->size != 0)
        return kiln_errf(err, KILN_EFAIL, "sysprep check: '/etc/machine-id' is not empty");
    if (tree_get(t, "/usr/sbin/sshd") && !tree_get(t, "/etc/systemd/system/multi-user.target.wants/" DISK_SSH_KEYGEN_UNIT))
        return kiln_errf(err, KILN_EFAIL, "sysprep check: nothing regenerates the SSH host keys at first boot");
    struct tree_entry **v = NULL;
    size_t n = 0;
    int r = tree_sorted(t, &v, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++)
        if (sysprep_removes(v[i]))
            r = kiln_errf(err, KILN_EFAIL, "sysprep check: '%s' is still in the image", v[i]->path);
    free(v);
    return r;
}

static int extract(const char *tar, const char *dir, struct kiln_err *err)
{
    struct archive *in = archive_read_new();
    struct archive *out = archive_write_disk_new();
    archive_read_support_format_tar(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                            ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    /* Paths are the tree's own (normalised, no ".."), put below dir here. */
    int r = 0;
    if (archive_read_open_filename(in, tar, 1 << 20) != ARCHIVE_OK) {
        r = kiln_errf(err, KILN_EFAIL, "cannot read '%s': %s", tar, archive_error_string(in));
        goto done;
    }
    struct archive_entry *e;
    int ar;
    while ((ar = archive_read_next_header(in, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, archive_entry_pathname(e));
        archive_entry_set_pathname(e, p);
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
            _cleanup_free_ char *h = xasprintf("%s/%s", dir, hl);
            archive_entry_set_hardlink(e, h);
        }
        if (archive_write_header(out, e) < ARCHIVE_WARN) {
            r = kiln_errf(err, KILN_EFAIL, "cannot extract '%s': %s", archive_entry_pathname(e),
                          archive_error_string(out));
            goto done;
        }
        const void *buf;
        size_t len;
        la_int64_t off;
        while ((ar = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK)
            if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK) {
                r = kiln_errf(err, KILN_EFAIL, "cannot extract: %s", archive_error_string(out));
                goto done;
            }
        if (ar != ARCHIVE_EOF) {
            r = kiln_errf(err, KILN_EFAIL, "cannot read '%s': %s", tar, archive_error_string(in));
            goto done;
        }
        archive_write_finish_entry(out);
    }
    if (ar != ARCHIVE_EOF)
        r = kiln_errf(err, KILN_EFAIL, "cannot read '%s': %s", tar, archive_error_string(in));
    else if (archive_write_close(out) != ARCHIVE_OK)
        r = kiln_errf(err, KILN_EFAIL, "cannot extract: %s", archive_error_string(out));
done:
    archive_read_free(in);
    archive_write_free(out);
    return r;
}

/* parted's partition table for the plan (its GUIDs are parted's own). */
static int host_partition(const char *raw, const struct disk_parts *p, struct kiln_err *err)
{
    char *argv[32];
    char num[3][8], se[3][2][32];
    size_t k = 0;
    argv[k++] = "parted";
    argv[k++] = "-s";
    argv[k++] = (char *)raw;
    argv[k++] = "mklabel";
    argv[k++] = p->mbr ? "msdos" : "gpt";
    const struct { const struct disk_part *part; const char *name, *fs, *flag; } v[] = {
        { &p->bios, "bios", NULL, "bios_grub" },
        { &p->esp, "esp", "fat32", "esp" },
        { &p->root, p->mbr ? "primary" : "root", "ext4", NULL },
    };
    for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
        if (!v[i].part->num)
            continue;
        snprintf(se[i][0], sizeof(se[i][0]), "%llus", (unsigned long long)v[i].part->start);
        snprintf(se[i][1], sizeof(se[i][1]), "%llus", (unsigned long long)v[i].part->end);
        argv[k++] = "mkpart";
        argv[k++] = (char *)v[i].name;
        if (v[i].fs)
            argv[k++] = (char *)v[i].fs;
        argv[k++] = se[i][0];
        argv[k++] = se[i][1];
        if (v[i].flag) {
            snprintf(num[i], sizeof(num[i]), "%d", v[i].part->num);
            argv[k++] = "set";
            argv[k++] = num[i];
            argv[k++] = (char *)v[i].flag;
            argv[k++] = "on";
        }
    }
    argv[k] = NULL;
    return run_argv(argv, NULL, NULL, err);
}

static int host_disk_write(const struct recipe *r, struct tree *tree, const char *workdir, const char *out_tar,
                           uint64_t size, const struct disk_parts *parts, const char *uuid, const char *volid,
                           const struct host_grub *grub, struct guest_result *out, struct kiln_err *err);

int host_disk_stage(const struct recipe *r, struct tree *tree, const char *workdir, const char *out_tar,
                    struct guest_result *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    const struct recipe_output *o = recipe_first_disk(r);
    int ret = 0;
    kiln_log(KILN_LOG_INFO, "laying out the disk on the host");
    char uuid[37];
    disk_stable_uuid(r, "root-fs", uuid);
    if (r->sysprep && (ret = sysprep_tree(tree, err)) < 0)
        return ret;
    /* The size first: the partitions, and so GRUB's root, follow from it. */
    uint64_t content = tree_content_bytes(tree) + (uint64_t)tree_count(tree) * 4096;
    uint64_t size;
    int installs = r->packages.n > 0 || r->n_run > 0; /* the same headroom as the appliance gives */
    if ((ret = disk_plan_size(o, content, installs, &size, err)) < 0)
        return ret;
    struct disk_parts parts;
    disk_plan_parts(o, size, &parts);
    char volid[10];
    disk_esp_volid(r, volid);
    _cleanup_free_ char *fstab = disk_fstab(uuid, "ext4", parts.esp.num ? volid : NULL);
    if ((ret = add_file(tree, "/etc/fstab", fstab, 0644, err)) < 0)
        return ret;
    if (parts.esp.num) {
        struct tree_new_entry ne = { .path = "/boot/efi", .type = TREE_DIR, .mode = 0755, .mtime = tree_epoch(tree) };
        if (!tree_get(tree, "/boot/efi") && (ret = tree_add(tree, "boot loader", &ne, NULL, err)) < 0)
            return ret;
    }
    struct host_grub grub = { 0 };
    if (any_bootable(r) && (ret = host_grub_prepare(tree, workdir, r->name, uuid, &parts, &grub, err)) < 0) {
        host_grub_release(&grub);
        return ret;
    }
    ret = host_disk_write(r, tree, workdir, out_tar, size, &parts, uuid, volid, &grub, out, err);
    host_grub_release(&grub);
    return ret;
}

static int host_disk_write(const struct recipe *r, struct tree *tree, const char *workdir, const char *out_tar,
                           uint64_t size, const struct disk_parts *parts, const char *uuid, const char *volid,
                           const struct host_grub *grub, struct guest_result *out, struct kiln_err *err)
{
    int ret = 0;
    if (r->sysprep && (ret = sysprep_check_tree(tree, err)) < 0)
        return ret;
    {
        _cleanup_close_ int fd = open(out_tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", out_tar);
        if ((ret = tree_write_tar(tree, tree_sink_fd, &fd, err)) < 0)
            return ret;
    }
    _cleanup_free_ char *staging = path_join(workdir, "host-root");
    _cleanup_free_ char *raw = path_join(workdir, "disk.raw");
    if ((ret = fs_mkdir_p(staging, 0755, err)) < 0)
        return ret;
    ret = extract(out_tar, staging, err);
    if (ret == 0) {
        int fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
            ret = kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", raw);
        if (fd >= 0)
            close(fd);
    }
    uint64_t start = parts->root.start, end = parts->root.end;
    if (ret == 0)
        ret = host_partition(raw, parts, err);
    if (ret == 0) {
        /* Each partition's GUID is named after the partition (see repro.c). */
        const char *names[3];
        size_t n = 0;
        if (parts->bios.num)
            names[n++] = "bios";
        if (parts->esp.num)
            names[n++] = "esp";
        names[n++] = "root";
        ret = disk_set_table_ids(r, raw, parts->mbr, names, n, err);
    }
    if (ret == 0) {
        kiln_log(KILN_LOG_INFO, "making the ext4 root filesystem");
        char off[128], blocks[32];
        snprintf(blocks, sizeof(blocks), "%lluk", (unsigned long long)((end - start + 1) / 2));
        /* The recipe's UUID and hash seed, the build's time (see repro.c). */
        char seed[37], fake[48];
        disk_stable_uuid(r, "root-fs-hash-seed", seed);
        snprintf(off, sizeof(off), "offset=%llu,hash_seed=%s", (unsigned long long)(start * 512), seed);
        snprintf(fake, sizeof(fake), "E2FSPROGS_FAKE_TIME=%lld", (long long)tree_epoch(tree));
        char *argv[] = { "env", fake, "mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-L", "root", "-U", (char *)uuid,
                         "-d", staging, "-E", off, raw, blocks, NULL };
        struct buf outb = BUF_INIT;
        buf_init(&outb, 64 << 10);
        struct run_opts ro = { .out = &outb };
        int st = 0;
        ret = run_argv(argv, &ro, &st, err);
        if (ret == 0 && st != 0) {
            if (strstr(outb.data ? outb.data : "", "Could not allocate") ||
                strstr(outb.data ? outb.data : "", "No space left"))
                ret = kiln_errf(err, KILN_EINVAL, "disk size %llu MiB is too small for the content",
                                (unsigned long long)(size / MIB));
            else
                ret = kiln_errf(err, KILN_EFAIL, "mke2fs failed with exit status %d: %s", st,
                                outb.data ? outb.data : "");
        }
        buf_release(&outb);
    }
    fs_rm_rf(staging, NULL);
    if (ret == 0)
        ret = disk_ext4_settle(raw, start * 512, tree_epoch(tree), workdir, err);
    if (ret == 0 && grub->core_img) {
        /* GPT: the BIOS boot partition; MBR: the gap between the partition
         * table and the first partition. */
        kiln_log(KILN_LOG_INFO, "installing GRUB's boot sector and core image");
        ret = parts->mbr ? host_grub_embed(grub->core_img, grub->boot_img, raw, 1, start - 1, err)
                         : host_grub_embed(grub->core_img, grub->boot_img, raw, parts->bios.start,
                                           parts->bios.end - parts->bios.start + 1, err);
    }
    if (ret == 0 && grub->esp_dir)
        ret = disk_esp_write(raw, parts, grub->esp_dir, volid, tree_epoch(tree), workdir, err);
    if (ret < 0) {
        unlink(raw);
        return ret;
    }
    out->tree_tar = xstrdup(out_tar);
    out->disk_raw = TAKE_PTR(raw);
    out->disk_size = size;
    out->sysprep_verified = r->sysprep;
    return 0;
}
