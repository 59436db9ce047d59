/* manifest.c - skeleton; implemented in the following commits. */
#include "images/manifest.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/banned.h"

void oci_desc_release(struct oci_desc *d) { (void)d; }
void oci_desc_copy(struct oci_desc *dst, const struct oci_desc *src) { memset(dst, 0, sizeof(*dst)); (void)src; }
int oci_desc_parse(json_t *j, const char *what, struct oci_desc *out, struct kiln_err *err) { (void)j; (void)what; memset(out, 0, sizeof(*out)); return kiln_errf(err, KILN_EFAIL, "not available"); }
json_t *oci_desc_to_json(const struct oci_desc *d) { (void)d; return json_object(); }
const char *oci_desc_annotation(const struct oci_desc *d, const char *key) { (void)d; (void)key; return NULL; }
int oci_manifest_parse(const void *data, size_t len, struct oci_manifest **out, struct kiln_err *err) { (void)data; (void)len; *out = NULL; return kiln_errf(err, KILN_EFAIL, "not available"); }
void oci_manifest_free(struct oci_manifest *m) { free(m); }
int oci_media_type_is_manifest(const char *mt) { return mt && strcmp(mt, OCI_MT_MANIFEST) == 0; }
int oci_media_type_is_index(const char *mt) { return mt && strcmp(mt, OCI_MT_INDEX) == 0; }
