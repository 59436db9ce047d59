/* client.c - HTTP to a registry on libcurl: one request, its authentication
 * and its retries.  curl's errors are turned into kiln's here (CURLcode and
 * CURLOPT_ERRORBUFFER), and the registry's JSON error bodies too. */
#include "registry/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/log.h"
#include "common/curl-init.h"
#include "common/banned.h"

#define REG_IO_BUFFER (512 * 1024) /* curl's receive and send buffers, per client */

struct reg_client {
    CURL *curl;
    char *base;     /* "https://host[:port]" */
    char *host;
    char *repo;
    char *ca_file;
    char *user;
    char *password;
    char *token;    /* bearer token, once fetched */
    int basic;      /* the registry asked for Basic: send the credentials */
    int plain_http;
    unsigned max_attempts;
    unsigned max_retry_ms;
    char errbuf[CURL_ERROR_SIZE];
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void reg_client_free(struct reg_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->host);
    free(c->repo);
    free(c->ca_file);
    free(c->user);
    wipe_free(c->password);
    wipe_free(c->token);
    free(c);
}

static int client_alloc(struct reg_client **out, struct kiln_err *err)
{
    *out = NULL;
    int ir = curl_init_once(err);
    if (ir < 0)
        return ir;
    struct reg_client *c = xcalloc(1, sizeof(*c));
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return kiln_errf(err, KILN_ENOMEM, "cannot create a curl handle");
    }
    *out = c;
    return 0;
}

int reg_client_new(const struct registry_ref *ref, const struct registry_opts *o, struct reg_client **out,
                   struct kiln_err *err)
{
    struct reg_client *c;
    int r = client_alloc(&c, err);
    if (r < 0)
        return r;
    c->plain_http = ref->plain_http;
    c->base = xasprintf("%s://%s", ref->plain_http ? "http" : "https", ref->host);
    c->host = xstrdup(ref->host);
    c->repo = xstrdup(ref->repo);
    c->ca_file = dup_or_null(o->ca_file);
    c->user = dup_or_null(o->user);
    c->password = dup_or_null(o->password);
    c->max_attempts = o->max_attempts ? o->max_attempts : 5;
    c->max_retry_ms = o->max_retry_ms ? o->max_retry_ms : 60000;
    *out = c;
    return 0;
}

int reg_client_dup(const struct reg_client *src, struct reg_client **out, struct kiln_err *err)
{
    struct reg_client *c;
    int r = client_alloc(&c, err);
    if (r < 0)
        return r;
    c->plain_http = src->plain_http;
    c->base = xstrdup(src->base);
    c->host = xstrdup(src->host);
    c->repo = xstrdup(src->repo);
    c->ca_file = dup_or_null(src->ca_file);
    c->user = dup_or_null(src->user);
    c->password = dup_or_null(src->password);
    c->token = dup_or_null(src->token);
    c->basic = src->basic;
    c->max_attempts = src->max_attempts;
    c->max_retry_ms = src->max_retry_ms;
    *out = c;
    return 0;
}

const char *reg_client_host(const struct reg_client *c)
{
    return c->host;
}

const char *reg_client_repo(const struct reg_client *c)
{
    return c->repo;
}

/* "registry 'H' repository 'R'", or "registry 'H'" for a client of no
 * repository (registry_login).  Caller-owned. */
static char *where(const struct reg_client *c)
{
    return c->repo[0] ? xasprintf("registry '%s' repository '%s'", c->host, c->repo)
                      : xasprintf("registry '%s'", c->host);
}

char *reg_path(const struct reg_client *c, const char *rest)
{
    return xasprintf("/v2/%s/%s", c->repo, rest);
}

char *reg_url(const struct reg_client *c, const char *location, const char *query)
{
    const char *sep = strchr(location, '?') ? "&" : "?";
    if (location[0] == '/')
        return query ? xasprintf("%s%s%s%s", c->base, location, sep, query) : xasprintf("%s%s", c->base, location);
    return query ? xasprintf("%s%s%s", location, sep, query) : xstrdup(location);
}

/* ---- one attempt ---------------------------------------------------------- */

static void resp_clear_headers(struct reg_resp *r)
{
    char **all[] = { &r->location, &r->digest, &r->content_type, &r->range, &r->etag,
                     &r->www_auth, &r->oci_subject, &r->retry_after, &r->content_range };
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

void reg_resp_release(struct reg_resp *r)
{
    resp_clear_headers(r);
    buf_release(&r->body);
    r->status = 0;
    r->dropped = 0;
    r->over = 0;
}

static void resp_reset(struct reg_resp *r, size_t limit)
{
    reg_resp_release(r);
    buf_init(&r->body, limit ? limit : REGISTRY_SMALL_LIMIT);
}

struct body_src {
    const char *data;
    int fd;
    uint64_t start, off, end;
    int read_errno;
};

static size_t read_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body_src *b = ud;
    uint64_t want = (uint64_t)size * nmemb;
    if (want > b->end - b->off)
        want = b->end - b->off;
    if (want == 0)
        return 0;
    if (b->data) {
        memcpy(ptr, b->data + b->off, (size_t)want);
    } else {
        ssize_t n;
        do
            n = pread(b->fd, ptr, (size_t)want, (off_t)b->off);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            b->read_errno = n < 0 ? errno : EIO;
            return CURL_READFUNC_ABORT;
        }
        want = (uint64_t)n;
    }
    b->off += want;
    return (size_t)want;
}

static int seek_cb(void *ud, curl_off_t offset, int origin)
{
    struct body_src *b = ud;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > b->end - b->start)
        return CURL_SEEKFUNC_CANTSEEK;
    b->off = b->start + (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Keeps the body up to limit; past it, a strict sink fails the transfer and
 * a loose one (the caller wants no body: only an error body is kept) drops the rest. */
struct sink {
    struct buf *b;
    size_t limit;
    int strict;
    int over;
    CURL *h;
    const struct reg_req *q; /* q->sink: the body of a 2xx answer goes there */
    uint64_t streamed;
    const struct reg_resp *resp;
    uint64_t skip;            /* q->from answered by a 200: bytes of it still to drop */
    int started;              /* the body of a 2xx answer began */
    int bad_range;            /* a 206 for another range than asked */
};

/* The first bytes of a 2xx body for a request with q->from: a 206 must be
 * the range asked for ("bytes FROM-..."), a 200 is skipped up to FROM. */
static int range_start(struct sink *s, long code)
{
    s->started = 1;
    if (!s->q->from)
        return 0;
    if (code == 200) {
        s->skip = s->q->from;
        return 0;
    }
    char want[64];
    snprintf(want, sizeof(want), "bytes %llu-", (unsigned long long)s->q->from);
    const char *cr = s->resp->content_range;
    return code == 206 && cr && !strncmp(cr, want, strlen(want)) ? 0 : -1;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    long code = 0;
    if (s->q->sink && curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code >= 200 &&
        code < 300) {
        if (!s->started && range_start(s, code) < 0) {
            s->bad_range = 1;
            return 0;
        }
        if (s->skip) {
            size_t k = n < s->skip ? n : (size_t)s->skip;
            s->skip -= k;
            ptr += k;
            n -= k;
            if (n == 0)
                return size * nmemb;
        }
        if (n > s->q->limit - s->streamed) {
            s->over = 1;
            return 0;
        }
        s->streamed += n;
        return s->q->sink(s->q->sink_ud, ptr, n) < 0 ? 0 : size * nmemb;
    }
    if (s->q->sink && s->b->len + n > REGISTRY_SMALL_LIMIT)
        return n; /* an error body: keep its start */
    if (s->b->len + n > s->limit || buf_add(s->b, ptr, n, NULL) < 0) {
        if (!s->strict)
            return n;
        s->over = 1;
        return 0;
    }
    return n;
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *ud)
{
    struct reg_resp *r = ud;
    size_t n = size * nitems;
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
        resp_clear_headers(r); /* a new answer (after 100 Continue) */
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    static const struct { const char *name; size_t off; } names[] = {
        { "Location", offsetof(struct reg_resp, location) },
        { "Docker-Content-Digest", offsetof(struct reg_resp, digest) },
        { "Content-Type", offsetof(struct reg_resp, content_type) },
        { "Range", offsetof(struct reg_resp, range) },
        { "ETag", offsetof(struct reg_resp, etag) },
        { "WWW-Authenticate", offsetof(struct reg_resp, www_auth) },
        { "OCI-Subject", offsetof(struct reg_resp, oci_subject) },
        { "Retry-After", offsetof(struct reg_resp, retry_after) },
        { "Content-Range", offsetof(struct reg_resp, content_range) },
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (strlen(names[i].name) == nlen && !strncasecmp(line, names[i].name, nlen)) {
            char **slot = (char **)((char *)r + names[i].off);
            free(*slot);
            *slot = xstrndup(v, (size_t)(end - v));
        }
    }
    return n;
}

enum { AUTH_NONE = 0, AUTH_REGISTRY = 1, AUTH_BASIC_ONLY = 2 };

/* 1 if url is on the registry itself (credentials may go there). */
static int same_origin(const struct reg_client *c, const char *url)
{
    size_t n = strlen(c->base);
    return !strncmp(url, c->base, n) && (url[n] == '/' || url[n] == '?' || url[n] == '\0');
}

/* One request, no retries.  Returns the CURLcode; *over when the body passed its limit. */
static CURLcode perform(struct reg_client *c, const struct reg_req *q, const char *url, int auth,
                        struct reg_resp *resp, int *over, int *read_errno)
{
    CURL *h = c->curl;
    if (auth == AUTH_REGISTRY && !same_origin(c, url))
        auth = AUTH_NONE; /* an upload URL on another host gets no credentials */
    curl_easy_reset(h);
    c->errbuf[0] = '\0';
    struct body_src src = { .data = q->data, .fd = q->fd, .start = q->data ? 0 : q->off,
                            .off = q->data ? 0 : q->off, .end = (q->data ? 0 : q->off) + q->len };
    struct sink sink = { &resp->body, q->limit ? q->limit : REGISTRY_SMALL_LIMIT, q->limit != 0 && !q->sink, 0, h, q,
                         0, resp, 0, 0, 0 };
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    _cleanup_free_ char *ct = q->content_type ? xasprintf("Content-Type: %s", q->content_type) : NULL;
    _cleanup_free_ char *acc = q->accept ? xasprintf("Accept: %s", q->accept) : NULL;
    _cleanup_free_ char *rng = q->range ? xasprintf("Content-Range: %s", q->range) : NULL;
    _cleanup_free_ char *from = q->from ? xasprintf("Range: bytes=%llu-", (unsigned long long)q->from) : NULL;
    _cleanup_free_ char *bearer = auth == AUTH_REGISTRY && c->token ? xasprintf("Authorization: Bearer %s", c->token)
                                                                    : NULL;
    if (ct)
        hdrs = curl_slist_append(hdrs, ct);
    if (acc)
        hdrs = curl_slist_append(hdrs, acc);
    if (rng)
        hdrs = curl_slist_append(hdrs, rng);
    if (from)
        hdrs = curl_slist_append(hdrs, from);
    if (q->header)
        hdrs = curl_slist_append(hdrs, q->header);
    if (bearer)
        hdrs = curl_slist_append(hdrs, bearer);

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kiln/" KILN_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    /* blobs stream through in large pieces: fewer reads, writes and wakeups */
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)REG_IO_BUFFER);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, (long)REG_IO_BUFFER);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    if ((auth == AUTH_BASIC_ONLY || (auth == AUTH_REGISTRY && c->basic && !c->token)) && c->user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->password ? c->password : "");
    }
    const char *m = q->method;
    if (!strcmp(m, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(m, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(m, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        if (q->has_body) {
            curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
            curl_easy_setopt(h, CURLOPT_READDATA, &src);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
        } else {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        }
    } else {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &src);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(q->has_body ? q->len : 0));
        if (strcmp(m, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &src);

    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    resp->status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    *over = sink.over;
    *read_errno = src.read_errno;
    if (sink.bad_range)
        *over = -1;
    return cc;
}

static int cc_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* Sleeps before attempt number `attempt` (1, 2, ...); 0 when the budget is spent. */
static int backoff(struct reg_client *c, unsigned attempt, const char *retry_after, unsigned *waited_ms)
{
    if (attempt >= c->max_attempts)
        return 0;
    unsigned ms = 250u << (attempt < 6 ? attempt - 1 : 5);
    if (retry_after) {
        char *end;
        unsigned long s = strtoul(retry_after, &end, 10);
        if (end != retry_after && *end == '\0' && s <= 60 && s * 1000 > ms)
            ms = (unsigned)s * 1000;
    }
    if (*waited_ms + ms > c->max_retry_ms)
        return 0;
    *waited_ms += ms;
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return 1;
}

static int curl_fail(struct reg_client *c, const char *what, CURLcode cc, struct kiln_err *err)
{
    _cleanup_free_ char *w = where(c);
    return kiln_errf(err, KILN_EFAIL, "%s: %s: %s", w, what, c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
}

/* Attempts q until it gets an HTTP answer that is not 429/5xx, retrying with backoff. */
static int attempts(struct reg_client *c, const struct reg_req *q, const char *url, int auth, struct reg_resp *resp,
                    struct kiln_err *err)
{
    unsigned waited = 0;
    for (unsigned attempt = 1;; attempt++) {
        resp_reset(resp, q->limit);
        int over = 0, rerr = 0;
        CURLcode cc = perform(c, q, url, auth, resp, &over, &rerr);
        if (over < 0) {
            _cleanup_free_ char *w = where(c);
            return kiln_errf(err, KILN_EVERIFY, "%s: %s: asked for bytes from %llu on, the registry answered "
                             "Content-Range '%s'", w, q->what, (unsigned long long)q->from,
                             resp->content_range ? resp->content_range : "(none)");
        }
        if (over) {
            resp->over = 1;
            _cleanup_free_ char *w = where(c);
            return kiln_errf(err, KILN_EINVAL, "%s: %s: the answer is larger than %zu bytes", w, q->what, q->limit);
        }
        if (rerr)
            return kiln_errno(err, KILN_EFAIL, rerr, "%s: cannot read the blob being sent", q->what);
        if (cc != CURLE_OK) {
            if (!cc_retryable(cc))
                return curl_fail(c, q->what, cc, err);
            if (q->no_retry) {
                resp->dropped = 1;
                return curl_fail(c, q->what, cc, err);
            }
            if (!backoff(c, attempt, NULL, &waited))
                return curl_fail(c, q->what, cc, err);
            continue;
        }
        if ((resp->status == 429 || resp->status >= 500) && !q->no_retry &&
            backoff(c, attempt, resp->retry_after, &waited))
            continue;
        return 0;
    }
}

/* ---- authentication -------------------------------------------------------- */

static int fetch_token(struct reg_client *c, const struct registry_challenge *ch, struct kiln_err *err)
{
    if (strncmp(ch->realm, "https://", 8) != 0 && !(c->plain_http && !strncmp(ch->realm, "http://", 7)))
        return kiln_errf(err, KILN_EFAIL, "registry '%s': token realm '%s' is not an https:// URL", c->host,
                         ch->realm);
    struct buf url BUF_CLEANUP = BUF_INIT;
    buf_adds(&url, ch->realm, NULL);
    char sep = strchr(ch->realm, '?') ? '&' : '?';
    const char *params[3][2] = { { "service", ch->service }, { "scope", ch->scope }, { "scope", NULL } };
    /* a client of no repository (registry_login) asks for no scope of its own */
    _cleanup_free_ char *own = c->repo[0] ? xasprintf("repository:%s:pull,push", c->repo) : NULL;
    if (own && (!ch->scope || strcmp(ch->scope, own) != 0))
        params[2][1] = own;
    for (size_t i = 0; i < 3; i++) {
        if (!params[i][1])
            continue;
        char *e = curl_easy_escape(c->curl, params[i][1], 0);
        if (!e)
            return kiln_errf(err, KILN_ENOMEM, "out of memory");
        buf_addf(&url, NULL, "%c%s=%s", sep, params[i][0], e);
        curl_free(e);
        sep = '&';
    }
    _cleanup_free_ char *what = xasprintf("token from '%s'", ch->realm);
    struct reg_req q = { .method = "GET", .url = url.data, .what = what, .limit = REGISTRY_SMALL_LIMIT, .fd = -1 };
    struct reg_resp resp = { 0 };
    int r = attempts(c, &q, url.data, AUTH_BASIC_ONLY, &resp, err);
    if (r == 0 && resp.status != 200)
        r = reg_status_err(c, &q, &resp, err);
    json_t *j = r == 0 ? json_loadb(resp.body.data, resp.body.len, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (r == 0 && (!tok || !tok[0]))
        r = kiln_errf(err, KILN_EFAIL, "registry '%s': %s: the answer holds no token", c->host, what);
    if (r == 0) {
        wipe_free(c->token);
        c->token = xstrdup(tok);
    }
    json_decref(j);
    if (resp.body.data)
        explicit_bzero(resp.body.data, resp.body.len);
    reg_resp_release(&resp);
    return r;
}

int reg_do(struct reg_client *c, const struct reg_req *q, struct reg_resp *resp, struct kiln_err *err)
{
    _cleanup_free_ char *url = q->url[0] == '/' ? xasprintf("%s%s", c->base, q->url) : xstrdup(q->url);
    if (!c->plain_http && strncmp(url, "https://", 8) != 0) {
        _cleanup_free_ char *w = where(c);
        return kiln_errf(err, KILN_EFAIL, "%s: %s: the registry sent a URL that is not https:// ('%s')", w, q->what,
                         url);
    }
    for (int round = 0;; round++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = attempts(c, q, url, AUTH_REGISTRY, resp, err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        kiln_log(KILN_LOG_DEBUG, "%s: HTTP %ld in %.1f ms", q->what, resp->status,
                 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        if (r < 0 || resp->status != 401 || round > 0 || !resp->www_auth)
            return r;
        struct registry_challenge ch;
        if (registry_challenge_parse(resp->www_auth, &ch, NULL) < 0)
            return 0;
        if (!strcasecmp(ch.scheme, "Basic")) {
            int again = c->user && !c->basic;
            c->basic = 1;
            registry_challenge_release(&ch);
            if (!again)
                return 0;
            continue;
        }
        r = fetch_token(c, &ch, err);
        registry_challenge_release(&ch);
        if (r < 0)
            return r;
    }
}

int reg_ping(struct reg_client *c, struct kiln_err *err)
{
    struct reg_req q = { .method = "GET", .url = "/v2/", .what = "GET /v2/", .fd = -1 };
    struct reg_resp resp = { 0 };
    int r = reg_do(c, &q, &resp, err);
    if (r == 0 && resp.status != 200)
        r = reg_status_err(c, &q, &resp, err);
    reg_resp_release(&resp);
    return r;
}

int registry_login(const char *host, int plain_http, const struct registry_opts *o, struct kiln_err *err)
{
    struct registry_ref ref = { .plain_http = plain_http, .host = (char *)host, .repo = (char *)"" };
    struct reg_client *c;
    int r = reg_client_new(&ref, o, &c, err);
    if (r < 0)
        return r;
    r = reg_ping(c, err);
    reg_client_free(c);
    return r;
}

int reg_status_err(const struct reg_client *c, const struct reg_req *q, const struct reg_resp *resp,
                   struct kiln_err *err)
{
    _cleanup_free_ char *msg = registry_error_body_message(resp->body.data, resp->body.len);
    const char *hint = "";
    if (resp->status == 401 && !c->user)
        hint = "; no credentials for this registry in the docker config";
    if (!msg && resp->status == 401)
        msg = xstrdup("UNAUTHORIZED: authentication required");
    else if (!msg && resp->status == 403)
        msg = xstrdup("DENIED: access denied");
    _cleanup_free_ char *w = where(c);
    if (msg)
        return kiln_errf(err, KILN_EFAIL, "%s: %s: %s (HTTP %ld)%s", w, q->what, msg, resp->status, hint);
    return kiln_errf(err, KILN_EFAIL, "%s: %s: HTTP %ld%s", w, q->what, resp->status, hint);
}
