/* test-export.c - resolving an image for export, its closure and referrers,
 * the flattened rootfs, and the guards around the output path. */
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "images/export.h"
#include "images/store.h"
#include "tests/unit/tap.h"

DEFINE_CLEANUP(struct store, store_close)
DEFINE_CLEANUP(struct export_source, export_source_free)

struct ent {
    const char *name;
    const char *content; /* NULL: a directory */
};

/* An uncompressed layer tar of ents, stored; its digest is also its diff_id. */
static void put_layer(struct store *st, const struct ent *ents, size_t n, char digest[DIGEST_STR_SIZE],
                      uint64_t *size)
{
    size_t used = 0;
    size_t cap = 1 << 16;
    char *mem = xmalloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_memory(a, mem, cap, &used);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].name);
        archive_entry_set_filetype(e, ents[i].content ? AE_IFREG : AE_IFDIR);
        archive_entry_set_perm(e, ents[i].content ? 0644 : 0755);
        archive_entry_set_size(e, ents[i].content ? (la_int64_t)strlen(ents[i].content) : 0);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_write_header(a, e);
        if (ents[i].content)
            archive_write_data(a, ents[i].content, strlen(ents[i].content));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    struct kiln_err err = KILN_ERR_INIT;
    if (store_blob_put(st, mem, used, digest, &err) < 0)
        diag("put layer: %s", err.msg);
    *size = used;
    free(mem);
}

static char *make_image(struct store *st)
{
    static const struct ent lower[] = {
        { "etc/", NULL }, { "etc/hello", "hello\n" }, { "etc/gone", "gone\n" }, { "bin/", NULL },
    };
    static const struct ent upper[] = {
        { "etc/", NULL }, { "etc/.wh.gone", "" }, { "etc/new", "new\n" },
    };
    char l1[DIGEST_STR_SIZE], l2[DIGEST_STR_SIZE], cfg[DIGEST_STR_SIZE], files[DIGEST_STR_SIZE];
    char man[DIGEST_STR_SIZE];
    uint64_t s1, s2;
    struct kiln_err err = KILN_ERR_INIT;
    put_layer(st, lower, ARRAY_SIZE(lower), l1, &s1);
    put_layer(st, upper, ARRAY_SIZE(upper), l2, &s2);
    _cleanup_free_ char *c = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\","
                                       "\"created\":\"2023-11-14T22:13:20Z\","
                                       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
                                       l1, l2);
    store_blob_put(st, c, strlen(c), cfg, &err);
    const char *f = "{\"files\":[{\"path\":\"/etc\",\"type\":\"dir\"}],\"version\":1}";
    store_blob_put(st, f, strlen(f), files, &err);
    _cleanup_free_ char *m = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
        "\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_TAR "\",\"digest\":\"%s\",\"size\":%llu},"
        "{\"mediaType\":\"" OCI_MT_LAYER_TAR "\",\"digest\":\"%s\",\"size\":%llu}],"
        "\"annotations\":{\"dev.kiln.files\":\"%s\"}}",
        cfg, strlen(c), l1, (unsigned long long)s1, l2, (unsigned long long)s2, files);
    store_blob_put(st, m, strlen(m), man, &err);
    struct store_image img = { 0 };
    img.name = "u";
    img.version = "1.0.0";
    img.digest = man;
    img.media_type = OCI_MT_MANIFEST;
    img.created = "2023-11-14T22:13:20Z";
    if (store_image_add(st, &img, 0, NULL, &err) < 0)
        diag("add: %s", err.msg);

    /* a signature-like referrer */
    char sig[DIGEST_STR_SIZE], sman[DIGEST_STR_SIZE];
    store_blob_put(st, "sig", 3, sig, &err);
    store_blob_put(st, "{}", 2, files, &err);
    _cleanup_free_ char *sm = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"artifactType\":\"application/x-sig\","
        "\"config\":{\"mediaType\":\"" OCI_MT_EMPTY "\",\"digest\":\"" OCI_EMPTY_DIGEST "\",\"size\":2},"
        "\"layers\":[{\"mediaType\":\"application/x-sig\",\"digest\":\"%s\",\"size\":3}],"
        "\"subject\":{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu}}",
        sig, man, strlen(m));
    store_blob_put(st, sm, strlen(sm), sman, &err);
    if (store_referrer_add(st, man, sman, OCI_MT_MANIFEST, "application/x-sig", 0, NULL, &err) < 0)
        diag("referrer: %s", err.msg);
    return xstrdup(man);
}

static void test_source(const char *store, const char *digest)
{
    struct kiln_err err = KILN_ERR_INIT;
    _cleanup_(export_source_freep) struct export_source *s = NULL;
    is_int(export_source_load(store, "u:1.0.0", &s, &err), 0, "an image loads for export");
    if (!s)
        return;
    is_str(s->ref_name, "u:1.0.0", "it is named NAME:VERSION");
    is_str(s->image_digest, digest, "a manifest is its own container image");
    ok(s->config != NULL, "its config is loaded");
    is_int(s->created, 1700000000, "its creation time comes from the config");
    is_int(json_array_size(s->referrers), 1, "its signature is a referrer");
    size_t n = 0;
    int sorted = 1, has_top = 0;
    for (char **d = s->closure; *d; d++, n++) {
        if (n && strcmp(d[-1], *d) >= 0)
            sorted = 0;
        if (strcmp(*d, digest) == 0)
            has_top = 1;
    }
    /* manifest, config, 2 layers, files, signature manifest, empty config, signature layer */
    is_int(n, 8, "the closure holds the image, its file manifest and the referrer's blobs");
    ok(sorted, "the closure is sorted and unique");
    ok(has_top, "the closure holds the manifest");
    json_t *files = NULL;
    is_int(export_source_files(s, &files, &err), 0, "the file manifest loads");
    json_decref(files);
    json_t *art = NULL;
    is_int(export_source_artifact(s, KILN_AT_QCOW2, &art, &err), KILN_ENOTFOUND,
           "an image without a disk has no disk artifact");
    has_str(err.msg, "has no " KILN_AT_QCOW2 " artifact", "and the error says so");

    _cleanup_(export_source_freep) struct export_source *missing = NULL;
    is_int(export_source_load(store, "u:2.0.0", &missing, &err), KILN_ENOTFOUND,
           "a missing version is not found");
}

static void test_flatten(const char *store)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct export_opts o = { .store = store, .ref = "u", .format = "tar", .output = "flat.tar" };
    struct export_result res = { 0 };
    is_int(export_run(&o, &res, &err), 0, "the rootfs exports as a tar");
    export_result_release(&res);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    struct buf names = BUF_INIT;
    if (archive_read_open_filename(a, "flat.tar", 4096) == ARCHIVE_OK) {
        struct archive_entry *e;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK)
            buf_addf(&names, NULL, "%s ", archive_entry_pathname(e));
    }
    archive_read_free(a);
    /* lower layer without etc/ (replaced by the upper one) and etc/gone (whited out) */
    is_str(names.data, "etc/hello bin/ etc/ etc/new ", "layers apply in order, whiteouts hide");
    buf_release(&names);
}

static void test_guards(const char *store)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct export_opts o = { .store = store, .ref = "u:1.0.0", .format = "zip", .output = "x" };
    is_int(export_run(&o, NULL, &err), KILN_EINVAL, "an unknown format is invalid");
    o.format = "oci";
    o.output = ".";
    o.force = 1;
    is_int(export_run(&o, NULL, &err), KILN_EINVAL, "'.' is never an output");
    o.output = store;
    is_int(export_run(&o, NULL, &err), KILN_EINVAL, "the store is never an output");
    o.force = 0;
    o.output = "flat.tar";
    is_int(export_run(&o, NULL, &err), KILN_EEXIST, "an existing output is refused");
    o.force = 1;
    is_int(export_run(&o, NULL, &err), 0, "--force replaces it");
    struct stat st;
    ok(stat("flat.tar/index.json", &st) == 0, "with the new export");
    ok(export_format_find("docker-archive") && !export_format_find("qcow3"),
       "formats are found by name");
}

int main(void)
{
    const char *dir = tap_tmpdir();
    _cleanup_free_ char *store = path_join(dir, "store");
    struct kiln_err err = KILN_ERR_INIT;
    _cleanup_free_ char *digest = NULL;
    {
        _cleanup_(store_closep) struct store *st = NULL;
        if (store_open(store, STORE_CREATE, &st, &err) < 0) {
            printf("Bail out! %s\n", err.msg);
            return 1;
        }
        digest = make_image(st);
    }
    test_source(store, digest);
    test_flatten(store);
    test_guards(store);
    return tap_done();
}
