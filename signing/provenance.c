/* provenance.c - SLSA provenance v1 in an in-toto Statement v1.
 *
 * Stored as an artifact (artifactType application/vnd.dev.kiln.provenance.v1)
 * whose subject is the image: layer 0 is the statement
 * (application/vnd.in-toto+json, canonical JSON) and, when a key is given,
 * layer 1 is the raw signature over the statement bytes, made and checked
 * exactly like an image signature (the same openssl command verifies it).
 *
 * The statement records when and where the build ran (start, finish, host),
 * so it differs between two builds of the same image: reproducibility is a
 * property of the image it describes (its manifest digest and every blob that
 * manifest reaches), never of the attestation about one particular build. */
#include "signing/signing.h"

#include <string.h>

#include "common/common.h"
#include "images/store.h"
#include "signing/signing-internal.h"
#include "common/banned.h"

#define KILN_BUILD_TYPE "https://kiln.dev/build/v1"
#define KILN_BUILDER_ID "https://kiln.dev/builder/local"

static json_t *sha256_digest(const char *hex)
{
    return json_pack("{s:s}", "sha256", hex ? hex : "");
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

json_t *signing_provenance_statement(const char *name, const char *version, const char *digest,
                                     json_t *rec)
{
    _cleanup_free_ char *subject_name = version ? xasprintf("%s:%s", name, version) : xstrdup(name ? name : "");
    const char *hex = digest && strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;

    json_t *recipe = json_object_get(rec, "recipe");
    json_t *ext = json_pack("{s:{s:s, s:o}}", "recipe", "path", str(recipe, "path"), "digest",
                            sha256_digest(str(recipe, "sha256")));
    json_t *deps = json_array();
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(rec, "inputs"), i, in) {
        json_t *d = json_pack("{s:s, s:o}", "name", str(in, "name"), "digest", sha256_digest(str(in, "sha256")));
        if (json_is_string(json_object_get(in, "uri")))
            json_object_set(d, "uri", json_object_get(in, "uri"));
        /* a Debian package's version and architecture */
        if (json_is_object(json_object_get(in, "annotations")))
            json_object_set(d, "annotations", json_object_get(in, "annotations"));
        json_array_append_new(deps, d);
    }
    json_t *internal = json_object();
    if (json_is_string(json_object_get(rec, "host")))
        json_object_set(internal, "host", json_object_get(rec, "host"));
    if (json_is_integer(json_object_get(rec, "source_date_epoch")))
        json_object_set(internal, "sourceDateEpoch", json_object_get(rec, "source_date_epoch"));
    if (json_is_array(json_object_get(rec, "steps")))
        json_object_set(internal, "steps", json_object_get(rec, "steps"));
    json_t *metadata = json_object();
    if (json_is_string(json_object_get(rec, "started")))
        json_object_set(metadata, "startedOn", json_object_get(rec, "started"));
    if (json_is_string(json_object_get(rec, "finished")))
        json_object_set(metadata, "finishedOn", json_object_get(rec, "finished"));
    if (json_is_string(json_object_get(rec, "invocation_id")))
        json_object_set(metadata, "invocationId", json_object_get(rec, "invocation_id"));
    const char *kv = json_string_value(json_object_get(rec, "kiln_version"));

    return json_pack("{s:s, s:[{s:s, s:o}], s:s, s:{s:{s:s, s:o, s:o, s:o}, s:{s:{s:s, s:{s:s}}, s:o}}}",
                     "_type", "https://in-toto.io/Statement/v1",
                     "subject", "name", subject_name, "digest", sha256_digest(hex),
                     "predicateType", "https://slsa.dev/provenance/v1",
                     "predicate",
                     "buildDefinition", "buildType", KILN_BUILD_TYPE, "externalParameters", ext,
                     "internalParameters", internal, "resolvedDependencies", deps,
                     "runDetails", "builder", "id", KILN_BUILDER_ID, "version", "kiln", kv ? kv : KILN_VERSION,
                     "metadata", metadata);
}

int signing_provenance_put(struct store *st, const struct oci_desc *subject, const char *name,
                           const char *version, json_t *build_record, const struct signing_key *key,
                           struct signing_made *out, struct kiln_err *err)
{
    json_t *stmt = signing_provenance_statement(name, version, subject->digest, build_record);
    int r = signing_statement_put(st, subject, SIGNING_AT_PROVENANCE, stmt, key, out, err);
    json_decref(stmt);
    if (r < 0)
        kiln_err_prefix(err, "provenance");
    return r;
}

int signing_attach_provenance(struct store *st, const char *name, const char *version,
                              const char *digest, json_t *build_record,
                              const struct signing_key *key, struct kiln_err *err)
{
    if (!build_record)
        return 0;
    struct oci_desc subject;
    int r = signing_subject_desc(st, digest, &subject, err);
    if (r < 0)
        return r;
    struct signing_made made;
    if ((r = signing_provenance_put(st, &subject, name, version, build_record, key, &made, err)) == 0) {
        if ((r = signing_made_attach(st, subject.digest, &made, err)) < 0)
            kiln_err_prefix(err, "provenance");
        signing_made_release(&made);
    }
    oci_desc_release(&subject);
    return r;
}

int signing_provenance_find(struct store *st, const char *digest, const char *subject_name,
                            struct signing_pubkey *const *keys, size_t n_keys, json_t **out, struct kiln_err *err)
{
    return signing_attestation_find(st, digest, SIGNING_AT_PROVENANCE, NULL, subject_name, keys, n_keys, out, err);
}
