/* seed.c - a NoCloud seed ISO for cloud-init, written by libarchive. */
#include "boot/seed.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct archive, archive_write_free)

#define SEED_VOLUME_ID "cidata"

int seed_from_dir(const char *dir, struct seed_files *f, char ***owned, struct kiln_err *err)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return kiln_errno(err, KILN_EINVAL, errno, "seed directory '%s'", dir);
    if (!S_ISDIR(st.st_mode))
        return kiln_errf(err, KILN_EINVAL, "seed directory '%s' is not a directory", dir);
    static const char *const names[] = { "user-data", "meta-data", "network-config", "vendor-data" };
    const char **slots[] = { &f->user_data, &f->meta_data, &f->network_config, &f->vendor_data };
    char **v = xcalloc(ARRAY_SIZE(names) + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (*slots[i])
            continue;
        char *p = path_join(dir, names[i]);
        if (!fs_exists(p)) {
            free(p);
            continue;
        }
        *slots[i] = p;
        v[n++] = p;
    }
    *owned = v;
    if (!f->user_data)
        return kiln_errf(err, KILN_EINVAL, "seed directory '%s' has no 'user-data'", dir);
    return 0;
}

static int add_entry(struct archive *ar, const char *name, const void *data, size_t len, const char *path,
                     struct kiln_err *err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)len);
    int ok = archive_write_header(ar, e) == ARCHIVE_OK &&
             (len == 0 || archive_write_data(ar, data, len) == (la_ssize_t)len);
    archive_entry_free(e);
    if (!ok)
        return kiln_errf(err, KILN_EFAIL, "cannot write '%s' into the seed '%s': %s", name, path,
                         archive_error_string(ar));
    return 0;
}

static int read_seed_file(const char *what, const char *file, struct buf *b, struct kiln_err *err)
{
    buf_init(b, SEED_MAX_FILE);
    int r = fs_read_file(file, SEED_MAX_FILE, b, err);
    if (r == KILN_ENOTFOUND)
        r = err->code = KILN_EINVAL; /* a file the user named */
    return r < 0 ? kiln_err_prefix(err, "seed %s", what) : 0;
}

static int write_iso(const struct seed_files *f, const char *path, struct kiln_err *err)
{
    static const char *const names[] = { "user-data", "meta-data", "network-config", "vendor-data" };
    const char *files[] = { f->user_data, f->meta_data, f->network_config, f->vendor_data };
    struct buf data[ARRAY_SIZE(names)];
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        buf_init(&data[i], SEED_MAX_FILE);
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(names) && r == 0; i++)
        if (files[i])
            r = read_seed_file(names[i], files[i], &data[i], err);
    if (r == 0 && !f->meta_data) {
        char hex[HASH_HEX_LEN + 1];
        hash_sha256_hex(data[0].data, data[0].len, hex);
        r = buf_addf(&data[1], err, "instance-id: kiln-%.16s\n", hex);
    }
    _cleanup_(archive_write_freep) struct archive *ar = r == 0 ? archive_write_new() : NULL;
    if (r == 0 && !ar)
        r = kiln_errf(err, KILN_ENOMEM, "out of memory");
    if (r == 0 && (archive_write_set_format_iso9660(ar) != ARCHIVE_OK ||
                   archive_write_set_option(ar, "iso9660", "volume-id", SEED_VOLUME_ID) != ARCHIVE_OK ||
                   archive_write_set_option(ar, "iso9660", "rockridge", "1") != ARCHIVE_OK ||
                   archive_write_set_option(ar, "iso9660", "joliet", "1") != ARCHIVE_OK ||
                   archive_write_add_filter_none(ar) != ARCHIVE_OK ||
                   archive_write_open_filename(ar, path) != ARCHIVE_OK))
        r = kiln_errf(err, KILN_EFAIL, "cannot create the seed '%s': %s", path, archive_error_string(ar));
    for (size_t i = 0; i < ARRAY_SIZE(names) && r == 0; i++)
        if (files[i] || i == 1)
            r = add_entry(ar, names[i], data[i].data, data[i].len, path, err);
    if (r == 0 && archive_write_close(ar) != ARCHIVE_OK)
        r = kiln_errf(err, KILN_EFAIL, "cannot write the seed '%s': %s", path, archive_error_string(ar));
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        buf_release(&data[i]);
    return r;
}

int seed_iso_write(const struct seed_files *f, const char *path, struct kiln_err *err)
{
    if (!f->user_data)
        return kiln_errf(err, KILN_EINVAL, "a seed needs user data");
    if (fs_exists(path))
        return kiln_errf(err, KILN_EEXIST, "seed '%s' exists already", path);
    int r = write_iso(f, path, err);
    if (r < 0)
        unlink(path);
    return r;
}
