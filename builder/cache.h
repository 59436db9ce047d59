/* cache.h - the build cache: what a build step made, found again by its plan key.
 *
 * Keys are the plan's (builder/plan.h): a step's key hashes kiln's version,
 * the key of the step it starts from, its recipe section and the digests of
 * the host content it reads, so a key only hits when the step's result
 * cannot differ.  A step whose key waits for its inputs' digests can have it
 * early: cache_prehash() hashes the base tarball or disk and the files' src
 * (reading is far cheaper than extracting and building) and completes the
 * plan with the same digests the run records.
 *
 * Entries live in the store, as ordinary blobs reachable from index.json:
 * each entry is an index.json entry annotated dev.kiln.cache.key (and
 * dev.kiln.cache.step, dev.kiln.cache.time, org.opencontainers.image.created;
 * no ref.name) naming an OCI index (artifactType CACHE_ARTIFACT_TYPE) whose
 * manifests are
 *   [0]  a state manifest: its config (CACHE_STATE_MT) is the JSON the build
 *        needs to go on from there (SOURCE_DATE_EPOCH, the build record's
 *        inputs so far, the OCI base's config, the sysprep check, an output's
 *        descriptor and file manifest); for a tree state its one layer is the
 *        tree after the step as an uncompressed tar;
 *   [1]  for an output, the output's own manifest (so its whole closure is
 *        kept by gc).
 * `kiln gc` keeps what entries reach; cache_prune() removes entries in one
 * index transaction (a killed prune leaves the old index.json or the new one)
 * and their blobs go at the next gc.
 *
 * Every entry is checked before use: a tree state's tar is hashed while it is
 * read back, an output's blobs are re-hashed.  A corrupt entry is never used:
 * it is dropped from index.json, its bad blobs are deleted (so the rebuild
 * stores good ones again) and cache_get_*() says so through *why.
 *
 * Writing: blobs are in the store before the index transaction that lists
 * them, so a killed writer leaves the cache as it was or with whole entries.
 * A build writes its entries only once it is published (its blobs held until
 * then, builder/ctx.h): a failed or interrupted build changes nothing.
 *
 * Ownership: struct cache is the caller's (cache_open/cache_free); it borrows
 * the store.  JSON returned through out-parameters is a new reference. */
#ifndef KILN_BUILD_CACHE_H
#define KILN_BUILD_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"
#include "images/store.h"
#include "recipes/recipe.h"
#include "tree/tree.h"

struct build_plan;

#define CACHE_ARTIFACT_TYPE "application/vnd.dev.kiln.cache.v1+json"
#define CACHE_STATE_MT "application/vnd.dev.kiln.cache.state.v1+json"
#define CACHE_STATE_LIMIT (16u << 20)

struct cache;

/* Reads the store's cache entries once (a snapshot; entries added later by
 * another build are not seen).  *out: cache_free(). */
int cache_open(struct store *st, struct cache **out, struct kiln_err *err);
void cache_free(struct cache *c);

/* Hashes the host inputs of the plan's steps, in order, as far as they can be
 * known before the run (base tarball and disk, files' src) and completes
 * their keys.  An input that cannot be read leaves its key unknown (the run
 * then reports the problem).  No effect on other bases. */
void cache_prehash(const struct recipe *r, struct build_plan *p);

/* The shared cache: dest is [http[s]://]REGISTRY/REPO (no tag); conn is
 * copied (its strings borrowed: they must outlive c).  Every entry stored
 * from now on is also pushed there, as an OCI artifact (the entry's index and
 * every blob it reaches) tagged "kiln-cache-<key>"; an entry missing locally
 * is looked for there and fetched (each blob checked against its digest,
 * the index's dev.kiln.cache.key against the key) and listed locally before
 * it is used, checked as a local one.  A registry that cannot be reached or
 * lacks an entry is a miss (reported when it is not a plain 404).  Whoever
 * can push to REPO decides what a key gives: use a repository that only
 * trusted builders write to. */
struct registry_opts;
int cache_set_remote(struct cache *c, const char *dest, int plain_http, const struct registry_opts *conn,
                     struct kiln_err *err);

/* 1 if an entry is listed under key (not yet checked); with a shared cache,
 * an entry missing locally is fetched from it first. */
int cache_has(struct cache *c, const char *key);
/* 1 if an entry is listed under key in the store (the shared cache is not asked). */
int cache_has_local(const struct cache *c, const char *key);

/* A tree state: returns 1 with *tree (a new tree in scratch, devices allowed
 * as in the guest's output) and *state on a hit, 0 on a miss (*why, if set,
 * says why a listed entry was not used: caller frees it), < 0 on failure. */
int cache_get_tree(struct cache *c, const char *key, const char *scratch, const struct tree_limits *limits,
                   struct tree **tree, json_t **state, char **why, struct kiln_err *err);
/* Lists a tree state under key, for step (its name): the tree's tar, already
 * in the store, and the state (borrowed). */
int cache_put_tree(struct cache *c, const char *key, const char *step, const char *tar_digest, uint64_t tar_size,
                   json_t *state, struct kiln_err *err);

/* An output: 1 with *state (as given to cache_put_output) when every blob of
 * the entry checks, 0 on a miss (*why as above), < 0 on failure. */
int cache_get_output(struct cache *c, const char *key, json_t **state, char **why, struct kiln_err *err);
/* Stores an output whose manifest (media type, digest, size) is in the store. */
int cache_put_output(struct cache *c, const char *key, const char *manifest_media_type,
                     const char *manifest_digest, uint64_t manifest_size, json_t *state, struct kiln_err *err);

/* ---- kiln cache ls / prune --------------------------------------------- */

struct cache_entry {
    char key[65];
    char *step;        /* owned */
    char *digest;      /* the entry's index blob, owned */
    int64_t time;      /* when it was stored (seconds since the epoch), 0 if unknown */
    uint64_t size;     /* bytes of every blob it reaches (shared ones counted in each) */
};
/* The store's cache entries, oldest first.  *out: cache_entries_free(). */
int cache_list(struct store *st, struct cache_entry **out, size_t *n, struct kiln_err *err);
void cache_entries_free(struct cache_entry *v, size_t n);
/* Removes the entries stored before now - keep_seconds (all when
 * keep_seconds is 0), in one index transaction.  *removed gets their count. */
int cache_prune(struct store *st, int64_t keep_seconds, time_t now, size_t *removed, struct kiln_err *err);

#endif
