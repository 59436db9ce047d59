/* store.c - skeleton; implemented in the following commits. */
#include <stdlib.h>

#include "common/common.h"
#include "images/store.h"
#include "common/banned.h"

#define NI(err) kiln_errf(err, KILN_EFAIL, "the image store is not available in this build")

struct store { char *dir; };
struct store_blob_writer { int fd; };

int store_open(const char *dir, int flags, struct store **out, struct kiln_err *err) { (void)dir; (void)flags; *out = NULL; return NI(err); }
void store_close(struct store *st) { if (st) { free(st->dir); free(st); } }
const char *store_dir(const struct store *st) { return st->dir; }
int store_blob_begin(struct store *st, struct store_blob_writer **out, struct kiln_err *err) { (void)st; *out = NULL; return NI(err); }
int store_blob_write(struct store_blob_writer *w, const void *d, size_t l, struct kiln_err *err) { (void)w; (void)d; (void)l; return NI(err); }
int store_blob_fd(struct store_blob_writer *w) { return w ? w->fd : -1; }
const char *store_blob_tmp_path(const struct store_blob_writer *w) { (void)w; return NULL; }
int store_blob_commit(struct store_blob_writer *w, const char *e, char d[DIGEST_STR_SIZE], uint64_t *s, struct kiln_err *err) { (void)w; (void)e; (void)d; (void)s; return NI(err); }
void store_blob_abort(struct store_blob_writer *w) { free(w); }
int store_blob_put(struct store *st, const void *data, size_t len, char d[DIGEST_STR_SIZE], struct kiln_err *err) { (void)st; (void)data; (void)len; (void)d; return NI(err); }
int store_blob_put_file(struct store *st, const char *p, char d[DIGEST_STR_SIZE], uint64_t *s, struct kiln_err *err) { (void)st; (void)p; (void)d; (void)s; return NI(err); }
char *store_blob_path(const struct store *st, const char *digest) { (void)st; (void)digest; return NULL; }
int store_blob_exists(const struct store *st, const char *digest) { (void)st; (void)digest; return 0; }
int store_blob_open(const struct store *st, const char *d, int *fd, uint64_t *s, struct kiln_err *err) { (void)st; (void)d; (void)fd; (void)s; return NI(err); }
int store_blob_read(const struct store *st, const char *d, size_t l, struct buf *o, struct kiln_err *err) { (void)st; (void)d; (void)l; (void)o; return NI(err); }
int store_blob_verify(const struct store *st, const char *d, int64_t s, struct kiln_err *err) { (void)st; (void)d; (void)s; return NI(err); }
int store_manifest_read(const struct store *st, const char *d, int64_t s, struct oci_manifest **o, struct kiln_err *err) { (void)st; (void)d; (void)s; *o = NULL; return NI(err); }
int store_walk(const struct store *st, const struct oci_desc *r, int f, store_walk_fn fn, void *ud, struct kiln_err *err) { (void)st; (void)r; (void)f; (void)fn; (void)ud; return NI(err); }
void store_image_free(struct store_image *img) { free(img); }
void store_image_list_free(struct store_image **v, size_t n) { for (size_t i = 0; v && i < n; i++) store_image_free(v[i]); free(v); }
int store_image_add(struct store *st, const struct store_image *img, int f, char **v, struct kiln_err *err) { (void)st; (void)img; (void)f; (void)v; return NI(err); }
int store_next_auto_version(struct store *st, const char *n, const char *b, time_t now, char **o, struct kiln_err *err) { (void)st; (void)n; (void)b; (void)now; *o = NULL; return NI(err); }
int store_channel_set(struct store *st, const char *n, const char *c, const char *v, struct kiln_err *err) { (void)st; (void)n; (void)c; (void)v; return NI(err); }
int store_resolve(struct store *st, const char *r, struct store_image **o, struct kiln_err *err) { (void)st; (void)r; *o = NULL; return NI(err); }
int store_list(struct store *st, const char *n, struct store_image ***o, size_t *c, struct kiln_err *err) { (void)st; (void)n; *o = NULL; *c = 0; return NI(err); }
int store_rm(struct store *st, const char *r, int f, struct kiln_err *err) { (void)st; (void)r; (void)f; return NI(err); }
int store_referrer_add(struct store *st, const char *s, const char *m, const char *mt, const char *at, uint64_t sz, json_t *a, struct kiln_err *err) { (void)st; (void)s; (void)m; (void)mt; (void)at; (void)sz; (void)a; return NI(err); }
int store_referrers(struct store *st, const char *s, const char *at, struct oci_desc **o, size_t *n, struct kiln_err *err) { (void)st; (void)s; (void)at; *o = NULL; *n = 0; return NI(err); }
void oci_desc_list_free(struct oci_desc *v, size_t n) { (void)n; free(v); }
int store_index_read(const struct store *st, json_t **o, struct kiln_err *err) { (void)st; *o = NULL; return NI(err); }
int store_gc(struct store *st, struct store_gc_report *r, struct kiln_err *err) { (void)st; (void)r; return NI(err); }
