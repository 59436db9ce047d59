/* statement.c - signed statements about an image: channel statements (this
 * digest is NAME's CHANNEL, at VERSION, from CREATED until EXPIRES).
 *
 * A statement is an artifact of the same shape as a signature (sign.c):
 * artifactType SIGNING_AT_CHANNEL, subject the image, layers[0] the canonical
 * JSON payload below, layers[1] the raw signature over it, made and checked
 * by the same code as image signatures:
 *   {"algorithm":..,"channel":..,"created":"RFC 3339","digest":"sha256:..",
 *    "expires":"RFC 3339","keyId":"sha256:..","name":..,"type":"dev.kiln.channel.v1",
 *    "version":..} */
#include "signing/signing.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "common/hash.h"
#include "common/timefmt.h"
#include "images/store.h"
#include "signing/signing-internal.h"
#include "common/banned.h"

void signing_statement_release(struct signing_statement *s)
{
    free(s->type);
    free(s->name);
    free(s->channel);
    free(s->version);
    free(s->digest);
    free(s->key_id);
    free(s->algorithm);
    free(s->created);
    free(s->expires);
    memset(s, 0, sizeof(*s));
}

char *signing_statement_make(const struct signing_statement *s)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", s->type, "name", s->name, "version",
                          s->version, "digest", s->digest, "keyId", s->key_id, "algorithm", s->algorithm, "created",
                          s->created);
    if (!j)
        return NULL;
    if (s->channel)
        json_object_set_new(j, "channel", json_string(s->channel));
    if (s->expires)
        json_object_set_new(j, "expires", json_string(s->expires));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return text;
}

int signing_rfc3339_parse(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se, n = 0;
    if (!s || strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
        n != 20)
        return -1;
    for (int i = 0; i < 19; i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !isdigit((unsigned char)s[i]))
            return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se };
    time_t t = timegm(&tm);
    char back[RFC3339_SIZE];
    rfc3339_format((int64_t)t, back);
    if (strcmp(back, s) != 0) /* 2026-02-30 and the like */
        return -1;
    *out = (int64_t)t;
    return 0;
}

/* A required string member, 1..256 bytes, no NUL, printable ASCII. */
static int get_str(json_t *o, const char *key, char **out, struct kiln_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return kiln_errf(err, KILN_EINVAL, "channel statement has no '%s'", key);
    const char *s = json_string_value(v);
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    if (!s || n == 0 || n > 256 || strlen(s) != n)
        return kiln_errf(err, KILN_EINVAL, "channel statement: '%s' is not a valid string", key);
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)s[i]))
            return kiln_errf(err, KILN_EINVAL, "channel statement: '%s' holds a character that is not printable "
                             "ASCII", key);
    *out = xstrdup(s);
    return 0;
}

static int is_sha256(const char *s)
{
    return s && strncmp(s, "sha256:", 7) == 0 && hash_is_hex(s + 7);
}

int signing_statement_parse(const void *data, size_t len, struct signing_statement *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len > SIGNING_PAYLOAD_LIMIT)
        return kiln_errf(err, KILN_EINVAL, "channel statement is larger than %u bytes", SIGNING_PAYLOAD_LIMIT);
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return kiln_errf(err, KILN_EINVAL, "channel statement is not JSON: %s", je.text);
    int r = 0;
    if (!json_is_object(j)) {
        r = kiln_errf(err, KILN_EINVAL, "channel statement is not a JSON object");
        goto out;
    }
    if ((r = get_str(j, "type", &out->type, err)) < 0)
        goto out;
    int channel = !strcmp(out->type, SIGNING_CHANNEL_TYPE);
    if (!channel && strcmp(out->type, SIGNING_REVOCATION_TYPE) != 0) {
        r = kiln_errf(err, KILN_EINVAL, "channel statement has type '%s', not '%s' or '%s'", out->type,
                      SIGNING_CHANNEL_TYPE, SIGNING_REVOCATION_TYPE);
        goto out;
    }
    if ((r = get_str(j, "name", &out->name, err)) < 0 || (r = get_str(j, "version", &out->version, err)) < 0 ||
        (r = get_str(j, "digest", &out->digest, err)) < 0 || (r = get_str(j, "keyId", &out->key_id, err)) < 0 ||
        (r = get_str(j, "algorithm", &out->algorithm, err)) < 0 ||
        (r = get_str(j, "created", &out->created, err)) < 0)
        goto out;
    if (channel &&
        ((r = get_str(j, "channel", &out->channel, err)) < 0 || (r = get_str(j, "expires", &out->expires, err)) < 0))
        goto out;
    if (json_object_size(j) != (channel ? 9u : 7u)) {
        r = kiln_errf(err, KILN_EINVAL, "channel statement has members it should not have");
        goto out;
    }
    if (!is_sha256(out->digest) || !is_sha256(out->key_id)) {
        r = kiln_errf(err, KILN_EINVAL, "channel statement: 'digest' or 'keyId' is not sha256:<hex>");
        goto out;
    }
    if (strcmp(out->algorithm, SIGNING_ALG_ECDSA_P256) != 0 && strcmp(out->algorithm, SIGNING_ALG_ED25519) != 0) {
        r = kiln_errf(err, KILN_EINVAL, "channel statement: unsupported algorithm '%s'", out->algorithm);
        goto out;
    }
    if (signing_rfc3339_parse(out->created, &out->created_t) < 0 ||
        (channel && signing_rfc3339_parse(out->expires, &out->expires_t) < 0)) {
        r = kiln_errf(err, KILN_EINVAL, "channel statement: 'created' or 'expires' is not YYYY-MM-DDTHH:MM:SSZ");
        goto out;
    }
    if (channel && out->expires_t <= out->created_t) {
        r = kiln_errf(err, KILN_EINVAL, "channel statement expires ('%s') before it was made ('%s')", out->expires,
                      out->created);
        goto out;
    }
out:
    json_decref(j);
    if (r < 0)
        signing_statement_release(out);
    return r;
}

/* Signs s (its key fields filled from key) and stores it as an artifact of
 * artifact_type/payload_mt whose subject is the image. */
static int statement_put(struct store *st, const struct oci_desc *subject, struct signing_statement *s,
                         const char *artifact_type, const char *payload_mt, const struct signing_key *key,
                         struct oci_desc *out, struct kiln_err *err)
{
    s->digest = subject->digest;
    s->key_id = (char *)signing_key_id(key);
    s->algorithm = (char *)signing_key_algorithm(key);
    _cleanup_free_ char *payload = signing_statement_make(s);
    if (!payload)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    /* what the parser would refuse is not signed */
    struct signing_statement back;
    int r = signing_statement_parse(payload, strlen(payload), &back, err);
    if (r < 0)
        return r;
    signing_statement_release(&back);
    _cleanup_free_ unsigned char *sig = NULL;
    size_t sig_len = 0;
    if ((r = signing_sign_bytes(key, payload, strlen(payload), &sig, &sig_len, err)) < 0)
        return r;
    struct signing_made made;
    r = signing_artifact_put(st, subject, artifact_type, payload_mt, payload, strlen(payload), sig, sig_len, key,
                             s->created, &made, err);
    if (r < 0)
        return r;
    out->media_type = xstrdup(OCI_MT_MANIFEST);
    out->digest = xstrdup(made.digest);
    out->size = (int64_t)made.size;
    out->artifact_type = xstrdup(artifact_type);
    out->annotations = json_incref(made.annotations);
    signing_made_release(&made);
    return 0;
}

int signing_channel_put(struct store *st, const struct oci_desc *subject, const char *name, const char *channel,
                        const char *version, int64_t now, int64_t lifetime, const struct signing_key *key,
                        struct oci_desc *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    if (lifetime <= 0)
        return kiln_errf(err, KILN_EINVAL, "a channel statement must expire after it is made");
    char created[RFC3339_SIZE], expires[RFC3339_SIZE];
    rfc3339_format(now, created);
    rfc3339_format(now + lifetime, expires);
    struct signing_statement s = { .type = (char *)SIGNING_CHANNEL_TYPE, .name = (char *)name,
                                   .channel = (char *)channel, .version = (char *)version, .created = created,
                                   .expires = expires };
    return statement_put(st, subject, &s, SIGNING_AT_CHANNEL, SIGNING_MT_CHANNEL, key, out, err);
}

int signing_revocation_put(struct store *st, const struct oci_desc *subject, const char *name, const char *version,
                           int64_t now, const struct signing_key *key, struct oci_desc *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    char created[RFC3339_SIZE];
    rfc3339_format(now, created);
    struct signing_statement s = { .type = (char *)SIGNING_REVOCATION_TYPE, .name = (char *)name,
                                   .version = (char *)version, .created = created };
    return statement_put(st, subject, &s, SIGNING_AT_REVOCATION, SIGNING_MT_REVOCATION, key, out, err);
}

/* The statement of one held artifact, checked: 1 when it is not a channel
 * statement, 0 with *out set when a trusted key signed it, else < 0. */
static int artifact_statement(struct signing_artifact *a, const char *type, struct signing_pubkey *const *keys,
                              size_t n_keys, struct signing_statement *out, struct kiln_err *err);

static int held_statement(const struct signing_held_artifact *h, const char *digest,
                          struct signing_pubkey *const *keys, size_t n_keys, struct signing_statement *out,
                          struct kiln_err *err)
{
    struct signing_artifact a;
    int r = signing_artifact_from_held(h, SIGNING_AT_CHANNEL, SIGNING_MT_CHANNEL, SIGNING_PAYLOAD_LIMIT, digest, &a,
                                       err);
    if (r != 0)
        return r;
    return artifact_statement(&a, SIGNING_CHANNEL_TYPE, keys, n_keys, out, err);
}

/* The statement of a (released here), checked: of type `type`, signed by a
 * trusted key; 0 with *out set, else < 0 (KILN_EVERIFY). */
static int artifact_statement(struct signing_artifact *a_, const char *type, struct signing_pubkey *const *keys,
                              size_t n_keys, struct signing_statement *out, struct kiln_err *err)
{
    struct signing_artifact a = *a_;
    int r = 0;
    if (!a.has_sig)
        r = kiln_errf(err, KILN_EVERIFY, "it is not signed");
    if (r == 0 && (r = signing_statement_parse(a.payload.data, a.payload.len, out, err)) < 0)
        r = KILN_EVERIFY;
    if (r == 0 && strcmp(out->type, type) != 0)
        r = kiln_errf(err, KILN_EVERIFY, "its payload is a '%s'", out->type);
    const struct signing_pubkey *k = NULL;
    for (size_t i = 0; r == 0 && i < n_keys && !k; i++)
        if (!strcmp(signing_pubkey_id(keys[i]), out->key_id) &&
            !strcmp(signing_pubkey_algorithm(keys[i]), out->algorithm))
            k = keys[i];
    if (r == 0 && !k)
        r = kiln_errf(err, KILN_EVERIFY, "signed by an unknown key '%s'", out->key_id);
    if (r == 0)
        r = signing_verify_bytes(k, a.payload.data, a.payload.len, (const unsigned char *)a.sig.data, a.sig.len, err);
    signing_artifact_release(&a);
    if (r < 0 && out->type)
        signing_statement_release(out);
    return r;
}

int signing_channel_check_held(const struct signing_held_artifact *arts, size_t n, const char *digest,
                               const char *name, const char *channel, struct signing_pubkey *const *keys,
                               size_t n_keys, int64_t now, struct signing_statement *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    struct kiln_err first = KILN_ERR_INIT;
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        struct signing_statement s = { 0 };
        struct kiln_err e = KILN_ERR_INIT;
        int r = held_statement(&arts[i], digest, keys, n_keys, &s, &e);
        if (r == 0 && strcmp(s.channel, channel) != 0)
            r = 1; /* a trusted statement for another channel: no concern here */
        if (r == 1) {
            signing_statement_release(&s);
            continue;
        }
        seen++;
        if (r == 0 && strcmp(s.digest, digest) != 0)
            r = kiln_errf(&e, KILN_EVERIFY, "it names '%s'", s.digest);
        else if (r == 0 && name && strcmp(s.name, name) != 0)
            r = kiln_errf(&e, KILN_EVERIFY, "it is for '%s', not '%s'", s.name, name);
        else if (r == 0 && s.expires_t <= now)
            r = kiln_errf(&e, KILN_EVERIFY, "it expired at %s", s.expires);
        if (r < 0) {
            if (!first.code)
                kiln_errf(&first, KILN_EVERIFY, "channel statement '%s': %s", arts[i].digest, e.msg);
            signing_statement_release(&s);
            continue;
        }
        if (!out->type || s.created_t > out->created_t) {
            signing_statement_release(out);
            *out = s;
        } else {
            signing_statement_release(&s);
        }
    }
    if (out->type)
        return 0;
    if (!seen)
        return kiln_errf(err, KILN_EVERIFY, "no channel statement for '%s' names '%s': a channel tag must be backed "
                         "by one (kiln promote --key)", channel, digest);
    return kiln_errf(err, KILN_EVERIFY, "no trusted, unexpired statement for channel '%s' names '%s' (%s)", channel,
                     digest, first.msg);
}

/* One revocation artifact, read (read_r: how reading it went): rep gets what
 * it says, "trusted" when a trusted key signed it over exactly digest. */
static void revocation_one(struct signing_artifact *a, int read_r, const char *art_digest, const char *digest,
                           struct signing_pubkey *const *keys, size_t n_keys, json_t *rep, struct kiln_err *err)
{
    struct signing_statement s = { 0 };
    int trusted = 0;
    int r = read_r < 0 ? read_r : artifact_statement(a, SIGNING_REVOCATION_TYPE, keys, n_keys, &s, err);
    json_t *o = json_pack("{s:s}", "artifact", art_digest);
    if (r == 0 && strcmp(s.digest, digest) != 0)
        r = kiln_errf(err, KILN_EVERIFY, "it names '%s'", s.digest);
    if (r == 0) {
        trusted = 1;
        json_object_set_new(o, "keyId", json_string(s.key_id));
        json_object_set_new(o, "created", json_string(s.created));
        json_object_set_new(o, "name", json_string(s.name));
        json_object_set_new(o, "version", json_string(s.version));
    } else {
        json_object_set_new(o, "error", json_string(err->msg));
    }
    json_object_set_new(o, "trusted", json_boolean(trusted));
    json_array_append_new(rep, o);
    signing_statement_release(&s);
}

/* Fills rep, returns KILN_EVERIFY naming the first trusted revocation. */
static int revocation_result(const char *digest, json_t *rep, struct kiln_err *err)
{
    size_t i;
    json_t *o;
    json_array_foreach(rep, i, o) {
        if (json_is_true(json_object_get(o, "trusted")))
            return kiln_errf(err, KILN_EVERIFY, "image '%s' is revoked: revocation '%s' signed by trusted key '%s' "
                             "at %s", digest, json_string_value(json_object_get(o, "artifact")),
                             json_string_value(json_object_get(o, "keyId")),
                             json_string_value(json_object_get(o, "created")));
    }
    return 0;
}

int signing_revocation_check_held(const struct signing_held_artifact *arts, size_t n, const char *digest,
                                  struct signing_pubkey *const *keys, size_t n_keys, json_t *rep,
                                  struct kiln_err *err)
{
    for (size_t i = 0; i < n; i++) {
        struct signing_artifact a;
        struct kiln_err e = KILN_ERR_INIT;
        int r = signing_artifact_from_held(&arts[i], SIGNING_AT_REVOCATION, SIGNING_MT_REVOCATION,
                                           SIGNING_PAYLOAD_LIMIT, digest, &a, &e);
        if (r != 1)
            revocation_one(&a, r, arts[i].digest, digest, keys, n_keys, rep, &e);
    }
    return revocation_result(digest, rep, err);
}

int signing_revocation_check_store(struct store *st, const char *digest, struct signing_pubkey *const *keys,
                                   size_t n_keys, json_t *rep, struct kiln_err *err)
{
    struct oci_desc *refs = NULL;
    size_t n = 0;
    int r = store_referrers(st, digest, SIGNING_AT_REVOCATION, &refs, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        struct signing_artifact a;
        struct kiln_err e = KILN_ERR_INIT;
        int cr = signing_artifact_read(st, &refs[i], SIGNING_AT_REVOCATION, SIGNING_MT_REVOCATION,
                                       SIGNING_PAYLOAD_LIMIT, digest, &a, &e);
        revocation_one(&a, cr, refs[i].digest, digest, keys, n_keys, rep, &e);
    }
    oci_desc_list_free(refs, n);
    return revocation_result(digest, rep, err);
}
