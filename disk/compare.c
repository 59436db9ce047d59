/* compare.c - which structures of two disks differ.
 *
 * Both disks are read as raw bytes (a qcow2 is converted to a raw file in
 * workdir first) and cut into regions by the first disk's partition table
 * as sfdisk reads it: the MBR's boot code, the MBR's table, the GPT header
 * and entries, the gap before the first partition (where GRUB's core image
 * lives), each partition, the backup GPT and unpartitioned space.  Every
 * region with a differing byte is reported with the offset of the first
 * one; the partition tables themselves are compared field by field, and a
 * differing ext4 partition by its superblock's fields (dumpe2fs -h). */
#include "disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/run.h"
#include "common/banned.h"

#define SECTOR 512u
#define CHUNK (1u << 20)
#define TOOL_OUT_MAX (1u << 20)
#define MAX_REGIONS 140

struct region {
    uint64_t start, end; /* bytes, [start, end) */
    char *name;
    int part;            /* the partition's number, or 0 */
    uint64_t first_diff; /* UINT64_MAX: identical */
};

/* raw bytes of path: the file itself, or a raw copy of a qcow2 in workdir. */
static int as_raw(const char *path, enum disk_format fmt, const char *workdir, const char *tag, char **out,
                  struct kiln_err *err)
{
    if (fmt == DISK_FORMAT_RAW) {
        *out = xstrdup(path);
        return 0;
    }
    char *raw = xasprintf("%s/compare-%s.raw", workdir, tag);
    char *argv[] = { "qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", (char *)path, raw, NULL };
    int r = run_argv(argv, NULL, NULL, err);
    if (r < 0) {
        free(raw);
        return kiln_err_prefix(err, "reading the %s disk", tag);
    }
    *out = raw;
    return 0;
}

/* sfdisk's view of the partition table ({"partitiontable": ...}), or NULL
 * when the disk has none. */
static json_t *read_table(const char *raw)
{
    struct buf out = BUF_INIT;
    buf_init(&out, TOOL_OUT_MAX);
    char *argv[] = { "sfdisk", "--json", (char *)raw, NULL };
    struct run_opts ro = { .out = &out };
    int st = 0;
    struct kiln_err e = KILN_ERR_INIT;
    json_t *t = NULL;
    if (run_argv(argv, &ro, &st, &e) == 0 && st == 0 && out.data) {
        /* sfdisk prints nothing but the document on success */
        json_t *doc = json_loads(out.data, 0, NULL);
        t = json_incref(json_object_get(doc, "partitiontable"));
        json_decref(doc);
    }
    buf_release(&out);
    return t;
}

static void add_region(struct region *v, size_t *n, uint64_t start, uint64_t end, int part, char *name)
{
    if (end <= start || *n == MAX_REGIONS) {
        free(name);
        return;
    }
    v[(*n)++] = (struct region){ start, end, name, part, UINT64_MAX };
}

static uint64_t jint(json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The regions of a disk of size bytes with partition table t (may be NULL). */
static size_t make_regions(json_t *t, uint64_t size, struct region *v)
{
    size_t n = 0;
    if (!t) {
        add_region(v, &n, 0, size, 0, xstrdup("the whole disk (no partition table)"));
        return n;
    }
    int gpt = strcmp(jstr(t, "label"), "gpt") == 0;
    add_region(v, &n, 0, 440, 0, xstrdup("boot code in the MBR"));
    add_region(v, &n, 440, SECTOR, 0, xstrdup(gpt ? "protective MBR" : "MBR partition table"));
    uint64_t at = SECTOR;
    if (gpt) {
        uint64_t first = jint(t, "firstlba") * SECTOR;
        add_region(v, &n, SECTOR, 2 * SECTOR, 0, xstrdup("GPT header"));
        add_region(v, &n, 2 * SECTOR, first, 0, xstrdup("GPT partition entries"));
        at = first > 2 * SECTOR ? first : 2 * SECTOR;
    }
    json_t *parts = json_object_get(t, "partitions");
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p) {
        uint64_t s = jint(p, "start") * SECTOR, e = s + jint(p, "size") * SECTOR;
        if (s < at || e > size)
            continue;
        add_region(v, &n, at, s, 0,
                   xstrdup(i == 0 ? "gap before the first partition (boot loader area)" : "gap between partitions"));
        const char *name = jstr(p, "name");
        add_region(v, &n, s, e, (int)i + 1,
                   *name ? xasprintf("partition %zu (%s)", i + 1, name) : xasprintf("partition %zu", i + 1));
        at = e;
    }
    if (gpt) {
        uint64_t last = (jint(t, "lastlba") + 1) * SECTOR;
        if (last > at && last <= size) {
            add_region(v, &n, at, last, 0, xstrdup("unpartitioned space"));
            at = last;
        }
        add_region(v, &n, at, size, 0, xstrdup("backup GPT"));
    } else {
        add_region(v, &n, at, size, 0, xstrdup("unpartitioned space"));
    }
    return n;
}

/* "label", "id" and each partition's fields that differ between two tables. */
static void compare_tables(json_t *a, json_t *b, json_t *out)
{
    if (!a || !b) {
        if (a || b)
            json_array_append_new(out, json_pack("{s:s,s:s}", "region", "partition table", "detail",
                                                 a ? "only the recorded disk has one" : "only the rebuilt disk has one"));
        return;
    }
    static const char *const keys[] = { "label", "id", "firstlba", "lastlba", NULL };
    for (const char *const *k = keys; *k; k++)
        if (!json_equal(json_object_get(a, *k), json_object_get(b, *k))) {
            _cleanup_free_ char *va = json_dumps(json_object_get(a, *k), JSON_ENCODE_ANY);
            _cleanup_free_ char *vb = json_dumps(json_object_get(b, *k), JSON_ENCODE_ANY);
            _cleanup_free_ char *d = xasprintf("%s: %s, rebuilt %s", *k, va ? va : "none", vb ? vb : "none");
            json_array_append_new(out, json_pack("{s:s,s:s}", "region", "partition table", "detail", d));
        }
    json_t *pa = json_object_get(a, "partitions"), *pb = json_object_get(b, "partitions");
    if (json_array_size(pa) != json_array_size(pb)) {
        _cleanup_free_ char *d = xasprintf("%zu partitions, rebuilt %zu", json_array_size(pa), json_array_size(pb));
        json_array_append_new(out, json_pack("{s:s,s:s}", "region", "partition table", "detail", d));
        return;
    }
    static const char *const pkeys[] = { "start", "size", "type", "uuid", "name", "bootable", NULL };
    for (size_t i = 0; i < json_array_size(pa); i++)
        for (const char *const *k = pkeys; *k; k++) {
            json_t *x = json_object_get(json_array_get(pa, i), *k), *y = json_object_get(json_array_get(pb, i), *k);
            if (json_equal(x, y) || (!x && !y))
                continue;
            _cleanup_free_ char *va = x ? json_dumps(x, JSON_ENCODE_ANY) : NULL;
            _cleanup_free_ char *vb = y ? json_dumps(y, JSON_ENCODE_ANY) : NULL;
            _cleanup_free_ char *d = xasprintf("partition %zu %s: %s, rebuilt %s", i + 1, *k, va ? va : "none",
                                               vb ? vb : "none");
            json_array_append_new(out, json_pack("{s:s,s:s}", "region", "partition table", "detail", d));
        }
}

/* dumpe2fs -h of the file system at offset, or NULL when there is none. */
static char *ext4_header(const char *raw, uint64_t offset)
{
    _cleanup_free_ char *dev = xasprintf("%s?offset=%" PRIu64, raw, offset);
    struct buf out = BUF_INIT;
    buf_init(&out, TOOL_OUT_MAX);
    char *argv[] = { "dumpe2fs", "-h", dev, NULL };
    struct run_opts ro = { .out = &out };
    int st = 0;
    struct kiln_err e = KILN_ERR_INIT;
    if (run_argv(argv, &ro, &st, &e) < 0 || st != 0 || !strstr(out.data ? out.data : "", "Filesystem magic number")) {
        buf_release(&out);
        return NULL;
    }
    return buf_detach(&out, NULL);
}

/* The value of "Field:" in a dumpe2fs header (from after the colon to the
 * end of the line), or NULL. */
static const char *field_at(const char *hdr, const char *field, size_t flen, size_t *vlen)
{
    for (const char *l = hdr; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, field, flen) == 0 && l[flen] == ':') {
            const char *v = l + flen + 1, *e = strchr(v, '\n');
            *vlen = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
    }
    return NULL;
}

/* The names of the superblock fields whose values differ, comma-separated. */
static char *ext4_fields_differ(const char *a, const char *b)
{
    struct buf names = BUF_INIT;
    struct kiln_err e = KILN_ERR_INIT;
    for (const char *l = a; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *colon = strchr(l, ':'), *nl = strchr(l, '\n');
        if (!colon || (nl && colon > nl) || *l == ' ')
            continue;
        size_t flen = (size_t)(colon - l), la = 0, lb = 0;
        const char *va = field_at(a, l, flen, &la), *vb = field_at(b, l, flen, &lb);
        if (va && (!vb || la != lb || memcmp(va, vb, la) != 0)) {
            if (names.len)
                buf_adds(&names, ", ", &e);
            buf_add(&names, l, flen, &e);
        }
    }
    return buf_detach(&names, NULL);
}

static int compare_bytes(int fa, int fb, uint64_t size, struct region *v, size_t n, const char *what,
                         struct kiln_err *err)
{
    _cleanup_free_ unsigned char *x = xmalloc(CHUNK);
    _cleanup_free_ unsigned char *y = xmalloc(CHUNK);
    size_t ri = 0;
    for (uint64_t off = 0; off < size; off += CHUNK) {
        size_t len = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        ssize_t ra = pread(fa, x, len, (off_t)off), rb = pread(fb, y, len, (off_t)off);
        if (ra != (ssize_t)len || rb != (ssize_t)len)
            return kiln_errno(err, KILN_EFAIL, errno, "cannot read the %s disks at byte %" PRIu64, what, off);
        if (memcmp(x, y, len) == 0)
            continue;
        for (size_t i = 0; i < len; i++) {
            if (x[i] == y[i])
                continue;
            uint64_t at = off + i;
            while (ri < n && v[ri].end <= at)
                ri++;
            if (ri == n)
                break;
            if (at < v[ri].start)
                continue;
            if (v[ri].first_diff == UINT64_MAX)
                v[ri].first_diff = at;
            /* the rest of this region is known to differ: skip it */
            if (v[ri].end - off <= len)
                i = (size_t)(v[ri].end - off) - 1;
            else
                break;
        }
    }
    return 0;
}

int disk_compare(const char *a, enum disk_format fmt_a, const char *b, enum disk_format fmt_b,
                 const char *workdir, json_t **out, struct kiln_err *err)
{
    *out = NULL;
    _cleanup_free_ char *ra = NULL;
    _cleanup_free_ char *rb = NULL;
    int r = as_raw(a, fmt_a, workdir, "recorded", &ra, err);
    if (r == 0)
        r = as_raw(b, fmt_b, workdir, "rebuilt", &rb, err);
    if (r < 0)
        goto done;
    json_t *res = json_array();
    struct stat sa, sb;
    if (stat(ra, &sa) < 0 || stat(rb, &sb) < 0) {
        json_decref(res);
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot read the disks to compare");
        goto done;
    }
    if (sa.st_size != sb.st_size) {
        _cleanup_free_ char *d = xasprintf("%lld bytes, rebuilt %lld", (long long)sa.st_size, (long long)sb.st_size);
        json_array_append_new(res, json_pack("{s:s,s:s}", "region", "disk size", "detail", d));
    }
    json_t *ta = read_table(ra), *tb = read_table(rb);
    compare_tables(ta, tb, res);
    struct region v[MAX_REGIONS];
    uint64_t size = (uint64_t)(sa.st_size < sb.st_size ? sa.st_size : sb.st_size);
    size_t n = make_regions(ta, size, v);
    int fa = open(ra, O_RDONLY | O_CLOEXEC), fb = open(rb, O_RDONLY | O_CLOEXEC);
    if (fa < 0 || fb < 0)
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot open the disks to compare");
    else
        r = compare_bytes(fa, fb, size, v, n, "compared", err);
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    for (size_t i = 0; i < n && r == 0; i++) {
        if (v[i].first_diff == UINT64_MAX)
            continue;
        uint64_t rel = v[i].first_diff - v[i].start;
        _cleanup_free_ char *detail = NULL;
        _cleanup_free_ char *ha = v[i].part ? ext4_header(ra, v[i].start) : NULL;
        _cleanup_free_ char *hb = v[i].part ? ext4_header(rb, v[i].start) : NULL;
        if (ha && hb) {
            _cleanup_free_ char *fields = ext4_fields_differ(ha, hb);
            if (fields && *fields)
                detail = xasprintf("ext4 superblock fields differ: %s", fields);
            else
                detail = xasprintf("ext4 file system: superblock the same, metadata or file data differ from "
                                   "byte %" PRIu64 " of the partition (block %" PRIu64 " of 4096 bytes)",
                                   rel, rel / 4096);
        } else {
            detail = xasprintf("first differing byte at %" PRIu64 " of the region (%" PRIu64 " of the disk)", rel,
                               v[i].first_diff);
        }
        json_array_append_new(res, json_pack("{s:s,s:s}", "region", v[i].name, "detail", detail));
    }
    if (r == 0 && json_array_size(res) == 0 && (fmt_a != DISK_FORMAT_RAW || fmt_b != DISK_FORMAT_RAW))
        json_array_append_new(res, json_pack("{s:s,s:s}", "region", "qcow2 container", "detail",
                                             "the disks hold the same bytes; their qcow2 encoding differs"));
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    json_decref(ta);
    json_decref(tb);
    if (r < 0)
        json_decref(res);
    else
        *out = res;
done:
    if (ra && fmt_a != DISK_FORMAT_RAW)
        unlink(ra);
    if (rb && fmt_b != DISK_FORMAT_RAW)
        unlink(rb);
    return r;
}
