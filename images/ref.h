/* ref.h - image names, versions, channels and references.
 *
 *   NAME      [a-z0-9][a-z0-9._-]*, at most 128 characters
 *   VERSION   semantic version 2.0.0 MAJOR.MINOR.PATCH[-PRERELEASE], no
 *             "+build" part: that is legal semver, but an OCI tag cannot
 *             hold '+', so it is refused with its own message
 *   CHANNEL   [a-z][a-z0-9._-]*, at most 64 characters; it starts with a
 *             letter, so it never looks like a version
 *   DIGEST    "sha256:" + 64 lowercase hex characters
 *
 * A reference is one of NAME, NAME:VERSION, NAME:CHANNEL, NAME@DIGEST.
 *
 * These are the only validators for these concepts: recipes, the store
 * and the command line all call them, so that what `kiln check` accepts
 * is what the store accepts.  Messages quote the value (made printable)
 * and never a position; callers add where it came from.  No I/O here. */
#ifndef KILN_IMAGES_REF_H
#define KILN_IMAGES_REF_H

#include <stddef.h>

#include "common/err.h"

#define REF_NAME_MAX 128
#define REF_CHANNEL_MAX 64
#define REF_VERSION_MAX 128
#define REF_LAYOUT_NAME_MAX 255

/* "sha256:" + 64 hex + NUL */
#define DIGEST_STR_SIZE 72

/* 1 if s is exactly "sha256:<64 lowercase hex>"; 0 otherwise (NULL too). */
int digest_valid(const char *s);
/* Returns the 64-character hex part of a valid digest, or NULL. */
const char *digest_hex(const char *digest);

/* Each returns 0, or KILN_EINVAL with a message naming the bad value. */
int ref_check_name(const char *name, struct kiln_err *err);
int ref_check_version(const char *version, struct kiln_err *err);
int ref_check_channel(const char *channel, struct kiln_err *err);
/* A version that `--version auto` builds on: MAJOR.MINOR.PATCH only. */
int ref_check_auto_base(const char *base, struct kiln_err *err);
/* An org.opencontainers.image.ref.name in an OCI layout that is not a kiln
 * store (a tag, or NAME:VERSION): [A-Za-z0-9_][A-Za-z0-9_.:+@/-]*, at most
 * REF_LAYOUT_NAME_MAX characters. */
int ref_check_layout_name(const char *s, struct kiln_err *err);

/* Compares two valid versions by semver 2.0.0 precedence: <0, 0, >0. */
int semver_cmp(const char *a, const char *b);

enum ref_kind {
    REF_LATEST = 0,  /* NAME: the highest version */
    REF_VERSION,     /* NAME:VERSION */
    REF_CHANNEL,     /* NAME:CHANNEL */
    REF_DIGEST,      /* NAME@sha256:... */
};

/* A parsed reference.  All strings are owned by the struct; the ones that
 * do not apply to the kind are NULL. */
struct image_ref {
    enum ref_kind kind;
    char *name;
    char *version;
    char *channel;
    char *digest;
};

/* Parses and validates s; on success the caller releases out with
 * image_ref_release().  On error out is left empty. */
int image_ref_parse(const char *s, struct image_ref *out, struct kiln_err *err);
void image_ref_release(struct image_ref *r);

#endif
