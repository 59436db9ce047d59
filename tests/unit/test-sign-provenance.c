/* test-sign-provenance.c - signing images and attaching provenance, then
 * verifying through the library; publish_image(), the one step the builder
 * calls: held blobs, the image, its provenance and its signature listed
 * together, and a refused or failed publish leaving index.json
 * byte-identical with nothing of the image listed. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "images/store.h"
#include "signing/publish.h"
#include "signing/signing.h"
#include "common/banned.h"

static struct kiln_err err;

/* A small image (config, one layer, a files blob) listed as name:version. */
static int make_image(struct store *st, const char *name, const char *version, char out[DIGEST_STR_SIZE])
{
    char cfg[DIGEST_STR_SIZE], layer[DIGEST_STR_SIZE], files[DIGEST_STR_SIZE];
    _cleanup_free_ char *c = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"v\":\"%s\"}", version);
    _cleanup_free_ char *l = xasprintf("layer bytes of %s", version);
    const char *f = "{\"files\":[],\"version\":1}";
    if (store_blob_put(st, c, strlen(c), cfg, &err) < 0 || store_blob_put(st, l, strlen(l), layer, &err) < 0 ||
        store_blob_put(st, f, strlen(f), files, &err) < 0)
        return -1;
    _cleanup_free_ char *m = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
        "\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu}],"
        "\"annotations\":{\"dev.kiln.files\":\"%s\"}}",
        cfg, strlen(c), layer, strlen(l), files);
    if (store_blob_put(st, m, strlen(m), out, &err) < 0)
        return -1;
    struct store_image img = { .name = (char *)name, .version = (char *)version, .digest = out,
                               .media_type = OCI_MT_MANIFEST };
    return store_image_add(st, &img, 0, NULL, &err);
}

static json_t *record(void)
{
    json_error_t je;
    return json_loads("{\"recipe\":{\"path\":\"/src/web.yaml\",\"sha256\":"
                      "\"1111111111111111111111111111111111111111111111111111111111111111\"},"
                      "\"inputs\":[{\"name\":\"base tarball rootfs.tar\",\"uri\":\"file:///srv/rootfs.tar\","
                      "\"sha256\":\"2222222222222222222222222222222222222222222222222222222222222222\"}],"
                      "\"kiln_version\":\"0.1.0\",\"started\":\"2026-01-01T00:00:00Z\","
                      "\"finished\":\"2026-01-01T00:01:00Z\",\"host\":\"builder1\",\"source_date_epoch\":1700000000}",
                      0, &je);
}

static const char *jstr(json_t *j, const char *path)
{
    /* "a.b.c" with array index 0 for arrays */
    _cleanup_free_ char *p = xstrdup(path);
    char *save = NULL;
    for (char *t = strtok_r(p, ".", &save); t && j; t = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, 0) : json_object_get(j, t);
    return json_string_value(j);
}

static void test_statement(void)
{
    json_t *rec = record();
    json_t *s = signing_provenance_statement("web", "1.0.0",
        "sha256:3333333333333333333333333333333333333333333333333333333333333333", rec);
    is_str(jstr(s, "_type"), "https://in-toto.io/Statement/v1", "statement type");
    is_str(jstr(s, "predicateType"), "https://slsa.dev/provenance/v1", "SLSA provenance v1");
    is_str(jstr(s, "subject.0.name"), "web:1.0.0", "subject name");
    is_str(jstr(s, "subject.0.digest.sha256"), "3333333333333333333333333333333333333333333333333333333333333333",
           "subject digest as bare hex");
    is_str(jstr(s, "predicate.buildDefinition.externalParameters.recipe.path"), "/src/web.yaml", "recipe path");
    is_str(jstr(s, "predicate.buildDefinition.externalParameters.recipe.digest.sha256"),
           "1111111111111111111111111111111111111111111111111111111111111111", "recipe digest");
    is_str(jstr(s, "predicate.buildDefinition.resolvedDependencies.0.uri"), "file:///srv/rootfs.tar", "input uri");
    is_str(jstr(s, "predicate.buildDefinition.resolvedDependencies.0.digest.sha256"),
           "2222222222222222222222222222222222222222222222222222222222222222", "input digest");
    is_str(jstr(s, "predicate.runDetails.builder.version.kiln"), "0.1.0", "kiln version");
    is_str(jstr(s, "predicate.runDetails.metadata.startedOn"), "2026-01-01T00:00:00Z", "startedOn");
    is_str(jstr(s, "predicate.runDetails.metadata.finishedOn"), "2026-01-01T00:01:00Z", "finishedOn");
    ok(json_is_string(json_object_get(json_object_get(json_object_get(s, "predicate"), "buildDefinition"),
                                      "buildType")), "has a buildType");
    json_decref(s);
    json_decref(rec);
}

static struct signing_key *copy_key(const char *src, const char *name)
{
    _cleanup_free_ char *p = xasprintf("%s/tests/data/sign/%s", src, name);
    struct buf b;
    buf_init(&b, 0);
    fs_read_file(p, 0, &b, NULL);
    fs_write_atomic(name, b.data, b.len, 0600, NULL);
    chmod(name, 0600);
    buf_release(&b);
    struct signing_key *k = NULL;
    if (signing_key_load(name, NULL, &k, &err) < 0)
        diag("%s", err.msg);
    return k;
}

static void test_sign_and_verify(const char *src)
{
    struct store *st = NULL;
    ok(store_open("store", STORE_CREATE, &st, &err) == 0, "store");
    char d1[DIGEST_STR_SIZE], d2[DIGEST_STR_SIZE];
    ok(make_image(st, "web", "1.0.0", d1) == 0 && make_image(st, "web", "1.1.0", d2) == 0, "two images");
    struct signing_key *k = copy_key(src, "ecdsa.key"), *ed = copy_key(src, "ed25519.key");
    ok(k && ed, "keys load");
    if (!k || !ed)
        return;
    json_t *rec = record();
    ok(signing_sign_image(st, "web", "1.0.0", d1, k, &err) == 0, "signs web:1.0.0");
    ok(signing_sign_image(st, "web", "1.0.0", d1, ed, &err) == 0, "a second signature with another key");
    ok(signing_attach_provenance(st, "web", "1.0.0", d1, rec, k, &err) == 0, "attaches signed provenance");
    ok(signing_attach_provenance(st, "web", "1.1.0", d2, rec, NULL, &err) == 0, "attaches unsigned provenance");
    ok(signing_sign_image(st, "web", "1.0.0",
                          "sha256:4444444444444444444444444444444444444444444444444444444444444444", k, &err) < 0,
       "refuses to sign an image that is not in the store");

    struct signing_pubkey *pub = NULL, *edpub = NULL;
    _cleanup_free_ char *pp = xasprintf("%s/tests/data/sign/ecdsa.pub", src);
    _cleanup_free_ char *ep = xasprintf("%s/tests/data/sign/ed25519.pub", src);
    signing_pubkey_load(pp, &pub, &err);
    signing_pubkey_load(ep, &edpub, &err);
    struct signing_pubkey *keys[] = { pub };
    struct signing_verify_opts o = { keys, 1, "web", "1.0.0" };
    json_t *rep = NULL;
    struct store_image *img = NULL;
    store_resolve(st, "web:1.0.0", &img, &err);
    ok(img && signing_verify_image(st, img->digest, img->media_type, (long long)img->size, &o, &rep, &err) == 0,
       "verifies web:1.0.0");
    ok(json_array_size(json_object_get(rep, "signatures")) == 2, "sees both signatures");
    ok(json_array_size(json_object_get(rep, "signers")) == 1, "one of them by the given key");
    json_t *prov = json_object_get(rep, "provenance");
    ok(json_is_true(json_object_get(prov, "signed")) && json_is_true(json_object_get(prov, "verified")),
       "the report says the provenance is signed by a trusted key");
    is_str(jstr(prov, "recipe.path"), "/src/web.yaml", "and summarises it");
    ok(json_array_size(json_object_get(rep, "blobs")) == 4, "re-hashed manifest, config, layer, files");
    json_decref(rep);
    rep = NULL;

    o.version = "1.1.0";
    ok(signing_verify_image(st, img->digest, img->media_type, (long long)img->size, &o, &rep, &err) == KILN_EVERIFY,
       "a payload for 1.0.0 does not verify a claim of 1.1.0");
    has_str(err.msg, "names version '1.0.0', not '1.1.0'", "and says so");
    json_decref(rep);
    rep = NULL;
    store_image_free(img);
    img = NULL;

    store_resolve(st, "web:1.1.0", &img, &err);
    o.version = NULL;
    ok(img && signing_verify_image(st, img->digest, img->media_type, (long long)img->size, &o, &rep, &err) ==
                  KILN_EVERIFY, "web:1.1.0 is unsigned");
    has_str(err.msg, "has no signature", "and says so");
    json_t *found = NULL;
    ok(signing_provenance_find(st, d2, "web:1.1.0", keys, 1, &found, &err) == 0 && found, "its provenance is found");
    ok(json_is_false(json_object_get(found, "signed")), "unsigned");
    is_str(jstr(found, "statement.subject.0.name"), "web:1.1.0", "names the image");
    json_decref(found);
    json_decref(rep);
    store_image_free(img);

    signing_pubkey_free(pub);
    signing_pubkey_free(edpub);
    signing_key_free(k);
    signing_key_free(ed);
    json_decref(rec);
    store_close(st);
}

/* An image whose blobs are all held in the store's temp area, as a build
 * leaves them. */
struct held_image {
    struct publish_blob blobs[3]; /* config, layer, manifest */
    char manifest[DIGEST_STR_SIZE];
    char layer[DIGEST_STR_SIZE];
};

static void digest_of(const char *s, char out[DIGEST_STR_SIZE])
{
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(s, strlen(s), hex);
    snprintf(out, DIGEST_STR_SIZE, "sha256:%s", hex);
}

/* Writes s as a held blob. */
static int hold(struct store *st, const char *s, struct publish_blob *b)
{
    digest_of(s, b->digest);
    if (store_blob_begin(st, &b->w, &err) < 0)
        return -1;
    return store_blob_write(b->w, s, strlen(s), &err);
}

/* tag makes the content unique. */
static int hold_image(struct store *st, const char *tag, struct held_image *h)
{
    memset(h, 0, sizeof(*h));
    _cleanup_free_ char *c = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"tag\":\"%s\"}", tag);
    _cleanup_free_ char *l = xasprintf("layer bytes of %s", tag);
    if (hold(st, c, &h->blobs[0]) < 0 || hold(st, l, &h->blobs[1]) < 0)
        return -1;
    snprintf(h->layer, sizeof(h->layer), "%s", h->blobs[1].digest);
    _cleanup_free_ char *m = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
        "\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu}]}",
        h->blobs[0].digest, strlen(c), h->blobs[1].digest, strlen(l));
    if (hold(st, m, &h->blobs[2]) < 0)
        return -1;
    snprintf(h->manifest, sizeof(h->manifest), "%s", h->blobs[2].digest);
    return 0;
}

static int all_handed_over(const struct held_image *h)
{
    return !h->blobs[0].w && !h->blobs[1].w && !h->blobs[2].w;
}

static struct publish_request request(struct held_image *h, const char *name, const char *version, json_t *rec,
                                      const struct signing_key *key)
{
    struct publish_request req = {
        .ref = { .name = name, .version = version },
        .digest = h->manifest,
        .media_type = OCI_MT_MANIFEST,
        .blobs = h->blobs,
        .n_blobs = 3,
        .build_record = rec,
        .key = key,
    };
    return req;
}

static char *slurp(const char *path)
{
    struct buf b;
    buf_init(&b, 0);
    fs_read_file(path, 1 << 24, &b, NULL);
    return buf_detach(&b, NULL);
}

static int dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n == 0;
}

static size_t count_referrers(struct store *st, const char *digest, const char *artifact_type)
{
    struct oci_desc *v = NULL;
    size_t n = 0;
    store_referrers(st, digest, artifact_type, &v, &n, &err);
    oci_desc_list_free(v, n);
    return n;
}

static void test_ref_check(void)
{
    struct publish_ref ok_ref = { .name = "web", .version = "1.0.0", .channel = "stable" };
    is_int(publish_ref_check(&ok_ref, &err), 0, "a valid reference passes");
    struct publish_ref bad_name = { .name = "Web", .version = "1.0.0" };
    is_int(publish_ref_check(&bad_name, &err), KILN_EINVAL, "an upper-case name is refused");
    has_str(err.msg, "'Web'", "naming it");
    struct publish_ref bad_version = { .name = "web", .version = "1.0" };
    is_int(publish_ref_check(&bad_version, &err), KILN_EINVAL, "a version that is not semver is refused");
    struct publish_ref bad_channel = { .name = "web", .version = "1.0.0", .channel = "1.0.0" };
    is_int(publish_ref_check(&bad_channel, &err), KILN_EINVAL, "a channel that looks like a version is refused");
    struct publish_ref bad_base = { .name = "web", .version = "1.0.0-rc.1", .auto_version = 1 };
    is_int(publish_ref_check(&bad_base, &err), KILN_EINVAL, "an auto version base with a prerelease is refused");
    has_str(err.msg, "auto version base", "saying why");
    struct publish_ref auto_ref = { .name = "web", .version = "1.0.0", .auto_version = 1 };
    is_int(publish_ref_check(&auto_ref, &err), 0, "an auto version with a MAJOR.MINOR.PATCH base passes");
}

static void test_publish(const char *src)
{
    struct store *st = NULL;
    ok(store_open("pub", STORE_CREATE, &st, &err) == 0, "store");
    struct signing_key *k = copy_key(src, "ecdsa.key");
    struct signing_pubkey *pub = NULL;
    _cleanup_free_ char *pp = xasprintf("%s/tests/data/sign/ecdsa.pub", src);
    ok(k && signing_pubkey_load(pp, &pub, &err) == 0, "keys load");
    if (!k || !pub)
        return;
    json_t *rec = record();

    /* One step: held blobs -> image + channel + provenance + signature. */
    struct held_image h;
    ok(hold_image(st, "one", &h) == 0, "an image held in the temp area");
    ok(!store_blob_exists(st, h.manifest), "its manifest is not in the store yet");
    struct publish_request req = request(&h, "web", "1.0.0", rec, k);
    req.ref.channel = "stable";
    req.recipe_digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    _cleanup_free_ char *v = NULL;
    is_int(publish_image(st, &req, &v, &err), 0, "publish_image");
    if (err.msg[0])
        diag("%s", err.msg);
    is_str(v, "1.0.0", "the version stored");
    ok(all_handed_over(&h), "every held blob was taken over");
    ok(dir_empty("pub/.kiln/tmp"), "nothing is left in the temp area");
    struct store_image *img = NULL;
    ok(store_resolve(st, "web:stable", &img, &err) == 0 && !strcmp(img->digest, h.manifest),
       "the image and its channel are listed");
    is_str(img ? img->recipe_digest : NULL, req.recipe_digest, "with the recipe digest");
    is_int(count_referrers(st, h.manifest, SIGNING_AT_PROVENANCE), 1, "one provenance attestation");
    is_int(count_referrers(st, h.manifest, SIGNING_AT_SIGNATURE), 1, "one signature");
    struct signing_pubkey *keys[] = { pub };
    struct signing_verify_opts o = { keys, 1, "web", "1.0.0" };
    json_t *rep = NULL;
    ok(img && signing_verify_image(st, img->digest, img->media_type, (long long)img->size, &o, &rep, &err) == 0,
       "the published image verifies with its key");
    json_decref(rep);
    rep = NULL;
    json_t *found = NULL;
    ok(signing_provenance_find(st, h.manifest, "web:1.0.0", keys, 1, &found, &err) == 0 && found &&
           json_is_true(json_object_get(found, "verified")),
       "its provenance is there and signed by the key");
    json_decref(found);
    store_image_free(img);
    img = NULL;

    /* A taken version: refused before anything is written. */
    _cleanup_free_ char *before = slurp("pub/index.json");
    struct held_image h2;
    ok(hold_image(st, "two", &h2) == 0, "another image held");
    req = request(&h2, "web", "1.0.0", rec, k);
    is_int(publish_image(st, &req, NULL, &err), KILN_EEXIST, "publishing it as the taken web:1.0.0 is refused");
    has_str(err.msg, "exists with another digest", "saying the version is taken");
    _cleanup_free_ char *after = slurp("pub/index.json");
    is_str(after, before, "index.json is byte-identical");
    ok(all_handed_over(&h2) && dir_empty("pub/.kiln/tmp"), "the held blobs are removed");
    ok(!store_blob_exists(st, h2.manifest) && !store_blob_exists(st, h2.layer), "and none was committed");

    /* The same image again under its version (an identical rebuild) is accepted. */
    struct held_image h1;
    ok(hold_image(st, "one", &h1) == 0 && !strcmp(h1.manifest, h.manifest), "the first image held again");
    req = request(&h1, "web", "1.0.0", rec, k);
    is_int(publish_image(st, &req, NULL, &err), 0, "publishing the same digest under its version is accepted");
    is_int(count_referrers(st, h.manifest, SIGNING_AT_PROVENANCE), 2, "with the new build's provenance");

    /* --force replaces the version; the channel follows it. */
    ok(hold_image(st, "two", &h2) == 0, "the other image held again");
    req = request(&h2, "web", "1.0.0", NULL, NULL);
    req.ref.force = 1;
    is_int(publish_image(st, &req, NULL, &err), 0, "force replaces web:1.0.0");
    ok(store_resolve(st, "web:stable", &img, &err) == 0 && !strcmp(img->digest, h2.manifest),
       "the channel on it follows");
    store_image_free(img);
    img = NULL;
    is_int(count_referrers(st, h2.manifest, NULL), 0, "no build record, no key: no referrers");

    /* An auto version: the signature and provenance name the version allocated. */
    struct held_image h3;
    ok(hold_image(st, "three", &h3) == 0, "a third image held");
    req = request(&h3, "web", "2.0.0", rec, k);
    req.ref.auto_version = 1;
    req.now = 1767225600; /* 2026-01-01 */
    free(v);
    v = NULL;
    is_int(publish_image(st, &req, &v, &err), 0, "publish with an auto version");
    is_str(v, "2.0.0-nightly.20260101.1", "the auto version allocated");
    o.version = v;
    ok(store_resolve(st, "web:2.0.0-nightly.20260101.1", &img, &err) == 0 &&
           signing_verify_image(st, img->digest, img->media_type, (long long)img->size, &o, &rep, &err) == 0,
       "its signature names the auto version");
    json_decref(rep);
    store_image_free(img);
    img = NULL;
    ok(signing_provenance_find(st, h3.manifest, NULL, NULL, 0, &found, &err) == 0 && found, "its provenance");
    const char *subj = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(found, "statement"), "subject"), 0), "name"));
    is_str(subj, "web:2.0.0-nightly.20260101.1", "names the auto version");
    json_decref(found);

    /* A blob the image needs is missing: nothing listed. */
    free(before);
    before = slurp("pub/index.json");
    struct held_image h4;
    ok(hold_image(st, "four", &h4) == 0, "a fourth image held");
    store_blob_abort(h4.blobs[1].w); /* its layer is lost */
    h4.blobs[1].w = NULL;
    req = request(&h4, "web", "4.0.0", rec, k);
    is_int(publish_image(st, &req, NULL, &err), KILN_ENOTFOUND, "an image whose layer is missing is refused");
    has_str(err.msg, h4.layer, "naming the blob");
    free(after);
    after = slurp("pub/index.json");
    is_str(after, before, "index.json is byte-identical");
    ok(store_resolve(st, "web:4.0.0", &img, &err) == KILN_ENOTFOUND, "the version is not listed");

    /* A held blob whose content is not what it claims. */
    struct held_image h5;
    ok(hold_image(st, "five", &h5) == 0, "a fifth image held");
    snprintf(h5.blobs[0].digest, sizeof(h5.blobs[0].digest), "%s", h5.layer);
    req = request(&h5, "web", "5.0.0", rec, k);
    is_int(publish_image(st, &req, NULL, &err), KILN_EVERIFY, "a held blob with another digest is refused");
    ok(all_handed_over(&h5) && dir_empty("pub/.kiln/tmp"), "every held blob is removed");
    free(after);
    after = slurp("pub/index.json");
    is_str(after, before, "index.json is byte-identical");

    /* The signature cannot be stored after the image was added in memory:
     * neither the image nor its provenance is listed (no "stored, but not
     * signed").  Blobs already committed, nothing held. */
    struct held_image h6;
    ok(hold_image(st, "six", &h6) == 0, "a sixth image");
    for (size_t i = 0; i < 3; i++) {
        store_blob_commit(h6.blobs[i].w, h6.blobs[i].digest, NULL, NULL, &err);
        h6.blobs[i].w = NULL;
    }
    ok(store_blob_exists(st, h6.manifest), "committed by the caller");
    ok(rename("pub/.kiln/tmp", "pub/.kiln/tmp.away") == 0 &&
           fs_write_atomic("pub/.kiln/tmp", "x", 1, 0644, NULL) == 0,
       "the temp area made unusable");
    req = request(&h6, "web", "6.0.0", rec, k);
    req.blobs = NULL;
    req.n_blobs = 0;
    ok(publish_image(st, &req, NULL, &err) < 0, "publishing fails when its referrers cannot be stored");
    has_str(err.msg, "not published", "saying the image was not published");
    free(after);
    after = slurp("pub/index.json");
    is_str(after, before, "index.json is byte-identical");
    ok(unlink("pub/.kiln/tmp") == 0 && rename("pub/.kiln/tmp.away", "pub/.kiln/tmp") == 0,
       "the temp area restored");
    is_int(publish_image(st, &req, NULL, &err), 0, "the same publish then succeeds");
    is_int(count_referrers(st, h6.manifest, NULL), 2, "with its provenance and signature");

    json_decref(rec);
    signing_pubkey_free(pub);
    signing_key_free(k);
    store_close(st);
}

int main(void)
{
    const char *src = getenv("KILN_SRC");
    static char cwd[4096];
    if (!src)
        src = getcwd(cwd, sizeof(cwd)) ? cwd : ".";
    tap_tmpdir();
    test_statement();
    test_sign_and_verify(src);
    test_ref_check();
    test_publish(src);
    return tap_done();
}
