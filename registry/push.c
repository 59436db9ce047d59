/* push.c - an image from the store to a registry (see registry.h):
 *   1. check that the registry answers and takes our credentials (GET /v2/);
 *   2. collect the image's closure (store_walk) and the closure of every
 *      referrer of each of its manifests; a manifest the registry has
 *      already (HEAD) is not sent again, nor is anything it reaches;
 *   3. send the referrers' blobs, `jobs` at a time, each skipped when HEAD
 *      finds it, then PUT the referrers' manifests; when the registry has no
 *      referrers API, write the index tagged "sha256-<hex of the subject>"
 *      that lists them (read, merge, conditional write);
 *   4. send the image's blobs the same way: the referrers tag's settle time
 *      (see fallback_finish) runs meanwhile;
 *   5. PUT the manifests bottom-up, all but the top one;
 *   6. read the referrers tag back once it settled (merge and write again
 *      when another pusher replaced it);
 *   7. PUT the top manifest under its tag: whoever pulls by the tag finds
 *      its referrers there already. */
#include "registry/registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/hash.h"
#include "common/log.h"
#include "images/manifest.h"
#include "images/store.h"
#include "registry/client.h"
#include "signing/signing.h"
#include "common/banned.h"

#define MAX_JOBS 16
#define MAX_RESTARTS 3     /* a blob upload started over from POST */
#define MAX_RESUMES 16     /* a chunked upload picked up again after a drop */
#define RESUME_WAIT_MS 60000 /* how long a dropped chunked upload waits for the registry to answer again */
#define FALLBACK_ROUNDS 5  /* read-merge-write rounds on the referrers tag */
#define FALLBACK_SETTLE_MS 1000 /* from writing it to reading it back */

/* A growable list of descriptors. */
struct desc_list {
    struct oci_desc *v;
    size_t n, cap;
};

static void desc_list_add(struct desc_list *l, const struct oci_desc *d)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    oci_desc_copy(&l->v[l->n++], d);
}

/* The index of digest in l, or -1. */
static ssize_t desc_list_find(const struct desc_list *l, const char *digest)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].digest, digest))
            return (ssize_t)i;
    return -1;
}

static int desc_list_has(const struct desc_list *l, const char *digest)
{
    return desc_list_find(l, digest) >= 0;
}

static void desc_list_release(struct desc_list *l)
{
    oci_desc_list_free(l->v, l->n);
    memset(l, 0, sizeof(*l));
}

/* A referrer to push: its manifest and the subject it refers to. */
struct referrer {
    struct oci_desc d;
    char *subject;
    int present;                 /* the registry has its manifest (and so its blobs) already */
};

/* The referrers tag of one subject, while kiln adds to it. */
struct fallback {
    const char *subject;         /* borrowed from push.manifests */
    char *tag;                   /* "sha256-<hex>" */
    json_t *mine;                /* the entries kiln adds */
    int rounds;                  /* reads so far */
    int pending;                 /* written, not yet read back */
    struct timespec written;     /* when (CLOCK_MONOTONIC) */
};

struct push {
    struct store *st;
    struct reg_client *cl;
    const struct registry_push_opts *o;
    struct registry_push_result *res;
    struct desc_list blobs;      /* every other non-manifest blob of the image, once */
    struct desc_list ref_blobs;  /* every blob of the referrers (one the image has too included), once */
    struct desc_list manifests;  /* the image's manifests, parents first */
    struct referrer *refs;
    size_t n_refs;
    struct fallback *fbs;        /* the referrers tags being written */
    size_t n_fbs;
};

struct collect {
    struct push *p;
    struct desc_list *manifests;  /* where manifests go (the referrers' are not kept here) */
    struct desc_list *blobs;      /* where other blobs go */
};

static int is_manifest_type(const char *mt)
{
    return oci_media_type_is_manifest(mt) || oci_media_type_is_index(mt);
}

static int collect_cb(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    (void)parent;
    (void)err;
    struct collect *c = ud;
    if (is_manifest_type(d->media_type)) {
        if (c->manifests && !desc_list_has(c->manifests, d->digest))
            desc_list_add(c->manifests, d);
    } else if (!desc_list_has(c->blobs, d->digest)) {
        struct desc_list *img = &c->p->blobs;
        ssize_t i = c->blobs == img ? -1 : desc_list_find(img, d->digest);
        desc_list_add(c->blobs, d);
        if (i >= 0) { /* the image has it too: it goes up with the referrers, before them */
            oci_desc_release(&img->v[i]);
            img->v[i] = img->v[--img->n];
        }
    }
    return 0;
}

/* HEAD manifests/<digest>: 1 when the repository has that manifest, 0 when
 * not (any other answer too: the push then sends it, and a real problem
 * shows there).  A registry stores a manifest only once every blob and
 * manifest it names is there (MANIFEST_BLOB_UNKNOWN otherwise), so what a
 * present manifest reaches need not be sent, or asked about, again. */
static int manifest_exists(struct push *p, const struct oci_desc *d, struct kiln_err *err)
{
    _cleanup_free_ char *rest = xasprintf("manifests/%s", d->digest);
    _cleanup_free_ char *path = reg_path(p->cl, rest);
    _cleanup_free_ char *what = xasprintf("HEAD manifest '%s'", d->digest);
    struct reg_req q = { .method = "HEAD", .url = path, .what = what, .fd = -1, .accept = d->media_type };
    struct reg_resp resp = { 0 };
    int r = reg_do(p->cl, &q, &resp, err);
    int yes = r == 0 && resp.status == 200 && (!resp.digest || !strcmp(resp.digest, d->digest));
    reg_resp_release(&resp);
    return r < 0 ? r : yes;
}

/* The blobs of referrers the registry has, once, that no other list holds:
 * skipped. */
static int present_cb(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    (void)parent;
    (void)err;
    struct collect *c = ud;
    if (!is_manifest_type(d->media_type) && !desc_list_has(c->blobs, d->digest) &&
        !desc_list_has(&c->p->blobs, d->digest) && !desc_list_has(&c->p->ref_blobs, d->digest))
        desc_list_add(c->blobs, d);
    return 0;
}

/* Every referrer of every manifest of the image, with the blobs of those
 * the registry lacks. */
static int collect_referrers(struct push *p, struct kiln_err *err)
{
    struct desc_list skipped = { 0 };
    int r = 0;
    for (size_t i = 0; r == 0 && i < p->manifests.n; i++) {
        struct oci_desc *v = NULL;
        size_t n = 0;
        if ((r = store_referrers(p->st, p->manifests.v[i].digest, NULL, &v, &n, err)) < 0)
            break;
        for (size_t k = 0; k < n && r == 0; k++) {
            int present = manifest_exists(p, &v[k], err);
            if (present < 0) {
                r = present;
                break;
            }
            struct collect c = { p, NULL, present ? &skipped : &p->ref_blobs };
            if ((r = store_walk(p->st, &v[k], 0, present ? present_cb : collect_cb, &c, err)) < 0)
                break;
            p->refs = xrealloc(p->refs, (p->n_refs + 1) * sizeof(*p->refs));
            oci_desc_copy(&p->refs[p->n_refs].d, &v[k]);
            p->refs[p->n_refs].present = present;
            p->refs[p->n_refs++].subject = xstrdup(p->manifests.v[i].digest);
        }
        oci_desc_list_free(v, n);
    }
    p->res->blobs_skipped += skipped.n;
    desc_list_release(&skipped);
    return r;
}

/* ---- blobs ----------------------------------------------------------------- */

struct counts {
    uint64_t pushed, skipped, bytes, mounted;
};

enum { RESTART = 1 };

/* An answer that means "start the upload over": err keeps what the registry said. */
static int restart(const struct reg_client *cl, const struct reg_req *q, const struct reg_resp *resp,
                   struct kiln_err *err)
{
    reg_status_err(cl, q, resp, err);
    return RESTART;
}

static int restartf(struct kiln_err *err, const char *fmt, ...) KILN_PRINTF(2, 3);
static int restartf(struct kiln_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = KILN_EFAIL;
    return RESTART;
}

/* The end of a Range header "0-N" (or "bytes=0-N"): the next offset, N + 1. */
static int range_next(const char *range, uint64_t *next)
{
    const char *dash = range ? strrchr(range, '-') : NULL;
    if (!dash)
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(dash + 1, &end, 10);
    if (errno || end == dash + 1 || *end)
        return -1;
    *next = (uint64_t)n + 1;
    return 0;
}

/* POST blobs/uploads/: *loc the upload's URL.  With `from` (a repository on
 * the same registry), asks to mount the blob from there: a registry that does
 * answers 201 (*mounted = 1, no upload), one that cannot starts an upload. */
static int start_upload(struct reg_client *cl, const char *digest, const char *from, char **loc, int *mounted,
                        struct kiln_err *err)
{
    *mounted = 0;
    _cleanup_free_ char *rest = from ? xasprintf("blobs/uploads/?mount=sha256%%3A%s&from=%s", digest_hex(digest), from)
                                     : xstrdup("blobs/uploads/");
    _cleanup_free_ char *path = reg_path(cl, rest);
    _cleanup_free_ char *what = from ? xasprintf("POST mount of blob '%s' from '%s'", digest, from)
                                     : xasprintf("POST upload of blob '%s'", digest);
    struct reg_req q = { .method = "POST", .url = path, .what = what, .fd = -1 };
    struct reg_resp resp = { 0 };
    int r = reg_do(cl, &q, &resp, err);
    if (r == 0 && from && resp.status == 201) {
        if (resp.digest && strcmp(resp.digest, digest) != 0)
            r = kiln_errf(err, KILN_EVERIFY, "registry '%s' repository '%s': mounted blob '%s' as '%s'",
                          reg_client_host(cl), reg_client_repo(cl), digest, resp.digest);
        *mounted = r == 0;
        reg_resp_release(&resp);
        return r;
    }
    if (r == 0 && resp.status != 202)
        r = reg_status_err(cl, &q, &resp, err);
    if (r == 0 && !resp.location)
        r = kiln_errf(err, KILN_EFAIL, "registry '%s' repository '%s': %s: no Location in the answer",
                      reg_client_host(cl), reg_client_repo(cl), what);
    if (r == 0)
        *loc = TAKE_PTR(resp.location);
    reg_resp_release(&resp);
    return r;
}

/* PUT <loc>?digest=D with body [0, body_len) of fd (none when body_len == 0). */
static int finish_upload(struct reg_client *cl, const char *loc, const char *digest, int fd, uint64_t body_len,
                         struct kiln_err *err)
{
    _cleanup_free_ char *query = xasprintf("digest=sha256%%3A%s", digest_hex(digest));
    _cleanup_free_ char *url = reg_url(cl, loc, query);
    _cleanup_free_ char *what = xasprintf("PUT blob '%s'", digest);
    struct reg_req q = { .method = "PUT", .url = url, .what = what, .fd = fd, .len = body_len,
                         .has_body = body_len > 0, .content_type = "application/octet-stream", .no_retry = 1 };
    struct reg_resp resp = { 0 };
    int r = reg_do(cl, &q, &resp, err);
    if (r < 0 && resp.dropped)
        r = RESTART;
    else if (r == 0 && resp.status >= 500)
        r = restart(cl, &q, &resp, err);
    else if (r == 0 && resp.status != 201)
        r = reg_status_err(cl, &q, &resp, err);
    else if (r == 0 && resp.digest && strcmp(resp.digest, digest) != 0)
        r = kiln_errf(err, KILN_EVERIFY, "registry '%s' repository '%s': stored blob '%s' as '%s'",
                      reg_client_host(cl), reg_client_repo(cl), digest, resp.digest);
    reg_resp_release(&resp);
    return r;
}

/* Where a dropped chunked upload stands: GET its URL, which answers with the
 * Range received so far.  RESTART when the registry forgot the upload.  A
 * registry that does not answer (it is being restarted) is waited for, up to
 * RESUME_WAIT_MS: its uploads live in its storage and outlive the process. */
static int upload_status(struct reg_client *cl, char **loc, const char *digest, uint64_t *off, struct kiln_err *err)
{
    _cleanup_free_ char *url = reg_url(cl, *loc, NULL);
    _cleanup_free_ char *what = xasprintf("GET upload status of blob '%s'", digest);
    struct reg_req q = { .method = "GET", .url = url, .what = what, .fd = -1, .no_retry = 1 };
    struct reg_resp resp = { 0 };
    int r;
    for (unsigned waited = 0, ms = 250;; ms = ms < 4000 ? 2 * ms : ms) {
        r = reg_do(cl, &q, &resp, err);
        if (!(r < 0 && resp.dropped) && !(r == 0 && resp.status >= 500))
            break;
        if (waited + ms > RESUME_WAIT_MS) {
            if (r == 0)
                r = reg_status_err(cl, &q, &resp, err);
            reg_resp_release(&resp);
            return kiln_err_prefix(err, "the registry did not answer again within %d s", RESUME_WAIT_MS / 1000);
        }
        reg_resp_release(&resp);
        waited += ms;
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    if (r == 0 && (resp.status == 404 || resp.status == 400 || resp.status == 416))
        r = restart(cl, &q, &resp, err); /* the registry dropped the upload (distribution does after a cut mid-chunk) */
    else if (r == 0 && resp.status != 204 && resp.status != 200)
        r = reg_status_err(cl, &q, &resp, err);
    else if (r == 0 && range_next(resp.range, off) < 0)
        r = restartf(err, "%s: no Range in the answer", what);
    if (r == 0 && resp.location) {
        free(*loc);
        *loc = TAKE_PTR(resp.location);
    }
    reg_resp_release(&resp);
    return r;
}

/* Sends the blob in PATCH chunks to the upload at loc (taken over). */
static int upload_chunked(struct reg_client *cl, const char *digest, char *loc_in, int fd, uint64_t size,
                          uint64_t chunk, struct kiln_err *err)
{
    _cleanup_free_ char *loc = loc_in;
    int r;
    _cleanup_free_ char *what = xasprintf("PATCH chunk of blob '%s'", digest);
    uint64_t off = 0;
    unsigned resumes = 0;
    while (off < size) {
        uint64_t end = size - off > chunk ? off + chunk : size;
        _cleanup_free_ char *url = reg_url(cl, loc, NULL);
        _cleanup_free_ char *range = xasprintf("%llu-%llu", (unsigned long long)off, (unsigned long long)end - 1);
        struct reg_req q = { .method = "PATCH", .url = url, .what = what, .fd = fd, .off = off, .len = end - off,
                             .has_body = 1, .content_type = "application/octet-stream", .range = range,
                             .no_retry = 1 };
        struct reg_resp resp = { 0 };
        r = reg_do(cl, &q, &resp, err);
        int dropped = (r < 0 && resp.dropped) || (r == 0 && resp.status >= 500);
        if (dropped) {
            reg_resp_release(&resp);
            if (++resumes > MAX_RESUMES)
                return r < 0 ? r : kiln_errf(err, KILN_EFAIL, "%s: gave up after %d resumes", what, MAX_RESUMES);
            kiln_log(KILN_LOG_INFO, "resuming the upload of blob '%s'", digest);
            r = upload_status(cl, &loc, digest, &off, err);
            if (r != 0)
                return r;
            if (off > size)
                return restartf(err, "%s: the registry holds more than the blob", what);
            continue;
        }
        if (r == 0 && (resp.status == 416 || resp.status == 404 || resp.status == 400))
            r = restart(cl, &q, &resp, err); /* the registry holds another length, or dropped the upload */
        else if (r == 0 && resp.status != 202)
            r = reg_status_err(cl, &q, &resp, err);
        if (r == 0 && resp.location) {
            free(loc);
            loc = TAKE_PTR(resp.location);
        }
        uint64_t next = end;
        if (r == 0 && resp.range && range_next(resp.range, &next) == 0 && next != end)
            r = restartf(err, "%s: the registry holds %llu bytes, kiln sent %llu", what, (unsigned long long)next,
                         (unsigned long long)end);
        reg_resp_release(&resp);
        if (r != 0)
            return r;
        off = end;
    }
    return finish_upload(cl, loc, digest, fd, 0, err);
}

/* HEAD blobs/<digest> in repository repo (NULL: the client's): 1 when the
 * registry has it there, 0 when not. */
static int blob_exists(struct reg_client *cl, const char *repo, const char *digest, struct kiln_err *err)
{
    _cleanup_free_ char *path = repo ? xasprintf("/v2/%s/blobs/%s", repo, digest)
                                     : xasprintf("/v2/%s/blobs/%s", reg_client_repo(cl), digest);
    _cleanup_free_ char *what = repo ? xasprintf("HEAD blob '%s' in '%s'", digest, repo)
                                     : xasprintf("HEAD blob '%s'", digest);
    struct reg_req q = { .method = "HEAD", .url = path, .what = what, .fd = -1 };
    struct reg_resp resp = { 0 };
    int r = reg_do(cl, &q, &resp, err);
    long status = resp.status;
    /* another repository may be private to us: anything but 200 is "not there" */
    if (r == 0 && !repo && status != 200 && status != 404)
        r = reg_status_err(cl, &q, &resp, err);
    reg_resp_release(&resp);
    return r < 0 ? r : status == 200;
}

static int blob_push(struct reg_client *cl, struct store *st, const struct oci_desc *d,
                     const struct registry_push_opts *o, struct counts *cnt, struct kiln_err *err)
{
    uint64_t chunk = o->chunk_size ? o->chunk_size : REGISTRY_CHUNK_DEFAULT;
    int r = blob_exists(cl, NULL, d->digest, err);
    if (r < 0)
        return r;
    if (r == 1) {
        cnt->skipped++;
        return 0;
    }
    /* a repository it can be mounted from */
    const char *from = NULL;
    for (size_t i = 0; i < o->n_mount_from && !from; i++) {
        if (!strcmp(o->mount_from[i], reg_client_repo(cl)))
            continue;
        struct kiln_err ignored = KILN_ERR_INIT;
        if (blob_exists(cl, o->mount_from[i], d->digest, &ignored) == 1)
            from = o->mount_from[i];
    }
    _cleanup_close_ int fd = -1;
    uint64_t size = 0;
    if ((r = store_blob_open(st, d->digest, &fd, &size, err)) < 0)
        return r;
    if (d->size >= 0 && (uint64_t)d->size != size)
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' in the store has %llu bytes, its descriptor says %lld",
                         d->digest, (unsigned long long)size, (long long)d->size);
    for (int attempt = 0;; attempt++) {
        char *loc = NULL;
        int mounted = 0;
        r = start_upload(cl, d->digest, attempt == 0 ? from : NULL, &loc, &mounted, err);
        if (r == 0 && mounted) {
            cnt->pushed++;
            cnt->mounted++;
            return 0;
        }
        if (r == 0 && size > chunk) {
            r = upload_chunked(cl, d->digest, loc, fd, size, chunk, err);
        } else if (r == 0) {
            r = finish_upload(cl, loc, d->digest, fd, size, err);
            free(loc);
        }
        if (r != RESTART)
            break;
        if (attempt == MAX_RESTARTS) {
            err->code = KILN_EFAIL;
            return kiln_err_prefix(err, "upload of blob '%s' started %d times", d->digest, MAX_RESTARTS + 1);
        }
        kiln_log(KILN_LOG_INFO, "starting the upload of blob '%s' over", d->digest);
    }
    if (r < 0)
        return r;
    cnt->pushed++;
    cnt->bytes += size;
    return 0;
}

/* The blobs of a list, `jobs` at a time, each worker with its own client. */
struct pool {
    struct push *p;
    const struct desc_list *list;
    pthread_mutex_t mu;
    size_t next;
    int failed;
    struct kiln_err err;
    struct counts total;
};

static void *worker(void *ud)
{
    struct pool *pl = ud;
    struct kiln_err err = KILN_ERR_INIT;
    struct counts cnt = { 0 };
    struct reg_client *cl = NULL;
    int r = reg_client_dup(pl->p->cl, &cl, &err);
    while (r == 0) {
        pthread_mutex_lock(&pl->mu);
        size_t i = pl->next;
        int stop = pl->failed || i >= pl->list->n;
        if (!stop)
            pl->next++;
        pthread_mutex_unlock(&pl->mu);
        if (stop)
            break;
        r = blob_push(cl, pl->p->st, &pl->list->v[i], pl->p->o, &cnt, &err);
    }
    reg_client_free(cl);
    pthread_mutex_lock(&pl->mu);
    if (r < 0 && !pl->failed) {
        pl->failed = 1;
        pl->err = err;
    }
    pl->total.pushed += cnt.pushed;
    pl->total.skipped += cnt.skipped;
    pl->total.bytes += cnt.bytes;
    pl->total.mounted += cnt.mounted;
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

static int push_blobs(struct push *p, struct desc_list *list, struct kiln_err *err)
{
    oci_desc_sort_largest_first(list->v, list->n);
    unsigned jobs = p->o->jobs ? p->o->jobs : REGISTRY_JOBS_DEFAULT;
    if (jobs > MAX_JOBS)
        jobs = MAX_JOBS;
    if (list->n == 0)
        return 0;
    if (jobs > list->n)
        jobs = (unsigned)list->n;
    struct pool pl = { .p = p, .list = list };
    pthread_mutex_init(&pl.mu, NULL);
    pthread_t th[MAX_JOBS];
    unsigned started = 0;
    int r = 0;
    for (; started < jobs; started++) {
        int e = pthread_create(&th[started], NULL, worker, &pl);
        if (e) {
            r = kiln_errno(err, KILN_EFAIL, e, "cannot start a transfer thread");
            break;
        }
    }
    if (r < 0) {
        pthread_mutex_lock(&pl.mu);
        pl.failed = 1;
        pthread_mutex_unlock(&pl.mu);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&pl.mu);
    p->res->blobs_pushed += pl.total.pushed;
    p->res->blobs_skipped += pl.total.skipped;
    p->res->bytes_pushed += pl.total.bytes;
    p->res->blobs_mounted += pl.total.mounted;
    if (r == 0 && pl.failed) {
        *err = pl.err;
        r = pl.err.code ? pl.err.code : KILN_EFAIL;
    }
    return r;
}

/* ---- manifests --------------------------------------------------------------- */

static int manifest_put(struct push *p, const struct oci_desc *d, const char *ref, struct kiln_err *err)
{
    struct buf body BUF_CLEANUP = BUF_INIT;
    int r = store_blob_read(p->st, d->digest, STORE_MANIFEST_LIMIT, &body, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rest = xasprintf("manifests/%s", ref);
    _cleanup_free_ char *path = reg_path(p->cl, rest);
    _cleanup_free_ char *what = !strcmp(ref, d->digest) ? xasprintf("PUT manifest '%s'", d->digest)
                                                         : xasprintf("PUT manifest '%s' as '%s'", d->digest, ref);
    struct reg_req q = { .method = "PUT", .url = path, .what = what, .fd = -1, .data = body.data, .len = body.len,
                         .has_body = 1, .content_type = d->media_type };
    struct reg_resp resp = { 0 };
    r = reg_do(p->cl, &q, &resp, err);
    if (r == 0 && resp.status != 201)
        r = reg_status_err(p->cl, &q, &resp, err);
    if (r == 0 && resp.digest && strcmp(resp.digest, d->digest) != 0)
        r = kiln_errf(err, KILN_EVERIFY, "registry '%s' repository '%s': stored manifest '%s' as '%s'",
                      reg_client_host(p->cl), reg_client_repo(p->cl), d->digest, resp.digest);
    if (r == 0 && resp.oci_subject)
        p->res->referrers_api = 1;
    reg_resp_release(&resp);
    if (r == 0)
        p->res->manifests_pushed++;
    return r;
}

/* 1 when GET /v2/<repo>/referrers/<digest> answers with an index. */
static int has_referrers_api(struct push *p, const char *digest, struct kiln_err *err)
{
    _cleanup_free_ char *rest = xasprintf("referrers/%s", digest);
    _cleanup_free_ char *path = reg_path(p->cl, rest);
    struct reg_req q = { .method = "GET", .url = path, .what = "GET referrers", .fd = -1,
                         .accept = OCI_MT_INDEX, .limit = REGISTRY_MANIFEST_LIMIT };
    struct reg_resp resp = { 0 };
    int r = reg_do(p->cl, &q, &resp, err);
    int yes = r == 0 && resp.status == 200 && resp.content_type &&
              !strncmp(resp.content_type, OCI_MT_INDEX, strlen(OCI_MT_INDEX));
    reg_resp_release(&resp);
    return r < 0 ? r : yes;
}

/* ---- the referrers tag (for registries without the referrers API) ------------ */

/* The descriptor the referrers list holds for a referrer manifest. */
static json_t *referrer_entry(struct push *p, const struct oci_desc *d, struct kiln_err *err)
{
    struct oci_manifest *m = NULL;
    if (store_manifest_read(p->st, d->digest, d->size, &m, err) < 0)
        return NULL;
    json_t *e = json_pack("{s:s,s:s,s:I}", "mediaType", m->media_type, "digest", d->digest, "size",
                          (json_int_t)d->size);
    const char *at = m->artifact_type ? m->artifact_type : m->config.media_type;
    if (at)
        json_object_set_new(e, "artifactType", json_string(at));
    if (m->annotations)
        json_object_set(e, "annotations", m->annotations);
    oci_manifest_free(m);
    return e;
}

static int list_has(json_t *list, const char *digest)
{
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        const char *v = json_string_value(json_object_get(d, "digest"));
        if (v && !strcmp(v, digest))
            return 1;
    }
    return 0;
}

/* Reads the referrers tag: *list (new reference) is its manifests, empty when
 * the tag does not exist; *cond the header for a conditional write. */
static int fallback_read(struct push *p, const char *tag, const char *subject, json_t **list, char **cond,
                         struct kiln_err *err)
{
    struct reg_manifest rm;
    int r = reg_manifest_get(p->cl, tag, NULL, OCI_MT_INDEX, &rm, err);
    if (r == KILN_ENOTFOUND) {
        kiln_err_clear(err);
        *list = json_array();
        *cond = xstrdup("If-None-Match: *");
        return 0;
    }
    if (r == 0 && !strcmp(rm.digest, subject))
        r = kiln_errf(err, KILN_EFAIL, "registry '%s' repository '%s': tag '%s' resolves to the image itself, "
                      "not to a list of its referrers", reg_client_host(p->cl), reg_client_repo(p->cl), tag);
    if (r == 0) {
        *list = json_deep_copy(json_object_get(rm.m->json, "manifests"));
        *cond = rm.etag ? xasprintf("If-Match: %s", rm.etag) : xasprintf("If-Match: \"%s\"", rm.digest);
    }
    reg_manifest_release(&rm);
    return r;
}

static uint64_t ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
    return ms > 0 ? (uint64_t)ms : 0;
}

/* One round on f's tag: read it, add the entries it lacks, write it with
 * the condition the read gave (again at once when the registry answers 412:
 * someone else wrote first).  f->pending when it wrote: fallback_finish()
 * reads it back; not when every entry was there already. */
static int fallback_step(struct push *p, struct fallback *f, struct kiln_err *err)
{
    f->pending = 0;
    for (;;) {
        if (f->rounds == FALLBACK_ROUNDS)
            return kiln_errf(err, KILN_EFAIL, "registry '%s' repository '%s': tag '%s' kept changing while kiln "
                             "added to it; gave up after %d rounds", reg_client_host(p->cl), reg_client_repo(p->cl),
                             f->tag, FALLBACK_ROUNDS);
        f->rounds++;
        json_t *list = NULL;
        _cleanup_free_ char *cond = NULL;
        int r = fallback_read(p, f->tag, f->subject, &list, &cond, err);
        if (r < 0)
            return r;
        size_t added = 0, i;
        json_t *e;
        json_array_foreach(f->mine, i, e) {
            if (!list_has(list, json_string_value(json_object_get(e, "digest")))) {
                json_array_append(list, e);
                added++;
            }
        }
        if (added == 0) {
            json_decref(list);
            return 0; /* every referrer is listed (again, after a write: it held) */
        }
        json_t *index = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX, "manifests", list);
        _cleanup_free_ char *text = json_dumps(index, JSON_COMPACT);
        json_decref(index);
        if (!text)
            return kiln_errf(err, KILN_ENOMEM, "out of memory");
        _cleanup_free_ char *rest = xasprintf("manifests/%s", f->tag);
        _cleanup_free_ char *path = reg_path(p->cl, rest);
        _cleanup_free_ char *what = xasprintf("PUT referrers tag '%s'", f->tag);
        struct reg_req q = { .method = "PUT", .url = path, .what = what, .fd = -1, .data = text,
                             .len = strlen(text), .has_body = 1, .content_type = OCI_MT_INDEX, .header = cond };
        struct reg_resp resp = { 0 };
        r = reg_do(p->cl, &q, &resp, err);
        if (r == 0 && resp.status == 412) {
            reg_resp_release(&resp);
            continue; /* someone else wrote it first: read, merge, write again */
        }
        /* docker-registry 2.8 rewrites a manifest's link in place: while a
         * concurrent pusher puts a manifest this index lists (the same
         * provenance, say), the registry cannot see it for a moment and
         * answers MANIFEST_BLOB_UNKNOWN.  Settle, then read, merge, write again. */
        int unseen = r == 0 && resp.status == 400 && resp.body.data &&
                     memmem(resp.body.data, resp.body.len, "MANIFEST_BLOB_UNKNOWN", 21);
        if (!unseen && r == 0 && resp.status != 201)
            r = reg_status_err(p->cl, &q, &resp, err);
        reg_resp_release(&resp);
        if (r < 0)
            return r;
        f->pending = 1;
        clock_gettime(CLOCK_MONOTONIC, &f->written);
        return 0;
    }
}

/* Reads f's tag back until a read finds every entry kiln added.  A registry
 * that ignores If-Match lets a pusher that read the tag before kiln's write
 * overwrite it afterwards: each read back comes FALLBACK_SETTLE_MS after the
 * write, longer than such a pusher's read-to-write gap, so that its write,
 * if any, is seen and merged again.  Only what is left of that time is
 * waited: the push goes on meanwhile (push_root). */
static int fallback_finish(struct push *p, struct fallback *f, struct kiln_err *err)
{
    int r = 0;
    while (r == 0 && f->pending) {
        uint64_t since = ms_since(&f->written);
        if (since < FALLBACK_SETTLE_MS) {
            uint64_t ms = FALLBACK_SETTLE_MS - since;
            struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
            p->res->settle_ms += ms;
        }
        r = fallback_step(p, f, err);
    }
    return r;
}

/* ---- the whole push ---------------------------------------------------------- */

static void push_release(struct push *p)
{
    desc_list_release(&p->blobs);
    desc_list_release(&p->ref_blobs);
    desc_list_release(&p->manifests);
    for (size_t i = 0; i < p->n_refs; i++) {
        oci_desc_release(&p->refs[i].d);
        free(p->refs[i].subject);
    }
    free(p->refs);
    for (size_t i = 0; i < p->n_fbs; i++) {
        free(p->fbs[i].tag);
        json_decref(p->fbs[i].mine);
    }
    free(p->fbs);
    reg_client_free(p->cl);
}

/* Steps 3 (the referrers' blobs are up): the referrer manifests, then, when
 * the registry lacks the referrers API, the first write of the referrers tag
 * of each manifest that has some; fallback_finish() completes each. */
static int referrers_start(struct push *p, struct kiln_err *err)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < p->n_refs; i++) {
        if (p->refs[i].present)
            continue;
        r = manifest_put(p, &p->refs[i].d, p->refs[i].d.digest, err);
        if (r == 0)
            p->res->referrers_pushed++;
    }
    if (r == 0 && p->n_refs && !p->res->referrers_api) {
        r = has_referrers_api(p, p->manifests.v[0].digest, err);
        if (r > 0)
            p->res->referrers_api = 1;
        r = r < 0 ? r : 0;
    }
    if (r < 0 || p->res->referrers_api)
        return r;
    p->fbs = xcalloc(p->manifests.n + 1, sizeof(*p->fbs));
    for (size_t i = 0; r == 0 && i < p->manifests.n; i++) {
        const char *subject = p->manifests.v[i].digest;
        json_t *mine = NULL;
        for (size_t k = 0; k < p->n_refs && r == 0; k++) {
            if (strcmp(p->refs[k].subject, subject) != 0)
                continue;
            json_t *e = referrer_entry(p, &p->refs[k].d, err);
            if (!e) {
                r = err->code;
                break;
            }
            if (!mine)
                mine = json_array();
            json_array_append_new(mine, e);
        }
        if (!mine)
            continue;
        struct fallback *f = &p->fbs[p->n_fbs++];
        f->subject = subject;
        f->tag = xasprintf("sha256-%s", digest_hex(subject));
        f->mine = mine;
        if (r == 0)
            r = fallback_step(p, f, err);
    }
    return r;
}

/* Step 6: every referrers tag read back and complete. */
static int referrers_finish(struct push *p, struct kiln_err *err)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < p->n_fbs; i++)
        r = fallback_finish(p, &p->fbs[i], err);
    return r;
}

/* Pushes root and everything it reaches, root tagged tag; with referrers,
 * also every referrer of its manifests (steps 1 to 7 above). */
static int push_root(struct push *p, const struct oci_desc *root, const char *tag, int referrers,
                     const struct registry_ref *dest, struct kiln_err *err)
{
    p->res->tag = xstrdup(tag);
    snprintf(p->res->digest, sizeof(p->res->digest), "%s", root->digest);
    struct collect c = { p, &p->manifests, &p->blobs };
    int r = store_walk(p->st, root, 0, collect_cb, &c, err);
    if (r == 0)
        r = reg_client_new(dest, &p->o->conn, &p->cl, err);
    if (r == 0)
        r = reg_ping(p->cl, err);
    int present = r == 0 ? manifest_exists(p, root, err) : 0;
    if (present < 0)
        r = present;
    if (r == 0 && referrers)
        r = collect_referrers(p, err);
    if (r == 0 && present) {
        /* the image is there already: only its tag (and referrers) may be new */
        kiln_log(KILN_LOG_INFO, "%s/%s has manifest '%s' already", dest->host, dest->repo, root->digest);
        p->res->blobs_skipped += p->blobs.n;
        desc_list_release(&p->blobs);
    }
    if (r == 0 && p->n_refs) {
        kiln_log(KILN_LOG_INFO, "pushing %zu referrers of the image to %s/%s", p->n_refs, dest->host, dest->repo);
        r = push_blobs(p, &p->ref_blobs, err);
        if (r == 0)
            r = referrers_start(p, err);
    }
    if (r == 0) {
        kiln_log(KILN_LOG_INFO, "pushing %zu blobs to %s/%s", p->blobs.n, dest->host, dest->repo);
        r = push_blobs(p, &p->blobs, err);
    }
    /* children before parents: the walk lists parents first; the top one last */
    for (size_t i = p->manifests.n; r == 0 && !present && i-- > 1;)
        r = manifest_put(p, &p->manifests.v[i], p->manifests.v[i].digest, err);
    if (r == 0)
        r = referrers_finish(p, err);
    if (r == 0)
        r = manifest_put(p, &p->manifests.v[0], p->res->tag, err);
    return r;
}

static int run(struct push *p, const char *ref, const struct registry_ref *dest, struct kiln_err *err)
{
    struct store_image *img = NULL;
    int r = store_resolve(p->st, ref, &img, err);
    if (r < 0)
        return r;
    struct oci_desc root = { .media_type = img->media_type, .digest = img->digest, .size = (int64_t)img->size };
    const char *tag = dest->tag ? dest->tag : img->version;
    if (p->o->n_mount_from > REGISTRY_MOUNT_MAX)
        r = kiln_errf(err, KILN_EINVAL, "at most %d repositories to mount blobs from", REGISTRY_MOUNT_MAX);
    for (size_t i = 0; r == 0 && i < p->o->n_mount_from; i++)
        if (!registry_repo_valid(p->o->mount_from[i]))
            r = kiln_errf(err, KILN_EINVAL, "'%s' is not a valid repository to mount blobs from",
                          p->o->mount_from[i]);
    if (r == 0 && !registry_tag_valid(tag))
        r = kiln_errf(err, KILN_EINVAL, "version '%s' of '%s' is not a valid registry tag; give DEST a tag", tag,
                      ref);
    if (r == 0)
        r = push_root(p, &root, tag, 1, dest, err);
    store_image_free(img);
    return r;
}

/* The referrers in p->refs (their blobs are up, their subjects too), each
 * referrers tag written and read back. */
static int push_referrers(struct push *p, struct kiln_err *err)
{
    int r = referrers_start(p, err);
    return r == 0 ? referrers_finish(p, err) : r;
}

/* kiln promote on a registry: the channel statement for the manifest dest's
 * version tag names, pushed as its referrer, then the manifest tagged with
 * the channel.  The manifest's bytes and the statement go through st. */
static int promote(struct push *p, const struct registry_ref *dest, const struct registry_promote_opts *o,
                   struct registry_promote_result *res, struct kiln_err *err)
{
    struct reg_manifest rm = { 0 };
    int r = reg_client_new(dest, &o->conn, &p->cl, err);
    if (r == 0)
        r = reg_ping(p->cl, err);
    if (r == 0)
        r = reg_manifest_get(p->cl, dest->tag, NULL, NULL, &rm, err);
    if (r == KILN_ENOTFOUND)
        r = kiln_errf(err, KILN_EFAIL, "registry '%s' repository '%s': no tag '%s' to promote", dest->host,
                      dest->repo, dest->tag);
    char put[DIGEST_STR_SIZE];
    if (r == 0 && (r = store_blob_put(p->st, rm.body.data, rm.body.len, put, err)) == 0 && strcmp(put, rm.digest) != 0)
        r = kiln_errf(err, KILN_EFAIL, "manifest '%s' stored as '%s'", rm.digest, put);
    struct oci_desc subject = { 0 }, stmt = { 0 };
    if (r == 0) {
        subject.media_type = xstrdup(rm.m->media_type);
        subject.digest = xstrdup(rm.digest);
        subject.size = (int64_t)rm.body.len;
        snprintf(res->digest, sizeof(res->digest), "%s", rm.digest);
        r = o->revoke ? signing_revocation_put(p->st, &subject, o->name, dest->tag, o->now, o->key, &stmt, err)
                      : signing_channel_put(p->st, &subject, o->name, o->channel, dest->tag, o->now, o->lifetime,
                                            o->key, &stmt, err);
    }
    if (r == 0) {
        snprintf(res->statement, sizeof(res->statement), "%s", stmt.digest);
        struct collect c = { p, NULL, &p->blobs };
        r = store_walk(p->st, &stmt, 0, collect_cb, &c, err);
    }
    if (r == 0)
        r = push_blobs(p, &p->blobs, err);
    if (r == 0) {
        desc_list_add(&p->manifests, &subject);
        p->refs = xcalloc(1, sizeof(*p->refs));
        oci_desc_copy(&p->refs[0].d, &stmt);
        p->refs[0].subject = xstrdup(subject.digest);
        p->n_refs = 1;
        r = push_referrers(p, err);
    }
    if (r == 0 && !o->revoke)
        r = manifest_put(p, &subject, o->channel, err);
    oci_desc_release(&subject);
    oci_desc_release(&stmt);
    reg_manifest_release(&rm);
    return r;
}

int registry_promote(struct store *st, const struct registry_ref *dest, const struct registry_promote_opts *o,
                     struct registry_promote_result *res, struct kiln_err *err)
{
    memset(res, 0, sizeof(*res));
    if (!dest->tag || ref_check_version(dest->tag, NULL) != 0)
        return kiln_errf(err, KILN_EINVAL, "promote needs HOST/REPO:VERSION, with a version as the tag ('%s')",
                         dest->tag ? dest->tag : "none");
    if (!o->revoke && (!o->channel || !registry_tag_valid(o->channel) || ref_check_version(o->channel, NULL) == 0))
        return kiln_errf(err, KILN_EINVAL, "channel '%s' is not a valid tag that is not a version",
                         o->channel ? o->channel : "none");
    struct registry_push_opts po = { .conn = o->conn };
    struct registry_push_result pr;
    memset(&pr, 0, sizeof(pr));
    struct push p = { .st = st, .o = &po, .res = &pr };
    int r = promote(&p, dest, o, res, err);
    res->referrers_api = pr.referrers_api;
    push_release(&p);
    registry_push_result_release(&pr);
    return r;
}

int registry_push(struct store *st, const char *ref, const struct registry_ref *dest,
                  const struct registry_push_opts *o, struct registry_push_result *res, struct kiln_err *err)
{
    memset(res, 0, sizeof(*res));
    struct push p = { .st = st, .o = o, .res = res };
    int r = run(&p, ref, dest, err);
    push_release(&p);
    if (r < 0)
        registry_push_result_release(res);
    return r;
}

int registry_push_artifact(struct store *st, const char *media_type, const char *digest, uint64_t size,
                           const struct registry_ref *dest, const struct registry_push_opts *o,
                           struct registry_push_result *res, struct kiln_err *err)
{
    memset(res, 0, sizeof(*res));
    if (!dest->tag || !registry_tag_valid(dest->tag))
        return kiln_errf(err, KILN_EINVAL, "pushing '%s' needs a valid tag", digest);
    struct push p = { .st = st, .o = o, .res = res };
    struct oci_desc root = { .media_type = (char *)media_type, .digest = (char *)digest, .size = (int64_t)size };
    int r = push_root(&p, &root, dest->tag, 0, dest, err);
    push_release(&p);
    if (r < 0)
        registry_push_result_release(res);
    return r;
}

void registry_push_result_release(struct registry_push_result *res)
{
    free(res->tag);
    res->tag = NULL;
}
