/* client.h - one connection to one repository of a registry (inside registry/).
 *
 * A client owns one curl easy handle and is used by one thread at a time;
 * parallel transfers each get their own (registry_client_dup).  It carries
 * what it learned about authentication (Basic asked for, the bearer token).
 *
 * reg_do() sends one request: it answers a 401 once with credentials (Basic,
 * or a bearer token fetched from the challenge's realm), retries 429, 5xx
 * and dropped connections with backoff (unless the request says not to),
 * and returns 0 when an HTTP answer came, whatever its status: the caller
 * checks the status, and reg_status_err() turns an unexpected one into an
 * error naming the registry, the repository and the registry's code. */
#ifndef KILN_REGISTRY_CLIENT_H
#define KILN_REGISTRY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "registry/registry.h"

struct reg_client;

/* *out: reg_client_free(). */
int reg_client_new(const struct registry_ref *ref, const struct registry_opts *o, struct reg_client **out,
                   struct kiln_err *err);
/* A second client for the same repository (another thread), with what c
 * learned about authentication. */
int reg_client_dup(const struct reg_client *c, struct reg_client **out, struct kiln_err *err);
void reg_client_free(struct reg_client *c);

/* Borrowed from the client. */
const char *reg_client_host(const struct reg_client *c);
const char *reg_client_repo(const struct reg_client *c);

struct reg_req {
    const char *method;       /* GET HEAD POST PUT PATCH */
    const char *url;          /* absolute, or a path ("/v2/...") on the registry */
    const char *what;         /* names the request in errors: "PUT manifest 'sha256:...'" */
    const char *content_type; /* of the body, or NULL */
    const char *accept;       /* or NULL */
    const char *header;       /* one more header line ("If-Match: ..."), or NULL */
    const char *range;        /* Content-Range value, or NULL */
    /* the body: data/len from memory, or len bytes of fd from off; none when !has_body */
    int has_body;
    const void *data;
    int fd;
    uint64_t off;
    uint64_t len;
    size_t limit;             /* keep at most this much of the response body; 0 = drop it */
    /* With a sink, the body of a 2xx answer goes to sink (at most `limit`
     * bytes: past them the transfer stops, resp.over) instead of resp.body;
     * a sink that returns < 0 stops the transfer (reg_do fails; the sink
     * keeps its own error).  Use with no_retry: a retry would send it the
     * body again. */
    int (*sink)(void *ud, const void *data, size_t len);
    void *sink_ud;
    int no_retry;             /* a dropped connection is returned (resp.dropped), not retried */
    /* With a sink: ask for the body from this offset on (Range: bytes=FROM-).
     * A 206 must answer with exactly that range (Content-Range), a 200 with
     * the whole body, whose first FROM bytes are then skipped: the sink gets
     * the bytes from FROM on either way. */
    uint64_t from;
};

struct reg_resp {
    long status;
    int dropped;              /* no_retry and the connection dropped */
    int over;                 /* the body was longer than the request's limit (reg_do failed) */
    struct buf body;
    char *location;
    char *digest;             /* Docker-Content-Digest */
    char *content_type;
    char *range;
    char *etag;
    char *www_auth;
    char *oci_subject;
    char *retry_after;
    char *content_range;
};

void reg_resp_release(struct reg_resp *r);

int reg_do(struct reg_client *c, const struct reg_req *q, struct reg_resp *resp, struct kiln_err *err);
/* Sets err to KILN_EVERIFY: "registry 'H' repository 'R': <formatted>", for
 * what the registry sent that does not check out.  Returns KILN_EVERIFY. */
int reg_bad(const struct reg_client *c, struct kiln_err *err, const char *fmt, ...) KILN_PRINTF(3, 4);
/* 1 when a Content-Type value (parameters after ';' ignored) is mt. */
int reg_content_type_is(const char *ct, const char *mt);

/* A manifest or index as fetched: its bytes, parsed, the digest they hash
 * to and the ETag it came with.  Embedded: reg_manifest_release(). */
struct oci_manifest;
struct reg_manifest {
    struct buf body;
    struct oci_manifest *m;
    char digest[DIGEST_STR_SIZE];
    char *etag;
};

/* GETs manifests/<ref> and checks it: at most REGISTRY_MANIFEST_LIMIT bytes,
 * hashing to want_digest (may be NULL) and to the Docker-Content-Digest it
 * came with, an OCI manifest or index (want_mt when not NULL) whose
 * mediaType is its Content-Type, never a document with both `manifests` and
 * `layers`/`config` (CVE-2021-41190).  What fails a check is KILN_EVERIFY
 * naming the registry and the repository; a 404 is KILN_ENOTFOUND. */
int reg_manifest_get(struct reg_client *c, const char *ref, const char *want_digest, const char *want_mt,
                     struct reg_manifest *out, struct kiln_err *err);
void reg_manifest_release(struct reg_manifest *m);

/* GET /v2/: the registry answers and takes our credentials. */
int reg_ping(struct reg_client *c, struct kiln_err *err);
/* Sets err for an answer whose status the caller did not expect: names the
 * registry, the repository, q->what, the registry's error code(s) and the
 * HTTP status.  401/403/4xx/5xx are KILN_EFAIL.  Returns err->code. */
int reg_status_err(const struct reg_client *c, const struct reg_req *q, const struct reg_resp *resp,
                   struct kiln_err *err);
/* An absolute URL for a Location the registry sent (may be a path), with
 * `query` ("digest=...", may be NULL) added.  Caller-owned. */
char *reg_url(const struct reg_client *c, const char *location, const char *query);
/* A path "/v2/<repo>/<rest>".  Caller-owned. */
char *reg_path(const struct reg_client *c, const char *rest);

#endif
