/* manifest.c - a manifest or index fetched from a registry and checked
 * before anyone looks inside (push reads the referrers tag with it, pull
 * every manifest). */
#include "registry/client.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "common/hash.h"
#include "images/manifest.h"
#include "common/banned.h"

#define MANIFEST_ACCEPT OCI_MT_MANIFEST ", " OCI_MT_INDEX

int reg_bad(const struct reg_client *c, struct kiln_err *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kiln_errf(err, KILN_EVERIFY, "registry '%s' repository '%s': %s", reg_client_host(c), reg_client_repo(c),
                     msg);
}

int reg_content_type_is(const char *ct, const char *mt)
{
    if (!ct)
        return 0;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == strlen(mt) && !strncasecmp(ct, mt, n);
}

void reg_manifest_release(struct reg_manifest *m)
{
    buf_release(&m->body);
    oci_manifest_free(m->m);
    free(m->etag);
    memset(m, 0, sizeof(*m));
}

/* The checks of reg_manifest_get() on what came back. */
static int check(struct reg_client *c, const char *ref, const char *want_digest, const char *want_mt,
                 const struct reg_resp *resp, struct reg_manifest *out, struct kiln_err *err)
{
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(resp->body.data, resp->body.len, hex);
    snprintf(out->digest, sizeof(out->digest), "sha256:%s", hex);
    if (want_digest && strcmp(out->digest, want_digest) != 0)
        return reg_bad(c, err, "manifest '%s' came as content with digest '%s'", want_digest, out->digest);
    if (resp->digest && strcmp(resp->digest, out->digest) != 0)
        return reg_bad(c, err, "manifest '%s': Docker-Content-Digest says '%s', the content hashes to '%s'", ref,
                       resp->digest, out->digest);
    /* The parser refuses a document that is both an index and a manifest
     * (CVE-2021-41190). */
    if (oci_manifest_parse(resp->body.data, resp->body.len, &out->m, err) < 0)
        return reg_bad(c, err, "manifest '%s': %s", ref, err->msg);
    const char *mt = out->m->media_type;
    if (!reg_content_type_is(resp->content_type, mt))
        return reg_bad(c, err, "manifest '%s' says mediaType '%s' but came as Content-Type '%s'", ref, mt,
                       resp->content_type ? resp->content_type : "(none)");
    if (!oci_media_type_is_manifest(mt) && !oci_media_type_is_index(mt))
        return reg_bad(c, err, "manifest '%s' is a '%s', not an OCI manifest or index", ref, mt);
    if (want_mt && strcmp(mt, want_mt) != 0)
        return reg_bad(c, err, "manifest '%s' is a '%s', not a '%s'", ref, mt, want_mt);
    return 0;
}

int reg_manifest_get(struct reg_client *c, const char *ref, const char *want_digest, const char *want_mt,
                     struct reg_manifest *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    _cleanup_free_ char *rest = xasprintf("manifests/%s", ref);
    _cleanup_free_ char *path = reg_path(c, rest);
    _cleanup_free_ char *what = xasprintf("GET manifest '%s'", ref);
    struct reg_req q = { .method = "GET", .url = path, .what = what, .fd = -1, .accept = MANIFEST_ACCEPT,
                         .limit = REGISTRY_MANIFEST_LIMIT };
    struct reg_resp resp = { 0 };
    int r = reg_do(c, &q, &resp, err);
    if (r < 0 && resp.over)
        r = reg_bad(c, err, "manifest '%s' is larger than %u bytes", ref, REGISTRY_MANIFEST_LIMIT);
    else if (r == 0 && resp.status == 404)
        r = err ? (reg_status_err(c, &q, &resp, err), err->code = KILN_ENOTFOUND) : KILN_ENOTFOUND;
    else if (r == 0 && resp.status != 200)
        r = reg_status_err(c, &q, &resp, err);
    if (r == 0)
        r = check(c, ref, want_digest, want_mt, &resp, out, err);
    if (r == 0) {
        out->body = resp.body;
        memset(&resp.body, 0, sizeof(resp.body));
        out->etag = TAKE_PTR(resp.etag);
    } else {
        reg_manifest_release(out);
    }
    reg_resp_release(&resp);
    return r;
}
