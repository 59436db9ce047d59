/* test-disk.c - disk size planning, disk format detection, the debian cache key. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "builder/base.h"
#include "disk/disk.h"
#include "common/common.h"
#include "tests/unit/tap.h"

#define MIB (1ull << 20)

static void test_plan_size(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct recipe_output o;
    memset(&o, 0, sizeof(o));
    o.type = OUTPUT_QCOW2;
    uint64_t size = 0;
    is_int(disk_plan_size(&o, 100 * MIB, 0, &size, &err), 0, "default size plans");
    ok(size >= 130 * MIB + 256 * MIB, "the default is the content plus headroom (%llu MiB)",
       (unsigned long long)(size / MIB));
    is_int(size % MIB, 0, "sizes are whole MiB");
    uint64_t with_pkgs = 0;
    disk_plan_size(&o, 100 * MIB, 1, &with_pkgs, &err);
    ok(with_pkgs > size, "installing packages plans more room");

    o.size = 2048 * MIB;
    is_int(disk_plan_size(&o, 100 * MIB, 0, &size, &err), 0, "a declared size that fits");
    is_int(size, 2048 * MIB, "is used as written");

    o.size = 100 * MIB;
    is_int(disk_plan_size(&o, 700 * MIB, 0, &size, &err), KILN_EINVAL, "a declared size that is too small");
    has_str(err.msg, "too small for the content", "says it is too small");
    has_str(err.msg, "100 MiB", "names the declared size");

    o.size = 1ull << 50;
    is_int(disk_plan_size(&o, 1, 0, &size, &err), KILN_EINVAL, "an absurd size is refused");
}

static void write_file(const char *path, const void *data, size_t len, off_t total)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (write(fd, data, len) != (ssize_t)len)
        abort();
    if (total && ftruncate(fd, total) < 0)
        abort();
    close(fd);
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static void test_detect(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    enum disk_format f;
    unsigned char h[512];

    memset(h, 0, sizeof(h));
    write_file("raw.img", h, sizeof(h), 1 << 20);
    is_int(disk_detect_format("raw.img", &f, &err), 0, "a sector-aligned file is raw");
    is_int(f, DISK_FORMAT_RAW, "detected as raw");

    write_file("text.img", "hello\n", 6, 0);
    is_int(disk_detect_format("text.img", &f, &err), KILN_EINVAL, "a small text file is refused");
    has_str(err.msg, "is not a disk image", "says it is not a disk image");

    write_file("odd.img", h, sizeof(h), (1 << 20) + 3);
    is_int(disk_detect_format("odd.img", &f, &err), KILN_EINVAL, "a size that is not whole sectors is refused");

    memset(h, 0, sizeof(h));
    memcpy(h, "QFI\xfb", 4);
    h[7] = 3; /* version 3 */
    write_file("ok.qcow2", h, sizeof(h), 0);
    is_int(disk_detect_format("ok.qcow2", &f, &err), 0, "a qcow2 header is read");
    is_int(f, DISK_FORMAT_QCOW2, "detected as qcow2 by its magic");

    put_be64(h + 8, 0x200); /* backing_file_offset */
    h[19] = 8;              /* backing_file_size */
    write_file("backed.qcow2", h, sizeof(h), 0);
    is_int(disk_detect_format("backed.qcow2", &f, &err), KILN_EINVAL, "a qcow2 with a backing file is refused");
    has_str(err.msg, "backing file", "says why");

    memset(h + 8, 0, 12);
    put_be64(h + 72, 1u << 2);
    write_file("datafile.qcow2", h, sizeof(h), 0);
    is_int(disk_detect_format("datafile.qcow2", &f, &err), KILN_EINVAL, "a qcow2 with an external data file is refused");

    memset(h, 0, sizeof(h));
    memcpy(h, "KDMV", 4);
    write_file("x.vmdk", h, sizeof(h), 1 << 20);
    is_int(disk_detect_format("x.vmdk", &f, &err), KILN_EINVAL, "a vmdk is refused, not taken as raw");
    has_str(err.msg, "vmdk", "and named");

    is_int(disk_detect_format("missing.img", &f, &err), KILN_ENOTFOUND, "a missing file is not found");
}

static void test_debian_key(void)
{
    struct recipe_base a, b;
    memset(&a, 0, sizeof(a));
    a.suite = "bookworm";
    char *p1[] = { "grub-pc", "linux-image-amd64", NULL };
    char *p2[] = { "linux-image-amd64", "grub-pc", NULL };
    a.packages.v = p1;
    a.packages.n = 2;
    b = a;
    b.packages.v = p2;
    char ka[HASH_HEX_LEN + 1], kb[HASH_HEX_LEN + 1];
    base_debian_key(&a, NULL, 0, ka);
    base_debian_key(&b, NULL, 0, kb);
    is_str(ka, kb, "the cache key does not depend on the order of packages");
    b.variant = "minbase";
    base_debian_key(&b, NULL, 0, kb);
    is_str(ka, kb, "minbase is the default variant");
    b.suite = "trixie";
    base_debian_key(&b, NULL, 0, kb);
    ok(strcmp(ka, kb) != 0, "another suite is another key");
    b.suite = "bookworm";
    const char *s1[] = { "1111111111111111111111111111111111111111111111111111111111111111" };
    const char *s2[] = { "2222222222222222222222222222222222222222222222222222222222222222" };
    base_debian_key(&b, s1, 1, kb);
    ok(strcmp(ka, kb) != 0, "a mirror state is part of the key");
    base_debian_key(&b, s2, 1, ka);
    ok(strcmp(ka, kb) != 0, "another InRelease is another key");
    base_debian_key(&b, s1, 1, ka);
    is_str(ka, kb, "the same InRelease is the same key");
}

int main(void)
{
    tap_tmpdir();
    test_plan_size();
    test_detect();
    test_debian_key();
    return tap_done();
}
