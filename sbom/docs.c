/* docs.c - the inventory as an SPDX 2.3 and a CycloneDX 1.6 JSON document.
 *
 * SPDX 2.3 (clauses 6-11): the document's spdxVersion, dataLicense CC0-1.0,
 * SPDXID SPDXRef-DOCUMENT, name, documentNamespace and creationInfo
 * (created, creators); every package its name, SPDXID and downloadLocation
 * (filesAnalyzed false: no verification code is owed); every file its
 * fileName, SPDXID and checksums, of which SHA-1 is mandatory; a DESCRIBES
 * relationship from the document; each LicenseRef-* used defined in
 * hasExtractedLicensingInfos.  CycloneDX 1.6: bomFormat, specVersion and,
 * for each component, type and name; bom-refs unique. */
#include "sbom/sbom.h"
#include "sbom/sbom-internal.h"

#include <string.h>

#include "common/common.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "common/banned.h"

#define SPDX_NAMESPACE_BASE "https://kiln.dev/spdx/"
#define IMAGE_ID "SPDXRef-Image"
#define OS_ID "SPDXRef-OperatingSystem"

void sbom_doc_hash(json_t *doc, char hex[HASH_HEX_LEN + 1])
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    hash_sha256_hex(s ? s : "", s ? strlen(s) : 0, hex);
    free(s);
}

/* [A-Za-z0-9.-] of s, others as '-'. */
static void id_add(struct buf *b, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
        buf_addch(b, ok ? c : '-', NULL);
    }
}

/* A package's SPDXID: readable, and unique by a hash of name and architecture. */
static char *package_id(const struct sbom_package *k)
{
    _cleanup_free_ char *key = xasprintf("%s:%s", k->name, k->arch);
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(key, strlen(key), hex);
    struct buf b;
    buf_init(&b, 0);
    buf_adds(&b, "SPDXRef-Package-deb-", NULL);
    id_add(&b, k->name);
    buf_addch(&b, '-', NULL);
    id_add(&b, k->arch);
    buf_addf(&b, NULL, "-%.8s", hex);
    return buf_detach(&b, NULL);
}

static char *file_id(const struct sbom_file *f)
{
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(f->path, strlen(f->path), hex);
    return xasprintf("SPDXRef-File-%.16s", hex);
}

static json_t *relationship(const char *from, const char *type, const char *to)
{
    return json_pack("{s:s, s:s, s:s}", "spdxElementId", from, "relationshipType", type, "relatedSpdxElement", to);
}

static const char *or_none(const char *s)
{
    return s ? s : "NOASSERTION";
}

json_t *sbom_spdx(const struct sbom *s, const struct sbom_doc_opts *o)
{
    char created[RFC3339_SIZE];
    rfc3339_format(o->created, created);
    _cleanup_free_ char *doc_name = xasprintf("%s-%s", o->name, o->version);
    _cleanup_free_ char *creator = xasprintf("Tool: kiln-%s", KILN_VERSION);
    json_t *pkgs = json_array(), *files = json_array(), *rels = json_array();

    json_array_append_new(pkgs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s}", "name", o->name, "SPDXID",
                                          IMAGE_ID, "versionInfo", o->version, "downloadLocation", "NOASSERTION",
                                          "filesAnalyzed", 0, "primaryPackagePurpose", "CONTAINER",
                                          "licenseConcluded", "NOASSERTION", "licenseDeclared", "NOASSERTION",
                                          "copyrightText", "NOASSERTION"));
    json_array_append_new(rels, relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID));
    if (s->os_id) {
        json_t *os = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s}", "name", s->os_id, "SPDXID", OS_ID,
                               "downloadLocation", "NOASSERTION", "filesAnalyzed", 0, "primaryPackagePurpose",
                               "OPERATING-SYSTEM", "licenseConcluded", "NOASSERTION", "licenseDeclared",
                               "NOASSERTION", "copyrightText", "NOASSERTION");
        if (s->os_version_id)
            json_object_set_new(os, "versionInfo", json_string(s->os_version_id));
        if (s->os_pretty || s->os_name)
            json_object_set_new(os, "description", json_string(s->os_pretty ? s->os_pretty : s->os_name));
        if (s->os_home)
            json_object_set_new(os, "homepage", json_string(s->os_home));
        json_array_append_new(pkgs, os);
        json_array_append_new(rels, relationship(IMAGE_ID, "CONTAINS", OS_ID));
    }
    for (size_t i = 0; i < s->n_pkgs; i++) {
        const struct sbom_package *k = &s->pkgs[i];
        _cleanup_free_ char *id = package_id(k);
        _cleanup_free_ char *src = xasprintf("built from Debian source package %s, version %s", k->source,
                                             k->source_version);
        json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}", "name", k->name,
                              "SPDXID", id, "versionInfo", k->version, "downloadLocation", "NOASSERTION",
                              "filesAnalyzed", 0, "sourceInfo", src, "licenseConcluded", "NOASSERTION",
                              "licenseDeclared", or_none(k->license), "copyrightText", "NOASSERTION",
                              "externalRefs", "referenceCategory", "PACKAGE-MANAGER", "referenceType", "purl",
                              "referenceLocator", k->purl);
        json_array_append_new(pkgs, p);
        json_array_append_new(rels, relationship(IMAGE_ID, "CONTAINS", id));
        if (s->os_id)
            json_array_append_new(rels, relationship(id, "DEPENDS_ON", OS_ID));
    }
    for (size_t i = 0; i < s->n_files; i++) {
        const struct sbom_file *f = &s->files[i];
        _cleanup_free_ char *id = file_id(f);
        _cleanup_free_ char *text = utf8_lossy(f->path);
        _cleanup_free_ char *name = xasprintf(".%s", text);
        json_t *file = json_pack("{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}], s:s, s:s}", "fileName", name, "SPDXID", id,
                                 "checksums", "algorithm", "SHA1", "checksumValue", f->sha1, "algorithm", "SHA256",
                                 "checksumValue", f->sha256, "licenseConcluded", "NOASSERTION", "copyrightText",
                                 "NOASSERTION");
        if (strcmp(text, f->path)) {
            /* A name that is not UTF-8: fileName shows it, the comment has its bytes. */
            _cleanup_free_ char *hex = text_hex(f->path, strlen(f->path));
            _cleanup_free_ char *comment = xasprintf("the file name is not UTF-8; its bytes in hex: %s", hex);
            json_object_set_new(file, "comment", json_string(comment));
        }
        json_array_append_new(files, file);
        json_array_append_new(rels, relationship(IMAGE_ID, "CONTAINS", id));
    }
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:[s]}, s:o, s:o, s:o}", "spdxVersion", "SPDX-2.3",
                            "dataLicense", "CC0-1.0", "SPDXID", "SPDXRef-DOCUMENT", "name", doc_name,
                            "documentNamespace", "", "creationInfo", "created", created, "creators", creator,
                            "packages", pkgs, "files", files, "relationships", rels);
    if (s->n_refs) {
        json_t *refs = json_array();
        for (size_t i = 0; i < s->n_refs; i++) {
            _cleanup_free_ char *text = xasprintf("The license Debian's machine-readable copyright file names '%s'; "
                                                  "its text is in that file.", s->refs[i].name);
            json_array_append_new(refs, json_pack("{s:s, s:s, s:s}", "licenseId", s->refs[i].id, "name",
                                                  s->refs[i].name, "extractedText", text));
        }
        json_object_set_new(doc, "hasExtractedLicensingInfos", refs);
    }
    char hex[HASH_HEX_LEN + 1];
    sbom_doc_hash(doc, hex);
    _cleanup_free_ char *ns = xasprintf(SPDX_NAMESPACE_BASE "%s-%s-%s", o->name, o->version, hex);
    json_object_set_new(doc, "documentNamespace", json_string(ns));
    return doc;
}

json_t *sbom_cyclonedx(const struct sbom *s, const struct sbom_doc_opts *o)
{
    char created[RFC3339_SIZE];
    rfc3339_format(o->created, created);
    json_t *comps = json_array();
    json_t *deps = json_array();
    if (s->os_id) {
        json_t *os = json_pack("{s:s, s:s, s:s}", "type", "operating-system", "bom-ref", "os", "name", s->os_id);
        if (s->os_version_id)
            json_object_set_new(os, "version", json_string(s->os_version_id));
        if (s->os_pretty || s->os_name)
            json_object_set_new(os, "description", json_string(s->os_pretty ? s->os_pretty : s->os_name));
        if (s->os_home)
            json_object_set_new(os, "externalReferences", json_pack("[{s:s, s:s}]", "type", "website", "url",
                                                                    s->os_home));
        json_array_append_new(comps, os);
    }
    json_t *image_deps = json_array();
    if (s->os_id)
        json_array_append_new(image_deps, json_string("os"));
    for (size_t i = 0; i < s->n_pkgs; i++) {
        const struct sbom_package *k = &s->pkgs[i];
        json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "type", "library",
                              "bom-ref", k->purl, "name", k->name, "version", k->version, "purl", k->purl,
                              "properties", "name", "kiln:deb:architecture", "value", k->arch, "name",
                              "kiln:deb:source", "value", k->source, "name", "kiln:deb:source-version", "value",
                              k->source_version);
        if (k->license)
            json_object_set_new(c, "licenses", json_pack("[{s:s}]", "expression", k->license));
        json_array_append_new(comps, c);
        json_array_append_new(image_deps, json_string(k->purl));
    }
    for (size_t i = 0; i < s->n_files; i++) {
        const struct sbom_file *f = &s->files[i];
        /* A name that is not UTF-8 is shown as text, and its bom-ref (unique) has its bytes in hex. */
        _cleanup_free_ char *text = utf8_lossy(f->path);
        _cleanup_free_ char *hex = text_hex(f->path, strlen(f->path));
        _cleanup_free_ char *ref = strcmp(text, f->path) ? xasprintf("file-hex:%s", hex) : xasprintf("file:%s", text);
        json_array_append_new(comps, json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "type", "file",
                                               "bom-ref", ref, "name", text, "hashes", "alg", "SHA-1", "content",
                                               f->sha1, "alg", "SHA-256", "content", f->sha256));
    }
    json_array_append_new(deps, json_pack("{s:s, s:o}", "ref", "image", "dependsOn", image_deps));
    json_t *doc = json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:{s:[{s:s, s:s, s:s}]}, s:{s:s, s:s, s:s, s:s}}, "
                            "s:o, s:o}",
                            "bomFormat", "CycloneDX", "specVersion", "1.6", "serialNumber", "", "version", 1,
                            "metadata", "timestamp", created, "tools", "components", "type", "application", "name",
                            "kiln", "version", KILN_VERSION, "component", "type", "container", "bom-ref", "image",
                            "name", o->name, "version", o->version, "components", comps, "dependencies", deps);
    char h[HASH_HEX_LEN + 1];
    sbom_doc_hash(doc, h);
    /* A name-based UUID (version 5 layout) from the document's hash. */
    static const char variant[] = "89ab";
    _cleanup_free_ char *serial = xasprintf("urn:uuid:%.8s-%.4s-5%.3s-%c%.3s-%.12s", h, h + 8, h + 13,
                                            variant[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3], h + 17,
                                            h + 20);
    json_object_set_new(doc, "serialNumber", json_string(serial));
    return doc;
}
