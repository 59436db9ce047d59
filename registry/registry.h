/* registry.h - kiln's OCI Distribution client: push to a registry, pull from one.
 *
 * Written on libcurl and jansson; only registry/ includes curl.h.
 *
 *   DEST       [http://|https://]HOST[:PORT]/REPO[:TAG]
 *              REPO is one or more lowercase path components ([a-z0-9] runs
 *              joined by '.', '_', '__' or '-'); TAG [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
 *              HTTPS unless the DEST says http:// or the caller asks for
 *              plain HTTP (opts.insecure).
 *   transport  HTTPS verified against the system CAs, or opts.ca_file;
 *              Basic auth and the bearer-token flow (WWW-Authenticate:
 *              Bearer realm=,service=,scope= -> GET the token -> retry);
 *              429, 5xx and dropped connections are retried with
 *              exponential backoff, bounded in count and in total time.
 *   limits     manifests and indexes at most REGISTRY_MANIFEST_LIMIT bytes,
 *              error bodies and token answers at most 64 KiB; a response
 *              longer than its limit is refused, whatever its Content-Length.
 *   errors     every failure names the registry, the repository and, when the
 *              registry sent one, its error code ("DENIED", "MANIFEST_INVALID").
 *
 * Push (registry_push): every referrer (signatures, provenance, SBOMs) of
 * each of the image's manifests first, then the image's blobs, then its
 * manifests bottom-up (an index's children before the index), the top one
 * tagged last, so that whoever pulls by the tag finds the referrers there.
 * Blobs: HEAD skips the ones the registry has; one that another repository
 * named in mount_from has is mounted from there; a blob up to chunk_size
 * goes up in one PUT, a larger one in PATCH chunks that resume from the
 * registry's Range after a dropped connection, waiting for a registry that
 * is being restarted; `jobs` transfers at a time, each streamed from the
 * store in constant memory.  Referrers go through the referrers API when the
 * registry has it, else are listed in the index tagged "sha256-<hex of the
 * subject>", written before the image's blobs go up and read back (merged
 * and written again if need be) a second after each write,
 * before the tag, so that concurrent pushers do not lose entries.
 *
 * Pull (registry_pull): fetch, verify, then publish; nothing enters the
 * store's index.json unless all of it passed:
 *   1. the manifest or index SRC names: by digest its bytes must hash to
 *      it, by tag the digest they hash to is the image's;
 *   2. the image's referrers (signatures, provenance): the referrers API, or
 *      the "sha256-<hex>" tag push writes; each a manifest whose subject is
 *      the image; their blobs up to SIGNING_PAYLOAD_LIMIT now (what a
 *      signature holds), larger ones (at most SIGNING_STATEMENT_LIMIT) in 5;
 *   3. at least one signature by a trusted key over exactly this image
 *      (signing_verify_held(), the check `kiln verify` makes); the name and
 *      version to store come from that signature's payload (falling back to
 *      the last repository component and a tag that is a version); a tag
 *      that is a version must be the signed version;
 *      a revocation among the referrers signed by a trusted key refuses
 *      the image (signing_revocation_check_held());
 *   3b. when SRC's tag is not a version (and SRC has no digest) it is a
 *      channel: signing_channel_check_held() must find a trusted, unexpired
 *      statement for it naming the image, its signed name and version; its
 *      time must be no older than the one the store accepted last for
 *      name:channel (the statement's index entry carries
 *      dev.kiln.channel.accepted*); the image is published with the
 *      statement so marked and the local channel pointing at it;
 *   4. rollback protection: a version lower than the highest stored for the
 *      name is refused (KILN_EVERIFY) unless allow_downgrade;
 *   5. the manifests an index lists (pinned by the signed digest), then
 *      every blob not yet in the store, streamed into the store's temp area,
 *      hashed as it comes and stopped at its descriptor's size, `jobs` at a
 *      time; a download cut off goes on from where it stopped (Range);
 *   6. publish_image() (signing/publish.h): the image and its referrers in
 *      one write of index.json.
 * Every manifest is checked by reg_manifest_get() (registry/client.h): at
 * most REGISTRY_MANIFEST_LIMIT bytes, its mediaType the Content-Type it came
 * with, never both an index and a manifest (CVE-2021-41190); every digest is
 * checked (digest_valid) before it is used in a URL or a path.  Every
 * fetched blob is held in the temp area until step 6 and removed on any
 * failure.  Errors: KILN_EINVAL for bad input, KILN_EFAIL for a transfer
 * that failed, KILN_EVERIFY for anything the registry sent that does not
 * check out.
 *
 * The environment is not read here: the caller finds credentials files and
 * passes their paths in.  Strings returned are owned by the caller. */
#ifndef KILN_REGISTRY_H
#define KILN_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "images/ref.h"

struct store; /* images/store.h */

#define REGISTRY_MANIFEST_LIMIT (4u << 20)
#define REGISTRY_SMALL_LIMIT (64u << 10)
#define REGISTRY_CHUNK_DEFAULT (16u << 20)
#define REGISTRY_JOBS_DEFAULT 4 /* parallel blob transfers of push and pull */

/* A parsed DEST.  Embedded: registry_ref_release(). */
struct registry_ref {
    int plain_http;  /* 1: http://, 0: https:// */
    char *host;      /* "host[:port]" */
    char *repo;      /* "a/b" */
    char *tag;       /* NULL when DEST has none */
    char *digest;    /* SRC only: "@sha256:<hex>", NULL when absent */
};

/* Parses DEST; plain_http forces http://.  KILN_EINVAL naming what is wrong.
 * On error out is left empty. */
int registry_ref_parse(const char *dest, int plain_http, struct registry_ref *out, struct kiln_err *err);
void registry_ref_release(struct registry_ref *r);
/* Parses SRC: DEST's form, plus an optional "@sha256:<hex>"; a tag or a
 * digest is required. */
int registry_src_parse(const char *src, int plain_http, struct registry_ref *out, struct kiln_err *err);
/* 1 if s is a valid tag. */
int registry_tag_valid(const char *s);
/* 1 if s is a valid repository ("team/web"). */
int registry_repo_valid(const char *s);

/* How to reach a registry. Strings are borrowed for the call. */
struct registry_opts {
    const char *ca_file;    /* PEM bundle instead of the system CAs, or NULL */
    const char *user;       /* credentials, or NULL for anonymous */
    const char *password;
    unsigned max_attempts;  /* per request; 0 = 5 */
    unsigned max_retry_ms;  /* total time spent waiting between attempts; 0 = 60 s */
};

/* Looks host up in docker config.json files, in order ("auths" -> host ->
 * base64 "auth" = "user:password"; keys may carry a scheme or a path, as
 * docker writes them).  A missing file is skipped; an unreadable or malformed
 * one is KILN_EINVAL naming it.  Returns 1 with *user and *password set
 * (caller-owned), or 0 when no file has an entry for host. */
int registry_creds_find(const char *const *files, size_t n_files, const char *host, char **user,
                        char **password, struct kiln_err *err);

/* The credential helper the docker config.json files name for host, as
 * docker picks it: in the first file that names any, credHelpers[host]
 * (keys spelled as for auths), else credsStore.  Returns 1 with *helper
 * (caller-owned: NAME of the program docker-credential-NAME), 0 when no file
 * names one.  A helper name that is not [A-Za-z0-9._-]+ is KILN_EINVAL
 * naming the file. */
int registry_creds_helper(const char *const *files, size_t n_files, const char *host, char **helper,
                          struct kiln_err *err);

/* Reads what `docker-credential-NAME get` printed (out, len bytes) and its
 * exit status: 1 with *user and *password (caller-owned) from its
 * {"Username":..,"Secret":..}; 0 when it says it has no credentials for the
 * registry ("credentials not found"); else KILN_EFAIL naming the helper. */
int registry_creds_helper_answer(const char *helper, int status, const char *out, size_t len, char **user,
                                 char **password, struct kiln_err *err);

/* Writes USER:PASSWORD for host into the docker config.json `file`
 * (created when missing; its directory must exist) as auths.HOST.auth,
 * replacing the host's entries under other spellings and keeping every other
 * entry and key; mode 0600, written atomically.  KILN_EINVAL for a file that
 * is not a config.json, or a user name that is empty or holds ':'. */
int registry_creds_store(const char *file, const char *host, const char *user, const char *password,
                         struct kiln_err *err);

/* ---- login ------------------------------------------------------------- */

/* Parses a registry [http://|https://]HOST[:PORT] into out (repo "", tag and
 * digest NULL).  KILN_EINVAL naming what is wrong. */
int registry_host_parse(const char *s, int plain_http, struct registry_ref *out, struct kiln_err *err);
/* GET /v2/ on host with o's credentials (Basic, or a bearer token from the
 * challenge's realm, asked for no repository scope): 0 when the registry
 * takes them, else KILN_EFAIL naming the registry, its error code and the
 * HTTP status (KILN_EFAIL too when it cannot be reached). */
int registry_login(const char *host, int plain_http, const struct registry_opts *o, struct kiln_err *err);

/* ---- push -------------------------------------------------------------- */

struct registry_push_opts {
    struct registry_opts conn;
    unsigned jobs;          /* parallel blob transfers; 0 = REGISTRY_JOBS_DEFAULT, at most 16 */
    uint64_t chunk_size;    /* larger blobs go up in chunks of this size; 0 = REGISTRY_CHUNK_DEFAULT */
    /* Other repositories on the same registry (borrowed): a blob this
     * repository lacks and one of them has is mounted from there (POST
     * blobs/uploads/?mount=DIGEST&from=REPO), not sent again.  At most
     * REGISTRY_MOUNT_MAX. */
    const char *const *mount_from;
    size_t n_mount_from;
};
#define REGISTRY_MOUNT_MAX 8

struct registry_push_result {
    char digest[DIGEST_STR_SIZE]; /* of the pushed manifest or index */
    char *tag;                    /* the tag it got (caller-owned: registry_push_result_release) */
    uint64_t blobs_pushed, blobs_skipped, bytes_pushed;
    uint64_t manifests_pushed, referrers_pushed;
    int referrers_api;            /* 1 the registry has the referrers API, 0 the fallback tag was used */
    uint64_t blobs_mounted;       /* of blobs_pushed, the ones mounted from o->mount_from, not sent */
    uint64_t settle_ms;           /* time spent waiting before reading the referrers tag back: what
                                   * was left of that second once the image's blobs were up */
};

/* Pushes the image ref (a store reference: NAME, NAME:VERSION, NAME:CHANNEL,
 * NAME@DIGEST) from st to dest, tagged dest->tag or else the image's version. */
int registry_push(struct store *st, const char *ref, const struct registry_ref *dest,
                  const struct registry_push_opts *o, struct registry_push_result *res, struct kiln_err *err);
void registry_push_result_release(struct registry_push_result *res);
/* Pushes the manifest or index digest (media_type, size) from st and every
 * blob it reaches, tagged dest->tag (required), without referrers: an
 * artifact that is not an image of the store (a build cache entry). */
int registry_push_artifact(struct store *st, const char *media_type, const char *digest, uint64_t size,
                           const struct registry_ref *dest, const struct registry_push_opts *o,
                           struct registry_push_result *res, struct kiln_err *err);

/* ---- promote ----------------------------------------------------------- */

struct signing_key; /* signing/signing.h */

struct registry_promote_opts {
    struct registry_opts conn;
    const char *name;               /* the image name the statement names */
    const char *channel;            /* a tag that is not a version; NULL with revoke */
    int revoke;                     /* push a signed revocation instead: no channel, no tag */
    const struct signing_key *key;  /* signs the statement (borrowed) */
    int64_t now, lifetime;          /* the statement's time, and seconds until it expires */
};

struct registry_promote_result {
    char digest[DIGEST_STR_SIZE];    /* the manifest or index promoted */
    char statement[DIGEST_STR_SIZE]; /* the channel statement's manifest */
    int referrers_api;
};

/* Moves channel o->channel on the registry to the manifest dest's tag (a
 * version) names, uploading none of the image: fetches that manifest (checked
 * as pull does), signs a channel statement for it (signing_channel_put(),
 * made in st: a scratch store the caller owns), pushes the statement as its
 * referrer (referrers API, else the "sha256-<hex>" tag, as push does), then
 * tags the manifest o->channel for people and tools that read tags.  With
 * o->revoke, the referrer is a signed revocation (signing_revocation_put())
 * and no tag moves. */
int registry_promote(struct store *st, const struct registry_ref *dest, const struct registry_promote_opts *o,
                     struct registry_promote_result *res, struct kiln_err *err);

/* ---- pull -------------------------------------------------------------- */

struct signing_pubkey; /* signing/signing.h */

struct registry_pull_opts {
    struct registry_opts conn;
    struct signing_pubkey *const *keys; /* trusted keys, at least one (borrowed) */
    size_t n_keys;
    int allow_downgrade;                /* accept a version lower than the highest stored */
    unsigned jobs;                      /* parallel blob transfers; 0 = REGISTRY_JOBS_DEFAULT, at most
                                         * REGISTRY_PULL_MAX_JOBS */
};
#define REGISTRY_PULL_MAX_JOBS 16

struct registry_pull_result {
    char digest[DIGEST_STR_SIZE];  /* of the manifest or index pulled */
    char *name, *version;          /* what it was stored as (caller-owned: registry_pull_result_release) */
    char *signed_by;               /* the trusted key ID whose signature was accepted */
    uint64_t blobs_fetched, blobs_present, bytes_fetched;
    uint64_t manifests_fetched, referrers_fetched;
    int referrers_api;             /* 1 listed by the referrers API, 0 by the fallback tag (or none) */
};

/* Pulls src into st (opened for writing), as described above. */
int registry_pull(struct store *st, const struct registry_ref *src, const struct registry_pull_opts *o,
                  struct registry_pull_result *res, struct kiln_err *err);
void registry_pull_result_release(struct registry_pull_result *res);
/* For a signal handler's thread: removes the temp files of the pull in
 * progress and keeps it from publishing (it fails, or the process exits). */
void registry_pull_emergency_cleanup(void);
/* Fetches the manifest or index src's tag (or digest) names and every blob it
 * reaches that st lacks, each checked against its digest as it comes, and
 * commits them to st WITHOUT listing anything in index.json and without any
 * signature check: for content the caller lists itself under a name that
 * says what it must be (a build cache entry, whose key the caller checks).
 * digest_out gets the top manifest's digest.  A missing tag is KILN_ENOTFOUND. */
int registry_fetch_artifact(struct store *st, const struct registry_ref *src, const struct registry_opts *o,
                            char digest_out[DIGEST_STR_SIZE], struct kiln_err *err);

/* ---- parsers (exposed for the tests) ----------------------------------- */

/* A WWW-Authenticate challenge.  Embedded: registry_challenge_release(). */
struct registry_challenge {
    char *scheme;   /* "Bearer" or "Basic" (as sent) */
    char *realm;
    char *service;  /* NULL when absent */
    char *scope;    /* NULL when absent */
    char *error;    /* NULL when absent ("insufficient_scope") */
};

/* Parses a WWW-Authenticate value (one or more challenges; a Bearer one is
 * preferred over Basic).  KILN_EINVAL when it is malformed, names no
 * supported scheme, or a Bearer challenge has no realm. */
int registry_challenge_parse(const char *header, struct registry_challenge *out, struct kiln_err *err);
void registry_challenge_release(struct registry_challenge *c);

/* The registry's JSON error body {"errors":[{"code":..,"message":..}]} as
 * "CODE: message" (up to three, joined by "; "), or NULL when the body is
 * not such a document.  Caller-owned. */
char *registry_error_body_message(const char *body, size_t len);

#endif
