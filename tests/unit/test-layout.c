/* test-layout.c - reading any OCI image layout: open, index.json, references,
 * platforms, referrers, file manifests, and hostile layouts refused. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "images/layout.h"
#include "images/ref.h"
#include "tests/unit/tap.h"

#define BAD_DIGEST "sha256:../../x"

static struct kiln_err err;

static void write_file(const char *path, const char *s)
{
    if (fs_write_atomic(path, s, strlen(s), 0644, &err) < 0)
        diag("write '%s': %s", path, err.msg);
}

/* Writes s as a blob of layout dir; out gets its digest. */
static void put_blob(const char *dir, const char *s, char out[DIGEST_STR_SIZE])
{
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(s, strlen(s), hex);
    snprintf(out, DIGEST_STR_SIZE, "sha256:%s", hex);
    _cleanup_free_ char *p = xasprintf("%s/blobs/sha256/%s", dir, hex);
    write_file(p, s);
}

static char *desc(const char *mt, const char *digest, size_t size, const char *extra)
{
    return xasprintf("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu%s}", mt, digest, size, extra);
}

static void new_layout(const char *dir)
{
    _cleanup_free_ char *b = xasprintf("%s/blobs/sha256", dir);
    fs_mkdir_p(b, 0755, NULL);
    _cleanup_free_ char *m = path_join(dir, "oci-layout");
    write_file(m, OCI_LAYOUT_JSON);
}

static void set_index(const char *dir, const char *manifests)
{
    _cleanup_free_ char *p = path_join(dir, "index.json");
    _cleanup_free_ char *s = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[%s]}",
                                       manifests);
    write_file(p, s);
}

static struct oci_layout *open_layout(const char *dir)
{
    struct oci_layout *l = NULL;
    if (oci_layout_open(dir, &l, &err) < 0)
        diag("oci_layout_open: %s", err.msg);
    return l;
}

/* The fixture: two platform images (amd64 with a file manifest, arm64), an
 * index of both, a signature (subject field) and a kiln referrer record of
 * the amd64 image. */
struct fixture {
    char cfg[DIGEST_STR_SIZE], layer[DIGEST_STR_SIZE], files[DIGEST_STR_SIZE];
    char amd64[DIGEST_STR_SIZE], arm64[DIGEST_STR_SIZE], index[DIGEST_STR_SIZE];
    char sig[DIGEST_STR_SIZE], att[DIGEST_STR_SIZE];
    size_t amd64_size, arm64_size, index_size, sig_size, att_size;
};

static char *image_manifest(const struct fixture *f, const char *tag, int with_files)
{
    _cleanup_free_ char *c = desc(OCI_MT_CONFIG, f->cfg, 2, "");
    _cleanup_free_ char *l = desc(OCI_MT_LAYER_TAR, f->layer, 5, "");
    _cleanup_free_ char *ann = with_files ? xasprintf("\"%s\":\"%s\",", KILN_ANN_FILES, f->files) : xstrdup("");
    return xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"config\":%s,\"layers\":[%s],"
                     "\"annotations\":{%s\"tag\":\"%s\"}}",
                     c, l, ann, tag);
}

static void build_fixture(const char *dir, struct fixture *f)
{
    new_layout(dir);
    put_blob(dir, "{}", f->cfg);
    put_blob(dir, "layer", f->layer);
    put_blob(dir, "{\"files\":[{\"path\":\"/etc/hostname\"}],\"version\":1}", f->files);
    _cleanup_free_ char *a = image_manifest(f, "amd64", 1);
    _cleanup_free_ char *b = image_manifest(f, "arm64", 0);
    put_blob(dir, a, f->amd64);
    put_blob(dir, b, f->arm64);
    f->amd64_size = strlen(a);
    f->arm64_size = strlen(b);
    _cleanup_free_ char *da = desc(OCI_MT_MANIFEST, f->amd64, f->amd64_size,
                                   ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}");
    _cleanup_free_ char *db = desc(OCI_MT_MANIFEST, f->arm64, f->arm64_size,
                                   ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}");
    /* arm64 first: the pick must look at the platform, not take the first. */
    _cleanup_free_ char *ix =
        xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[%s,%s]}", db, da);
    put_blob(dir, ix, f->index);
    f->index_size = strlen(ix);
    _cleanup_free_ char *subj = desc(OCI_MT_MANIFEST, f->amd64, f->amd64_size, "");
    _cleanup_free_ char *cfg = desc(OCI_MT_EMPTY, f->cfg, 2, "");
    _cleanup_free_ char *sig = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
                                         "\"artifactType\":\"application/vnd.test.sig\",\"config\":%s,\"layers\":[],"
                                         "\"subject\":%s}",
                                         cfg, subj);
    put_blob(dir, sig, f->sig);
    f->sig_size = strlen(sig);
    _cleanup_free_ char *att = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
                                         "\"config\":%s,\"layers\":[]}",
                                         cfg);
    put_blob(dir, att, f->att);
    f->att_size = strlen(att);

    _cleanup_free_ char *e_app = desc(OCI_MT_INDEX, f->index, f->index_size,
                                      ",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"app:1.0.0\","
                                      "\"" KILN_ANN_NAME "\":\"app\",\"" KILN_ANN_VERSION "\":\"1.0.0\"}");
    _cleanup_free_ char *e_tag = desc(OCI_MT_MANIFEST, f->arm64, f->arm64_size,
                                      ",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"2.0.0\"}");
    _cleanup_free_ char *e_sig = desc(OCI_MT_MANIFEST, f->sig, f->sig_size, "");
    _cleanup_free_ char *ann = xasprintf(",\"artifactType\":\"application/vnd.test.att\","
                                         "\"annotations\":{\"" KILN_ANN_SUBJECT "\":\"%s\"}",
                                         f->amd64);
    _cleanup_free_ char *e_att = desc(OCI_MT_MANIFEST, f->att, f->att_size, ann);
    _cleanup_free_ char *all = xasprintf("%s,%s,%s,%s", e_app, e_tag, e_sig, e_att);
    set_index(dir, all);
}

static void test_open(void)
{
    struct oci_layout *l = NULL;
    is_int(oci_layout_open("nosuch", &l, &err), KILN_ENOTFOUND, "a missing directory is not found");
    fs_mkdir_p("plain", 0755, NULL);
    is_int(oci_layout_open("plain", &l, &err), KILN_EINVAL, "a directory without oci-layout is refused");
    has_str(err.msg, "not an OCI image layout", "saying it is not a layout");
    new_layout("v2");
    write_file("v2/oci-layout", "{\"imageLayoutVersion\":\"2.0.0\"}");
    is_int(oci_layout_open("v2", &l, &err), KILN_EINVAL, "another layout version is refused");
    has_str(err.msg, "unsupported image layout version '2.0.0'", "naming the version");
    ok(l == NULL, "and nothing is returned");
}

static void test_resolve(const struct fixture *f)
{
    struct oci_layout *l = open_layout("lay");
    struct oci_index *ix = NULL;
    is_int(oci_layout_index(l, &ix, &err), 0, "index.json reads");
    is_int(ix ? ix->n_manifests : 0, 4, "with its four entries");
    const struct oci_desc *d = NULL;
    is_int(oci_index_resolve(ix, "app:1.0.0", &d, &err), 0, "NAME:VERSION resolves");
    is_str(d ? d->digest : NULL, f->index, "to the index it names");
    is_str(d ? d->media_type : NULL, OCI_MT_INDEX, "with its media type");

    _cleanup_free_ char *by_digest = xasprintf("app@%s", f->index);
    is_int(oci_index_resolve(ix, by_digest, &d, &err), 0, "NAME@DIGEST resolves");
    is_str(d ? d->digest : NULL, f->index, "to that digest");
    is_int(oci_index_resolve(ix, f->arm64, &d, &err), 0, "a bare digest resolves");
    is_str(d ? oci_desc_annotation(d, OCI_ANN_REF_NAME) : NULL, "2.0.0", "to the entry with it");
    _cleanup_free_ char *other = xasprintf("other@%s", f->index);
    is_int(oci_index_resolve(ix, other, &d, &err), KILN_ENOTFOUND, "NAME@DIGEST with another name is not found");

    is_int(oci_index_resolve(ix, "somename:2.0.0", &d, &err), 0, "NAME:TAG finds a tag-only entry");
    is_str(d ? d->digest : NULL, f->arm64, "the one tagged 2.0.0");
    is_int(oci_index_resolve(ix, "2.0.0", &d, &err), 0, "a tag alone resolves");

    is_int(oci_index_resolve(ix, "app:9.9.9", &d, &err), KILN_ENOTFOUND, "an unknown version is not found");
    has_str(err.msg, "no image named 'app:9.9.9'", "naming the reference");
    is_int(oci_index_resolve(ix, "app@" BAD_DIGEST, &d, &err), KILN_EINVAL, "a bad digest reference is refused");
    has_str(err.msg, "'sha256:../../x' is not a digest", "naming the digest");
    oci_index_free(ix);
    oci_layout_close(l);
}

static void test_platform(const struct fixture *f)
{
    struct oci_layout *l = open_layout("lay");
    struct oci_desc d;
    struct oci_manifest *m = NULL;
    is_int(oci_layout_resolve_image(l, "app:1.0.0", NULL, NULL, &d, &m, &err), 0,
           "an index resolves to an image manifest");
    is_str(d.digest, f->amd64, "linux/amd64 by default");
    ok(m && m->kind == OCI_KIND_MANIFEST && m->files_digest, "parsed, with its annotations");
    oci_desc_release(&d);
    oci_manifest_free(m);
    is_int(oci_layout_resolve_image(l, "app:1.0.0", "linux", "arm64", &d, NULL, &err), 0, "another platform");
    is_str(d.digest, f->arm64, "picks that platform's manifest");
    oci_desc_release(&d);
    is_int(oci_layout_resolve_image(l, "app:1.0.0", "linux", "s390x", &d, NULL, &err), KILN_ENOTFOUND,
           "a platform the index lacks is not found");
    has_str(err.msg, "no linux/s390x image manifest", "naming the platform");
    has_str(err.msg, "image 'app:1.0.0'", "and the image");
    ok(d.digest == NULL, "and nothing is returned");
    is_int(oci_layout_resolve_image(l, "2.0.0", NULL, NULL, &d, NULL, &err), 0, "a manifest resolves to itself");
    is_str(d.digest, f->arm64, "whatever its platform");
    oci_desc_release(&d);
    oci_layout_close(l);
}

static void test_referrers_and_files(const struct fixture *f)
{
    struct oci_layout *l = open_layout("lay");
    struct oci_index *ix = NULL;
    oci_layout_index(l, &ix, &err);
    struct oci_desc *v = NULL;
    size_t n = 0;
    is_int(oci_layout_referrers(l, ix, f->amd64, NULL, &v, &n, &err), 0, "referrers list");
    is_int(n, 2, "a subject-field manifest and a kiln referrer record");
    is_str(n > 0 ? v[0].digest : NULL, f->sig, "in index order: the signature first");
    is_str(n > 0 ? v[0].artifact_type : NULL, "application/vnd.test.sig", "with its manifest's artifactType");
    is_str(n > 1 ? v[1].digest : NULL, f->att, "then the record");
    oci_desc_list_free(v, n);
    is_int(oci_layout_referrers(l, ix, f->amd64, "application/vnd.test.att", &v, &n, &err), 0, "filtered");
    is_int(n, 1, "by artifact type");
    oci_desc_list_free(v, n);
    is_int(oci_layout_referrers(l, ix, f->arm64, NULL, &v, &n, &err), 0, "an image without referrers");
    is_int(n, 0, "has none");
    oci_desc_list_free(v, n);
    is_int(oci_layout_referrers(l, ix, BAD_DIGEST, NULL, &v, &n, &err), KILN_EINVAL, "a bad subject is refused");

    json_t *files = NULL;
    const struct oci_desc *app = NULL;
    oci_index_resolve(ix, "app:1.0.0", &app, &err);
    is_int(app ? oci_layout_image_files(l, app, &files, &err) : -1, 0, "an index's file manifest is found");
    is_int(json_array_size(json_object_get(files, "files")), 1, "on its linux/amd64 image");
    json_decref(files);
    const struct oci_desc *tag = NULL;
    oci_index_resolve(ix, "2.0.0", &tag, &err);
    json_t sentinel;
    files = &sentinel; /* must be reset */
    is_int(tag ? oci_layout_image_files(l, tag, &files, &err) : -1, 0, "an image without dev.kiln.files reads");
    ok(files == NULL, "and has no file manifest");
    oci_index_free(ix);
    oci_layout_close(l);
}

static void test_hostile(const struct fixture *f)
{
    struct oci_layout *l = open_layout("lay");
    struct oci_index *ix = NULL;
    struct oci_desc d;

    /* A bad digest string in index.json. */
    _cleanup_free_ char *bad = desc(OCI_MT_MANIFEST, BAD_DIGEST, 2,
                                    ",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"x\"}");
    set_index("lay", bad);
    is_int(oci_layout_index(l, &ix, &err), KILN_EINVAL, "an index.json digest 'sha256:../../x' is refused");
    has_str(err.msg, "digest 'sha256:../../x' is not sha256:<64 lowercase hex>", "naming the digest");
    _cleanup_free_ char *p = oci_layout_blob_path(l, BAD_DIGEST);
    ok(p == NULL, "and no blob path is ever built from it");

    /* index.json with both manifests and layers. */
    _cleanup_free_ char *ok_entry = desc(OCI_MT_MANIFEST, f->amd64, f->amd64_size,
                                         ",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"x\"}");
    _cleanup_free_ char *both = xasprintf("{\"schemaVersion\":2,\"manifests\":[%s],\"layers\":[]}", ok_entry);
    write_file("lay/index.json", both);
    is_int(oci_layout_index(l, &ix, &err), KILN_EINVAL, "an index.json that also has layers is refused");
    has_str(err.msg, "both 'manifests' and 'layers'", "saying it is both");

    /* A manifest blob that is both an index and a manifest. */
    _cleanup_free_ char *cfg = desc(OCI_MT_CONFIG, f->cfg, 2, "");
    _cleanup_free_ char *confused =
        xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"config\":%s,\"layers\":[],"
                  "\"manifests\":[%s]}",
                  cfg, ok_entry);
    char cd[DIGEST_STR_SIZE];
    put_blob("lay", confused, cd);
    _cleanup_free_ char *e = desc(OCI_MT_MANIFEST, cd, strlen(confused),
                                  ",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"x\"}");
    set_index("lay", e);
    is_int(oci_layout_resolve_image(l, "x", NULL, NULL, &d, NULL, &err), KILN_EINVAL,
           "a manifest that also has manifests is refused");
    has_str(err.msg, "both 'manifests' and 'layers'", "saying it is both");
    has_str(err.msg, cd, "naming the blob");

    /* A descriptor whose size is wrong. */
    _cleanup_free_ char *wrong = desc(OCI_MT_MANIFEST, f->amd64, f->amd64_size + 1,
                                      ",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"x\"}");
    set_index("lay", wrong);
    is_int(oci_layout_resolve_image(l, "x", NULL, NULL, &d, NULL, &err), KILN_EVERIFY, "a wrong size is refused");
    has_str(err.msg, "its descriptor says", "saying the sizes differ");

    /* A blob whose content is not its digest. */
    char cd2[DIGEST_STR_SIZE];
    put_blob("lay", "{\"schemaVersion\":2}", cd2);
    _cleanup_free_ char *cp = oci_layout_blob_path(l, cd2);
    write_file(cp, "{\"schemaVersion\":3}");
    _cleanup_free_ char *corrupt = desc(OCI_MT_MANIFEST, cd2, 19, ",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"x\"}");
    set_index("lay", corrupt);
    is_int(oci_layout_resolve_image(l, "x", NULL, NULL, &d, NULL, &err), KILN_EVERIFY, "a corrupt blob is refused");
    has_str(err.msg, "is corrupt", "saying so");

    /* A blob that is a symbolic link out of the layout. */
    unlink(cp);
    if (symlink("/etc/hostname", cp) == 0) {
        is_int(oci_layout_resolve_image(l, "x", NULL, NULL, &d, NULL, &err), KILN_EVERIFY,
               "a symlinked blob is refused");
        has_str(err.msg, "symbolic link", "saying so");
    }

    /* A manifest larger than 4 MiB (sparse: the size is refused before reading). */
    char big[DIGEST_STR_SIZE];
    put_blob("lay", "big", big);
    _cleanup_free_ char *bp = oci_layout_blob_path(l, big);
    ok(truncate(bp, (off_t)OCI_LAYOUT_DOC_LIMIT + 1) == 0, "a 4 MiB + 1 blob");
    _cleanup_free_ char *be = desc(OCI_MT_MANIFEST, big, (size_t)OCI_LAYOUT_DOC_LIMIT + 1,
                                   ",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"x\"}");
    set_index("lay", be);
    is_int(oci_layout_resolve_image(l, "x", NULL, NULL, &d, NULL, &err), KILN_EINVAL,
           "a manifest over 4 MiB is refused");
    has_str(err.msg, "larger than 4194304 bytes", "naming the limit");

    /* index.json over its limit. */
    ok(truncate("lay/index.json", (off_t)OCI_LAYOUT_INDEX_LIMIT + 1) == 0, "a 64 MiB + 1 index.json");
    is_int(oci_layout_index(l, &ix, &err), KILN_EINVAL, "an index.json over the limit is refused");
    has_str(err.msg, "index.json", "naming index.json");
    oci_layout_close(l);
}

/* A store lists every version, channel and referrer in index.json: more
 * entries than a manifest may have are fine there. */
static void test_big_index(const struct fixture *f)
{
    struct buf b;
    buf_init(&b, 0);
    size_t n = OCI_MAX_DESCS + 10;
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *ann = xasprintf(",\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"app:1.0.%zu\"}", i);
        _cleanup_free_ char *d = desc(OCI_MT_MANIFEST, f->amd64, f->amd64_size, ann);
        if (i)
            buf_add(&b, ",", 1, NULL);
        buf_add(&b, d, strlen(d), NULL);
    }
    buf_add(&b, "", 1, NULL);
    new_layout("big");
    set_index("big", b.data);
    buf_release(&b);
    struct oci_layout *l = open_layout("big");
    struct oci_index *ix = NULL;
    is_int(l ? oci_layout_index(l, &ix, &err) : -1, 0, "an index.json with %zu entries reads", n);
    is_int(ix ? ix->n_manifests : 0, n, "every entry");
    const struct oci_desc *d = NULL;
    _cleanup_free_ char *last = xasprintf("app:1.0.%zu", n - 1);
    is_int(ix ? oci_index_resolve(ix, last, &d, &err) : -1, 0, "and the last resolves");
    oci_index_free(ix);
    oci_layout_close(l);
}

int main(void)
{
    tap_tmpdir();
    test_open();
    struct fixture f;
    build_fixture("lay", &f);
    test_resolve(&f);
    test_platform(&f);
    test_referrers_and_files(&f);
    test_big_index(&f);
    test_hostile(&f);
    return tap_done();
}
