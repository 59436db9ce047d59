/* test-seed.c - the NoCloud seed ISO: volume ID, names and contents as
 * cloud-init reads them, and refused inputs leave nothing behind. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "boot/seed.h"
#include "common/common.h"
#include "tests/unit/tap.h"

static void put(const char *path, const char *text)
{
    struct kiln_err err = KILN_ERR_INIT;
    if (fs_write_atomic(path, text, strlen(text), 0644, &err) < 0)
        printf("Bail out! %s\n", err.msg);
}

/* The ISO's entries "name=content;" in order, read back by libarchive. */
static char *entries(const char *iso)
{
    struct archive *ar = archive_read_new();
    archive_read_support_format_iso9660(ar);
    struct buf b = BUF_INIT;
    if (archive_read_open_filename(ar, iso, 10240) != ARCHIVE_OK) {
        archive_read_free(ar);
        return xstrdup("(unreadable)");
    }
    struct archive_entry *e;
    char data[4096];
    while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
        buf_addf(&b, NULL, "%s=", archive_entry_pathname(e));
        la_ssize_t n;
        while ((n = archive_read_data(ar, data, sizeof(data))) > 0)
            buf_add(&b, data, (size_t)n, NULL);
        buf_addch(&b, ';', NULL);
    }
    archive_read_free(ar);
    return buf_detach(&b, NULL);
}

/* The primary volume descriptor's volume identifier (sector 16, byte 40). */
static char *volume_id(const char *iso)
{
    char pvd[2048];
    int fd = open(iso, O_RDONLY);
    ssize_t n = fd >= 0 ? pread(fd, pvd, sizeof(pvd), 16 * 2048) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof(pvd) || memcmp(pvd + 1, "CD001", 5) != 0)
        return xstrdup("(no volume descriptor)");
    size_t len = 32;
    while (len && pvd[40 + len - 1] == ' ')
        len--;
    return xstrndup(pvd + 40, len);
}

int main(void)
{
    tap_tmpdir();
    struct kiln_err err = KILN_ERR_INIT;

    put("ud", "#cloud-config\nruncmd: [echo hi]\n");
    put("md", "instance-id: i-1\nlocal-hostname: seeded\n");
    put("nc", "version: 2\nethernets: {eth0: {dhcp4: true}}\n");
    struct seed_files f = { .user_data = "ud", .meta_data = "md", .network_config = "nc" };
    is_int(seed_iso_write(&f, "seed.iso", &err), 0, "a seed with user data, meta data and a network config");
    _cleanup_free_ char *vid = volume_id("seed.iso");
    ok(strcasecmp(vid, "cidata") == 0, "its volume ID is cidata (got '%s')", vid);
    _cleanup_free_ char *got = entries("seed.iso");
    has_str(got, "user-data=#cloud-config\nruncmd: [echo hi]\n;", "user-data keeps its name and content");
    has_str(got, "meta-data=instance-id: i-1\nlocal-hostname: seeded\n;", "meta-data too");
    has_str(got, "network-config=version: 2\n", "network-config too");
    ok(!strstr(got, "vendor-data"), "no vendor-data when none is given");

    /* Without meta data: an instance ID from the user data. */
    struct seed_files g = { .user_data = "ud" };
    is_int(seed_iso_write(&g, "seed2.iso", &err), 0, "user data alone");
    _cleanup_free_ char *got2 = entries("seed2.iso");
    has_str(got2, "meta-data=instance-id: kiln-", "meta-data gets an instance ID");

    is_int(seed_iso_write(&g, "seed2.iso", &err), KILN_EEXIST, "an existing file is not replaced");

    /* From a directory. */
    ok(mkdir("dir", 0755) == 0, "a seed directory");
    put("dir/user-data", "#cloud-config\n{}\n");
    put("dir/meta-data", "instance-id: d\n");
    struct seed_files h = { 0 };
    char **owned = NULL;
    is_int(seed_from_dir("dir", &h, &owned, &err), 0, "a directory with user-data and meta-data");
    is_str(h.user_data, "dir/user-data", "its user-data");
    is_str(h.meta_data, "dir/meta-data", "its meta-data");
    ok(!h.network_config && !h.vendor_data, "nothing else");
    strv_free(owned);
    struct seed_files h2 = { .meta_data = "md" };
    is_int(seed_from_dir("dir", &h2, &owned, &err), 0, "a file given beside the directory");
    is_str(h2.meta_data, "md", "wins over the directory's");
    strv_free(owned);

    /* Refused. */
    ok(mkdir("empty", 0755) == 0, "an empty directory");
    struct seed_files e = { 0 };
    is_int(seed_from_dir("empty", &e, &owned, &err), KILN_EINVAL, "a directory without user-data");
    has_str(err.msg, "has no 'user-data'", "says what is missing: %s", err.msg);
    strv_free(owned);
    is_int(seed_from_dir("ud", &e, &owned, &err), KILN_EINVAL, "a file for a directory");
    struct seed_files m = { .user_data = "no-such-file" };
    is_int(seed_iso_write(&m, "bad.iso", &err), KILN_EINVAL, "missing user data is invalid input");
    has_str(err.msg, "seed user-data", "named: %s", err.msg);
    ok(!fs_exists("bad.iso"), "and leaves no ISO behind");
    int fd = open("big", O_WRONLY | O_CREAT, 0644);
    ok(fd >= 0 && ftruncate(fd, SEED_MAX_FILE + 1) == 0, "a file past the limit");
    if (fd >= 0)
        close(fd);
    struct seed_files big = { .user_data = "big" };
    is_int(seed_iso_write(&big, "big.iso", &err), KILN_EINVAL, "is refused");
    ok(!fs_exists("big.iso"), "and leaves no ISO behind");
    return tap_done();
}
