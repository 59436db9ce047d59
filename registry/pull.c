/* pull.c - an image from a registry into the store (see registry.h), in the
 * order registry.h numbers:
 *   1. the manifest or index SRC names;
 *   2. the referrers of the image, and the blobs a signature holds;
 *   3. a trusted signature over the image (signing_verify_held());
 *   4. rollback protection;
 *   5. the manifests an index lists, then every blob, streamed and hashed;
 *   6. publish_image().
 * Nothing big is fetched before 3 passed.  Everything fetched is held in the
 * store's temp area (struct publish_blob) until publish_image() commits it;
 * a failure before that removes it. */
#include "registry/registry.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "images/manifest.h"
#include "images/store.h"
#include "registry/client.h"
#include "signing/publish.h"
#include "signing/signing.h"
#include "common/banned.h"

#define MAX_DEPTH 8          /* nested indexes, as store_walk() */
#define MAX_REFERRERS 256    /* referrers of one image */
#define MAX_REDIRECTS 5      /* a blob GET sent elsewhere (object storage) */
#define MAX_BLOB_ATTEMPTS 3  /* a blob download started over after a dropped connection */
#define MAX_BLOBS 65536      /* blobs of one image, manifests included */
#define REFERRER_BLOB_LIMIT SIGNING_STATEMENT_LIMIT /* a blob of a referrer (a provenance statement) */

/* A referrer fetched: its manifest, and its blobs small enough to keep in
 * memory for the signature check (their bytes are pull.small_bodies'). */
struct referrer {
    char digest[DIGEST_STR_SIZE];
    struct reg_manifest rm;
    struct signing_held_blob *blobs;
    size_t n_blobs;
};

struct pull {
    struct store *st;
    struct reg_client *cl;
    const struct registry_ref *src;
    const struct registry_pull_opts *o;
    struct registry_pull_result *res;
    struct publish_blob *held;   /* fetched, in the temp area */
    size_t n_held, cap_held;
    struct oci_desc *blobs;      /* the image's blobs that are not manifests, once each */
    size_t n_blobs, cap_blobs;
    struct referrer *refs;
    size_t n_refs;
    struct oci_desc *small;      /* the referrers' blobs kept in memory, once each */
    struct buf *small_bodies;    /* their bytes */
    size_t n_small;
    struct reg_manifest top;     /* the manifest or index SRC names */
    const char *channel;         /* SRC's tag when it is a channel (not a version, no digest) */
    struct signing_statement stmt; /* the channel statement accepted */
    size_t stmt_ref;             /* its index in refs */
    /* mu guards held, the counters and inflight (blobs being fetched, for
     * registry_pull_emergency_cleanup()); closed: an interrupt removed them */
    pthread_mutex_t mu;
    struct store_blob_writer *inflight[REGISTRY_PULL_MAX_JOBS];
    int closed;
};

/* The pull in progress, for registry_pull_emergency_cleanup(). */
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pull *current;

static int held_has(struct pull *p, const char *digest)
{
    int has = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n_held && !has; i++)
        has = !strcmp(p->held[i].digest, digest);
    pthread_mutex_unlock(&p->mu);
    return has;
}

/* Takes w (the blob `digest`, checked) over until publish. */
static void held_add(struct pull *p, struct store_blob_writer *w, const char *digest)
{
    pthread_mutex_lock(&p->mu);
    if (p->n_held == p->cap_held) {
        p->cap_held = p->cap_held ? 2 * p->cap_held : 16;
        p->held = xrealloc(p->held, p->cap_held * sizeof(*p->held));
    }
    p->held[p->n_held].w = w;
    snprintf(p->held[p->n_held].digest, DIGEST_STR_SIZE, "%s", digest);
    p->n_held++;
    pthread_mutex_unlock(&p->mu);
}

/* A temp blob for a fetch in slot `slot` of inflight, listed there so that an
 * interrupt can remove it; KILN_EFAIL once the pull was interrupted. */
static int begin_blob(struct pull *p, size_t slot, struct store_blob_writer **w, struct kiln_err *err)
{
    pthread_mutex_lock(&p->mu);
    int r = p->closed ? kiln_errf(err, KILN_EFAIL, "pull interrupted") : store_blob_begin(p->st, w, err);
    if (r == 0)
        p->inflight[slot] = *w;
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* The fetch in slot is over: w is held (keep) or removed. */
static void end_blob(struct pull *p, size_t slot, struct store_blob_writer *w, const char *digest, int keep)
{
    pthread_mutex_lock(&p->mu);
    p->inflight[slot] = NULL;
    pthread_mutex_unlock(&p->mu);
    if (keep)
        held_add(p, w, digest);
    else
        store_blob_abort(w);
}

void registry_pull_emergency_cleanup(void)
{
    pthread_mutex_lock(&current_lock);
    struct pull *p = current;
    if (p) {
        pthread_mutex_lock(&p->mu);
        p->closed = 1;
        for (size_t i = 0; i < p->n_held; i++)
            if (p->held[i].w)
                unlink(store_blob_tmp_path(p->held[i].w));
        for (size_t i = 0; i < REGISTRY_PULL_MAX_JOBS; i++)
            if (p->inflight[i])
                unlink(store_blob_tmp_path(p->inflight[i]));
        pthread_mutex_unlock(&p->mu);
    }
    /* current_lock stays held: the pull must not go on to publish. */
}

/* Holds len bytes (already checked against digest) as a blob in the temp area. */
static int hold_bytes(struct pull *p, const char *digest, const void *data, size_t len, struct kiln_err *err)
{
    if (held_has(p, digest) || store_blob_exists(p->st, digest))
        return 0;
    struct store_blob_writer *w = NULL;
    int r = begin_blob(p, 0, &w, err);
    if (r == 0) {
        r = store_blob_write(w, data, len, err);
        end_blob(p, 0, w, digest, r == 0);
    }
    return r;
}

/* ---- manifests -------------------------------------------------------------- */

/* Notes a blob to fetch in step 5 (once). */
static int blob_add(struct pull *p, const struct oci_desc *d, struct kiln_err *err)
{
    for (size_t i = 0; i < p->n_blobs; i++)
        if (!strcmp(p->blobs[i].digest, d->digest))
            return 0;
    if (p->n_blobs == MAX_BLOBS)
        return reg_bad(p->cl, err, "image '%s' has more than %d blobs", p->res->digest, MAX_BLOBS);
    if (p->n_blobs == p->cap_blobs) {
        p->cap_blobs = p->cap_blobs ? 2 * p->cap_blobs : 16;
        p->blobs = xrealloc(p->blobs, p->cap_blobs * sizeof(*p->blobs));
    }
    oci_desc_copy(&p->blobs[p->n_blobs++], d);
    return 0;
}

static int fetch_manifest(struct pull *p, const struct oci_desc *d, int depth, struct kiln_err *err);

/* What manifest m lists: nested manifests fetched (step 5, after the
 * signature check: the top manifest's digest pins them), other blobs noted. */
static int fetch_contents(struct pull *p, const struct oci_manifest *m, int depth, struct kiln_err *err)
{
    int r = 0;
    if (m->kind == OCI_KIND_MANIFEST) {
        r = blob_add(p, &m->config, err);
        for (size_t i = 0; r == 0 && i < m->n_descs; i++)
            r = blob_add(p, &m->descs[i], err);
        if (r == 0 && m->files_digest) {
            struct oci_desc f = { .media_type = (char *)KILN_MT_FILES, .digest = m->files_digest, .size = -1 };
            r = blob_add(p, &f, err);
        }
    }
    for (size_t i = 0; r == 0 && m->kind == OCI_KIND_INDEX && i < m->n_descs; i++) {
        const struct oci_desc *c = &m->descs[i];
        if (oci_media_type_is_manifest(c->media_type) || oci_media_type_is_index(c->media_type))
            r = fetch_manifest(p, c, depth + 1, err);
        else
            r = blob_add(p, c, err);
    }
    return r;
}

/* A manifest an index lists, by its digest, and what it lists. */
static int fetch_manifest(struct pull *p, const struct oci_desc *d, int depth, struct kiln_err *err)
{
    if (depth > MAX_DEPTH)
        return reg_bad(p->cl, err, "indexes nested deeper than %d levels", MAX_DEPTH);
    if (held_has(p, d->digest))
        return 0;
    if (p->res->manifests_fetched >= MAX_BLOBS)
        return reg_bad(p->cl, err, "image '%s' has more than %d manifests", p->res->digest, MAX_BLOBS);
    struct reg_manifest rm;
    int r = reg_manifest_get(p->cl, d->digest, d->digest, d->media_type, &rm, err);
    if (r < 0)
        return r;
    if (d->size >= 0 && (uint64_t)d->size != rm.body.len)
        r = reg_bad(p->cl, err, "manifest '%s' has %zu bytes, its descriptor says %lld", d->digest, rm.body.len,
                    (long long)d->size);
    if (r == 0) {
        p->res->manifests_fetched++;
        r = hold_bytes(p, rm.digest, rm.body.data, rm.body.len, err);
    }
    if (r == 0)
        r = fetch_contents(p, rm.m, depth, err);
    reg_manifest_release(&rm);
    return r;
}

/* 1. The manifest or index SRC names: by digest, its bytes must hash to it;
 * by tag, the digest they hash to is the image's. */
static int fetch_top(struct pull *p, struct kiln_err *err)
{
    const char *ref = p->src->digest ? p->src->digest : p->src->tag;
    int r = reg_manifest_get(p->cl, ref, p->src->digest, NULL, &p->top, err);
    if (r < 0)
        return r;
    snprintf(p->res->digest, sizeof(p->res->digest), "%s", p->top.digest);
    p->res->manifests_fetched++;
    return hold_bytes(p, p->top.digest, p->top.body.data, p->top.body.len, err);
}

/* ---- blobs ------------------------------------------------------------------ */

struct blob_sink {
    struct store_blob_writer *w; /* hashes what it is given: the one pass over the bytes */
    struct buf *keep;       /* also kept in memory (a referrer's small blob), or NULL */
    uint64_t got;
    struct kiln_err err;
};

static int blob_sink(void *ud, const void *data, size_t len)
{
    struct blob_sink *s = ud;
    if (store_blob_write(s->w, data, len, &s->err) < 0 || (s->keep && buf_add(s->keep, data, len, &s->err) < 0))
        return -1;
    s->got += len;
    return 0;
}

/* One attempt at GET blobs/<digest> into s, following redirects.  Returns 1
 * when the connection dropped (try again). */
static int blob_get(struct reg_client *cl, const struct oci_desc *d, uint64_t limit, struct blob_sink *s,
                    struct kiln_err *err)
{
    _cleanup_free_ char *rest = xasprintf("blobs/%s", d->digest);
    _cleanup_free_ char *url = reg_path(cl, rest);
    _cleanup_free_ char *what = xasprintf("GET blob '%s'", d->digest);
    for (int hop = 0;; hop++) {
        /* after a drop, from where it stopped */
        struct reg_req q = { .method = "GET", .url = url, .what = what, .fd = -1, .limit = (size_t)(limit - s->got),
                             .sink = blob_sink, .sink_ud = s, .no_retry = 1, .from = s->got };
        struct reg_resp resp = { 0 };
        int r = reg_do(cl, &q, &resp, err);
        if (r < 0 && s->err.code) {
            *err = s->err;
            r = s->err.code;
        } else if (r < 0 && resp.over) {
            r = reg_bad(cl, err, "blob '%s' is longer than its descriptor's %llu bytes", d->digest,
                        (unsigned long long)limit);
        } else if (r < 0 && resp.dropped) {
            r = 1;
        } else if (r == 0 && resp.status >= 300 && resp.status < 400 && resp.location && hop < MAX_REDIRECTS) {
            char *next = reg_url(cl, resp.location, NULL);
            free(url);
            url = next;
            reg_resp_release(&resp);
            continue;
        } else if (r == 0 && resp.status >= 500) {
            r = 1;
        } else if (r == 0 && resp.status != 200 && !(resp.status == 206 && q.from)) {
            r = reg_status_err(cl, &q, &resp, err);
        }
        reg_resp_release(&resp);
        return r;
    }
}

/* Fetches the blob d into the temp area, hashed and bounded by its size
 * (STORE_FILES_LIMIT when the descriptor has none), with client cl, as
 * fetch slot `slot`; keep (may be NULL) also gets its bytes.  A download
 * cut off goes on from where it stopped (Range); one that makes no
 * progress MAX_BLOB_ATTEMPTS times in a row fails. */
static int fetch_blob_with(struct pull *p, struct reg_client *cl, size_t slot, const struct oci_desc *d,
                           struct buf *keep, struct kiln_err *err)
{
    uint64_t limit = d->size >= 0 ? (uint64_t)d->size : STORE_FILES_LIMIT;
    struct blob_sink s = { .keep = keep, .err = KILN_ERR_INIT };
    int r = begin_blob(p, slot, &s.w, err);
    if (r < 0)
        return r;
    if (keep)
        buf_reset(keep);
    int stalled = 0;
    for (;;) {
        uint64_t before = s.got;
        r = blob_get(cl, d, limit, &s, err);
        if (r != 1)
            break;
        stalled = s.got > before ? 1 : stalled + 1;
        if (stalled >= MAX_BLOB_ATTEMPTS) {
            r = kiln_errf(err, KILN_EFAIL, "registry '%s' repository '%s': GET blob '%s': the connection dropped "
                          "%d times without progress", reg_client_host(cl), reg_client_repo(cl), d->digest, stalled);
            break;
        }
        kiln_log(KILN_LOG_INFO, "resuming the download of blob '%s' at byte %llu", d->digest,
                 (unsigned long long)s.got);
    }
    char got[DIGEST_STR_SIZE];
    store_blob_sum(s.w, got, NULL);
    if (r == 0 && d->size >= 0 && s.got != (uint64_t)d->size)
        r = reg_bad(cl, err, "blob '%s' has %llu bytes, its descriptor says %lld", d->digest,
                    (unsigned long long)s.got, (long long)d->size);
    else if (r == 0 && strcmp(got, d->digest) != 0)
        r = reg_bad(cl, err, "blob '%s' came as content with digest '%s'", d->digest, got);
    end_blob(p, slot, s.w, d->digest, r == 0);
    if (r < 0)
        return r;
    pthread_mutex_lock(&p->mu);
    p->res->blobs_fetched++;
    p->res->bytes_fetched += s.got;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* The blobs of a list, `jobs` at a time, each worker with its own client:
 * with keep, every one of them into keep[i] too (the referrers' small blobs,
 * step 2), else those neither held nor in the store (step 5). */
struct pool {
    struct pull *p;
    const struct oci_desc *list;
    struct buf *keep;
    size_t n;
    size_t next;
    unsigned slots;
    int failed;
    struct kiln_err err;
};

static void *worker(void *ud)
{
    struct pool *pl = ud;
    struct pull *p = pl->p;
    struct kiln_err err = KILN_ERR_INIT;
    struct reg_client *cl = NULL;
    pthread_mutex_lock(&p->mu);
    size_t slot = pl->slots++;
    pthread_mutex_unlock(&p->mu);
    int r = reg_client_dup(p->cl, &cl, &err);
    while (r == 0) {
        pthread_mutex_lock(&p->mu);
        size_t i = pl->next;
        int stop = pl->failed || i >= pl->n;
        if (!stop)
            pl->next++;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        const struct oci_desc *d = &pl->list[i];
        if (pl->keep) {
            r = fetch_blob_with(p, cl, slot, d, &pl->keep[i], &err);
            continue;
        }
        if (held_has(p, d->digest))
            continue;
        if (store_blob_exists(p->st, d->digest)) {
            pthread_mutex_lock(&p->mu);
            p->res->blobs_present++;
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        r = fetch_blob_with(p, cl, slot, d, NULL, &err);
    }
    reg_client_free(cl);
    pthread_mutex_lock(&p->mu);
    if (r < 0 && !pl->failed) {
        pl->failed = 1;
        pl->err = err;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int fetch_list(struct pull *p, const struct oci_desc *list, size_t n, struct buf *keep, struct kiln_err *err)
{
    unsigned jobs = p->o->jobs ? p->o->jobs : REGISTRY_JOBS_DEFAULT;
    if (jobs > REGISTRY_PULL_MAX_JOBS)
        jobs = REGISTRY_PULL_MAX_JOBS;
    if (n == 0)
        return 0;
    if (jobs > n)
        jobs = (unsigned)n;
    struct pool pl = { .p = p, .list = list, .keep = keep, .n = n };
    pthread_t th[REGISTRY_PULL_MAX_JOBS];
    unsigned started = 0;
    int r = 0;
    for (; started < jobs; started++) {
        int e = pthread_create(&th[started], NULL, worker, &pl);
        if (e) {
            r = kiln_errno(err, KILN_EFAIL, e, "cannot start a transfer thread");
            pthread_mutex_lock(&p->mu);
            pl.failed = 1;
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (r == 0 && pl.failed) {
        *err = pl.err;
        r = pl.err.code ? pl.err.code : KILN_EFAIL;
    }
    return r;
}

/* 5. The image's blobs. */
static int fetch_blobs(struct pull *p, struct kiln_err *err)
{
    oci_desc_sort_largest_first(p->blobs, p->n_blobs);
    return fetch_list(p, p->blobs, p->n_blobs, NULL, err);
}

/* ---- referrers -------------------------------------------------------------- */

/* The list of the image's referrers: the referrers API, else the fallback
 * tag.  *list: oci_manifest_free() (an index; NULL when there is none). */
static int referrers_list(struct pull *p, struct oci_manifest **list, struct kiln_err *err)
{
    *list = NULL;
    const char *subject = p->res->digest;
    _cleanup_free_ char *rest = xasprintf("referrers/%s", subject);
    _cleanup_free_ char *path = reg_path(p->cl, rest);
    struct reg_req q = { .method = "GET", .url = path, .what = "GET referrers", .fd = -1, .accept = OCI_MT_INDEX,
                         .limit = REGISTRY_MANIFEST_LIMIT };
    struct reg_resp resp = { 0 };
    int r = reg_do(p->cl, &q, &resp, err);
    if (r < 0 && resp.over)
        r = reg_bad(p->cl, err, "the referrers list is larger than %u bytes", REGISTRY_MANIFEST_LIMIT);
    if (r == 0 && resp.status == 200 && reg_content_type_is(resp.content_type, OCI_MT_INDEX)) {
        p->res->referrers_api = 1;
        if (oci_manifest_parse(resp.body.data, resp.body.len, list, err) < 0 || (*list)->kind != OCI_KIND_INDEX)
            r = reg_bad(p->cl, err, "the referrers API answered with something that is not an image index");
    }
    reg_resp_release(&resp);
    if (r < 0 || p->res->referrers_api)
        return r;
    /* The fallback tag, as push writes it. */
    _cleanup_free_ char *tag = xasprintf("sha256-%s", digest_hex(subject));
    struct reg_manifest rm;
    r = reg_manifest_get(p->cl, tag, NULL, OCI_MT_INDEX, &rm, err);
    if (r == KILN_ENOTFOUND) {
        kiln_err_clear(err);
        return 0;
    }
    if (r == 0 && !strcmp(rm.digest, subject))
        r = reg_bad(p->cl, err, "tag '%s' resolves to the image itself, not to a list of its referrers", tag);
    if (r == 0)
        *list = TAKE_PTR(rm.m);
    reg_manifest_release(&rm);
    return r;
}

static void referrer_release(struct referrer *f)
{
    reg_manifest_release(&f->rm);
    free(f->blobs);
}

/* Notes a referrer's blob to keep in memory (once); its index in p->small. */
static size_t small_add(struct pull *p, const struct oci_desc *d)
{
    for (size_t i = 0; i < p->n_small; i++)
        if (!strcmp(p->small[i].digest, d->digest))
            return i;
    p->small = xrealloc(p->small, (p->n_small + 1) * sizeof(*p->small));
    oci_desc_copy(&p->small[p->n_small], d);
    return p->n_small++;
}

/* 2. Each referrer of the image: its manifest (a manifest whose subject is
 * the image) and its blobs up to SIGNING_PAYLOAD_LIMIT (a signature's payload
 * and raw signature), held and kept in memory for the check; its larger blobs
 * (at most REFERRER_BLOB_LIMIT) are fetched with the image's. */
static int fetch_referrers(struct pull *p, struct kiln_err *err)
{
    struct oci_manifest *list = NULL;
    int r = referrers_list(p, &list, err);
    if (r < 0 || !list)
        return r;
    if (list->n_descs > MAX_REFERRERS) {
        r = reg_bad(p->cl, err, "image '%s' has %zu referrers, more than %d", p->res->digest, list->n_descs,
                    MAX_REFERRERS);
        oci_manifest_free(list);
        return r;
    }
    p->refs = xcalloc(list->n_descs + 1, sizeof(*p->refs));
    for (size_t i = 0; i < list->n_descs && r == 0; i++) {
        const struct oci_desc *d = &list->descs[i];
        int dup = 0;
        for (size_t k = 0; k < p->n_refs; k++)
            dup |= !strcmp(p->refs[k].digest, d->digest);
        if (dup)
            continue;
        struct referrer *f = &p->refs[p->n_refs++];
        snprintf(f->digest, sizeof(f->digest), "%s", d->digest);
        r = reg_manifest_get(p->cl, d->digest, d->digest, OCI_MT_MANIFEST, &f->rm, err);
        const struct oci_manifest *m = f->rm.m;
        if (r == 0 && (!m->subject || strcmp(m->subject->digest, p->res->digest) != 0))
            r = reg_bad(p->cl, err, "referrer '%s' has subject '%s', not the image '%s'", d->digest,
                        m->subject ? m->subject->digest : "(none)", p->res->digest);
        if (r == 0)
            r = hold_bytes(p, f->rm.digest, f->rm.body.data, f->rm.body.len, err);
        if (r < 0)
            break;
        p->res->referrers_fetched++;
        f->blobs = xcalloc(m->n_descs + 1, sizeof(*f->blobs));
        int64_t largest = m->config.size;
        for (size_t k = 0; k < m->n_descs; k++)
            if (m->descs[k].size > largest)
                largest = m->descs[k].size;
        if (largest > (int64_t)REFERRER_BLOB_LIMIT)
            r = reg_bad(p->cl, err, "referrer '%s' lists a blob of %lld bytes, more than %u", d->digest,
                        (long long)largest, REFERRER_BLOB_LIMIT);
        for (size_t k = 0; k <= m->n_descs && r == 0; k++) {
            const struct oci_desc *b = k == 0 ? &m->config : &m->descs[k - 1];
            if (b->size > (int64_t)SIGNING_PAYLOAD_LIMIT)
                r = blob_add(p, b, err); /* not what a signature holds: fetched with the image's blobs */
            else
                small_add(p, b);
        }
    }
    oci_manifest_free(list);
    if (r < 0)
        return r;
    /* the small blobs, once each, `jobs` at a time; then each referrer's */
    p->small_bodies = xcalloc(p->n_small + 1, sizeof(*p->small_bodies));
    for (size_t i = 0; i < p->n_small; i++)
        buf_init(&p->small_bodies[i], SIGNING_PAYLOAD_LIMIT);
    if ((r = fetch_list(p, p->small, p->n_small, p->small_bodies, err)) < 0)
        return r;
    for (size_t i = 0; i < p->n_refs; i++) {
        struct referrer *f = &p->refs[i];
        const struct oci_manifest *m = f->rm.m;
        for (size_t k = 0; k <= m->n_descs; k++) {
            const struct oci_desc *b = k == 0 ? &m->config : &m->descs[k - 1];
            if (b->size > (int64_t)SIGNING_PAYLOAD_LIMIT)
                continue;
            const struct buf *body = &p->small_bodies[small_add(p, b)];
            f->blobs[f->n_blobs++] = (struct signing_held_blob){ b->digest, body->data, body->len };
        }
    }
    return 0;
}

/* ---- which name and version ------------------------------------------------ */

/* 3. A trusted signature over the image; name and version from the one chosen. */
static int check_signatures(struct pull *p, struct kiln_err *err)
{
    struct signing_held_artifact *arts = xcalloc(p->n_refs + 1, sizeof(*arts));
    for (size_t i = 0; i < p->n_refs; i++)
        arts[i] = (struct signing_held_artifact){ p->refs[i].digest, p->refs[i].rm.body.data,
                                                  p->refs[i].rm.body.len, p->refs[i].blobs, p->refs[i].n_blobs };
    struct signing_verify_opts vo = { p->o->keys, p->o->n_keys, NULL, NULL };
    json_t *rep = NULL;
    int r = signing_verify_held(arts, p->n_refs, p->res->digest, p->top.m->media_type,
                                (long long)p->top.body.len, &vo, &rep, err);
    if (r == 0) {
        json_t *revs = json_array();
        r = signing_revocation_check_held(arts, p->n_refs, p->res->digest, p->o->keys, p->o->n_keys, revs, err);
        json_decref(revs);
    }
    free(arts);
    if (r < 0) {
        json_decref(rep);
        return kiln_err_prefix(err, "registry '%s' repository '%s'", reg_client_host(p->cl), reg_client_repo(p->cl));
    }
    /* The version: the one a tag that is a version names (it must be
     * signed), else the highest a valid signature names. */
    const char *tag_version = p->src->tag && ref_check_version(p->src->tag, NULL) == 0 ? p->src->tag : NULL;
    json_t *best = NULL, *s;
    size_t i;
    json_array_foreach(json_object_get(rep, "signatures"), i, s) {
        if (!json_is_true(json_object_get(s, "valid")))
            continue;
        const char *v = json_string_value(json_object_get(s, "version"));
        const char *bv = best ? json_string_value(json_object_get(best, "version")) : NULL;
        if (tag_version && v && strcmp(v, tag_version) != 0)
            continue;
        if (!best || (v && (!bv || (ref_check_version(v, NULL) == 0 && ref_check_version(bv, NULL) == 0 &&
                                    semver_cmp(v, bv) > 0))))
            best = s;
    }
    if (!best) {
        r = reg_bad(p->cl, err, "tag '%s' names version %s, but no trusted signature of image '%s' names that version",
                    p->src->tag, tag_version, p->res->digest);
        json_decref(rep);
        return r;
    }
    const char *name = json_string_value(json_object_get(best, "name"));
    const char *version = json_string_value(json_object_get(best, "version"));
    const char *slash = strrchr(p->src->repo, '/');
    p->res->name = xstrdup(name ? name : slash ? slash + 1 : p->src->repo);
    p->res->version = version ? xstrdup(version) : tag_version ? xstrdup(tag_version) : NULL;
    p->res->signed_by = xstrdup(json_string_value(json_object_get(best, "keyId")));
    json_decref(rep);
    if (!p->res->version)
        return reg_bad(p->cl, err, "image '%s': its signature names no version and tag '%s' is not one", p->res->digest,
                       p->src->tag ? p->src->tag : "(none)");
    if ((r = ref_check_name(p->res->name, err)) < 0 || (r = ref_check_version(p->res->version, err)) < 0) {
        err->code = KILN_EVERIFY;
        return kiln_err_prefix(err, "image '%s'", p->res->digest);
    }
    return 0;
}

/* ---- channels ----------------------------------------------------------------- */

#define ANN_ACCEPTED "dev.kiln.channel.accepted"
#define ANN_ACCEPTED_NAME "dev.kiln.channel.accepted.name"
#define ANN_ACCEPTED_TIME "dev.kiln.channel.accepted.created"

/* The newest channel statement the store accepted for name:channel (its
 * `created` as a Unix time, 0 when none): the referrers of name's images
 * whose index entries a pull marked as accepted. */
static int channel_accepted(struct store *st, const char *name, const char *channel, int64_t *latest,
                            struct kiln_err *err)
{
    *latest = 0;
    struct store_image **imgs = NULL;
    size_t n = 0;
    int r = store_list(st, name, &imgs, &n, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct oci_desc *v = NULL;
        size_t k = 0;
        r = store_referrers(st, imgs[i]->digest, SIGNING_AT_CHANNEL, &v, &k, err);
        for (size_t j = 0; r == 0 && j < k; j++) {
            const char *ch = json_string_value(json_object_get(v[j].annotations, ANN_ACCEPTED));
            const char *nm = json_string_value(json_object_get(v[j].annotations, ANN_ACCEPTED_NAME));
            const char *t = json_string_value(json_object_get(v[j].annotations, ANN_ACCEPTED_TIME));
            int64_t when;
            if (ch && nm && t && !strcmp(ch, channel) && !strcmp(nm, name) && signing_rfc3339_parse(t, &when) == 0 &&
                when > *latest)
                *latest = when;
        }
        oci_desc_list_free(v, k);
    }
    store_image_list_free(imgs, n);
    return r;
}

/* 3b. SRC's tag is a channel: a trusted, unexpired statement for that
 * channel must name this image, its name and version, and be no older than
 * the one the store accepted last for that name and channel. */
static int check_channel(struct pull *p, struct kiln_err *err)
{
    struct signing_held_artifact *arts = xcalloc(p->n_refs + 1, sizeof(*arts));
    for (size_t i = 0; i < p->n_refs; i++)
        arts[i] = (struct signing_held_artifact){ p->refs[i].digest, p->refs[i].rm.body.data,
                                                  p->refs[i].rm.body.len, p->refs[i].blobs, p->refs[i].n_blobs };
    int r = signing_channel_check_held(arts, p->n_refs, p->res->digest, p->res->name, p->channel, p->o->keys,
                                       p->o->n_keys, (int64_t)time(NULL), &p->stmt, err);
    free(arts);
    if (r < 0)
        return kiln_err_prefix(err, "registry '%s' repository '%s'", reg_client_host(p->cl), reg_client_repo(p->cl));
    if (strcmp(p->stmt.version, p->res->version) != 0)
        return reg_bad(p->cl, err, "the statement for channel '%s' names version %s, the image's signature %s",
                       p->channel, p->stmt.version, p->res->version);
    for (size_t i = 0; i < p->n_refs; i++)
        if (!strcmp(p->refs[i].rm.m->artifact_type ? p->refs[i].rm.m->artifact_type : "", SIGNING_AT_CHANNEL)) {
            struct oci_manifest *m = p->refs[i].rm.m;
            /* the referrer whose payload is the accepted statement */
            for (size_t k = 0; k < p->refs[i].n_blobs; k++) {
                struct signing_statement s;
                const struct signing_held_blob *b = &p->refs[i].blobs[k];
                if (m->n_descs < 1 || strcmp(b->digest, m->descs[0].digest) != 0 ||
                    signing_statement_parse(b->data, b->len, &s, NULL) < 0)
                    continue;
                if (!strcmp(s.created, p->stmt.created) && !strcmp(s.key_id, p->stmt.key_id) &&
                    !strcmp(s.channel, p->stmt.channel) && !strcmp(s.digest, p->stmt.digest))
                    p->stmt_ref = i;
                signing_statement_release(&s);
            }
        }
    int64_t latest;
    if ((r = channel_accepted(p->st, p->res->name, p->channel, &latest, err)) < 0)
        return r;
    if (p->stmt.created_t < latest) {
        char when[RFC3339_SIZE];
        rfc3339_format(latest, when);
        return reg_bad(p->cl, err, "refusing the statement for %s:%s made at %s: the store accepted a newer one "
                       "(made at %s); the registry serves an old channel (rollback)", p->res->name, p->channel,
                       p->stmt.created, when);
    }
    return 0;
}

/* ---- the whole pull --------------------------------------------------------- */

static int publish(struct pull *p, struct kiln_err *err)
{
    struct publish_referrer *refs = xcalloc(p->n_refs + 1, sizeof(*refs));
    for (size_t i = 0; i < p->n_refs; i++)
        refs[i] = (struct publish_referrer){ p->refs[i].digest, p->refs[i].rm.m->media_type,
                                             p->refs[i].rm.m->artifact_type, p->refs[i].rm.body.len,
                                             p->refs[i].rm.m->annotations };
    /* the accepted channel statement is marked: the record rollback is checked against */
    json_t *accepted = NULL;
    if (p->channel) {
        json_t *a = p->refs[p->stmt_ref].rm.m->annotations;
        accepted = a ? json_deep_copy(a) : json_object();
        json_object_set_new(accepted, ANN_ACCEPTED, json_string(p->channel));
        json_object_set_new(accepted, ANN_ACCEPTED_NAME, json_string(p->res->name));
        json_object_set_new(accepted, ANN_ACCEPTED_TIME, json_string(p->stmt.created));
        refs[p->stmt_ref].annotations = accepted;
    }
    struct publish_request req = {
        .ref = { .name = p->res->name, .version = p->res->version, .no_downgrade = !p->o->allow_downgrade,
                 .channel = p->channel },
        .digest = p->res->digest,
        .media_type = p->top.m->media_type,
        .size = p->top.body.len,
        .blobs = p->held,
        .n_blobs = p->n_held,
        .referrers = refs,
        .n_referrers = p->n_refs,
    };
    /* not after an interrupt; and no interrupt removes what is being published */
    pthread_mutex_lock(&current_lock);
    int r = p->closed ? kiln_errf(err, KILN_EFAIL, "pull interrupted") : publish_image(p->st, &req, NULL, err);
    current = NULL;
    pthread_mutex_unlock(&current_lock);
    json_decref(accepted);
    free(refs);
    return r;
}

static int run(struct pull *p, struct kiln_err *err)
{
    int r;
    if (!p->o->n_keys)
        return kiln_errf(err, KILN_EINVAL, "no trusted key: give at least one --key");
    if ((r = reg_client_new(p->src, &p->o->conn, &p->cl, err)) < 0 || (r = reg_ping(p->cl, err)) < 0)
        return r;
    if ((r = fetch_top(p, err)) < 0 || (r = fetch_referrers(p, err)) < 0 || (r = check_signatures(p, err)) < 0)
        return r;
    if (p->channel && (r = check_channel(p, err)) < 0)
        return r;
    if (!p->o->allow_downgrade && (r = publish_downgrade_check(p->st, p->res->name, p->res->version, err)) < 0)
        return r;
    if ((r = fetch_contents(p, p->top.m, 0, err)) < 0)
        return r;
    kiln_log(KILN_LOG_INFO, "fetching %zu blobs from %s/%s", p->n_blobs, p->src->host, p->src->repo);
    if ((r = fetch_blobs(p, err)) < 0)
        return r;
    return publish(p, err);
}

int registry_pull(struct store *st, const struct registry_ref *src, const struct registry_pull_opts *o,
                  struct registry_pull_result *res, struct kiln_err *err)
{
    memset(res, 0, sizeof(*res));
    if (o->jobs > REGISTRY_PULL_MAX_JOBS)
        return kiln_errf(err, KILN_EINVAL, "at most %d parallel transfers, not %u", REGISTRY_PULL_MAX_JOBS, o->jobs);
    struct pull p = { .st = st, .src = src, .o = o, .res = res };
    pthread_mutex_init(&p.mu, NULL);
    if (src->tag && !src->digest && ref_check_version(src->tag, NULL) != 0)
        p.channel = src->tag;
    pthread_mutex_lock(&current_lock);
    current = &p;
    pthread_mutex_unlock(&current_lock);
    int r = run(&p, err);
    pthread_mutex_lock(&current_lock);
    current = NULL;
    pthread_mutex_unlock(&current_lock);
    pthread_mutex_destroy(&p.mu);
    signing_statement_release(&p.stmt);
    /* publish_image() took the held blobs over; before it, they go here. */
    for (size_t i = 0; i < p.n_held; i++)
        store_blob_abort(p.held[i].w);
    free(p.held);
    oci_desc_list_free(p.blobs, p.n_blobs);
    for (size_t i = 0; i < p.n_refs; i++)
        referrer_release(&p.refs[i]);
    free(p.refs);
    for (size_t i = 0; p.small_bodies && i < p.n_small; i++)
        buf_release(&p.small_bodies[i]);
    free(p.small_bodies);
    oci_desc_list_free(p.small, p.n_small);
    reg_manifest_release(&p.top);
    reg_client_free(p.cl);
    if (r < 0)
        registry_pull_result_release(res);
    return r;
}

void registry_pull_result_release(struct registry_pull_result *res)
{
    free(res->name);
    free(res->version);
    free(res->signed_by);
    res->name = res->version = res->signed_by = NULL;
}

/* ---- an artifact, unsigned ------------------------------------------------ */

int registry_fetch_artifact(struct store *st, const struct registry_ref *src, const struct registry_opts *o,
                            char digest_out[DIGEST_STR_SIZE], struct kiln_err *err)
{
    struct registry_pull_result res = { 0 };
    struct registry_pull_opts po = { .conn = *o };
    struct pull p = { .st = st, .src = src, .o = &po, .res = &res };
    int r = reg_client_new(src, o, &p.cl, err);
    if (r == 0)
        r = fetch_top(&p, err);
    if (r == 0)
        r = fetch_contents(&p, p.top.m, 0, err);
    if (r == 0)
        r = fetch_blobs(&p, err);
    /* Every blob was hashed as it came: commit them, children first does not
     * matter (nothing lists them until the caller does). */
    for (size_t i = 0; i < p.n_held; i++) {
        if (r == 0)
            r = store_blob_commit(p.held[i].w, p.held[i].digest, NULL, NULL, err);
        else
            store_blob_abort(p.held[i].w);
        p.held[i].w = NULL;
    }
    if (r == 0)
        snprintf(digest_out, DIGEST_STR_SIZE, "%s", res.digest);
    free(p.held);
    oci_desc_list_free(p.blobs, p.n_blobs);
    reg_manifest_release(&p.top);
    reg_client_free(p.cl);
    return r;
}
