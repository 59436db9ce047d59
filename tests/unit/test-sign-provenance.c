/* test-sign-provenance.c - signing images and attaching provenance through
 * the interface the builder calls, then verifying through the library. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "images/store.h"
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
    if (signing_key_read(name, NULL, &k, &err) < 0)
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

int main(void)
{
    const char *src = getenv("KILN_SRC");
    static char cwd[4096];
    if (!src)
        src = getcwd(cwd, sizeof(cwd)) ? cwd : ".";
    tap_tmpdir();
    test_statement();
    test_sign_and_verify(src);
    return tap_done();
}
