/* sbom-internal.h - the inventory read.c fills and spdx.c / cyclonedx.c write. */
#ifndef KILN_SBOM_INTERNAL_H
#define KILN_SBOM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"
#include "sbom/sbom.h"

struct sbom_package {
    char *name, *version, *arch;
    char *source, *source_version; /* the Source field, else the package's own */
    char *license;                 /* SPDX license expression, or NULL: not stated */
    char *purl;
};

struct sbom_file {
    char *path;                    /* absolute, as in the tree */
    char sha256[HASH_HEX_LEN + 1];
    char sha1[HASH_HEX_LEN + 1];
    uint64_t size;
};

/* A LicenseRef-* used by some package, with the Debian short name it stands for. */
struct sbom_license_ref {
    char *id, *name;
};

struct sbom {
    int has_dpkg;
    struct sbom_package *pkgs;     /* sorted by name, then arch */
    size_t n_pkgs;
    struct sbom_file *files;       /* sorted by path */
    size_t n_files;
    struct sbom_license_ref *refs; /* sorted by id */
    size_t n_refs;
    /* os-release, each NULL when absent */
    char *os_id, *os_name, *os_version_id, *os_pretty, *os_codename, *os_home;
};

/* The document made with its identifier blank, hashed: the hex SHA-256 of
 * its canonical form (compact, sorted keys). */
void sbom_doc_hash(json_t *doc, char hex[HASH_HEX_LEN + 1]);

#endif
