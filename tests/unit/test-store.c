/* test-store.c - the image store: layout, blobs, index.json, refs, channels,
 * auto versions, referrers, rm, gc, and concurrent writers. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "images/gc.h"
#include "images/store.h"
#include "tests/unit/tap.h"

#define BAD_HEX "0000000000000000000000000000000000000000000000000000000000000000"

static struct kiln_err err;

static struct store *open_store(const char *dir, int flags)
{
    struct store *st = NULL;
    if (store_open(dir, flags, &st, &err) < 0)
        diag("store_open: %s", err.msg);
    return st;
}

/* Stores a config, a layer and (optionally) a file manifest, then the image
 * manifest; returns its digest in out.  tag makes the content unique. */
static int make_image(struct store *st, const char *tag, int with_files, char out[DIGEST_STR_SIZE])
{
    char cfg[DIGEST_STR_SIZE], layer[DIGEST_STR_SIZE], files[DIGEST_STR_SIZE];
    _cleanup_free_ char *c = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"tag\":\"%s\"}", tag);
    _cleanup_free_ char *l = xasprintf("layer bytes of %s", tag);
    _cleanup_free_ char *f = xasprintf("{\"files\":[],\"tag\":\"%s\",\"version\":1}", tag);
    if (store_blob_put(st, c, strlen(c), cfg, &err) < 0 || store_blob_put(st, l, strlen(l), layer, &err) < 0 ||
        store_blob_put(st, f, strlen(f), files, &err) < 0)
        return -1;
    _cleanup_free_ char *ann = with_files ? xasprintf(",\"annotations\":{\"dev.kiln.files\":\"%s\"}", files)
                                          : xstrdup("");
    _cleanup_free_ char *m = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
        "\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu}]%s}",
        cfg, strlen(c), layer, strlen(l), ann);
    return store_blob_put(st, m, strlen(m), out, &err);
}

/* A signature-like artifact manifest whose subject is `subject`. */
static int make_referrer(struct store *st, const char *subject, char out[DIGEST_STR_SIZE])
{
    char sig[DIGEST_STR_SIZE], empty[DIGEST_STR_SIZE];
    if (store_blob_put(st, "signature", 9, sig, &err) < 0 || store_blob_put(st, "{}", 2, empty, &err) < 0)
        return -1;
    uint64_t size = 0;
    _cleanup_free_ char *sp = store_blob_path(st, subject);
    struct stat sb;
    if (!sp || stat(sp, &sb) < 0)
        return -1;
    struct store_blob_writer *w;
    _cleanup_free_ char *m = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"artifactType\":\"application/x.test.sig\","
        "\"config\":{\"mediaType\":\"" OCI_MT_EMPTY "\",\"digest\":\"%s\",\"size\":2},"
        "\"layers\":[{\"mediaType\":\"application/x.test.sig\",\"digest\":\"%s\",\"size\":9}],"
        "\"subject\":{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"%s\",\"size\":%lld}}",
        empty, sig, subject, (long long)sb.st_size);
    if (store_blob_begin(st, &w, &err) < 0 || store_blob_write(w, m, strlen(m), &err) < 0)
        return -1;
    return store_blob_commit(w, NULL, out, &size, &err);
}

static int add(struct store *st, const char *name, const char *version, const char *digest, int flags)
{
    struct store_image img = { .name = (char *)name, .version = (char *)version, .digest = (char *)digest };
    return store_image_add(st, &img, flags, NULL, &err);
}

static char *slurp(const char *path)
{
    struct buf b;
    buf_init(&b, 0);
    fs_read_file(path, 1 << 20, &b, NULL);
    return buf_detach(&b, NULL);
}

static void test_open(void)
{
    struct store *st = NULL;
    is_int(store_open("nostore", 0, &st, &err), KILN_ENOTFOUND, "opening a missing store without create fails");
    ok(!fs_exists("nostore"), "and creates nothing");
    st = open_store("s", STORE_CREATE);
    ok(st != NULL, "STORE_CREATE makes a store");
    _cleanup_free_ char *layout = slurp("s/oci-layout");
    is_str(layout, "{\"imageLayoutVersion\":\"1.0.0\"}", "oci-layout says 1.0.0");
    _cleanup_free_ char *index = slurp("s/index.json");
    has_str(index, "\"manifests\":[]", "index.json starts empty");
    has_str(index, "\"schemaVersion\":2", "index.json is schema version 2");
    struct stat sb;
    ok(stat("s/blobs/sha256", &sb) == 0 && S_ISDIR(sb.st_mode), "blobs/sha256 exists");
    is_str(store_dir(st), "s", "store_dir is the directory given");
    store_close(st);
    st = open_store("s", 0);
    ok(st != NULL, "a store opens read-only");
    struct store_blob_writer *w = NULL;
    is_int(store_blob_begin(st, &w, &err), KILN_EINVAL, "a read-only handle refuses writes");
    has_str(err.msg, "read-only", "and says so");
    store_close(st);

    fs_mkdir_p("notastore/stuff", 0755, NULL);
    is_int(store_open("notastore", STORE_CREATE, &st, &err), KILN_EINVAL,
           "a non-empty directory that is not a layout is refused");
    has_str(err.msg, "not an OCI image layout", "with a clear error");
    ok(!fs_exists("notastore/oci-layout"), "and nothing is written into it");
    is_int(store_open("notastore", 0, &st, &err), KILN_EINVAL, "also when opened read-only");
    fs_write_atomic("afile", "x", 1, 0644, NULL);
    is_int(store_open("afile", STORE_CREATE, &st, &err), KILN_EINVAL, "a file is not a store");
    fs_mkdir_p("empty", 0755, NULL);
    st = open_store("empty", STORE_CREATE);
    ok(st != NULL, "an empty directory becomes a store");
    store_close(st);
    fs_mkdir_p("half/.kiln/tmp", 0755, NULL);
    fs_mkdir_p("half/blobs/sha256", 0755, NULL);
    is_int(store_open("half", 0, &st, &err), KILN_ENOTFOUND,
           "a store whose creation was interrupted does not exist for readers");
    st = open_store("half", STORE_CREATE);
    ok(st != NULL && fs_exists("half/oci-layout") && fs_exists("half/index.json"), "and creating it finishes it");
    store_close(st);
    fs_mkdir_p("badlayout", 0755, NULL);
    fs_write_atomic("badlayout/oci-layout", "{\"imageLayoutVersion\":\"2.0.0\"}", 30, 0644, NULL);
    fs_write_atomic("badlayout/index.json", "{}", 2, 0644, NULL);
    is_int(store_open("badlayout", 0, &st, &err), KILN_EINVAL, "an unknown layout version is refused");
    has_str(err.msg, "2.0.0", "naming the version");
}

static void test_blobs(void)
{
    struct store *st = open_store("b", STORE_CREATE);
    char d[DIGEST_STR_SIZE], d2[DIGEST_STR_SIZE];
    is_int(store_blob_put(st, "abc", 3, d, &err), 0, "store_blob_put stores a blob");
    is_str(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "named by its sha256");
    ok(store_blob_exists(st, d), "the blob exists");
    is_int(store_blob_put(st, "abc", 3, d2, &err), 0, "storing the same content again succeeds");
    _cleanup_free_ char *p = store_blob_path(st, d);
    is_str(p, "b/blobs/sha256/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "store_blob_path");
    struct stat sb;
    ok(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644, "blobs are mode 0644");
    ok(store_blob_path(st, "sha256:../../../etc/passwd") == NULL, "no path from a traversal digest");
    ok(store_blob_path(st, "sha256:" BAD_HEX "/..") == NULL, "nor from a digest with a suffix");
    ok(!store_blob_exists(st, "../index.json"), "exists refuses a non-digest");

    struct buf b;
    buf_init(&b, 0);
    is_int(store_blob_read(st, d, 0, &b, &err), 0, "store_blob_read reads and verifies");
    is_str(b.data, "abc", "the content");
    buf_reset(&b);
    is_int(store_blob_read(st, d, 2, &b, &err), KILN_EINVAL, "the read limit is enforced");
    is_int(store_blob_read(st, "sha256:" BAD_HEX, 0, &b, &err), KILN_ENOTFOUND, "a missing blob is not-found");
    is_int(store_blob_read(st, "sha256:../x", 0, &b, &err), KILN_EINVAL, "a malformed digest is invalid input");
    is_int(store_blob_verify(st, d, 3, &err), 0, "store_blob_verify passes an intact blob");
    is_int(store_blob_verify(st, d, 4, &err), KILN_EVERIFY, "and fails on a size mismatch");

    /* Corrupt the blob on disk. */
    chmod(p, 0644);
    int fd = open(p, O_WRONLY | O_TRUNC);
    ok(fd >= 0 && write(fd, "abd", 3) == 3, "corrupted a blob");
    close(fd);
    is_int(store_blob_verify(st, d, -1, &err), KILN_EVERIFY, "verify finds the corruption");
    has_str(err.msg, d, "and names the blob");
    is_int(store_blob_read(st, d, 0, &b, &err), KILN_EVERIFY, "read finds it too");
    is_int((long long)b.len, 0, "and returns no data");
    buf_release(&b);
    /* Putting the right content again repairs it only if sizes differ; same size stays: remove it. */
    unlink(p);

    struct store_blob_writer *w;
    is_int(store_blob_begin(st, &w, &err), 0, "a writer begins");
    const char *tmp = store_blob_tmp_path(w);
    has_str(tmp, "b/.kiln/tmp/", "its temp file is inside the store");
    store_blob_write(w, "hello", 5, &err);
    _cleanup_free_ char *tmpcopy = xstrdup(tmp);
    is_int(store_blob_commit(w, "sha256:" BAD_HEX, d, NULL, &err), KILN_EVERIFY,
           "commit with a wrong expected digest fails");
    has_str(err.msg, "sha256:" BAD_HEX, "naming the expected digest");
    ok(!fs_exists(tmpcopy), "and removes the temp file");
    ok(!store_blob_exists(st, "sha256:" BAD_HEX), "and stores nothing");
    is_int(store_blob_begin(st, &w, &err), 0, "another writer begins");
    store_blob_write(w, "hello", 5, &err);
    is_int(store_blob_commit(w, "sha256:x", d, NULL, &err), KILN_EINVAL, "a malformed expected digest is refused");

    /* A writer that hands its fd to someone else. */
    is_int(store_blob_begin(st, &w, &err), 0, "a third writer begins");
    int wfd = store_blob_fd(w);
    ok(write(wfd, "abc", 3) == 3, "writes through the fd");
    uint64_t size = 0;
    is_int(store_blob_commit(w, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", d, &size,
                             &err),
           0, "commit re-hashes what was written through the fd");
    is_int((long long)size, 3, "and reports the size");
    ok(store_blob_exists(st, d), "the blob is back");

    /* A download checks the digest of what came (one pass of the hash) before it keeps it. */
    is_int(store_blob_begin(st, &w, &err), 0, "a writer for a download begins");
    store_blob_write(w, "ab", 2, &err);
    store_blob_write(w, "c", 1, &err);
    char sum[DIGEST_STR_SIZE];
    size = 0;
    store_blob_sum(w, sum, &size);
    is_str(sum, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "store_blob_sum gives the digest of what was written");
    is_int((long long)size, 3, "and its size");
    store_blob_sum(w, sum, NULL);
    is_str(sum, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "asked again, the same");
    is_int(store_blob_write(w, "d", 1, &err), KILN_EINVAL, "nothing can be written after it");
    is_int(store_blob_commit(w, sum, d, &size, &err), 0, "commit takes that digest");
    is_str(d, sum, "and stores the blob under it");
    is_int(store_blob_verify(st, d, 3, &err), 0, "whose content is what was written");

    is_int(store_blob_begin(st, &w, &err), 0, "a writer to abort");
    _cleanup_free_ char *t2 = xstrdup(store_blob_tmp_path(w));
    store_blob_abort(w);
    ok(!fs_exists(t2), "abort removes the temp file");

    fs_write_atomic("in.bin", "file content", 12, 0644, NULL);
    is_int(store_blob_put_file(st, "in.bin", d, &size, &err), 0, "store_blob_put_file copies a file in");
    is_int((long long)size, 12, "with its size");
    is_int(store_blob_verify(st, d, 12, &err), 0, "and the blob verifies");
    is_int(store_blob_put_file(st, "missing.bin", d, &size, &err), KILN_ENOTFOUND, "a missing file is not-found");
    store_close(st);
}

static void test_images(void)
{
    struct store *st = open_store("i", STORE_CREATE);
    char a[DIGEST_STR_SIZE], b[DIGEST_STR_SIZE];
    ok(make_image(st, "a", 1, a) == 0 && make_image(st, "b", 0, b) == 0, "made two images");

    is_int(add(st, "Web", "1.0.0", a, 0), KILN_EINVAL, "an invalid name is refused");
    is_int(add(st, "web", "1.0", a, 0), KILN_EINVAL, "an invalid version is refused");
    is_int(add(st, "web", "1.0.0", "sha256:" BAD_HEX, 0), KILN_ENOTFOUND, "an image whose manifest is missing");
    has_str(err.msg, "web:1.0.0", "the error names the image");
    is_int(add(st, "web", "1.0.0", "sha256:../../x", 0), KILN_EINVAL, "a malformed digest is refused");
    is_int(add(st, "web", "1.0.0", a, 0), 0, "web:1.0.0 is added");
    _cleanup_free_ char *index = slurp("i/index.json");
    has_str(index, "\"org.opencontainers.image.ref.name\":\"web:1.0.0\"", "index.json has the ref name");
    has_str(index, "\"dev.kiln.name\":\"web\"", "and dev.kiln.name");
    has_str(index, "\"dev.kiln.version\":\"1.0.0\"", "and dev.kiln.version");
    has_str(index, "\"org.opencontainers.image.created\":\"", "and the creation time");
    is_int(add(st, "web", "1.0.0", a, 0), 0, "adding the same image again is a no-op");
    is_int(add(st, "web", "1.0.0", b, 0), KILN_EEXIST, "a stored version is immutable");
    has_str(err.msg, "image 'web:1.0.0' exists with digest", "the error names the image");
    has_str(err.msg, "--force", "and the way out");
    is_int(add(st, "web", "1.0.0", b, STORE_ADD_FORCE), 0, "--force replaces it");
    struct store_image *img = NULL;
    is_int(store_resolve(st, "web:1.0.0", &img, &err), 0, "web:1.0.0 resolves");
    is_str(img ? img->digest : NULL, b, "to the replacement");
    store_image_free(img);
    is_int(add(st, "web", "1.0.0", a, STORE_ADD_FORCE), 0, "and back");

    /* A manifest whose layer is missing is refused. */
    char cfg[DIGEST_STR_SIZE], m[DIGEST_STR_SIZE];
    store_blob_put(st, "{}", 2, cfg, &err);
    _cleanup_free_ char *doc = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"%s\",\"size\":2},"
        "\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_GZIP "\",\"digest\":\"sha256:" BAD_HEX "\",\"size\":9}]}", cfg);
    store_blob_put(st, doc, strlen(doc), m, &err);
    is_int(add(st, "web", "9.0.0", m, 0), KILN_ENOTFOUND, "an image whose layer is missing is refused");
    has_str(err.msg, "sha256:" BAD_HEX, "naming the missing blob");

    struct store_image full = { .name = "web", .version = "1.1.0", .digest = b, .recipe_digest = BAD_HEX,
                                .channel = "beta", .created = "2026-01-02T03:04:05Z" };
    full.annotations = json_pack("{s:s}", "org.example.extra", "yes");
    char *stored = NULL;
    is_int(store_image_add(st, &full, 0, &stored, &err), 0, "an image with recipe digest, channel and annotations");
    is_str(stored, "1.1.0", "version_out gives the version");
    free(stored);
    json_decref(full.annotations);
    is_int(add(st, "web", "1.2.0-rc.1", a, 0), 0, "a prerelease is added");
    is_int(add(st, "api", "0.1.0", a, 0), 0, "another name is added");

    is_int(store_resolve(st, "web", &img, &err), 0, "NAME resolves");
    is_str(img ? img->version : NULL, "1.2.0-rc.1", "to the highest semver version");
    store_image_free(img);
    is_int(store_resolve(st, "web:beta", &img, &err), 0, "NAME:CHANNEL resolves");
    is_str(img ? img->version : NULL, "1.1.0", "to the version the channel points at");
    is_str(img ? img->recipe_digest : NULL, "sha256:" BAD_HEX, "bare hex recipe digests are normalised");
    is_str(img ? img->created : NULL, "2026-01-02T03:04:05Z", "created is kept");
    is_str(img ? json_string_value(json_object_get(img->annotations, "org.example.extra")) : NULL, "yes",
           "extra annotations are kept");
    ok(img && img->channels && img->channels[0] && !strcmp(img->channels[0], "beta") && !img->channels[1],
       "the image lists its channel");
    store_image_free(img);
    _cleanup_free_ char *ref = xasprintf("web@%s", a);
    is_int(store_resolve(st, ref, &img, &err), 0, "NAME@DIGEST resolves");
    is_str(img ? img->version : NULL, "1.2.0-rc.1", "to the highest version with that digest");
    store_image_free(img);
    is_int(store_resolve(st, "web:3.0.0", &img, &err), KILN_ENOTFOUND, "a missing version is not-found");
    has_str(err.msg, "image 'web:3.0.0' not found", "with a clear message");
    ok(img == NULL, "and no image");
    is_int(store_resolve(st, "nope", &img, &err), KILN_ENOTFOUND, "a missing name is not-found");
    is_int(store_resolve(st, "web:stable", &img, &err), KILN_ENOTFOUND, "a missing channel is not-found");
    is_int(store_resolve(st, "web:1.0", &img, &err), KILN_EINVAL, "a malformed ref is invalid");

    struct store_image **v = NULL;
    size_t n = 0;
    is_int(store_list(st, NULL, &v, &n, &err), 0, "store_list");
    is_int((long long)n, 4, "lists four images (channels are not images)");
    if (n == 4) {
        is_str(v[0]->name, "api", "sorted by name");
        is_str(v[1]->version, "1.0.0", "then by semver");
        is_str(v[2]->version, "1.1.0", "1.1.0 next");
        is_str(v[3]->version, "1.2.0-rc.1", "the prerelease of 1.2.0 last");
    }
    store_image_list_free(v, n);
    is_int(store_list(st, "web", &v, &n, &err), 0, "store_list by name");
    is_int((long long)n, 3, "lists that name only");
    store_image_list_free(v, n);

    /* Channels: promote and roll back. */
    is_int(store_channel_set(st, "web", "stable", "1.0.0", &err), 0, "promote web:1.0.0 to stable");
    is_int(store_channel_set(st, "web", "stable", "1.1.0", &err), 0, "promote web:1.1.0 to stable");
    is_int(store_resolve(st, "web:stable", &img, &err), 0, "stable resolves");
    is_str(img ? img->version : NULL, "1.1.0", "to the newer version");
    store_image_free(img);
    is_int(store_channel_set(st, "web", "stable", "1.0.0", &err), 0, "roll back stable");
    is_int(store_resolve(st, "web:stable", &img, &err), 0, "stable resolves");
    is_str(img ? img->version : NULL, "1.0.0", "to the old version again");
    is_str(img ? img->digest : NULL, a, "with its digest");
    store_image_free(img);
    _cleanup_free_ char *idx2 = slurp("i/index.json");
    const char *first = strstr(idx2, "\"web:stable\"");
    ok(first && !strstr(first + 1, "\"web:stable\""), "one entry per channel");
    is_int(store_channel_set(st, "web", "stable", "7.0.0", &err), KILN_ENOTFOUND, "promoting a missing version fails");
    is_int(store_channel_set(st, "web", "1.0.0", "1.0.0", &err), KILN_EINVAL, "a version is not a channel name");
    is_int(store_channel_set(st, "nope", "stable", "1.0.0", &err), KILN_ENOTFOUND, "nor is a missing name");
    store_close(st);
}

static void test_auto_versions(void)
{
    struct store *st = open_store("av", STORE_CREATE);
    char a[DIGEST_STR_SIZE], b[DIGEST_STR_SIZE];
    ok(make_image(st, "a", 0, a) == 0 && make_image(st, "b", 0, b) == 0, "made two images");
    time_t day = 1795435200; /* 2026-11-23T08:00:00Z */
    char *v = NULL;
    is_int(store_next_auto_version(st, "web", "1.2.0", day, &v, &err), 0, "next auto version");
    is_str(v, "1.2.0-nightly.20261123.1", "is .1 on an empty day");
    free(v);
    struct store_image img = { .name = "web", .version = "1.2.0", .digest = a, .now = day };
    is_int(store_image_add(st, &img, STORE_ADD_AUTO_VERSION, &v, &err), 0, "an auto version is allocated");
    is_str(v, "1.2.0-nightly.20261123.1", "the first of the day");
    free(v);
    img.digest = b;
    is_int(store_image_add(st, &img, STORE_ADD_AUTO_VERSION, &v, &err), 0, "another build the same day");
    is_str(v, "1.2.0-nightly.20261123.2", "gets .2");
    free(v);
    img.now = day + 86400;
    is_int(store_image_add(st, &img, STORE_ADD_AUTO_VERSION, &v, &err), 0, "the next day");
    is_str(v, "1.2.0-nightly.20261124.1", "starts at .1 again");
    free(v);
    struct store_image *r = NULL;
    is_int(store_resolve(st, "web", &r, &err), 0, "the latest");
    is_str(r ? r->version : NULL, "1.2.0-nightly.20261124.1", "is the newest nightly");
    store_image_free(r);
    img.version = "1.2.0-rc.1";
    is_int(store_image_add(st, &img, STORE_ADD_AUTO_VERSION, &v, &err), KILN_EINVAL,
           "an auto version base with a prerelease is refused");
    store_close(st);
}

static void test_referrers_rm(void)
{
    struct store *st = open_store("r", STORE_CREATE);
    char a[DIGEST_STR_SIZE], b[DIGEST_STR_SIZE], sig[DIGEST_STR_SIZE], other[DIGEST_STR_SIZE];
    ok(make_image(st, "a", 1, a) == 0 && make_image(st, "b", 0, b) == 0, "made two images");
    add(st, "web", "1.0.0", a, 0);
    add(st, "web", "2.0.0", b, 0);
    ok(make_referrer(st, a, sig) == 0, "made a signature manifest");
    json_t *ann = json_pack("{s:s}", "org.example.key", "k1");
    is_int(store_referrer_add(st, a, sig, NULL, NULL, 0, ann, &err), 0, "store_referrer_add");
    is_int(store_referrer_add(st, a, sig, NULL, NULL, 0, ann, &err), 0, "adding it again is a no-op");
    is_int(store_referrer_add(st, b, sig, NULL, NULL, 0, ann, &err), KILN_EINVAL,
           "a referrer whose subject is another image is refused");
    is_int(store_referrer_add(st, "sha256:" BAD_HEX, sig, NULL, NULL, 0, ann, &err), KILN_EINVAL,
           "so is one for an image not listed");
    json_decref(ann);
    struct oci_desc *refs = NULL;
    size_t n = 0;
    is_int(store_referrers(st, a, NULL, &refs, &n, &err), 0, "store_referrers");
    is_int((long long)n, 1, "lists one referrer");
    if (n == 1) {
        is_str(refs[0].digest, sig, "the signature");
        is_str(refs[0].artifact_type, "application/x.test.sig", "its artifact type comes from the manifest");
        is_str(oci_desc_annotation(&refs[0], "org.example.key"), "k1", "with its annotations");
    }
    oci_desc_list_free(refs, n);
    is_int(store_referrers(st, a, "application/other", &refs, &n, &err), 0, "filtered by artifact type");
    is_int((long long)n, 0, "none of another type");
    oci_desc_list_free(refs, n);
    _cleanup_free_ char *index = slurp("r/index.json");
    has_str(index, "\"dev.kiln.subject\":\"", "index.json marks the referrer's subject");

    struct store *ro = open_store("r", 0);
    is_int(store_rm(ro, "web:1.0.0", 0, &err), KILN_EINVAL, "rm needs a writable handle");
    store_close(ro);
    store_channel_set(st, "web", "stable", "1.0.0", &err);
    is_int(store_rm(st, "web", 0, &err), KILN_EINVAL, "rm of a bare name is refused");
    is_int(store_rm(st, "web:1.0.0", 0, &err), KILN_EFAIL, "rm refuses a version a channel points at");
    has_str(err.msg, "channel 'stable'", "naming the channel");
    is_int(store_rm(st, "web:3.0.0", 0, &err), KILN_ENOTFOUND, "rm of a missing version is not-found");
    is_int(store_rm(st, "web:stable", 0, &err), 0, "rm of a channel removes the pointer");
    struct store_image *img = NULL;
    is_int(store_resolve(st, "web:1.0.0", &img, &err), 0, "and keeps the version");
    store_image_free(img);
    store_channel_set(st, "web", "stable", "1.0.0", &err);
    is_int(store_rm(st, "web:1.0.0", STORE_RM_FORCE, &err), 0, "rm --force removes the version");
    is_int(store_resolve(st, "web:stable", &img, &err), KILN_ENOTFOUND, "and its channel");
    is_int(store_referrers(st, a, NULL, &refs, &n, &err), 0, "referrers of the removed image");
    is_int((long long)n, 0, "are gone too");
    oci_desc_list_free(refs, n);
    ok(store_blob_exists(st, a), "blobs stay until gc");
    _cleanup_free_ char *ref = xasprintf("web@%s", b);
    is_int(store_rm(st, ref, 0, &err), 0, "rm by digest");
    struct store_image **v;
    is_int(store_list(st, NULL, &v, &n, &err), 0, "list");
    is_int((long long)n, 0, "the store is empty");
    store_image_list_free(v, n);
    (void)other;
    store_close(st);
}

static int count_blobs(const char *dir)
{
    _cleanup_free_ char *p = path_join(dir, "blobs/sha256");
    int n = 0;
    DIR *d = opendir(p);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_gc(void)
{
    struct store *st = open_store("g", STORE_CREATE);
    char a[DIGEST_STR_SIZE], b[DIGEST_STR_SIZE], sig[DIGEST_STR_SIZE], junk[DIGEST_STR_SIZE];
    ok(make_image(st, "a", 1, a) == 0 && make_image(st, "b", 1, b) == 0, "made two images");
    add(st, "web", "1.0.0", a, 0);
    add(st, "web", "2.0.0", b, 0);
    ok(make_referrer(st, a, sig) == 0, "made a signature");
    store_referrer_add(st, a, sig, NULL, NULL, 0, NULL, &err);
    store_blob_put(st, "junk", 4, junk, &err);
    fs_write_atomic("g/.kiln/tmp/blob-stale1", "half", 4, 0644, NULL);
    int before = count_blobs("g");
    struct store_gc_report rep;
    is_int(store_gc(st, &rep, &err), 0, "gc runs");
    is_int((long long)rep.blobs_removed, 1, "gc removes the one unreferenced blob");
    is_int((long long)rep.bytes_removed, 4, "and counts its bytes");
    is_int((long long)rep.tmp_removed, 1, "and removes the stale temp file");
    is_int(count_blobs("g"), before - 1, "every other blob is kept");
    ok(!store_blob_exists(st, junk), "the junk is gone");
    ok(!fs_exists("g/.kiln/tmp/blob-stale1"), "the temp file is gone");

    struct store_image *img = NULL;
    store_resolve(st, "web:1.0.0", &img, &err);
    struct oci_manifest *m = NULL;
    is_int(store_manifest_read(st, a, -1, &m, &err), 0, "the kept manifest reads");
    ok(m && store_blob_exists(st, m->files_digest), "the dev.kiln.files blob was kept");
    ok(m && store_blob_exists(st, m->config.digest) && store_blob_exists(st, m->descs[0].digest),
       "config and layer were kept");
    oci_manifest_free(m);
    store_image_free(img);
    ok(store_blob_exists(st, sig), "the signature was kept");

    store_rm(st, "web:1.0.0", 0, &err);
    is_int(store_gc(st, &rep, &err), 0, "gc after rm");
    ok(!store_blob_exists(st, a) && !store_blob_exists(st, sig), "the removed image and its signature are freed");
    is_int((long long)rep.blobs_removed, 7, "manifest, config, layer, files; the signature, its config and layer");
    ok(store_blob_exists(st, b), "the other image stays");

    /* A corrupt reachable manifest stops gc before it deletes anything. */
    store_blob_put(st, "junk2", 5, junk, &err);
    _cleanup_free_ char *bp = store_blob_path(st, b);
    _cleanup_free_ char *saved = slurp(bp);
    fs_write_atomic(bp, "{garbage", 8, 0644, NULL);
    is_int(store_gc(st, &rep, &err), KILN_EVERIFY, "gc refuses to run over a corrupt manifest");
    has_str(err.msg, "nothing removed", "and says nothing was removed");
    ok(store_blob_exists(st, junk), "the junk blob is still there");
    fs_write_atomic(bp, saved, strlen(saved), 0644, NULL);
    store_close(st);

    struct store *ro = open_store("g", 0);
    is_int(store_gc(ro, &rep, &err), KILN_EINVAL, "gc needs a writable handle");
    store_close(ro);
}

/* A writer in another process has written blobs it has not listed yet when gc
 * starts: gc waits for it and keeps them. */
static void test_gc_waits_for_writers(void)
{
    struct store *st = open_store("gw", STORE_CREATE);
    store_close(st);
    int to_child[2], from_child[2];
    ok(pipe(to_child) == 0 && pipe(from_child) == 0, "pipes");
    pid_t writer = fork();
    if (writer == 0) {
        struct store *ws = open_store("gw", STORE_WRITE);
        char d[DIGEST_STR_SIZE];
        if (!ws || make_image(ws, "inflight", 1, d) < 0)
            _exit(2);
        if (write(from_child[1], d, sizeof(d)) != (ssize_t)sizeof(d))
            _exit(2);
        char c;
        if (read(to_child[0], &c, 1) != 1)
            _exit(2);
        int r = add(ws, "late", "1.0.0", d, 0);
        store_close(ws);
        _exit(r == 0 ? 0 : 1);
    }
    char d[DIGEST_STR_SIZE] = "";
    ok(read(from_child[0], d, sizeof(d)) == (ssize_t)sizeof(d), "the writer stored its blobs");
    pid_t gcer = fork();
    if (gcer == 0) {
        struct store *gs = open_store("gw", STORE_WRITE);
        struct store_gc_report rep;
        int r = gs ? store_gc(gs, &rep, &err) : -1;
        store_close(gs);
        _exit(r == 0 && rep.blobs_removed == 0 ? 0 : 1);
    }
    /* Give gc the chance to run ahead (the outcome must not depend on it). */
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    int status = -1;
    ok(waitpid(gcer, &status, WNOHANG) == 0, "gc waits while a writer has the store open");
    ok(write(to_child[1], "x", 1) == 1, "the writer goes on");
    waitpid(writer, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer lists its image after gc started");
    waitpid(gcer, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gc then finishes and removes none of its blobs");
    st = open_store("gw", 0);
    struct store_image *img = NULL;
    is_int(store_resolve(st, "late:1.0.0", &img, &err), 0, "the image is there");
    ok(img && store_blob_verify(st, img->digest, (int64_t)img->size, &err) == 0, "with its manifest intact");
    store_image_free(img);
    store_close(st);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
}

/* Two processes add many images at once: no entry is lost, auto versions are unique. */
static void test_concurrent_adds(void)
{
    struct store *st = open_store("c", STORE_CREATE);
    store_close(st);
    enum { PER_CHILD = 25 };
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            struct store *cs = open_store("c", STORE_WRITE);
            if (!cs)
                _exit(2);
            for (int i = 0; i < PER_CHILD; i++) {
                char d[DIGEST_STR_SIZE];
                _cleanup_free_ char *tag = xasprintf("%d-%d", k, i);
                _cleanup_free_ char *ver = xasprintf("%d.%d.0", k + 1, i);
                if (make_image(cs, tag, 1, d) < 0 || add(cs, "app", ver, d, 0) < 0)
                    _exit(1);
                struct store_image img = { .name = "nightly", .version = "1.0.0", .digest = d };
                if (store_image_add(cs, &img, STORE_ADD_AUTO_VERSION, NULL, &err) < 0)
                    _exit(1);
            }
            store_close(cs);
            _exit(0);
        }
    }
    int good = 1;
    for (int k = 0; k < 2; k++) {
        int status;
        waitpid(kids[k], &status, 0);
        good &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    ok(good, "both processes added all their images");
    st = open_store("c", 0);
    struct store_image **v;
    size_t n = 0;
    is_int(store_list(st, "app", &v, &n, &err), 0, "list");
    is_int((long long)n, 2 * PER_CHILD, "no entry was lost");
    store_image_list_free(v, n);
    is_int(store_list(st, "nightly", &v, &n, &err), 0, "list the auto versions");
    is_int((long long)n, 2 * PER_CHILD, "every build got a version");
    int distinct = 1;
    for (size_t i = 1; i < n; i++)
        if (semver_cmp(v[i - 1]->version, v[i]->version) >= 0)
            distinct = 0;
    ok(distinct, "all auto versions are distinct");
    if (n)
        has_str(v[n - 1]->version, ".50", "numbered 1 to 50");
    store_image_list_free(v, n);
    store_close(st);
}

static void test_corrupt_index(void)
{
    struct store *st = open_store("ci", STORE_CREATE);
    char a[DIGEST_STR_SIZE];
    make_image(st, "a", 0, a);
    struct store_image **v;
    size_t n;
    fs_write_atomic("ci/index.json", "{\"schemaVersion\":2,\"manifests\":[", 32, 0644, NULL);
    is_int(store_list(st, NULL, &v, &n, &err), KILN_EINVAL, "a truncated index.json is invalid");
    has_str(err.msg, "index.json is not valid JSON", "with a clear error");
    is_int(add(st, "web", "1.0.0", a, 0), KILN_EINVAL, "and nothing is added over it");
    const char *trav = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" OCI_MT_MANIFEST "\","
                       "\"digest\":\"sha256:../../../../etc/passwd\",\"size\":1}]}";
    fs_write_atomic("ci/index.json", trav, strlen(trav), 0644, NULL);
    is_int(store_list(st, NULL, &v, &n, &err), KILN_EINVAL, "an index entry with a path for a digest is refused");
    has_str(err.msg, "not sha256", "naming the problem");
    fs_write_atomic("ci/index.json", "[]", 2, 0644, NULL);
    is_int(store_list(st, NULL, &v, &n, &err), KILN_EINVAL, "an index.json that is not an index is refused");
    struct store_gc_report rep;
    is_int(store_gc(st, &rep, &err), KILN_EINVAL, "gc refuses a corrupt index");
    ok(store_blob_exists(st, a), "and deletes nothing");
    store_close(st);
}

static int walk_count(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *e)
{
    (void)d;
    (void)parent;
    (void)e;
    (*(int *)ud)++;
    return 0;
}

static void test_walk(void)
{
    struct store *st = open_store("w", STORE_CREATE);
    char a[DIGEST_STR_SIZE], b[DIGEST_STR_SIZE], idx[DIGEST_STR_SIZE];
    make_image(st, "a", 1, a);
    make_image(st, "b", 0, b);
    uint64_t sa = 0, sb = 0;
    struct stat s1, s2;
    _cleanup_free_ char *pa = store_blob_path(st, a), *pb = store_blob_path(st, b);
    stat(pa, &s1);
    stat(pb, &s2);
    sa = (uint64_t)s1.st_size;
    sb = (uint64_t)s2.st_size;
    _cleanup_free_ char *doc = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":["
        "{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"%s\",\"size\":%llu,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"%s\",\"size\":%llu,\"artifactType\":\"" KILN_AT_QCOW2 "\"}]}",
        a, (unsigned long long)sa, b, (unsigned long long)sb);
    store_blob_put(st, doc, strlen(doc), idx, &err);
    struct oci_desc root = { .media_type = OCI_MT_INDEX, .digest = idx, .size = (int64_t)strlen(doc) };
    int count = 0;
    is_int(store_walk(st, &root, 0, walk_count, &count, &err), 0, "walk an index");
    is_int(count, 1 + 4 + 3, "the index, a manifest with config, layer and files, one with config and layer");
    is_int(add(st, "multi", "1.0.0", idx, 0), 0, "an index is added as an image");
    struct store_image *img = NULL;
    store_resolve(st, "multi", &img, &err);
    is_str(img ? img->media_type : NULL, OCI_MT_INDEX, "with the index media type");
    store_image_free(img);
    root.size = 3;
    is_int(store_walk(st, &root, 0, walk_count, &count, &err), KILN_EVERIFY, "a wrong size in a descriptor fails");
    store_close(st);
}

/* Build cache entries: an index listed under a key, without a name; the same
 * key replaces it; gc keeps what it reaches; dropped, its blobs go. */
static void test_cache_entries(void)
{
    struct store *st = open_store("ce", STORE_CREATE);
    char a[DIGEST_STR_SIZE], ix[DIGEST_STR_SIZE], ix2[DIGEST_STR_SIZE];
    ok(make_image(st, "cached", 1, a) == 0, "made an image");
    _cleanup_free_ char *asz = store_blob_path(st, a);
    struct stat sb;
    stat(asz, &sb);
    _cleanup_free_ char *doc = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\","
                                         "\"manifests\":[{\"mediaType\":\"" OCI_MT_MANIFEST "\","
                                         "\"digest\":\"%s\",\"size\":%lld}]}", a, (long long)sb.st_size);
    store_blob_put(st, doc, strlen(doc), ix, &err);
    const char *key = "1111111111111111111111111111111111111111111111111111111111111111";
    struct store_txn *t = NULL;
    json_t *ann = json_pack("{s:s,s:s}", "dev.kiln.cache.step", "output", OCI_ANN_REF_NAME, "sneaky:1.0.0");
    is_int(store_txn_begin(st, &t, &err), 0, "a transaction");
    is_int(store_txn_put_cache(t, "nothex", ix, NULL, &err), KILN_EINVAL, "a key that is not 64 hex is refused");
    is_int(store_txn_put_cache(t, key, ix, ann, &err), 0, "an entry listed under its key");
    is_int(store_txn_commit(t, &err), 0, "committed");
    json_t *index = NULL;
    store_index_read(st, &index, &err);
    json_t *e = json_array_get(json_object_get(index, "manifests"), 0);
    ok(e && !strcmp(json_string_value(json_object_get(json_object_get(e, "annotations"), KILN_ANN_CACHE_KEY)), key),
       "the entry carries the key");
    ok(e && !json_object_get(json_object_get(e, "annotations"), OCI_ANN_REF_NAME), "and no ref.name");
    json_decref(index);
    struct store_image **v = NULL;
    size_t n = 9;
    store_list(st, NULL, &v, &n, &err);
    is_int((long long)n, 0, "an entry is not an image");
    store_image_list_free(v, n);

    /* The same key again replaces the entry. */
    _cleanup_free_ char *doc2 = xasprintf("%s ", doc);
    store_blob_put(st, doc2, strlen(doc2), ix2, &err);
    store_txn_begin(st, &t, &err);
    is_int(store_txn_put_cache(t, key, ix2, NULL, &err), 0, "the same key listed again");
    store_txn_commit(t, &err);
    store_index_read(st, &index, &err);
    is_int((long long)json_array_size(json_object_get(index, "manifests")), 1, "replaces the entry");
    json_decref(index);

    struct store_gc_report rep;
    is_int(store_gc(st, &rep, &err), 0, "gc runs");
    ok(store_blob_exists(st, a) && store_blob_exists(st, ix2), "gc keeps what the entry reaches");
    ok(!store_blob_exists(st, ix), "and frees the replaced entry's index");

    int removed = 0;
    store_txn_begin(st, &t, &err);
    is_int(store_txn_drop_cache(t, key, &removed, &err), 0, "an entry dropped");
    is_int(removed, 1, "it was there");
    store_txn_commit(t, &err);
    is_int(store_gc(st, &rep, &err), 0, "gc runs");
    ok(!store_blob_exists(st, a) && !store_blob_exists(st, ix2), "its blobs are freed");

    /* An entry whose index lists a missing manifest is refused. */
    store_txn_begin(st, &t, &err);
    is_int(store_txn_put_cache(t, key, ix2, NULL, &err), KILN_ENOTFOUND, "an index whose blobs are missing");
    store_txn_abort(t);
    json_decref(ann);
    store_close(st);
}

int main(void)
{
    tap_tmpdir();
    test_open();
    test_blobs();
    test_images();
    test_auto_versions();
    test_referrers_rm();
    test_gc();
    test_gc_waits_for_writers();
    test_concurrent_adds();
    test_corrupt_index();
    test_walk();
    test_cache_entries();
    return tap_done();
}
