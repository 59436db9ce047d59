/* debian-mirror.h - the state of a Debian mirror, checked.
 *
 * debian_mirror_check() fetches each suite's InRelease (libcurl, bounded,
 * http/https/file only), verifies its signature with gpgv against one
 * keyring and keeps the signed Release text that gpgv gives back; nothing
 * outside the signature is ever read.  The InRelease digests are the
 * mirror's state: a new InRelease (a package updated, a security fix) is a
 * new state.
 *
 * debian_mirror_resolve() gives each installed package the SHA-256 of its
 * .deb: it fetches the suites' Packages indices for amd64, checks each
 * against the digest and size the signed Release lists, and looks the
 * packages up by name, version and architecture.
 *
 * Errors: KILN_EINVAL for a suite, component or snapshot the mirror does
 * not have (HTTP 404, no such file), KILN_EVERIFY for a signature or digest
 * that does not check, KILN_EFAIL for a mirror that cannot be reached. */
#ifndef KILN_DEBIAN_MIRROR_H
#define KILN_DEBIAN_MIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/hash.h"
#include "recipes/recipe.h"

#define DEBIAN_INRELEASE_LIMIT (16u << 20)       /* bytes of one InRelease */
#define DEBIAN_PACKAGES_LIMIT (256u << 20)       /* bytes of one Packages index as fetched */
#define DEBIAN_PACKAGES_EXPANDED_LIMIT (2ull << 30) /* bytes of one Packages index expanded */
#define DEBIAN_STATUS_LIMIT (64u << 20)          /* bytes of /var/lib/dpkg/status */

struct debian_suite_state {
    char *suite;
    char *url;                     /* the mirror, {timestamp} filled in */
    char sha256[HASH_HEX_LEN + 1]; /* of the InRelease as fetched */
    char *release;                 /* the signed Release text (gpgv's output) */
    int64_t date;                  /* its Date, seconds since the epoch; -1 when it has none */
};

struct debian_index {
    char *path;                    /* a checked Packages index, fetched (removed by debian_mirror_free) */
    char *what;                    /* its name in messages */
};

struct debian_mirror {
    struct debian_suite_state *suites; /* [0] the base's suite, then its extra suites */
    size_t n;
    struct debian_index *indices;  /* once fetched */
    size_t n_indices;
};

struct debian_pkg {
    char *name;
    char *version;
    char *arch;
    char sha256[HASH_HEX_LEN + 1]; /* of the .deb, "" until resolved */
};

/* The mirror URL with {timestamp} replaced by snapshot (caller-owned),
 * without a trailing '/'. */
char *debian_mirror_url(const char *tmpl, const char *snapshot);

/* Checks every suite of b (b->suite, then b->suites) against keyring (a
 * binary OpenPGP keyring file).  tmpdir is a private scratch directory.
 * *out is owned by the caller: debian_mirror_free(). */
int debian_mirror_check(const struct recipe_base *b, const char *keyring, const char *tmpdir,
                        struct debian_mirror **out, struct kiln_err *err);
void debian_mirror_free(struct debian_mirror *m);

/* The installed packages of a dpkg status file (text of len bytes), sorted
 * by name, architecture and version; *out owned by the caller:
 * debian_pkgs_free(). */
int debian_dpkg_status(const char *text, size_t len, struct debian_pkg **out, size_t *n, struct kiln_err *err);
void debian_pkgs_free(struct debian_pkg *p, size_t n);

/* Fetches every suite's Packages index for components (amd64) into tmpdir,
 * each checked against the signed Release; once (a second call does nothing). */
int debian_mirror_fetch_indices(struct debian_mirror *m, const struct strv *components, const char *tmpdir,
                                struct kiln_err *err);
/* KILN_EINVAL naming the first of packages (NAME[:ARCH][=VERSION], by
 * name) that no fetched index lists. */
int debian_mirror_check_names(const struct debian_mirror *m, const struct strv *packages, struct kiln_err *err);
/* Fills pkgs[i].sha256 from the fetched indices; fails naming the first
 * package they do not list. */
int debian_mirror_resolve(const struct debian_mirror *m, struct debian_pkg *pkgs, size_t n, struct kiln_err *err);

/* "pkg:deb/debian/NAME@VERSION?arch=ARCH", percent-encoded (caller-owned). */
char *debian_purl(const struct debian_pkg *p);

#endif
