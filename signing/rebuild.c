/* rebuild.c - the signed statement that a rebuild gave the same bytes.
 *
 * Stored like provenance (provenance.c): an artifact of type
 * SIGNING_AT_REBUILD whose subject is the image, layer 0 an in-toto
 * Statement v1 (canonical JSON) with predicate type SIGNING_REBUILD_TYPE,
 * layer 1 the raw signature over the statement bytes, which the same
 * `openssl dgst -verify` command checks. */
#include "signing/signing.h"

#include <string.h>

#include "common/common.h"
#include "images/store.h"
#include "signing/signing-internal.h"
#include "common/banned.h"

json_t *signing_rebuild_statement(const char *name, const char *version, const char *digest, json_t *predicate)
{
    _cleanup_free_ char *subject_name = version ? xasprintf("%s:%s", name, version) : xstrdup(name ? name : "");
    const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
    return json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:O}", "_type", "https://in-toto.io/Statement/v1", "subject",
                     "name", subject_name, "digest", "sha256", hex, "predicateType", SIGNING_REBUILD_TYPE,
                     "predicate", predicate);
}

int signing_attach_rebuild(struct store *st, const char *name, const char *version, const char *digest,
                           json_t *predicate, const struct signing_key *key, struct kiln_err *err)
{
    json_t *stmt = signing_rebuild_statement(name, version, digest, predicate);
    _cleanup_free_ char *text = stmt ? json_dumps(stmt, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(stmt);
    if (!text)
        return kiln_errf(err, KILN_EINVAL, "cannot make the rebuild statement");
    struct oci_desc subject;
    int r = signing_subject_desc(st, digest, &subject, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *created = signing_now_rfc3339();
    _cleanup_free_ unsigned char *sig = NULL;
    size_t sig_len = 0;
    struct signing_made made;
    r = signing_sign_bytes(key, text, strlen(text), &sig, &sig_len, err);
    if (r == 0 && (r = signing_artifact_put(st, &subject, SIGNING_AT_REBUILD, SIGNING_MT_INTOTO, text, strlen(text),
                                            sig, sig_len, key, created, &made, err)) == 0) {
        r = signing_made_attach(st, subject.digest, &made, err);
        signing_made_release(&made);
    }
    oci_desc_release(&subject);
    if (r < 0)
        kiln_err_prefix(err, "rebuild statement");
    return r;
}
