/* drift.h - does a host's disk still hold what its signed image says?
 *
 * The snowflake detector.  drift_check() first verifies the image: at
 * least one signature by a trusted key over exactly this image, and its
 * file manifest reached only through the signed manifest, every document
 * checked against its digest as it is read.  Then it reads the disk
 * read-only through libguestfs (disk_read_root(), safe while the host
 * runs), builds the file manifest of what is on it, and compares the two
 * (images/diff.h), leaving out the paths a running system changes by
 * itself: drift_default_ignore, the image's own list (the recipe's
 * drift.ignore, recorded in the signed dev.kiln.drift.ignore annotation)
 * and the caller's.
 *
 * Patterns are absolute paths where "*" and "?" match within one path
 * component and "**" matches any number of whole components: /var/log
 * followed by slash-star-star matches everything below /var/log (not
 * /var/log itself, whose removal is still drift). */
#ifndef KILN_DRIFT_H
#define KILN_DRIFT_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "images/diff.h"

#define DRIFT_MAX_PATTERNS 256

/* What every booted Debian system writes by itself (NULL-terminated). */
extern const char *const drift_default_ignore[];

/* 1 when path matches pattern (see above), else 0. */
int drift_match(const char *pattern, const char *path);

/* KILN_EINVAL unless pattern is a usable pattern: absolute, at most 4096
 * bytes, no empty, "." or ".." component.  what names it in the message. */
int drift_pattern_check(const char *pattern, const char *what, struct kiln_err *err);

struct signing_pubkey;

struct drift_opts {
    const char *store;                    /* the store holding the image */
    const char *ref;                      /* the image: NAME:VERSION, a channel, @sha256:... */
    struct signing_pubkey *const *keys;   /* trusted keys (borrowed) */
    size_t n_keys;
    const char *const *ignore;            /* more patterns, already checked */
    size_t n_ignore;
    const char *scratch;                  /* a directory for the disk's tar and tree */
};

/* What drift_check() found.  Embedded: drift_report_release() frees it. */
struct drift_report {
    char *image;          /* "NAME:VERSION" */
    char *digest;         /* the image's digest */
    char *key_id;         /* the trusted key that signed it */
    json_t *ignore;       /* every pattern applied (array of strings) */
    struct diff diff;     /* what differs, ignored paths left out */
    size_t ignored;       /* differences left out by a pattern */
};

/* Verifies the image and compares the disk at disk_path with it.  Returns
 * 0 with *rep filled (rep->diff.n == 0: no drift); KILN_EVERIFY when the
 * image fails verification, other codes when the image or the disk cannot
 * be read: then nothing is in *rep. */
int drift_check(const char *disk_path, const struct drift_opts *o, struct drift_report *rep,
                struct kiln_err *err);

/* {"image","digest","keyId","disk","drift":bool,"ignored":N,"ignore":[...],
 *  "added":[...],"removed":[...],"changed":[{"path","fields"}]}: new reference. */
json_t *drift_report_json(const struct drift_report *rep, const char *disk_path);
void drift_report_release(struct drift_report *rep);

#endif
