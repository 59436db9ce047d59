/* sbom.h - what is inside an image, as SPDX 2.3 and CycloneDX 1.6 JSON.
 *
 * sbom_read() takes a root file system (a built tree, tree/tree.h, or an
 * image's rootfs read into one) and reads, as hostile input with the limits
 * below:
 *   - the dpkg database: /var/lib/dpkg/status (every package not purged and
 *     not reduced to its config files: name, version, architecture, source
 *     package and version), and /usr/share/doc/PKG/copyright where it is a
 *     machine-readable (DEP-5) file: its License fields, turned into an SPDX
 *     license expression (Debian short names mapped to SPDX identifiers,
 *     others as LicenseRef-NAME);
 *   - /etc/os-release (or /usr/lib/os-release): the operating system;
 *   - the file manifest: every regular file that no package owns (not named
 *     by any /var/lib/dpkg/info/NAME.list, nor a diversion's target), with its
 *     SHA-256 (and SHA-1, which SPDX 2.x requires of every file).
 * A tree without a dpkg database gives no packages and every file unowned;
 * one without os-release gives no operating system component.
 *
 * sbom_spdx() and sbom_cyclonedx() write the documents.  Both are
 * deterministic: packages sorted by name and architecture, files by path,
 * the time is opts->created (SOURCE_DATE_EPOCH), and the SPDX namespace and
 * the CycloneDX serial number are derived from the SHA-256 of the document
 * itself (made with them blank), so the same tree gives the same bytes.
 * Each package carries the purl pkg:deb/ID/NAME@VERSION?arch=ARCH&distro=ID-VERSION_ID
 * (ID from os-release, "debian" when absent; the distro qualifier is left
 * out when os-release names no VERSION_ID).
 *
 * Errors (KILN_EINVAL, naming the file and line): a status file larger than
 * SBOM_MAX_STATUS_BYTES, more than SBOM_MAX_PACKAGES packages, a line that
 * is not "Field: value" or a continuation, NUL bytes or invalid UTF-8, a
 * paragraph without Package, an invalid package name, version or
 * architecture, the same package and architecture twice; a .list file
 * larger than SBOM_MAX_LIST_BYTES; an os-release larger than
 * SBOM_MAX_OS_RELEASE_BYTES or with a malformed line.  A copyright file
 * that is not machine-readable, larger than SBOM_MAX_COPYRIGHT_BYTES or
 * malformed only leaves the package's license unstated.
 *
 * Ownership: struct sbom is the caller's (sbom_free()); the JSON documents
 * are new references.  The tree is borrowed and not changed. */
#ifndef KILN_SBOM_H
#define KILN_SBOM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct tree;

#define SBOM_MAX_STATUS_BYTES (32u << 20)
#define SBOM_MAX_PACKAGES 65536
#define SBOM_MAX_LIST_BYTES (16u << 20)
#define SBOM_MAX_COPYRIGHT_BYTES (1u << 20)
#define SBOM_MAX_OS_RELEASE_BYTES (64u << 10)

struct sbom;

int sbom_read(struct tree *t, struct sbom **out, struct kiln_err *err);
void sbom_free(struct sbom *s);

/* What the documents say about the image itself. */
struct sbom_doc_opts {
    const char *name;    /* the image's name */
    const char *version; /* its version */
    int64_t created;     /* SOURCE_DATE_EPOCH */
};

json_t *sbom_spdx(const struct sbom *s, const struct sbom_doc_opts *o);
json_t *sbom_cyclonedx(const struct sbom *s, const struct sbom_doc_opts *o);

size_t sbom_package_count(const struct sbom *s);
size_t sbom_unowned_count(const struct sbom *s);

#endif
